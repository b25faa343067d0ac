"""`credplugin kubeconfig`: write kubeconfig entries that run credplugin.

    from-backstage APP_CONFIG...   every cluster of a Backstage app-config
    add NAME --server URL -- PROVIDER ARGS...   one cluster, like `aws eks update-kubeconfig`

The kubeconfig goes to stdout, to a new file (--output), or into an existing one (--merge,
and always for `add`), atomically and under kubectl's lock file. Notes for the person and
skipped clusters go to stderr, and never hold a secret.
"""

from __future__ import annotations

import base64
import os

import click

from credplugin import kubeconfig as kc
from credplugin import log, providers
from credplugin.backstage import appconfig, clusters
from credplugin.errors import CredpluginError, UsageError, os_reason
from credplugin.options import COMMON_OPTIONS, parse_argv
from credplugin.tools.clean_exit import fails_cleanly
from credplugin.tools.convert_cmd import convert
from credplugin.tools.group import Group

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
def kubeconfig() -> None:
    """Write kubeconfig entries that run credplugin."""


kubeconfig.add_command(convert)


command_option = click.option(
    "--command",
    default="credplugin",
    show_default=True,
    metavar="PATH",
    help="The exec command (e.g. an absolute path when credplugin is not on kubectl's PATH).",
)
kubeconfig_option = click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="The kubeconfig to change [default: the first file of $KUBECONFIG, else ~/.kube/config].",
)


@kubeconfig.command(
    "from-backstage",
    context_settings=CONTEXT_SETTINGS,
    short_help="Convert the clusters of a Backstage app-config.",
)
@click.argument(
    "app_configs", metavar="APP_CONFIG...", nargs=-1, required=True, type=click.Path(dir_okay=False)
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write a new kubeconfig to FILE (atomically, 0600) instead of stdout.",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Add the entries to an existing kubeconfig (same-named ones are replaced; "
    "current-context is set only if it was unset).",
)
@kubeconfig_option
@click.option(
    "--include-secrets",
    is_flag=True,
    help="Copy secrets the entries cannot reference into their exec env (never into args): "
    "serviceAccountTokens written in the app-config itself, and OIDC client secrets (the "
    "oidc provider reads $OIDC_CLIENT_SECRET). Without it they are left out, and a note on "
    "stderr names the variable to export.",
)
@click.option(
    "--auth-environment",
    metavar="ENV",
    help="Which auth.providers.<provider>.<ENV> to read tenants, issuers and client ids from "
    "[default: auth.environment, else development].",
)
@click.option(
    "--prefix",
    default="",
    metavar="TEXT",
    help="Prefix for the cluster, user and context names (to keep them apart from others).",
)
@click.option(
    "--allow-incomplete",
    is_flag=True,
    help="Write entries that lack something only the person can add (an issuer, a client id, "
    "a tenant) instead of refusing them; they are marked with CREDPLUGIN_INCOMPLETE in their "
    "exec env and fail with a usage error naming what is missing until it is added. An entry "
    "that would authenticate as someone else (an unset variable in a role ARN or external "
    "id) is refused all the same.",
)
@command_option
@fails_cleanly
def from_backstage(
    app_configs: tuple[str, ...],
    output: str | None,
    merge: bool,
    kubeconfig_path: str | None,
    include_secrets: bool,
    auth_environment: str | None,
    prefix: str,
    allow_incomplete: bool,
    command: str,
) -> None:
    """Turn the clusters of a Backstage app-config into kubeconfig entries.

    Several APP_CONFIG files merge as Backstage merges them: later files win, mappings merge
    key by key, arrays are replaced. They are read as Backstage reads them (YAML 1.2) and
    ${VAR}, ${VAR:-default}, $env, $file and $include are applied; only the kubernetes, auth
    and aws sections matter, and a substitution that fails elsewhere is a warning. A secret
    from ${VAR} or $file is referenced by its variable or file, never copied.

    Every cluster of the `config` and `localKubectlProxy` locators is written, written with
    warnings, or refused with the reason; `catalog` and `gke` clusters exist only at
    runtime and are reported. Names become kubeconfig names without spaces. The summary on
    stderr lists every cluster's outcome and every variable or file an entry sends, and to
    which server.

    \b
    Exit codes:
      0  every cluster was written (some maybe with warnings)
      1  the app-config could not be used (unreadable, refused, no clusters): nothing written
      2  usage error
      3  some clusters were refused; the others were written
    """
    if output and merge:
        raise UsageError("--output and --merge exclude each other; with --merge, use --kubeconfig")
    if kubeconfig_path and not merge:
        raise UsageError("--kubeconfig names the file for --merge; add --merge, or use --output")
    for path in app_configs:
        if not os.path.isfile(path):
            raise UsageError(f"no such app-config file: {path}")

    config = appconfig.load_app_config(app_configs, os.environ)
    result = clusters.convert(
        config,
        include_secrets=include_secrets,
        auth_environment=auth_environment,
        roots=[os.path.dirname(os.path.abspath(path)) for path in app_configs],
        allow_incomplete=allow_incomplete,
        environ=os.environ,
    )
    for skipped in result.skipped:
        log.notice(f"skipped {skipped}")
    entries = result.entries
    for entry in entries:
        entry.name = prefix + entry.name
    _summarise(result)
    if not entries:
        raise CredpluginError("no cluster in the app-config could be converted; nothing written")

    if merge:
        target = kubeconfig_path or kc.default_path(os.environ)
        kc.update_file(target, lambda existing: kc.merge(existing, entries, command))
        log.notice(f"merged {_count(entries)} into {target}")
    elif output and output != "-":
        kc.write_atomically(output, kc.dump(kc.merge(None, entries, command)))
        log.notice(f"wrote {_count(entries)} to {output}")
    else:
        click.echo(kc.dump(kc.merge(None, entries, command)), nl=False)
    if result.refused:
        raise SystemExit(PARTIAL)


PARTIAL = 3


def _summarise(result: clusters.Conversion) -> None:
    """One block per cluster on stderr: its outcome, then what to know about it."""
    for cluster in result.clusters:
        if cluster.entry is None:
            log.warn(f"cluster {cluster.name}: refused: {cluster.refused}")
            continue
        named = f" (as {cluster.entry.name})" if cluster.entry.name != cluster.name else ""
        log.notice(f"cluster {cluster.name}{named}: {cluster.outcome}")
        for warning in cluster.warnings:
            log.warn(f"cluster {cluster.name}: {warning}")
        for sends in cluster.sends:
            log.notice(f"cluster {cluster.name}: sends {sends}")
    written = len(result.entries)
    log.notice(
        f"{written} of {len(result.clusters)} clusters written"
        + (f", {len(result.refused)} refused" if result.refused else "")
    )


class _AddCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            hint = "put the provider and its arguments after --"
            raise click.UsageError(f"{exc.format_message().rstrip('.')}; {hint}", ctx) from None


@kubeconfig.command(
    "add",
    cls=_AddCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Add one cluster whose user runs a credplugin provider.",
)
@click.argument("name")
@click.option("--server", required=True, metavar="URL", help="The cluster's API server URL.")
@click.option(
    "--certificate-authority",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="CA certificate (PEM) of the API server.",
)
@click.option(
    "--embed-certs",
    is_flag=True,
    help="Embed the --certificate-authority file as certificate-authority-data.",
)
@click.option(
    "--insecure-skip-tls-verify", is_flag=True, help="Do not verify the server's certificate."
)
@kubeconfig_option
@click.option("--set-current", is_flag=True, help="Make this the current context.")
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="An environment variable for the exec command (repeatable).",
)
@command_option
@click.argument("provider")
@click.argument("provider_args", metavar="[ARGS]...", nargs=-1, type=click.UNPROCESSED)
@fails_cleanly
def add(
    name: str,
    server: str,
    certificate_authority: str | None,
    embed_certs: bool,
    insecure_skip_tls_verify: bool,
    kubeconfig_path: str | None,
    set_current: bool,
    env_pairs: tuple[str, ...],
    command: str,
    provider: str,
    provider_args: tuple[str, ...],
) -> None:
    """Add or replace the cluster, user and context NAME: `credplugin PROVIDER ARGS...`.

    Put the provider and its arguments after `--`, for example:

        credplugin kubeconfig add prod --server https://... -- aws --cluster-id prod

    PROVIDER may be a Backstage authProvider name; the entry uses the subcommand's name.
    The arguments are checked as the provider would parse them.
    """
    declaration = providers.lookup(provider)
    if declaration is None:
        names = ", ".join(p.name for p in providers.declarations())
        raise click.BadParameter(f"{provider!r} is not a provider ({names})", param_hint="PROVIDER")
    try:
        given = parse_argv(declaration.options + COMMON_OPTIONS, list(provider_args))
    except UsageError as exc:
        raise click.UsageError(f"{declaration.name} arguments: {exc.message}") from None
    for option in declaration.options:
        if option.secret and option.dest in given:
            instead = f" (prefer ${option.envvar})" if option.envvar else ""
            log.warn(
                f"{option.flag} is written into the kubeconfig in clear text and shows in "
                f"the process list{instead}"
            )
    if not server.startswith(("https://", "http://")):
        raise click.BadParameter("must be an http(s) URL", param_hint="--server")
    env: dict[str, str] = {}
    for pair in env_pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        env[key] = value

    new = kc.Entry(
        name=name,
        server=server,
        provider=declaration.name,
        args=list(provider_args),
        env=env,
        insecure=insecure_skip_tls_verify,
    )
    if certificate_authority and not insecure_skip_tls_verify:
        if embed_certs:
            new.ca_data = _pem_base64(certificate_authority)
        else:
            new.ca_file = os.path.abspath(certificate_authority)
    target = kubeconfig_path or kc.default_path(os.environ)
    kc.update_file(
        target,
        lambda existing: kc.merge(existing, [new], command, current=name if set_current else None),
    )
    log.notice(f"wrote cluster, user and context {name} ({declaration.name}) to {target}")


def _pem_base64(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CredpluginError(f"cannot read {path}: {os_reason(exc)}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageError(f"{path} is not a PEM certificate")
    return base64.b64encode(data).decode("ascii")


def _count(entries: list[kc.Entry]) -> str:
    return f"{len(entries)} cluster{'s' if len(entries) != 1 else ''}"
