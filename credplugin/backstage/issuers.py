"""Which OIDC issuer and client a Backstage sign-in provider stands for.

Backstage's Kubernetes `oidc` authProvider sends the ID token that the sign-in provider named
by `oidcTokenProvider` issued to Backstage; the API server trusts that issuer and client. So
a credplugin entry for such a cluster logs in at the same issuer, as the same client:
`auth.providers.<provider>.<auth.environment>` says which, by Backstage's rules per provider:

    google      https://accounts.google.com
    microsoft   https://login.microsoftonline.com/<tenantId>/v2.0 (a single tenant only)
    gitlab      `audience`, default https://gitlab.com
    okta        `audience`/oauth2/<authServerId>, or `audience` alone (the org server)
    onelogin    `issuer`
    any other   `metadataUrl` without /.well-known/openid-configuration (generic OIDC)

Only the first five are wired into Backstage's Kubernetes frontend without custom code; the
others work once someone wires them, which the converter says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WIRED_BY_DEFAULT = ("gitlab", "google", "microsoft", "okta", "onelogin")
# Sign-in providers that issue no ID token: nothing an API server could verify.
NOT_OIDC = ("github", "bitbucket", "bitbucketServer", "atlassian", "guest", "oauth2Proxy")
# Entra's shared endpoints: each user's ID token names their own tenant as issuer.
MULTI_TENANT = ("common", "organizations", "consumers")
WELL_KNOWN = "/.well-known/openid-configuration"


class NoIssuer(Exception):
    """No single issuer can be derived; `topic` names the reason (README of the scenarios)."""

    def __init__(self, topic: str, message: str) -> None:
        super().__init__(message)
        self.topic = topic


def issuer_of(provider: str, settings: Mapping[str, Any], text: Any) -> str:
    """The issuer URL of `provider` configured by `settings`; `text(value, what)` reads a
    config value as a string (or None). Raises NoIssuer."""
    where = f"auth.providers.{provider}"
    if provider in NOT_OIDC:
        raise NoIssuer("not-oidc", f"{provider} sign-in issues no OIDC ID tokens")
    if provider == "google":
        return "https://accounts.google.com"
    if provider == "microsoft":
        tenant = text(settings.get("tenantId"), f"{where} tenantId")
        if not tenant:
            raise NoIssuer("undeterminable-issuer", f"{where} has no tenantId")
        if tenant.lower() in MULTI_TENANT:
            raise NoIssuer(
                "multi-tenant-issuer",
                f"{where} tenantId is {tenant!r}: each user's ID token names their own tenant, "
                "so no single issuer can be trusted",
            )
        return f"https://login.microsoftonline.com/{tenant}/v2.0"
    if provider == "gitlab":
        audience = text(settings.get("audience"), f"{where} audience")
        return str(audience or "https://gitlab.com").rstrip("/")
    if provider == "okta":
        audience = text(settings.get("audience"), f"{where} audience")
        if not audience:
            raise NoIssuer("undeterminable-issuer", f"{where} has no audience (the Okta org URL)")
        server = text(settings.get("authServerId"), f"{where} authServerId")
        base = str(audience).rstrip("/")
        return f"{base}/oauth2/{server}" if server else base
    if provider == "onelogin":
        issuer = text(settings.get("issuer"), f"{where} issuer")
        if not issuer:
            raise NoIssuer("undeterminable-issuer", f"{where} has no issuer")
        return str(issuer).rstrip("/")
    metadata = text(settings.get("metadataUrl"), f"{where} metadataUrl")
    if metadata:
        url = str(metadata)
        return (url[: -len(WELL_KNOWN)] if url.endswith(WELL_KNOWN) else url).rstrip("/")
    raise NoIssuer(
        "undeterminable-issuer",
        f"{where} names no issuer (no metadataUrl): {provider} is not an OIDC provider "
        "credplugin can log in to",
    )
