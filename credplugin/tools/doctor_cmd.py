"""`credplugin doctor`: check a kubeconfig's exec entries before kubectl trips over them.

For every context whose user runs an exec plugin: the apiVersion is one kubectl still
accepts, v1 entries set interactiveMode, the command is found. For credplugin entries, the
arguments parse and a dry run says whether a credential is available now (cached), can be
refreshed without a person, or needs a fetch or a login at the next use. Nothing is fetched,
no browser is opened. One line per finding; exit 1 when anything is broken.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import click

from credplugin import kubeconfig as kc
from credplugin.errors import CredpluginError, UsageError

EXEC_EXTENSION = "client.authentication.k8s.io/exec"
API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
MODES = ("Never", "IfAvailable", "Always")


class Findings:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.broken = False

    def add(self, level: str, where: str, message: str) -> None:
        self.lines.append(f"{level:5} {where}: {message}")
        if level == "ERROR":
            self.broken = True


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--kubeconfig", metavar="FILE", help="Kubeconfig file [default: $KUBECONFIG, ~/.kube/config]."
)
@click.option("--context", "only_context", metavar="NAME", help="Check only this context.")
def doctor(kubeconfig: str | None, only_context: str | None) -> None:
    """Check the exec entries of a kubeconfig."""
    paths = [kubeconfig] if kubeconfig else kc.paths(os.environ)
    try:
        config = kc.load(paths)
    except CredpluginError as exc:
        raise click.ClickException(exc.one_line()) from None
    findings = Findings()
    contexts = config["contexts"]
    if only_context:
        if only_context not in contexts:
            raise click.ClickException(f"no context {only_context!r} in {', '.join(paths)}")
        contexts = {only_context: contexts[only_context]}
    if not contexts:
        raise click.ClickException(f"no contexts in {', '.join(paths)}")
    for name, context in sorted(contexts.items()):
        check_context(name, context, config, findings)
    click.echo("\n".join(findings.lines))
    if findings.broken:
        raise SystemExit(1)


def check_context(
    name: str, context: dict[str, Any], config: dict[str, dict[str, Any]], findings: Findings
) -> None:
    user_name, cluster_name = context.get("user"), context.get("cluster")
    where = f"context {name}"
    user = config["users"].get(user_name) if isinstance(user_name, str) else None
    cluster = config["clusters"].get(cluster_name) if isinstance(cluster_name, str) else None
    if user is None:
        findings.add("ERROR", where, f"user {user_name!r} is not defined")
        return
    if cluster is None:
        findings.add("ERROR", where, f"cluster {cluster_name!r} is not defined")
        return
    exec_block = user.get("exec")
    if not isinstance(exec_block, dict):
        findings.add("OK", where, "no exec plugin (nothing to check)")
        return
    where = f"context {name} (user {user_name})"
    api = exec_block.get("apiVersion")
    if api not in API_VERSIONS:
        hint = " (v1alpha1 was removed in Kubernetes 1.24)" if "v1alpha1" in str(api) else ""
        findings.add("ERROR", where, f"exec apiVersion {api!r} is not v1 or v1beta1{hint}")
    mode = exec_block.get("interactiveMode")
    if api == API_VERSIONS[0] and not mode:
        findings.add("ERROR", where, "apiVersion v1 needs interactiveMode (Never or IfAvailable)")
    elif mode and mode not in MODES:
        findings.add("ERROR", where, f"interactiveMode {mode!r} is not one of {', '.join(MODES)}")
    command = exec_block.get("command")
    if not isinstance(command, str) or not command:
        findings.add("ERROR", where, "exec has no command")
        return
    resolved = resolve_command(command, user["_file"])
    if resolved is None:
        findings.add("ERROR", where, f"command {command!r} is not found")
        return
    args = [str(a) for a in exec_block.get("args") or []]
    provider_args = credplugin_args(resolved, args)
    if provider_args is None:
        findings.add("OK", where, f"runs {command} (not credplugin: arguments not checked)")
        return
    dry_run(where, provider_args, exec_block, cluster, findings)


def resolve_command(command: str, kubeconfig_file: str) -> str | None:
    if os.sep in command:
        path = (
            command
            if os.path.isabs(command)
            else os.path.join(os.path.dirname(kubeconfig_file), command)
        )
        return path if os.access(path, os.X_OK) else None
    return shutil.which(command)


def credplugin_args(command: str, args: list[str]) -> list[str] | None:
    """The provider arguments when this exec entry runs credplugin, else None."""
    base = os.path.basename(command)
    if base in ("credplugin", "kubectl-credplugin"):
        return args
    if base.startswith("python") and args[:2] == ["-m", "credplugin"]:
        return args[2:]
    return None


def dry_run(
    where: str,
    args: list[str],
    exec_block: dict[str, Any],
    cluster: dict[str, Any],
    findings: Findings,
) -> None:
    from credplugin import providers
    from credplugin.invocation import Invocation
    from credplugin.options import COMMON_OPTIONS, parse_argv

    if not args:
        findings.add("ERROR", where, "credplugin runs without a provider subcommand")
        return
    provider = providers.lookup(args[0])
    if provider is None:
        findings.add("ERROR", where, f"credplugin has no provider {args[0]!r}")
        return
    environ = dict(os.environ)
    for item in exec_block.get("env") or []:
        if isinstance(item, dict) and item.get("name"):
            environ[str(item["name"])] = str(item.get("value", ""))
    config: dict[str, Any] = {}
    for extension in cluster.get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == EXEC_EXTENSION:
            config = dict(extension.get("extension") or {})
    provide = bool(exec_block.get("provideClusterInfo"))
    if config and not provide:
        findings.add(
            "WARN",
            where,
            "the cluster has a credplugin extension, but provideClusterInfo is "
            "not true: kubectl will not pass it",
        )
        config = {}
    name = provider.name
    try:
        given = parse_argv(provider.options + COMMON_OPTIONS, args[1:])
        server = cluster.get("server") if provide else None
        call = Invocation(provider, given, config, server, environ)
    except UsageError as exc:
        findings.add("ERROR", where, f"credplugin {name}: {exc.one_line()}")
        return
    if not call.cached:
        findings.add("OK", where, f"credplugin {name}: fetched on every call (not cached)")
        return
    cached, why = call.store().read(call.key)
    now = time.time()
    margin = float(call.values["refresh_margin"])
    if cached is not None and cached.credential.is_fresh(now, margin):
        left = cached.credential.seconds_left(now)
        state = "no expiry" if left is None else f"{left / 60:.0f} min left"
        findings.add("OK", where, f"credplugin {name}: cached credential ({state})")
    elif cached is not None and cached.credential.refresh:
        findings.add(
            "OK", where, f"credplugin {name}: will refresh at the next use, no person needed"
        )
    elif provider.side == "client":
        findings.add("WARN", where, f"credplugin {name}: a login is needed at the next use ({why})")
    else:
        findings.add("OK", where, f"credplugin {name}: will fetch at the next use ({why})")
