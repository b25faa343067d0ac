"""Azure kubelogin's `get-token` arguments, read as `credplugin azure` options (peerargs).

Azure kubelogin is one program for two kinds of login: a person's (devicecode, interactive:
`credplugin aks`) and the machine's own identity (spn, msi, azurecli, workloadidentity: this
provider). Its flags are declared once, in credplugin/kubelogin_flags.py; aks/peers.py
uses the same table with its own --login.

Not carried over: kubelogin lets environment variables override its flags (AAD_LOGIN_METHOD,
AZURE_CLIENT_ID...) unless --disable-environment-override; in credplugin the command line
always wins, so an entry means what its arguments say.
"""

from __future__ import annotations

from credplugin.errors import UsageError
from credplugin.kubelogin_flags import (
    AKS_SERVER_SCOPE_SUFFIX,
    KUBELOGIN_FLAGS,
    MACHINE_CREDENTIALS,
    MACHINE_LOGINS,
    PERSON_LOGINS,
    authority_from_environment,
    check_login,
)
from credplugin.peerargs import (
    VALUE,
    Dialect,
    Flag,
    Translation,
    hold,
    ignored,
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
