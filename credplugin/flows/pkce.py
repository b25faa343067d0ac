"""PKCE (RFC 7636, S256 only) and the random `state` and `nonce` values of a login."""

from __future__ import annotations

import base64
import hashlib
import secrets


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_verifier() -> str:
    # 64 random bytes -> 86 characters, inside RFC 7636's 43..128.
    return _b64url(secrets.token_bytes(64))


def challenge(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def random_value() -> str:
    """For `state` and `nonce`: 256 bits, URL-safe."""
    return _b64url(secrets.token_bytes(32))


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two optional strings."""
    if a is None or b is None:
        return False
    return secrets.compare_digest(a.encode(), b.encode())
