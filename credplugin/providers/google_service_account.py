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
The Google plumbing here (transport, errors, ADC files) is shared with the `google` provider.
"""

from __future__ import annotations

import os

from credplugin import log
from credplugin.credential import Credential
from credplugin.errors import CredpluginError, Timeout, UpstreamError, UsageError, os_reason
from credplugin.options import Option
from credplugin.providers.base import FetchContext, Provider

TYPE_CHECKING = False  # the module is imported on cache hits: no typing at runtime
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CLOUD_PLATFORM = SCOPE_PREFIX + "cloud-platform"
USERINFO_EMAIL = SCOPE_PREFIX + "userinfo.email"
# What gke-gcloud-auth-plugin asks for: GKE reads the caller's email from the token.
DEFAULT_SCOPES = (CLOUD_PLATFORM, USERINFO_EMAIL)
IAM_CREDENTIALS_ENDPOINT = "https://iamcredentials.googleapis.com/"
# The metadata server answers in milliseconds where it exists; elsewhere one short probe.
METADATA_PROBE_SECONDS = 3.0
# A token endpoint that omits expires_in: assume little, come back soon.
UNKNOWN_LIFETIME = 15 * 60
MAX_CREDENTIALS_FILE_BYTES = 1024 * 1024
ADC_FILE = "application_default_credentials.json"

OPTIONS: tuple[Option, ...] = (
    Option(
        "key-file",
        "Service-account key file (JSON) [default: Application Default Credentials: "
        "$GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server].",
        metavar="FILE",
        trusted=True,
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
        trusted=True,
    ),
)


def identity_files(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """The credentials file in use: replacing it (a new key, another gcloud login) must not
    serve the previous identity's token."""
    return [options.get("key_file") or credentials_path(environ)]


class GoogleServiceAccountProvider(Provider):
    NAME = "google-service-account"

    def fetch(self, ctx: FetchContext) -> Credential:
        scopes = parse_scopes(self.options.get("scopes"), DEFAULT_SCOPES)
        chain = _impersonation_chain(self.options.get("impersonate_service_account"))
        with GoogleTransport(ctx.timeout) as request:
            source, where, secrets = self._source(request, ctx, scopes)
            credentials, what = source, f"token from {where}"
            if chain:
                credentials = self._impersonated(request, source, chain, scopes)
                what = f"impersonation of {chain[-1]}"
            refresh(credentials, request, what, secrets)
            return to_credential(credentials, ctx.now(), describe(credentials, where, chain))

    # -- where the identity comes from -----------------------------------------------------

    def _source(
        self, request: Any, ctx: FetchContext, scopes: list[str]
    ) -> tuple[Any, str, list[str]]:
        """(google-auth credentials, where they came from, their secret strings)."""
        key_file = self.options.get("key_file")
        explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if key_file:
            path, where = str(key_file), f"key file {key_file}"
        elif explicit:
            path, where = explicit, f"$GOOGLE_APPLICATION_CREDENTIALS ({explicit})"
        else:
            path, where = adc_path(os.environ), ""
            if not os.path.isfile(path):
                credentials = metadata_credentials(request, ctx, scopes)
                if credentials is None:
                    raise UpstreamError(
                        "no Google credentials found: no --key-file, no "
                        f"$GOOGLE_APPLICATION_CREDENTIALS, no ADC file at {path}, and no "
                        "metadata server answered",
                        hint="pass --key-file, or run `gcloud auth application-default login`",
                    )
                return credentials, "the metadata server", []
            where = f"gcloud ADC ({path})"
        info = read_credentials_file(path)
        credentials = credentials_from_info(info, path, scopes, user_scopes=None)
        return credentials, where, secret_strings(info)

    def _impersonated(self, request: Any, source: Any, chain: list[str], scopes: list[str]) -> Any:
        impersonated_credentials = sdk("google.auth.impersonated_credentials")

        target = chain[-1]
        _settle_universe_domain(source, request)
        universe = getattr(source, "universe_domain", None) or "googleapis.com"
        default = f"https://iamcredentials.{universe}/"
        base = str(self.options.get("iam_endpoint") or default).rstrip("/")
        try:
            return impersonated_credentials.Credentials(
                source_credentials=source,
                target_principal=target,
                target_scopes=scopes,
                delegates=[f"projects/-/serviceAccounts/{d}" for d in chain[:-1]] or None,
                iam_endpoint_override=(
                    f"{base}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
                ),
            )
        except Exception as exc:  # google-auth raises several kinds for a bad source
            raise google_error(exc, request, f"impersonation of {target}", []) from None


PROVIDER = GoogleServiceAccountProvider


# -- shared with the google provider ---------------------------------------------------------


def parse_scopes(values: Sequence[str] | str | None, default: Sequence[str]) -> list[str]:
    """`a,b c` and repeated options, in order, without duplicates; `cloud-platform` is short
    for https://www.googleapis.com/auth/cloud-platform (openid, email, profile stay)."""
    if isinstance(values, str):
        values = [values]
    scopes: list[str] = []
    for value in values or ():
        for word in value.replace(",", " ").split():
            if "://" not in word and word not in ("openid", "email", "profile"):
                word = SCOPE_PREFIX + word
            if word not in scopes:
                scopes.append(word)
    return scopes or list(default)


def credentials_path(environ: Mapping[str, str]) -> str:
    """The credentials file google-auth reads: $GOOGLE_APPLICATION_CREDENTIALS, else gcloud's."""
    return environ.get("GOOGLE_APPLICATION_CREDENTIALS") or adc_path(environ)


def adc_path(environ: Mapping[str, str]) -> str:
    """Where `gcloud auth application-default login` writes (google-auth's rule)."""
    config = environ.get("CLOUDSDK_CONFIG")
    if not config:
        if os.name == "nt":
            config = os.path.join(environ.get("APPDATA", ""), "gcloud")
        else:
            config = os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    return os.path.join(config, ADC_FILE)


def read_credentials_file(path: str) -> dict[str, Any]:
    """The JSON object in a credentials file. Errors name the file, never its contents."""
    import json

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CREDENTIALS_FILE_BYTES + 1)
    except OSError as exc:
        why = os_reason(exc)
        raise UsageError(f"cannot read Google credentials file {path}: {why}") from None
    if len(data) > MAX_CREDENTIALS_FILE_BYTES:
        raise UsageError(f"{path} is too large to be a Google credentials file")
    try:
        info = json.loads(data)
    except ValueError:
        raise UsageError(f"{path} is not a Google credentials file (not JSON)") from None
    if not isinstance(info, dict):
        raise UsageError(f"{path} is not a Google credentials file (not a JSON object)")
    return info


def secret_strings(info: Mapping[str, Any]) -> list[str]:
    """The values of a credentials file that must never be shown."""
    keys = ("private_key", "refresh_token", "client_secret", "private_key_id")
    found = [str(info[k]) for k in keys if isinstance(info.get(k), str) and info[k]]
    source = info.get("source_credentials")
    if isinstance(source, dict):
        found += secret_strings(source)
    return found


def credentials_from_info(
    info: Mapping[str, Any],
    path: str,
    scopes: list[str],
    *,
    user_scopes: list[str] | None,
    token_uri: str | None = None,
) -> Any:
    """google-auth credentials for any ADC file type; a user's credentials get `user_scopes`
    (None: whatever the login granted, as google.auth.default() does)."""
    kind = info.get("type")
    try:
        if kind == "service_account":
            service_account = sdk("google.oauth2.service_account")

            # from_service_account_info honours the key's token_uri.
            return service_account.Credentials.from_service_account_info(info, scopes=scopes)
        if kind == "authorized_user":
            return user_credentials(info, user_scopes, token_uri)
        if kind == "external_account":
            return _external_account(info, scopes)
        if kind == "external_account_authorized_user":
            external_account_authorized_user = sdk("google.auth.external_account_authorized_user")

            return external_account_authorized_user.Credentials.from_info(info)
        if kind == "impersonated_service_account":
            impersonated_credentials = sdk("google.auth.impersonated_credentials")

            cls = impersonated_credentials.Credentials
            return cls.from_impersonated_service_account_info(info, scopes=scopes)
    except CredpluginError:
        raise
    except Exception as exc:  # ValueError, KeyError, DefaultCredentialsError...
        reason = safe_reason(first_arg(exc), secret_strings(info))
        raise UsageError(f"cannot use the Google credentials in {path}: {reason}") from None
    raise UsageError(
        f"{path} holds credentials of type {kind!r}, which this provider cannot use",
        hint="expected service_account, authorized_user, external_account, "
        "external_account_authorized_user or impersonated_service_account",
    )


def user_credentials(
    info: Mapping[str, Any], scopes: list[str] | None, token_uri: str | None = None
) -> Any:
    """A user's refresh token as google-auth credentials. Built by hand: google-auth's own
    loaders replace the file's token_uri with Google's."""
    credentials = sdk("google.oauth2.credentials")

    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not info.get(k)]
    if missing:
        raise ValueError("missing fields " + ", ".join(missing))
    return credentials.Credentials(
        None,
        refresh_token=info["refresh_token"],
        token_uri=token_uri or info.get("token_uri") or GOOGLE_TOKEN_URI,
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        scopes=scopes,
        quota_project_id=info.get("quota_project_id"),
        account=info.get("account") or "",
    )


def _external_account(info: Mapping[str, Any], scopes: list[str]) -> Any:
    """Workload identity federation (AWS, Azure, OIDC files or URLs, executables)."""
    source = info.get("credential_source")
    if info.get("subject_token_type") == "urn:ietf:params:aws:token-type:aws4_request":
        aws = sdk("google.auth.aws")

        return aws.Credentials.from_info(info, scopes=scopes)
    if isinstance(source, dict) and source.get("executable") is not None:
        pluggable = sdk("google.auth.pluggable")

        return pluggable.Credentials.from_info(info, scopes=scopes)
    identity_pool = sdk("google.auth.identity_pool")

    return identity_pool.Credentials.from_info(info, scopes=scopes)


def metadata_credentials(request: Any, ctx: FetchContext, scopes: list[str]) -> Any:
    """The metadata server's default service account, or None when there is none."""
    if os.environ.get("NO_GCE_CHECK", "").lower() == "true":
        return None
    _metadata = sdk("google.auth.compute_engine._metadata")
    credentials = sdk("google.auth.compute_engine.credentials")

    probe = min(ctx.timeout, METADATA_PROBE_SECONDS)
    log.debug(f"probing the metadata server ({probe:g}s)")
    if not _metadata.ping(request, timeout=probe, retry_count=1):
        if not _metadata.detect_gce_residency_linux():
            return None
        raise UpstreamError(
            "this is a Google Cloud machine, but its metadata server did not answer",
            hint="retry; on GKE check that workload identity is enabled for the node pool",
        )
    return credentials.Credentials(scopes=scopes)


def _settle_universe_domain(source: Any, request: Any) -> None:
    """Metadata credentials look up their universe domain when impersonation asks for it,
    with a transport of their own (no --timeout); ask now, through ours."""
    _metadata = sdk("google.auth.compute_engine._metadata")
    credentials = sdk("google.auth.compute_engine.credentials")

    if isinstance(source, credentials.Credentials):
        try:
            domain = _metadata.get_universe_domain(request)
        except Exception as exc:
            raise google_error(exc, request, "the metadata server", []) from None
        source._universe_domain = domain
        source._universe_domain_cached = True


class GoogleTransport:
    """A google-auth Request whose every call is bounded by `timeout`, on one session;
    google-auth's warnings and log records are kept off stderr."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._session: Any = None
        self._warnings: Any = None

    def __enter__(self) -> Any:
        import logging
        import warnings

        import requests

        # No handler anywhere would send google-auth's warnings to logging's last resort.
        logger = logging.getLogger("google")
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._session = requests.Session()
        bound = self.timeout

        base = sdk("google.auth.transport.requests").Request

        class TimedRequest(base):  # type: ignore[misc, valid-type]
            last_url = ""
            timeout_seconds = bound

            def __call__(
                self,
                url: str,
                method: str = "GET",
                body: Any = None,
                headers: Any = None,
                timeout: float | None = None,
                **kwargs: Any,
            ) -> Any:
                self.last_url = url
                limit = bound if timeout is None else min(float(timeout), bound)
                log.debug(f"google-auth: {method} {url.split('?', 1)[0]} (timeout {limit:g}s)")
                return super().__call__(
                    url, method=method, body=body, headers=headers, timeout=limit, **kwargs
                )

        return TimedRequest(self._session)

    def __exit__(self, *exc_info: object) -> None:
        if self._session is not None:
            self._session.close()
        if self._warnings is not None:
            self._warnings.__exit__(*exc_info)


def refresh(credentials: Any, request: Any, what: str, secrets: Sequence[str]) -> None:
    """credentials.refresh(request), every failure turned into one of our errors."""
    try:
        credentials.refresh(request)
    except CredpluginError:
        raise
    except Exception as exc:
        raise google_error(exc, request, what, secrets) from None
    if not credentials.token:
        raise UpstreamError(f"{what}: the answer held no access token")


def google_error(
    exc: BaseException, request: Any, what: str, secrets: Sequence[str]
) -> CredpluginError:
    """One line for a google-auth failure: what failed, at which host, why. No secret: the
    SDK's exception is not chained (a -v traceback would print it), and its text is
    scrubbed of every secret we know."""
    exceptions = sdk("google.auth.exceptions")

    host = _host(getattr(request, "last_url", ""))
    at = f" at {host}" if host else ""
    log.debug(f"google-auth raised {type(exc).__name__}")
    if isinstance(exc, exceptions.TransportError):
        cause = _innermost(exc)
        name = type(cause).__name__
        if "Timeout" in name or isinstance(cause, TimeoutError):
            limit = getattr(request, "timeout_seconds", None)
            within = f" within {limit:g}s" if limit else ""
            return Timeout(
                f"{what}: no answer{at}{within}",
                hint="check the network path to Google, or raise --timeout",
            )
        return UpstreamError(
            f"{what}: cannot reach{at or ' the server'}: {_network_reason(cause, secrets)}",
            hint="check the network path to Google (proxy, firewall, CA bundle)",
        )
    if isinstance(exc, exceptions.RefreshError):
        reason = safe_reason(_refresh_reason(exc), secrets)
        return UpstreamError(f"{what}: refused{at}: {reason}", hint=_refresh_hint(reason))
    if isinstance(exc, exceptions.GoogleAuthError):
        return UpstreamError(f"{what}: {safe_reason(first_arg(exc), secrets)}")
    reason = safe_reason(first_arg(exc), secrets)
    return UpstreamError(f"{what} failed: {type(exc).__name__}: {reason}")


def to_credential(credentials: Any, now: float, identity: str, refresh: Any = None) -> Credential:
    expires_at = expiry_seconds(credentials.expiry)
    if expires_at is None:
        log.debug("the token endpoint gave no expiry; assuming a short lifetime")
        expires_at = now + UNKNOWN_LIFETIME
    if expires_at <= now:
        raise UpstreamError("Google issued a token that has already expired (check the clock)")
    return Credential(
        str(credentials.token),
        issued_at=now,
        expires_at=expires_at,
        identity=identity,
        refresh=refresh,
    )


def expiry_seconds(expiry: Any) -> float | None:
    """google-auth expiries are naive UTC datetimes."""
    if expiry is None:
        return None
    import calendar

    return float(calendar.timegm(expiry.utctimetuple()) + expiry.microsecond / 1e6)


def describe(credentials: Any, where: str, chain: Sequence[str] = ()) -> str:
    if chain:
        return f"{chain[-1]} (impersonated, from {where})"
    who = (
        getattr(credentials, "service_account_email", None)
        or getattr(credentials, "account", None)
        or getattr(credentials, "client_id", None)
    )
    return f"{who} ({where})" if who else where


def safe_reason(text: str, secrets: Sequence[str]) -> str:
    """`text` on one line, bounded, with no known secret and nothing key-shaped."""
    if "PRIVATE KEY" in text:
        return "(details withheld: they quote key material)"
    text = " ".join(log.scrub(text, secrets, shortest=8).split())
    return text if len(text) <= 300 else text[:297] + "..."


def first_arg(exc: BaseException) -> str:
    """An exception's message without the response bodies google-auth adds as more args."""
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    if exc.args and isinstance(exc.args[0], BaseException):
        return first_arg(exc.args[0])
    return type(exc).__name__


# -- helpers ---------------------------------------------------------------------------------


def sdk(name: str) -> Any:
    """A google-auth module, imported on first use (never on a cache hit), typed loosely:
    its functions carry no annotations."""
    import importlib

    return importlib.import_module(name)


def _impersonation_chain(value: Any) -> list[str]:
    if not value:
        return []
    chain = [p.strip() for p in str(value).split(",") if p.strip()]
    for email in chain:
        if "@" not in email:
            raise UsageError(
                f"--impersonate-service-account: {email!r} is not a service account email"
            )
    return chain


def _host(url: str) -> str:
    rest = url.partition("://")[2]
    return rest.split("/", 1)[0] if rest else ""


def _innermost(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = current.__cause__ or current.__context__
        if inner is None and current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        if inner is None:
            break
        current = inner
    return current


def _network_reason(cause: BaseException, secrets: Sequence[str]) -> str:
    from credplugin.errors import network_reason

    reason = network_reason(cause)
    if reason == "its TLS certificate is not trusted":
        return reason + " (set REQUESTS_CA_BUNDLE for a private CA)"
    return reason or safe_reason(str(cause) or type(cause).__name__, secrets)


def _refresh_reason(exc: BaseException) -> str:
    """google-auth's message, plus the `error.message` of a Google API error body."""
    import json

    message = first_arg(exc)
    for extra in exc.args[1:]:
        body: Any = extra
        if isinstance(extra, (str, bytes)):
            try:
                body = json.loads(extra)
            except ValueError:
                continue
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"].get("message") or body["error"].get("status")
            if detail:
                return f"{message}: {detail}"
    return message


def _refresh_hint(reason: str) -> str | None:
    lowered = reason.lower()
    if "reauth" in lowered or "rapt" in lowered:
        return "run `gcloud auth application-default login` again"
    if "invalid_grant" in lowered and "jwt" in lowered:
        return "the key may be deleted or disabled, or this machine's clock is off"
    if "invalid_grant" in lowered:
        return "the login has expired or was revoked; sign in again"
    if "invalid_scope" in lowered or "scopes" in lowered:
        return "check --scopes against what the credentials were granted"
    if "permission" in lowered or "denied" in lowered:
        return "grant roles/iam.serviceAccountTokenCreator on the target service account"
    return None
