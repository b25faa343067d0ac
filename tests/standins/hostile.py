"""A hostile identity provider / HTTP endpoint on 127.0.0.1, to prove the plugin trusts nothing
an endpoint sends (DESIGN.md "Trust boundaries": bounded sizes, bounded time, no cross-origin
redirect of a POST, control characters escaped before they reach a terminal).

:class:`HostileIdP` speaks enough OpenID Connect for the oidc provider to reach it:

* ``GET  /.well-known/openid-configuration`` (``issuer`` is :attr:`HostileIdP.url`, exactly);
* ``GET  /jwks`` (one RS256 key, ``kid`` :attr:`HostileIdP.kid`);
* ``POST /token``: ``client_credentials``, ``refresh_token`` (rotated),
  ``urn:ietf:params:oauth:grant-type:device_code`` and ``authorization_code`` (PKCE S256);
  client authentication by HTTP Basic or ``client_secret`` in the form;
* ``POST /device_authorization`` (RFC 8628; codes are approved at once unless told otherwise);
* ``GET  /authorize``: signs :attr:`HostileIdP.user` in at once and redirects to a loopback
  ``redirect_uri`` with ``code`` and ``state``.

When nothing is configured it is a well-behaved issuer: ID tokens and access tokens are RS256
JWTs signed with the key published in the JWKS. Per endpoint, a test makes it misbehave::

    idp.misbehave(Endpoint.TOKEN, Redirect(307))            # every token request
    idp.misbehave(Endpoint.DISCOVERY, HugeBody(), times=1)  # the next discovery request only
    idp.misbehave(ALL_ENDPOINTS, SlowLoris(interval=0.5))

The behaviours (frozen dataclasses; :data:`Behaviour` is their union):

1. :class:`HugeBody`: the endpoint's real answer padded to ``size`` bytes (default 1 GiB),
   generated on the fly, chunked / with a true Content-Length / ended by closing;
2. :class:`SlowLoris`: the headers, then one byte every ``interval`` seconds, forever or for
   ``total`` bytes (optionally the headers dripped too);
3. :class:`Stall`: reads the request and never answers (:attr:`HostileIdP.stall_connections`
   stalls before the TLS handshake and the request instead);
4. :class:`Redirect`: 301/302/303/307/308 to another origin (:attr:`HostileIdP.other`, a
   second listener with the same scheme that records everything it receives), to plain http
   (:attr:`HostileIdP.plain`: https -> http when the stand-in has TLS), to the same origin, or
   to the same URL (a loop);
5. :class:`ControlChars`: error answers (``error``, ``error_description``), device answers
   (``user_code``, ``verification_uri``, ``verification_uri_complete``, ``message``),
   discovery ``issuer`` and JWKS ``kid`` carrying :data:`HOSTILE_TEXT` (ESC sequences, BEL,
   NUL, CR, DEL, C1 CSI and a forged "credplugin: error:" line);
6. :class:`BadNumbers`: ``expires_in`` / ``interval`` in the JSON answer and ``exp`` / ``iat``
   in properly signed ID and access tokens set to any JSON number (1e308, ``10**400`` as an
   integer literal, -5, NaN, Infinity, ``"NaN"``, or :class:`Raw` literal text);
7. :class:`DeepNesting`: ``[`` * 60000 or ``{"a":`` * 60000 as the body;
8. :class:`WellBehaved`: the normal answer (the default);
9. :class:`Canned`: any fixed status, body and headers.

Every request is recorded as a :class:`RecordedRequest` (method, path, headers, body, form):
:attr:`HostileIdP.requests` for the main listener, :attr:`RecordingListener.requests` for
``other`` and ``plain``; :meth:`RecordedRequest.carries` says whether a secret reached it.

Nothing binds anything but 127.0.0.1. :meth:`HostileIdP.stop` ends every drip, stall and
stream at once: it shuts the live connections down and joins their threads.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import http
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .loopback_server import LoopbackHandler, LoopbackHTTPServer, StandIn
from .tls import TLSMaterial

__all__ = [
    "ALL_ENDPOINTS",
    "BAD_NUMBERS",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CONTROL_SEQUENCES",
    "DEVICE_GRANT",
    "GIB",
    "HOSTILE_TEXT",
    "MAX_RECORDED_BODY",
    "MIB",
    "MOVED_PREFIX",
    "OMIT",
    "BadNumbers",
    "Behaviour",
    "Canned",
    "ControlChars",
    "DeepNesting",
    "Endpoint",
    "Framing",
    "HostileIdP",
    "HugeBody",
    "Nesting",
    "Number",
    "Raw",
    "RecordedRequest",
    "RecordingListener",
    "Redirect",
    "RedirectTarget",
    "SlowLoris",
    "Stall",
    "WellBehaved",
]

MIB = 1 << 20
GIB = 1 << 30
#: The default client of :class:`HostileIdP` (a confidential one).
CLIENT_ID = "hostile-client"
CLIENT_SECRET = "hostile-client-secret"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Path prefix of the same-origin redirect target: ``/moved/token`` answers as ``/token`` would.
MOVED_PREFIX = "/moved"
#: At most this much of a request body is read and recorded (the rest closes the connection).
MAX_RECORDED_BODY = MIB

#: The pieces of :data:`HOSTILE_TEXT`, each of which must never reach a terminal raw.
CONTROL_SEQUENCES: tuple[str, ...] = (
    "\x1b[31m",  # CSI: colour
    "\x1b]0;title\x07",  # OSC: set the window title, ended by BEL
    "\x07",  # BEL
    "\x00",  # NUL
    "\r",  # CR: overwrite the line
    "\x7f",  # DEL
    "\x9b",  # C1 CSI (8-bit terminals)
    "\ncredplugin: error: forged line",  # a line that looks like ours
)
#: The text :class:`ControlChars` puts into every field it poisons.
HOSTILE_TEXT = (
    "pwned\x1b[31m red\x1b[0m \x1b]0;title\x07 bell\x07 nul\x00 cr\r del\x7f csi\x9b2J"
    "\ncredplugin: error: forged line"
)


# -- JSON with literals Python would not write ---------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text inserted verbatim where a value goes: ``Raw("1e999")``, ``Raw("-0")``,
    ``Raw('"a\\x1bb"')`` (a string with a raw, unescaped control character)."""

    text: str


class _Omit(enum.Enum):
    OMIT = "omit"


#: A :class:`BadNumbers` value that removes the field instead of setting it.
OMIT: Literal[_Omit.OMIT] = _Omit.OMIT

#: A value :class:`BadNumbers` can put where a number belongs. Python writes ``nan`` as
#: ``NaN``, ``inf`` as ``Infinity`` and ``10**400`` as a 401-digit integer literal.
Number: TypeAlias = int | float | str | Raw

#: The bad numbers worth trying, for parametrised tests.
BAD_NUMBERS: tuple[Number, ...] = (
    1e308,
    10**400,
    -5,
    0,
    "NaN",
    "3600",
    float("nan"),
    float("inf"),
    float("-inf"),
    Raw("1e999"),
)


def dumps(value: Any) -> str:
    """``json.dumps`` (NaN and Infinity allowed, as Python writes them) with :class:`Raw`
    values inserted verbatim."""
    raws: dict[str, str] = {}
    tag = secrets.token_hex(8)

    def swap(item: Any) -> Any:
        if isinstance(item, Raw):
            key = f"\x00raw-{tag}-{len(raws)}\x00"
            raws[json.dumps(key)] = item.text
            return key
        if isinstance(item, Mapping):
            return {str(k): swap(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [swap(v) for v in item]
        return item

    text = json.dumps(swap(value))
    for key, raw in raws.items():
        text = text.replace(key, raw)
    return text


def _raw_string(text: str) -> Raw:
    """A JSON string with only ``"`` and ``\\`` escaped: control characters stay raw."""
    return Raw('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


# -- what a test can ask for -------------------------------------------------------------------


class Endpoint(enum.Enum):
    """The main listener's endpoints (the value is the path)."""

    DISCOVERY = "/.well-known/openid-configuration"
    JWKS = "/jwks"
    TOKEN = "/token"
    DEVICE_AUTHORIZATION = "/device_authorization"
    AUTHORIZE = "/authorize"


ALL_ENDPOINTS: tuple[Endpoint, ...] = tuple(Endpoint)
_BY_PATH = {e.value: e for e in Endpoint}
_METHOD = {
    Endpoint.DISCOVERY: "GET",
    Endpoint.JWKS: "GET",
    Endpoint.TOKEN: "POST",
    Endpoint.DEVICE_AUTHORIZATION: "POST",
    Endpoint.AUTHORIZE: "GET",
}


class Framing(enum.Enum):
    """How a streamed body is delimited."""

    CHUNKED = "chunked"  # Transfer-Encoding: chunked, no Content-Length
    CONTENT_LENGTH = "content-length"  # a true Content-Length
    CLOSE = "close"  # neither: the body ends when the connection closes


class RedirectTarget(enum.Enum):
    OTHER_ORIGIN = "other-origin"  # HostileIdP.other: same scheme and host, another port
    PLAIN_HTTP = "plain-http"  # HostileIdP.plain: http:// (https -> http with TLS)
    SAME_ORIGIN = "same-origin"  # MOVED_PREFIX + the path, answered well-behaved
    LOOP = "loop"  # the very same URL, again and again


class Nesting(enum.Enum):
    ARRAY = "["
    OBJECT = '{"a":'


@dataclass(frozen=True)
class WellBehaved:
    """The normal answer."""


@dataclass(frozen=True)
class HugeBody:
    """The endpoint's real answer (for the token endpoint the grant is processed) with a
    ``"padding"`` string of ``a`` inserted first, so that the body is exactly ``size`` bytes
    and valid JSON only once read to the end. Generated chunk by chunk, never held in memory.
    A ``size`` below the unpadded answer's size cuts the answer short."""

    size: int = GIB
    framing: Framing = Framing.CHUNKED
    chunk_size: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.size < 0 or self.chunk_size <= 0:
            raise ValueError("HugeBody needs size >= 0 and chunk_size > 0")


@dataclass(frozen=True)
class SlowLoris:
    """The status line and headers at once (or dripped too, with ``drip_headers``), then one
    byte of the padded answer (as :class:`HugeBody` builds it) every ``interval`` seconds:
    ``total`` bytes, or forever when ``total`` is None. With ``Framing.CONTENT_LENGTH`` and no
    ``total`` the declared length is 1 GiB. ``status`` is the status line's code (the body is
    the endpoint's real answer, whatever its status). Stopping the stand-in ends the drip."""

    interval: float = 1.0
    total: int | None = None
    framing: Framing = Framing.CLOSE
    drip_headers: bool = False
    status: int = 200

    def __post_init__(self) -> None:
        if self.interval <= 0 or (self.total is not None and self.total < 0):
            raise ValueError("SlowLoris needs interval > 0 and total >= 0")


@dataclass(frozen=True)
class Stall:
    """Read the request, then never answer: until the stand-in stops, or for ``seconds`` and
    then close the connection without a byte."""

    seconds: float | None = None


@dataclass(frozen=True)
class Redirect:
    """Answer with a redirect to ``target`` (the path and query are kept)."""

    status: int = 307
    target: RedirectTarget = RedirectTarget.OTHER_ORIGIN

    def __post_init__(self) -> None:
        if self.status not in (301, 302, 303, 307, 308):
            raise ValueError(f"not a redirect status: {self.status}")


@dataclass(frozen=True)
class ControlChars:
    """Fields poisoned with ``text``: the device authorization endpoint answers 200 with a real
    device code and poisoned ``user_code``, ``verification_uri``,
    ``verification_uri_complete`` and ``message``; discovery answers 200 with a poisoned
    ``issuer``; JWKS answers 200 with a poisoned ``kid``; the token (and any other) endpoint
    answers ``status`` with a poisoned ``error`` and ``error_description``. ``escaped``: the
    JSON is valid (``\\u001b``); otherwise the control characters are raw bytes in the body
    (which strict JSON parsers refuse)."""

    text: str = HOSTILE_TEXT
    status: int = 400
    escaped: bool = True


@dataclass(frozen=True)
class BadNumbers:
    """The real answer with numbers replaced (None: the normal value; :data:`OMIT`: the field
    removed). Token endpoint: ``expires_in`` of the answer, ``exp`` / ``iat`` of the ID token
    and of the access token (both still properly signed). Device authorization endpoint:
    ``expires_in`` and ``interval``."""

    expires_in: Number | _Omit | None = None
    interval: Number | _Omit | None = None
    id_token_exp: Number | _Omit | None = None
    id_token_iat: Number | _Omit | None = None
    access_token_exp: Number | _Omit | None = None
    access_token_iat: Number | _Omit | None = None

    @classmethod
    def everywhere(cls, value: Number | _Omit) -> BadNumbers:
        """``value`` in every field."""
        return cls(value, value, value, value, value, value)


@dataclass(frozen=True)
class DeepNesting:
    """A 200 JSON answer of ``shape`` opened ``depth`` times (closed again with ``closed``,
    which makes it valid JSON nested ``depth`` deep)."""

    depth: int = 60000
    shape: Nesting = Nesting.ARRAY
    closed: bool = False

    def body(self) -> bytes:
        opener: str = self.shape.value
        if not self.closed:
            return (opener * self.depth).encode()
        if self.shape is Nesting.ARRAY:
            return (opener * self.depth + "]" * self.depth).encode()
        return (opener * self.depth + "1" + "}" * self.depth).encode()


@dataclass(frozen=True)
class Canned:
    """A fixed answer."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


#: Any one behaviour.
Behaviour: TypeAlias = (
    WellBehaved
    | HugeBody
    | SlowLoris
    | Stall
    | Redirect
    | ControlChars
    | BadNumbers
    | DeepNesting
    | Canned
)


# -- what the listeners record -----------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived (recorded before any answer, so stalled ones count)."""

    #: "main", "other" or "plain"
    listener: str
    method: str
    #: As sent: path and query.
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: The main listener's endpoint it addressed (None: an unknown path, or another listener).
    endpoint: Endpoint | None = None
    #: The behaviour that answered it ("" on the recording listeners).
    behaviour: str = ""
    time: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def form(self) -> dict[str, str]:
        """The body as an ``application/x-www-form-urlencoded`` form ({} for other types)."""
        kind = (self.header("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return {}
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def carries(self, value: str) -> bool:
        """Whether ``value`` reached this listener anywhere: the path, a header (Basic
        credentials decoded), the body (raw or form-decoded)."""
        if not value:
            raise ValueError("carries() needs a non-empty value")
        text = self.body.decode("utf-8", "replace")
        places = [self.path, unquote_plus(self.path), text, unquote_plus(text)]
        for key, header in self.headers:
            places.append(header)
            scheme, _, credentials = header.partition(" ")
            if key.lower() in ("authorization", "proxy-authorization") and scheme.lower() == (
                "basic"
            ):
                try:
                    decoded = base64.b64decode(credentials.strip()).decode("utf-8", "replace")
                except ValueError:
                    continue
                places += [decoded, unquote_plus(decoded)]
        return any(value in place for place in places)


# -- the servers -------------------------------------------------------------------------------

OwnerT = TypeVar("OwnerT")


class _Server(LoopbackHTTPServer[OwnerT]):
    """LoopbackHTTPServer that knows its live connections and handler threads, so that
    stopping can cut them off (a drip or a stall would otherwise outlive the test)."""

    def __init__(
        self,
        owner: OwnerT,
        handler: type[LoopbackHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._live_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        super().__init__(owner, handler, ssl_context)

    def serve_in_thread(self, name: str | None = None) -> threading.Thread:
        """Like LoopbackHTTPServer's, polling for shutdown every 10 ms: stop() waits for
        three of these, and tests start and stop many stand-ins."""
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True
        )
        thread.start()
        return thread

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = super().get_request()
        with self._live_lock:
            self._connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        with self._live_lock:
            self._handlers.add(thread)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._handlers.discard(threading.current_thread())

    def cut_connections(self) -> None:
        """Shut every live connection down (at the TCP level, under any TLS)."""
        with self._live_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass

    def join_handlers(self, deadline: float) -> None:
        with self._live_lock:
            threads = list(self._handlers)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Base(LoopbackHandler):
    """Request reading, recording, and the answers every listener can give."""

    stopping: threading.Event

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        if length > MAX_RECORDED_BODY:
            self.close_connection = True
        data: bytes = self.rfile.read(min(length, MAX_RECORDED_BODY))
        return data

    def _record(
        self, listener: str, body: bytes, endpoint: Endpoint | None, behaviour: str
    ) -> RecordedRequest:
        return RecordedRequest(
            listener=listener,
            method=self.command,
            path=self.path,
            headers=tuple((k, v) for k, v in self.headers.items()),
            body=body,
            endpoint=endpoint,
            behaviour=behaviour,
        )

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, doc: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._send(status, dumps(doc).encode(), headers=headers)

    @staticmethod
    def _head(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @staticmethod
    def _framing_headers(framing: Framing, length: int | None) -> list[tuple[str, str]]:
        headers = [("Content-Type", "application/json"), ("Connection", "close")]
        if framing is Framing.CHUNKED:
            headers.append(("Transfer-Encoding", "chunked"))
        elif framing is Framing.CONTENT_LENGTH:
            headers.append(("Content-Length", str(GIB if length is None else length)))
        return headers

    def _write_piece(self, data: bytes | memoryview, framing: Framing) -> None:
        if framing is Framing.CHUNKED:
            self.wfile.write(f"{len(data):x}\r\n".encode())
            self.wfile.write(data)
            self.wfile.write(b"\r\n")
        else:
            self.wfile.write(data)

    def _stream(self, status: int, pieces: Iterator[bytes | memoryview], spec: HugeBody) -> None:
        self.close_connection = True
        head = self._head(status, self._framing_headers(spec.framing, spec.size))
        self.wfile.write(head)
        for piece in pieces:
            if self.stopping.is_set():
                return
            if piece:
                self._write_piece(piece, spec.framing)
        if spec.framing is Framing.CHUNKED:
            self.wfile.write(b"0\r\n\r\n")

    def _drip(self, status: int, pieces: Iterator[bytes | memoryview], spec: SlowLoris) -> None:
        self.close_connection = True
        head = self._head(status, self._framing_headers(spec.framing, spec.total))
        if spec.drip_headers:
            for i in range(len(head)):
                if i and self.stopping.wait(spec.interval):
                    return
                self.wfile.write(head[i : i + 1])
        else:
            self.wfile.write(head)
        for piece in pieces:
            for i in range(len(piece)):
                if self.stopping.wait(spec.interval):
                    return
                self._write_piece(piece[i : i + 1], spec.framing)
        if spec.framing is Framing.CHUNKED:
            self.wfile.write(b"0\r\n\r\n")

    def _stall(self, spec: Stall) -> None:
        self.close_connection = True
        self.stopping.wait(spec.seconds)


def _padded(doc: bytes, size: int | None, chunk_size: int) -> Iterator[bytes | memoryview]:
    """``doc`` (a JSON object) with a ``"padding"`` string of ``a`` inserted first: exactly
    ``size`` bytes (cut short when ``size`` is too small for the padding), or endless."""
    prefix = b'{"padding":"'
    inner = doc.strip()[1:].strip()
    tail = b'"}' if inner in (b"}", b"") else b'",' + inner
    chunk = memoryview(b"a" * chunk_size)
    if size is None:
        yield prefix
        while True:
            yield chunk
    if size < len(prefix) + len(tail):
        yield (prefix + tail)[:size]
        return
    yield prefix
    left = size - len(prefix) - len(tail)
    while left > 0:
        piece = chunk[: min(left, chunk_size)]
        left -= len(piece)
        yield piece
    yield tail


class RecordingListener(StandIn):
    """A second origin: records every request it receives (headers and body) and answers each
    with :attr:`answer_status` / :attr:`answer_body` (by default 200 and an attacker's token
    answer, so that a client that follows a redirect here gets something to swallow)."""

    def __init__(self, name: str, tls: TLSMaterial | None, stopping: threading.Event) -> None:
        self.name = name
        self.stopping = stopping
        self.answer_status = 200
        self.answer_body: Mapping[str, Any] = {
            "access_token": "token-from-another-origin",
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._server: _Server[RecordingListener] = _Server(
            self, _RecordingHandler, _server_context(tls) if tls else None
        )
        self.port: int = self._server.server_port
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def carried(self, value: str) -> bool:
        """Whether any request received here carried ``value``."""
        return any(r.carries(value) for r in self.requests)

    def start(self) -> RecordingListener:
        if self._thread is None:
            self._thread = self._server.serve_in_thread(f"hostile-{self.name}-{self.port}")
        return self

    def stop(self) -> None:
        self._halt()
        self._server.join_handlers(time.monotonic() + 2)

    def _halt(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.cut_connections()
        self._server.server_close()

    def _add(self, record: RecordedRequest) -> None:
        with self._lock:
            self._log.append(record)


class _RecordingHandler(_Base):
    server_version = "hostile-recorder/1"
    server: _Server[RecordingListener]

    def setup(self) -> None:
        self.stopping = self.server.owner.stopping
        super().setup()

    def _dispatch(self) -> None:
        owner = self.server.owner
        owner._add(self._record(owner.name, self._read_body(), None, ""))
        self._send_json(owner.answer_status, owner.answer_body)


def _server_context(tls: TLSMaterial) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(tls.server_cert_path), str(tls.server_key_path))
    return context


def _b64_uint(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class _Answer:
    status: int
    doc: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _DeviceCode:
    user_code: str
    shown_user_code: str
    subject: str
    scope: str
    expires_at: float
    approved: bool = False
    denied: bool = False
    redeemed: bool = False
    polls: int = 0


@dataclass
class _AuthCode:
    redirect_uri: str
    challenge: str | None
    nonce: str | None
    scope: str
    subject: str


class HostileIdP(StandIn):
    """The hostile (or, by default, well-behaved) OpenID provider; see the module docstring.

    ``tls``: serve https (the main listener and :attr:`other`) with that material; else http.
    ``client_secret`` None makes a public client. ``key``: an RSA key to sign with (sharing one
    saves the ~70 ms of making one)."""

    def __init__(
        self,
        tls: TLSMaterial | None = None,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str | None = CLIENT_SECRET,
        user: str = "alice@example.test",
        token_lifetime: int = 3600,
        device_interval: int = 1,
        device_expires_in: int = 600,
        auth_methods: Sequence[str] = ("client_secret_basic", "client_secret_post", "none"),
        key: rsa.RSAPrivateKey | None = None,
        behaviours: Mapping[Endpoint, Behaviour] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        #: Who the device and authorize endpoints sign in (``sub`` and ``email``).
        self.user = user
        self.token_lifetime = token_lifetime
        self.device_interval = device_interval
        self.device_expires_in = device_expires_in
        #: Device codes are approved once polled ``device_pending_polls`` times; with
        #: ``device_auto_approve`` False only :meth:`approve` does it.
        self.device_auto_approve = True
        self.device_pending_polls = 0
        #: A refresh answers a new refresh token and revokes the one used.
        self.rotate_refresh_tokens = True
        #: Accept connections and never handshake, read nor answer (until stop).
        self.stall_connections = False
        self.auth_methods = list(auth_methods)
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "hostile-" + secrets.token_hex(4)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._behaviours: dict[Endpoint, tuple[Behaviour, int | None]] = {}
        self._devices: dict[str, _DeviceCode] = {}
        self._refresh: dict[str, tuple[str, str]] = {}  # token -> (subject, scope)
        self._codes: dict[str, _AuthCode] = {}

        self._server: _Server[HostileIdP] = _Server(
            self, _IdPHandler, _server_context(tls) if tls else None
        )
        self.port: int = self._server.server_port
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.issuer = self.url
        self.discovery_url = self.url + Endpoint.DISCOVERY.value
        self.jwks_uri = self.url + Endpoint.JWKS.value
        self.token_endpoint = self.url + Endpoint.TOKEN.value
        self.device_authorization_endpoint = self.url + Endpoint.DEVICE_AUTHORIZATION.value
        self.authorization_endpoint = self.url + Endpoint.AUTHORIZE.value
        #: Another origin (same scheme, another port) that records what reaches it.
        self.other = RecordingListener("other", tls, self.stopping)
        #: A plain-http origin that records what reaches it (https -> http with TLS).
        self.plain = RecordingListener("plain", None, self.stopping)
        self._thread: threading.Thread | None = None
        for endpoint, behaviour in (behaviours or {}).items():
            self.misbehave(endpoint, behaviour)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> HostileIdP:
        if self._thread is None:
            self.other.start()
            self.plain.start()
            self._thread = self._server.serve_in_thread(f"hostile-idp-{self.port}")
        return self

    def stop(self) -> None:
        """Stop all three listeners and end every drip, stall and stream within ~0.2 s."""
        self.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.cut_connections()
        self._server.server_close()
        self.other._halt()
        self.plain._halt()
        deadline = time.monotonic() + 2
        for server in (self._server, self.other._server, self.plain._server):
            server.join_handlers(deadline)

    def addresses(self) -> list[tuple[str, int]]:
        """Where the main, other and plain listeners are bound (while started)."""
        servers = (self._server, self.other._server, self.plain._server)
        return [s.socket.getsockname()[:2] for s in servers]

    def live_connections(self) -> int:
        """How many connection threads are still running, on all three listeners."""
        servers = (self._server, self.other._server, self.plain._server)
        return sum(len(s._handlers) for s in servers)

    # -- behaviour ------------------------------------------------------------------------

    def misbehave(
        self,
        endpoints: Endpoint | Iterable[Endpoint],
        behaviour: Behaviour,
        *,
        times: int | None = None,
    ) -> HostileIdP:
        """Answer requests to ``endpoints`` with ``behaviour``: all of them, or the next
        ``times`` (then well-behaved again)."""
        targets = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            for endpoint in targets:
                self._behaviours[endpoint] = (behaviour, times)
        return self

    def reset(self) -> None:
        """Every endpoint well-behaved again (the records are kept)."""
        with self._lock:
            self._behaviours.clear()

    def behaviour(self, endpoint: Endpoint) -> Behaviour:
        with self._lock:
            return self._behaviours.get(endpoint, (WellBehaved(), None))[0]

    def _take(self, endpoint: Endpoint) -> Behaviour:
        with self._lock:
            behaviour, times = self._behaviours.get(endpoint, (WellBehaved(), None))
            if times is not None:
                if times <= 1:
                    del self._behaviours[endpoint]
                else:
                    self._behaviours[endpoint] = (behaviour, times - 1)
            return behaviour

    # -- records --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the main listener received, in order."""
        with self._lock:
            return list(self._log)

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint is endpoint]

    def _add(self, record: RecordedRequest) -> None:
        with self._lock:
            self._log.append(record)

    # -- keys and tokens ------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        key = {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": _b64_uint(numbers.n),
            "e": _b64_uint(numbers.e),
        }
        return {"keys": [key]}

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        """A compact RS256 JWS of ``claims`` (written by :func:`dumps`, so NaN, Infinity,
        huge integers and :class:`Raw` survive) under the published key."""
        payload = dumps(claims).encode()
        return jwt.api_jws.encode(
            payload, self.key, algorithm="RS256", headers={"kid": self.kid, "typ": typ}
        )

    def issue_refresh_token(self, subject: str | None = None, scope: str = "openid") -> str:
        """A valid refresh token, as if a login had happened (to seed a cache)."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = (subject or self.user, scope)
        return token

    def approve(self, user_code: str) -> None:
        self._device_by_user_code(user_code).approved = True

    def deny(self, user_code: str) -> None:
        self._device_by_user_code(user_code).denied = True

    def _device_by_user_code(self, user_code: str) -> _DeviceCode:
        with self._lock:
            for device in self._devices.values():
                if user_code in (device.user_code, device.shown_user_code):
                    return device
        raise KeyError(user_code)

    # -- the well-behaved answers ---------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "device_authorization_endpoint": self.device_authorization_endpoint,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                DEVICE_GRANT,
            ],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile", "offline_access"],
        }

    def _answer(
        self,
        endpoint: Endpoint,
        method: str,
        query: Mapping[str, str],
        form: Mapping[str, str],
        authorization: str | None,
        numbers: BadNumbers | None,
    ) -> _Answer:
        if method != _METHOD[endpoint]:
            return _Answer(405, {"error": "invalid_request", "error_description": "bad method"})
        if endpoint is Endpoint.DISCOVERY:
            return _Answer(200, self.discovery())
        if endpoint is Endpoint.JWKS:
            return _Answer(200, self.jwks())
        if endpoint is Endpoint.AUTHORIZE:
            return self._authorize(query)
        client_id, secret = self._client(form, authorization)
        if client_id != self.client_id or (secret is not None and secret != self.client_secret):
            return _error(401, "invalid_client", "unknown client or wrong secret")
        if endpoint is Endpoint.DEVICE_AUTHORIZATION:
            return self._device_authorization(form, numbers)
        return self._token(form, secret is not None, numbers)

    @staticmethod
    def _client(form: Mapping[str, str], authorization: str | None) -> tuple[str, str | None]:
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip()).decode()
            except (ValueError, UnicodeDecodeError):
                return "", None
            client_id, _, secret = decoded.partition(":")
            return unquote_plus(client_id), unquote_plus(secret)
        return form.get("client_id", ""), form.get("client_secret")

    def _device_authorization(self, form: Mapping[str, str], numbers: BadNumbers | None) -> _Answer:
        device_code = "dc-" + secrets.token_urlsafe(24)
        alphabet = "BCDFGHJKLMNPQRSTVWXZ"
        user_code = "".join(secrets.choice(alphabet) for _ in range(8))
        user_code = f"{user_code[:4]}-{user_code[4:]}"
        with self._lock:
            self._devices[device_code] = _DeviceCode(
                user_code=user_code,
                shown_user_code=user_code,
                subject=self.user,
                scope=form.get("scope", "openid"),
                expires_at=time.time() + self.device_expires_in,
            )
        verify = self.url + "/device"
        doc: dict[str, Any] = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verify,
            "verification_uri_complete": f"{verify}?{urlencode({'user_code': user_code})}",
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
        }
        if numbers is not None:
            _apply(doc, "expires_in", numbers.expires_in)
            _apply(doc, "interval", numbers.interval)
        return _Answer(200, doc)

    def _token(
        self, form: Mapping[str, str], authenticated: bool, numbers: BadNumbers | None
    ) -> _Answer:
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if not authenticated or self.client_secret is None:
                return _error(401, "invalid_client", "client authentication is required")
            return _Answer(200, self._tokens(self.client_id, form.get("scope", ""), None, numbers))
        if grant == "refresh_token":
            with self._lock:
                known = self._refresh.get(form.get("refresh_token", ""))
                if known is not None and self.rotate_refresh_tokens:
                    del self._refresh[form.get("refresh_token", "")]
            if known is None:
                return _error(400, "invalid_grant", "unknown or revoked refresh token")
            subject, scope = known
            doc = self._tokens(subject, scope, None, numbers, refresh=self.rotate_refresh_tokens)
            return _Answer(200, doc)
        if grant == DEVICE_GRANT:
            return self._device_poll(form.get("device_code", ""), numbers)
        if grant == "authorization_code":
            return self._redeem_code(form, numbers)
        return _error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _device_poll(self, device_code: str, numbers: BadNumbers | None) -> _Answer:
        with self._lock:
            device = self._devices.get(device_code)
            if device is None or device.redeemed:
                return _error(400, "invalid_grant", "unknown device code")
            if time.time() > device.expires_at:
                return _error(400, "expired_token", "the device code expired")
            if device.denied:
                return _error(400, "access_denied", "the user declined")
            if (
                not device.approved
                and self.device_auto_approve
                and device.polls >= self.device_pending_polls
            ):
                device.approved = True
            device.polls += 1
            if not device.approved:
                return _error(400, "authorization_pending", "waiting for the user")
            device.redeemed = True
        return _Answer(200, self._tokens(device.subject, device.scope, None, numbers, True))

    def _authorize(self, query: Mapping[str, str]) -> _Answer:
        redirect_uri = query.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        oob = redirect_uri == "urn:ietf:wg:oauth:2.0:oob"
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if query.get("client_id") != self.client_id or not (oob or loopback):
            return _error(400, "invalid_request", "unknown client or redirect_uri")
        if query.get("response_type") != "code":
            return _error(400, "unsupported_response_type", "only code")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return _error(400, "invalid_request", "only S256")
        code = "code-" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _AuthCode(
                redirect_uri, challenge, query.get("nonce"), query.get("scope", ""), self.user
            )
        if oob:
            return _Answer(200, {"code": code})
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        sep = "&" if parts.query else "?"
        return _Answer(302, {}, (("Location", f"{redirect_uri}{sep}{urlencode(params)}"),))

    def _redeem_code(self, form: Mapping[str, str], numbers: BadNumbers | None) -> _Answer:
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.redirect_uri != form.get("redirect_uri"):
            return _error(400, "invalid_grant", "unknown code or wrong redirect_uri")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if not secrets.compare_digest(digest.decode(), code.challenge):
                return _error(400, "invalid_grant", "PKCE verification failed")
        doc = self._tokens(code.subject, code.scope, code.nonce, numbers, refresh=True)
        return _Answer(200, doc)

    def _tokens(
        self,
        subject: str,
        scope: str,
        nonce: str | None,
        numbers: BadNumbers | None,
        refresh: bool = False,
    ) -> dict[str, Any]:
        now = int(time.time())
        id_claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.client_id,
            "iat": now,
            "exp": now + self.token_lifetime,
        }
        if "@" in subject:
            id_claims["email"] = subject
        if nonce is not None:
            id_claims["nonce"] = nonce
        access_claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.client_id,
            "client_id": self.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_hex(8),
        }
        doc: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.token_lifetime}
        if numbers is not None:
            _apply(id_claims, "exp", numbers.id_token_exp)
            _apply(id_claims, "iat", numbers.id_token_iat)
            _apply(access_claims, "exp", numbers.access_token_exp)
            _apply(access_claims, "iat", numbers.access_token_iat)
            _apply(doc, "expires_in", numbers.expires_in)
        doc["access_token"] = self.sign(access_claims, typ="at+jwt")
        doc["id_token"] = self.sign(id_claims)
        if scope:
            doc["scope"] = scope
        if refresh:
            doc["refresh_token"] = self.issue_refresh_token(subject, scope)
        return doc


def _apply(doc: dict[str, Any], key: str, value: Number | _Omit | None) -> None:
    if value is OMIT:
        doc.pop(key, None)
    elif value is not None:
        doc[key] = value


def _error(status: int, error: str, description: str) -> _Answer:
    return _Answer(status, {"error": error, "error_description": description})


class _IdPHandler(_Base):
    server_version = "hostile-idp/1"
    server: _Server[HostileIdP]

    def setup(self) -> None:
        owner = self.server.owner
        self.stopping = owner.stopping
        if owner.stall_connections:
            owner.stopping.wait()
            raise ConnectionAbortedError("the stand-in stopped")
        super().setup()

    def _dispatch(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        path = urlsplit(self.path).path
        moved = path.startswith(MOVED_PREFIX + "/")
        if moved:
            path = path[len(MOVED_PREFIX) :]
        endpoint = _BY_PATH.get(path)
        behaviour: Behaviour = WellBehaved()
        if endpoint is not None and not moved:
            behaviour = owner._take(endpoint)
        record = self._record("main", body, endpoint, type(behaviour).__name__)
        owner._add(record)
        if endpoint is None:
            self._send_json(404, {"error": "not_found", "error_description": path})
            return
        self._respond(owner, endpoint, behaviour, record)

    def _respond(
        self, owner: HostileIdP, endpoint: Endpoint, behaviour: Behaviour, record: RecordedRequest
    ) -> None:
        if isinstance(behaviour, Stall):
            self._stall(behaviour)
        elif isinstance(behaviour, Redirect):
            self._redirect(owner, behaviour)
        elif isinstance(behaviour, ControlChars):
            self._control_chars(owner, endpoint, behaviour, record)
        elif isinstance(behaviour, DeepNesting):
            self._send(200, behaviour.body())
        elif isinstance(behaviour, Canned):
            self._send(behaviour.status, behaviour.body, behaviour.content_type, behaviour.headers)
        else:
            numbers = behaviour if isinstance(behaviour, BadNumbers) else None
            answer = self._real_answer(owner, endpoint, record, numbers)
            if isinstance(behaviour, HugeBody):
                pieces = _padded(dumps(answer.doc).encode(), behaviour.size, behaviour.chunk_size)
                self._stream(answer.status, pieces, behaviour)
            elif isinstance(behaviour, SlowLoris):
                pieces = _padded(dumps(answer.doc).encode(), behaviour.total, 4096)
                self._drip(behaviour.status, pieces, behaviour)
            else:
                self._send_json(answer.status, answer.doc, answer.headers)

    def _real_answer(
        self,
        owner: HostileIdP,
        endpoint: Endpoint,
        record: RecordedRequest,
        numbers: BadNumbers | None,
    ) -> _Answer:
        return owner._answer(
            endpoint,
            record.method,
            record.query,
            record.form,
            record.header("Authorization"),
            numbers,
        )

    def _redirect(self, owner: HostileIdP, spec: Redirect) -> None:
        if spec.target is RedirectTarget.OTHER_ORIGIN:
            location = owner.other.url + self.path
        elif spec.target is RedirectTarget.PLAIN_HTTP:
            location = owner.plain.url + self.path
        elif spec.target is RedirectTarget.SAME_ORIGIN:
            location = owner.url + MOVED_PREFIX + self.path
        else:
            location = owner.url + self.path
        self._send(spec.status, b"", "text/plain", [("Location", location)])

    def _control_chars(
        self, owner: HostileIdP, endpoint: Endpoint, spec: ControlChars, record: RecordedRequest
    ) -> None:
        text = spec.text

        def poison(value: str) -> str | Raw:
            return value if spec.escaped else _raw_string(value)

        if endpoint is Endpoint.DEVICE_AUTHORIZATION:
            answer = self._real_answer(owner, endpoint, record, None)
            if answer.status != 200:
                self._send_json(answer.status, answer.doc)
                return
            doc = answer.doc
            shown = f"{doc['user_code']}{text}"
            with owner._lock:
                owner._devices[doc["device_code"]].shown_user_code = shown
            verify = f"{owner.url}/device{text}"
            doc["user_code"] = poison(shown)
            doc["verification_uri"] = poison(verify)
            doc["verification_uri_complete"] = poison(f"{verify}?user_code={shown}")
            doc["message"] = poison(f"To sign in, visit {verify} and enter {shown}")
            self._send_json(200, doc)
        elif endpoint is Endpoint.DISCOVERY:
            doc = owner.discovery()
            doc["issuer"] = poison(owner.issuer + text)
            doc["service_documentation"] = poison(text)
            self._send_json(200, doc)
        elif endpoint is Endpoint.JWKS:
            jwks = owner.jwks()
            jwks["keys"][0]["kid"] = poison(owner.kid + text)
            self._send_json(200, jwks)
        else:
            doc = {"error": poison("invalid_grant" + text), "error_description": poison(text)}
            self._send_json(spec.status, doc)
