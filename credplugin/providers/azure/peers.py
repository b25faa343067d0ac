"""Azure kubelogin's `get-token` arguments, read as `credplugin azure` options (peerargs).

Azure kubelogin is one program for two kinds of login: a person's (devicecode, interactive:
`credplugin aks`) and the machine's own identity (spn, msi, azurecli, workloadidentity: this
provider). Its flags are declared once here (pkg/internal/token/options.go at v0.2.19, plus
klog's -v and --logtostderr from main.go); aks/peers.py uses the same table with its own
--login. Flags spelled as ours (`--client-id`, `--tenant-id`/`-t`, `--authority-host`,
`--cache-dir`) need no entry.

Not carried over: kubelogin lets environment variables override its flags (AAD_LOGIN_METHOD,
AZURE_CLIENT_ID...) unless --disable-environment-override; in credplugin the command line
always wins, so an entry means what its arguments say.
"""

from __future__ import annotations

from credplugin.entra import PUBLIC_CLOUD
from credplugin.errors import UsageError
from credplugin.peerargs import (
    KLOG_VERBOSITY,
    SWITCH,
    VALUE,
    Dialect,
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


def _scope(t: Translation, spelling: str, value: str) -> None:
    """--server-id S: the token's audience, as kubelogin builds the scope from it."""
    scope = value.rstrip("/")
    if not scope.endswith(AKS_SERVER_SCOPE_SUFFIX):
        scope += AKS_SERVER_SCOPE_SUFFIX
    t.set("scope", scope)


def _service_principal(t: Translation) -> str:
    """kubelogin's spn login: a client secret when there is one, else a certificate (the
    secret or the certificate's path comes from the environment: see KUBELOGIN_FLAGS)."""
    environ = t.environ
    if environ.get("AZURE_CLIENT_SECRET"):
        return "client-secret"
    if environ.get("AZURE_CLIENT_CERTIFICATE_PATH"):
        return "client-certificate"
    for theirs, ours in (
        ("AAD_SERVICE_PRINCIPAL_CLIENT_SECRET", "AZURE_CLIENT_SECRET"),
        ("AAD_SERVICE_PRINCIPAL_CLIENT_CERTIFICATE", "AZURE_CLIENT_CERTIFICATE_PATH"),
    ):
        if environ.get(theirs):
            raise UsageError(
                f"${theirs} is Azure kubelogin's: credplugin reads ${ours}",
                hint=f"rename it to {ours} in the exec entry's env",
            )
    return "client-secret"  # its fetch says that AZURE_CLIENT_SECRET is missing


def finish(t: Translation) -> None:
    authority_from_environment(t)
    login = t.last("login")
    if login is None and t.command and not t.has("credential"):
        login = "devicecode"  # kubelogin's default; our own --credential, when given, instead
    if login is None:
        return
    spelling = "--login"
    check_login(spelling, login)
    if login in PERSON_LOGINS:
        default = " (Azure kubelogin's default)" if t.last("login") is None else ""
        raise UsageError(
            f"{spelling} {login}{default} signs a person in, which is credplugin aks",
            hint="run credplugin aks with the same arguments, or pass --login "
            + "|".join(MACHINE_LOGINS)
            + " for this machine's own identity",
        )
    if login == "spn":
        t.set("credential", _service_principal(t))
    else:
        t.set("credential", MACHINE_CREDENTIALS[login])


DIALECT = Dialect(
    "Azure kubelogin get-token",
    commands=(("get-token",),),
    flags=(
        Flag("-l --login", VALUE, hold("login")),
        Flag("--server-id", VALUE, _scope),
        Flag(
            "--redirect-url",
            VALUE,
            ignored("only an interactive login (credplugin aks) redirects"),
        ),
        Flag("--login-hint", VALUE, ignored("only an interactive login (credplugin aks) uses it")),
        *KUBELOGIN_FLAGS,
    ),
    finish=finish,
)
