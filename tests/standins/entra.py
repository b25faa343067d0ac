"""A Microsoft Entra ID (v2 endpoint) stand-in on ``https://127.0.0.1:<port>``, with its own CA.

Speaks the protocol that MSAL Python and azure-identity really use (test-recipes.md section 4),
so the plugin's real SDK code paths run against it:

* ``GET  /{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/discovery/v2.0/keys``;
* ``POST /{tenant}/oauth2/v2.0/devicecode`` (device authorization, RFC 8628);
* ``GET  /{tenant}/oauth2/v2.0/authorize`` (auth code + PKCE, ``response_mode=form_post``): the
  configured user is signed in at once, and the page is the auto-posting form Entra sends;
* ``POST /{tenant}/oauth2/v2.0/token`` with grant types ``device_code``, ``authorization_code``,
  ``refresh_token`` and ``client_credentials`` (client secret; a ``client_assertion`` that is
  a known workload-identity token, or a JWT signed with a registered certificate's key);
* ``GET  /msi/token``: an App Service style managed-identity endpoint (``IDENTITY_ENDPOINT``).

Access tokens are ES256 JWTs with ``aud`` = the requested resource, ``tid``, ``oid``, ``upn``;
:meth:`EntraStandIn.verify` checks one the way an API server would. Every request is counted
(:attr:`EntraStandIn.requests`). Test hooks: :meth:`approve` / :meth:`decline` a user code,
:meth:`revoke_refresh_tokens` (then ``invalid_grant``), :meth:`fail_next_token_requests`.

:class:`RefusingProxy` stands in for the internet: with it as HTTPS_PROXY, any request to a
real host (login.microsoftonline.com, IMDS) is recorded and refused instead of sent.

``python -m tests.standins.entra browse URL`` is a stand-in *browser* for ``$BROWSER``: it
returns at once (as a real browser launcher does) and, in the background, loads the sign-in
page and posts its form back to the application's loopback listener.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
import secrets
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from .loopback_server import LoopbackHandler, LoopbackHTTPServer, StandIn
from .tls import TLSMaterial

__all__ = [
    "AKS_CLIENT_ID",
    "AKS_SERVER_ID",
    "EntraStandIn",
    "RefusingProxy",
    "RequestRecord",
    "User",
]

AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
AKS_CLIENT_ID = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})
_ROUTE = re.compile(
    r"^/([^/]+)/(v2\.0/\.well-known/openid-configuration|discovery/v2\.0/keys"
    r"|oauth2/v2\.0/(?:devicecode|token|authorize))$"
)


@dataclass(frozen=True)
class User:
    upn: str
    oid: str
    home_tenant: str
    name: str = ""


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    #: "discovery", "keys", "devicecode", "token", "authorize", "msi" or "other"
    endpoint: str
    tenant: str | None = None
    grant_type: str | None = None
    client_id: str | None = None
    status: int = 0


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    tenant: str
    client_id: str
    scope: str
    expires_at: float
    user: User | None = None
    declined: bool = False
    redeemed: bool = False


@dataclass
class _RefreshToken:
    tenant: str
    client_id: str
    user: User
    revoked: bool = False


@dataclass
class _AuthCode:
    tenant: str
    client_id: str
    user: User
    scope: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    used: bool = False


@dataclass
class _ServicePrincipal:
    client_id: str
    tenant: str
    secret: str | None
    assertion: str | None
    #: Verifies a signed client assertion (a certificate credential's public key).
    public_key: Any = None
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class EntraStandIn(StandIn):
    """An in-process Entra ID v2 stand-in, served from a thread (see the module docstring)."""

    def __init__(
        self,
        tls: TLSMaterial,
        *,
        device_expires_in: int = 900,
        device_interval: int = 1,
        token_lifetime: int = 3600,
    ) -> None:
        self.device_expires_in = device_expires_in
        self.device_interval = device_interval
        self.token_lifetime = token_lifetime
        #: Who the authorize endpoint signs in when the request carries no known login_hint.
        self.browser_user = "alice@example.test"
        self.msi_header = "msi-test-header"
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._users: dict[str, User] = {}
        self._device: dict[str, _DeviceCode] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._principals: dict[str, _ServicePrincipal] = {}
        self._fail_next = 0
        self._fail_status = 500
        self.add_user("alice@example.test")
        self.add_user("bob@example.test")

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(tls.server_cert_path), str(tls.server_key_path))
        self._httpd = LoopbackHTTPServer(self, _Handler, context)
        self.port: int = self._httpd.server_port
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> EntraStandIn:
        if self._thread is None:
            self._thread = self._httpd.serve_in_thread(f"entra-standin-{self.port}")
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    # -- test hooks -----------------------------------------------------------------------

    def add_user(self, upn: str, home_tenant: str = "home-tenant") -> User:
        user = User(upn, str(uuid.uuid5(uuid.NAMESPACE_URL, upn)), home_tenant, upn.split("@")[0])
        with self._lock:
            self._users[upn.lower()] = user
        return user

    def user(self, upn: str) -> User:
        with self._lock:
            return self._users[upn.lower()]

    def add_service_principal(
        self,
        client_id: str,
        tenant: str,
        *,
        secret: str | None = None,
        assertion: str | None = None,
        public_key: Any = None,
    ) -> str:
        """Accept client credentials for `client_id` in `tenant`: a secret, a client
        assertion equal to `assertion` (a federated token), or a client assertion JWT signed
        by the key of `public_key` (a certificate credential). Returns the principal's oid."""
        principal = _ServicePrincipal(client_id, tenant, secret, assertion, public_key)
        with self._lock:
            self._principals[client_id] = principal
        return principal.oid

    def approve(self, user_code: str, upn: str = "alice@example.test") -> None:
        """The person enters `user_code` at the verification page and signs in as `upn`."""
        user = self.user(upn)
        with self._lock:
            self._device_with_user_code(user_code).user = user

    def decline(self, user_code: str) -> None:
        with self._lock:
            self._device_with_user_code(user_code).declined = True

    def _device_with_user_code(self, user_code: str) -> _DeviceCode:
        """The device authorization showing `user_code` (the caller holds the lock)."""
        for record in self._device.values():
            if record.user_code == user_code:
                return record
        raise KeyError(f"no device authorization with user code {user_code}")

    def revoke_refresh_tokens(self, upn: str | None = None) -> int:
        """Revoke every refresh token (of `upn` only, if given); returns how many."""
        count = 0
        with self._lock:
            for record in self._refresh.values():
                if upn is None or record.user.upn.lower() == upn.lower():
                    record.revoked = True
                    count += 1
        return count

    def fail_next_token_requests(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_next, self._fail_status = count, status

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def count(
        self,
        endpoint: str | None = None,
        *,
        grant_type: str | None = None,
        tenant: str | None = None,
    ) -> int:
        return sum(
            1
            for r in self.requests
            if (endpoint is None or r.endpoint == endpoint)
            and (grant_type is None or r.grant_type == grant_type)
            and (tenant is None or r.tenant == tenant)
        )

    # -- verifying what we issued ---------------------------------------------------------

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of an access token issued here for `audience`; raises if it is not one."""
        claims = jwt.decode(
            token,
            self.public_key(),
            algorithms=["ES256"],
            audience=audience,
            options={"require": ["exp", "iat", "aud", "iss", "tid", "oid"]},
        )
        if not str(claims["iss"]).startswith(self.url + "/"):
            raise jwt.InvalidIssuerError(f"issuer {claims['iss']} is not this stand-in")
        return claims

    def jwks(self) -> dict[str, Any]:
        key = jwt.algorithms.ECAlgorithm.to_jwk(self.public_key(), as_dict=True)
        key.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return {"keys": [key]}

    # -- protocol -------------------------------------------------------------------------

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _issuer(self, tenant: str) -> str:
        return f"{self.url}/{tenant}/v2.0"

    def discovery(self, tenant: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant}"
        return {
            "issuer": self._issuer(tenant),
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        }

    def device_authorization(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        client_id = form.get("client_id", "")
        if not client_id:
            raise _OAuthError(400, "invalid_request", "AADSTS900144: client_id is missing")
        record = _DeviceCode(
            device_code=secrets.token_urlsafe(32),
            user_code="".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9)),
            tenant=tenant,
            client_id=client_id,
            scope=form.get("scope", ""),
            expires_at=time.time() + self.device_expires_in,
        )
        with self._lock:
            self._device[record.device_code] = record
        uri = f"{self.url}/devicelogin"
        return {
            "device_code": record.device_code,
            "user_code": record.user_code,
            "verification_uri": uri,
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
            f"code {record.user_code} to authenticate.",
        }

    def authorize(self, tenant: str, query: dict[str, str]) -> str:
        """The sign-in page: the user is signed in at once; an auto-posting form answers."""
        redirect_uri = query.get("redirect_uri", "")
        host = urlsplit(redirect_uri).hostname
        if host not in ("localhost", "127.0.0.1") or query.get("response_mode") != "form_post":
            raise _OAuthError(400, "invalid_request", "AADSTS50011: redirect URI mismatch")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            raise _OAuthError(400, "invalid_request", "AADSTS9002325: PKCE is required")
        hint = query.get("login_hint", "")
        with self._lock:
            user = self._users.get(hint.lower()) or self._users[self.browser_user.lower()]
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _AuthCode(
                tenant,
                query.get("client_id", ""),
                user,
                query.get("scope", ""),
                redirect_uri,
                query["code_challenge"],
                query.get("nonce"),
            )
        fields = {"code": code, "state": query.get("state", "")}
        inputs = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}"/>' for k, v in fields.items()
        )
        return (
            "<html><body onload='document.forms[0].submit()'>"
            f'<form method="POST" action="{html.escape(redirect_uri)}">{inputs}</form>'
            "</body></html>"
        )

    def token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                raise _OAuthError(self._fail_status, "temporarily_unavailable", "AADSTS90033")
        grant = form.get("grant_type", "")
        if grant == DEVICE_CODE_GRANT:
            return self._device_code_grant(form)
        if grant == "authorization_code":
            return self._authorization_code_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(tenant, form)
        if grant == "client_credentials":
            return self._client_credentials_grant(tenant, form)
        raise _OAuthError(400, "unsupported_grant_type", f"AADSTS70003: {grant!r}")

    def _device_code_grant(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            record = self._device.get(form.get("device_code", ""))
            if record is None or record.redeemed:
                raise _OAuthError(400, "invalid_grant", "AADSTS70000: bad device code")
            if record.declined:
                raise _OAuthError(400, "authorization_declined", "AADSTS70000: declined")
            if time.time() >= record.expires_at:
                raise _OAuthError(400, "expired_token", "AADSTS70020: the device code expired")
            if record.user is None:
                raise _OAuthError(400, "authorization_pending", "AADSTS70016: pending")
            if form.get("client_id") != record.client_id:
                raise _OAuthError(400, "invalid_grant", "AADSTS70000: client mismatch")
            record.redeemed = True
        return self._user_tokens(record.tenant, record.client_id, record.user, record.scope)

    def _authorization_code_grant(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            record = self._codes.get(form.get("code", ""))
            if record is None or record.used:
                raise _OAuthError(400, "invalid_grant", "AADSTS70008: bad authorization code")
            record.used = True
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if challenge != record.challenge or form.get("redirect_uri") != record.redirect_uri:
            raise _OAuthError(400, "invalid_grant", "AADSTS501481: PKCE or redirect mismatch")
        return self._user_tokens(
            record.tenant, record.client_id, record.user, record.scope, nonce=record.nonce
        )

    def _refresh_grant(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            record = self._refresh.get(form.get("refresh_token", ""))
        if record is None or record.revoked:
            raise _OAuthError(
                400,
                "invalid_grant",
                "AADSTS50173: The provided grant has expired due to it being revoked.",
            )
        if record.client_id != form.get("client_id") or record.tenant != tenant:
            raise _OAuthError(400, "invalid_grant", "AADSTS700082: refresh token mismatch")
        return self._user_tokens(
            record.tenant, record.client_id, record.user, form.get("scope", "")
        )

    def _client_credentials_grant(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        client_id = form.get("client_id", "")
        with self._lock:
            principal = self._principals.get(client_id)
        if principal is None or principal.tenant != tenant:
            raise _OAuthError(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in "
                f"the directory '{tenant}'.",
            )
        if "client_secret" in form:
            if principal.secret is None or not secrets.compare_digest(
                form["client_secret"], principal.secret
            ):
                raise _OAuthError(
                    401,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                    f"sent in the request is the client secret value, not the client secret "
                    f"ID, for a secret added to app '{client_id}'.",
                )
        elif "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
                raise _OAuthError(400, "invalid_request", "AADSTS50027: bad assertion type")
            if principal.public_key is not None:
                self._check_signed_assertion(tenant, principal, form["client_assertion"])
            elif principal.assertion is None or not secrets.compare_digest(
                form["client_assertion"], principal.assertion
            ):
                raise _OAuthError(
                    401, "invalid_client", "AADSTS700213: No matching federated identity record"
                )
        else:
            raise _OAuthError(401, "invalid_client", "AADSTS7000218: no client credentials")
        resource = _resource(form.get("scope", ""))
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": self._issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "tid": tenant,
            "oid": principal.oid,
            "sub": principal.oid,
            "appid": client_id,
            "azp": client_id,
            "idtyp": "app",
            "ver": "2.0",
        }
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self._sign(claims),
        }

    def _check_signed_assertion(
        self, tenant: str, principal: _ServicePrincipal, assertion: str
    ) -> None:
        """RFC 7523 client authentication: signed by the registered certificate's key, for
        this token endpoint, issued by and about the client itself."""
        try:
            claims = jwt.decode(
                assertion,
                principal.public_key,
                algorithms=["RS256", "PS256"],
                audience=f"{self.url}/{tenant}/oauth2/v2.0/token",
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise _OAuthError(
                401, "invalid_client", f"AADSTS700027: Client assertion failed: {exc}"
            ) from None
        if claims["iss"] != principal.client_id or claims["sub"] != principal.client_id:
            raise _OAuthError(401, "invalid_client", "AADSTS700023: assertion iss/sub mismatch")

    def _user_tokens(
        self, tenant: str, client_id: str, user: User, scope: str, nonce: str | None = None
    ) -> dict[str, Any]:
        tid = user.home_tenant if tenant in _TENANT_ALIASES else tenant
        now = int(time.time())
        resource = _resource(scope)
        access = {
            "aud": resource,
            "iss": self._issuer(tid),
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "tid": tid,
            "oid": user.oid,
            "sub": user.oid,
            "upn": user.upn,
            "preferred_username": user.upn,
            "name": user.name,
            "appid": client_id,
            "azp": client_id,
            "scp": "user.read",
            "ver": "2.0",
        }
        id_claims: dict[str, Any] = {
            "aud": client_id,
            "iss": self._issuer(tid),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": tid,
            "oid": user.oid,
            "sub": user.oid,
            "preferred_username": user.upn,
            "name": user.name,
            "ver": "2.0",
        }
        if nonce:
            id_claims["nonce"] = nonce
        refresh = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[refresh] = _RefreshToken(tenant, client_id, user)
        client_info = json.dumps({"uid": user.oid, "utid": tid}).encode()
        return {
            "token_type": "Bearer",
            "scope": f"{resource}/.default" if resource else "openid profile",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self._sign(access),
            "refresh_token": refresh,
            "id_token": self._sign(id_claims),
            "client_info": base64.urlsafe_b64encode(client_info).decode().rstrip("="),
        }

    def managed_identity(self, query: dict[str, str], header: str | None) -> dict[str, Any]:
        if header != self.msi_header:
            raise _OAuthError(401, "invalid_request", "missing or wrong X-IDENTITY-HEADER")
        client_id = query.get("client_id") or "system-assigned"
        resource = query.get("resource", "").removesuffix("/.default")
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": self._issuer("msi-tenant"),
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "tid": "msi-tenant",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, "msi:" + client_id)),
            "appid": client_id,
            "idtyp": "app",
        }
        return {
            "access_token": self._sign(claims),
            "expires_on": str(now + self.token_lifetime),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }

    def issue_user_token(self, upn: str, tenant: str, resource: str) -> dict[str, Any]:
        """What another client (the Azure CLI) would have received for `upn`: an access
        token for `resource` and its lifetime, without any request."""
        answer = self._user_tokens(
            tenant, "04b07795-8ddb-461a-bbee-02f9e1bf7b46", self.user(upn), resource
        )
        return {"access_token": answer["access_token"], "expires_in": answer["expires_in"]}

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})


def _resource(scope: str) -> str:
    """`6dae.../.default offline_access openid` -> `6dae...`: the first non-OIDC scope's
    resource."""
    for item in scope.split():
        if item not in RESERVED_SCOPES:
            return item.rsplit("/", 1)[0] if "/" in item else item
    return ""


# -- HTTP plumbing ------------------------------------------------------------------------------


class _Handler(LoopbackHandler):
    server_version = "entra-standin/1"
    server: LoopbackHTTPServer[EntraStandIn]

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        form = dict(parse_qsl(raw.decode("utf-8", "replace"))) if self.command == "POST" else {}
        match = _ROUTE.match(parts.path)
        tenant = match.group(1) if match else None
        what = match.group(2) if match else ""
        endpoint = {
            "v2.0/.well-known/openid-configuration": "discovery",
            "discovery/v2.0/keys": "keys",
            "oauth2/v2.0/devicecode": "devicecode",
            "oauth2/v2.0/token": "token",
            "oauth2/v2.0/authorize": "authorize",
        }.get(what, "msi" if parts.path == "/msi/token" else "other")
        status, body, content_type = 200, b"", "application/json"
        try:
            result: Any
            if endpoint == "discovery" and tenant and self.command == "GET":
                result = owner.discovery(tenant)
            elif endpoint == "keys" and self.command == "GET":
                result = owner.jwks()
            elif endpoint == "devicecode" and tenant and self.command == "POST":
                result = owner.device_authorization(tenant, form)
            elif endpoint == "token" and tenant and self.command == "POST":
                result = owner.token(tenant, form)
            elif endpoint == "authorize" and tenant and self.command == "GET":
                result = owner.authorize(tenant, query)
            elif endpoint == "msi" and self.command == "GET":
                result = owner.managed_identity(query, self.headers.get("X-IDENTITY-HEADER"))
            else:
                raise _OAuthError(404, "not_found", f"no route for {self.command} {parts.path}")
            if isinstance(result, str):
                body, content_type = result.encode(), "text/html; charset=utf-8"
            else:
                body = json.dumps(result).encode()
        except _OAuthError as exc:
            status = exc.status
            if status >= 500:
                body, content_type = b"<html>service unavailable</html>", "text/html"
            else:
                body = json.dumps(
                    {
                        "error": exc.error,
                        "error_description": exc.description,
                        "error_codes": [
                            int(c) for c in re.findall(r"AADSTS(\d+)", exc.description)
                        ],
                        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                        "trace_id": str(uuid.uuid4()),
                        "correlation_id": str(uuid.uuid4()),
                    }
                ).encode()
        owner._record(
            RequestRecord(
                self.command,
                parts.path,
                endpoint,
                tenant,
                form.get("grant_type"),
                form.get("client_id") or query.get("client_id"),
                status,
            )
        )
        self._send(status, body, content_type)


# -- a trap for traffic that should never leave the machine -------------------------------------


class RefusingProxy(StandIn):
    """An HTTP(S) proxy on 127.0.0.1 that records where each request wanted to go, then refuses.

    With HTTPS_PROXY/HTTP_PROXY pointing here and NO_PROXY=127.0.0.1,localhost, every request
    to a real host (login.microsoftonline.com, IMDS) lands here instead of on the network, and
    :attr:`targets` proves whether any was attempted.
    """

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(10)
                line = self.rfile.readline(4096).decode("latin-1").strip()
                with owner._lock:
                    owner.targets.append(" ".join(line.split()[:2]))
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def env(self) -> dict[str, str]:
        no_proxy = "127.0.0.1,localhost"
        return {
            "HTTPS_PROXY": self.url,
            "HTTP_PROXY": self.url,
            "https_proxy": self.url,
            "http_proxy": self.url,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    def start(self) -> RefusingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the stand-in browser -------------------------------------------------------------------------


def _complete_sign_in(url: str) -> None:
    """Load the sign-in page, then post its form to the app's loopback redirect URI."""
    import requests  # REQUESTS_CA_BUNDLE names the stand-in's CA

    page = requests.get(url, timeout=10)
    page.raise_for_status()
    action = re.search(r'<form method="POST" action="([^"]+)"', page.text)
    if action is None:
        raise SystemExit(f"stand-in browser: no form on {url}")
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    }
    # The app's listener is plain http on loopback: no proxy may see it.
    with requests.Session() as session:
        session.trust_env = False
        session.post(html.unescape(action.group(1)), data=fields, timeout=10)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "browse":
        # Like a real browser launcher: print something on stdout (the plugin must keep it
        # off its own stdout), hand the page to a background process and return at once.
        print(f"stand-in browser: opening {argv[1][:60]}...", flush=True)
        subprocess.Popen(
            [sys.executable, "-m", "tests.standins.entra", "_sign-in", argv[1]],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return 0
    if len(argv) == 2 and argv[0] == "_sign-in":
        with contextlib.suppress(KeyboardInterrupt):
            _complete_sign_in(argv[1])
        return 0
    print("usage: python -m tests.standins.entra browse URL", file=sys.stderr)
    return 2


def browser_command() -> str:
    """A $BROWSER value that runs the stand-in browser (needs the repo root on PYTHONPATH)."""
    return f"{sys.executable} -m tests.standins.entra browse %s"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
