"""`credplugin oidc` sends int128 kubelogin's redirect URI, `http://localhost:<bound port>`.

int128 kubelogin sends `http://localhost:<the port it bound>`, no path, when its entry names no
--oidc-redirect-url (int128/oauth2cli server.go), and identity providers that compare redirect
URIs exactly (Keycloak, Dex, Okta) refuse anything else. `--redirect-url http://localhost`
means that URI here, and int128's `get-token` argv, or an entry `kubeconfig convert` wrote
from it, sends it. All through the real CLI: against node-oidc-provider with a client that
takes only `http://localhost:<port>`, against a stub that records the redirect_uri of the
authorization and the token request, and with a "browser" that, like real ones, tries
`localhost` on ::1 before 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from tests.conftest import Plugin
from tests.standins.oidc_stub import OidcStub
from tests.test_oidc import OIDC_DIR, Browser, verify

EXACT_CLIENT = "kubectl-exact"  # tests/oidc/provider.mjs: only OIDC_EXACT_REDIRECT_URIS


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no ::1 on this machine")


def free_port() -> int:
    """A port free on 127.0.0.1 and, where this machine has it, on ::1."""
    for _ in range(100):
        with socket.socket() as v4:
            v4.bind(("127.0.0.1", 0))
            port = int(v4.getsockname()[1])
            if not HAS_IPV6:
                return port
            with socket.socket(socket.AF_INET6) as v6:
                try:
                    v6.bind(("::1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port is free on both loopback addresses")


# -- a stub that records what it was sent --------------------------------------------------


class RecordingStub(OidcStub):
    """OidcStub, recording the redirect_uri of every authorization and token request as
    the server reads it."""

    def __init__(self) -> None:
        self.authorized: list[str] = []
        self.exchanged: list[str] = []
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self
        base: Any = super()._handler()

        class Recording(base):  # type: ignore[misc]
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/authorize":
                    stub.authorized += parse_qs(parts.query).get("redirect_uri", ["(none)"])
                super().do_GET()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.exchanged += parse_qs(raw.decode()).get("redirect_uri", ["(none)"])
                handler: BaseHTTPRequestHandler = self
                handler.rfile = io.BytesIO(raw)  # for the stub's own reading
                super().do_POST()

        return Recording


@pytest.fixture
def stub() -> Iterator[RecordingStub]:
    with RecordingStub() as server:
        yield server


# A browser for the stub, whose authorization endpoint redirects at once: it follows that
# redirect the way browsers reach `localhost` (::1 first, then 127.0.0.1 when ::1 refuses),
# and logs what it found: whether ::1's port could be bound while the login waited, which
# addresses refused, which one answered, and the HTTP status.
BROWSER_SCRIPT = r"""
import errno, json, os, socket, sys, http.client
from urllib.parse import urlsplit


def follow(url, record):
    idp = urlsplit(url)
    conn = http.client.HTTPConnection(idp.hostname, idp.port, timeout=20)
    conn.request("GET", idp.path + "?" + idp.query)
    answer = conn.getresponse()
    location = answer.getheader("Location")
    answer.read()
    conn.close()
    target = urlsplit(location)
    port = target.port or 80
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", port))
        record["ipv6_bind"] = "free"
    except OSError as exc:
        record["ipv6_bind"] = errno.errorcode.get(exc.errno, str(exc.errno))
    finally:
        probe.close()
    addresses = ["::1", "127.0.0.1"] if target.hostname == "localhost" else [target.hostname]
    path = (target.path or "/") + ("?" + target.query if target.query else "")
    for address in addresses:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
        sock.settimeout(5)
        try:
            sock.connect((address, port))
        except ConnectionRefusedError:
            record.setdefault("refused", []).append(address)
            sock.close()
            continue
        record["reached"] = address
        request = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, target.netloc)
        sock.sendall(request.encode())
        answer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
        sock.close()
        record["status"] = answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/") else None
        return


record = {"opened": sys.argv[1]}
try:
    follow(sys.argv[1], record)
finally:
    with open(os.environ["REDIRECT_BROWSER_LOG"], "a") as log:
        log.write(json.dumps(record) + "\n")
"""


class RedirectBrowser:
    """$BROWSER for the plugin (BROWSER_SCRIPT), and what it logged."""

    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "redirect_browser.py"
        script.write_text(BROWSER_SCRIPT)
        self.log = tmp_path / "redirect_browser.log"
        self.env = {
            "BROWSER": f"{sys.executable} {script} %s",
            "REDIRECT_BROWSER_LOG": str(self.log),
        }

    def visits(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def redirect_uris(self) -> list[str]:
        """The redirect_uri of every login URL opened."""
        return [parse_qs(urlsplit(v["opened"]).query)["redirect_uri"][0] for v in self.visits()]


@pytest.fixture
def browser(tmp_path: Path, plugin: Plugin) -> RedirectBrowser:
    b = RedirectBrowser(tmp_path)
    plugin.env.update(b.env)
    return b


def native(issuer: str, port: int, *extra: str, client: str = "stub-client") -> list[str]:
    return [
        *("oidc", "--issuer-url", issuer, "--client-id", client),
        *("--listen-address", f"127.0.0.1:{port}", "--authentication-timeout", "20", *extra),
    ]


def int128(issuer: str, port: int, *extra: str, client: str = "stub-client") -> list[str]:
    """int128 kubelogin's get-token argv, as `kubectl oidc-login setup` prints it."""
    return [
        *("oidc", "get-token", f"--oidc-issuer-url={issuer}", f"--oidc-client-id={client}"),
        *(f"--listen-address=127.0.0.1:{port}", "--authentication-timeout-sec=20", *extra),
    ]


# -- what is sent ------------------------------------------------------------------------------

# (how the entry is written, the redirect URI both requests must carry); {port} is the one
# listened on.
SENT = [
    ("int128 get-token", "http://localhost:{port}"),
    ("--redirect-url http://localhost", "http://localhost:{port}"),
    ("--redirect-url http://localhost/callback", "http://localhost:{port}/callback"),
    ("--redirect-url http://127.0.0.1", "http://127.0.0.1:{port}"),
    # A port given is sent as given: the listener's port is not put in twice.
    ("--redirect-url http://localhost:{port}", "http://localhost:{port}"),
    (
        "int128 get-token --oidc-redirect-url=http://localhost:{port}/cb",
        "http://localhost:{port}/cb",
    ),
    # Native entries keep credplugin's own default.
    ("", "http://127.0.0.1:{port}/"),
]


@pytest.mark.parametrize(("entry", "sent"), SENT, ids=[e or "native default" for e, _ in SENT])
def test_the_redirect_uri_is_the_same_in_the_authorization_and_the_token_request(
    entry: str, sent: str, stub: RecordingStub, plugin: Plugin, browser: RedirectBrowser
) -> None:
    port = free_port()
    words = entry.format(port=port).split()
    if words[:2] == ["int128", "get-token"]:
        argv = int128(stub.issuer, port, *words[2:])
    else:
        argv = native(stub.issuer, port, *words)
    run = plugin.run(*argv)
    assert run.credential()["status"]["token"]
    want = sent.format(port=port)
    assert stub.authorized == [want] and stub.exchanged == [want]
    assert browser.redirect_uris() == [want]
    (visit,) = browser.visits()
    assert visit["status"] == "200", visit


def test_an_idp_that_matches_redirect_uris_exactly_takes_int128s_entry(
    tmp_path: Path, plugin: Plugin
) -> None:
    """The int128 argv logs in at node-oidc-provider with a client registered for exactly
    http://localhost:PORT (as a Keycloak, Dex or Okta client for int128 is); credplugin's own
    http://127.0.0.1:PORT/ is refused there."""
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("node or tests/oidc/node_modules missing (run `make test` to install)")
    port = free_port()
    registered = f"http://localhost:{port}"
    proc = subprocess.Popen(
        [node, str(OIDC_DIR / "provider.mjs"), "0"],
        env={**os.environ, "OIDC_EXACT_REDIRECT_URIS": registered},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        issuer = line.split()[1]

        # The client takes that URI and nothing else, not even with a slash after the port.
        def authorize(redirect_uri: str) -> requests.Response:
            params = {
                "client_id": EXACT_CLIENT,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": redirect_uri,
                "state": "s" * 16,
                "nonce": "n" * 16,
                "code_challenge": "c" * 43,
                "code_challenge_method": "S256",
            }
            return requests.get(f"{issuer}/auth", params=params, allow_redirects=False, timeout=10)

        assert authorize(registered).is_redirect
        for other in (f"http://127.0.0.1:{port}/", f"{registered}/", "http://localhost:1"):
            refused = authorize(other)
            assert refused.status_code == 400 and "redirect_uri" in refused.text, other

        fake = Browser(tmp_path)
        plugin.env.update(fake.env)
        run = plugin.run(*int128(issuer, port, client=EXACT_CLIENT))
        claims = verify(issuer, run.credential()["status"]["token"], audience=EXACT_CLIENT)
        assert claims["sub"] == "alice"
        (opened,) = fake.opened()
        assert parse_qs(urlsplit(opened).query)["redirect_uri"] == [registered]

        # The same entry written natively logs in the same way.
        again = native(issuer, port, "--redirect-url", "http://localhost", client=EXACT_CLIENT)
        run = plugin.run(*again, "--no-cache")
        verify(issuer, run.credential()["status"]["token"], audience=EXACT_CLIENT)
        assert len(fake.opened()) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_native_entry_keeps_its_cache_entry_when_written_the_int128_way(
    stub: RecordingStub, plugin: Plugin, browser: RedirectBrowser
) -> None:
    """The redirect URI decides nothing about whose token it is: a token logged in for the
    native entry is served to the same entry with --redirect-url http://localhost, and to
    int128's argv, without another login."""
    port = free_port()
    first = plugin.run(*native(stub.issuer, port)).credential()
    assert stub.authorized == [f"http://127.0.0.1:{port}/"]
    for argv in (
        native(stub.issuer, port, "--redirect-url", "http://localhost"),
        int128(stub.issuer, port),
    ):
        assert plugin.run(*argv).credential()["status"] == first["status"]
    assert len(stub.authorized) == 1 and len(browser.visits()) == 1
    assert len(list(plugin.cache_dir.glob("*.json"))) == 1


def test_only_a_loopback_http_url_without_a_port_takes_the_listeners_port() -> None:
    """The rule behind SENT, on what a login cannot carry through the stub (a query, a
    fragment) and what it must leave alone, byte for byte."""
    from credplugin.flows.loopback import names_localhost, redirect_uri

    cases = {
        "http://localhost?x=1": "http://localhost:8000?x=1",
        "http://LocalHost#f": "http://LocalHost:8000#f",
        "http://[::1]/cb": "http://[::1]:8000/cb",
        "http://localhost:18000/": "http://localhost:18000/",
        "http://localhost:": "http://localhost:",
        "https://localhost": "https://localhost",
        "http://user@localhost": "http://user@localhost",
        "http://localhost.example.com": "http://localhost.example.com",
        "urn:ietf:wg:oauth:2.0:oob": "urn:ietf:wg:oauth:2.0:oob",
    }
    assert {given: redirect_uri(given, "127.0.0.1", 8000) for given in cases} == cases
    assert redirect_uri(None, "::1", 8000) == "http://[::1]:8000/"
    assert [names_localhost(u) for u in ("http://LOCALHOST:1/x", "http://127.0.0.1", None)] == [
        True,
        False,
        False,
    ]


# -- localhost, ::1 and 127.0.0.1 ---------------------------------------------------------------


@needs_ipv6
def test_localhost_reaches_the_listener_after_ipv6_refuses_and_nobody_takes_ipv6(
    stub: RecordingStub, plugin: Plugin, browser: RedirectBrowser
) -> None:
    """The listener is on 127.0.0.1 only; ::1 on its port is held without listening while the
    login waits, so a browser that tries ::1 first is refused there and falls back."""
    port = free_port()
    plugin.run(*int128(stub.issuer, port)).credential()
    (visit,) = browser.visits()
    assert visit["ipv6_bind"] == "EADDRINUSE"  # held by credplugin while the login waited
    assert visit["refused"] == ["::1"] and visit["reached"] == "127.0.0.1"
    # ...and let go of afterwards.
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", port))


@needs_ipv6
@pytest.mark.parametrize(
    ("entry", "skipped"),
    [("int128 get-token", True), ("--redirect-url http://localhost", True), ("", False)],
    ids=["int128", "native localhost", "native default"],
)
def test_a_port_another_program_has_on_ipv6_is_skipped_for_localhost(
    entry: str, skipped: bool, stub: RecordingStub, plugin: Plugin, browser: RedirectBrowser
) -> None:
    """int128/kubelogin#1151: another program on [::1]:8000 gets a localhost redirect meant
    for a listener on 127.0.0.1:8000. For a localhost redirect URI the next address is used;
    a 127.0.0.1 redirect URI never goes to ::1, and keeps its port."""
    taken, free = free_port(), free_port()
    listen = ("--listen-address", f"127.0.0.1:{taken}", "--listen-address", f"127.0.0.1:{free}")
    words = entry.split()
    if words[:2] == ["int128", "get-token"]:
        argv = [*int128(stub.issuer, taken), f"--listen-address=127.0.0.1:{free}"]
    else:
        argv = [*native(stub.issuer, taken, *words), *listen]
    with socket.socket(socket.AF_INET6) as other:
        other.bind(("::1", taken))
        other.listen()
        run = plugin.run(*argv, "-v")
    run.credential()
    port = free if skipped else taken
    assert browser.redirect_uris() == stub.exchanged
    (visit,) = browser.visits()
    assert visit["status"] == "200"
    if skipped:
        assert stub.exchanged == [f"http://localhost:{free}"]
        assert visit["refused"] == ["::1"] and visit["reached"] == "127.0.0.1"
        assert f"not listening on 127.0.0.1:{taken}: another program has [::1]:{taken}" in (
            run.stderr
        )
    else:
        assert stub.exchanged == [f"http://127.0.0.1:{port}/"]


@needs_ipv6
def test_when_every_port_is_taken_on_ipv6_the_error_says_so(
    stub: RecordingStub, plugin: Plugin, browser: RedirectBrowser
) -> None:
    taken = free_port()
    with socket.socket(socket.AF_INET6) as other:
        other.bind(("::1", taken))
        other.listen()
        run = plugin.run(*int128(stub.issuer, taken))
    assert run.returncode != 0 and run.stdout == ""
    assert "no listen address is free for the login redirect" in run.stderr
    assert f"another program has [::1]:{taken}" in run.stderr
    assert browser.visits() == [] and stub.authorized == []


# -- kubeconfig convert ---------------------------------------------------------------------


def test_convert_gives_an_int128_entry_the_redirect_int128_sends(
    stub: RecordingStub, plugin: Plugin, browser: RedirectBrowser, tmp_path: Path
) -> None:
    """An int128 entry without --oidc-redirect-url becomes --redirect-url http://localhost,
    and the converted entry sends http://localhost:PORT. Before v1.35, int128 took
    --oidc-redirect-url-hostname H for http://H:PORT: 127.0.0.1 and localhost convert."""
    port = free_port()
    base = [
        "get-token",
        f"--oidc-issuer-url={stub.issuer}",
        "--oidc-client-id=stub-client",
        f"--listen-address=127.0.0.1:{port}",
    ]
    users = {
        "default": base,
        "hostname-ip": [*base, "--oidc-redirect-url-hostname=127.0.0.1"],
        "hostname-other": [*base, "--oidc-redirect-url-hostname=workstation.example"],
        "keyboard": [
            *base,
            "--grant-type=authcode-keyboard",
            "--oidc-redirect-url=http://localhost",
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://k8s.example:6443"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "default"}}],
                "current-context": "c",
                "users": [
                    {
                        "name": name,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": "kubectl",
                                "args": ["oidc-login", *args],
                            }
                        },
                    }
                    for name, args in users.items()
                ],
            }
        )
    )
    run = plugin.run("kubeconfig", "convert", "--kubeconfig", str(path))
    assert run.returncode == 0, run.stderr
    converted = {
        u["name"]: u["user"]["exec"]["args"] for u in yaml.safe_load(path.read_text())["users"]
    }

    def redirect_of(args: list[str]) -> str:
        return args[args.index("--redirect-url") + 1]

    assert redirect_of(converted["default"]) == "http://localhost"
    assert redirect_of(converted["hostname-ip"]) == "http://127.0.0.1"
    # authcode-keyboard has no listener: the redirect URI stays as it was given.
    assert redirect_of(converted["keyboard"]) == "http://localhost"
    assert converted["hostname-other"] == ["oidc-login", *users["hostname-other"]]
    assert "--oidc-redirect-url-hostname=workstation.example" in run.stderr

    plugin.run(*converted["default"]).credential()
    assert stub.authorized == stub.exchanged == [f"http://localhost:{port}"]
