"""azure: an Entra ID access token for AKS from the machine's own identity (azure-identity).

Backstage's `azure` strategy calls DefaultAzureCredential for the AKS server application
(`6dae42f8-4368-4678-94ff-3960e28e3630/.default`); so does this, or one credential of the chain
chosen with --credential: environment, workload identity, managed identity, Azure CLI, or a
service principal's secret or certificate. Secrets come only from the environment
(AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH/_PASSWORD, AZURE_FEDERATED_TOKEN_FILE),
never from the command line, and never reach a log or an error message.

The token is cached until shortly before it expires; if a refresh fails while the cached token
is still valid, the runner keeps serving it (Backstage does the same). An authority host other
than the public cloud turns off instance discovery, which would otherwise send a request to
login.microsoftonline.com (and retry it for seconds where that host is unreachable).
"""

from __future__ import annotations

import os

from credplugin.entra import AKS_SERVER_ID, AUTHORITY_HOST_OPTION
from credplugin.options import Option
from credplugin.providers.base import Declaration

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

CREDENTIALS = (
    "default",
    "cli",
    "environment",
    "managed-identity",
    "workload-identity",
    "client-secret",
    "client-certificate",
)


def identity_files(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Files whose change may mean another identity: the certificate, and `az login`'s
    profile (a login as someone else rewrites it)."""
    files = []
    if environ.get("AZURE_CLIENT_CERTIFICATE_PATH"):
        files.append(environ["AZURE_CLIENT_CERTIFICATE_PATH"])
    if options.get("credential") in ("default", "cli"):
        config_dir = environ.get("AZURE_CONFIG_DIR") or os.path.join(
            os.path.expanduser("~"), ".azure"
        )
        files.append(os.path.join(config_dir, "azureProfile.json"))
    return files


PROVIDER = Declaration(
    __name__,
    name="azure",
    summary="Entra ID token for AKS from the machine's identity (azure-identity).",
    side="server",
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
    identity_files=identity_files,
    examples=(
        "credplugin azure",
        "credplugin azure --credential workload-identity --tenant-id TENANT --client-id CLIENT",
    ),
    options=(
        Option(
            "credential",
            "Which azure-identity credential: default (the DefaultAzureCredential chain, without "
            "its interactive browser login), cli, environment, managed-identity, "
            "workload-identity, client-secret, client-certificate.",
            type="choice",
            choices=CREDENTIALS,
            default="default",
            metavar="KIND",
        ),
        Option(
            "tenant-id",
            "Entra tenant of the service principal or workload identity.",
            aliases=("-t",),
            envvar="AZURE_TENANT_ID",
            metavar="TENANT",
        ),
        Option(
            "client-id",
            "Client id of the service principal, workload identity or user-assigned managed "
            "identity.",
            envvar="AZURE_CLIENT_ID",
            metavar="ID",
        ),
        Option(
            "scope",
            "Scope of the token (the AKS server application by default).",
            default=f"{AKS_SERVER_ID}/.default",
            metavar="SCOPE",
        ),
        AUTHORITY_HOST_OPTION,
    ),
)
