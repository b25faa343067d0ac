"""Entra ID tokens from azure-identity credentials (see the package docstring)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from typing import Any

import azure.identity as identity
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport

from credplugin import log
from credplugin.cloud.azure_sdk import route_sdk_logs
from credplugin.credential import Credential
from credplugin.entra import AKS_SERVER_ID, authority_host, is_public_cloud
from credplugin.errors import UpstreamError, UsageError
from credplugin.flows.http import GuardedSession
from credplugin.providers import base
from credplugin.providers.base import FetchContext
from credplugin.tokens import decode_jwt_claims

# Values that are secret whatever the credential: scrubbed from every message and log line.
SECRET_ENV = (
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "IDENTITY_HEADER",
)
# azure-core retries a failed request this many times (its default is 10, with back-off).
RETRY_TOTAL = 1


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        kind = str(self.options.get("credential") or "default")
        scope = str(self.options.get("scope") or f"{AKS_SERVER_ID}/.default")
        secrets = environment_secrets()
        route_sdk_logs(secrets)
        credential = self._credential(kind, ctx)
        now = ctx.now()
        try:
            access = credential.get_token(scope)
        except ClientAuthenticationError as exc:
            raise UpstreamError(
                f"azure ({kind}): no token for {scope}: {_sdk_message(exc, secrets)}",
                hint=_HINTS.get(kind),
            ) from None
        except AzureError as exc:
            raise UpstreamError(
                f"azure ({kind}): the token request failed: {_sdk_message(exc, secrets)}",
                hint="check the network path to the authority host, or raise --timeout",
            ) from None
        except ValueError as exc:  # malformed tenant ids, certificates, authority URLs
            raise UsageError(f"azure ({kind}): {_sdk_message(exc, secrets)}") from None
        finally:
            _close(credential)
        return Credential(
            access.token,
            issued_at=now,
            expires_at=float(access.expires_on),
            identity=token_identity(access.token, kind),
        )

    def _credential(self, kind: str, ctx: FetchContext) -> Any:
        tenant = self.options.get("tenant_id") or None
        client = self.options.get("client_id") or None
        timeout = ctx.timeout
        # Bounds for every request azure-core sends (the SDK default would retry 10 times).
        http: dict[str, Any] = {
            "connection_timeout": timeout,
            "read_timeout": timeout,
            "retry_total": RETRY_TOTAL,
            # Every answer bounded in size and time, no redirect of a token request.
            "transport": RequestsTransport(
                session=GuardedSession(timeout),
                session_owner=False,
                connection_timeout=timeout,
                read_timeout=timeout,
            ),
        }
        authority: dict[str, Any] = {}
        if self.options.get("authority_host"):
            host = authority_host(self.options["authority_host"])
            authority["authority"] = host
            if not is_public_cloud(host):
                authority["disable_instance_discovery"] = True
        environ = os.environ
        try:
            if kind == "cli":
                if shutil.which("az") is None:
                    raise UsageError(
                        "azure --credential cli runs the Azure CLI, but `az` is not on PATH",
                        hint="install the Azure CLI and run `az login`, or choose another "
                        "--credential",
                    )
                return identity.AzureCliCredential(
                    tenant_id=tenant or "", process_timeout=max(1, int(timeout))
                )
            if kind == "managed-identity":
                return identity.ManagedIdentityCredential(client_id=client, **http)
            if kind == "workload-identity":
                token_file = _required_env("AZURE_FEDERATED_TOKEN_FILE", kind)
                return identity.WorkloadIdentityCredential(
                    tenant_id=_required(tenant, "--tenant-id (or AZURE_TENANT_ID)", kind),
                    client_id=_required(client, "--client-id (or AZURE_CLIENT_ID)", kind),
                    token_file_path=token_file,
                    **authority,
                    **http,
                )
            if kind == "client-secret":
                secret = _required_env("AZURE_CLIENT_SECRET", kind)
                return identity.ClientSecretCredential(
                    _required(tenant, "--tenant-id (or AZURE_TENANT_ID)", kind),
                    _required(client, "--client-id (or AZURE_CLIENT_ID)", kind),
                    secret,
                    **authority,
                    **http,
                )
            if kind == "client-certificate":
                path = _required_env("AZURE_CLIENT_CERTIFICATE_PATH", kind)
                chain = environ.get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "").lower()
                return identity.CertificateCredential(
                    _required(tenant, "--tenant-id (or AZURE_TENANT_ID)", kind),
                    _required(client, "--client-id (or AZURE_CLIENT_ID)", kind),
                    certificate_path=path,
                    password=environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None,
                    send_certificate_chain=chain in ("1", "true"),
                    **authority,
                    **http,
                )
            # environment and default read AZURE_TENANT_ID / AZURE_CLIENT_ID themselves:
            # options given on the command line or in the cluster config take their place.
            if tenant:
                os.environ["AZURE_TENANT_ID"] = tenant
            if client:
                os.environ["AZURE_CLIENT_ID"] = client
            if kind == "environment":
                return identity.EnvironmentCredential(**authority, **http)
            return identity.DefaultAzureCredential(
                exclude_interactive_browser_credential=True,
                process_timeout=max(1, int(timeout)),
                **authority,
                **http,
            )
        except ValueError as exc:
            raise UsageError(
                f"azure ({kind}): {_sdk_message(exc, environment_secrets())}"
            ) from None


_HINTS = {
    "default": "configure one credential of the chain (AZURE_CLIENT_ID + AZURE_TENANT_ID + "
    "AZURE_CLIENT_SECRET or a certificate, workload identity, managed identity, `az login`), "
    "or pick one with --credential",
    "cli": "run `az login` (with --tenant for another tenant), then retry",
    "environment": "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
    "(or AZURE_CLIENT_CERTIFICATE_PATH)",
    "managed-identity": "run where a managed identity is assigned, and pass --client-id for "
    "a user-assigned one",
    "workload-identity": "check the federated credential of the app registration and the "
    "service account's token file (AZURE_FEDERATED_TOKEN_FILE)",
    "client-secret": "check the tenant, the client id and AZURE_CLIENT_SECRET",
    "client-certificate": "check the tenant, the client id and AZURE_CLIENT_CERTIFICATE_PATH",
}


def _required(value: str | None, what: str, kind: str) -> str:
    if not value:
        raise UsageError(f"azure --credential {kind} needs {what}")
    return value


def _required_env(name: str, kind: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise UsageError(
            f"azure --credential {kind} needs the environment variable {name}",
            hint="secrets are read from the environment only, never from the command line",
        )
    return value


def _close(credential: Any) -> None:
    close = getattr(credential, "close", None)
    if close is not None:
        try:
            close()
        except Exception as exc:  # closing a transport must never hide the token or an error
            log.debug(f"closing the azure-identity credential failed: {type(exc).__name__}")


def environment_secrets() -> list[str]:
    found = [os.environ.get(name, "") for name in SECRET_ENV]
    token_file = os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if token_file:
        try:
            with open(token_file, encoding="utf-8", errors="replace") as handle:
                found.append(handle.read(65536).strip())
        except OSError:
            pass
    return [s for s in found if len(s) >= 4]


def token_identity(token: str, fallback: str) -> str:
    """Who an Entra access token stands for, from its (unverified) claims."""
    claims = decode_jwt_claims(token)
    who = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
    if not who and claims.get("appid"):
        who = f"app {claims['appid']}"
    if not who and claims.get("oid"):
        who = f"object {claims['oid']}"
    tenant = claims.get("tid")
    text = str(who or fallback)
    return f"{text} (tenant {tenant})" if tenant else text


# How azure-identity words "this credential found nothing to use" (not a failure).
_UNAVAILABLE = (
    "unavailable",
    "not found on path",
    "not installed",
    "could not be found",
    "requires the",
)


def _sdk_message(exc: BaseException, secrets: Iterable[str]) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if str(message).startswith("DefaultAzureCredential failed"):
        # One paragraph per credential of the chain. Keep those that found an identity and
        # failed with it (a wrong secret, a timeout); when none did, one summary line says
        # what to do, and -v has the whole story.
        log.info(log.redact(" ".join(str(message).split()), secrets))
        failed = [
            " ".join(line.split())
            for line in str(message).splitlines()
            if ":" in line
            and line.startswith(("\t", " "))
            and not any(word in line for word in _UNAVAILABLE)
        ]
        if failed:
            return log.redact("; ".join(failed), secrets)
        return (
            "no credential of DefaultAzureCredential's chain found an identity (environment, "
            "workload identity, managed identity, Azure CLI, ... were tried; -v lists why)"
        )
    # azure-identity appends troubleshooting links and repeats the chain on several lines.
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("To mitigate", "Visit http"))]
    return log.redact(" ".join(lines), secrets)
