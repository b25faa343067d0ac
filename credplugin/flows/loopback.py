"""A one-shot HTTP listener on the loopback interface for an OAuth redirect (RFC 8252).

Bound to 127.0.0.1 (or ::1) only, never to all interfaces. It serves in a thread so that a
browser launcher that waits for its page to load cannot deadlock the login, and takes the
first redirect whose `state` matches (compared in constant time). A redirect with another
state (a stale tab of an earlier attempt, or a forged request) is answered with an error
page and ignored: it can neither complete nor abort the login.
"""

from __future__ import annotations

import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from credplugin.errors import LoginAbandoned, UpstreamError, UsageError, os_reason
from credplugin.flows.pkce import same

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1", "[::1]": "::1"}
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p></body></html>"""


def parse_listen_address(address: str) -> tuple[str, int]:
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"--listen-address {address!r} is not HOST:PORT")
    bound = LOOPBACK_HOSTS.get(host)
    if bound is None:
        raise UsageError(
            f"--listen-address {address!r}: the redirect listener binds loopback only "
            "(127.0.0.1, ::1)"
        )
    return bound, int(port_text)


class _Server(ThreadingHTTPServer):
    # A thread per connection: a browser's speculative preconnect that never sends a
    # request must not hold up the redirect that follows.
    daemon_threads = True
    state: str
    result: dict[str, str] | None = None
    ignored = 0
    done: threading.Event
    lock: threading.Lock


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # seconds an idle connection may stay open

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "code" not in query and "error" not in query:
            self._page(404, "Not found", "This address only receives a login redirect.")
            return
        if not same(query.get("state"), self.server.state):
            with self.server.lock:
                self.server.ignored += 1
            self._page(400, "Stale login page", "Use the newest login page from your terminal.")
            return
        with self.server.lock:
            if self.server.result is None:
                self.server.result = query
        if "error" in query:
            self._page(200, "Login failed", "Return to your terminal for details.")
        else:
            self._page(200, "Logged in", "You can close this tab and return to your terminal.")
        self.server.done.set()

    def _page(self, status: int, title: str, text: str) -> None:
        body = PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the query holds the authorization code: never logged


class LoopbackRedirect:
    """Bind at construction (first free address of the list), serve in a thread, wait()."""

    def __init__(self, listen_addresses: list[str], state: str) -> None:
        errors: list[str] = []
        fixed_port = False
        self._server: _Server | None = None
        for address in listen_addresses:
            host, port = parse_listen_address(address)
            fixed_port = fixed_port or port != 0
            server_class = _Server6 if ":" in host else _Server
            try:
                self._server = server_class((host, port), _Handler)
                break
            except OSError as exc:
                errors.append(f"{address}: {os_reason(exc)}")
        if self._server is None:
            raise UpstreamError(
                "no listen address is free for the login redirect (" + "; ".join(errors) + ")",
                # Only a fixed port can be taken; when no free port binds, that is not it.
                hint="pass --listen-address 127.0.0.1:0 for any free port" if fixed_port else None,
            )
        self._server.done = threading.Event()
        self._server.lock = threading.Lock()
        self._server.state = state
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        assert self._server is not None
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def _serve(self) -> None:
        assert self._server is not None
        self._server.timeout = 0.2
        while not self._server.done.is_set():
            self._server.handle_request()

    def wait(self, timeout: float) -> str:
        """The authorization code, once a redirect with the right state arrives."""
        assert self._server is not None
        if not self._server.done.wait(timeout):
            ignored = self._server.ignored
            stale = f" ({ignored} redirect(s) with a wrong state were ignored)" if ignored else ""
            raise LoginAbandoned(f"nobody finished the browser login within {timeout:.0f}s{stale}")
        query = self._server.result or {}
        if "error" in query:
            detail = query.get("error_description") or ""
            raise UpstreamError(
                f"the identity provider refused the login: {query['error']} {detail}".strip()
            )
        return query["code"]

    def close(self) -> None:
        if self._server is not None:
            self._server.done.set()
            self._thread.join(timeout=2)
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
