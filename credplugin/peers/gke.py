"""gke-gcloud-auth-plugin -> `google --gcloud` (gcloud mode) or `google-service-account` (ADC).

gke-gcloud-auth-plugin has two sources. By default it asks gcloud for the active account's
token (`gcloud config config-helper`), and so does `google --gcloud` (`--account` picks one).
With --use_application_default_credentials the plugin uses the whole ADC chain (key file,
gcloud's ADC file, the metadata server), which is what `google-service-account` without a
key file does.
"""

from __future__ import annotations

from collections.abc import Mapping

from credplugin.peers.argv import KLOG_FLAGS, Flag, parse
from credplugin.peers.model import Conversion, Unconvertible

IMPERSONATION_SOURCE_NOTE = (
    "the plugin impersonated with the active gcloud account; credplugin "
    "google-service-account impersonates with Application Default Credentials (`gcloud auth "
    "application-default login`, a key file, or the metadata server), which need "
    "roles/iam.serviceAccountTokenCreator on the service account"
)

FLAGS = (
    Flag("use_application_default_credentials", value=False),
    Flag("impersonate_service_account"),
    Flag("project", ignore="an access token is not bound to a project"),
    Flag("account"),
    Flag("use_edge_cloud", value=False, refuse="Distributed Cloud Edge tokens have no equivalent"),
    Flag("location", refuse="used only for Distributed Cloud Edge, which has no equivalent"),
    Flag("cluster", refuse="used only for Distributed Cloud Edge, which has no equivalent"),
    Flag("version", value=False, refuse="it prints the version, not a credential"),
    *KLOG_FLAGS,
)
# With this set, the plugin (and gcloud) return it as the token, unrefreshed.
STATIC_TOKEN_ENV = "CLOUDSDK_AUTH_ACCESS_TOKEN"  # noqa: S105 - a variable name


def from_plugin(args: list[str], env: Mapping[str, str]) -> Conversion:
    parsed = parse(args, FLAGS, go=True)
    if parsed.positionals:
        raise Unconvertible(f"unexpected arguments {' '.join(parsed.positionals)}")
    if env.get(STATIC_TOKEN_ENV):
        raise Unconvertible(f"${STATIC_TOKEN_ENV} in the exec env is a fixed token")
    impersonate = parsed.last("impersonate_service_account")
    if parsed.given("use_application_default_credentials"):
        conversion = Conversion("google-service-account", "gke-gcloud-auth-plugin (ADC)", dict(env))
        if impersonate:
            conversion.note(
                "--impersonate_service_account dropped: the plugin ignores it with "
                "--use_application_default_credentials"
            )
    elif impersonate:
        conversion = Conversion("google-service-account", "gke-gcloud-auth-plugin", dict(env))
        conversion.give("impersonate-service-account", impersonate)
        conversion.note(IMPERSONATION_SOURCE_NOTE)
    else:
        conversion = Conversion("google", "gke-gcloud-auth-plugin", dict(env))
        conversion.give("gcloud")
        account = parsed.last("account")
        if account:
            conversion.give("account", account)
    conversion.verbosity_of_klog(parsed.last("v"))
    conversion.notes += parsed.ignored
    return conversion
