"""Azure kubelogin's `get-token` arguments for a person's login, read as `credplugin aks`
options (peerargs): its devicecode and interactive logins. The flag table is Azure
kubelogin's (credplugin/kubelogin_flags.py), shared with the azure provider, which takes the
logins of the machine's own identity.
"""

from __future__ import annotations

from credplugin.errors import UsageError
from credplugin.kubelogin_flags import (
    KUBELOGIN_FLAGS,
    MACHINE_LOGINS,
    PERSON_LOGINS,
    authority_from_environment,
    check_login,
)
from credplugin.peerargs import VALUE, Dialect, Flag, Translation


def _login(t: Translation, spelling: str, value: str) -> None:
    check_login(spelling, value)
    if value in MACHINE_LOGINS:
        raise UsageError(
            f"{spelling} {value} signs in as this machine's own identity, which is "
            "credplugin azure",
            hint="run credplugin azure with the same arguments",
        )
    assert value in PERSON_LOGINS
    t.set("login", value)


def _redirect_url(t: Translation, spelling: str, value: str) -> None:
    """kubelogin's interactive login listens on the URL's port. MSAL (ours) listens on a free
    port of http://localhost, which Entra ID accepts for any registered http://localhost
    redirect: the port of a localhost redirect URI is not compared. A path or another host
    would be compared, and does not match."""
    scheme, _, rest = value.partition("://")
    host, _, path = rest.partition("/")
    name, _, port = host.partition(":")
    if scheme == "http" and name == "localhost" and (port.isdigit() or not port) and not path:
        t.drop(spelling, "MSAL takes a free port on http://localhost, which Entra ID accepts")
        return
    raise UsageError(
        f"{spelling} {value} is not supported: credplugin aks redirects an interactive login "
        "to http://localhost on a free port",
        hint="remove it, and register http://localhost as a redirect URI of the client",
    )


DIALECT = Dialect(
    "Azure kubelogin get-token",
    commands=(("get-token",),),
    flags=(
        Flag("-l --login", VALUE, _login),
        Flag("--redirect-url", VALUE, _redirect_url),
        *KUBELOGIN_FLAGS,
    ),
    # kubelogin's default login, devicecode, is ours too: nothing else to apply.
    finish=authority_from_environment,
)
