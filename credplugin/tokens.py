"""Reading (never verifying) the claims of a JWT, for expiry and identity."""

from __future__ import annotations

import binascii

from credplugin import fastjson

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from typing import Any


_URLSAFE_TO_STD = str.maketrans("-_", "+/")


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, or {} when `token` is not one. No signature check:
    the API server verifies; we only want to know when to come back for a new one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    # binascii, not base64, which imports re (see hotpath).
    payload = parts[1].translate(_URLSAFE_TO_STD)
    try:
        raw = binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        claims = fastjson.loads(raw)
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return {}
    return claims if isinstance(claims, dict) else {}
