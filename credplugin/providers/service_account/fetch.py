"""Reading the token: on every call, bounded, never following a FIFO into a hang."""

from __future__ import annotations

import os
import stat

from credplugin import bounds
from credplugin.credential import Credential
from credplugin.errors import UpstreamError, UsageError, os_reason
from credplugin.providers import base
from credplugin.providers.base import FetchContext
from credplugin.providers.service_account import IN_CLUSTER_TOKEN_FILE
from credplugin.tokens import decode_jwt_claims

MAX_TOKEN_BYTES = 64 * 1024


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        token_env = self.options.get("token_env")
        token_file = self.options.get("token_file")
        if token_env and token_file:
            raise UsageError("--token-file and --token-env exclude each other; pass one")
        if token_env:
            token, source = os.environ.get(token_env, "").strip(), f"${token_env}"
            if not token:
                raise UpstreamError(
                    f"environment variable {token_env} is not set or empty",
                    hint=f"export {token_env} with the service-account token, or use --token-file",
                )
        else:
            path = token_file or IN_CLUSTER_TOKEN_FILE
            token, source = _read_token_file(path, in_cluster=not token_file), path
        if not token.isascii() or not token.isprintable() or " " in token:
            raise UpstreamError(f"{source} does not hold a bearer token (unexpected characters)")

        claims = decode_jwt_claims(token)
        expires_at = _claim_time(claims, "exp", source)
        now = ctx.now()
        if expires_at is not None and expires_at <= now:
            minutes = (now - expires_at) / 60
            raise UpstreamError(
                f"the service-account token in {source} expired {minutes:.0f} minutes ago",
                hint="the kubelet rotates projected tokens; check the volume mount, "
                "or issue a new token with `kubectl create token`",
            )
        subject = claims.get("sub")
        return Credential(
            token,
            expires_at=expires_at,
            issued_at=_claim_time(claims, "iat", source),
            identity=subject if isinstance(subject, str) else None,
        )


def _read_token_file(path: str, *, in_cluster: bool) -> str:
    try:
        # O_NONBLOCK: a FIFO in its place fails below instead of blocking kubectl forever.
        # Symlinks are followed: projected tokens are `token -> ..data/token`.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UpstreamError(f"service-account token file {path} is not a regular file")
            data = os.read(fd, MAX_TOKEN_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        why = os_reason(exc)
        hint = (
            "not running in a pod? pass --token-file PATH or --token-env VAR"
            if in_cluster
            else "check the path and its permissions"
        )
        message = f"cannot read service-account token file {path}: {why}"
        raise UpstreamError(message, hint=hint) from exc
    if len(data) > MAX_TOKEN_BYTES:
        raise UpstreamError(f"{path} is too large to be a service-account token")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise UpstreamError(f"{path} does not hold a bearer token (not ASCII text)") from None
    if not token:
        raise UpstreamError(f"service-account token file {path} is empty")
    return token


def _claim_time(claims: dict[str, object], name: str, source: str) -> float | None:
    """A time claim when the token has one; a token whose claim is not a time is refused."""
    value = claims.get(name)
    return None if value is None else bounds.seconds(value, f"the {name} claim of {source}")
