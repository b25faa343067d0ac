"""`credplugin doctor`: find what will make kubectl fail, before kubectl trips over it.

Nothing is fetched, no browser opened, no identity provider asked. For every context: the
cluster (server URL, its CA file or data, plain http with an exec user, placeholders) and
the user's exec block (apiVersion, interactiveMode, the command on PATH). For credplugin
entries also what the provider itself would check first: the arguments parse, the required
options have a value after applying the cluster's exec extension (and which extension keys
it ignores), every file an argument names is readable, every program it names is on PATH,
every variable it names is set, what the provider's own checks find (an AWS profile that no
config file has, the secret variable a chosen Azure credential reads, ...), and whether a
credential is cached, refreshable, or needs a fetch or a login at the next use, and whether
the keyring that holds refresh tokens answers.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import time
from collections.abc import Mapping
from typing import Any

import click

from credplugin import kubeconfig as kc
from credplugin import providers, tokenstore
from credplugin.errors import CredpluginError, UsageError, os_reason
from credplugin.invocation import Invocation
from credplugin.options import COMMON_OPTIONS, parse_argv

EXEC_EXTENSION = "client.authentication.k8s.io/exec"
API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
MODES = ("Never", "IfAvailable", "Always")
INCOMPLETE_MARK = "CREDPLUGIN_INCOMPLETE"
PLACEHOLDER = re.compile(r"<[^<>\s]+>|\bCHANGE[_-]?ME\b|\bREPLACE[_-]?ME\b", re.I)
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Findings:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.broken = False
        # --token-store of the cached credplugin entries seen, with the environment of the
        # first entry using it (its exec env applied): checked once each at the end.
        self.token_stores: dict[str, Mapping[str, str]] = {}

    def add(self, level: str, where: str, message: str) -> None:
        self.lines.append(f"{level:5} {where}: {message}")
        if level == "ERROR":
            self.broken = True


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--kubeconfig", metavar="FILE", help="Kubeconfig file [default: $KUBECONFIG, ~/.kube/config]."
)
@click.option("--context", "only_context", metavar="NAME", help="Check only this context.")
def doctor(kubeconfig: str | None, only_context: str | None) -> None:
    """Check a kubeconfig's contexts for what will make kubectl fail.

    One line per finding: ERROR (kubectl will fail), WARN (it may, or it will need a
    person), OK. Nothing is fetched and nobody is asked to log in.

    \b
    Exit codes:
      0  nothing broken (WARN lines may remain)
      1  at least one ERROR, or no kubeconfig (or no such context)
    """
    paths = [kubeconfig] if kubeconfig else kc.paths(os.environ)
    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        raise click.ClickException(f"no kubeconfig found: looked at {', '.join(paths)}")
    try:
        config = kc.load(existing)
    except CredpluginError as exc:
        raise click.ClickException(exc.one_line()) from None
    findings = Findings()
    contexts = config["contexts"]
    if only_context:
        if only_context not in contexts:
            raise click.ClickException(f"no context {only_context!r} in {', '.join(existing)}")
        contexts = {only_context: contexts[only_context]}
    if not contexts:
        raise click.ClickException(f"no contexts in {', '.join(existing)}")
    for name, context in sorted(contexts.items()):
        check_context(name, context, config, findings)
    for choice, environ in sorted(findings.token_stores.items()):
        check_token_store(choice, environ, findings)
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
    has_exec = isinstance(exec_block, dict)
    check_cluster(where, cluster, has_exec, _runs_proxy(exec_block), findings)
    if not isinstance(exec_block, dict):
        findings.add("OK", where, "no exec plugin (nothing more to check)")
        return
    where = f"context {name} (user {user_name})"
    check_exec(where, exec_block, user["_file"], cluster, findings)


def check_cluster(
    where: str, cluster: dict[str, Any], has_exec: bool, proxy: bool, findings: Findings
) -> None:
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        findings.add("ERROR", where, f"the cluster's server {server!r} is not an http(s) URL")
        return
    if PLACEHOLDER.search(server):
        findings.add("ERROR", where, f"the cluster's server {server} is a placeholder to fill in")
    if server.startswith("http://") and has_exec:
        if proxy:
            findings.add(
                "OK",
                where,
                f"{server} is plain http: kubectl runs no exec plugin there, and the proxy "
                "applies its own identity",
            )
        else:
            findings.add(
                "ERROR",
                where,
                f"{server} is plain http: kubectl applies exec credentials to TLS servers "
                "only, so every request goes out anonymous",
            )
    insecure = cluster.get("insecure-skip-tls-verify") is True
    ca_file, ca_data = (
        cluster.get("certificate-authority"),
        cluster.get("certificate-authority-data"),
    )
    if insecure and (ca_file or ca_data):
        findings.add("ERROR", where, "insecure-skip-tls-verify with a CA: kubectl refuses the pair")
    if ca_file:
        path = str(ca_file)
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(cluster["_file"]), path)
        try:
            with open(path, "rb") as handle:
                pem = handle.read(1 << 20)
        except OSError as exc:
            findings.add("ERROR", where, f"certificate-authority {path}: {os_reason(exc)}")
        else:
            problem = _not_certificates(pem)
            if problem:
                findings.add("ERROR", where, f"certificate-authority {path}: {problem}")
    elif ca_data:
        text = str(ca_data)
        if PLACEHOLDER.search(text):
            findings.add("ERROR", where, "certificate-authority-data is a placeholder to fill in")
            return
        try:
            pem = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            findings.add("ERROR", where, "certificate-authority-data is not base64")
            return
        problem = _not_certificates(pem)
        if problem:
            findings.add("ERROR", where, f"certificate-authority-data: {problem}")


def _not_certificates(pem: bytes) -> str | None:
    """Why `pem` is not a PEM bundle of X.509 certificates kubectl could load, or None."""
    from cryptography import x509

    try:
        if not x509.load_pem_x509_certificates(pem):
            return "holds no certificate"
    except ValueError as exc:
        return f"is not a PEM certificate ({str(exc).split('.')[0]})"
    return None


def check_exec(
    where: str,
    exec_block: dict[str, Any],
    kubeconfig_file: str,
    cluster: dict[str, Any],
    findings: Findings,
) -> None:
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
    resolved = resolve_command(command, kubeconfig_file)
    if resolved is None:
        findings.add("ERROR", where, f"command {command!r} is not found (not on PATH)")
        return
    args = [str(a) for a in exec_block.get("args") or []]
    provider_args = credplugin_args(resolved, args)
    if provider_args is None:
        findings.add("OK", where, f"runs {command} (not credplugin: its arguments not checked)")
        return
    check_credplugin(where, provider_args, exec_block, cluster, findings)


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


def check_credplugin(
    where: str,
    args: list[str],
    exec_block: dict[str, Any],
    cluster: dict[str, Any],
    findings: Findings,
) -> None:
    if not args:
        findings.add("ERROR", where, "credplugin runs without a provider subcommand")
        return
    provider = providers.lookup(args[0])
    if provider is None:
        findings.add("ERROR", where, f"credplugin has no provider {args[0]!r}")
        return
    name = provider.name
    environ = dict(os.environ)
    for item in exec_block.get("env") or []:
        if isinstance(item, dict) and item.get("name"):
            environ[str(item["name"])] = str(item.get("value", ""))
    if environ.get(INCOMPLETE_MARK):
        findings.add("ERROR", where, f"credplugin {name}: incomplete: {environ[INCOMPLETE_MARK]}")
    for word in args:
        if PLACEHOLDER.search(word):
            findings.add("ERROR", where, f"credplugin {name}: {word!r} is a placeholder to fill in")
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
    ignored: list[str] = []
    try:
        given = parse_argv(provider.options + COMMON_OPTIONS, args[1:])
        server = cluster.get("server") if provide else None
        call = Invocation(provider, given, config, server, environ, warn=ignored.append)
    except UsageError as exc:
        findings.add("ERROR", where, f"credplugin {name}: {exc.one_line()}")
        return
    for line in ignored:
        findings.add("WARN", where, f"credplugin {name}: {line}")
    problems = call.problems()
    for problem in problems:
        findings.add("ERROR", where, f"credplugin {name}: {problem}")
    if not problems:
        cache_state(where, call, findings)


def cache_state(where: str, call: Invocation, findings: Findings) -> None:
    name, provider = call.provider.name, call.provider
    if not call.cached:
        findings.add("OK", where, f"credplugin {name}: fetched on every call (not cached)")
        return
    findings.token_stores.setdefault(str(call.values["token_store"]), call.environ)
    cached, why = call.store().read(call.key)
    now = time.time()
    margin = float(call.values["refresh_margin"])
    if cached is not None and cached.credential.is_fresh(now, margin):
        left = cached.credential.seconds_left(now)
        state = "no expiry" if left is None else f"{left / 60:.0f} min left"
        findings.add("OK", where, f"credplugin {name}: cached credential ({state})")
    elif cached is not None and tokenstore.in_keyring(cached):
        findings.add(
            "OK",
            where,
            f"credplugin {name}: will refresh at the next use with the refresh token in the "
            "keyring, no person needed while the keyring answers",
        )
    elif cached is not None and cached.credential.refresh:
        findings.add(
            "OK", where, f"credplugin {name}: will refresh at the next use, no person needed"
        )
    elif provider.side == "client":
        findings.add("WARN", where, f"credplugin {name}: a login is needed at the next use ({why})")
    else:
        findings.add("OK", where, f"credplugin {name}: will fetch at the next use ({why})")


def check_token_store(choice: str, environ: Mapping[str, str], findings: Findings) -> None:
    """Where refresh tokens go under `choice`, and whether the keyring answers now (asked as
    kubectl would run us: without a person, so a locked keyring is reported, not opened)."""
    where = f"token store {choice}"
    if choice == tokenstore.FILE:
        findings.add("OK", where, "refresh tokens are kept in the 0600 cache files")
        return
    keyring = tokenstore.Keyring(environ, interactive=False, bound=5.0)
    try:
        backend = keyring.describe()
    except tokenstore.KeyringUnusable as exc:
        if choice == tokenstore.AUTO:
            findings.add(
                "OK", where, f"no usable keyring ({exc}): refresh tokens stay in the cache files"
            )
        else:
            findings.add(
                "WARN",
                where,
                f"the keyring does not answer ({exc}): refresh tokens are not kept, so every "
                "refresh needs a login",
            )
        return
    findings.add("OK", where, f"the keyring answers ({backend}): refresh tokens are kept there")


def _runs_proxy(exec_block: Any) -> bool:
    """Whether the user runs credplugin local-kubectl-proxy (over http by design)."""
    if not isinstance(exec_block, dict):
        return False
    words = {str(a) for a in exec_block.get("args") or []}
    return bool(words & {"local-kubectl-proxy", "localKubectlProxy"})
