"""local-kubectl-proxy: no credential of ours; a running `kubectl proxy` applies its own.

Backstage's `localKubectlProxy` strategy sends requests to a local `kubectl proxy` with no
credentials. An exec plugin must still return something, and client-go accepts a client
certificate and key instead of a token. Over the proxy's plain http nothing is presented,
so kubectl's requests reach the proxy with no Authorization header of ours. The pair is a
throwaway self-signed placeholder, made once and cached (cryptography takes ~0.1 s to load).

Every call checks that the proxy answers (preflight, even on a cache hit), and `--start`
launches `kubectl proxy` when nothing listens.

Note: client-go applies a kubeconfig user's credentials only to TLS transports, so kubectl
never runs an exec plugin for an http server; the Python client and other libraries do (and
ignore the pair over http). The entry is still worth having: it documents the intent, makes
those clients check and start the proxy, and `credplugin local-kubectl-proxy --start` by hand
brings the proxy up before kubectl is used.
"""

from __future__ import annotations

import os
import time

from credplugin import log
from credplugin.credential import Credential
from credplugin.errors import Timeout, UpstreamError, UsageError, os_reason
from credplugin.options import Option
from credplugin.providers.base import FetchContext, Provider
from credplugin.urlhost import LOOPBACK, host_port

DEFAULT_PROXY_URL = "http://127.0.0.1:8001"
PLACEHOLDER_DAYS = 365
PROBE_TIMEOUT = 2.0
# Set for a `kubectl proxy` we start, so that a kubeconfig pointing it back at this very
# provider fails at once instead of forking proxies forever.
CHILD_MARKER = "CREDPLUGIN_PROXY_CHILD"

OPTIONS: tuple[Option, ...] = (
    Option(
        "proxy-url",
        "Where `kubectl proxy` listens [default: the cluster server when it is a loopback "
        f"http URL, else {DEFAULT_PROXY_URL}].",
        metavar="URL",
    ),
    Option(
        "start",
        "Start `kubectl proxy` in the background when nothing answers at the proxy URL.",
        type="flag",
        identity=False,
        trusted=True,
    ),
    Option(
        "context",
        "Kubeconfig context for a proxy started by --start.",
        identity=False,
        trusted=True,
    ),
    Option(
        "kubeconfig",
        "Kubeconfig file for a proxy started by --start.",
        identity=False,
        trusted=True,
    ),
    Option(
        "kubectl",
        "kubectl binary for --start.",
        default="kubectl",
        metavar="PATH",
        identity=False,
        trusted=True,
    ),
)


class LocalKubectlProxyProvider(Provider):
    NAME = "local-kubectl-proxy"

    def preflight(self, ctx: FetchContext) -> None:
        if os.environ.get(CHILD_MARKER):
            raise UsageError(
                "the kubeconfig context given to the proxy started by --start uses "
                "local-kubectl-proxy itself",
                hint="pass --context naming a context with real credentials",
            )
        url = self.proxy_url(ctx.server)
        host, port = _host_port(url)
        probe = min(ctx.timeout, PROBE_TIMEOUT)
        problem = _probe(host, port, probe)
        if problem is None:
            log.debug(f"kubectl proxy answers at {url}")
            return
        if not self.options.get("start"):
            raise UpstreamError(
                f"nothing answers at {url} ({problem})",
                hint="start `kubectl proxy` first, or add --start to the exec args",
            )
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise UsageError(f"--start only starts a proxy on this machine, not at {url}")
        self._start(url, port, ctx.timeout)

    def fetch(self, ctx: FetchContext) -> Credential:
        certificate, key = _placeholder_pair()
        now = ctx.now()
        return Credential(
            client_certificate_data=certificate,
            client_key_data=key,
            issued_at=now,
            expires_at=now + PLACEHOLDER_DAYS * 86400,
            identity="whatever identity the kubectl proxy has",
        )

    def proxy_url(self, server: str | None) -> str:
        url = self.options.get("proxy_url")
        if not url:
            url = server if server and _is_loopback_http(server) else DEFAULT_PROXY_URL
        if not str(url).startswith("http://"):
            raise UsageError(f"--proxy-url must be an http URL (kubectl proxy serves http): {url}")
        return str(url)

    def _start(self, url: str, port: int, timeout: float) -> None:
        command = [self.options.get("kubectl") or "kubectl", "proxy", "--address=127.0.0.1"]
        command.append(f"--port={port}")
        if self.options.get("kubeconfig"):
            command.append(f"--kubeconfig={self.options['kubeconfig']}")
        if self.options.get("context"):
            command.append(f"--context={self.options['context']}")
        log.notice(f"starting `{' '.join(command)}` in the background")
        import subprocess

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


PROVIDER = LocalKubectlProxyProvider


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
    """None when an HTTP server answers at host:port, else why not.

    The C module under `socket`: the socket package imports enum and selectors (~10 ms),
    and this probe runs on every call."""
    import _socket

    try:
        # bytes, not str: a str host goes through the idna codec, which imports re.
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


def _placeholder_pair() -> tuple[str, str]:
    """A self-signed EC certificate and key that authenticate nothing anywhere."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "credplugin placeholder")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=PLACEHOLDER_DAYS + 1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem
