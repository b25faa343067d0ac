"""Where Google's Application Default Credentials live, and Google's well-known endpoints.

Read on every call of the Google providers (their cache keys stat the credentials file), so
this module imports nothing heavy.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
IAM_CREDENTIALS_ENDPOINT = "https://iamcredentials.googleapis.com/"
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CLOUD_PLATFORM = SCOPE_PREFIX + "cloud-platform"
USERINFO_EMAIL = SCOPE_PREFIX + "userinfo.email"
# What gke-gcloud-auth-plugin asks for: GKE reads the caller's email from the token.
DEFAULT_SCOPES = (CLOUD_PLATFORM, USERINFO_EMAIL)
ADC_FILE = "application_default_credentials.json"


def credentials_path(environ: Mapping[str, str]) -> str:
    """The credentials file google-auth reads: $GOOGLE_APPLICATION_CREDENTIALS, else gcloud's."""
    return environ.get("GOOGLE_APPLICATION_CREDENTIALS") or adc_path(environ)


def adc_path(environ: Mapping[str, str]) -> str:
    """Where `gcloud auth application-default login` writes (google-auth's rule)."""
    return os.path.join(gcloud_config_dir(environ), ADC_FILE)


def gcloud_account_files(environ: Mapping[str, str]) -> list[str]:
    """The files that say which account gcloud uses: the active configuration's name and that
    configuration (its `[core] account`). Not credentials.db or access_tokens.db: gcloud
    rewrites those when it refreshes, which is not a change of identity."""
    config = gcloud_config_dir(environ)
    name = environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
    active = os.path.join(config, "active_config")
    if not name:
        try:
            with open(active, encoding="utf-8") as handle:
                name = handle.read(256).strip()
        except OSError:
            name = ""
    return [active, os.path.join(config, "configurations", f"config_{name or 'default'}")]


def gcloud_config_dir(environ: Mapping[str, str]) -> str:
    """gcloud's configuration directory: $CLOUDSDK_CONFIG, else the platform default."""
    config = environ.get("CLOUDSDK_CONFIG")
    if config:
        return config
    if os.name == "nt":
        return os.path.join(environ.get("APPDATA", ""), "gcloud")
    return os.path.join(os.path.expanduser("~"), ".config", "gcloud")
