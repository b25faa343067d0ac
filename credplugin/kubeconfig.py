"""Kubeconfig entries that run credplugin, and the conversion of a Backstage app-config.

    load_app_config()   app-config files -> one tree, merged and substituted as Backstage's
                        config loader does (later files win; mappings merge, arrays replace)
    convert()           that tree -> one Entry per cluster, plus notes for the person
    merge()             Entries -> a kubeconfig document, alone or merged into another
    update_file()       read, change and write a kubeconfig under kubectl's own lock file,
                        atomically, 0600

Secrets never become exec args. A value that Backstage substitutes from the environment or a
file keeps its origin here (`Ref`), so the entry can name the variable or the file and the
secret is read when kubectl runs, not copied into the kubeconfig.

Not on the exec path: only `credplugin kubeconfig ...` imports this module.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from credplugin import registry
from credplugin.errors import CredpluginError, UsageError, os_reason
from credplugin.urlhost import is_loopback

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
INSTALL_HINT = (
    "credplugin is not installed or not on PATH: install it with `pip install credplugin`, "
    "or write this entry again with `credplugin kubeconfig ... --command /path/to/credplugin`."
)
# Backstage's LocalKubectlProxyClusterLocator: http://localhost:8001, resolved IPv4-first,
# because kubectl proxy listens on 127.0.0.1 only (backstage/backstage#19931).
LOCAL_PROXY_CLUSTER = "local"
LOCAL_PROXY_URL = "http://127.0.0.1:8001"
# What ServiceAccountStrategy uses when no token is configured, inside a pod.
IN_CLUSTER_CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
LOCK_WAIT_SECONDS = 10.0

AWS_CLUSTER_ID = "kubernetes.io/x-k8s-aws-id"
AWS_ASSUME_ROLE = "kubernetes.io/aws-assume-role"
AWS_EXTERNAL_ID = "kubernetes.io/aws-external-id"
AWS_ACCOUNT_ID = "kubernetes.io/aws-account-id"
AUTH_PROVIDER = "kubernetes.io/auth-provider"
OIDC_TOKEN_PROVIDER = "kubernetes.io/oidc-token-provider"  # noqa: S105 - a key
SA_TOKEN = "serviceAccountToken"  # noqa: S105 - a config key, not a token
BACKSTAGE_PROVIDERS = (
    "aws",
    "azure",
    "aks",
    "google",
    "googleServiceAccount",
    "oidc",
    "serviceAccount",
    "localKubectlProxy",
)


class ConfigError(CredpluginError):
    """An app-config that cannot be read or is not what Backstage would accept."""


# -- Backstage app-config: load, substitute, merge ---------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A config string that came from the environment or a file, kept with its origin.

    kind "env": the whole value was `${VAR}` or `$env: VAR`; "file": `$file: path` (source is
    the absolute path); "template": a longer string with `${...}` of which some are unset.
    `value` is what Backstage would see now, None when a variable is unset or the file
    unreadable (Backstage would then drop the key; here the later file's intent is kept, so
    that a secret from an unset variable still becomes `--token-env VAR`)."""

    kind: str
    source: str
    value: str | None
    why: str = ""

    def describe(self) -> str:
        if self.kind == "env":
            return "${" + self.source + "}"
        if self.kind == "file":
            return f"$file: {self.source}"
        return "a string with ${...} substitutions"  # its literal part may be half a secret


_SUBSTITUTION = re.compile(r"(\$?\$\{[^{}]*\})")
_INCLUDE_KEYS = ("$file", "$env", "$include")


def substitute(text: str, environ: Mapping[str, str]) -> str | Ref:
    """Backstage's `${VAR}` substitution (values trimmed, `$${X}` escapes to `${X}`)."""
    parts = _SUBSTITUTION.split(text)
    if len(parts) == 1:
        return text
    out: list[str] = []
    missing: list[str] = []
    names: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part.startswith("$$"):
            out.append(part[1:])
        else:
            name = part[2:-1].strip()
            names.append(name)
            value = environ.get(name)
            if value is None:
                missing.append(name)
            else:
                out.append(value.strip())
    if len(parts) == 3 and not parts[0] and not parts[2] and names:
        value = environ.get(names[0])
        return Ref("env", names[0], None if value is None else value.strip(), _unset(names))
    if missing:
        return Ref("template", text, None, _unset(missing))
    return "".join(out)


def _unset(names: Sequence[str]) -> str:
    listed = ", ".join(names)
    return f"{listed} {'is' if len(names) == 1 else 'are'} not set"


def _include(key: str, raw: Any, base_dir: str, environ: Mapping[str, str], where: str) -> Any:
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: {key} include value is not a string")
    target = substitute(raw, environ)
    if isinstance(target, Ref):
        if target.value is None:
            raise ConfigError(f"{where}: {key} value {raw!r}: {target.why}")
        target = target.value
    if key == "$env":
        value = environ.get(target)
        return Ref("env", target, None if value is None else value.strip(), _unset([target]))
    path = os.path.normpath(os.path.join(base_dir, target))
    if key == "$file":
        try:
            with open(path, encoding="utf-8") as handle:
                return Ref("file", path, handle.read().rstrip())
        except (OSError, UnicodeDecodeError) as exc:
            return Ref("file", path, None, f"cannot read it ({os_reason(exc)})")
    # $include: a YAML or JSON file, optionally a dotted path into it after '#'.
    file_part, _, data_path = target.partition("#")
    path = os.path.normpath(os.path.join(base_dir, file_part))
    if not path.endswith((".yaml", ".yml", ".json")):
        raise ConfigError(f"{where}: no configuration parser for included file {file_part}")
    value = _read_yaml(path, where)
    for index, part in enumerate(data_path.split(".") if data_path else ()):
        if not isinstance(value, dict):
            prefix = ".".join(data_path.split(".")[:index])
            raise ConfigError(f"{where}: value at {prefix!r} in {file_part} is not an object")
        value = value.get(part)
    return _transform(value, os.path.dirname(path), environ, where)


def _transform(node: Any, base_dir: str, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        return substitute(node, environ)
    if isinstance(node, list):
        return [_transform(v, base_dir, environ, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, dict):
        keys = [k for k in node if k in _INCLUDE_KEYS]
        if keys:
            if len(node) != 1:
                raise ConfigError(f"{where}: include key {keys[0]} should not have adjacent keys")
            return _include(keys[0], node[keys[0]], base_dir, environ, where)
        return {
            str(k): _transform(v, base_dir, environ, f"{where}.{k}" if where else str(k))
            for k, v in node.items()
        }
    return node


def _read_yaml(path: str, where: str = "") -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(
            f"{where + ': ' if where else ''}cannot read {path}: {os_reason(exc)}"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {_first_line(exc)}") from None


def merge_config(base: Any, override: Any) -> Any:
    """Backstage's reading of several files: mappings merge key by key, anything else
    (arrays included) is replaced by the later file's value."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_config(base[key], value) if key in base else value
        return merged
    return override


def load_app_config(paths: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """The merged, substituted config of these app-config files (later ones win)."""
    merged: dict[str, Any] = {}
    for path in paths:
        raw = _read_yaml(path)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top of the config")
        data = _transform(raw, os.path.dirname(os.path.abspath(path)), environ, "")
        merged = merge_config(merged, data)
    return merged


# -- clusters -> entries ---------------------------------------------------------------------


@dataclass
class Entry:
    """One cluster, user and context of the same name."""

    name: str
    server: str
    provider: str | None  # canonical subcommand; None: a user with no credentials at all
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ca_data: str | None = None
    ca_file: str | None = None
    insecure: bool = False


@dataclass
class Conversion:
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the person should check or do
    skipped: list[str] = field(default_factory=list)  # locators and clusters not converted


class _Skip(Exception):
    """This cluster cannot become an entry; the message says why."""


class _Converter:
    def __init__(
        self, config: Mapping[str, Any], include_secrets: bool, auth_environment: str | None
    ) -> None:
        self.config = config
        self.include_secrets = include_secrets
        self.result = Conversion()
        auth = _mapping(config.get("auth"))
        # Backstage's default auth.environment is "development".
        self.auth_environment = auth_environment or _plain(auth.get("environment")) or "development"
        self.auth_providers = _mapping(auth.get("providers"))
        self.cluster = ""  # the cluster being converted, for notes

    # Values -------------------------------------------------------------------------------

    def note(self, message: str) -> None:
        self.result.notes.append(f"cluster {self.cluster}: {message}")

    def text(self, value: Any, what: str) -> str | None:
        """A config value as a string, or None (with a note when a Ref did not resolve)."""
        if value is None:
            return None
        if isinstance(value, Ref):
            if value.value is None:
                self.note(f"{what} comes from {value.describe()}, but {value.why}; left out")
                return None
            return value.value or None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value) or None
        self.note(f"{what} is not a string; left out")
        return None

    def flag(self, value: Any, what: str) -> bool:
        text = self.text(value, what)
        return text is not None and text.strip().lower() == "true"

    def auth_provider_config(self, name: str) -> dict[str, Any] | None:
        """auth.providers.<name>.<environment>, as Backstage's sign-in provider reads it."""
        environments = _mapping(self.auth_providers.get(name))
        chosen = environments.get(self.auth_environment)
        if isinstance(chosen, dict):
            return chosen
        if len(environments) == 1:
            only, chosen = next(iter(environments.items()))
            if isinstance(chosen, dict):
                self.note(
                    f"auth.providers.{name} has no {self.auth_environment!r} environment; "
                    f"used {only!r} (choose with --auth-environment)"
                )
                return chosen
        return None

    # Locators -----------------------------------------------------------------------------

    def run(self) -> Conversion:
        kubernetes = _mapping(self.config.get("kubernetes"))
        locators = kubernetes.get("clusterLocatorMethods")
        if not isinstance(locators, list) or not locators:
            raise ConfigError("no kubernetes.clusterLocatorMethods in the app-config")
        seen: set[str] = set()
        for index, locator in enumerate(locators):
            locator = _mapping(locator)
            kind = _plain(locator.get("type"))
            label = f"clusterLocatorMethods[{index}] (type {kind or '?'})"
            if kind == "config":
                clusters = locator.get("clusters") or []
                for cluster in clusters if isinstance(clusters, list) else []:
                    self.add(_mapping(cluster), seen)
            elif kind == "localKubectlProxy":
                self.add(
                    {
                        "name": LOCAL_PROXY_CLUSTER,
                        "url": LOCAL_PROXY_URL,
                        "authProvider": "localKubectlProxy",
                    },
                    seen,
                )
            elif kind == "gke":
                project = _plain(locator.get("projectId")) or "?"
                region = _plain(locator.get("region")) or "-"
                provider = (
                    "google-service-account"
                    if _plain(locator.get("authProvider")) == "googleServiceAccount"
                    else "google"
                )
                self.result.skipped.append(
                    f"{label}: its clusters are discovered at runtime from GCP project "
                    f"{project} (location {region}); list them with `gcloud container "
                    f"clusters list --project {project}` and add each with `credplugin "
                    f"kubeconfig add NAME --server https://ENDPOINT -- {provider}`"
                )
            elif kind == "catalog":
                self.result.skipped.append(
                    f"{label}: its clusters come from catalog Resource entities "
                    "(spec.type kubernetes-cluster) at runtime; add each with `credplugin "
                    "kubeconfig add NAME --server URL -- PROVIDER ...`"
                )
            else:
                self.result.skipped.append(f"{label}: not a locator type Backstage knows")
        return self.result

    def add(self, cluster: Mapping[str, Any], seen: set[str]) -> None:
        name = _plain(cluster.get("name"))
        if not name:
            self.result.skipped.append("a cluster without a name")
            return
        self.cluster = name
        if name in seen:
            self.result.skipped.append(f"cluster {name}: a second cluster of that name")
            return
        try:
            entry = self.entry(name, cluster)
        except _Skip as exc:
            self.result.skipped.append(f"cluster {name}: {exc}")
            return
        seen.add(name)
        self.result.entries.append(entry)

    # One cluster ---------------------------------------------------------------------------

    def entry(self, name: str, cluster: Mapping[str, Any]) -> Entry:
        # ConfigClusterLocator's authMetadata: top-level spellings, then the block, which wins.
        metadata: dict[str, Any] = {}
        for key, alias in (
            (AUTH_PROVIDER, "authProvider"),
            (SA_TOKEN, SA_TOKEN),
            (AWS_ASSUME_ROLE, "assumeRole"),
            (AWS_EXTERNAL_ID, "externalId"),
            (OIDC_TOKEN_PROVIDER, "oidcTokenProvider"),
        ):
            if cluster.get(alias) not in (None, ""):
                metadata[key] = cluster[alias]
        metadata.update(_mapping(cluster.get("authMetadata")))

        auth_provider = self.text(metadata.get(AUTH_PROVIDER), "authProvider")
        if not auth_provider:
            raise _Skip("no authProvider (Backstage refuses to start without one)")
        provider = registry.lookup(auth_provider)
        if provider is None:
            raise _Skip(
                f"authProvider {auth_provider!r} is none of Backstage's: "
                + ", ".join(BACKSTAGE_PROVIDERS)
            )
        server = self.text(cluster.get("url"), "url")
        if not server:
            raise _Skip("no url")

        entry = Entry(name=name, server=server, provider=provider.name)
        entry.insecure = self.flag(cluster.get("skipTLSVerify"), "skipTLSVerify")
        self.tls(entry, cluster)
        by_provider = {
            "aws": self.provider_aws,
            "azure": self.provider_azure,
            "aks": self.provider_aks,
            "google": self.provider_google,
            "google-service-account": self.provider_google_service_account,
            "service-account": self.provider_service_account,
            "oidc": self.provider_oidc,
            "local-kubectl-proxy": self.provider_local_kubectl_proxy,
        }
        by_provider[provider.name](entry, metadata)
        return entry

    def tls(self, entry: Entry, cluster: Mapping[str, Any]) -> None:
        # Backstage reads caFile first, else decodes caData (bufferFromFileOrString).
        ca_file = self.text(cluster.get("caFile"), "caFile")
        ca_data = None if ca_file else self.text(cluster.get("caData"), "caData")
        if entry.insecure:
            if ca_file or ca_data:
                self.note("skipTLSVerify is set: the CA is left out (kubectl refuses both)")
            return
        if ca_file:
            entry.ca_file = os.path.abspath(ca_file)
        elif ca_data:
            compact = "".join(ca_data.split())
            try:
                pem = base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                pem = b""
            if b"-----BEGIN CERTIFICATE-----" not in pem:
                # kubectl refuses a whole kubeconfig whose certificate-authority-data is not
                # base64: one bad cluster must not break every context in a merged file.
                self.note("caData is not a base64 PEM certificate; left out")
            else:
                entry.ca_data = compact

    # Providers: one method per subcommand ---------------------------------------------------

    def provider_aws(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        cluster_id = self.text(metadata.get(AWS_CLUSTER_ID), AWS_CLUSTER_ID) or entry.name
        entry.args += ["--cluster-id", cluster_id]
        role = self.text(metadata.get(AWS_ASSUME_ROLE), "assumeRole")
        external_id = self.text(metadata.get(AWS_EXTERNAL_ID), "externalId")
        account_id = self.text(metadata.get(AWS_ACCOUNT_ID), AWS_ACCOUNT_ID)
        aws = _mapping(self.config.get("aws"))
        if role:
            account = self.aws_account(role.split(":")[4] if role.count(":") >= 5 else "")
            if account is not None and account.get("roleName"):
                self.note(
                    f"Backstage reaches {role} through aws.accounts' role "
                    f"{_plain(account.get('roleName'))}; this entry assumes it directly with "
                    "this machine's AWS credentials"
                )
        elif account_id:
            account = self.aws_account(account_id)
            role_name = self.text(
                (account or {}).get("roleName")
                or _mapping(aws.get("accountDefaults")).get("roleName"),
                f"the roleName of AWS account {account_id}",
            )
            if role_name:
                role = f"arn:{_aws_partition(entry.server)}:iam::{account_id}:role/{role_name}"
                if account is not None:
                    external_id = self.text(account.get("externalId"), "externalId")
            else:
                self.note(
                    f"Backstage uses the credentials configured for AWS account {account_id} "
                    "in aws.accounts; add --profile or --role-arn for them to the exec args"
                )
        if role:
            entry.args += ["--role-arn", role]
        if external_id:
            entry.args += ["--external-id", external_id]
        # --region: the aws provider reads it from the EKS server URL, as Backstage's
        # AWS_REGION would have to be set for the cluster.

    def aws_account(self, account_id: str) -> dict[str, Any] | None:
        accounts = _mapping(self.config.get("aws")).get("accounts")
        for account in accounts if isinstance(accounts, list) else []:
            if isinstance(account, dict) and _plain(account.get("accountId")) == account_id:
                return account
        return None

    def provider_azure(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        pass  # DefaultAzureCredential on the machine, for the AKS server app: the defaults

    def provider_aks(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        microsoft = self.auth_provider_config("microsoft")
        tenant = self.text((microsoft or {}).get("tenantId"), "auth.providers.microsoft tenantId")
        if tenant:
            entry.args += ["--tenant-id", tenant]
        else:
            self.note(
                "no Entra tenant in auth.providers.microsoft; add --tenant-id TENANT to the "
                "exec args (or export AZURE_TENANT_ID)"
            )

    def provider_google(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        # Backstage asks for cloud-platform.read-only; the provider's defaults are what
        # `gcloud auth application-default login` grants, so they work without a new login.
        pass

    def provider_google_service_account(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        key = _mapping(self.config.get("kubernetes")).get("googleServiceAccountCredentials")
        if isinstance(key, Ref) and key.kind == "file":
            entry.args += ["--key-file", key.source]
            if key.value is None:
                self.note(f"the key file {key.source} is not readable here ({key.why})")
        elif key is not None:
            origin = key.describe() if isinstance(key, Ref) else "a literal in the app-config"
            self.note(
                f"kubernetes.googleServiceAccountCredentials ({origin}) is a secret key and is "
                "not copied: save it to a file only you can read and add --key-file FILE to "
                "the exec args, or leave them as they are to use Application Default Credentials"
            )

    def provider_service_account(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        token = metadata.get(SA_TOKEN)
        if token is None or token == "":
            # Backstage's in-cluster mode: the pod's projected token and CA.
            if entry.ca_file is None and entry.ca_data is None and not entry.insecure:
                entry.ca_file = IN_CLUSTER_CA_FILE
            self.note(
                "no serviceAccountToken: the entry uses the in-cluster token and CA, so it "
                "works inside a pod; elsewhere add --token-file or --token-env to the exec args"
            )
            return
        if isinstance(token, Ref) and token.kind == "env":
            entry.args += ["--token-env", token.source]
            return
        if isinstance(token, Ref) and token.kind == "file":
            entry.args += ["--token-file", token.source]
            if token.value is None:
                self.note(f"the token file {token.source} is not readable here ({token.why})")
            return
        variable = "CREDPLUGIN_SA_TOKEN_" + re.sub(r"[^A-Z0-9]+", "_", entry.name.upper()).strip(
            "_"
        )
        entry.args += ["--token-env", variable]
        value = token.value if isinstance(token, Ref) else self.text(token, SA_TOKEN)
        if self.include_secrets and value:
            entry.env[variable] = value
        else:
            self.note(
                "serviceAccountToken is written in the app-config itself and is not copied "
                f"(--include-secrets would put it in the exec env); export {variable} with "
                "the token before using this context"
            )

    def provider_oidc(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        idp = self.text(metadata.get(OIDC_TOKEN_PROVIDER), "oidcTokenProvider")
        if not idp:
            self.note(
                "no oidcTokenProvider (Backstage refuses to start without one): add "
                "--issuer-url and --client-id to the exec args"
            )
            return
        settings = self.auth_provider_config(idp)
        if settings is None:
            self.note(
                f"no auth.providers.{idp}.{self.auth_environment} to take the issuer and "
                "client id from: add --issuer-url URL and --client-id ID (those the API server "
                "trusts) to the exec args"
            )
            return
        issuer = self.oidc_issuer(idp, settings)
        client_id = self.text(settings.get("clientId"), f"auth.providers.{idp} clientId")
        if issuer:
            entry.args += ["--issuer-url", issuer]
        if client_id:
            entry.args += ["--client-id", client_id]
        missing = [
            flag for flag, v in (("--issuer-url", issuer), ("--client-id", client_id)) if not v
        ]
        if missing:
            self.note(
                f"could not derive {' and '.join(missing)} from auth.providers.{idp}; add "
                "what the API server trusts to the exec args"
            )
        secret = settings.get("clientSecret")
        if secret is None or secret == "":
            return
        value = secret.value if isinstance(secret, Ref) else self.text(secret, "clientSecret")
        if self.include_secrets and value:
            entry.env["OIDC_CLIENT_SECRET"] = value
            return
        origin = f" ({secret.describe()})" if isinstance(secret, Ref) else ""
        self.note(
            f"Backstage's {idp} client has a client secret{origin}, which is not copied: if the "
            "IdP requires it for this client, export OIDC_CLIENT_SECRET before using this context"
        )

    def oidc_issuer(self, idp: str, settings: Mapping[str, Any]) -> str | None:
        where = f"auth.providers.{idp}"
        if idp == "okta":
            audience = self.text(settings.get("audience"), f"{where} audience")
            server_id = self.text(settings.get("authServerId"), f"{where} authServerId")
            if audience and server_id:
                return f"{audience.rstrip('/')}/oauth2/{server_id}"
            return audience.rstrip("/") if audience else None
        if idp == "gitlab":
            audience = self.text(settings.get("audience"), f"{where} audience")
            return (audience or "https://gitlab.com").rstrip("/")
        if idp == "microsoft":
            tenant = self.text(settings.get("tenantId"), f"{where} tenantId")
            return f"https://login.microsoftonline.com/{tenant}/v2.0" if tenant else None
        if idp == "google":
            return "https://accounts.google.com"
        if idp == "onelogin":
            issuer = self.text(settings.get("issuer"), f"{where} issuer")
            return issuer.rstrip("/") if issuer else None
        self.note(
            f"oidcTokenProvider {idp!r} is not one Backstage wires by default; the issuer "
            "cannot be derived"
        )
        return None

    def provider_local_kubectl_proxy(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        if not entry.server.startswith("http://"):
            # An anonymous TLS server: no exec entry (a placeholder client certificate would
            # be presented over TLS and refused).
            entry.provider = None
            self.note("anonymous access (localKubectlProxy) over TLS: the user has no credentials")
        elif not is_loopback(entry.server):
            entry.args += ["--proxy-url", entry.server]


def convert(
    config: Mapping[str, Any], *, include_secrets: bool = False, auth_environment: str | None = None
) -> Conversion:
    """The kubeconfig entries for the clusters of a loaded app-config."""
    return _Converter(config, include_secrets, auth_environment).run()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plain(value: Any) -> str | None:
    """A plain scalar (or a resolved Ref) as text, without notes: for names and types."""
    if isinstance(value, Ref):
        return value.value
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _aws_partition(server: str) -> str:
    host = server.partition("://")[2].split("/", 1)[0]
    if host.endswith(".amazonaws.com.cn"):
        return "aws-cn"
    if ".us-gov-" in host:
        return "aws-us-gov"
    return "aws"


# -- kubeconfig documents --------------------------------------------------------------------


def exec_user(entry: Entry, command: str) -> dict[str, Any]:
    """The `user` of an entry: an exec block running credplugin, or nothing at all."""
    if entry.provider is None:
        return {}
    provider = registry.lookup(entry.provider)
    if provider is None:
        raise UsageError(f"unknown provider {entry.provider!r}")
    block: dict[str, Any] = {
        "apiVersion": EXEC_API_VERSION,
        "command": command,
        "args": [provider.name, *entry.args],
    }
    if entry.env:
        block["env"] = [{"name": k, "value": v} for k, v in entry.env.items()]
    # A person can answer a login only for client-side providers; the others must never wait.
    block["interactiveMode"] = "IfAvailable" if provider.side == "client" else "Never"
    block["provideClusterInfo"] = True
    block["installHint"] = INSTALL_HINT
    return {"exec": block}


def cluster_block(entry: Entry) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": entry.server}
    if entry.insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif entry.ca_file:
        cluster["certificate-authority"] = entry.ca_file
    elif entry.ca_data:
        cluster["certificate-authority-data"] = entry.ca_data
    return cluster


def empty_document() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "contexts": [],
        "users": [],
        "current-context": "",
    }


def merge(
    existing: Mapping[str, Any] | None,
    entries: Sequence[Entry],
    command: str,
    *,
    current: str | None = None,
) -> dict[str, Any]:
    """`existing` with these entries' clusters, users and contexts added or replaced by name.

    Everything else is kept. current-context becomes `current` if given, else the first
    entry when it was unset, else it stays."""
    doc: dict[str, Any] = dict(existing or {})
    if not doc:
        doc = empty_document()
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    for entry in entries:
        _upsert(doc, "clusters", entry.name, "cluster", cluster_block(entry))
        _upsert(doc, "users", entry.name, "user", exec_user(entry, command))
        _upsert(doc, "contexts", entry.name, "context", {"cluster": entry.name, "user": entry.name})
    if current:
        doc["current-context"] = current
    elif not doc.get("current-context") and entries:
        doc["current-context"] = entries[0].name
    return doc


def _upsert(doc: dict[str, Any], section: str, name: str, key: str, value: Any) -> None:
    items = doc.get(section)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise CredpluginError(f"not a kubeconfig: {section} is not a list")
    item = {"name": name, key: value}
    kept: list[Any] = []
    placed = False
    for existing in items:
        if isinstance(existing, dict) and existing.get("name") == name:
            if not placed:
                kept.append(item)  # replaced where it was, so the file's order stays
                placed = True
        else:
            kept.append(existing)
    if not placed:
        kept.append(item)
    doc[section] = kept


def dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=1 << 30)


# -- files -----------------------------------------------------------------------------------


def paths(environ: Mapping[str, str]) -> list[str]:
    """kubectl's kubeconfig files: those listed in $KUBECONFIG, else ~/.kube/config."""
    listed = environ.get("KUBECONFIG", "").split(os.pathsep)
    found = [os.path.expanduser(path) for path in listed if path]
    home = environ.get("HOME") or os.path.expanduser("~")
    return found or [os.path.join(home, ".kube", "config")]


def default_path(environ: Mapping[str, str]) -> str:
    """kubectl's file to write: the first of `paths`."""
    return paths(environ)[0]


def read_document(path: str) -> dict[str, Any] | None:
    """An existing kubeconfig, or None when there is none (missing or empty)."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredpluginError(f"cannot read {path}: {os_reason(exc)}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CredpluginError(
            f"{path} is not a valid kubeconfig: {_first_line(exc)}",
            hint="fix or move it; nothing was written",
        ) from None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise CredpluginError(
            f"{path} is not a kubeconfig (not a mapping)", hint="nothing was written"
        )
    return doc


def write_atomically(path: str, text: str) -> None:
    """Replace `path` (through symlinks, at their target) with `text`, mode 0600."""
    final = os.path.realpath(path)
    directory = os.path.dirname(final)
    temp = f"{final}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise CredpluginError(f"cannot write {path}: {os_reason(exc)}") from None


@contextmanager
def locked(path: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """kubectl's own lock while it changes a kubeconfig: `<file>.lock`, created exclusively."""
    lock = os.path.realpath(path) + ".lock"
    deadline = time.monotonic() + wait
    while True:
        try:
            os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise CredpluginError(
                    f"{lock} exists: another kubectl or credplugin is changing {path}",
                    hint="retry; delete the lock file if no such process is running",
                ) from None
            time.sleep(0.05)
        except OSError as exc:
            raise CredpluginError(f"cannot lock {path}: {os_reason(exc)}") from None
    try:
        yield
    finally:
        os.close(fd)
        try:
            os.unlink(lock)
        except OSError:
            pass


def update_file(path: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
    """Read the kubeconfig at `path`, apply `change`, write the result atomically, all under
    the lock kubectl takes, so that neither loses the other's edit."""
    with locked(path):
        write_atomically(path, dump(change(read_document(path))))


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
