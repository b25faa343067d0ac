"""A bearer-token-checking stand-in for the Kubernetes API server.

Serves just enough of the API for ``kubectl get ns`` (kubectl 1.27 .. 1.33, including the
Google Cloud SDK dispatcher that picks ``kubectl.1.<minor>`` from ``/version``) and for the
Python ``kubernetes`` client's ``CoreV1Api.list_namespace()``:

* ``/healthz`` (also ``/livez``, ``/readyz``) without authentication;
* ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/api/v1/namespaces[/<name>]`` with
  authentication (bearer token from the accepted set, a bearer token that a callable added
  with :meth:`FakeAPIServer.add_authenticator` accepts, or -- with ``client_ca=True`` -- a
  client certificate signed by the test CA);
* everything else: a ``404`` ``Status``.

Every request is recorded as a :class:`RequestRecord`.  Tokens are never stored or printed
in full: records carry a redacted ``Authorization`` value and a SHA-256 fingerprint.

Process mode (for demo scripts)::

    python -m tests.standins.apiserver --certdir DIR --token TOKEN [--token T2]
        [--portfile FILE] [--minor 32] [--client-ca] [--log]

prints ``READY <url>`` once serving and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, cast
from urllib.parse import unquote, urlsplit

from .loopback_server import LoopbackHandler, LoopbackHTTPServer, StandIn
from .tls import TLSMaterial, make_tls

__all__ = [
    "NAMESPACES",
    "Authenticator",
    "FakeAPIServer",
    "RequestRecord",
    "main",
    "token_fingerprint",
]

JSONObject = dict[str, Any]
#: ``fn(token)`` -> identity string (e.g. ``"aws:" + canonical ARN``), or None / raise to reject.
Authenticator = Callable[[str], str | None]

#: The namespaces the stand-in pretends to have, in list order.
NAMESPACES: tuple[str, ...] = ("default", "kube-system", "kube-public")

_HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)$")
_UID_NAMESPACE = uuid.UUID("5f2b6c1e-3c8e-4f5e-9a56-0c9d7f1f0a11")


def token_fingerprint(token: str) -> str:
    """SHA-256 hex digest of a token, as stored in :attr:`RequestRecord.token_sha256`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_hint(token: str) -> str:
    """A non-secret hint: the first 6 characters (fewer for tokens under 12) and ``...``."""
    return token[: min(6, len(token) // 2)] + "..."


def _redact_authorization(value: str) -> str:
    scheme, separator, credentials = value.strip().partition(" ")
    if not separator:
        return "<redacted>"  # no scheme: the whole value may be a secret
    if scheme.lower() == "bearer":
        return f"Bearer {_token_hint(credentials.strip())}"
    return f"{scheme} <redacted>"


def _bearer_token(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


@dataclass(frozen=True)
class RequestRecord:
    """One request as seen by the stand-in (secrets redacted)."""

    method: str
    #: Path including the query string, as sent.
    path: str
    #: Redacted ``Authorization`` header: ``"Bearer abcdef..."``; ``None`` if absent.
    authorization: str | None
    user_agent: str
    #: CN of a verified client certificate, if one was presented.
    client_cert_cn: str | None
    status: int
    #: ``"token:abcdef..."`` or ``"cert:<CN>"`` when authenticated, else ``None``.
    identity: str | None
    #: :func:`token_fingerprint` of the bearer token sent (valid or not), if any.
    token_sha256: str | None = None


def _status(code: int, reason: str, message: str, details: JSONObject | None = None) -> JSONObject:
    body: JSONObject = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


_UNAUTHORIZED = _status(401, "Unauthorized", "Unauthorized")
_NOT_FOUND = _status(404, "NotFound", "the server could not find the requested resource", {})


class _Handler(LoopbackHandler):
    server_version = "fake-kube-apiserver/1"
    disable_nagle_algorithm = True
    server: LoopbackHTTPServer[FakeAPIServer]

    _client_cert_cn: str | None = None

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self._client_cert_cn = _peer_common_name(self.request)
        self.server.owner._track(self.request, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.request, add=False)

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_GET
    do_POST = do_GET
    do_PUT = do_GET
    do_PATCH = do_GET
    do_DELETE = do_GET
    do_OPTIONS = do_GET

    # -- plumbing -------------------------------------------------------------------------

    def _drain_body(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
        elif length > 0:
            self.rfile.read(length)

    def _respond(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _respond_json(self, code: int, obj: JSONObject) -> None:
        self._respond(code, json.dumps(obj).encode("utf-8"), "application/json")

    # -- request handling -----------------------------------------------------------------

    def _dispatch(self) -> None:
        owner = self.server.owner
        self._drain_body()
        path = urlsplit(self.path).path
        if len(path) > 1:
            path = path.rstrip("/")
        raw_authorization = self.headers.get("Authorization")
        token = _bearer_token(raw_authorization)

        def record(status: int, identity: str | None) -> None:
            owner._record(
                RequestRecord(
                    method=self.command,
                    path=self.path,
                    authorization=(
                        None
                        if raw_authorization is None
                        else _redact_authorization(raw_authorization)
                    ),
                    user_agent=self.headers.get("User-Agent", ""),
                    client_cert_cn=self._client_cert_cn,
                    status=status,
                    identity=identity,
                    token_sha256=None if token is None else token_fingerprint(token),
                )
            )

        if path in _HEALTH_PATHS and self.command in ("GET", "HEAD"):
            record(200, None)
            self._respond(200, b"ok", "text/plain; charset=utf-8")
            return

        identity = owner._authenticate(self._client_cert_cn, token)
        if identity is None:
            record(401, None)
            self._respond_json(401, _UNAUTHORIZED)
            return

        code, body = owner._route(path, self.headers.get("Accept", ""))
        if code != 404 and self.command not in ("GET", "HEAD"):
            message = f"{self.command} is not supported by this stand-in"
            code, body = 405, _status(405, "MethodNotAllowed", message)
        record(code, identity)
        self._respond_json(code, body)


def _peer_common_name(conn: ssl.SSLSocket) -> str | None:
    """CN of the verified client certificate, or None if the client sent none."""
    cert = conn.getpeercert()
    if not cert:
        return None
    subject = cast(tuple[tuple[tuple[str, str], ...], ...], cert.get("subject", ()))
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


class FakeAPIServer(StandIn):
    """Kubernetes API server stand-in on ``127.0.0.1:<random port>``, served from a thread.

    The socket is bound in the constructor, so :attr:`url` is known before :meth:`start`.
    """

    def __init__(
        self,
        tls: TLSMaterial | None,
        tokens: Iterable[str] = (),
        minor: str = "32",
        client_ca: bool = False,
    ) -> None:
        self.minor = minor
        #: The next N requests that would have been authenticated get a 401 instead.
        self.fail_next_401 = 0
        #: If set, one redacted line per request is printed here (process mode ``--log``).
        self.echo: TextIO | None = None
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self._authenticators: list[Authenticator] = []
        #: Why bearer tokens were refused by the authenticators, oldest first (append-only
        #: under the lock; the token itself is replaced by a short hint).
        self.rejections: list[str] = []
        for token in tokens:
            self.accept(token)
        self._log: list[RequestRecord] = []
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._created = datetime.datetime.now(datetime.timezone.utc).replace(
            microsecond=0
        ) - datetime.timedelta(days=365)

        context: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(tls.server_cert_path), str(tls.server_key_path))
            context.set_alpn_protocols(["http/1.1"])
            if client_ca:
                context.verify_mode = ssl.CERT_OPTIONAL
                context.load_verify_locations(cafile=str(tls.ca_path))
        elif client_ca:
            raise ValueError("client_ca=True needs TLS material")
        self.client_ca = client_ca
        self._httpd = LoopbackHTTPServer(self, _Handler, context)
        self.port: int = self._httpd.server_port
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeAPIServer:
        """Start serving in a daemon thread (idempotent); returns ``self``."""
        if self._closed:
            raise RuntimeError("FakeAPIServer cannot be restarted after stop()")
        if self._thread is None:
            self._thread = self._httpd.serve_in_thread(f"fake-apiserver-{self.port}")
        return self

    def stop(self) -> None:
        """Stop serving, drop open keep-alive connections and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    # -- control and inspection -----------------------------------------------------------

    def accept(self, token: str) -> None:
        """Add an accepted bearer token."""
        if not token or token != token.strip():
            raise ValueError("tokens must be non-empty and without surrounding whitespace")
        with self._lock:
            self._tokens.add(token)

    def add_authenticator(self, fn: Authenticator) -> None:
        """Also accept bearer tokens for which ``fn(token)`` returns an identity string.

        Static tokens are checked first; then each authenticator in order, outside the lock.
        If all of them return None or raise, the request gets a 401 and one entry is appended
        to :attr:`rejections` (the exception text, or ``"<name> returned None"``).
        """
        with self._lock:
            self._authenticators.append(fn)

    def revoke(self, token: str) -> None:
        """Stop accepting a bearer token (no error if it was not accepted)."""
        with self._lock:
            self._tokens.discard(token)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def authenticated_requests(self) -> list[RequestRecord]:
        """The logged requests that were authenticated (``identity`` is set)."""
        return [r for r in self.requests if r.identity is not None]

    def reset(self) -> None:
        """Clear the request log, ``rejections`` and ``fail_next_401``; tokens stay."""
        with self._lock:
            self._log.clear()
            self.rejections.clear()
            self.fail_next_401 = 0

    # -- used by the handler --------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self._log.append(rec)
        echo = self.echo
        if echo is not None:
            who = rec.identity or rec.authorization or "anonymous"
            print(f"{rec.method} {rec.path} -> {rec.status} ({who})", file=echo, flush=True)

    def _authenticate(self, cert_cn: str | None, token: str | None) -> str | None:
        authenticators: list[Authenticator] = []
        with self._lock:
            if cert_cn is not None:
                identity: str | None = f"cert:{cert_cn}"
            elif token is not None and token in self._tokens:
                identity = f"token:{_token_hint(token)}"
            else:
                identity = None
                authenticators = list(self._authenticators)
        if identity is None:
            if token is None or not authenticators:
                return None
            # Outside the lock: an authenticator may be slow and must not block other requests.
            identity = self._run_authenticators(authenticators, token)
        with self._lock:
            if identity is None:
                return None
            if self.fail_next_401 > 0:
                self.fail_next_401 -= 1
                identity = None
            return identity

    def _run_authenticators(self, authenticators: list[Authenticator], token: str) -> str | None:
        reasons: list[str] = []
        for fn in authenticators:
            try:
                identity = fn(token)
            except Exception as exc:
                reasons.append(str(exc) or type(exc).__name__)
                continue
            if identity:
                return identity
            reasons.append(f"{getattr(fn, '__qualname__', repr(fn))} returned None")
        reason = "; ".join(reasons).replace(token, _token_hint(token))
        with self._lock:
            self.rejections.append(reason[:2000])
        return None

    def _route(self, path: str, accept: str) -> tuple[int, JSONObject]:
        table = "as=Table" in accept
        if path == "/version":
            return 200, self._version()
        if path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if path == "/api/v1":
            return 200, _API_V1_RESOURCES
        if path == "/api/v1/namespaces":
            if table:
                return 200, self._table(NAMESPACES)
            return 200, {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": [self._namespace(name, with_type=False) for name in NAMESPACES],
            }
        match = _NAMESPACE_PATH.match(path)
        if match is not None:
            name = unquote(match.group(1))
            if name not in NAMESPACES:
                return 404, _status(
                    404,
                    "NotFound",
                    f'namespaces "{name}" not found',
                    {"name": name, "kind": "namespaces"},
                )
            if table:
                return 200, self._table((name,))
            return 200, self._namespace(name, with_type=True)
        return 404, _NOT_FOUND

    # -- canned objects -------------------------------------------------------------------

    def _version(self) -> JSONObject:
        minor = self.minor
        digits = re.match(r"\d+", minor)
        return {
            "major": "1",
            "minor": minor,
            "gitVersion": f"v1.{digits.group(0) if digits else minor}.0",
            "gitCommit": "0123456789abcdef0123456789abcdef01234567",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.23.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _timestamp(self) -> str:
        return self._created.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _metadata(self, name: str) -> JSONObject:
        return {
            "name": name,
            "uid": str(uuid.uuid5(_UID_NAMESPACE, name)),
            "resourceVersion": "1",
            "creationTimestamp": self._timestamp(),
            "labels": {"kubernetes.io/metadata.name": name},
        }

    def _namespace(self, name: str, *, with_type: bool) -> JSONObject:
        obj: JSONObject = {}
        if with_type:
            obj = {"kind": "Namespace", "apiVersion": "v1"}
        obj["metadata"] = self._metadata(name)
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        return obj

    def _table(self, names: Iterable[str]) -> JSONObject:
        age_days = (datetime.datetime.now(datetime.timezone.utc) - self._created).days
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "1"},
            "columnDefinitions": _TABLE_COLUMNS,
            "rows": [
                {
                    "cells": [name, "Active", f"{age_days}d"],
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": self._metadata(name),
                    },
                }
                for name in names
            ],
        }


_API_V1_RESOURCES: JSONObject = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "verbs": ["get", "list", "watch", "create", "delete"],
            "shortNames": ["ns"],
        }
    ],
}

_TABLE_COLUMNS: list[JSONObject] = [
    {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace.",
        "priority": 0,
    },
    {
        "name": "Status",
        "type": "string",
        "format": "",
        "description": "The status of the namespace",
        "priority": 0,
    },
    {
        "name": "Age",
        "type": "string",
        "format": "",
        "description": "CreationTimestamp is a timestamp representing the server time "
        "when this object was created.",
        "priority": 0,
    },
]


# -- process mode -------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.standins.apiserver",
        description="Kubernetes API server stand-in (127.0.0.1 only).",
    )
    parser.add_argument("--certdir", required=True, type=Path, help="where to write TLS files")
    parser.add_argument(
        "--token", action="append", default=[], help="accepted bearer token (repeatable)"
    )
    parser.add_argument("--portfile", type=Path, help="write the server URL to this file")
    parser.add_argument("--minor", default="32", help="minor version reported by /version")
    parser.add_argument(
        "--client-ca", action="store_true", help="also accept client certs signed by the CA"
    )
    parser.add_argument("--log", action="store_true", help="print redacted requests to stderr")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    tls = make_tls(args.certdir)
    with FakeAPIServer(tls, tokens=args.token, minor=args.minor, client_ca=args.client_ca) as srv:
        if args.log:
            srv.echo = sys.stderr
        if args.portfile is not None:
            _write_atomically(args.portfile, srv.url + "\n")
        print(f"READY {srv.url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
