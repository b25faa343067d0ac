"""Server-side EKS bearer-token verification, as done by ``aws-iam-authenticator``, for tests.

:class:`EksTokenVerifier` applies the ``Verify`` rules V1-V17 of
``/work/shared/reference/protocol.md`` section 2.5 with the authenticator's messages.  The
STS round trip (V18-V21) is replaced by a local emulation of what STS does with the presigned
``GetCallerIdentity`` URL, because moto checks no signatures:

* the access key in ``X-Amz-Credential`` must belong to a registered :class:`AwsPrincipal`
  (else ``InvalidClientTokenId``), and ``X-Amz-Security-Token`` must equal its session token
  (or be absent when it has none);
* the credential scope must be ``<X-Amz-Date day>/<host region>/sts/aws4_request`` (the global
  host ``sts.amazonaws.com`` signs for ``us-east-1``);
* the SigV4 query-string signature is recomputed over ``GET /`` with the headers the
  authenticator sends -- ``host`` and ``x-k8s-aws-id: <this verifier's cluster id>`` -- and the
  hex SHA-256 of the empty body as payload hash (:data:`PAYLOAD_HASH`, checked against the
  golden vector).  So a token signed for another cluster fails with a signature mismatch,
  which is how STS binds a token to its cluster.

STS failures are reported as the authenticator reports a non-200 answer:
``sts getCallerIdentity failed: error from AWS (expected 200, got 403) on <region> endpoint.
Body: {"Error":{"Code":"SignatureDoesNotMatch","Message":"signature mismatch: ..."}, ...}``.
Then V22/V23 (canonical ARN, user id / session name) run on the principal's ARN and user id.

:func:`presign_token` builds a token the way botocore / aws-cli do (stdlib only); it
reproduces the golden vector of protocol.md 2.1 byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

__all__ = [
    "CLUSTER_ID_HEADER",
    "EMPTY_PAYLOAD_SHA256",
    "MAX_TOKEN_BYTES",
    "PAYLOAD_HASH",
    "PRESIGN_WINDOW_SECONDS",
    "TOKEN_PREFIX",
    "AwsPrincipal",
    "EksTokenVerifier",
    "Identity",
    "TokenRejected",
    "canonicalize_arn",
    "presign_token",
]

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_BYTES = 4096
#: STS accepts a presigned GetCallerIdentity URL for 15 minutes, whatever X-Amz-Expires says.
PRESIGN_WINDOW_SECONDS = 15 * 60
CLUSTER_ID_HEADER = "x-k8s-aws-id"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
#: Payload hash in the canonical request.  botocore's SigV4QueryAuth (not the S3 variant) hashes
#: the empty GET body; the golden vector only verifies with this value (not UNSIGNED-PAYLOAD).
PAYLOAD_HASH = EMPTY_PAYLOAD_SHA256

_FORMAT_PREFIX = "input token was not properly formatted: "
_STS_PREFIX = "sts getCallerIdentity failed: "
_ALGORITHM = "AWS4-HMAC-SHA256"
_DATE_LAYOUT = "20060102T150405Z"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_GLOBAL_HOST = "sts.amazonaws.com"
_WHITELIST = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
_REGION_FORMAT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_HEX = frozenset("0123456789abcdefABCDEF")
_INT64_MAX = 2**63 - 1
_ARN_PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
)

Kind = Literal["format", "sts", "other"]


class TokenRejected(Exception):
    """A token failed verification; ``str(exc)`` is the authenticator's error text.

    ``kind`` is ``"format"`` (FormatError, V1-V17), ``"sts"`` (STSError: the emulated STS
    answer or V22/V23) or ``"other"`` (plain errors, e.g. an unknown verifier partition).
    ``aws_code`` is the emulated STS error code (``SignatureDoesNotMatch``, ...), if any.
    """

    def __init__(self, message: str, *, kind: Kind = "format", aws_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind: Kind = kind
        self.aws_code = aws_code


@dataclass(frozen=True)
class AwsPrincipal:
    """Credentials STS knows, and what GetCallerIdentity answers for them."""

    access_key_id: str
    secret_access_key: str
    #: GetCallerIdentity ``Arn``, e.g. ``arn:aws:sts::123456789012:assumed-role/admin/sess``.
    arn: str
    account: str
    #: GetCallerIdentity ``UserId``, e.g. ``AROAEXAMPLE:sess`` or ``AIDAEXAMPLE``.
    user_id: str
    session_token: str | None = None
    #: Epoch seconds after which STS answers ``ExpiredToken`` (temporary credentials).
    expires_at: float | None = None

    def __repr__(self) -> str:  # keep secrets out of assertion output and logs
        return (
            f"AwsPrincipal(access_key_id={self.access_key_id!r}, arn={self.arn!r}, "
            f"account={self.account!r}, user_id={self.user_id!r}, "
            f"session_token={'<set>' if self.session_token else None})"
        )


@dataclass(frozen=True)
class Identity:
    """What ``Verify`` returns on success (aws-iam-authenticator ``token.Identity``)."""

    arn: str
    canonical_arn: str
    account_id: str
    user_id: str
    session_name: str
    access_key_id: str
    sts_endpoint: str


def _format_error(message: str) -> TokenRejected:
    return TokenRejected(_FORMAT_PREFIX + message, kind="format")


def _sts_error(message: str) -> TokenRejected:
    return TokenRejected(_STS_PREFIX + message, kind="sts")


def _go_quote(text: str) -> str:
    """Roughly Go's ``%q``: double quotes, backslash escapes, ``\\x`` for bytes."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 0xDC80 <= code <= 0xDCFF:  # a raw byte smuggled in by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code > 0x7F and not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# -- V3: base64.RawURLEncoding --------------------------------------------------------------

_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _decode_raw_url_base64(data: str) -> bytes:
    """Go's ``base64.RawURLEncoding.DecodeString``: no padding, CR/LF skipped.

    Error offsets count bytes, as Go's ``CorruptInputError`` does.
    """
    kept = bytearray()
    last = 0
    for index, byte in enumerate(data.encode("utf-8", "surrogatepass")):
        if byte in (0x0D, 0x0A):
            continue
        if byte not in _B64URL:  # includes '=': RawURLEncoding has no padding character
            raise ValueError(f"illegal base64 data at input byte {index}")
        kept.append(byte)
        last = index
    if len(kept) % 4 == 1:
        raise ValueError(f"illegal base64 data at input byte {last}")
    try:
        return base64.urlsafe_b64decode(bytes(kept) + b"=" * (-len(kept) % 4))
    except binascii.Error as exc:  # pragma: no cover - the alphabet was checked above
        raise ValueError(f"illegal base64 data: {exc}") from None


# -- V4: net/url.Parse (the parts that matter here) -----------------------------------------


@dataclass(frozen=True)
class _URL:
    scheme: str
    host: str
    path: str
    raw_query: str


class _URLError(ValueError):
    pass


def _go_unescape(text: str, *, query: bool, what: str = "URL escape") -> str:
    """``net/url`` unescaping: ``%XX`` must be valid hex; ``+`` is a space in queries."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # '%'
            pair = raw[i + 1 : i + 3]
            if len(pair) < 2 or not all(chr(b) in _HEX for b in pair):
                bad = raw[i : i + 3].decode("utf-8", "surrogateescape")
                raise _URLError(f"invalid {what} {_go_quote(bad)}")
            out.append(int(pair, 16))
            i += 3
        elif byte == 0x2B and query:  # '+'
            out.append(0x20)
            i += 1
        else:
            out.append(byte)
            i += 1
    return out.decode("utf-8", "surrogateescape")


_HOST_EXTRA_CHARS = frozenset("-._~!$&'()*+,;=:[]<>\"")


def _parse_host(host: str) -> str:
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise _URLError("missing ']' in host")
        colon_port = host[end + 1 :]
    else:
        colon = host.rfind(":")
        colon_port = host[colon:] if colon >= 0 else ""
    if colon_port and (colon_port[0] != ":" or not all(c in "0123456789" for c in colon_port[1:])):
        raise _URLError(f"invalid port {_go_quote(colon_port)} after host")
    for ch in host:
        if ch.isascii() and not ch.isalnum() and ch not in _HOST_EXTRA_CHARS and ch != "%":
            raise _URLError(f"invalid character {_go_quote(ch)} in host name")
    return _go_unescape(host, query=False)


def _parse_url(raw: str) -> _URL:
    """``url.Parse`` for absolute URLs; raises ``ValueError('parse "<raw>": <reason>')``."""
    try:
        return _parse_url_inner(raw)
    except _URLError as exc:
        raise ValueError(f"parse {_go_quote(raw)}: {exc}") from None


def _parse_url_inner(raw: str) -> _URL:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise _URLError("net/url: invalid control character in URL")
    rest, _, fragment = raw.partition("#")
    _go_unescape(fragment, query=False)
    scheme = ""
    for index, ch in enumerate(rest):
        if ch.isascii() and ch.isalpha():
            continue
        if ch.isascii() and (ch.isdigit() or ch in "+-."):
            if index == 0:
                break
            continue
        if ch == ":":
            if index == 0:
                raise _URLError("missing protocol scheme")
            scheme, rest = rest[:index].lower(), rest[index + 1 :]
        break
    if rest.endswith("?") and rest.count("?") == 1:
        rest, raw_query = rest[:-1], ""
    else:
        rest, _, raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:  # opaque URL such as "https:foo": no host, no path
            return _URL(scheme, "", "", raw_query)
        if ":" in rest.split("/", 1)[0]:
            raise _URLError("first path segment in URL cannot contain colon")
    host = ""
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        host = _parse_host(authority[authority.rfind("@") + 1 :])
    return _URL(scheme, host, _go_unescape(rest, query=False), raw_query)


def _parse_query(raw_query: str) -> dict[str, list[str]]:
    """``url.ParseQuery``; raises ValueError on a bad escape or a raw ``;``."""
    values: dict[str, list[str]] = {}
    error: str | None = None
    for part in raw_query.split("&"):
        if ";" in part:
            error = error or "invalid semicolon separator in query"
            continue
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            key = _go_unescape(key, query=True)
            value = _go_unescape(value, query=True)
        except _URLError as exc:
            error = error or str(exc)
            continue
        values.setdefault(key, []).append(value)
    if error is not None:
        raise ValueError(error)
    return values


# -- V13 / V15: strconv.Atoi and time.Parse ----------------------------------------------------


def _go_atoi(text: str) -> tuple[int, bool]:
    """``strconv.Atoi``: (value, ok); out-of-range values clamp like Go's."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return 0, False
    value = int(text)
    if value > _INT64_MAX:
        return _INT64_MAX, False
    if value < -_INT64_MAX - 1:
        return -_INT64_MAX - 1, False
    return value, True


def _parse_amz_date(value: str) -> datetime.datetime:
    """``time.Parse("20060102T150405Z", value)``; ValueError carries Go's message."""

    def cannot(rest: str, elem: str) -> ValueError:
        return ValueError(
            f"parsing time {_go_quote(value)} as {_go_quote(_DATE_LAYOUT)}: "
            f"cannot parse {_go_quote(rest)} as {_go_quote(elem)}"
        )

    def out_of_range(what: str) -> ValueError:
        return ValueError(f"parsing time {_go_quote(value)}: {what} out of range")

    rest = value
    numbers: list[int] = []
    limits = {"01": (1, 12, "month"), "15": (0, 23, "hour"), "04": (0, 59, "minute")}
    limits["05"] = (0, 59, "second")
    for elem in ("2006", "01", "02", "T", "15", "04", "05", "Z"):
        if elem in ("T", "Z"):
            if not rest.startswith(elem):
                raise cannot(rest, elem)
            rest = rest[1:]
            continue
        chunk = rest[: len(elem)]
        if len(chunk) < len(elem) or not all(c in "0123456789" for c in chunk):
            raise cannot(rest, elem)
        number = int(chunk)
        rest = rest[len(elem) :]
        if elem in limits:
            low, high, what = limits[elem]
            if not low <= number <= high:
                raise out_of_range(what)
        if elem == "05":  # Go accepts fractional seconds after a seconds field
            fraction = re.match(r"[.,][0-9]+", rest)
            if fraction is not None:
                rest = rest[fraction.end() :]
        numbers.append(number)
    if rest:
        raise ValueError(f"parsing time {_go_quote(value)}: extra text: {_go_quote(rest)}")
    year, month, day, hour, minute, second = numbers
    try:
        return datetime.datetime(
            year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc
        )
    except ValueError:
        raise out_of_range("day") from None


def _go_time_string(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


# -- V6: STS host validation -------------------------------------------------------------------


@dataclass(frozen=True)
class _SdkPartition:
    name: str
    region_regex: re.Pattern[str]
    dns_suffix: str
    dual_stack_suffix: str
    global_region: str


def _partition(name: str, regex: str, dns: str, dual: str) -> _SdkPartition:
    return _SdkPartition(name, re.compile(regex, re.ASCII), dns, dual, f"{name}-global")


# The AWS SDK's partitions.json (botocore 1.44 copy), as used by the SDK v2 STS resolver.
_SDK_PARTITIONS: tuple[_SdkPartition, ...] = (
    _partition("aws", r"^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$", "amazonaws.com", "api.aws"),
    _partition("aws-cn", r"^cn\-\w+\-\d+$", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
    _partition("aws-eusc", r"^eusc\-(de)\-\w+\-\d+$", "amazonaws.eu", "api.amazonwebservices.eu"),
    _partition("aws-iso", r"^us\-iso\-\w+\-\d+$", "c2s.ic.gov", "api.aws.ic.gov"),
    _partition("aws-iso-b", r"^us\-isob\-\w+\-\d+$", "sc2s.sgov.gov", "api.aws.scloud"),
    _partition("aws-iso-e", r"^eu\-isoe\-\w+\-\d+$", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
    _partition("aws-iso-f", r"^us\-isof\-\w+\-\d+$", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
    _partition("aws-us-gov", r"^us\-gov\-\w+\-\d+$", "amazonaws.com", "api.aws"),
)

# aws-iam-authenticator pkg/endpoints: GetSTSPartitionDomain / GetSTSDualStackPartitionDomain.
_AUTHENTICATOR_DOMAINS: dict[str, tuple[str, str]] = {
    "aws": ("amazonaws.com", "api.aws"),
    "aws-cn": ("amazonaws.com.cn", "api.amazonwebservices.com.cn"),
    "aws-us-gov": ("amazonaws.com", "api.aws"),
    "aws-iso": ("c2s.ic.gov", ""),
    "aws-iso-b": ("sc2s.sgov.gov", ""),
    "aws-iso-e": ("cloud.adc-e.uk", ""),
    "aws-iso-f": ("csp.hci.ic.gov", ""),
}


def _sdk_partition_for(region: str) -> _SdkPartition:
    for partition in _SDK_PARTITIONS:
        if region == partition.global_region:
            return partition
    for partition in _SDK_PARTITIONS:
        if partition.region_regex.match(region):
            return partition
    return _SDK_PARTITIONS[0]  # unknown regions resolve in the commercial format


def _resolved_sts_hosts(region: str) -> list[str]:
    """Hosts the SDK v2 STS endpoint rules give for (FIPS, dual-stack) in {T,F}^2."""
    p = _sdk_partition_for(region)
    fips = (
        f"sts.{region}.amazonaws.com"
        if p.name == "aws-us-gov"
        else f"sts-fips.{region}.{p.dns_suffix}"
    )
    plain = _GLOBAL_HOST if region == "aws-global" else f"sts.{region}.{p.dns_suffix}"
    return [
        f"sts-fips.{region}.{p.dual_stack_suffix}",
        fips,
        f"sts.{region}.{p.dual_stack_suffix}",
        plain,
    ]


def _sts_region(host: str) -> str:
    """``getStsRegion``: ``global`` for the global host, else the second label."""
    if not host:
        raise ValueError("host is empty")
    labels = host.split(".")
    if len(labels) < 3:
        raise ValueError(f"invalid host format: {host}")
    if host == _GLOBAL_HOST:
        return "global"
    return labels[1]


def _signing_region(host: str) -> str:
    region = _sts_region(host)
    return "us-east-1" if region == "global" else region


# -- V22 / V23 -------------------------------------------------------------------------------


def canonicalize_arn(arn: str) -> tuple[str, str]:
    """``arn.Canonicalize``: (principal type, canonical ARN); raises ValueError.

    Types: ``ROLE``, ``USER``, ``ROOT``, ``FEDERATED_USER``, ``ASSUMED_ROLE``.  An STS
    assumed-role ARN maps to its IAM role (``arn:<p>:iam::<acct>:role/<path/role>``).
    """
    if not arn.startswith("arn:"):
        raise ValueError(f"arn '{arn}' is invalid: 'arn: invalid prefix'")
    sections = arn.split(":", 5)
    if len(sections) != 6:
        raise ValueError(f"arn '{arn}' is invalid: 'arn: not enough sections'")
    _, partition, service, _region, account, resource = sections
    if partition not in _ARN_PARTITIONS:
        raise ValueError(f"arn '{arn}' does not have a recognized partition")
    parts = resource.split("/")
    if service == "sts":
        if parts[0] == "federated-user":
            return "FEDERATED_USER", arn
        if parts[0] == "assumed-role":
            if len(parts) < 3:
                raise ValueError(f"assumed-role arn '{arn}' does not have a role")
            role = "/".join(parts[1:-1])
            return "ASSUMED_ROLE", f"arn:{partition}:iam::{account}:role/{role}"
        raise ValueError(f"unrecognized resource {resource} for service sts")
    if service == "iam":
        kinds = {"role": "ROLE", "user": "USER", "root": "ROOT"}
        if parts[0] in kinds:
            return kinds[parts[0]], arn
        raise ValueError(f"unrecognized resource {resource} for service iam")
    raise ValueError(f"service {service} in arn {arn} is not a valid service for identities")


# -- SigV4 -----------------------------------------------------------------------------------


def _sigv4_encode(text: str) -> str:
    """URI-encode per SigV4: everything but ``A-Za-z0-9-_.~`` as ``%XX`` (upper-case)."""
    return quote(text.encode("utf-8", "surrogateescape"), safe="-_.~")


def _canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((_sigv4_encode(k), _sigv4_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _sigv4_signature(
    *,
    secret: str,
    amz_date: str,
    scope: str,
    canonical_query: str,
    headers: list[tuple[str, str]],
    signed_headers: str,
) -> str:
    canonical_headers = "".join(f"{name}:{' '.join(value.split())}\n" for name, value in headers)
    canonical_request = "\n".join(
        ["GET", "/", canonical_query, canonical_headers, signed_headers, PAYLOAD_HASH]
    )
    string_to_sign = "\n".join(
        [_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    day, region, service, terminator = scope.split("/")
    key = _hmac(("AWS4" + secret).encode("utf-8"), day)
    for part in (region, service, terminator):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def presign_token(
    cluster_id: str,
    principal: AwsPrincipal,
    region: str,
    *,
    now: float,
    host: str | None = None,
    expires: int = 60,
) -> str:
    """A token as aws-cli / botocore build it (query order included).

    ``host`` defaults to the regional host ``sts.<region>.<partition DNS suffix>``; the
    credential scope uses the host's signing region (``us-east-1`` for ``sts.amazonaws.com``).
    """
    if host is None:
        host = f"sts.{region}.{_sdk_partition_for(region).dns_suffix}"
    moment = datetime.datetime.fromtimestamp(int(now), tz=datetime.timezone.utc)
    amz_date = moment.strftime(_AMZ_DATE_FORMAT)
    scope = f"{amz_date[:8]}/{_signing_region(host)}/sts/aws4_request"
    params = [
        ("Action", "GetCallerIdentity"),
        ("Version", "2011-06-15"),
        ("X-Amz-Algorithm", _ALGORITHM),
        ("X-Amz-Credential", f"{principal.access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", f"host;{CLUSTER_ID_HEADER}"),
    ]
    if principal.session_token is not None:
        params.append(("X-Amz-Security-Token", principal.session_token))
    signature = _sigv4_signature(
        secret=principal.secret_access_key,
        amz_date=amz_date,
        scope=scope,
        canonical_query=_canonical_query(params),
        headers=[("host", host), (CLUSTER_ID_HEADER, cluster_id)],
        signed_headers=f"host;{CLUSTER_ID_HEADER}",
    )
    query = "&".join(f"{_sigv4_encode(k)}={_sigv4_encode(v)}" for k, v in params)
    url = f"https://{host}/?{query}&X-Amz-Signature={signature}"
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


# -- the verifier ----------------------------------------------------------------------------

_STS_MESSAGES = {
    "InvalidClientTokenId": "The security token included in the request is invalid.",
    "ExpiredToken": "The security token included in the request is expired",
    "MissingAuthenticationToken": "Request is missing Authentication Token",
    "SignatureDoesNotMatch": (
        "signature mismatch: The request signature we calculated does not match the signature "
        "you provided. Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    ),
}


class EksTokenVerifier:
    """aws-iam-authenticator's ``tokenVerifier`` with STS emulated locally (thread-safe)."""

    def __init__(
        self,
        cluster_id: str,
        partition: str = "aws",
        region: str = "",
        principals: Iterable[AwsPrincipal] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster_id = cluster_id
        self.partition = partition
        self.region = region
        self._clock = clock
        self._lock = threading.Lock()
        self._principals: dict[str, AwsPrincipal] = {}
        self._valid_hosts: set[str] = set()
        for principal in principals:
            self.add_principal(principal)

    def add_principal(self, p: AwsPrincipal) -> None:
        """Let STS know these credentials (replaces a principal with the same key id)."""
        with self._lock:
            self._principals[p.access_key_id] = p

    def remove_principal(self, access_key_id: str) -> None:
        """Forget credentials: their tokens now fail with ``InvalidClientTokenId``."""
        with self._lock:
            self._principals.pop(access_key_id, None)

    @property
    def cached_hosts(self) -> frozenset[str]:
        """STS hosts that passed V6 (rule V6f: they skip the checks next time)."""
        with self._lock:
            return frozenset(self._valid_hosts)

    def authenticator(self, prefix: str = "aws:") -> Callable[[str], str]:
        """A ``FakeAPIServer.add_authenticator`` callable: ``prefix + canonical ARN``."""

        def authenticate(token: str) -> str:
            return prefix + self.verify(token).canonical_arn

        return authenticate

    def verify(self, token: str) -> Identity:
        """Verify a ``k8s-aws-v1.`` token; raises :class:`TokenRejected`."""
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:  # V1
            raise _format_error("token is too large")
        if not token.startswith(TOKEN_PREFIX):  # V2
            raise _format_error(f'token is missing expected "{TOKEN_PREFIX}" prefix')
        try:  # V3
            decoded = _decode_raw_url_base64(token[len(TOKEN_PREFIX) :])
        except ValueError as exc:
            raise _format_error(str(exc)) from None
        try:  # V4
            url = _parse_url(decoded.decode("utf-8", "surrogateescape"))
        except ValueError as exc:
            raise _format_error(str(exc)) from None
        if url.scheme != "https":  # V5
            raise _format_error(f"unexpected scheme {_go_quote(url.scheme)} in pre-signed URL")
        self._verify_host(url.host)  # V6
        if url.path != "/":  # V7
            raise _format_error("unexpected path in pre-signed URL")
        try:  # V8
            query = _parse_query(url.raw_query)
        except ValueError:
            raise _format_error("malformed query parameter") from None
        seen: set[str] = set()
        for key in query:  # V9
            if key.lower() in seen:
                raise _format_error(f"duplicate query parameter found: {_go_quote(key)}")
            seen.add(key.lower())
        lower: dict[str, str] = {}
        for key, values in query.items():  # V10
            if key.lower() not in _WHITELIST:
                raise _format_error(f"non-whitelisted query parameter {_go_quote(key)}")
            if len(values) != 1:
                raise _format_error("query parameter with multiple values not supported")
            lower[key.lower()] = values[0]
        if lower.get("action", "") != "GetCallerIdentity":  # V11
            raise _format_error("unexpected action parameter in pre-signed URL")
        signed = lower.get("x-amz-signedheaders", "").split(";")
        if not any(h.lower() == CLUSTER_ID_HEADER for h in signed):  # V12
            raise _format_error(
                f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL"
            )
        expires, ok = _go_atoi(lower.get("x-amz-expires", ""))
        if not ok or not 0 <= expires <= 900:  # V13
            raise _format_error(f"invalid X-Amz-Expires parameter in pre-signed URL: {expires}")
        date = lower.get("x-amz-date", "")
        if not date:  # V14
            raise _format_error("X-Amz-Date parameter must be present in pre-signed URL")
        access_key_id = lower.get("x-amz-credential", "").split("/")[0]  # V17
        try:  # V15
            signed_at = _parse_amz_date(date)
        except ValueError as exc:
            raise _format_error(
                f"error parsing X-Amz-Date parameter {date} into format {_DATE_LAYOUT}: {exc}"
            ) from None
        now = self._clock()
        if now > signed_at.timestamp() + PRESIGN_WINDOW_SECONDS:  # V16
            raise _format_error(
                "X-Amz-Date parameter is expired (15 minute expiration) "
                + _go_time_string(signed_at)
            )
        principal = self._emulate_sts(url.host, query, signed_at, now)  # instead of V18-V21
        return self._identity(principal, access_key_id, url.host)  # V22, V23

    # -- V6 -------------------------------------------------------------------------------

    def _verify_host(self, host: str) -> None:
        with self._lock:
            if host in self._valid_hosts:  # V6f
                return
            self._verify_host_format(host)
            self._valid_hosts.add(host)

    def _verify_host_format(self, host: str) -> None:
        try:
            host_region = _sts_region(host)  # V6a
        except ValueError as exc:
            raise _format_error(
                f"could not parse region for pre-signed URL {host}, {exc}"
            ) from None
        if host_region == "global":  # V6b
            if self.partition == "aws":
                return
            raise _format_error(f"global endpoint unsupported in partition {self.partition}")
        if not _REGION_FORMAT.fullmatch(host_region):  # V6c
            raise _format_error(f"invalid region identifier format provided: {host_region}")
        if host not in _resolved_sts_hosts(host_region):  # V6d
            if host in self._default_hostnames():
                return
            raise _format_error(f"unexpected hostname {_go_quote(host)} in pre-signed URL")
        labels = host.split(".")  # V6e
        if len(labels) < 4:
            raise TokenRejected(f"invalid host format, too few labels: {host}", kind="other")
        if self.partition not in _AUTHENTICATOR_DOMAINS:
            raise TokenRejected(f"partition {self.partition} not valid", kind="other")
        domain, dual_stack_domain = _AUTHENTICATOR_DOMAINS[self.partition]
        actual = ".".join(labels[2:])
        if actual != domain and actual != dual_stack_domain:
            raise _format_error(f"partition {{{self.partition}}} does not support hostname {host}")

    def _default_hostnames(self) -> list[str]:
        """``getDefaultHostNamesForRegion(partition, region, "sts")`` of the verifier."""
        domains = _AUTHENTICATOR_DOMAINS.get(self.partition)
        if domains is None or not _REGION_FORMAT.fullmatch(self.region):
            return []
        return [f"sts.{self.region}.{domain}" for domain in domains if domain]

    # -- the STS stand-in -----------------------------------------------------------------

    def _sts_reject(self, host: str, code: str, message: str | None = None) -> TokenRejected:
        body = json.dumps(
            {
                "Error": {
                    "Code": code,
                    "Message": message or _STS_MESSAGES[code],
                    "Type": "Sender",
                },
                "RequestId": str(uuid.uuid4()),
            },
            separators=(",", ":"),
        )
        region = _sts_region(host)
        return TokenRejected(
            f"{_STS_PREFIX}error from AWS (expected 200, got 403) on {region} endpoint. "
            f"Body: {body}",
            kind="sts",
            aws_code=code,
        )

    def _emulate_sts(
        self, host: str, query: dict[str, list[str]], signed_at: datetime.datetime, now: float
    ) -> AwsPrincipal:
        # STS reads its auth parameters case-sensitively; V9/V10 left one value per key.
        params = {key: values[0] for key, values in query.items()}
        required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
        if not any(key in params for key in required):
            raise self._sts_reject(host, "MissingAuthenticationToken")
        missing = [
            key for key in (*required, "X-Amz-Date", "X-Amz-SignedHeaders") if not params.get(key)
        ]
        if missing:
            raise self._sts_reject(
                host,
                "IncompleteSignature",
                "AWS query-string parameters must include 'X-Amz-Algorithm', "
                "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. "
                "Re-examine the query-string parameters.",
            )
        if params["X-Amz-Algorithm"] != _ALGORITHM:
            raise self._sts_reject(
                host,
                "IncompleteSignature",
                f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'",
            )
        credential = params["X-Amz-Credential"]
        scope_parts = credential.split("/")
        if len(scope_parts) != 5:
            raise self._sts_reject(
                host,
                "IncompleteSignature",
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                f"keyid/date/region/service/term, got '{credential}'",
            )
        key_id, day, region, service, terminator = scope_parts
        with self._lock:
            principal = self._principals.get(key_id)
        if principal is None:
            raise self._sts_reject(host, "InvalidClientTokenId")
        sent_token = params.get("X-Amz-Security-Token")
        if principal.session_token is None:
            if sent_token is not None:
                raise self._sts_reject(host, "InvalidClientTokenId")
        elif sent_token is None or not hmac.compare_digest(
            sent_token.encode("utf-8", "surrogateescape"), principal.session_token.encode("utf-8")
        ):
            raise self._sts_reject(host, "InvalidClientTokenId")
        if principal.expires_at is not None and now >= principal.expires_at:
            raise self._sts_reject(host, "ExpiredToken")
        amz_date = params["X-Amz-Date"]
        if terminator != "aws4_request":
            raise self._sts_reject(
                host,
                "SignatureDoesNotMatch",
                f"Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not '{terminator}'.",
            )
        if service != "sts":
            raise self._sts_reject(
                host,
                "SignatureDoesNotMatch",
                f"Credential should be scoped to correct service: 'sts'. not '{service}'.",
            )
        if region != _signing_region(host):
            raise self._sts_reject(
                host,
                "SignatureDoesNotMatch",
                f"Credential should be scoped to a valid region, not '{region}'.",
            )
        if day != amz_date[:8]:
            raise self._sts_reject(
                host,
                "SignatureDoesNotMatch",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{day}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        signed_headers = params["X-Amz-SignedHeaders"]
        names = [name.lower() for name in signed_headers.split(";")]
        if "host" not in names:
            raise self._sts_reject(
                host,
                "SignatureDoesNotMatch",
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            )
        if signed_at.timestamp() > now + PRESIGN_WINDOW_SECONDS:
            latest = datetime.datetime.fromtimestamp(
                now + PRESIGN_WINDOW_SECONDS, datetime.timezone.utc
            )
            raise self._sts_reject(
                host,
                "SignatureDoesNotMatch",
                f"Signature not yet current: {amz_date} is still later than "
                f"{latest.strftime(_AMZ_DATE_FORMAT)}",
            )
        # The request the authenticator sends (V18): these headers, nothing else.
        sent_headers = {
            "host": host,
            CLUSTER_ID_HEADER: self.cluster_id,
            "accept": "application/json",
            "accept-encoding": "gzip",
            "user-agent": "Go-http-client/1.1",
        }
        expected = _sigv4_signature(
            secret=principal.secret_access_key,
            amz_date=amz_date,
            scope=f"{day}/{region}/{service}/{terminator}",
            canonical_query=_canonical_query(
                (k, v) for k, v in params.items() if k != "X-Amz-Signature"
            ),
            headers=[(name, sent_headers.get(name, "")) for name in names],
            signed_headers=signed_headers,
        )
        given = params["X-Amz-Signature"].encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            raise self._sts_reject(host, "SignatureDoesNotMatch")
        return principal

    @staticmethod
    def _identity(principal: AwsPrincipal, access_key_id: str, host: str) -> Identity:
        try:
            principal_type, canonical = canonicalize_arn(principal.arn)  # V22
        except ValueError as exc:
            raise _sts_error(str(exc)) from None
        user_id, session_name = principal.user_id, ""
        if principal_type not in ("USER", "ROOT", "FEDERATED_USER"):  # V23
            parts = principal.user_id.split(":")
            if len(parts) != 2:
                raise _sts_error(f"malformed UserID {_go_quote(principal.user_id)}")
            user_id, session_name = parts
        return Identity(
            arn=principal.arn,
            canonical_arn=canonical,
            account_id=principal.account,
            user_id=user_id,
            session_name=session_name,
            access_key_id=access_key_id,
            sts_endpoint=host,
        )
