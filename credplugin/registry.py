"""Which providers exist, under which names, without importing any of them.

`identity_env` lists the environment variables that change *who* a provider authenticates as
(a profile, a key file, a tenant). Their values are part of the cache key, so switching
accounts in a shell never serves the previous account's token. Secret values are hashed into
the key like everything else and never stored.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from credplugin.providers.base import ProviderModule


class ProviderEntry:
    __slots__ = ("aliases", "identity_env", "module", "name", "side", "summary")

    def __init__(
        self,
        name: str,
        module: str,
        summary: str,
        side: str,
        aliases: tuple[str, ...] = (),
        identity_env: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.module = module
        self.summary = summary
        self.side = side  # "server": the machine's own identity; "client": a person's login
        self.aliases = aliases
        self.identity_env = identity_env

    def load(self) -> ProviderModule:
        # __import__ rather than importlib.import_module: importlib is not loaded at startup.
        __import__(self.module)
        module: ProviderModule = sys.modules[self.module]
        return module


PROVIDERS: tuple[ProviderEntry, ...] = (
    ProviderEntry(
        "aws",
        "credplugin.providers.aws",
        "EKS token: a presigned STS GetCallerIdentity, optionally after AssumeRole.",
        "server",
        identity_env=(
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SESSION_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_STS",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ),
    ),
    ProviderEntry(
        "azure",
        "credplugin.providers.azure",
        "Entra ID token for AKS from the machine's identity (azure-identity).",
        "server",
        identity_env=(
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_AUTHORITY_HOST",
            "AZURE_CONFIG_DIR",
            "AZURE_TOKEN_CREDENTIALS",
            "AZURE_USERNAME",
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "IDENTITY_ENDPOINT",
            "MSI_ENDPOINT",
        ),
    ),
    ProviderEntry(
        "google-service-account",
        "credplugin.providers.google_service_account",
        "Google OAuth2 access token from a service account or ADC.",
        "server",
        aliases=("googleServiceAccount",),
        identity_env=(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "CLOUDSDK_CONFIG",
            "GCE_METADATA_HOST",
            "GCE_METADATA_IP",
            "GCE_METADATA_ROOT",
        ),
    ),
    ProviderEntry(
        "local-kubectl-proxy",
        "credplugin.providers.local_kubectl_proxy",
        "No credential of ours: a running `kubectl proxy` applies its own identity.",
        "server",
        aliases=("localKubectlProxy",),
    ),
    ProviderEntry(
        "service-account",
        "credplugin.providers.service_account",
        "Kubernetes service-account token from a file or an environment variable.",
        "server",
        aliases=("serviceAccount",),
    ),
    ProviderEntry(
        "aks",
        "credplugin.providers.aks",
        "Entra ID token for AKS for the signed-in user (MSAL device code or browser).",
        "client",
        identity_env=("AZURE_AUTHORITY_HOST",),
    ),
    ProviderEntry(
        "google",
        "credplugin.providers.google",
        "Google OAuth2 access token for the signed-in user.",
        "client",
        identity_env=("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"),
    ),
    ProviderEntry(
        "oidc",
        "credplugin.providers.oidc",
        "OIDC ID token from a browser login with PKCE, device code, or refresh token.",
        "client",
    ),
)

_BY_NAME = {name: p for p in PROVIDERS for name in (p.name, *p.aliases)}


def lookup(name: str) -> ProviderEntry | None:
    return _BY_NAME.get(name)
