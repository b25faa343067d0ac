"""A one-shot HTTP listener on the loopback interface for an OAuth redirect (RFC 8252).

Bound to 127.0.0.1 (or ::1) only, never to all interfaces. It serves in a thread so that a
browser launcher that waits for its page to load cannot deadlock the login, and takes the
first redirect whose `state` matches (compared in constant time). A redirect with another
state (a stale tab of an earlier attempt, or a forged request) is answered with an error
page and ignored: it can neither complete nor abort the login.

A redirect URI that names `localhost` (int128 kubelogin's `http://localhost:<port>`) reaches
the listener only through the browser: it may try ::1 first and falls back to 127.0.0.1 when
::1 refuses the connection. When another program listens on the other address with the same
port, nothing is refused and the login goes there instead (int128/kubelogin#1151). So with
`localhost`, the other loopback address's port is held too, bound but never listening: a
connection to it is refused at once, no program can take it while the login waits, and a
port that another program already has there is skipped like a busy one.
"""

from __future__ import annotations

import errno
import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from credplugin import log
from credplugin.errors import LoginAbandoned, UpstreamError, UsageError, os_reason
from credplugin.flows.pkce import same

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1", "[::1]": "::1"}
# The address `localhost` may also mean, for each address the listener binds.
OTHER_LOOPBACK = {"127.0.0.1": "::1", "::1": "127.0.0.1"}
# A redirect URI's authority that takes the listener's port when it names none.
LOOPBACK_AUTHORITIES = frozenset({"localhost", "127.0.0.1", "[::1]"})
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


def _split_url(url: str) -> tuple[str, str, str] | None:
    """`scheme`, `authority` and the rest (path, query, fragment) of `scheme://authority...`,
    as given, byte for byte; None when it has no authority."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    return scheme, rest[:end], rest[end:]


def redirect_uri(given: str | None, host: str, port: int) -> str:
    """The redirect URI to send for a listener on host:port.

    None: credplugin's own `http://HOST:PORT/`. An http URL on localhost, 127.0.0.1 or [::1]
    that names no port: the listener's port after the host, every other byte as given, so
    `http://localhost` is int128 kubelogin's default `http://localhost:<port>` (no path) and
    `http://localhost/callback` is `http://localhost:<port>/callback`. (RFC 8252 section 7.3
    has an authorization server take a loopback IP redirect URI on any port: the port is the
    client's to choose.) Anything else: as given."""
    if not given:
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"
    parts = _split_url(given)
    if parts is not None:
        scheme, authority, rest = parts
        if scheme.lower() == "http" and authority.lower() in LOOPBACK_AUTHORITIES:
            return f"{scheme}://{authority}:{port}{rest}"
    return given


def names_localhost(url: str | None) -> bool:
    """Whether a redirect URI's host is `localhost`, which a browser resolves itself."""
    parts = _split_url(url or "")
    if parts is None or "@" in parts[1]:
        return False
    return parts[1].partition(":")[0].lower() == "localhost"


def _hold(host: str, port: int) -> tuple[socket.socket | None, bool]:
    """host:port bound without listening: (the socket, False); (None, True) when another
    program has that port there; (None, False) when this machine has no such address (then
    `localhost` cannot lead a browser to it either)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return None, False
    try:
        # No SO_REUSEADDR: on BSD and macOS it would let this bind beside another program's
        # wildcard listener, which is what must be found.
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        return None, exc.errno == errno.EADDRINUSE
    return sock, False


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
    """Bind at construction (first free address of the list), serve in a thread, wait().

    `localhost`: the redirect URI names localhost; the other loopback address's port is held
    too, and an address whose port another program has there is skipped (module docstring)."""

    # Port 0 draws another free port when the one drawn is taken on the other address.
    ANY_PORT_TRIES = 5

    def __init__(self, listen_addresses: list[str], state: str, *, localhost: bool = False) -> None:
        errors: list[str] = []
        fixed_port = False
        self._server: _Server | None = None
        self._held: socket.socket | None = None
        for address in listen_addresses:
            host, port = parse_listen_address(address)
            fixed_port = fixed_port or port != 0
            server_class = _Server6 if ":" in host else _Server
            for _ in range(1 if port else self.ANY_PORT_TRIES):
                try:
                    server = server_class((host, port), _Handler)
                except OSError as exc:
                    errors.append(f"{address}: {os_reason(exc)}")
                    break
                if not localhost:
                    self._server = server
                    break
                other, bound = OTHER_LOOPBACK[host], int(server.server_address[1])
                held, taken = _hold(other, bound)
                if not taken:
                    self._server, self._held = server, held
                    break
                server.server_close()
                shown = f"[{other}]:{bound}" if ":" in other else f"{other}:{bound}"
                why = f"another program has {shown}, where a browser may send localhost"
                log.info(f"not listening on {address}: {why}")
                errors.append(f"{address}: {why}")
            if self._server is not None:
                break
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
        if self._held is not None:
            self._held.close()
            self._held = None

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
