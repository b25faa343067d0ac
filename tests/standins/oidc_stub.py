"""A tiny OpenID provider that can lie, for tampering tests.

The real provider (node-oidc-provider) never issues a bad token; this one does on request:
`mode` picks what is wrong with the next login (signature, aud, iss, nonce, state, expiry,
alg). Discovery, JWKS, an authorization endpoint that redirects at once (no login page),
and a token endpoint, over plain http on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .loopback_server import LoopbackHTTPServer, StandIn

MODES = (
    "echo-error",
    "ok",
    "bad-signature",
    "wrong-aud",
    "wrong-iss",
    "wrong-nonce",
    "wrong-state",
    "expired",
    "alg-hs256",
    "no-kid-match",
)


class OidcStub(StandIn):
    def __init__(self, client_id: str = "stub-client", issuer_suffix: str = "") -> None:
        self.client_id = client_id
        self.mode = "ok"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._codes: dict[str, str] = {}  # code -> nonce
        self._lock = threading.Lock()
        self.server = LoopbackHTTPServer(self, self._handler())
        # issuer_suffix "/": an issuer that ends in a slash, as Auth0's does.
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.issuer = self.base + issuer_suffix

    def start(self) -> OidcStub:
        self.server.serve_in_thread()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()

        def b64(n: int) -> str:
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": "stub-1",
                    "use": "sig",
                    "alg": "RS256",
                    "n": b64(numbers.n),
                    "e": b64(numbers.e),
                }
            ]
        }

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "mallory",
            "aud": self.client_id,
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
        }
        key: Any = self.key
        headers = {"kid": "stub-1"}
        algorithm = "RS256"
        if self.mode == "bad-signature":
            key = self.other_key
        elif self.mode == "wrong-aud":
            claims["aud"] = "someone-else"
        elif self.mode == "wrong-iss":
            claims["iss"] = "https://evil.example"
        elif self.mode == "wrong-nonce":
            claims["nonce"] = "replayed-nonce"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "alg-hs256":
            key, algorithm = self.client_id.encode() * 4, "HS256"
        elif self.mode == "no-kid-match":
            headers = {"kid": "unknown-key"}
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _json(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": stub.issuer,
                            "authorization_endpoint": f"{stub.base}/authorize",
                            "token_endpoint": f"{stub.base}/token",
                            "jwks_uri": f"{stub.base}/jwks",
                            "response_types_supported": ["code"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                            "token_endpoint_auth_methods_supported": ["none"],
                        },
                    )
                elif parts.path == "/jwks":
                    self._json(200, stub.jwks())
                elif parts.path == "/authorize":
                    code = f"code-{time.time_ns()}"
                    with stub._lock:
                        stub._codes[code] = query.get("nonce", "")
                    state = query.get("state", "")
                    if stub.mode == "wrong-state":
                        state = "forged-" + state
                    target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": state})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                if stub.mode == "echo-error":
                    # Some servers (and proxies) quote the request they refuse.
                    self._json(400, {"error": "invalid_request", "error_description": raw})
                    return
                with stub._lock:
                    nonce = stub._codes.pop(form.get("code", ""), None)
                if form.get("grant_type") != "authorization_code" or nonce is None:
                    self._json(400, {"error": "invalid_grant"})
                    return
                self._json(
                    200,
                    {
                        "access_token": "stub-access-token",
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "id_token": stub.id_token(nonce),
                    },
                )

        return Handler
