"""Backstage clusters -> kubeconfig entries that run credplugin with the same meaning.

One method per authProvider maps its cluster settings (authMetadata, `kubernetes.io/...`
keys, `auth.providers` for OIDC issuers, `aws.accounts` for roles) to the options of the
provider that plays it, by option name through the provider's declaration. Secrets never
become arguments: a secret from `${VAR}` or `$file` is referenced by its variable or file.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credplugin import providers
from credplugin.backstage.appconfig import ConfigError, Ref
from credplugin.kubeconfig import Entry
from credplugin.urlhost import is_loopback

# Backstage's LocalKubectlProxyClusterLocator: http://localhost:8001, resolved IPv4-first,
# because kubectl proxy listens on 127.0.0.1 only (backstage/backstage#19931).
LOCAL_PROXY_CLUSTER = "local"
LOCAL_PROXY_URL = "http://127.0.0.1:8001"
# What ServiceAccountStrategy uses when no token is configured, inside a pod.
IN_CLUSTER_CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
# Mounted secrets of a pod: a token file here is a Kubernetes token, wherever the config is.
IN_CLUSTER_SECRETS = "/var/run/secrets/"
# Variables that hold another service's secret: sending one to a cluster as a bearer token
# is a leak, whatever the app-config says.
FOREIGN_SECRET_VARIABLES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "AZURE_PASSWORD",
        "AZURE_FEDERATED_TOKEN_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLIENT_SECRET",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
        "OIDC_CLIENT_SECRET",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "VAULT_TOKEN",
        "NPM_TOKEN",
        "SSH_AUTH_SOCK",
    }
)
FOREIGN_SECRET_PREFIXES = ("ARM_", "AWS_SECRET", "AZURE_CLIENT_SECRET", "ACTIONS_ID_TOKEN")

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


@dataclass
class Conversion:
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the person should check or do
    skipped: list[str] = field(default_factory=list)  # locators and clusters not converted
    # Per cluster, each local file or variable whose content the entry sends, and where.
    sends: list[str] = field(default_factory=list)


class _Skip(Exception):
    """This cluster cannot become an entry; the message says why."""


class _Converter:
    def __init__(
        self,
        config: Mapping[str, Any],
        include_secrets: bool,
        auth_environment: str | None,
        roots: Sequence[str],
    ) -> None:
        self.config = config
        # The app-config files' directories: a token file outside them is not the config's.
        self.roots = [os.path.realpath(r) for r in roots]
        self.include_secrets = include_secrets
        self.result = Conversion()
        auth = _mapping(config.get("auth"))
        # Backstage's default auth.environment is "development".
        self.auth_environment = auth_environment or _plain(auth.get("environment")) or "development"
        self.auth_providers = _mapping(auth.get("providers"))
        self.cluster = ""  # the cluster being converted, for notes

    # Values -------------------------------------------------------------------------------

    def give(self, entry: Entry, option: str, value: str) -> None:
        """Pass `value` as the entry's provider option `option`, by its declared name: a
        renamed option fails here, loudly, instead of writing a flag nobody parses."""
        assert entry.provider is not None
        provider = providers.lookup(entry.provider)
        assert provider is not None
        entry.args += [provider.option(option).flag, value]

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
        provider = providers.lookup(auth_provider)
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
        self.give(entry, "cluster-id", cluster_id)
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
            self.give(entry, "role-arn", role)
        if external_id:
            self.give(entry, "external-id", external_id)
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
            self.give(entry, "tenant-id", tenant)
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
            self.give(entry, "key-file", key.source)
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
        foreign = [v for v in getattr(token, "variables", ()) if _is_foreign_secret_variable(v)]
        if foreign:
            raise _Skip(
                f"its serviceAccountToken comes from ${foreign[0]}, a secret of another "
                f"service; it would be sent to {entry.server} as a bearer token; refused"
            )
        if isinstance(token, Ref) and token.kind == "env":
            self.give(entry, "token-env", token.source)
            self.result.sends.append(
                f"cluster {entry.name}: sends ${token.source} as a bearer token to {entry.server}"
            )
            return
        if isinstance(token, Ref) and token.kind == "file":
            if not self.inside_roots(token.source):
                raise _Skip(
                    f"its serviceAccountToken comes from {token.source}, outside the "
                    f"app-config's directory; it would be sent to {entry.server} as a bearer "
                    "token; refused (copy the token next to the app-config, or use `credplugin "
                    "kubeconfig add` to name the file yourself)"
                )
            self.give(entry, "token-file", token.source)
            self.result.sends.append(
                f"cluster {entry.name}: sends the file {token.source} as a bearer token to "
                f"{entry.server}"
            )
            if token.value is None:
                self.note(f"the token file {token.source} is not readable here ({token.why})")
            return
        variable = "CREDPLUGIN_SA_TOKEN_" + re.sub(r"[^A-Z0-9]+", "_", entry.name.upper()).strip(
            "_"
        )
        self.give(entry, "token-env", variable)
        self.result.sends.append(
            f"cluster {entry.name}: sends ${variable} as a bearer token to {entry.server}"
        )
        value = token.value if isinstance(token, Ref) else self.text(token, SA_TOKEN)
        if self.include_secrets and value:
            entry.env[variable] = value
        else:
            self.note(
                "serviceAccountToken is written in the app-config itself and is not copied "
                f"(--include-secrets would put it in the exec env); export {variable} with "
                "the token before using this context"
            )

    def inside_roots(self, path: str) -> bool:
        real = os.path.realpath(path)
        if real.startswith(IN_CLUSTER_SECRETS):
            return True
        return any(os.path.commonpath([real, root]) == root for root in self.roots)

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
            self.give(entry, "issuer-url", issuer)
        if client_id:
            self.give(entry, "client-id", client_id)
        missing = [
            f"--{name}" for name, v in (("issuer-url", issuer), ("client-id", client_id)) if not v
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
            self.give(entry, "proxy-url", entry.server)


def convert(
    config: Mapping[str, Any],
    *,
    include_secrets: bool = False,
    auth_environment: str | None = None,
    roots: Sequence[str] = (),
) -> Conversion:
    """The kubeconfig entries for the clusters of a loaded app-config whose files lie in the
    directories `roots`."""
    return _Converter(config, include_secrets, auth_environment, roots).run()


def _is_foreign_secret_variable(name: str) -> bool:
    upper = name.upper()
    return upper in FOREIGN_SECRET_VARIABLES or upper.startswith(FOREIGN_SECRET_PREFIXES)


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
