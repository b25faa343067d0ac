"""google-auth, wrapped once for the Google providers: credentials from any ADC file type,
the metadata server, one transport bounded by --timeout, and failures as one-line errors
that never quote a secret. Loaded on a cache miss only.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from google.auth import (
    aws,
    exceptions,
    external_account_authorized_user,
    identity_pool,
    impersonated_credentials,
    pluggable,
)
from google.auth.compute_engine import _metadata
from google.auth.compute_engine import credentials as compute_engine_credentials
from google.auth.transport import requests as transport_requests
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

from credplugin import log
from credplugin.credential import Credential
from credplugin.errors import (
    CredpluginError,
    Timeout,
    UpstreamError,
    UsageError,
    network_reason,
    os_reason,
)
from credplugin.flows.http import GuardedSession
from credplugin.google_adc import GOOGLE_TOKEN_URI, SCOPE_PREFIX

# The metadata server answers in milliseconds where it exists; elsewhere one short probe.
METADATA_PROBE_SECONDS = 3.0
# A token endpoint that omits expires_in: assume little, come back soon.
UNKNOWN_LIFETIME = 15 * 60
MAX_CREDENTIALS_FILE_BYTES = 1024 * 1024


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


def read_credentials_file(path: str) -> dict[str, Any]:
    """The JSON object in a credentials file. Errors name the file, never its contents."""
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
            # from_service_account_info honours the key's token_uri.
            return service_account.Credentials.from_service_account_info(info, scopes=scopes)
        if kind == "authorized_user":
            return user_credentials(info, user_scopes, token_uri)
        if kind == "external_account":
            return _external_account(info, scopes)
        if kind == "external_account_authorized_user":
            return external_account_authorized_user.Credentials.from_info(info)
        if kind == "impersonated_service_account":
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
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not info.get(k)]
    if missing:
        raise ValueError("missing fields " + ", ".join(missing))
    return oauth2_credentials.Credentials(
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
        return aws.Credentials.from_info(info, scopes=scopes)
    if isinstance(source, dict) and source.get("executable") is not None:
        return pluggable.Credentials.from_info(info, scopes=scopes)
    return identity_pool.Credentials.from_info(info, scopes=scopes)


def metadata_credentials(request: Any, timeout: float, scopes: list[str]) -> Any:
    """The metadata server's default service account, or None when there is none."""
    if os.environ.get("NO_GCE_CHECK", "").lower() == "true":
        return None
    probe = min(timeout, METADATA_PROBE_SECONDS)
    log.debug(f"probing the metadata server ({probe:g}s)")
    if not _metadata.ping(request, timeout=probe, retry_count=1):
        if not _metadata.detect_gce_residency_linux():
            return None
        raise UpstreamError(
            "this is a Google Cloud machine, but its metadata server did not answer",
            hint="retry; on GKE check that workload identity is enabled for the node pool",
        )
    return compute_engine_credentials.Credentials(scopes=scopes)


class GoogleTransport:
    """A google-auth Request whose every call is bounded by `timeout`, on one session;
    google-auth's warnings and log records are kept off stderr."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._session: Any = None
        self._warnings: Any = None

    def __enter__(self) -> Any:
        # No handler anywhere would send google-auth's warnings to logging's last resort.
        logger = logging.getLogger("google")
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._session = GuardedSession(self.timeout)
        bound = self.timeout

        class TimedRequest(transport_requests.Request):
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
    reason = network_reason(cause)
    if reason == "its TLS certificate is not trusted":
        return reason + " (set REQUESTS_CA_BUNDLE for a private CA)"
    return reason or safe_reason(str(cause) or type(cause).__name__, secrets)


def _refresh_reason(exc: BaseException) -> str:
    """google-auth's message, plus the `error.message` of a Google API error body."""
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
