"""Reliability under load and faults: storms on a cold cache, a full disk, signals during a
login, secrets at -vvv, and fuzzed cache files. Real CLI processes, real stand-ins."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import V1, Plugin, aws_static_env, credplugin_command, exec_info
from tests.standins.google_oauth import GoogleOAuthStandIn
from tests.standins.tls import TLSMaterial
from tests.test_google_service_account import SA, write_key
from tests.test_oidc import OIDC_DIR, cached_refresh_token, oidc_args, robot_args


def test_forty_parallel_cold_calls_make_one_upstream_request(
    plugin: Plugin, google: GoogleOAuthStandIn, tls: TLSMaterial, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    env = {
        **plugin.env,
        "REQUESTS_CA_BUNDLE": str(tls.ca_path),
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1, server="https://storm.example")),
    }
    command = [*credplugin_command(), "google-service-account", "--key-file", str(key_file)]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(40)
    ]
    results = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-300:] for _, err in results]
    outputs = {out for out, _ in results}
    assert len(outputs) == 1
    doc = json.loads(outputs.pop())
    assert google.issued(doc["status"]["token"]) is not None
    assert google.count() == 1, "one upstream request for 40 processes"


def test_full_disk_still_gives_the_credential(plugin: Plugin, tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        cache = mount / "cache"
        cache.mkdir(mode=0o700)
        try:
            with open(mount / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        except OSError:
            pass  # the disk is full now
        plugin.env.update(aws_static_env())
        run = plugin.run("aws", "-i", "c", "--cache-dir", str(cache))
        assert run.credential()["status"]["token"].startswith("k8s-aws-v1.")
        warnings = [line for line in run.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "not cached" in warnings[0], run.stderr
        assert not [p for p in cache.iterdir() if ".tmp." in p.name], "no partial file"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@contextlib.contextmanager
def node_issuer() -> Iterator[str]:
    """A fresh node-oidc-provider on 127.0.0.1 for one test; yields its issuer URL."""
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("tests/oidc/node_modules missing")
    provider = subprocess.Popen(
        ["node", str(OIDC_DIR / "provider.mjs"), "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert provider.stdout is not None
        yield provider.stdout.readline().split()[1]
    finally:
        provider.terminate()
        provider.wait(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_a_browser_login_leaves_no_lock_or_partial_file(
    plugin: Plugin, tmp_path: Path, signum: int
) -> None:
    with node_issuer() as issuer:
        log = tmp_path / "browser.log"
        env = {
            **plugin.env,
            "BROWSER": f"{sys.executable} {OIDC_DIR / 'fake_browser.py'} %s",
            "FAKE_BROWSER_LOG": str(log),
            "FAKE_BROWSER_MODE": "ignore",  # the person never logs in
        }
        env.pop("REQUESTS_CA_BUNDLE", None)
        login = subprocess.Popen(
            [*credplugin_command(), *oidc_args(issuer)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.exists(), "the login never opened a browser"
        login.send_signal(signum)
        out, err = login.communicate(timeout=30)
        assert login.returncode == 130 and out == ""
        assert "interrupted" in err and "Traceback" not in err
        assert not [p for p in plugin.cache_dir.iterdir() if ".tmp." in p.name]
        # The lock is free: the next attempt gets as far as opening a browser again at once.
        env["FAKE_BROWSER_MODE"] = "login"
        again = subprocess.run(
            [*credplugin_command(), *oidc_args(issuer)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert "waiting for another credplugin process" not in again.stderr


def test_oidc_secrets_never_reach_stderr_at_vvv(plugin: Plugin, tmp_path: Path) -> None:
    with node_issuer() as issuer:
        env = {
            "BROWSER": f"{sys.executable} {OIDC_DIR / 'fake_browser.py'} %s",
            "REQUESTS_CA_BUNDLE": "",
        }
        first = plugin.run(*oidc_args(issuer, "-vvv"), env=env)
        token = first.credential()["status"]["token"]
        refresh_token = cached_refresh_token(plugin)
        second = plugin.run(*oidc_args(issuer, "-vvv", "--force-refresh"), env=env)
        second.credential()
        for run in (first, second):
            assert refresh_token not in run.stderr
            assert token not in run.stderr
        robot = plugin.run(
            *robot_args(issuer, "-vvv"), env={**env, "OIDC_CLIENT_SECRET": "robot-secret-value"}
        )
        robot.credential()
        assert "robot-secret-value" not in robot.stderr


cache_garbage = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=10,
    ).map(lambda doc: json.dumps(doc).encode()),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=cache_garbage, keep_frame=st.booleans())
def test_fuzzed_cache_files_never_break_a_call(
    plugin: Plugin, garbage: bytes, keep_frame: bool
) -> None:
    plugin.env.update(aws_static_env())
    first = plugin.run("aws", "-i", "fuzz")
    first.credential()
    (entry,) = plugin.cache_dir.glob("*.json")
    if keep_frame:
        # A well-formed envelope around a garbled credential.
        doc = json.loads(entry.read_text())
        doc["credential"] = json.loads(garbage) if _is_json(garbage) else garbage.decode("latin-1")
        garbage = json.dumps(doc).encode()
    entry.write_bytes(garbage)
    os.chmod(entry, 0o600)
    run = plugin.run("aws", "-i", "fuzz")
    assert run.credential()["status"]["token"].startswith("k8s-aws-v1.")
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
