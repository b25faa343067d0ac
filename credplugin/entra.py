"""Where Entra ID lives, and the AKS applications: shared by the azure and aks providers.

Read on every call of those providers (the --authority-host option is declared here), so this
module imports nothing heavy.
"""

from __future__ import annotations

from credplugin.errors import UsageError
from credplugin.options import NEVER, Option

# The AKS AAD server application: the audience of every AKS cluster with Entra ID enabled.
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
# The AKS first-party public client (Azure CLI's `az aks get-credentials` uses it too).
AKS_CLIENT_ID = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"
PUBLIC_CLOUD = "https://login.microsoftonline.com"
# Hosts of the public cloud, where MSAL's instance discovery is served and useful.
PUBLIC_CLOUD_HOSTS = frozenset(
    {"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}
)

AUTHORITY_HOST_OPTION = Option(
    "authority-host",
    f"Entra authority host for sovereign clouds or Azure Stack [default: {PUBLIC_CLOUD}].",
    envvar="AZURE_AUTHORITY_HOST",
    metavar="URL",
    cluster=NEVER,
)


def authority_host(value: str | None) -> str:
    """`https://login.example` from --authority-host (a bare host name is taken as https)."""
    raw = (value or PUBLIC_CLOUD).strip().rstrip("/")
    if "://" not in raw:
        raw = "https://" + raw
    scheme, _, rest = raw.partition("://")
    if scheme.lower() != "https" or not rest or "/" in rest or "?" in rest:
        raise UsageError(
            f"invalid authority host {value!r}",
            hint="pass an https URL without a path, such as https://login.microsoftonline.us",
        )
    return "https://" + rest


def is_public_cloud(host: str) -> bool:
    return host.partition("://")[2].lower() in PUBLIC_CLOUD_HOSTS
