"""HTTP for OAuth endpoints: one request with our timeout and TLS settings, failures turned
into one-line errors, and token-endpoint answers read the same way by every provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from credplugin import log
from credplugin.errors import Timeout, UpstreamError, network_reason, proxy_settings


def request(
    session: Any,
    method: str,
    url: str,
    *,
    timeout: float,
    verify: bool | str = True,
    tls_hint: str | None = None,
    **kwargs: Any,
) -> Any:
    """session.request() with `timeout` and `verify` on the request itself (requests lets
    REQUESTS_CA_BUNDLE override a session's verify, not a per-request one)."""
    try:
        return session.request(method, url, timeout=timeout, verify=verify, **kwargs)
    except requests.exceptions.SSLError as exc:
        raise UpstreamError(f"TLS verification of {url} failed", hint=tls_hint) from exc
    except requests.exceptions.Timeout as exc:
        raise Timeout(f"{url} did not answer within {timeout:g}s") from exc
    except requests.exceptions.RequestException as exc:
        why = network_reason(exc) or type(exc).__name__
        raise UpstreamError(
            f"cannot reach {url}: {why}",
            hint=f"check the network path to that host; requests go {proxy_settings(url)}",
        ) from exc


def json_body(response: Any) -> dict[str, Any]:
    """The response's JSON object, or {} when it is not one."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def refusal(what: str, status: int, body: dict[str, Any], sent: Iterable[str | None]) -> str:
    """`<what> was refused: <error> <description>`, with everything we sent scrubbed out: an
    identity provider (or a proxy) may echo the request, password and secrets included."""
    error = body.get("error", f"HTTP {status}")
    detail = body.get("error_description") or ""
    return log.scrub(f"{what} was refused: {error} {detail}".strip(), sent)
