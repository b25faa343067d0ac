"""google-service-account: a Google OAuth2 access token for GKE from the machine's identity.

Backstage's `googleServiceAccount` strategy asks google-auth-library for an access token from
a key in its config, else from Application Default Credentials. The same sources, first found
wins:

    --key-file FILE                     a service-account key (or any other ADC file type)
    $GOOGLE_APPLICATION_CREDENTIALS     the same kinds of file
    gcloud's ADC file                   $CLOUDSDK_CONFIG/application_default_credentials.json
    the metadata server                 Compute Engine, Cloud Run, GKE workload identity

The files are read here rather than by `google.auth.default()`, which may run `gcloud` to
learn a project id we do not need, and which drops the `token_uri` of a user's ADC file. The
file types google-auth knows (service_account, authorized_user, external_account for
workload identity federation, external_account_authorized_user, impersonated_service_account)
all work; a key's own `token_uri` is honoured.

--impersonate-service-account trades that identity for a service account's token through
IAM Credentials generateAccessToken (gke-gcloud-auth-plugin cannot do this with ADC).

Every HTTP call google-auth makes goes through one Request whose timeout is --timeout
(google-auth's default is 120 s). The metadata server is probed once, briefly: outside
Google Cloud 169.254.169.254 often swallows packets, and google-auth would try three times.
"""

from __future__ import annotations

from credplugin.google_adc import IAM_CREDENTIALS_ENDPOINT, SCOPE_PREFIX, credentials_path
from credplugin.options import NEVER, Option
from credplugin.providers.base import Declaration

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def identity_files(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """The credentials file in use: replacing it (a new key, another gcloud login) must not
    serve the previous identity's token."""
    return [options.get("key_file") or credentials_path(environ)]


PROVIDER = Declaration(
    __name__,
    name="google-service-account",
    backstage="googleServiceAccount",
    summary="Google OAuth2 access token from a service account or ADC.",
    side="server",
    identity_env=(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CONFIG",
        "GCE_METADATA_HOST",
        "GCE_METADATA_IP",
        "GCE_METADATA_ROOT",
    ),
    identity_files=identity_files,
    examples=(
        "credplugin google-service-account --key-file /etc/backstage/gke-reader.json",
        "credplugin google-service-account --impersonate-service-account "
        "reader@my-project.iam.gserviceaccount.com",
    ),
    options=(
        Option(
            "key-file",
            "Service-account key file (JSON) [default: Application Default Credentials: "
            "$GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server].",
            metavar="FILE",
            cluster=NEVER,
            names="file",
        ),
        Option(
            "scopes",
            "OAuth2 scopes, comma-separated or repeated; short names get the "
            f"{SCOPE_PREFIX} prefix [default: cloud-platform,userinfo.email].",
            multiple=True,
            metavar="S,...",
        ),
        Option(
            "impersonate-service-account",
            "Return a token of this service account, obtained with the credentials above "
            "(which need roles/iam.serviceAccountTokenCreator on it). A comma-separated chain "
            "names delegates first, the target last.",
            envvar="CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT",
            metavar="EMAIL",
        ),
        Option(
            "iam-endpoint",
            "IAM Credentials API base URL for impersonation [default: "
            f"{IAM_CREDENTIALS_ENDPOINT}, in the credentials' universe domain].",
            envvar="CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS",
            metavar="URL",
            cluster=NEVER,
        ),
    ),
)
