"""aks: a delegated Entra ID access token for AKS, for the person signed in (MSAL).

Backstage's `aks` provider has the signed-in user's browser session mint a token for the AKS
server application; here MSAL's public-client flows do it, as kubelogin's `devicecode` and
`interactive` logins do:

    silent:      MSAL's token cache, kept in our cache entry (0600, under the per-key lock);
                 the refresh token buys a new access token without a person
    devicecode:  (default) a code and a URL on stderr; needs no stdin, so it also runs when
                 kubectl says nobody is at the terminal, and an unanswered code is an
                 abandoned login (background callers then fail fast for a while)
    interactive: the system browser and a loopback redirect; needs a person

Each cache entry holds the MSAL cache of one tenant, client, server id and login hint, so
several tenants and accounts never overwrite each other's tokens (kubelogin keeps one account
record per cache directory). A refresh token that Entra refuses (`invalid_grant`, or a new
interaction required) is dropped and a new login starts.

With an authority host other than the public cloud (sovereign clouds, Azure Stack),
instance discovery is off: nothing is sent to login.microsoftonline.com.
"""

from __future__ import annotations

from credplugin.entra import AKS_CLIENT_ID, AKS_SERVER_ID, AUTHORITY_HOST_OPTION
from credplugin.options import Option
from credplugin.providers.base import Declaration

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# Entra's device codes live 15 minutes; a person may take that long.
DEVICE_CODE_SECONDS = 900
BROWSER_LOGIN_SECONDS = 300


def login_seconds(values: Mapping[str, Any]) -> float:
    if values.get("login") == "interactive":
        return BROWSER_LOGIN_SECONDS
    return DEVICE_CODE_SECONDS


PROVIDER = Declaration(
    __name__,
    name="aks",
    summary="Entra ID token for AKS for the signed-in user (MSAL device code or browser).",
    side="client",
    identity_env=("AZURE_AUTHORITY_HOST",),
    login_seconds=login_seconds,
    examples=(
        "credplugin aks --tenant-id contoso.onmicrosoft.com",
        "credplugin aks --tenant-id TENANT --login interactive --login-hint me@contoso.com",
    ),
    options=(
        Option(
            "tenant-id",
            "Entra tenant (id or domain) of the cluster's Entra integration.",
            aliases=("-t",),
            envvar="AZURE_TENANT_ID",
            metavar="TENANT",
            required=True,
        ),
        Option(
            "client-id",
            "Public client application to sign in with.",
            default=AKS_CLIENT_ID,
            metavar="ID",
        ),
        Option(
            "server-id",
            "Application id of the cluster's server application (the token's audience).",
            default=AKS_SERVER_ID,
            metavar="ID",
        ),
        Option(
            "login",
            "How a person signs in when no refresh token works: devicecode (a code on stderr; "
            "no stdin needed) or interactive (a browser on this machine).",
            type="choice",
            choices=("devicecode", "interactive"),
            default="devicecode",
            aliases=("-l",),
            metavar="devicecode|interactive",
            # Either way the same person gets the same token: one cache entry for both.
            identity=False,
        ),
        AUTHORITY_HOST_OPTION,
        Option(
            "login-hint",
            "The account to use (user principal name): pre-fills the browser sign-in and keeps "
            "this account's tokens apart from others'.",
            metavar="USER",
        ),
    ),
)
