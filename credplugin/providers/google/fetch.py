"""The person's Google token: their ADC login refreshed, or a loopback sign-in of our own
(see the package docstring)."""

from __future__ import annotations

import calendar
import json
import os
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import urlencode

from google.auth import exceptions

from credplugin import bounds, log
from credplugin.cloud.google_auth import (
    GoogleTransport,
    credentials_from_info,
    google_error,
    parse_scopes,
    read_credentials_file,
    refresh,
    secret_strings,
    to_credential,
)
from credplugin.credential import Credential
from credplugin.errors import InteractionRequired, Timeout, UpstreamError, UsageError, os_reason
from credplugin.flows import oauth, pkce
from credplugin.flows.browser import open_url
from credplugin.flows.http import GuardedSession
from credplugin.flows.loopback import LoopbackRedirect
from credplugin.google_adc import (
    DEFAULT_SCOPES,
    GOOGLE_AUTH_URI,
    GOOGLE_TOKEN_URI,
    adc_path,
)
from credplugin.providers import base
from credplugin.providers.base import FetchContext
from credplugin.providers.google import LOGIN_WAIT_SECONDS
from credplugin.tokens import decode_jwt_claims

USER_TYPES = ("authorized_user", "external_account_authorized_user")


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        scopes = parse_scopes(self.options.get("scopes"), DEFAULT_SCOPES)
        if self.options.get("login"):
            return self._login_session(ctx, scopes)
        if self.options.get("gcloud") or self.options.get("account"):
            return self._gcloud(ctx)
        return self._adc(ctx, scopes)

    # -- the gcloud account ----------------------------------------------------------------

    def _gcloud(self, ctx: FetchContext) -> Credential:
        """The gcloud account's token, from `gcloud config config-helper` as
        gke-gcloud-auth-plugin reads it: gcloud refreshes (its own token_uri, auth/token_host,
        impersonation settings); we cache its answer, so gcloud (about a second) runs on a
        cache miss only."""
        if self.options.get("scopes"):
            log.warn("--scopes has no effect with --gcloud: gcloud's tokens carry gcloud's scopes")
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise UsageError(
                "--gcloud runs the gcloud CLI, but `gcloud` is not on PATH",
                hint="install the Google Cloud SDK, or use Application Default Credentials "
                "(without --gcloud)",
            )
        command = [gcloud, "config", "config-helper", "--format=json"]
        account = self.options.get("account")
        if account:
            command.append(f"--account={account}")
        try:
            proc = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=ctx.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Timeout(f"gcloud did not answer within {ctx.timeout:g}s") from None
        except OSError as exc:
            raise UpstreamError(f"cannot run {gcloud}: {os_reason(exc)}") from None
        if proc.returncode != 0:
            lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
            reason = log.redact(lines[-1] if lines else f"exit status {proc.returncode}")
            relogin = any(w in proc.stderr for w in ("auth login", "active account", "reauth"))
            raise UpstreamError(
                f"gcloud config config-helper failed: {reason}",
                hint="run `gcloud auth login`" if relogin else None,
            )
        try:
            answer = json.loads(proc.stdout[: bounds.MAX_BODY_BYTES])
            credential = answer["credential"]
            token = str(credential["access_token"])
            stamp = str(credential["token_expiry"])
        except (ValueError, KeyError, TypeError, RecursionError):
            raise UpstreamError("gcloud config config-helper printed no access token") from None
        now = ctx.now()
        expires_at = _rfc3339(stamp, now)
        core = (answer.get("configuration") or {}).get("properties", {}).get("core", {})
        who = core.get("account") or account or "the gcloud account"
        return Credential(token, issued_at=now, expires_at=expires_at, identity=f"{who} (gcloud)")

    # -- Application Default Credentials ---------------------------------------------------

    def _adc(self, ctx: FetchContext, scopes: list[str]) -> Credential:
        explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        path = explicit or adc_path(os.environ)
        if not explicit and not os.path.isfile(path):
            raise UpstreamError(
                f"no Google sign-in found: no Application Default Credentials at {path}",
                hint="run `gcloud auth application-default login`, or use --login",
            )
        info = read_credentials_file(path)
        secrets = secret_strings(info)
        kind = info.get("type")
        if kind not in USER_TYPES:
            raise UsageError(
                f"{path} holds {kind!r} credentials, not a person's sign-in",
                hint="use `credplugin google-service-account` for service accounts",
            )
        credentials = credentials_from_info(
            info, path, scopes, user_scopes=scopes, token_uri=self.options.get("token_uri")
        )
        with GoogleTransport(ctx.timeout) as request:
            try:
                refresh(credentials, request, f"refresh of the sign-in in {path}", secrets)
            except UpstreamError as exc:
                if "invalid_grant" in exc.message or "reauth" in exc.message.lower():
                    exc.hint = "run `gcloud auth application-default login` again"
                raise
        who = (
            _email(getattr(credentials, "id_token", None))
            or info.get("account")
            or f"ADC user of OAuth client {info.get('client_id')}"
        )
        return to_credential(credentials, ctx.now(), f"{who} ({path})")

    # -- our own sign-in -------------------------------------------------------------------

    def _login_session(self, ctx: FetchContext, scopes: list[str]) -> Credential:
        client_id = self.options.get("client_id")
        if not client_id:
            raise UsageError(
                "--login needs --client-id (and --client-secret) of a Desktop-app OAuth client",
                hint="create one under APIs & Services > Credentials in the Google Cloud console",
            )
        client_secret = str(self.options.get("client_secret") or "")
        token_uri = str(self.options.get("token_uri") or GOOGLE_TOKEN_URI)
        previous = dict(ctx.previous.refresh) if ctx.previous is not None else {}
        refresh_token = previous.get("refreshToken")
        account = previous.get("account")
        if isinstance(refresh_token, str) and previous.get("clientId") == client_id:
            renewed = self._renew(ctx, scopes, client_id, client_secret, token_uri, previous)
            if renewed is not None:
                return renewed
            refresh_token = None  # dead: never stored again
        ctx.before_login("no stored Google sign-in works")
        ctx.prompter.require_person("signing in to Google")
        answer = login(
            ctx,
            client_id=str(client_id),
            client_secret=client_secret,
            auth_uri=str(self.options.get("auth_uri") or GOOGLE_AUTH_URI),
            token_uri=token_uri,
            scopes=scopes,
        )
        refresh_token = answer.get("refresh_token") or refresh_token
        account = _email(answer.get("id_token")) or account
        if not refresh_token:
            log.warn("Google returned no refresh token: the next token will need a new sign-in")
        now = ctx.now()
        lifetime = answer.get("expires_in")
        expires_at = now + (900 if lifetime is None else bounds.lifetime(lifetime, "expires_in"))
        material = {"clientId": client_id, "account": account}
        if refresh_token:
            material["refreshToken"] = refresh_token
        return Credential(
            str(answer["access_token"]),
            issued_at=now,
            expires_at=expires_at,
            identity=f"{account or 'Google user'} (client {client_id})",
            refresh=material,
        )

    def _renew(
        self,
        ctx: FetchContext,
        scopes: list[str],
        client_id: str,
        client_secret: str,
        token_uri: str,
        previous: dict[str, Any],
    ) -> Credential | None:
        """A token from the stored refresh token; None when Google no longer honours it."""
        info = {
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": previous["refreshToken"],
            "type": "authorized_user",
        }
        credentials = credentials_from_info(
            info, "the cache", scopes, user_scopes=scopes, token_uri=token_uri
        )
        secrets = secret_strings(info)
        with GoogleTransport(ctx.timeout) as request:
            try:
                credentials.refresh(request)
            except exceptions.RefreshError as exc:
                error = google_error(exc, request, "refresh of the Google sign-in", secrets)
                if "invalid_grant" not in error.message:
                    raise error from None
                if not ctx.interactive:
                    raise InteractionRequired(
                        f"{error.message}; a new sign-in needs a person",
                        hint=f"run `{ctx.prompter.terminal_command}` in a terminal",
                    ) from None
                log.notice(f"{error.message}; signing in again")
                return None
            except Exception as exc:
                raise google_error(exc, request, "refresh of the Google sign-in", secrets) from None
        account = previous.get("account")
        material = {
            "clientId": client_id,
            "account": account,
            # Google keeps refresh tokens; an endpoint that rotates them gets its new one kept.
            "refreshToken": credentials.refresh_token or previous["refreshToken"],
        }
        identity = f"{account or 'Google user'} (client {client_id})"
        return to_credential(credentials, ctx.now(), identity, material)


# -- the loopback sign-in --------------------------------------------------------------------


def login(
    ctx: FetchContext,
    *,
    client_id: str,
    client_secret: str,
    auth_uri: str,
    token_uri: str,
    scopes: list[str],
) -> dict[str, Any]:
    """Authorization code + PKCE on a loopback redirect; the token endpoint's answer."""
    state, verifier = pkce.random_value(), pkce.new_verifier()
    # Any free port: Google accepts every loopback port for a Desktop-app client.
    with LoopbackRedirect(["127.0.0.1:0"], state) as listener:
        redirect_uri = f"http://{listener.host}:{listener.port}/"
        query = urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": " ".join(scopes),
                "state": state,
                "code_challenge": pkce.challenge(verifier),
                "code_challenge_method": "S256",
                # A refresh token, and a fresh one even when this client was approved before.
                "access_type": "offline",
                "prompt": "consent",
            }
        )
        url = f"{auth_uri}{'&' if '?' in auth_uri else '?'}{query}"
        # webbrowser may wait for the browser it starts: never on our thread.
        open_url(url, ctx.prompter, command=None, skip=False, background=True)
        code = listener.wait(LOGIN_WAIT_SECONDS)
    return _exchange(ctx, token_uri, client_id, client_secret, code, redirect_uri, verifier)


def _exchange(
    ctx: FetchContext,
    token_uri: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    if client_secret:
        form["client_secret"] = client_secret
    with GuardedSession(ctx.timeout) as session:
        response = oauth.request(session, "POST", token_uri, timeout=ctx.timeout, data=form)
    answer = oauth.json_body(response)
    if response.status_code != 200:
        reason = oauth.refusal("sign-in: the code", response.status_code, answer, form.values())
        hint = None
        if "client" in reason and not client_secret:
            hint = "pass --client-secret: Google requires it for Desktop-app clients"
        raise UpstreamError(reason, hint=hint)
    if not isinstance(answer.get("access_token"), str):
        raise UpstreamError("sign-in: the token endpoint's answer held no access token")
    return answer


def _rfc3339(stamp: str, now: float) -> float:
    """gcloud's token_expiry (2026-12-03T08:33:30Z, maybe with fractions) in Unix seconds."""
    try:
        parsed = time.strptime(stamp.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise UpstreamError(f"gcloud's token_expiry {stamp!r} is not a time") from None
    return bounds.seconds(calendar.timegm(parsed), "gcloud's token_expiry", low=now - 86400)


def _email(id_token: Any) -> str | None:
    if not isinstance(id_token, str):
        return None
    email = decode_jwt_claims(id_token).get("email")
    return email if isinstance(email, str) else None
