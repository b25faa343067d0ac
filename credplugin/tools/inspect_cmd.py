"""`credplugin inspect [TOKEN | -]`: what a token says, for a person debugging.

Decodes only: never verifies a signature, never sends the token anywhere. Accepts a JWT, an
EKS token (`k8s-aws-v1.`), or a whole ExecCredential document, so that
`credplugin aws ... | credplugin inspect` works.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click

from credplugin.errors import os_reason
from credplugin.log import printable
from credplugin.tokens import decode_jwt_claims
from credplugin.tools.durations import duration, relative

AWS_PREFIX = "k8s-aws-v1."
# A presigned GetCallerIdentity is honoured for 15 minutes after X-Amz-Date.
AWS_PRESIGN_WINDOW = 15 * 60
TIME_CLAIMS = ("iat", "nbf", "exp", "auth_time")


# Exit code for a token that decoded but has expired: scripts can tell it from an error.
EXPIRED = 6
MAX_INPUT_BYTES = 1 << 20


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("given", metavar="[TOKEN | FILE | -]", required=False)
def inspect(given: str | None) -> None:
    """Decode a token for a person: a JWT's header and claims with readable times, or an
    EKS token's host, region, access key id and validity window. Never verifies a signature,
    never sends the token anywhere.

    The token is TOKEN itself, the content of FILE when TOKEN names an existing file, or stdin
    with `-` or a pipe (an ExecCredential document too: `credplugin aws ... | credplugin
    inspect`).

    \b
    Exit codes:
      0  decoded; not expired (or it states no expiry)
      2  nothing to decode (empty input, an unreadable file, JSON that is no ExecCredential)
      6  decoded, and EXPIRED
    """
    if given is None or given == "-":
        if given is None and sys.stdin.isatty():
            raise click.UsageError("give a TOKEN or FILE, or pipe one (or an ExecCredential) in")
        given = sys.stdin.read(MAX_INPUT_BYTES)
    elif os.path.isfile(given):
        try:
            with open(given, encoding="utf-8", errors="replace") as handle:
                given = handle.read(MAX_INPUT_BYTES)
        except OSError as exc:
            raise click.UsageError(f"cannot read {given}: {os_reason(exc)}") from None
    if not given.strip():
        raise click.UsageError("the input is empty: nothing to decode")
    token = _unwrap(given.strip())
    now = time.time()
    if token.startswith(AWS_PREFIX):
        lines = describe_aws(token, now)
    elif token.count(".") == 2 and decode_jwt_claims(token):
        lines = describe_jwt(token, now)
    else:
        lines = [f"opaque token, {len(token)} characters (not a JWT or an EKS token)"]
    # A token's claims are anyone's text: no control character reaches the terminal.
    click.echo("\n".join(printable(line) for line in lines))
    if "EXPIRED" in lines:
        raise SystemExit(EXPIRED)


def _unwrap(text: str) -> str:
    """The token inside an ExecCredential document, or the text itself."""
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise click.UsageError("input looks like JSON but does not parse") from None
        status = doc.get("status") if isinstance(doc, dict) else None
        if isinstance(status, dict) and isinstance(status.get("token"), str):
            return str(status["token"])
        if isinstance(status, dict) and status.get("clientCertificateData"):
            raise click.UsageError("this ExecCredential holds a client certificate, not a token")
        raise click.UsageError("JSON input is not an ExecCredential with a token")
    return text


def when(timestamp: float, now: float) -> str:
    try:
        stamp = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return f"{stamp} ({relative(timestamp - now)})"


def describe_jwt(token: str, now: float) -> list[str]:
    header = _segment(token.split(".")[0])
    claims = decode_jwt_claims(token)
    lines = ["JWT (decoded, not verified)", "header:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in header.items()]
    lines.append("claims:")
    for key, value in claims.items():
        if key in TIME_CLAIMS and isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(f"  {key}: {value} = {when(float(value), now)}")
        else:
            lines.append(f"  {key}: {json.dumps(value)}")
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        left = float(exp) - now
        if left > 0:
            lines.append(f"time left: {duration(left)}")
        else:
            lines += [f"expired {duration(-left)} ago", "EXPIRED"]
    return lines


def _segment(part: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def describe_aws(token: str, now: float) -> list[str]:
    body = token[len(AWS_PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ["EKS token whose body is not base64url: malformed"]
    if not url.startswith("https://"):
        return ["EKS token whose body is not an https URL: malformed"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    credential = query.get("X-Amz-Credential", "")
    access_key, _, scope = credential.partition("/")
    scope_parts = scope.split("/")
    region = scope_parts[1] if len(scope_parts) > 1 else "?"
    lines = [
        "EKS token (presigned STS GetCallerIdentity; decoded, not verified)",
        f"  host: {parts.hostname}",
        f"  region: {region}",
        f"  access key id: {access_key or '?'}",
        f"  action: {query.get('Action', '?')}",
        f"  signed headers: {query.get('X-Amz-SignedHeaders', '?')}",
        f"  X-Amz-Expires: {query.get('X-Amz-Expires', 'missing')}",
        "  session token: "
        + (
            f"present ({len(query['X-Amz-Security-Token'])} chars)"
            if "X-Amz-Security-Token" in query
            else "none (long-term keys)"
        ),
    ]
    if "x-k8s-aws-id" not in query.get("X-Amz-SignedHeaders", "").split(";"):
        lines.append("  WARNING: x-k8s-aws-id is not signed; EKS will refuse this token")
    date = query.get("X-Amz-Date", "")
    try:
        signed = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        lines.append(f"  signed at: unparsable X-Amz-Date {date!r}")
        return lines
    lines.append(f"  signed at: {when(signed.timestamp(), now)}")
    valid_until = signed.timestamp() + AWS_PRESIGN_WINDOW
    lines.append(f"  valid until: {when(valid_until, now)} (STS honours 15 minutes)")
    if valid_until <= now:
        lines.append("EXPIRED")
    lines.append(f"  token length: {len(token)} bytes (EKS refuses more than 4096)")
    return lines
