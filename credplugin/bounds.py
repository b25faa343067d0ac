"""How much an identity provider or any endpoint may send us, for how long, and what numbers
we accept from it: the limits on inputs we do not control, in one place.

    read_body()   a response body, at most MAX_BODY_BYTES, within a time bound
    seconds()     a number of seconds or a time from outside (exp, iat), finite and in range
    lifetime()    an `expires_in`: a positive number of seconds, at most MAX_LIFETIME

Every reader of an endpoint goes through read_body: the requests sessions of flows/http.py
(oidc, google, MSAL, azure-identity) and the STS client of the aws provider.
"""

from __future__ import annotations

import time

from credplugin.errors import Timeout, UpstreamError
from credplugin.execinfo import LATEST

TYPE_CHECKING = False  # imported by the cache-free service-account path: no typing
if TYPE_CHECKING:
    from collections.abc import Iterable

# Discovery documents, JWKS and token answers are a few KiB; the largest real ones (a
# tenant's JWKS with many keys) stay well under 1 MiB.
MAX_BODY_BYTES = 4 * 1024 * 1024
# No token lives longer; an `expires_in` beyond this is a broken or hostile answer.
MAX_LIFETIME = 10 * 365 * 86400.0


def read_body(
    chunks: Iterable[bytes], source: str, *, limit: int = MAX_BODY_BYTES, seconds: float
) -> bytes:
    """The body from `chunks`, refused when it passes `limit` bytes or takes longer than
    `seconds` in all: a per-read timeout alone lets an endpoint drip one byte at a time."""
    deadline = time.monotonic() + seconds
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise UpstreamError(
                f"{source} sent more than {limit // (1024 * 1024)} MiB; not reading further",
                hint="check that the URL names the identity provider's endpoint",
            )
        if time.monotonic() > deadline:
            raise Timeout(f"{source} sent its answer too slowly (over {seconds:g}s); gave up")
        parts.append(chunk)
    return b"".join(parts)


def seconds(value: object, what: str, *, low: float = 0.0, high: float = LATEST) -> float:
    """A number of seconds (or a time) from outside: a finite number within [low, high] (by
    default up to the last time kubectl can parse), else an UpstreamError naming `what`.
    Accepts JSON numbers and numeric strings; never raises OverflowError for a huge integer.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UpstreamError(f"{what} is not a number: {_shown(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise UpstreamError(f"{what} is not a usable number: {_shown(value)}") from None
    # NaN fails every comparison; infinity fails the upper bound.
    if not (low <= number <= high):
        raise UpstreamError(f"{what} is out of range: {_shown(value)}")
    return number


def lifetime(value: object, what: str) -> float:
    """An `expires_in` from outside: more than 0 seconds, at most MAX_LIFETIME."""
    number = seconds(value, what, high=MAX_LIFETIME)
    if number <= 0:
        raise UpstreamError(f"{what} is out of range: {_shown(value)}")
    return number


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
