"""Azure kubelogin's `get-token` flags, declared once for the two providers that read its
arguments (peerargs): aks (a person's logins: devicecode, interactive) and azure (the
machine's own identity: spn, msi, azurecli, workloadidentity). Each provider's peers.py adds
its own --login handling; no provider imports another.

The table follows pkg/internal/token/options.go at v0.2.19, plus klog's -v and
--logtostderr from main.go. Flags spelled as ours (`--client-id`, `--tenant-id`/`-t`,
`--authority-host`, `--cache-dir`) need no entry.
"""

from __future__ import annotations

from credplugin.entra import PUBLIC_CLOUD
from credplugin.errors import UsageError
from credplugin.peerargs import (
    KLOG_VERBOSITY,
    SWITCH,
    VALUE,
    Flag,
    Translation,
    hold,
    ignored,
    refused,
    same,
    seconds,
)

# kubelogin's GetCloudConfiguration, by upper-cased name; None: the public cloud, our
# default. Any other name kubelogin silently takes as the public cloud: we refuse it instead.
CLOUDS: dict[str, str | None] = {
    "AZURECLOUD": None,
    "AZUREPUBLIC": None,
    "AZUREPUBLICCLOUD": None,
    "AZUREUSGOVERNMENT": "https://login.microsoftonline.us",
    "AZUREUSGOVERNMENTCLOUD": "https://login.microsoftonline.us",
    "AZURECHINACLOUD": "https://login.chinacloudapi.cn",
}
PERSON_LOGINS = ("devicecode", "interactive")
MACHINE_LOGINS = ("spn", "msi", "azurecli", "workloadidentity")
# Our --credential for each (spn: client-secret or client-certificate, by the environment).
MACHINE_CREDENTIALS = {
    "msi": "managed-identity",
    "azurecli": "cli",
    "workloadidentity": "workload-identity",
}
# kubelogin login modes with no equivalent here: (why, what to do instead).
NO_EQUIVALENT = {
    "ropc": (
        "Entra ID's password grant fails for accounts with MFA or federation, and credplugin "
        "never handles a password",
        "use credplugin aks get-token --login devicecode, or a service principal (--login spn)",
    ),
    "azd": (
        "credplugin has no Azure Developer CLI credential",
        "use --login azurecli after `az login`",
    ),
    "azurepipelines": (
        "credplugin has no Azure Pipelines credential",
        "use --login workloadidentity or --login spn with the service connection's identity",
    ),
}
KNOWN_LOGINS = (*PERSON_LOGINS, *MACHINE_LOGINS, *NO_EQUIVALENT)
AKS_SERVER_SCOPE_SUFFIX = "/.default"


def check_login(spelling: str, login: str) -> None:
    """A usage error for a login kubelogin has and we do not, or one kubelogin lacks."""
    if login in NO_EQUIVALENT:
        why, instead = NO_EQUIVALENT[login]
        raise UsageError(f"{spelling} {login} is not supported: {why}", hint=instead)
    if login not in KNOWN_LOGINS:
        raise UsageError(
            f"{spelling} {login!r} is not an Azure kubelogin login method",
            hint="use one of " + ", ".join(KNOWN_LOGINS),
        )


def authority_from_environment(t: Translation) -> None:
    """--environment NAME as kubelogin reads it: only when --authority-host is not given."""
    name = t.last("environment")
    if name is None or t.has("authority-host"):
        return
    key = name.upper()
    if key not in CLOUDS:
        raise UsageError(
            f"--environment {name} is not supported: credplugin knows AzurePublicCloud, "
            "AzureUSGovernmentCloud and AzureChinaCloud (Azure kubelogin would quietly use "
            "the public cloud)",
            hint="pass --authority-host URL for another cloud",
        )
    host = CLOUDS[key]
    if host is None:
        t.drop(f"--environment {name}", f"the public cloud ({PUBLIC_CLOUD}) is the default")
    else:
        t.set("authority-host", host)


def _federated_token_file(t: Translation, spelling: str, value: str) -> None:
    if t.environ.get("AZURE_FEDERATED_TOKEN_FILE") == value:
        t.drop(spelling, "the same file as $AZURE_FEDERATED_TOKEN_FILE, which credplugin reads")
        return
    raise UsageError(
        f"{spelling} is not supported: credplugin reads the workload identity's token file "
        "from $AZURE_FEDERATED_TOKEN_FILE only",
        hint="set AZURE_FEDERATED_TOKEN_FILE to that path in the exec entry's env",
    )


NOT_FROM_ARGUMENTS = (
    "credplugin never takes a service principal's credential from its arguments, which "
    "other users of the machine can read"
)

# Every kubelogin get-token flag but --login, --server-id, --redirect-url and --login-hint,
# whose meaning differs between a person's login and the machine's.
KUBELOGIN_FLAGS = (
    Flag(
        "--client-secret",
        VALUE,
        refused(NOT_FROM_ARGUMENTS, "put it in the exec entry's env as AZURE_CLIENT_SECRET"),
    ),
    Flag(
        "--client-certificate",
        VALUE,
        refused(
            NOT_FROM_ARGUMENTS,
            "set AZURE_CLIENT_CERTIFICATE_PATH in the exec entry's env",
        ),
    ),
    Flag(
        "--client-certificate-password",
        VALUE,
        refused(
            NOT_FROM_ARGUMENTS,
            "put it in the exec entry's env as AZURE_CLIENT_CERTIFICATE_PASSWORD",
        ),
    ),
    Flag("--password", VALUE, refused(*NO_EQUIVALENT["ropc"])),
    Flag("--username", VALUE, ignored("only kubelogin's ropc login uses it")),
    Flag(
        "--identity-resource-id",
        VALUE,
        refused(
            "credplugin picks a user-assigned managed identity by its client id only",
            "pass --client-id with the identity's client id",
        ),
    ),
    Flag("--federated-token-file", VALUE, _federated_token_file),
    Flag(
        "--azure-pipelines-service-connection-id",
        VALUE,
        refused(*NO_EQUIVALENT["azurepipelines"]),
    ),
    Flag("--token-cache-dir", VALUE, same("cache-dir")),
    Flag(
        "-s --subscription",
        VALUE,
        refused(
            "credplugin cannot choose the Azure CLI's subscription yet",
            "pass --tenant-id with the subscription's tenant instead",
        ),
    ),
    Flag("-e --environment", VALUE, hold("environment")),
    Flag(
        "--legacy",
        SWITCH,
        refused(
            "credplugin gets no AAD v1 tokens (audience spn:...): AKS's legacy AAD "
            "integration is retired",
            "move the cluster to AKS-managed Entra integration and remove --legacy",
        ),
    ),
    Flag(
        "--pop-enabled",
        SWITCH,
        refused(
            "credplugin gets no proof-of-possession tokens (Azure Arc)",
            "keep Azure kubelogin for this entry",
        ),
    ),
    Flag(
        "--pop-claims",
        VALUE,
        refused(
            "credplugin gets no proof-of-possession tokens (Azure Arc)",
            "keep Azure kubelogin for this entry",
        ),
    ),
    Flag(
        "--use-azurerm-env-vars",
        SWITCH,
        refused(
            "credplugin reads the AZURE_* variables, not Terraform's ARM_* ones",
            "set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET in the exec env",
        ),
    ),
    # kubelogin bounds the whole call; ours bounds each network call (and a whole fetch too).
    Flag("--timeout", VALUE, seconds("timeout")),
    Flag(
        "--disable-environment-override",
        SWITCH,
        ignored("in credplugin the command line always wins over the environment"),
    ),
    Flag(
        "--disable-instance-discovery",
        SWITCH,
        ignored("credplugin turns instance discovery off for any authority but the public cloud"),
    ),
    KLOG_VERBOSITY,
    Flag("--logtostderr", SWITCH, ignored("credplugin logs to stderr only, with -v")),
)
