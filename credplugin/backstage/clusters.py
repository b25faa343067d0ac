"""Backstage clusters -> kubeconfig entries that run credplugin with the same meaning.

Every cluster of the `config` and `localKubectlProxy` locators has one outcome:

    written         the entry works as Backstage's cluster does
    with warnings   it is written, and something the person should know is said (plain
                    http, skipTLSVerify, a token variable unset here, a role reached
                    differently than Backstage reaches it...)
    refused         it is not written, and the reason is said: the entry could not work
                    (a placeholder url, no issuer to log in at) or would work as someone
                    else (an unset variable inside a role ARN or an external id: dropping it
                    would silently authenticate as the base identity)

One method per authProvider maps the cluster's settings (authMetadata and its
`kubernetes.io/...` keys, `auth.providers` for OIDC issuers, `aws` for accounts) to the
options of the provider that plays it, by option name through the provider's declaration.
Secrets never become arguments: a secret from `${VAR}` or `$file` is referenced by its
variable or file, and never one of another service's secret variables or a file outside the
app-config's directory.
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
from credplugin.backstage.issuers import WIRED_BY_DEFAULT, NoIssuer, issuer_of
from credplugin.errors import UsageError
from credplugin.invocation import Invocation
from credplugin.kubeconfig import Entry
from credplugin.options import COMMON_OPTIONS, parse_argv
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
# Documentation placeholders: a value holding one was copied and never filled in.
PLACEHOLDER = re.compile(r"<[^<>\s]+>|\bCHANGE[_-]?ME\b|\bREPLACE[_-]?ME\b|\bTODO\b", re.I)
# Backstage's config reader's getOptionalBoolean.
TRUE_WORDS = ("true", "yes", "on", "1")

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
INCOMPLETE_MARK = "CREDPLUGIN_INCOMPLETE"


@dataclass
class ClusterResult:
    """What became of one Backstage cluster."""

    name: str  # Backstage's, verbatim
    entry: Entry | None = None  # None: refused
    warnings: list[str] = field(default_factory=list)
    refused: str | None = None  # why, when refused
    topic: str | None = None  # the kind of refusal, for people and tests
    # Each local file or variable whose content the entry sends, and where.
    sends: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.entry is None:
            return "refused"
        return "written with warnings" if self.warnings else "written"


@dataclass
class Conversion:
    clusters: list[ClusterResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # locators that have no static clusters

    @property
    def entries(self) -> list[Entry]:
        return [c.entry for c in self.clusters if c.entry is not None]

    @property
    def refused(self) -> list[ClusterResult]:
        return [c for c in self.clusters if c.entry is None]


class _Refuse(Exception):
    def __init__(self, topic: str, message: str) -> None:
        super().__init__(message)
        self.topic = topic


class _Converter:
    def __init__(
        self,
        config: Mapping[str, Any],
        include_secrets: bool,
        auth_environment: str | None,
        roots: Sequence[str],
        allow_incomplete: bool,
        environ: Mapping[str, str],
    ) -> None:
        self.config = config
        self.environ = environ
        # The app-config files' directories: a token file outside them is not the config's.
        self.roots = [os.path.realpath(r) for r in roots]
        self.include_secrets = include_secrets
        self.allow_incomplete = allow_incomplete
        self.result = Conversion()
        auth = _mapping(config.get("auth"))
        # Backstage's default auth.environment is "development".
        self.auth_environment = auth_environment or _plain(auth.get("environment")) or "development"
        self.auth_providers = _mapping(auth.get("providers"))
        self.aws = _mapping(config.get("aws"))
        self.current = ClusterResult("")
        self.names: set[str] = set()

    # Values -------------------------------------------------------------------------------

    def give(self, entry: Entry, option: str, value: str) -> None:
        """Pass `value` as the entry's provider option `option`, by its declared name: a
        renamed option fails here, loudly, instead of writing a flag nobody parses."""
        assert entry.provider is not None
        provider = providers.lookup(entry.provider)
        assert provider is not None
        entry.args += [provider.option(option).flag, value]

    def warn(self, message: str) -> None:
        self.current.warnings.append(message)

    def text(self, value: Any, what: str) -> str | None:
        """A config value as a string, or None (with a warning when a variable is unset)."""
        if value is None:
            return None
        if isinstance(value, Ref):
            if value.value is None:
                self.warn(f"{what} comes from {value.describe()}, but {value.why}; left out")
                return None
            return value.value or None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value) or None
        self.warn(f"{what} is not a string; left out")
        return None

    def needed(self, value: Any, what: str, *, identity: bool = False) -> str | None:
        """A value the entry cannot do without, or that decides whose credential it is:
        an unset variable or a placeholder in it refuses the cluster."""
        if isinstance(value, Ref) and value.value is None:
            why = "the entry would authenticate as someone else" if identity else "needed"
            raise _Refuse(
                "unset-variable", f"{what} comes from {value.describe()}, but {value.why} ({why})"
            )
        text = self.text(value, what)
        placeholder = _placeholder(text)
        if placeholder:
            raise _Refuse("placeholder", f"{what} is a placeholder to fill in: {placeholder}")
        return text

    def incomplete(self, entry: Entry, missing: str, topic: str, why: str) -> None:
        """The entry lacks something it needs to work: refused, or with --allow-incomplete
        written and marked (its exec env says what is missing; the plugin fails with a
        usage error naming it)."""
        if not self.allow_incomplete:
            raise _Refuse(topic, f"{why} (write it anyway with --allow-incomplete)")
        entry.env[INCOMPLETE_MARK] = f"needs {missing}: {why}"
        self.warn(f"written INCOMPLETE: {why}; add {missing} to the exec args")

    def truthy(self, value: Any, what: str) -> bool:
        text = self.text(value, what)
        return text is not None and text.strip().lower() in TRUE_WORDS

    def auth_provider_config(self, name: str) -> dict[str, Any]:
        """auth.providers.<name>.<environment>, as Backstage's sign-in provider reads it:
        with no block for that environment, Backstage refuses the sign-in, so do we."""
        environments = _mapping(self.auth_providers.get(name))
        chosen = environments.get(self.auth_environment)
        if isinstance(chosen, dict):
            return chosen
        if not environments:
            raise _Refuse("undeterminable-issuer", f"there is no auth.providers.{name} block")
        raise _Refuse(
            "auth-environment",
            f"auth.providers.{name} has no {self.auth_environment!r} environment (Backstage "
            "has no fallback; choose one with --auth-environment)",
        )

    # Locators -----------------------------------------------------------------------------

    def run(self) -> Conversion:
        kubernetes = _mapping(self.config.get("kubernetes"))
        locators = kubernetes.get("clusterLocatorMethods")
        if not isinstance(locators, list) or not locators:
            raise ConfigError("no kubernetes.clusterLocatorMethods in the app-config")
        for index, locator in enumerate(locators):
            if not isinstance(locator, dict):
                raise ConfigError(
                    f"kubernetes.clusterLocatorMethods[{index}] is {type(locator).__name__} "
                    f"{_plain(locator)!r}, not a locator ({{type: config, clusters: [...]}}): "
                    "a layout Backstage no longer reads"
                )
            kind = _plain(locator.get("type"))
            label = f"clusterLocatorMethods[{index}] (type {kind or '?'})"
            if kind == "config":
                clusters = locator.get("clusters") or []
                for cluster in clusters if isinstance(clusters, list) else []:
                    self.add(_mapping(cluster))
            elif kind == "localKubectlProxy":
                self.add(
                    {
                        "name": LOCAL_PROXY_CLUSTER,
                        "url": LOCAL_PROXY_URL,
                        "authProvider": "localKubectlProxy",
                    }
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

    def add(self, cluster: Mapping[str, Any]) -> None:
        name = _plain(cluster.get("name")) or ""
        result = self.current = ClusterResult(name or "(unnamed)")
        self.result.clusters.append(result)
        try:
            if not name:
                raise _Refuse("no-name", "the cluster has no name (Backstage requires one)")
            result.entry = self.entry(name, cluster)
        except _Refuse as exc:
            result.entry, result.refused, result.topic = None, str(exc), exc.topic

    # One cluster ---------------------------------------------------------------------------

    def entry(self, name: str, cluster: Mapping[str, Any]) -> Entry:
        if "<<" in cluster or "<<" in _mapping(cluster.get("authMetadata")):
            raise _Refuse(
                "yaml-merge-key",
                "it uses a YAML merge key (<<): Backstage reads YAML 1.2, which does not "
                "merge, so the cluster lacks what the merge was meant to bring; write the "
                "keys out",
            )
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
            raise _Refuse("no-auth-provider", "no authProvider (Backstage refuses to start)")
        provider = providers.lookup(auth_provider) if auth_provider in BACKSTAGE_PROVIDERS else None
        if provider is None:
            raise _Refuse(
                "unknown-auth-provider",
                f"authProvider {auth_provider!r} is none of Backstage's: "
                + ", ".join(BACKSTAGE_PROVIDERS),
            )
        server = self.needed(cluster.get("url"), "url")
        if not server:
            raise _Refuse("no-url", "no url")
        if not server.startswith(("https://", "http://")):
            raise _Refuse("bad-url", f"url {server!r} is not an http(s) URL")

        entry = Entry(name=self.kubeconfig_name(name), server=server, provider=provider.name)
        if entry.name != name:
            self.warn(f"written as {entry.name!r}: a kubeconfig name without spaces or quotes")
        if server.startswith("http://") and provider.name != "local-kubectl-proxy":
            self.warn(
                f"url {server} is plain http: kubectl sends no exec credential to an http "
                "server (client-go applies them to TLS only), and anything else travels in clear"
            )
        entry.insecure = self.truthy(cluster.get("skipTLSVerify"), "skipTLSVerify")
        if entry.insecure and server.startswith("https://"):
            self.warn("skipTLSVerify is set: the server's certificate is not verified")
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
        self.check_here(entry)
        return entry

    def check_here(self, entry: Entry) -> None:
        """Warn about what would stop the entry on this machine, as doctor would find it:
        a warning, not a refusal, since the kubeconfig may be meant for another machine."""
        if entry.ca_file and not os.access(entry.ca_file, os.R_OK):
            self.warn(f"the CA file {entry.ca_file} is not readable on this machine")
        provider = providers.lookup(entry.provider) if entry.provider else None
        if provider is None or INCOMPLETE_MARK in entry.env:
            return
        environ = {**self.environ, **entry.env}
        try:
            given = parse_argv(provider.options + COMMON_OPTIONS, entry.args)
            call = Invocation(provider, given, {}, entry.server, environ, warn=lambda _: None)
        except UsageError as exc:
            self.warn(f"on this machine: {exc.one_line()}")
            return
        for problem in call.problems():
            self.warn(f"on this machine: {problem}")

    def kubeconfig_name(self, name: str) -> str:
        """`name` as a kubeconfig name a shell needs no quotes for, unique in this file."""
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "cluster"
        candidate, n = base, 1
        while candidate in self.names:
            n += 1
            candidate = f"{base}-{n}"
        self.names.add(candidate)
        return candidate

    def tls(self, entry: Entry, cluster: Mapping[str, Any]) -> None:
        # Backstage reads caFile first, else decodes caData (bufferFromFileOrString).
        ca_file = self.text(cluster.get("caFile"), "caFile")
        ca_data = None if ca_file else self.text(cluster.get("caData"), "caData")
        if entry.insecure:
            if ca_file or ca_data:
                self.warn("skipTLSVerify is set: the CA is left out (kubectl refuses both)")
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
                self.warn(
                    "caData is not base64 of a PEM certificate; left out, so the system's "
                    "CAs verify the server"
                )
            else:
                entry.ca_data = compact

    # Providers: one method per subcommand ---------------------------------------------------

    def provider_aws(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        # Backstage's name for the cluster is its EKS name unless the metadata says otherwise.
        cluster_id = self.needed(metadata.get(AWS_CLUSTER_ID), AWS_CLUSTER_ID)
        self.give(entry, "cluster-id", cluster_id or self.current.name)
        role = self.needed(metadata.get(AWS_ASSUME_ROLE), "assumeRole", identity=True)
        external_id = self.needed(metadata.get(AWS_EXTERNAL_ID), "externalId", identity=True)
        profile = self.aws_main_profile()
        raw_account = metadata.get(AWS_ACCOUNT_ID)
        if isinstance(raw_account, int) and not isinstance(raw_account, bool):
            # YAML 1.2 reads an unquoted 012345678901 as the number 12345678901: the leading
            # zero is gone, and Backstage itself would look up the wrong account.
            raise _Refuse(
                "ambiguous-yaml-scalar",
                f"{AWS_ACCOUNT_ID} is the number {raw_account}, not a 12-digit account id "
                "(an unquoted id loses its leading zeros); quote it in the app-config",
            )
        account_id = self.needed(raw_account, AWS_ACCOUNT_ID, identity=True)
        if role:
            account = self.aws_account(role.split(":")[4] if role.count(":") >= 5 else "")
            if account is not None and account.get("roleName"):
                self.warn(
                    f"Backstage reaches {role} through aws.accounts' role "
                    f"{_plain(account.get('roleName'))}; this entry assumes it directly with "
                    "this machine's AWS credentials"
                )
        elif account_id:
            account = self.aws_account(account_id)
            if account is not None and (
                account.get("accessKeyId") is not None or account.get("secretAccessKey") is not None
            ):
                raise _Refuse(
                    "aws-account-credentials",
                    f"Backstage reaches AWS account {account_id} with the static keys in "
                    "aws.accounts, which a kubeconfig cannot reference; add a profile with "
                    "them and run `credplugin kubeconfig add ... -- aws --profile NAME`",
                )
            if account is not None and _plain(account.get("profile")):
                profile = _plain(account.get("profile"))
            else:
                role_name = self.needed(
                    (account or {}).get("roleName")
                    or _mapping(self.aws.get("accountDefaults")).get("roleName"),
                    f"the roleName of AWS account {account_id}",
                    identity=True,
                )
                if not role_name:
                    raise _Refuse(
                        "aws-account-credentials",
                        f"Backstage reaches AWS account {account_id} with credentials this "
                        "entry cannot name (no roleName or profile in aws.accounts)",
                    )
                role = f"arn:{_aws_partition(entry.server)}:iam::{account_id}:role/{role_name}"
                if account is not None:
                    external_id = self.needed(
                        account.get("externalId"), "externalId", identity=True
                    )
        if profile:
            self.give(entry, "profile", profile)
        if role:
            self.give(entry, "role-arn", role)
        if external_id:
            self.give(entry, "external-id", external_id)
        # --region: the aws provider reads it from the EKS server URL, as Backstage's
        # AWS_REGION would have to be set for the cluster.

    def aws_main_profile(self) -> str | None:
        """aws.mainAccount.profile: Backstage's base credentials for every AWS cluster."""
        main = _mapping(self.aws.get("mainAccount"))
        return _plain(main.get("profile"))

    def aws_account(self, account_id: str) -> dict[str, Any] | None:
        accounts = self.aws.get("accounts")
        for account in accounts if isinstance(accounts, list) else []:
            if isinstance(account, dict) and _plain(account.get("accountId")) == account_id:
                return account
        return None

    def provider_azure(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        pass  # DefaultAzureCredential on the machine, for the AKS server app: the defaults

    def provider_aks(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        microsoft = _mapping(
            _mapping(self.auth_providers.get("microsoft")).get(self.auth_environment)
        )
        tenant = self.needed(microsoft.get("tenantId"), "auth.providers.microsoft tenantId")
        if tenant:
            self.give(entry, "tenant-id", tenant)
        else:
            self.incomplete(
                entry,
                "--tenant-id TENANT",
                "no-tenant",
                f"no Entra tenant in auth.providers.microsoft.{self.auth_environment}",
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
                self.warn(f"the key file {key.source} is not readable here ({key.why})")
        elif key is not None:
            origin = key.describe() if isinstance(key, Ref) else "a literal in the app-config"
            self.warn(
                f"kubernetes.googleServiceAccountCredentials ({origin}) is a secret key and is "
                "not copied: save it to a file only you can read and add --key-file FILE to "
                "the exec args; without it the entry uses Application Default Credentials"
            )

    def provider_service_account(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        token = metadata.get(SA_TOKEN)
        if token is None or token == "":
            # Backstage's in-cluster mode: the pod's projected token and CA.
            if entry.ca_file is None and entry.ca_data is None and not entry.insecure:
                entry.ca_file = IN_CLUSTER_CA_FILE
            self.warn(
                "no serviceAccountToken: the entry uses the in-cluster token and CA, so it "
                "works inside a pod; elsewhere add --token-file or --token-env to the exec args"
            )
            return
        foreign = [v for v in getattr(token, "variables", ()) if _is_foreign_secret_variable(v)]
        if foreign:
            raise _Refuse(
                "credential-variable",
                f"its serviceAccountToken comes from ${foreign[0]}, a secret of another "
                f"service; it would be sent to {entry.server} as a bearer token",
            )
        if isinstance(token, Ref) and token.kind == "env":
            self.give(entry, "token-env", token.source)
            if token.value is None:
                self.warn(f"${token.source} is not set here; export it before using this context")
            self.current.sends.append(f"${token.source} as a bearer token to {entry.server}")
            return
        if isinstance(token, Ref) and token.kind == "file":
            if not self.inside_roots(token.source):
                raise _Refuse(
                    "file-outside-tree",
                    f"its serviceAccountToken comes from {token.source}, outside the "
                    f"app-config's directory; it would be sent to {entry.server} as a bearer "
                    "token (copy the token next to the app-config, or name the file yourself "
                    "with `credplugin kubeconfig add`)",
                )
            self.give(entry, "token-file", token.source)
            self.current.sends.append(
                f"the file {token.source} as a bearer token to {entry.server}"
            )
            if token.value is None:
                self.warn(f"the token file {token.source} is not readable here ({token.why})")
            return
        value = token.value if isinstance(token, Ref) else self.text(token, SA_TOKEN)
        placeholder = _placeholder(value)
        if placeholder:
            raise _Refuse(
                "placeholder", f"serviceAccountToken is a placeholder to fill in: {placeholder}"
            )
        variable = "CREDPLUGIN_SA_TOKEN_" + re.sub(r"[^A-Z0-9]+", "_", entry.name.upper()).strip(
            "_"
        )
        self.give(entry, "token-env", variable)
        self.current.sends.append(f"${variable} as a bearer token to {entry.server}")
        if self.include_secrets and value:
            entry.env[variable] = value
        else:
            self.warn(
                "serviceAccountToken is written in the app-config itself and is not copied "
                f"(--include-secrets would put it in the exec env); export {variable} with "
                "the token before using this context"
            )

    def inside_roots(self, path: str) -> bool:
        real = os.path.realpath(path)
        # /var/run is often a link to /run: the pod's secrets under either name.
        if os.path.normpath(path).startswith(IN_CLUSTER_SECRETS) or real.startswith(
            (IN_CLUSTER_SECRETS, "/run/secrets/")
        ):
            return True
        return any(os.path.commonpath([real, root]) == root for root in self.roots)

    def provider_oidc(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        idp = self.text(metadata.get(OIDC_TOKEN_PROVIDER), "oidcTokenProvider")
        if not idp:
            raise _Refuse(
                "no-token-provider",
                "authProvider oidc without oidcTokenProvider (Backstage refuses to start): "
                "nothing says which issuer the API server trusts",
            )
        settings = self.auth_provider_config(idp)
        try:
            # Every value the issuer is made of decides whose token it is: an unset variable
            # or a placeholder among them refuses the cluster.
            issuer = issuer_of(idp, settings, lambda v, w: self.needed(v, w, identity=True))
        except NoIssuer as exc:
            raise _Refuse(exc.topic, f"oidcTokenProvider {idp}: {exc}") from None
        client_id = self.needed(
            settings.get("clientId"), f"auth.providers.{idp} clientId", identity=True
        )
        if idp not in WIRED_BY_DEFAULT:
            self.warn(
                f"oidcTokenProvider {idp} is not one Backstage's Kubernetes frontend wires by "
                f"default ({', '.join(WIRED_BY_DEFAULT)}); the entry logs in at its issuer "
                f"{issuer}"
            )
        if issuer:
            self.give(entry, "issuer-url", issuer)
        if client_id:
            self.give(entry, "client-id", client_id)
        else:
            self.incomplete(
                entry, "--client-id ID", "no-client-id", f"auth.providers.{idp} has no clientId"
            )
        secret = settings.get("clientSecret")
        if secret is None or secret == "":
            return
        value = secret.value if isinstance(secret, Ref) else self.text(secret, "clientSecret")
        if self.include_secrets and value:
            entry.env["OIDC_CLIENT_SECRET"] = value
            return
        origin = f" ({secret.describe()})" if isinstance(secret, Ref) else ""
        self.warn(
            f"Backstage's {idp} client has a client secret{origin}, which is not copied: if the "
            "IdP requires it for this client, export OIDC_CLIENT_SECRET before using this context"
        )

    def provider_local_kubectl_proxy(self, entry: Entry, metadata: Mapping[str, Any]) -> None:
        if not entry.server.startswith("http://"):
            # An anonymous TLS server: no exec entry (a placeholder client certificate would
            # be presented over TLS and refused).
            entry.provider = None
            return
        if not is_loopback(entry.server):
            self.warn(
                f"the proxy at {entry.server} is plain http on another host: anyone who can "
                "reach it acts with its identity, and what you send travels in clear"
            )
            self.give(entry, "proxy-url", entry.server)


def convert(
    config: Mapping[str, Any],
    *,
    include_secrets: bool = False,
    auth_environment: str | None = None,
    roots: Sequence[str] = (),
    allow_incomplete: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Conversion:
    """The kubeconfig entries for the clusters of a loaded app-config whose files lie in the
    directories `roots`; `environ` is this machine's, for the checks an entry must pass here."""
    return _Converter(
        config, include_secrets, auth_environment, roots, allow_incomplete, environ or {}
    ).run()


def _is_foreign_secret_variable(name: str) -> bool:
    upper = name.upper()
    return upper in FOREIGN_SECRET_VARIABLES or upper.startswith(FOREIGN_SECRET_PREFIXES)


def _placeholder(text: str | None) -> str | None:
    match = PLACEHOLDER.search(text or "")
    return match.group(0) if match else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plain(value: Any) -> str | None:
    """A plain scalar (or a resolved Ref) as text, without warnings: for names and types."""
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
