"""Identity providers and every HTTP endpoint are outside our control: bounded sizes, bounded
time, no redirect that re-sends a secret, no control character on the terminal, no number or
nesting that turns into an internal error (DESIGN.md, Trust boundaries).

The real CLI against tests/standins/hostile.py, an issuer that lies, streams, stalls,
redirects and writes control characters, and records every request it receives.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import V1, Plugin, aws_static_env, exec_info
from tests.standins.hostile import (
    ALL_ENDPOINTS,
    CLIENT_ID,
    CLIENT_SECRET,
    GIB,
    BadNumbers,
    ControlChars,
    DeepNesting,
    Endpoint,
    Framing,
    HostileIdP,
    HugeBody,
    Nesting,
    Raw,
    Redirect,
    RedirectTarget,
    SlowLoris,
    Stall,
)
from tests.standins.tls import TLSMaterial

CONTROL = ("\x1b", "\x07", "\x00", "\x9b", "\r", "\x7f")


@pytest.fixture
def idp(tls: TLSMaterial, plugin: Plugin) -> Iterator[HostileIdP]:
    plugin.env["REQUESTS_CA_BUNDLE"] = str(tls.ca_path)
    plugin.env["OIDC_CLIENT_SECRET"] = CLIENT_SECRET
    with HostileIdP(tls) as server:
        yield server


def robot(plugin: Plugin, idp: HostileIdP, *extra: str, timeout: float = 60) -> Any:
    """The client-credentials grant: nobody involved, so only --timeout bounds it."""
    started = time.monotonic()
    run = plugin.run(
        "oidc",
        "--issuer-url",
        idp.url,
        "--client-id",
        CLIENT_ID,
        "--grant-type",
        "client-credentials",
        "--use-access-token",
        *extra,
        timeout=timeout,
    )
    run.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return run


def assert_clean_failure(run: Any, code: int, *words: str) -> None:
    assert run.returncode == code, run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert "internal error" not in run.stderr
    for word in words:
        assert word in run.stderr


def test_the_well_behaved_issuer_works(plugin: Plugin, idp: HostileIdP) -> None:
    """The baseline: every other test here differs only by the misbehaviour."""
    assert robot(plugin, idp).credential()["status"]["token"]


# -- size ------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [Endpoint.DISCOVERY, Endpoint.TOKEN])
@pytest.mark.parametrize("framing", [Framing.CHUNKED, Framing.CONTENT_LENGTH])
def test_a_gigabyte_answer_is_refused_after_a_few_mebibytes(
    plugin: Plugin, idp: HostileIdP, endpoint: Endpoint, framing: Framing
) -> None:
    idp.misbehave(endpoint, HugeBody(GIB, framing=framing))
    run = robot(plugin, idp)
    assert_clean_failure(run, 4, "sent more than 4 MiB")
    assert run.seconds < 20


def test_a_huge_jwks_is_refused(plugin: Plugin, idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.JWKS, HugeBody(GIB))
    run = plugin.run(
        "oidc",
        "--issuer-url",
        idp.url,
        "--client-id",
        CLIENT_ID,
        "--grant-type",
        "client-credentials",
    )
    assert_clean_failure(run, 4, "sent more than 4 MiB")


# -- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [SlowLoris(interval=0.5), SlowLoris(interval=0.5, drip_headers=True), Stall()],
    ids=["drip-body", "drip-headers", "stall"],
)
@pytest.mark.parametrize("endpoint", [Endpoint.DISCOVERY, Endpoint.TOKEN])
def test_a_fetch_that_needs_nobody_is_bounded_by_the_timeout(
    plugin: Plugin, idp: HostileIdP, behaviour: Any, endpoint: Endpoint
) -> None:
    """Not by the 180 s a person may take to log in: --timeout 2 ends within 3*2+5 s."""
    idp.misbehave(endpoint, behaviour)
    run = robot(plugin, idp, "--timeout", "2")
    assert_clean_failure(run, 5)
    assert run.seconds < 11 + 5, run.seconds


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_token_request_is_never_sent_to_where_a_redirect_points(
    plugin: Plugin, idp: HostileIdP, status: int
) -> None:
    idp.misbehave(Endpoint.TOKEN, Redirect(status))
    run = robot(plugin, idp)
    assert_clean_failure(run, 4, "redirected a POST", "not followed")
    assert idp.other.requests == [] and not idp.other.carried(CLIENT_SECRET)


def test_https_never_follows_to_plain_http(plugin: Plugin, idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.DISCOVERY, Redirect(302, RedirectTarget.PLAIN_HTTP))
    run = robot(plugin, idp)
    assert_clean_failure(run, 4, "off https")
    assert idp.plain.requests == []


# -- text for a terminal ---------------------------------------------------------------------


def test_an_error_description_cannot_write_control_characters_or_forge_a_line(
    plugin: Plugin, idp: HostileIdP
) -> None:
    idp.misbehave(Endpoint.TOKEN, ControlChars())
    run = robot(plugin, idp)
    assert_clean_failure(run, 4, "was refused")
    assert not any(c in run.stderr for c in CONTROL)
    assert all(line.startswith("credplugin: ") for line in run.stderr.splitlines())
    assert len(run.stderr.splitlines()) == 1 and "\\x1b" in run.stderr


def test_a_device_code_prompt_cannot_write_control_characters(
    plugin: Plugin, idp: HostileIdP
) -> None:
    idp.misbehave(Endpoint.DEVICE_AUTHORIZATION, ControlChars())
    run = plugin.run(
        "oidc",
        "--issuer-url",
        idp.url,
        "--client-id",
        CLIENT_ID,
        "--grant-type",
        "device-code",
        "--skip-open-browser",
    )
    assert run.credential()  # the code is approved at once: the login still works
    assert not any(c in run.stderr for c in CONTROL)
    assert not any(line.startswith("credplugin: error") for line in run.stderr.splitlines())


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [1e308, 10**400, -5, float("nan"), float("inf"), Raw("1e999"), "NaN"],
    ids=["1e308", "10^400", "negative", "NaN", "Infinity", "1e999", "string-NaN"],
)
def test_an_absurd_expires_in_is_a_clear_upstream_error(
    plugin: Plugin, idp: HostileIdP, value: Any
) -> None:
    idp.misbehave(Endpoint.TOKEN, BadNumbers(expires_in=value))
    run = robot(plugin, idp)
    assert_clean_failure(run, 4, "expires_in")


@pytest.mark.parametrize(
    "value",
    [10**400, float("nan"), float("inf"), -1e300],
    ids=["10^400", "NaN", "Infinity", "far-past"],
)
def test_absurd_times_in_a_signed_id_token_are_a_clear_upstream_error(
    plugin: Plugin, idp: HostileIdP, value: Any
) -> None:
    idp.misbehave(Endpoint.TOKEN, BadNumbers(id_token_exp=value))
    run = plugin.run(
        "oidc",
        "--issuer-url",
        idp.url,
        "--client-id",
        CLIENT_ID,
        "--grant-type",
        "client-credentials",
    )
    assert_clean_failure(run, 4, "ID token")


# -- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS[:3], ids=lambda e: e.name.lower())
@pytest.mark.parametrize("shape", [Nesting.ARRAY, Nesting.OBJECT])
def test_deeply_nested_json_is_a_clear_upstream_error(
    plugin: Plugin, idp: HostileIdP, endpoint: Endpoint, shape: Nesting
) -> None:
    idp.misbehave(endpoint, DeepNesting(shape=shape))
    run = plugin.run(
        "oidc",
        "--issuer-url",
        idp.url,
        "--client-id",
        CLIENT_ID,
        "--grant-type",
        "client-credentials",
    )
    assert_clean_failure(run, 4)


def test_deeply_nested_exec_info_is_a_warning_not_a_crash(plugin: Plugin, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    run = plugin.run("service-account", "--token-file", str(token), exec_info="[" * 60000)
    assert run.credential()["apiVersion"].endswith("v1beta1")
    assert "is not a JSON object" in run.stderr


# -- STS -------------------------------------------------------------------------------------


class _Flood(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        try:
            chunk = b"<a>" * 20000
            for _ in range(100_000):  # ~6 GB, never all sent
                self.wfile.write(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flooding_sts() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_sts_answer_is_bounded_too(plugin: Plugin, flooding_sts: str) -> None:
    plugin.env.update(aws_static_env())
    info = exec_info(V1, server="https://x.example")
    run = plugin.run(
        "aws",
        "--cluster-id",
        "c",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--sts-endpoint",
        flooding_sts,
        exec_info=json.dumps(info),
    )
    assert_clean_failure(run, 4, "sent more than 4 MiB")
