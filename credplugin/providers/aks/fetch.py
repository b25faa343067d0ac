"""MSAL sign-ins for AKS: silent refresh from the stored MSAL cache, device code or
browser (see the package docstring)."""

from __future__ import annotations

import time
from typing import Any

import msal
import requests
from msal.oauth2cli.oauth2 import BrowserInteractionTimeoutError

from credplugin import bounds, log
from credplugin.cloud.azure_sdk import route_sdk_logs
from credplugin.credential import Credential
from credplugin.entra import AKS_CLIENT_ID, AKS_SERVER_ID, authority_host, is_public_cloud
from credplugin.errors import LoginAbandoned, Timeout, UpstreamError
from credplugin.flows.http import GuardedSession
from credplugin.providers import base
from credplugin.providers.aks import BROWSER_LOGIN_SECONDS, DEVICE_CODE_SECONDS
from credplugin.providers.base import FetchContext

# Errors after which only a new login helps: the refresh token is dead or needs more proof.
RELOGIN_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})
# What the device-code poll last saw when MSAL stops at the code's expiry.
UNANSWERED_ERRORS = frozenset(
    {"authorization_pending", "slow_down", "expired_token", "code_expired"}
)


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        tenant = str(self.options["tenant_id"])  # required: the invocation checked
        server_id = str(self.options.get("server_id") or AKS_SERVER_ID)
        scopes = [f"{server_id}/.default"]
        hint = self.options.get("login_hint") or None
        route_sdk_logs()
        http_cache: dict[str, Any] = {}
        cache = msal.SerializableTokenCache()
        blob = ctx.previous.refresh.get("msalCache") if ctx.previous is not None else None
        if isinstance(blob, str):
            try:
                cache.deserialize(blob)
            except ValueError:
                log.info("the stored MSAL token cache is unreadable; signing in anew")
                cache = msal.SerializableTokenCache()

        app = self._app(cache, tenant, ctx, http_cache)
        result: dict[str, Any] | None = None
        # The entry holds only logins made for this key; one as someone other than the
        # --login-hint (it was warned about) is still this key's session.
        account = None
        if isinstance(blob, str):
            accounts = self._call(app.get_accounts, hint) or self._call(app.get_accounts)
            account = _pick_account(accounts, tenant)
        if account is not None:
            # Only a cached token that is too old, or --force-refresh, brings us here: MSAL's
            # own access token would be the same one, so go straight to the refresh token.
            result = self._call(
                app.acquire_token_silent_with_error, scopes, account, force_refresh=True
            )
            if result is not None and "error" in result:
                if result.get("error") not in RELOGIN_ERRORS:
                    raise UpstreamError(f"Entra ID refused the refresh: {_describe(result)}")
                ended = (
                    f"the Entra ID session of {account.get('username') or 'this account'} "
                    f"has ended ({_describe(result)})"
                )
                ctx.before_login(ended)
                log.notice(f"{ended}; signing in again")
                cache = msal.SerializableTokenCache()
                app = self._app(cache, tenant, ctx, http_cache)
                result = None
        if result is None:
            ctx.before_login("no refresh token for this account")
            result = self._login(app, scopes, hint, ctx)
        if "access_token" not in result:
            raise UpstreamError(f"Entra ID sign-in failed: {_describe(result)}")

        now = ctx.now()
        claims = result.get("id_token_claims") or {}
        username = claims.get("preferred_username") or (account or {}).get("username")
        if hint and username and str(username).lower() != str(hint).lower():
            log.warn(f"signed in as {username}, not as {hint} (--login-hint)")
        tid = claims.get("tid") or tenant
        return Credential(
            result["access_token"],
            issued_at=now,
            expires_at=now + bounds.lifetime(result.get("expires_in"), "Entra's expires_in"),
            identity=f"{username or 'unknown user'} (tenant {tid})",
            refresh={"msalCache": cache.serialize()},
        )

    # -- MSAL ------------------------------------------------------------------------------

    def _app(self, cache: Any, tenant: str, ctx: FetchContext, http_cache: dict[str, Any]) -> Any:
        host = authority_host(self.options.get("authority_host"))
        return self._call(
            msal.PublicClientApplication,
            str(self.options.get("client_id") or AKS_CLIENT_ID),
            authority=f"{host}/{tenant}",
            token_cache=cache,
            # Every answer bounded in size and time, no redirect of a token request.
            http_client=GuardedSession(ctx.timeout),
            # Off the public cloud, instance discovery would ask login.microsoftonline.com.
            instance_discovery=None if is_public_cloud(host) else False,
            # Shared by the apps of one fetch: the tenant's metadata is fetched once.
            http_cache=http_cache,
        )

    def _login(
        self, app: Any, scopes: list[str], hint: str | None, ctx: FetchContext
    ) -> dict[str, Any]:
        if self.options.get("login") == "interactive":
            return self._browser_login(app, scopes, hint, ctx)
        return self._device_code_login(app, scopes, ctx)

    def _device_code_login(self, app: Any, scopes: list[str], ctx: FetchContext) -> dict[str, Any]:
        flow = self._call(app.initiate_device_flow, scopes)
        if "user_code" not in flow:
            raise UpstreamError(f"Entra ID refused to start a device-code login: {_describe(flow)}")
        ctx.prompter.tell(str(flow.get("message") or _default_message(flow)))
        # MSAL polls until the code's own expiry; never longer than our deadline allows.
        limit = time.time() + DEVICE_CODE_SECONDS
        flow["expires_at"] = min(float(flow.get("expires_at") or limit), limit)
        result: dict[str, Any] = self._call(app.acquire_token_by_device_flow, flow)
        error = result.get("error")
        if error in UNANSWERED_ERRORS:
            raise LoginAbandoned(
                f"nobody signed in with the device code {flow['user_code']} before it expired",
                hint=f"run `{ctx.prompter.terminal_command}` in a terminal and sign in",
            )
        if error == "authorization_declined":
            raise LoginAbandoned(
                "the device-code sign-in was declined",
                hint=f"run `{ctx.prompter.terminal_command}` in a terminal and sign in",
            )
        return result

    def _browser_login(
        self, app: Any, scopes: list[str], hint: str | None, ctx: FetchContext
    ) -> dict[str, Any]:
        ctx.prompter.require_person("an Entra ID sign-in in a browser")

        def launching(**_: Any) -> None:
            ctx.prompter.tell("opening a browser for the Entra ID sign-in...")

        def no_browser(uri: str) -> None:
            ctx.prompter.tell(f"no browser could be started; open this address to sign in: {uri}")

        try:
            result: dict[str, Any] = self._call(
                app.acquire_token_interactive,
                scopes,
                login_hint=hint,
                timeout=BROWSER_LOGIN_SECONDS,
                on_before_launching_ui=launching,
                auth_uri_callback=no_browser,
            )
        except BrowserInteractionTimeoutError:
            raise LoginAbandoned(
                f"the browser sign-in was not finished within {BROWSER_LOGIN_SECONDS}s",
                hint=f"run `{ctx.prompter.terminal_command}` again and finish the sign-in",
            ) from None
        return result

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """An MSAL call, its failures turned into one-line errors without secrets."""
        try:
            return fn(*args, **kwargs)
        except msal.exceptions.MsalServiceError as exc:
            raise UpstreamError(f"Entra ID failed: {log.redact(str(exc))}") from None
        except requests.Timeout:
            raise Timeout(
                "Entra ID did not answer in time",
                hint="check the network path to the authority host, or raise --timeout",
            ) from None
        except requests.RequestException as exc:
            # urllib3 wraps the cause (refused, unresolvable, TLS) in a long retry message.
            cause = exc.args[0] if exc.args else exc
            reason = getattr(cause, "reason", None) or cause
            raise UpstreamError(
                f"cannot reach Entra ID: {type(exc).__name__}: {log.redact(str(reason))}",
                hint="check the network path to the authority host (--authority-host)",
            ) from None
        except ValueError as exc:  # MSAL: bad authority, tenant or discovery document
            raise UpstreamError(
                f"Entra ID authority unusable: {log.redact(str(exc))}",
                hint="check --tenant-id and --authority-host",
            ) from None


def _pick_account(accounts: list[dict[str, Any]], tenant: str) -> dict[str, Any] | None:
    """The account signed in for this tenant (the cache entry holds only this key's logins).

    MSAL records the tenant's GUID as the account's realm, so a tenant given as a domain
    (contoso.onmicrosoft.com) or an alias matches no realm; the entry's only account is
    then the one, since the cache key already separates tenants."""
    if not accounts:
        return None
    same = [a for a in accounts if str(a.get("realm") or "").lower() == tenant.lower()]
    if same:
        return same[0]
    return accounts[0] if not _is_guid(tenant) else None


def _is_guid(text: str) -> bool:
    parts = text.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdefABCDEF" for c in "".join(parts)
    )


def _describe(result: dict[str, Any]) -> str:
    error = result.get("error") or "no token in the answer"
    description = str(result.get("error_description") or "").splitlines()
    first = description[0].strip() if description else ""
    return log.redact(f"{error}: {first}" if first else str(error))


def _default_message(flow: dict[str, Any]) -> str:
    return (
        f"To sign in, open {flow.get('verification_uri')} and enter the code {flow['user_code']}."
    )
