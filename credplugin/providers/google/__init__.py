"""google: a Google OAuth2 access token for the signed-in user, for GKE.

Backstage's `google` provider sends the access token of the person signed in to Backstage
with Google. Here the person is the one at the terminal, in one of three ways:

* by default, their Application Default Credentials: the refresh token that
  `gcloud auth application-default login` keeps in $CLOUDSDK_CONFIG (or that
  $GOOGLE_APPLICATION_CREDENTIALS names), refreshed through google-auth. The file's
  `token_uri` is honoured; google-auth's own loaders would replace it with Google's;
* with --gcloud (or --account EMAIL), the gcloud CLI's own account, as gke-gcloud-auth-plugin
  uses it: `gcloud config config-helper` runs on a cache miss (about a second) and its token
  is cached like any other; which account is active is part of the cache key;
* with --login, a sign-in of our own: the authorization-code flow with PKCE (S256) on a
  loopback redirect (127.0.0.1, a random port), for a Desktop-app OAuth client
  (--client-id/--client-secret). The browser opens through Python's webbrowser (so
  $BROWSER works) and the URL is also printed on stderr. The refresh token is kept in our
  cache entry, so later tokens need no browser until Google revokes it.

The token is cached until near its expiry (an hour); scopes default to cloud-platform and
userinfo.email (GKE identifies the user by the token's email; gcloud's ADC login grants
both). Backstage asks for cloud-platform.read-only: `--scopes cloud-platform.read-only`,
which the login must have granted.
"""

from __future__ import annotations

from credplugin.google_adc import (
    GOOGLE_AUTH_URI,
    GOOGLE_TOKEN_URI,
    credentials_path,
    gcloud_account_files,
)
from credplugin.options import NEVER, Option
from credplugin.providers.base import Declaration

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


# How long a person has to finish signing in, in the browser.
LOGIN_WAIT_SECONDS = 300.0


def login_seconds(values: Mapping[str, Any]) -> float:
    return LOGIN_WAIT_SECONDS if values.get("login") else 0.0


def identity_files(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Signing in again as someone else rewrites the ADC file, and switching gcloud's active
    account rewrites its configuration: not the same cache entry."""
    if options.get("login"):
        return []
    if options.get("gcloud") or options.get("account"):
        return gcloud_account_files(environ)
    return [credentials_path(environ)]


PROVIDER = Declaration(
    __name__,
    name="google",
    summary="Google OAuth2 access token for the signed-in user.",
    side="client",
    identity_env=(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CONFIG",
        "CLOUDSDK_ACTIVE_CONFIG_NAME",
        "CLOUDSDK_CORE_ACCOUNT",
        "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT",
    ),
    identity_files=identity_files,
    login_seconds=login_seconds,
    examples=(
        "credplugin google",
        "credplugin google --gcloud --account me@example.com",
        "credplugin google --login --client-id 1234-abc.apps.googleusercontent.com",
    ),
    options=(
        Option(
            "login",
            "Sign in with a browser (auth code + PKCE on a loopback redirect) instead of using "
            "gcloud's Application Default Credentials; needs --client-id.",
            type="flag",
        ),
        Option(
            "gcloud",
            "Use the gcloud CLI's account (`gcloud auth login`), as gke-gcloud-auth-plugin does, "
            "instead of Application Default Credentials: gcloud is run on a cache miss only.",
            type="flag",
        ),
        Option(
            "account",
            "The gcloud account to use instead of the active one (implies --gcloud).",
            metavar="EMAIL",
        ),
        Option(
            "client-id",
            "OAuth client id of a Desktop-app client, for --login.",
            metavar="ID",
        ),
        Option(
            "client-secret",
            "Its client secret (Google issues one to Desktop apps too), for --login (prefer "
            "$GOOGLE_CLIENT_SECRET: argv is visible to other users of the machine).",
            metavar="SECRET",
            envvar="GOOGLE_CLIENT_SECRET",
            secret=True,
            cluster=NEVER,
        ),
        Option(
            "scopes",
            "OAuth2 scopes, comma-separated or repeated; short names get the "
            "https://www.googleapis.com/auth/ prefix [default: cloud-platform,userinfo.email].",
            multiple=True,
            metavar="S,...",
        ),
        Option(
            "token-uri",
            f"Token endpoint [default: the credentials file's token_uri, else {GOOGLE_TOKEN_URI}].",
            metavar="URL",
            cluster=NEVER,
        ),
        Option(
            "auth-uri",
            f"Authorization endpoint for --login [default: {GOOGLE_AUTH_URI}].",
            metavar="URL",
            cluster=NEVER,
        ),
    ),
)
