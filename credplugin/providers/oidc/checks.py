"""What doctor can tell about an oidc entry without asking the issuer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credplugin.urlhost import is_loopback


def problems(values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    found = []
    issuer = str(values.get("issuer_url") or "")
    scheme = issuer.partition("://")[0].lower()
    if issuer and scheme != "https" and not (scheme == "http" and is_loopback(issuer)):
        found.append(f"the issuer {issuer} is not https")
    if values.get("grant_type") == "client-credentials" and not values.get("client_secret"):
        found.append("--grant-type client-credentials needs a client secret ($OIDC_CLIENT_SECRET)")
    return found
