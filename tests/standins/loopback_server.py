"""The HTTP(S) plumbing the loopback stand-ins share: a threaded server on
``127.0.0.1:<random port>`` and the request handler base its handlers build on.

The server never calls ``socket.getfqdn()`` (it can hang on a bad resolver), wraps each
accepted connection in TLS without handshaking (the handshake happens in the handler thread,
so a slow client cannot block ``accept()``) and keeps quiet about clients that drop, reset
or time out.
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import sys
import threading
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

__all__ = ["LoopbackHTTPServer", "LoopbackHandler", "StandIn"]

OwnerT = TypeVar("OwnerT")
StandInT = TypeVar("StandInT", bound="StandIn")


class StandIn:
    """A stand-in used as a context manager: ``with StandIn(...) as s`` starts it and gives
    it back; leaving the block stops it."""

    def start(self: StandInT) -> StandInT:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: StandInT) -> StandInT:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackHTTPServer(http.server.ThreadingHTTPServer, Generic[OwnerT]):
    """A threaded HTTP server bound at once to ``127.0.0.1:<random port>``; with an SSL
    context, HTTPS. `owner` is the stand-in its handlers answer for."""

    def __init__(
        self,
        owner: OwnerT,
        handler: type[http.server.BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() would call socket.getfqdn(), which can hang on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = cast(int, self.socket.getsockname()[1])

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = self.socket.accept()
        if self.ssl_context is None:
            return conn, addr
        # The handshake happens in the handler thread, so a slow client cannot block accept().
        return self.ssl_context.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # TLS handshake failures, resets, timeouts: the client's problem.
        super().handle_error(request, client_address)

    def serve_in_thread(self, name: str | None = None) -> threading.Thread:
        """Serve from a new, started daemon thread (polling for shutdown every 50 ms)."""
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        thread.start()
        return thread


class LoopbackHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, a 30 s socket timeout, the TLS handshake done here (in the
    connection's own thread) and no request log on stderr."""

    protocol_version = "HTTP/1.1"
    timeout = 30.0

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        return
