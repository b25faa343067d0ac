"""Loopback stand-ins for the Google endpoints that google-auth talks to.

One threaded HTTP(S) server on ``127.0.0.1`` speaks, as Google does:

* ``POST /token`` -- the OAuth2 token endpoint (``oauth2.googleapis.com/token``):
  the JWT-bearer grant of a service-account key (the RS256 assertion is verified against the
  key's public half, by ``kid``, with ``iss``, ``aud``, ``iat``/``exp`` and a non-empty
  ``scope``), the refresh-token grant (client id/secret, revocation, scope down-scoping) and
  the authorization-code grant with PKCE S256;
* ``POST /v1/token`` -- the Security Token Service of workload identity federation
  (token exchange of a trusted subject token);
* ``GET /o/oauth2/auth`` -- the authorization endpoint: a person who approves at once and
  is redirected to the loopback ``redirect_uri`` with ``code`` and ``state``;
* ``POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken`` -- IAM Credentials
  impersonation, checking the caller's bearer token and who may impersonate whom;
* the metadata server (``GET /`` ping, ``/computeMetadata/v1/...``), when an account is set
  with :meth:`GoogleOAuthStandIn.set_metadata_account` (google-auth reaches it in plain HTTP
  through ``GCE_METADATA_HOST`` / ``GCE_METADATA_IP``).

Every access token it issues is remembered, so an API server stand-in can ask
:meth:`GoogleOAuthStandIn.identity_of` whether a bearer token is one (as GKE asks Google).
Requests are counted (:attr:`GoogleOAuthStandIn.records`) so a test can prove a cache hit
made none. Admin hooks make the next requests fail (:meth:`fail_next`) or hang
(:meth:`hang_next`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .loopback_server import LoopbackHandler, LoopbackHTTPServer, StandIn
from .tls import TLSMaterial

__all__ = [
    "CLOUD_PLATFORM",
    "GOOGLE_TOKEN_AUDIENCE",
    "USERINFO_EMAIL",
    "Blackhole",
    "DeadAddress",
    "GoogleOAuthStandIn",
    "Issued",
    "Record",
    "ServiceAccountKey",
]

#: The ``aud`` google-auth puts in every service-account assertion, whatever token_uri is.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
#: What google-auth's impersonated credentials give their source (cloud-platform also works).
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600


@dataclass(frozen=True)
class ServiceAccountKey:
    email: str
    key_id: str
    private_key_pem: str
    public_key: rsa.RSAPublicKey

    def key_file(self, token_uri: str, project_id: str = "test-project") -> dict[str, str]:
        """The JSON key file Google hands out, with ``token_uri`` pointing at the stand-in."""
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": self.key_id,
            "private_key": self.private_key_pem,
            "client_email": self.email,
            "client_id": str(int(hashlib.sha256(self.email.encode()).hexdigest()[:15], 16)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }


@dataclass(frozen=True)
class Issued:
    """An access token the stand-in issued."""

    subject: str
    scopes: tuple[str, ...]
    expires_at: float
    via: str


@dataclass(frozen=True)
class Record:
    """One request: ``kind`` is the grant type for /token, else the endpoint's name."""

    method: str
    path: str
    kind: str
    status: int
    #: The scopes asked for, when the request names any.
    scope: str | None = None


@dataclass
class _User:
    email: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    email: str
    offline: bool


class OAuthError(Exception):
    """An error answer: {"error": ..., "error_description": ...} with this status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class _Client:
    client_secret: str
    #: Who signs in when this client's authorization URL is opened.
    email: str
    granted: tuple[str, ...] = field(default_factory=tuple)


class _Server(LoopbackHTTPServer["GoogleOAuthStandIn"]):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that give up (the timeout tests) are expected


class _Handler(LoopbackHandler):
    server_version = "google-standin/1"
    server: _Server

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(
        self,
        status: int,
        payload: Any = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class GoogleOAuthStandIn(StandIn):
    """Google's token, authorization, IAM Credentials and metadata endpoints on 127.0.0.1."""

    def __init__(self, tls: TLSMaterial | None = None, lifetime: int = 3599) -> None:
        self.lifetime = lifetime
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._keys: dict[str, ServiceAccountKey] = {}
        self._users: dict[str, _User] = {}
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, _Code] = {}
        self._issued: dict[str, Issued] = {}
        self._impersonation: set[tuple[str, str]] = set()
        self._metadata: tuple[str, tuple[str, ...]] | None = None
        self._federated: dict[str, tuple[str, str]] = {}
        self._id_token_key = secrets.token_bytes(32)
        self._fail: list[int] = []
        self._hang: list[float] = []
        self._stopping = threading.Event()
        context: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.server_cert_path), str(tls.server_key_path))
        self._server = _Server(self, _Handler, context)
        scheme = "https" if tls is not None else "http"
        self.host = f"127.0.0.1:{self._server.server_port}"
        self.url = f"{scheme}://{self.host}"
        self.token_uri = f"{self.url}/token"
        #: Security Token Service endpoint (sts.googleapis.com/v1/token).
        self.sts_uri = f"{self.url}/v1/token"
        self.auth_uri = f"{self.url}/o/oauth2/auth"
        #: What to give as the IAM Credentials base URL (gcloud's endpoint override form).
        self.iam_endpoint = f"{self.url}/"
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GoogleOAuthStandIn:
        self._thread = self._server.serve_in_thread()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # -- set-up ------------------------------------------------------------------------------

    def new_service_account(self, email: str) -> ServiceAccountKey:
        """A fresh RSA key for `email`, registered by its key id."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        key = ServiceAccountKey(email, secrets.token_hex(20), pem, private.public_key())
        with self._lock:
            self._keys[email] = key
        return key

    def add_user(
        self,
        email: str,
        client_id: str,
        client_secret: str,
        scopes: tuple[str, ...] = ("openid", USERINFO_EMAIL, CLOUD_PLATFORM),
    ) -> str:
        """A person who logged in through `client_id` earlier; returns their refresh token."""
        token = "1//standin-" + secrets.token_urlsafe(24)
        with self._lock:
            self._users[token] = _User(email, client_id, client_secret, scopes)
        return token

    def add_client(self, client_id: str, client_secret: str, email: str) -> None:
        """An OAuth client (Desktop app); `email` is the person who signs in through it."""
        with self._lock:
            self._clients[client_id] = _Client(client_secret, email)

    def revoke(self, refresh_token: str) -> None:
        with self._lock:
            self._users[refresh_token].revoked = True

    def allow_impersonation(self, caller: str, target: str) -> None:
        """`caller` has roles/iam.serviceAccountTokenCreator on `target`."""
        with self._lock:
            self._impersonation.add((caller, target))

    def trust_subject_token(self, subject_token: str, audience: str, principal: str) -> None:
        """Workload identity federation: STS exchanges `subject_token` (an OIDC token from
        another cloud or a Kubernetes cluster) presented for the pool `audience`."""
        with self._lock:
            self._federated[subject_token] = (audience, principal)

    def set_metadata_account(self, email: str, scopes: tuple[str, ...] = (CLOUD_PLATFORM,)) -> None:
        with self._lock:
            self._metadata = (email, scopes)

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        with self._lock:
            self._fail.extend([status] * count)

    def hang_next(self, count: int = 1, seconds: float = 30.0) -> None:
        with self._lock:
            self._hang.extend([seconds] * count)

    # -- what tests ask ----------------------------------------------------------------------

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.records if kind is None or r.kind == kind)

    def issued(self, token: str) -> Issued | None:
        with self._lock:
            return self._issued.get(token)

    def identity_of(self, token: str) -> str:
        """``google:<email>`` for a live access token with cloud-platform; raises otherwise."""
        issued = self.issued(token)
        if issued is None:
            raise ValueError("not an access token this Google stand-in issued")
        if issued.expires_at <= time.time():
            raise ValueError("access token expired")
        if CLOUD_PLATFORM not in issued.scopes and (CLOUD_PLATFORM + ".read-only") not in (
            issued.scopes
        ):
            raise ValueError("access token lacks the cloud-platform scope")
        return f"google:{issued.subject}"

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        path, query = split.path, parse_qs(split.query)
        body = handler.body() if method == "POST" else b""
        form = parse_qs(body.decode("utf-8", "replace")) if method == "POST" else {}
        kind = self._kind(method, path, form)
        scopes = form.get("scope") or query.get("scope") or query.get("scopes")
        scope = scopes[0] if scopes else None
        with self._lock:
            hang = self._hang.pop(0) if self._hang else 0.0
            fail = self._fail.pop(0) if self._fail else 0
        if hang:
            self._stopping.wait(hang)
        status = 500
        try:
            if fail:
                status = fail
                # google-auth retries a 5xx and an `internal_failure`; not other refusals.
                error = "internal_failure" if fail >= 500 else "invalid_request"
                handler.reply(fail, {"error": error, "error_description": "stand-in failure"})
                return
            status, payload, headers, content_type = self._route(
                handler, method, path, query, form, body
            )
            handler.reply(status, payload, headers=headers, content_type=content_type)
        except IamError as exc:
            status = exc.status
            handler.reply(status, exc.payload())
        except OAuthError as exc:
            status = exc.status
            handler.reply(status, {"error": exc.error, "error_description": exc.description})
        finally:
            with self._lock:
                self.records.append(Record(method, path, kind, status, scope))

    @staticmethod
    def _kind(method: str, path: str, form: dict[str, list[str]]) -> str:
        if path in ("/token", "/v1/token"):
            return (form.get("grant_type") or ["?"])[0]
        if path == "/o/oauth2/auth":
            return "authorize"
        if path.endswith(":generateAccessToken"):
            return "generateAccessToken"
        if path == "/":
            return "metadata-ping"
        if path.startswith("/computeMetadata/"):
            return "metadata-token" if path.endswith("/token") else "metadata"
        return "other"

    def _route(
        self,
        handler: _Handler,
        method: str,
        path: str,
        query: dict[str, list[str]],
        form: dict[str, list[str]],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str] | None, str]:
        json_type = "application/json; charset=utf-8"
        if method == "POST" and path == "/token":
            return 200, self._token(form), {"Cache-Control": "no-store"}, json_type
        if method == "POST" and path == "/v1/token":
            return 200, self._sts(form), {"Cache-Control": "no-store"}, json_type
        if method == "GET" and path == "/o/oauth2/auth":
            location = self._authorize(query)
            return 302, "", {"Location": location}, "text/plain"
        if method == "POST" and path.endswith(":generateAccessToken"):
            auth = handler.headers.get("Authorization", "")
            return 200, self._generate(path, auth, body), None, json_type
        if path == "/" or path.startswith("/computeMetadata/"):
            return self._metadata_route(handler, path, query)
        raise OAuthError(404, "not_found", f"no such endpoint {path}")

    # -- the token endpoint ------------------------------------------------------------------

    def _token(self, form: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        grant = one("grant_type")
        if grant == JWT_BEARER:
            subject, scopes = self._verify_assertion(one("assertion"))
            return self._answer(subject, scopes, "jwt-bearer")
        if grant == "refresh_token":
            return self._refresh(
                one("refresh_token"), one("client_id"), one("client_secret"), one("scope")
            )
        if grant == "authorization_code":
            return self._exchange(form)
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _sts(self, form: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        if one("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            raise OAuthError(400, "unsupported_grant_type", "token exchange only")
        with self._lock:
            trusted = self._federated.get(one("subject_token"))
        if trusted is None or trusted[0] != one("audience"):
            raise OAuthError(400, "invalid_grant", "The subject token is not trusted.")
        answer = self._answer(trusted[1], tuple(one("scope").split()), "sts")
        answer["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
        return answer

    def _verify_assertion(self, assertion: str) -> tuple[str, tuple[str, ...]]:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise OAuthError(400, "invalid_grant", f"Invalid JWT: {exc}") from None
        with self._lock:
            key = self._keys.get(str(unverified.get("iss")))
        if key is None:
            raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("kid") != key.key_id or header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                key.public_key,
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri],
                issuer=key.email,
                options={"require": ["iss", "aud", "iat", "exp"]},
                leeway=60,
            )
        except jwt.InvalidSignatureError:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from None
        except jwt.PyJWTError as exc:
            raise OAuthError(400, "invalid_grant", f"Invalid JWT: {exc}") from None
        if int(claims["exp"]) - int(claims["iat"]) > MAX_ASSERTION_LIFETIME:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: lifetime over one hour")
        scopes = tuple(str(claims.get("scope") or "").split())
        if not scopes:
            raise OAuthError(400, "invalid_scope", "Empty or missing scope not allowed.")
        return key.email, scopes

    def _refresh(
        self, refresh_token: str, client_id: str, client_secret: str, scope: str
    ) -> dict[str, Any]:
        with self._lock:
            user = self._users.get(refresh_token)
        if user is None or user.revoked:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        if client_id != user.client_id or client_secret != user.client_secret:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        scopes = tuple(scope.split()) if scope else user.scopes
        if not set(scopes) <= set(user.scopes):
            raise OAuthError(400, "invalid_scope", "Some requested scopes were invalid.")
        return self._answer(user.email, scopes, "refresh_token")

    def _exchange(self, form: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        with self._lock:
            code = self._codes.pop(one("code"), None)
            client = self._clients.get(one("client_id"))
        if code is None:
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        if client is None or client.client_secret != one("client_secret"):
            raise OAuthError(401, "invalid_client", "Unauthorized")
        if code.client_id != one("client_id") or code.redirect_uri != one("redirect_uri"):
            raise OAuthError(400, "invalid_grant", "Bad Request")
        digest = hashlib.sha256(one("code_verifier").encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != code.challenge:
            raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        answer = self._answer(code.email, code.scopes, "authorization_code")
        if code.offline:
            answer["refresh_token"] = self.add_user(
                code.email, code.client_id, client.client_secret, code.scopes
            )
        if "openid" in code.scopes or USERINFO_EMAIL in code.scopes or "email" in code.scopes:
            now = int(time.time())
            answer["id_token"] = jwt.encode(
                {
                    "iss": "https://accounts.google.com",
                    "aud": code.client_id,
                    "sub": hashlib.sha256(code.email.encode()).hexdigest()[:21],
                    "email": code.email,
                    "email_verified": True,
                    "iat": now,
                    "exp": now + self.lifetime,
                },
                self._id_token_key,
                algorithm="HS256",
            )
        return answer

    def _answer(self, subject: str, scopes: tuple[str, ...], via: str) -> dict[str, Any]:
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = Issued(subject, scopes, time.time() + self.lifetime, via)
        return {
            "access_token": token,
            "expires_in": self.lifetime,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }

    # -- the authorization endpoint ----------------------------------------------------------

    def _authorize(self, query: dict[str, list[str]]) -> str:
        def one(name: str) -> str:
            return (query.get(name) or [""])[0]

        with self._lock:
            client = self._clients.get(one("client_id"))
        redirect_uri = one("redirect_uri")
        if client is None:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if not redirect_uri.startswith("http://127.0.0.1:"):
            raise OAuthError(400, "redirect_uri_mismatch", "loopback redirect URIs only")
        if one("response_type") != "code" or one("code_challenge_method") != "S256":
            raise OAuthError(400, "invalid_request", "code flow with PKCE S256 required")
        if len(one("code_challenge")) != 43 or not one("state"):
            raise OAuthError(400, "invalid_request", "code_challenge and state required")
        scopes = tuple(one("scope").split())
        code = "4/standin-" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                one("client_id"),
                redirect_uri,
                one("code_challenge"),
                scopes,
                client.email,
                one("access_type") == "offline",
            )
        params = {"state": one("state"), "code": code, "scope": " ".join(scopes)}
        return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}"

    # -- IAM Credentials ---------------------------------------------------------------------

    def _generate(self, path: str, authorization: str, body: bytes) -> dict[str, Any]:
        target = path.rsplit("/", 1)[-1].removesuffix(":generateAccessToken")
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            caller = self._issued.get(token) if scheme.lower() == "bearer" else None
        if caller is None or caller.expires_at <= time.time():
            raise _iam_error(401, "UNAUTHENTICATED", "Request had invalid authentication.")
        if not {CLOUD_PLATFORM, IAM_SCOPE} & set(caller.scopes):
            raise _iam_error(403, "PERMISSION_DENIED", "Request had insufficient scopes.")
        request = json.loads(body or b"{}")
        delegates = [d.rsplit("/", 1)[-1] for d in request.get("delegates") or []]
        chain = [caller.subject, *delegates, target]
        with self._lock:
            allowed = all(pair in self._impersonation for pair in itertools.pairwise(chain))
        if not allowed:
            raise _iam_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource "
                "(or it may not exist).",
            )
        scopes = tuple(request.get("scope") or ())
        lifetime = int(str(request.get("lifetime") or "3600s").rstrip("s"))
        token = "ya29.standin-imp-" + secrets.token_urlsafe(32)
        expires = time.time() + lifetime
        with self._lock:
            self._issued[token] = Issued(target, scopes, expires, "impersonation")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        return {"accessToken": token, "expireTime": stamp}

    # -- the metadata server -----------------------------------------------------------------

    def _metadata_route(
        self, handler: _Handler, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str] | None, str]:
        flavor = {"Metadata-Flavor": "Google"}
        with self._lock:
            account = self._metadata
        if account is None or handler.headers.get("Metadata-Flavor") != "Google":
            raise OAuthError(404, "not_found", "no metadata server here")
        email, granted = account
        prefix = "/computeMetadata/v1/instance/service-accounts/default"
        if path == "/":
            return 200, "", flavor, "application/text"
        if path == prefix + "/":
            payload = {"email": email, "scopes": list(granted), "aliases": ["default"]}
            return 200, payload, flavor, "application/json"
        if path == prefix + "/token":
            asked = (query.get("scopes") or [""])[0]
            scopes = tuple(asked.split(",")) if asked else granted
            return 200, self._answer(email, scopes, "metadata"), flavor, "application/json"
        if path == "/computeMetadata/v1/universe/universe-domain":
            return 200, "googleapis.com", flavor, "application/text"
        raise OAuthError(404, "not_found", f"no metadata at {path}")


class IamError(OAuthError):
    """Google APIs answer errors as {"error": {"code", "message", "status"}}, not OAuth's form."""

    def payload(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": self.description, "status": self.error}}


def _iam_error(status: int, code: str, message: str) -> IamError:
    return IamError(status, code, message)


# -- addresses for the metadata probe --------------------------------------------------------


class DeadAddress:
    """``127.0.0.1:<port>`` where nothing listens (connections are refused at once), kept
    bound for the test so no other process takes the port."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"

    def __enter__(self) -> DeadAddress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._socket.close()


class Blackhole(DeadAddress):
    """``127.0.0.1:<port>`` that takes connections and never answers: what 169.254.169.254
    looks like from many networks outside Google Cloud."""

    def __init__(self) -> None:
        super().__init__()
        self._socket.listen(16)
