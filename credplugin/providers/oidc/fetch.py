"""OIDC logins and refreshes against one issuer (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt

from credplugin import bounds, log
from credplugin.credential import Credential
from credplugin.errors import LoginAbandoned, UpstreamError, UsageError
from credplugin.flows import oauth, pkce
from credplugin.flows.browser import open_url
from credplugin.flows.http import GuardedSession
from credplugin.flows.loopback import LoopbackRedirect, names_localhost, redirect_uri
from credplugin.providers import base
from credplugin.providers.base import FetchContext
from credplugin.tokens import decode_jwt_claims
from credplugin.urlhost import is_loopback

# What an authorization or device request carries of ours: never from extra parameters.
RESERVED_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "request",
        "request_uri",
        "login_hint",  # --login-hint: part of the cache key, so never set behind its back
    }
)
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Asymmetric algorithms only: "none" and HMAC (keyed with the public client id) never pass.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
CLOCK_SKEW = 60


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        # Both required: the invocation checked.
        client = _Client(self.options["issuer_url"], self.options["client_id"], self.options, ctx)
        refresh_token = (ctx.previous.refresh.get("refreshToken") if ctx.previous else None) or None
        if refresh_token:
            tokens = client.refresh(str(refresh_token))
            if tokens is not None:
                return client.credential(tokens, nonce=None, previous_refresh=str(refresh_token))
        grant = self.options["grant_type"]
        if grant != "client-credentials":
            ctx.before_login("no refresh token works")
        log.info(f"logging in to {client.issuer} ({grant})")
        if grant == "authcode":
            tokens, nonce = client.authcode()
        elif grant == "authcode-keyboard":
            tokens, nonce = client.authcode_keyboard()
        elif grant == "device-code":
            tokens, nonce = client.device_code(), None
        elif grant == "password":
            tokens, nonce = client.password(), None
        else:
            tokens, nonce = client.client_credentials(), None
        return client.credential(tokens, nonce=nonce, previous_refresh=None)


class _Client:
    """One issuer, one client: discovery, token requests, ID-token verification."""

    def __init__(
        self, issuer: str, client_id: str, options: Mapping[str, Any], ctx: FetchContext
    ) -> None:
        scheme = issuer.partition("://")[0].lower()
        if scheme != "https" and not (scheme == "http" and is_loopback(issuer)):
            raise UsageError(f"the issuer must be https (plain http only on loopback): {issuer}")
        self.issuer = issuer
        self.client_id = client_id
        self.options = options
        self.ctx = ctx
        self.session = GuardedSession(ctx.timeout)
        # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE override a
        # session's verify, but not an explicit per-request value.
        if options.get("insecure_skip_tls_verify"):
            self.verify: bool | str = False
        else:
            self.verify = options.get("certificate_authority") or True
        # The issuer is compared exactly as given (Auth0's ends in "/"); only the discovery
        # URL is built without a doubled slash.
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.discovery = self._get_json(discovery_url)
        if self.discovery.get("issuer") != issuer:
            raise UpstreamError(
                f"the discovery document names issuer {self.discovery.get('issuer')!r}, "
                f"not {issuer!r}",
                hint="use exactly the issuer URL the provider advertises",
            )

    # -- HTTP -----------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        return oauth.request(
            self.session,
            method,
            url,
            timeout=self.ctx.timeout,
            verify=self.verify,
            tls_hint="pass --certificate-authority with the issuer's CA",
            **kwargs,
        )

    def _get_json(self, url: str) -> dict[str, Any]:
        response = self._request("GET", url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise UpstreamError(f"{url} answered HTTP {response.status_code}")
        try:
            doc = response.json()
        except (ValueError, RecursionError):
            raise UpstreamError(f"{url} did not answer JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamError(f"{url} did not answer a JSON object")
        return doc

    def _endpoint(self, name: str) -> str:
        url = self.discovery.get(name)
        if not isinstance(url, str) or not url:
            raise UpstreamError(f"the issuer's discovery document has no {name}")
        return url

    def _token_request(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST to the token endpoint with client authentication; (status, JSON body)."""
        secret = self.options.get("client_secret")
        auth = None
        form = dict(form)
        methods = self.discovery.get("token_endpoint_auth_methods_supported") or [
            "client_secret_basic"
        ]
        if secret and "client_secret_basic" in methods:
            # RFC 6749 2.3.1: form-encoded before base64, so ':' and non-ASCII survive.
            auth = (quote_plus(self.client_id), quote_plus(str(secret)))
        else:
            form["client_id"] = self.client_id
            if secret:
                form["client_secret"] = str(secret)
        response = self._request(
            "POST",
            self._endpoint("token_endpoint"),
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
        )
        return response.status_code, oauth.json_body(response)

    def _tokens(self, form: dict[str, str], what: str) -> dict[str, Any]:
        status, body = self._token_request(form)
        if status != 200 or "access_token" not in body:
            raise UpstreamError(self._refusal(what, status, body, form))
        return body

    def _refusal(self, what: str, status: int, body: dict[str, Any], form: dict[str, str]) -> str:
        return oauth.refusal(
            what, status, body, [*form.values(), self.options.get("client_secret")]
        )

    # -- grants ---------------------------------------------------------------------------

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens through the refresh token, or None when a login is needed instead."""
        status, body = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        if status == 200 and "access_token" in body:
            if not self.options.get("use_access_token") and not body.get("id_token"):
                log.info("the refresh answer has no ID token; logging in again")
                return None
            log.info("refreshed without a browser")
            return body
        error = log.scrub(str(body.get("error", f"HTTP {status}")), [refresh_token])
        if status >= 500:
            raise UpstreamError(f"refreshing the token failed: the issuer answered {error}")
        log.info(f"the refresh token was refused ({error}); logging in again")
        return None

    def _scopes(self) -> str:
        scopes = ["openid", *self.options.get("extra_scope", [])]
        return " ".join(dict.fromkeys(scopes))

    def _extra_params(self) -> dict[str, str]:
        extra: dict[str, str] = {}
        for item in self.options.get("auth_request_extra_params", []):
            key, sep, value = str(item).partition("=")
            if not sep or not key:
                raise UsageError(f"--auth-request-extra-params {item!r} is not KEY=VALUE")
            if key in RESERVED_PARAMS:
                raise UsageError(
                    f"--auth-request-extra-params may not set {key!r}: credplugin sets it, and "
                    "the login's protection (PKCE, state, nonce, the redirect) depends on it"
                )
            extra[key] = value
        return extra

    def _authorize_url(self, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self._scopes(),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce.challenge(verifier),
            "code_challenge_method": "S256",
        }
        if self.options.get("login_hint"):
            params["login_hint"] = str(self.options["login_hint"])
        params.update(self._extra_params())
        endpoint = self._endpoint("authorization_endpoint")
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def authcode(self) -> tuple[dict[str, Any], str]:
        addresses = list(self.options.get("listen_address") or []) or [
            "127.0.0.1:8000",
            "127.0.0.1:18000",
        ]
        state, nonce, verifier = pkce.random_value(), pkce.random_value(), pkce.new_verifier()
        given = str(self.options.get("redirect_url") or "") or None
        with LoopbackRedirect(addresses, state, localhost=names_localhost(given)) as listener:
            # One string for both requests: the token endpoint compares it to the one the
            # code was issued for, byte for byte (RFC 6749 section 4.1.3).
            redirect = redirect_uri(given, listener.host, listener.port)
            url = self._authorize_url(redirect, state, nonce, verifier)
            open_url(
                url,
                self.ctx.prompter,
                command=self.options.get("browser_command"),
                skip=bool(self.options.get("skip_open_browser")),
                background=True,
            )
            code = listener.wait(float(self.options["authentication_timeout"]))
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        }
        return self._tokens(form, "exchanging the authorization code"), nonce

    def authcode_keyboard(self) -> tuple[dict[str, Any], str]:
        self.ctx.prompter.require_person("typing the authorization code")
        state, nonce, verifier = pkce.random_value(), pkce.random_value(), pkce.new_verifier()
        redirect_uri = str(self.options.get("redirect_url") or OOB_REDIRECT)
        url = self._authorize_url(redirect_uri, state, nonce, verifier)
        self.ctx.prompter.tell(f"Open this URL in a browser to log in: {url}")
        code = self.ctx.prompter.ask("Enter the authorization code: ").strip()
        if not code:
            raise LoginAbandoned("no authorization code was entered")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return self._tokens(form, "exchanging the authorization code"), nonce

    def password(self) -> dict[str, Any]:
        self.ctx.prompter.require_person("the password login")
        username = self.options.get("username") or self.ctx.prompter.ask("Username: ").strip()
        password = self.ctx.prompter.ask(f"Password for {username}: ", secret=True)
        form = {
            "grant_type": "password",
            "username": str(username),
            "password": password,
            "scope": self._scopes(),
        }
        return self._tokens(form, "the password login")

    def client_credentials(self) -> dict[str, Any]:
        if not self.options.get("client_secret"):
            raise UsageError("the client-credentials grant needs a client secret")
        scopes = " ".join(self.options.get("extra_scope", []))
        form = {"grant_type": "client_credentials", **({"scope": scopes} if scopes else {})}
        return self._tokens(form, "the client-credentials grant")

    def device_code(self) -> dict[str, Any]:

        endpoint = self._endpoint("device_authorization_endpoint")
        form = {**self._extra_params(), "client_id": self.client_id, "scope": self._scopes()}
        response = self._request(
            "POST", endpoint, data=form, headers={"Accept": "application/json"}
        )
        answer = oauth.json_body(response)
        if response.status_code != 200 or "device_code" not in answer:
            raise UpstreamError(
                f"the device authorization request was refused: "
                f"{answer.get('error', f'HTTP {response.status_code}')}"
            )
        device_code = str(answer["device_code"])
        interval = bounds.seconds(
            answer.get("interval") or self.options["device_poll_interval"],
            "the device answer's interval",
            high=300,
        )
        lifetime = bounds.lifetime(
            answer.get("expires_in") or 600, "the device answer's expires_in"
        )
        deadline = time.monotonic() + min(lifetime, float(self.options["authentication_timeout"]))
        complete = answer.get("verification_uri_complete")
        self.ctx.prompter.tell(
            f"To log in, visit {answer.get('verification_uri')} and enter the code "
            f"{answer.get('user_code')}"
        )
        if complete and not self.options.get("skip_open_browser"):
            open_url(
                str(complete),
                self.ctx.prompter,
                command=self.options.get("browser_command"),
                skip=False,
                background=True,
            )
        while True:
            if time.monotonic() + interval > deadline:
                raise LoginAbandoned("nobody entered the device code before it expired")
            time.sleep(interval)
            status, body = self._token_request(
                {"grant_type": DEVICE_GRANT, "device_code": device_code}
            )
            if status == 200 and "access_token" in body:
                return body
            error = body.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += 5  # RFC 8628 section 3.5
                continue
            if error == "expired_token":
                raise LoginAbandoned("nobody entered the device code before it expired")
            if error == "access_denied":
                raise UpstreamError("the device login was denied")
            raise UpstreamError(
                log.scrub(f"the device login failed: {error or f'HTTP {status}'}", [device_code])
            )

    # -- result ---------------------------------------------------------------------------

    def credential(
        self, tokens: dict[str, Any], *, nonce: str | None, previous_refresh: str | None
    ) -> Credential:
        now = self.ctx.now()
        claims: dict[str, Any] = {}
        id_token = tokens.get("id_token")
        if id_token:
            claims = self.verify_id_token(str(id_token), nonce)
        use_access = bool(self.options.get("use_access_token")) or not id_token
        if use_access:
            token = str(tokens["access_token"])
            expires_at = _access_token_expiry(tokens, now)
        else:
            # Verified above: `exp` is required and numeric.
            token, expires_at = str(id_token), float(claims["exp"])
        # A provider that rotates answers with a new refresh token; one that does not keeps
        # the old one valid.
        refresh_token = tokens.get("refresh_token") or previous_refresh
        who = claims.get("email") or claims.get("preferred_username") or claims.get("sub")
        return Credential(
            token,
            issued_at=now,
            expires_at=expires_at,
            identity=f"{who} at {self.issuer}" if who else f"client {self.client_id}",
            refresh={"refreshToken": refresh_token} if refresh_token else {},
        )

    def verify_id_token(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise UpstreamError(f"the ID token is not a JWT: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise UpstreamError(f"the ID token is signed with {algorithm!r}, which is not allowed")
        keys = self._get_json(self._endpoint("jwks_uri"))
        try:
            keyset = jwt.PyJWKSet.from_dict(keys)
        except jwt.PyJWTError as exc:
            raise UpstreamError(f"the issuer's JWKS is unusable: {exc}") from exc
        kid = header.get("kid")
        candidates = [k for k in keyset.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise UpstreamError(f"the ID token's key {kid!r} is not in the issuer's JWKS")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                candidates[0].key,
                algorithms=[algorithm],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=CLOCK_SKEW,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise UpstreamError(f"the ID token failed verification: {exc}") from exc
        except (OverflowError, ValueError, TypeError):  # exp or iat of Infinity, NaN...
            raise UpstreamError(
                "the ID token failed verification: its times are not usable"
            ) from None
        bounds.seconds(claims["exp"], "the ID token's exp")
        if nonce is not None and not _same(claims.get("nonce"), nonce):
            raise UpstreamError("the ID token failed verification: wrong nonce")
        return claims


def _same(a: object, b: str) -> bool:
    return isinstance(a, str) and pkce.same(a, b)


# An access token that states no lifetime is kept this long, not forever.
UNKNOWN_LIFETIME = 15 * 60


def _access_token_expiry(tokens: dict[str, Any], now: float) -> float:
    """From `expires_in`, else the access token's own `exp` when it is a JWT, else a short
    default: a credential without expiry would be served until someone clears the cache."""
    expires_in = tokens.get("expires_in")
    if expires_in is not None:
        return now + bounds.lifetime(expires_in, "the token answer's expires_in")
    exp = decode_jwt_claims(str(tokens["access_token"])).get("exp")
    if exp is not None and bounds.seconds(exp, "the access token's exp") > now:
        return float(exp)
    return now + UNKNOWN_LIFETIME
