"""oidc: the user's own OIDC ID token (Okta, GitLab, Entra ID, Google, Keycloak, Dex...).

Backstage's `oidc` authProvider, as a better int128/kubelogin (whose flag names are accepted):

- refresh first: the refresh token lives in the cache entry and is used without a browser;
  a rotated refresh token is written under the per-key lock before anyone else may refresh
  (providers that rotate revoke the whole grant when an old one is reused), unless the
  cache write fails: the runner then only warns, and the next call reuses the old one;
- otherwise a login: auth code + PKCE S256 with state and nonce on a one-shot loopback
  listener (default), device code (RFC 8628), auth code typed on the keyboard, password, or
  client credentials for robots;
- the ID token is verified against the issuer's JWKS: signature, iss, aud, exp, nonce.
"""

from __future__ import annotations

from credplugin.options import NEVER, Option
from credplugin.providers.base import Declaration

GRANT_TYPES = ("authcode", "authcode-keyboard", "device-code", "password", "client-credentials")

PROVIDER = Declaration(
    __name__,
    name="oidc",
    summary="OIDC ID token from a browser login with PKCE, device code, or refresh token.",
    side="client",
    login_seconds=lambda values: float(values["authentication_timeout"]),
    examples=(
        "credplugin oidc --issuer-url https://dex.example.com --client-id kubernetes",
        "credplugin oidc --issuer-url https://login.example.com --client-id kubectl "
        "--grant-type device-code",
    ),
    options=(
        Option(
            "issuer-url",
            "OIDC issuer URL.",
            aliases=("--oidc-issuer-url",),
            metavar="URL",
            required=True,
        ),
        Option(
            "client-id",
            "OAuth client id.",
            aliases=("--oidc-client-id",),
            metavar="ID",
            required=True,
        ),
        Option(
            "client-secret",
            "OAuth client secret, for confidential clients (prefer $OIDC_CLIENT_SECRET: argv is "
            "visible to other users of the machine).",
            aliases=("--oidc-client-secret",),
            envvar="OIDC_CLIENT_SECRET",
            secret=True,
            cluster=NEVER,
        ),
        Option(
            "extra-scope",
            "A scope to request besides openid (repeatable).",
            aliases=("--oidc-extra-scope",),
            multiple=True,
            metavar="SCOPE",
        ),
        Option(
            "grant-type",
            "How to log in when no refresh token works.",
            type="choice",
            choices=GRANT_TYPES,
            default="authcode",
            metavar="|".join(GRANT_TYPES),
        ),
        Option(
            "listen-address",
            "Loopback address for the login redirect, tried in order (port 0: any free port) "
            "[default: 127.0.0.1:8000, then 127.0.0.1:18000].",
            multiple=True,
            identity=False,
            cluster=NEVER,
            metavar="HOST:PORT",
        ),
        Option(
            "redirect-url",
            "Redirect URI to send, when the IdP registration expects another than "
            "http://127.0.0.1:PORT/. A loopback one without a port takes the port listened "
            "on: http://localhost sends http://localhost:PORT, as int128 kubelogin does.",
            identity=False,
            metavar="URL",
            cluster=NEVER,
        ),
        Option(
            "skip-open-browser",
            "Only print the login URL.",
            type="flag",
            identity=False,
            cluster=NEVER,
        ),
        Option(
            "browser-command",
            "Command that opens the login URL (default: $BROWSER or the system browser).",
            identity=False,
            metavar="CMD",
            cluster=NEVER,
            names="program",
        ),
        Option(
            "use-access-token",
            "Emit the access token instead of the ID token.",
            type="flag",
            aliases=("--oidc-use-access-token",),
        ),
        Option(
            "certificate-authority",
            "CA bundle for the issuer's TLS certificate.",
            identity=False,
            metavar="FILE",
            cluster=NEVER,
            names="file",
        ),
        Option(
            "insecure-skip-tls-verify",
            "Do not verify the issuer's TLS certificate (never in production).",
            type="flag",
            identity=False,
            cluster=NEVER,
        ),
        Option(
            "auth-request-extra-params",
            "Extra authorization request parameter KEY=VALUE (repeatable).",
            multiple=True,
            metavar="KEY=VALUE",
        ),
        Option(
            "authentication-timeout",
            "How long to wait for a person to finish a login.",
            type="float",
            default=180.0,
            identity=False,
            cluster=NEVER,
            metavar="SECONDS",
        ),
        Option(
            "login-hint",
            "The account to sign in as (sent as login_hint): pre-fills the issuer's login "
            "page, and keeps this account's tokens apart from another account's at the same "
            "issuer.",
            aliases=("--oidc-login-hint",),
            metavar="USER",
        ),
        Option("username", "Username for the password grant.", metavar="USER"),
        Option(
            "device-poll-interval",
            "Poll interval when the IdP's device answer names none (RFC 8628 says 5).",
            type="float",
            default=5.0,
            identity=False,
            cluster=NEVER,
            hidden=True,
        ),
    ),
)
