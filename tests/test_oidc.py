"""oidc against a real OpenID provider (node-oidc-provider on 127.0.0.1), logged in through
$BROWSER by a script that fills its login and consent pages, and against a stub that lies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from credplugin.errors import UpstreamError
from tests.conftest import (
    V1,
    Plugin,
    credplugin_command,
    exec_info,
)
from tests.oidc.fake_browser import log_in
from tests.standins.oidc_stub import OidcStub
from tests.standins.tls import TLSMaterial

OIDC_DIR = Path(__file__).parent / "oidc"
CLIENT = "kubectl"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("node or tests/oidc/node_modules missing (run `make test` to install)")
    proc = subprocess.Popen(
        [node, str(OIDC_DIR / "provider.mjs"), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    yield line.split()[1]
    proc.terminate()
    proc.wait(timeout=10)


class Browser:
    """$BROWSER for the plugin, and what it did."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "browser.log"
        script = OIDC_DIR / "fake_browser.py"
        self.env = {
            "BROWSER": f"{sys.executable} {script} %s",
            "FAKE_BROWSER_LOG": str(self.log),
        }

    def opened(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def browser(tmp_path: Path, plugin: Plugin) -> Browser:
    b = Browser(tmp_path)
    plugin.env.update(b.env)
    plugin.env.pop("REQUESTS_CA_BUNDLE", None)
    return b


def oidc_args(issuer: str, *extra: str, client: str = CLIENT) -> list[str]:
    return [
        "oidc",
        "--issuer-url",
        issuer,
        "--client-id",
        client,
        "--listen-address",
        "127.0.0.1:0",
        *extra,
    ]


def robot_args(issuer: str, *extra: str) -> list[str]:
    """The confidential client `robot` (its secret in OIDC_CLIENT_SECRET), client credentials."""
    return [
        "oidc",
        "--issuer-url",
        issuer,
        "--client-id",
        "robot",
        "--grant-type",
        "client-credentials",
        *extra,
    ]


def verify(issuer: str, token: str, audience: str = CLIENT) -> dict[str, Any]:
    jwks = requests.get(f"{issuer}/jwks", timeout=10).json()
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=[header["alg"]], audience=audience, issuer=issuer
    )
    return claims


def cached_refresh_token(plugin: Plugin) -> str:
    (entry,) = plugin.cache_dir.glob("*.json")
    value = json.loads(entry.read_text())["credential"]["refresh"]["refreshToken"]
    assert isinstance(value, str)
    return value


def test_authcode_login_then_cache_then_refresh_without_browser(
    issuer: str, plugin: Plugin, browser: Browser
) -> None:
    first = plugin.run(*oidc_args(issuer), exec_info=exec_info(V1))
    doc = first.credential()
    claims = verify(issuer, doc["status"]["token"])
    assert claims["sub"] == "alice" and claims["nonce"]
    assert len(browser.opened()) == 1
    opened = browser.opened()[0]
    assert "code_challenge_method=S256" in opened and "state=" in opened
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in opened
    assert opened in first.stderr  # the URL is always printed for a person without a browser

    assert plugin.run(*oidc_args(issuer)).credential()["status"] == doc["status"]
    old_refresh = cached_refresh_token(plugin)
    time.sleep(1.1)  # iat has second precision
    refreshed = plugin.run(*oidc_args(issuer, "--force-refresh", "-v"))
    assert "refreshed without a browser" in refreshed.stderr
    assert refreshed.credential()["status"]["token"] != doc["status"]["token"]
    assert len(browser.opened()) == 1
    # The provider rotated the refresh token, and the new one was stored.
    assert cached_refresh_token(plugin) != old_refresh


def test_reused_refresh_token_revokes_grant_and_we_fall_back_to_login(
    issuer: str, plugin: Plugin, browser: Browser
) -> None:
    plugin.run(*oidc_args(issuer)).credential()
    stale = cached_refresh_token(plugin)
    plugin.run(*oidc_args(issuer, "--force-refresh")).credential()
    # Someone replays the old refresh token: the provider revokes the whole grant.
    replay = requests.post(
        f"{issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": stale, "client_id": CLIENT},
        timeout=10,
    )
    assert replay.json()["error"] == "invalid_grant"
    run = plugin.run(*oidc_args(issuer, "--force-refresh", "-v"))
    assert run.credential() and "logging in again" in run.stderr
    assert len(browser.opened()) == 2


def test_parallel_cold_calls_cause_one_login(issuer: str, plugin: Plugin, browser: Browser) -> None:
    env = {**plugin.env, "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1))}
    procs = [
        subprocess.Popen(
            [*credplugin_command(), *oidc_args(issuer)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    assert len(browser.opened()) == 1


def test_device_code_login(issuer: str, plugin: Plugin, browser: Browser) -> None:
    args = oidc_args(
        issuer,
        "--grant-type",
        "device-code",
        "--skip-open-browser",
        "--device-poll-interval",
        "0.3",
    )
    proc = subprocess.Popen(
        [*credplugin_command(), *args],
        env=plugin.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    prompt = ""
    for _ in range(20):
        prompt = proc.stderr.readline()
        if "enter the code" in prompt:
            break
    words = prompt.split()
    uri, code = words[words.index("visit") + 1], words[-1]
    log_in(f"{uri}?user_code={code}", "dora", "login")  # the person, on another device
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert verify(issuer, json.loads(out)["status"]["token"])["sub"] == "dora"
    assert browser.opened() == []


@pytest.mark.parametrize("grant", ["authcode-keyboard", "password"])
def test_stdin_grants_refuse_at_once_when_not_interactive(
    issuer: str, plugin: Plugin, browser: Browser, grant: str
) -> None:
    started = time.monotonic()
    run = plugin.run(*oidc_args(issuer, "--grant-type", grant), exec_info=exec_info(V1))
    assert time.monotonic() - started < 15
    assert run.returncode == 3 and run.stdout == ""
    assert "needs a person" in run.stderr and "credplugin oidc --issuer-url" in run.stderr


def test_abandoned_login_backs_off_in_the_background(
    issuer: str, plugin: Plugin, browser: Browser
) -> None:
    plugin.env["FAKE_BROWSER_MODE"] = "ignore"
    args = oidc_args(issuer, "--authentication-timeout", "1.5")
    first = plugin.run(*args, exec_info=exec_info(V1))
    assert first.returncode == 3 and "nobody finished the browser login" in first.stderr
    second = plugin.run(*args, exec_info=exec_info(V1))
    assert second.returncode == 3 and "was abandoned" in second.stderr
    assert len(browser.opened()) == 1  # no second tab


def test_use_access_token_and_client_credentials(issuer: str, plugin: Plugin) -> None:
    plugin.env.pop("REQUESTS_CA_BUNDLE", None)
    run = plugin.run(*robot_args(issuer), env={"OIDC_CLIENT_SECRET": "robot-secret-value"})
    doc = run.credential()
    assert doc["status"]["token"] and "expirationTimestamp" in doc["status"]
    assert "robot-secret-value" not in run.stderr


def test_plain_http_issuer_is_refused_off_loopback(plugin: Plugin) -> None:
    run = plugin.run("oidc", "--issuer-url", "http://idp.example", "--client-id", "x")
    assert run.returncode == 2 and "must be https" in run.stderr


def test_non_loopback_listen_address_is_refused(issuer: str, plugin: Plugin) -> None:
    plugin.env.pop("REQUESTS_CA_BUNDLE", None)
    run = plugin.run(
        "oidc", "--issuer-url", issuer, "--client-id", CLIENT, "--listen-address", "0.0.0.0:8000"
    )
    assert run.returncode == 2 and "loopback only" in run.stderr


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("bad-signature", "Signature verification failed"),
        ("wrong-aud", "Audience doesn't match"),
        ("wrong-iss", "Invalid issuer"),
        ("wrong-nonce", "wrong nonce"),
        ("wrong-state", "redirect(s) with a wrong state were ignored"),
        ("expired", "Signature has expired"),
        ("alg-hs256", "'HS256', which is not allowed"),
        ("no-kid-match", "not in the issuer's JWKS"),
    ],
)
def test_tampered_logins_are_rejected(
    plugin: Plugin, browser: Browser, mode: str, message: str
) -> None:
    # Only the forged redirect must run out of time; the others end when the browser is done.
    allowance = "3" if mode == "wrong-state" else "30"
    with OidcStub() as stub:
        stub.mode = mode
        run = plugin.run(
            *oidc_args(stub.issuer, "--authentication-timeout", allowance, client=stub.client_id)
        )
    # A forged redirect can neither finish nor abort the login: it runs out of time (exit 3).
    assert run.returncode == (3 if mode == "wrong-state" else 4) and run.stdout == ""
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not list(plugin.cache_dir.glob("*.json"))


def test_the_stub_accepts_an_honest_login(plugin: Plugin, browser: Browser) -> None:
    with OidcStub() as stub:
        run = plugin.run(*oidc_args(stub.issuer, client=stub.client_id))
    assert run.credential()["status"]["token"].count(".") == 2


def test_an_idle_preconnect_does_not_block_the_redirect() -> None:
    """Browsers open speculative connections and send nothing on them; the listener must
    still take the real redirect at once."""
    import socket

    from credplugin.flows.loopback import LoopbackRedirect

    with LoopbackRedirect(["127.0.0.1:0"], "the-state") as listener:
        idle = socket.create_connection((listener.host, listener.port))
        try:
            time.sleep(0.3)
            answer = requests.get(
                f"http://127.0.0.1:{listener.port}/?code=abc&state=the-state", timeout=5
            )
            assert answer.status_code == 200
            assert listener.wait(5) == "abc"
        finally:
            idle.close()


def test_an_issuer_ending_in_a_slash_is_compared_exactly(plugin: Plugin, browser: Browser) -> None:
    """Auth0's issuer is https://tenant.auth0.com/ (with the slash): taken as given."""
    with OidcStub(issuer_suffix="/") as stub:
        run = plugin.run(*oidc_args(stub.issuer, client=stub.client_id))
    assert run.credential()["status"]["token"].count(".") == 2


def test_identity_provider_errors_never_echo_what_we_sent(plugin: Plugin, browser: Browser) -> None:
    with OidcStub() as stub:
        stub.mode = "echo-error"
        run = plugin.run(*oidc_args(stub.issuer, client=stub.client_id))
    assert run.returncode == 4 and run.stdout == ""
    assert "exchanging the authorization code was refused: invalid_request" in run.stderr
    assert "code_verifier=***" in run.stderr or "code_verifier" not in run.stderr
    assert "code=***" in run.stderr


def test_one_login_serves_every_cluster_of_the_issuer(
    issuer: str, plugin: Plugin, browser: Browser
) -> None:
    """The server URL is not part of a login provider's key: ten clusters, one login."""
    for server in ("https://a.example", "https://b.example"):
        plugin.run(*oidc_args(issuer), exec_info=exec_info(V1, server=server)).credential()
    assert len(browser.opened()) == 1
    assert len(list(plugin.cache_dir.glob("*.json"))) == 1


def test_issuer_scheme_check_is_case_insensitive(plugin: Plugin) -> None:
    run = plugin.run("oidc", "--issuer-url", "HTTP://idp.example", "--client-id", "x")
    assert run.returncode == 2 and "must be https" in run.stderr


def test_access_token_without_lifetime_is_not_kept_forever() -> None:
    from credplugin.providers.oidc.fetch import UNKNOWN_LIFETIME, _access_token_expiry
    from tests.conftest import make_jwt

    now = 1_800_000_000.0
    assert _access_token_expiry({"access_token": "opaque", "expires_in": 60}, now) == now + 60
    assert _access_token_expiry({"access_token": "opaque"}, now) == now + UNKNOWN_LIFETIME
    jwt_token = make_jwt({"exp": int(now) + 600})
    assert _access_token_expiry({"access_token": jwt_token}, now) == now + 600
    assert _access_token_expiry({"access_token": "x", "expires_in": "60"}, now) == now + 60
    for junk in ("junk", float("nan"), float("inf"), 10**400, 1e308, -5, 0, True, None):
        if junk is None:
            continue
        with pytest.raises(UpstreamError, match="expires_in"):
            _access_token_expiry({"access_token": "x", "expires_in": junk}, now)
    with pytest.raises(UpstreamError, match="exp"):
        _access_token_expiry({"access_token": make_jwt({"exp": 10**400})}, now)


def test_login_hint_is_sent_and_keeps_two_accounts_apart(
    plugin: Plugin, tls: TLSMaterial, tmp_path: Path
) -> None:
    """Two accounts at one issuer: each --login-hint has its own cache entry, and the issuer
    is told whom to sign in."""
    from tests.standins.hostile import CLIENT_ID, Endpoint, HostileIdP

    browser = (
        f"{sys.executable} -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1])'"
    )
    plugin.env.update({"REQUESTS_CA_BUNDLE": str(tls.ca_path), "SSL_CERT_FILE": str(tls.ca_path)})
    with HostileIdP(tls) as idp:
        for who in ("alice@example.test", "bob@example.test"):
            run = plugin.run(
                "oidc",
                "--issuer-url",
                idp.url,
                "--client-id",
                CLIENT_ID,
                "--login-hint",
                who,
                "--browser-command",
                browser,
                "--listen-address",
                "127.0.0.1:0",
                exec_info=exec_info(V1, interactive=True),
            )
            assert run.credential()
        authorize = idp.requests_to(Endpoint.AUTHORIZE)
        hints = [r.query.get("login_hint") for r in authorize]
    assert hints == ["alice@example.test", "bob@example.test"]
    assert len(list(plugin.cache_dir.glob("*.json"))) == 2
