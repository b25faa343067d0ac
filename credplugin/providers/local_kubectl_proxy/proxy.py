"""The proxy itself: is it answering (checked on every call), and starting it (--start)."""

from __future__ import annotations

import os
import time

from credplugin import hotpath, log
from credplugin.errors import Timeout, UpstreamError, UsageError, os_reason
from credplugin.urlhost import LOOPBACK, host_port

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from credplugin.providers.base import FetchContext

DEFAULT_PROXY_URL = "http://127.0.0.1:8001"
PROBE_TIMEOUT = 2.0
# Set for a `kubectl proxy` we start, so that a kubeconfig pointing it back at this very
# provider fails at once instead of forking proxies forever.
CHILD_MARKER = "CREDPLUGIN_PROXY_CHILD"


def preflight(options: Mapping[str, Any], ctx: FetchContext) -> None:
    """The proxy answers, or --start brings it up, or the call fails naming the URL."""
    if os.environ.get(CHILD_MARKER):
        raise UsageError(
            "the kubeconfig context given to the proxy started by --start uses "
            "local-kubectl-proxy itself",
            hint="pass --context naming a context with real credentials",
        )
    url = proxy_url(options, ctx.server)
    host, port = _host_port(url)
    probe = min(ctx.timeout, PROBE_TIMEOUT)
    problem = _probe(host, port, probe)
    if problem is None:
        log.debug(f"kubectl proxy answers at {url}")
        return
    if not options.get("start"):
        raise UpstreamError(
            f"nothing answers at {url} ({problem})",
            hint="start `kubectl proxy` first, or add --start to the exec args",
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(f"--start only starts a proxy on this machine, not at {url}")
    _start(options, url, port, ctx.timeout)


def proxy_url(options: Mapping[str, Any], server: str | None) -> str:
    url = options.get("proxy_url")
    if not url:
        url = server if server and _is_loopback_http(server) else DEFAULT_PROXY_URL
    if not str(url).startswith("http://"):
        raise UsageError(f"--proxy-url must be an http URL (kubectl proxy serves http): {url}")
    return str(url)


def _start(options: Mapping[str, Any], url: str, port: int, timeout: float) -> None:
    command = [options.get("kubectl") or "kubectl", "proxy", "--address=127.0.0.1"]
    command.append(f"--port={port}")
    if options.get("kubeconfig"):
        command.append(f"--kubeconfig={options['kubeconfig']}")
    if options.get("context"):
        command.append(f"--context={options['context']}")
    log.notice(f"starting `{' '.join(command)}` in the background")
    import subprocess  # only --start needs it, and only when nothing answers

    try:
        # A new session: the proxy outlives this process and kubectl's terminal signals.
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, CHILD_MARKER: "1"},
            close_fds=True,
        )
    except OSError as exc:
        raise UpstreamError(f"cannot start {command[0]}: {os_reason(exc)}") from exc
    host, _ = _host_port(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _probe(host, port, PROBE_TIMEOUT) is None:
            return
        time.sleep(0.1)
    raise Timeout(
        f"started kubectl proxy, but nothing answered at {url} within {timeout:.0f}s",
        hint="run the same `kubectl proxy` by hand to see its error",
    )


def _is_loopback_http(url: str) -> bool:
    try:
        host, _ = _host_port(url)
    except UsageError:
        return False
    return url.startswith("http://") and host in LOOPBACK


def _host_port(url: str) -> tuple[str, int]:
    """Host and port of an `http://host[:port][/path]` URL (only plain http URLs reach
    here; anything else is refused before)."""
    host, port_text = host_port(url)
    if not host:
        raise UsageError(f"no host in proxy URL {url}")
    if not port_text:
        return host, 80
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"invalid port in proxy URL {url}")
    return host, int(port_text)


def _probe(host: str, port: int, timeout: float) -> str | None:
    """None when an HTTP server answers at host:port, else why not. On every call: the
    socket C module (see hotpath), host names as bytes."""
    _socket = hotpath.sockets()
    try:
        infos = _socket.getaddrinfo(host.encode("ascii"), port, 0, _socket.SOCK_STREAM)
    except UnicodeEncodeError:
        return f"cannot resolve {host}: not an ASCII host name"
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    problem = "no address"
    for family, kind, proto, _, address in infos:
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"GET /version HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
            head = sock.recv(16)
        except TimeoutError:
            problem = f"no answer within {timeout:.0f}s"
            continue
        except OSError as exc:
            problem = os_reason(exc)
            continue
        finally:
            sock.close()
        if head.startswith(b"HTTP/"):
            return None
        problem = "something listens there, but it does not speak HTTP"
    return problem
