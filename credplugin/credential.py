"""Credential: what a provider returns and what the cache stores.

A plain value: a bearer token or a client certificate/key pair, when it was issued and when it
expires, and opaque refresh material (refresh tokens, session credentials) that the provider
may want back on its next fetch. It knows nothing of files or of the exec protocol.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no typing/dataclasses import: this module is on the hot path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class Credential:
    __slots__ = (
        "client_certificate_data",
        "client_key_data",
        "expires_at",
        "identity",
        "issued_at",
        "refresh",
        "token",
    )

    def __init__(
        self,
        token: str | None = None,
        *,
        client_certificate_data: str | None = None,
        client_key_data: str | None = None,
        expires_at: float | None = None,
        issued_at: float | None = None,
        identity: str | None = None,
        refresh: Mapping[str, Any] | None = None,
    ) -> None:
        self.token = token
        self.client_certificate_data = client_certificate_data
        self.client_key_data = client_key_data
        # Unix seconds. None: valid until rejected (kubectl keeps it for its process's life).
        self.expires_at = expires_at
        self.issued_at = issued_at
        # Who this is, for humans (`cache list`, -v logs): a subject, an ARN. Never secret.
        self.identity = identity
        # Opaque to everyone but the provider that made it; kept in the cache entry only.
        self.refresh: Mapping[str, Any] = refresh or {}
        has_pair = bool(self.client_certificate_data) and bool(self.client_key_data)
        if not self.token and not has_pair:
            raise ValueError("a credential needs a token or a client certificate and key")
        if bool(self.client_certificate_data) != bool(self.client_key_data):
            raise ValueError("a client certificate needs its key, and a key its certificate")

    def __repr__(self) -> str:  # never the token itself
        kind = "token" if self.token else "client certificate"
        return f"Credential({kind}, expires_at={self.expires_at}, identity={self.identity!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credential) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def with_issued(self, now: float) -> Credential:
        if self.issued_at is not None:
            return self
        return self._copy(issued_at=now, refresh=self.refresh)

    def with_refresh(self, refresh: Mapping[str, Any]) -> Credential:
        """The same credential with other refresh material (tokenstore moves it)."""
        return self._copy(issued_at=self.issued_at, refresh=refresh)

    def _copy(self, *, issued_at: float | None, refresh: Mapping[str, Any]) -> Credential:
        return Credential(
            self.token,
            client_certificate_data=self.client_certificate_data,
            client_key_data=self.client_key_data,
            expires_at=self.expires_at,
            issued_at=issued_at,
            identity=self.identity,
            refresh=refresh,
        )

    def seconds_left(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def is_fresh(self, now: float, margin: float) -> bool:
        """Still good for at least `margin` seconds, the margin capped at half the lifetime.

        The cap keeps short-lived tokens (a 10-minute token with the default 5-minute margin
        would otherwise be refreshed at once, every time) usable from the cache.
        """
        if self.expires_at is None:
            return True
        if self.issued_at is not None:
            margin = min(margin, max(0.0, (self.expires_at - self.issued_at) / 2))
        return now < self.expires_at - margin

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "token": self.token,
            "clientCertificateData": self.client_certificate_data,
            "clientKeyData": self.client_key_data,
            "expiresAt": self.expires_at,
            "issuedAt": self.issued_at,
            "identity": self.identity,
            "refresh": dict(self.refresh) or None,
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Credential:
        """Rebuild from `to_dict` output; raises ValueError on anything malformed."""

        def optional(key: str, kinds: tuple[type, ...]) -> Any:
            value = data.get(key)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
                raise ValueError(f"cache field {key} has the wrong type")
            return value

        refresh = data.get("refresh", {})
        if not isinstance(refresh, dict):
            raise ValueError("cache field refresh has the wrong type")
        return cls(
            token=optional("token", (str,)),
            client_certificate_data=optional("clientCertificateData", (str,)),
            client_key_data=optional("clientKeyData", (str,)),
            expires_at=_finite_time(optional("expiresAt", (int, float)), "expiresAt"),
            issued_at=_finite_time(optional("issuedAt", (int, float)), "issuedAt"),
            identity=optional("identity", (str,)),
            refresh=refresh,
        )


def _finite_time(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"cache field {name} is out of range") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"cache field {name} is not a finite time")
    return number
