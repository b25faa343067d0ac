"""Google credentials for the machine's identity, optionally impersonating (see the
package docstring)."""

from __future__ import annotations

import os
from typing import Any

from google.auth import impersonated_credentials
from google.auth.compute_engine import _metadata
from google.auth.compute_engine import credentials as compute_engine_credentials

from credplugin.cloud.google_auth import (
    GoogleTransport,
    credentials_from_info,
    describe,
    google_error,
    metadata_credentials,
    parse_scopes,
    read_credentials_file,
    refresh,
    secret_strings,
    to_credential,
)
from credplugin.credential import Credential
from credplugin.errors import UpstreamError, UsageError
from credplugin.google_adc import DEFAULT_SCOPES, adc_path
from credplugin.providers import base
from credplugin.providers.base import FetchContext


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        scopes = parse_scopes(self.options.get("scopes"), DEFAULT_SCOPES)
        chain = _impersonation_chain(self.options.get("impersonate_service_account"))
        with GoogleTransport(ctx.timeout) as request:
            source, where, secrets = self._source(request, ctx, scopes)
            credentials, what = source, f"token from {where}"
            if chain:
                credentials = self._impersonated(request, source, chain, scopes)
                what = f"impersonation of {chain[-1]}"
            refresh(credentials, request, what, secrets)
            return to_credential(credentials, ctx.now(), describe(credentials, where, chain))

    # -- where the identity comes from -----------------------------------------------------

    def _source(
        self, request: Any, ctx: FetchContext, scopes: list[str]
    ) -> tuple[Any, str, list[str]]:
        """(google-auth credentials, where they came from, their secret strings)."""
        key_file = self.options.get("key_file")
        explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if key_file:
            path, where = str(key_file), f"key file {key_file}"
        elif explicit:
            path, where = explicit, f"$GOOGLE_APPLICATION_CREDENTIALS ({explicit})"
        else:
            path, where = adc_path(os.environ), ""
            if not os.path.isfile(path):
                credentials = metadata_credentials(request, ctx.timeout, scopes)
                if credentials is None:
                    raise UpstreamError(
                        "no Google credentials found: no --key-file, no "
                        f"$GOOGLE_APPLICATION_CREDENTIALS, no ADC file at {path}, and no "
                        "metadata server answered",
                        hint="pass --key-file, or run `gcloud auth application-default login`",
                    )
                return credentials, "the metadata server", []
            where = f"gcloud ADC ({path})"
        info = read_credentials_file(path)
        credentials = credentials_from_info(info, path, scopes, user_scopes=None)
        return credentials, where, secret_strings(info)

    def _impersonated(self, request: Any, source: Any, chain: list[str], scopes: list[str]) -> Any:
        target = chain[-1]
        _settle_universe_domain(source, request)
        universe = getattr(source, "universe_domain", None) or "googleapis.com"
        default = f"https://iamcredentials.{universe}/"
        endpoint = str(self.options.get("iam_endpoint") or default).rstrip("/")
        try:
            return impersonated_credentials.Credentials(
                source_credentials=source,
                target_principal=target,
                target_scopes=scopes,
                delegates=[f"projects/-/serviceAccounts/{d}" for d in chain[:-1]] or None,
                iam_endpoint_override=(
                    f"{endpoint}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
                ),
            )
        except Exception as exc:  # google-auth raises several kinds for a bad source
            raise google_error(exc, request, f"impersonation of {target}", []) from None


def _settle_universe_domain(source: Any, request: Any) -> None:
    """Metadata credentials look up their universe domain when impersonation asks for it,
    with a transport of their own (no --timeout); ask now, through ours."""
    if isinstance(source, compute_engine_credentials.Credentials):
        try:
            domain = _metadata.get_universe_domain(request)
        except Exception as exc:
            raise google_error(exc, request, "the metadata server", []) from None
        source._universe_domain = domain
        source._universe_domain_cached = True


def _impersonation_chain(value: Any) -> list[str]:
    if not value:
        return []
    chain = [p.strip() for p in str(value).split(",") if p.strip()]
    for email in chain:
        if "@" not in email:
            raise UsageError(
                f"--impersonate-service-account: {email!r} is not a service account email"
            )
    return chain
