"""The click command line: help, usage errors, and commands other than the providers.

Provider subcommands are built from the same `Option` declarations the hot path parses, and
load lazily: `credplugin --help` imports no provider module. A provider command that click
accepts is handed to the same runner the hot path uses.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.core import ParameterSource

from credplugin import __version__, providers, runner
from credplugin.entry import HELP_FLAGS
from credplugin.errors import UsageError
from credplugin.options import ALLOWED, COMMON_OPTIONS, Option, parse_argv
from credplugin.providers.base import Declaration

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_CLICK_TYPES: dict[str, Any] = {"str": click.STRING, "int": click.INT, "float": click.FLOAT}


def click_option(opt: Option) -> click.Option:
    help_text = opt.help
    if opt.envvar:
        help_text += f" [env: {opt.envvar}]"
    if opt.required:
        help_text += " [required]"
    if opt.cluster == ALLOWED:
        help_text += " [the cluster's exec extension may set it]"
    kwargs: dict[str, Any] = {"help": help_text, "hidden": opt.hidden, "multiple": opt.multiple}
    if opt.type == "flag":
        kwargs["is_flag"] = True
    elif opt.type == "count":
        kwargs["count"] = True
    else:
        kwargs["type"] = (
            click.Choice(opt.choices) if opt.type == "choice" else _CLICK_TYPES[opt.type]
        )
        kwargs["metavar"] = opt.metavar
        if opt.default is not None:
            kwargs["default"] = opt.default
            kwargs["show_default"] = True
    return click.Option([*opt.spellings, opt.dest], **kwargs)


def provider_command(provider: Declaration) -> click.Command:
    options = provider.options + COMMON_OPTIONS
    params: list[click.Parameter] = [click_option(o) for o in options]

    def callback(**_: Any) -> None:
        ctx = click.get_current_context()
        given = {
            name: value
            for name, value in ctx.params.items()
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
        }
        ctx.exit(runner.main(provider, given, os.environ))

    alias = f" (Backstage: {provider.backstage})" if provider.backstage != provider.name else ""
    examples = "\n".join(f"  {example}" for example in provider.examples)
    return click.Command(
        provider.name,
        params=params,
        callback=callback,
        help=f"{provider.summary}{alias}\n\nPrints one client.authentication.k8s.io "
        "ExecCredential on stdout; every message goes to stderr.",
        short_help=provider.summary,
        epilog=f"\b\nExamples:\n{examples}" if examples else None,
        context_settings=CONTEXT_SETTINGS,
    )


def _peer_args(
    provider: Declaration, command: click.Command, ctx: click.Context, args: list[str]
) -> list[str]:
    """Another plugin's arguments after the provider's name, as entry.main reads them: our
    canonical argv when ours do not parse and the provider's peers module reads them, so that
    both paths run the same command; a refused flag is a usage error saying why. Only the
    group does this: the provider command itself parses exactly what parse_argv does."""
    if any(flag in args for flag in HELP_FLAGS):
        return args  # help first, as in entry.main
    try:
        parse_argv(provider.options + COMMON_OPTIONS, args)
        return args
    except UsageError:
        pass
    from credplugin import peerargs

    try:
        found = peerargs.read(provider, args, os.environ)
    except UsageError as exc:
        sub = click.Context(command, info_name=command.name, parent=ctx)
        raise click.UsageError(exc.one_line(), ctx=sub) from None
    return args if found is None else found[0]


# The commands around the providers: name -> (module:attribute, one-line help). Loaded only
# when invoked, like the providers.
TOOLS: dict[str, tuple[str, str]] = {
    "cache": ("credplugin.tools.cache_cmd:cache", "List or clear cached credentials."),
    "inspect": ("credplugin.tools.inspect_cmd:inspect", "Decode a token for a person."),
    "kubeconfig": (
        "credplugin.tools.kubeconfig_cmd:kubeconfig",
        "Write exec entries; convert a Backstage app-config.",
    ),
    "doctor": ("credplugin.tools.doctor_cmd:doctor", "Check a kubeconfig's exec entries."),
}


def _load_tool(name: str) -> click.Command | None:
    import importlib

    target = TOOLS.get(name)
    if target is None:
        return None
    module_name, _, attribute = target[0].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # not built yet
        raise
    command = getattr(module, attribute)
    assert isinstance(command, click.Command)
    return command


class ProviderGroup(click.Group):
    """Provider subcommands come from credplugin.providers; Backstage names are hidden aliases."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [p.name for p in providers.declarations()] + sorted(TOOLS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        provider = providers.lookup(cmd_name)
        if provider is not None:
            return provider_command(provider)
        return _load_tool(cmd_name) or super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        provider = providers.lookup(name) if name else None
        if provider is None or command is None or ctx.resilient_parsing:
            return name, command, rest
        return name, command, _peer_args(provider, command, ctx, rest)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Declarations only: listing loads no fetch code and no tool.
        rows = [(p.name, p.summary) for p in providers.declarations()]
        with formatter.section("Providers (Backstage authProviders)"):
            formatter.write_dl(rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in sorted(TOOLS.items())])


@click.group(cls=ProviderGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="credplugin")
def cli() -> None:
    """kubectl exec credential plugin: Backstage's Kubernetes authProviders for any kubeconfig.

    Use a provider subcommand as the command of a kubeconfig `exec:` user entry. Tokens are
    cached on disk (0600) until shortly before they expire.
    """


def main(args: list[str]) -> int:
    try:
        cli.main(args=args, prog_name="credplugin", standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return 1
    raise AssertionError("click's standalone mode always exits")
