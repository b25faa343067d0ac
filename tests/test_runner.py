"""The one path every provider takes: cache hits, refresh, locks, deadlines, fallbacks, stdout.

The runner is real and runs in its own process; the upstream is tests/fileprovider.py, a
provider whose identity provider is a JSON file that counts its requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import V1, V1BETA1, Run, clean_environ, exec_info


class Upstream:
    def __init__(self, tmp_path: Path, home: Path) -> None:
        self.path = tmp_path / "upstream.json"
        self.cache_dir = tmp_path / "cache"
        self.env = clean_environ(home)
        self.env["CREDPLUGIN_CACHE_DIR"] = str(self.cache_dir)
        self.set(token="tok-1")

    def set(self, **spec: Any) -> None:
        self.path.write_text(json.dumps(spec))

    def count(self) -> int:
        counter = Path(f"{self.path}.count")
        return len(counter.read_text().splitlines()) if counter.exists() else 0

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tests.fileprovider", "--upstream", str(self.path), *args]

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env={**self.env, **(env or {})},
            cwd=Path(__file__).parent.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        proc = self.popen(*args, env=env)
        out, err = proc.communicate(timeout=timeout)
        return Run(proc.returncode, out, err)

    def entry_file(self) -> Path:
        (entry,) = self.cache_dir.glob("*.json")
        return entry


@pytest.fixture
def upstream(tmp_path: Path, isolated_home: Path) -> Upstream:
    return Upstream(tmp_path, isolated_home)


def token(run: Run) -> str:
    value = run.credential()["status"]["token"]
    assert isinstance(value, str)
    return value


def test_second_call_is_served_from_cache_without_upstream(upstream: Upstream) -> None:
    first = upstream.run()
    second = upstream.run()
    assert token(first) == token(second) == "tok-1"
    assert first.stdout == second.stdout
    assert upstream.count() == 1
    entry = upstream.entry_file()
    assert entry.stat().st_mode & 0o777 == 0o600
    assert upstream.cache_dir.stat().st_mode & 0o777 == 0o700


def test_short_lived_token_is_still_cached_margin_capped_at_half_lifetime(
    upstream: Upstream,
) -> None:
    # 120 s token, 300 s default margin: without the cap every call would refetch.
    upstream.set(token="short", expires_in=120)
    upstream.run()
    upstream.run()
    assert upstream.count() == 1


def test_refresh_margin_is_honoured(upstream: Upstream) -> None:
    upstream.set(token="t", expires_in=3600)
    upstream.run()
    upstream.run("--refresh-margin", "100")
    assert upstream.count() == 1
    _age_entry(upstream, issued_ago=3400, expires_in=200)
    upstream.run("--refresh-margin", "100")  # 200 s left > 100 s margin: a hit
    assert upstream.count() == 1
    upstream.run()  # default 300 s margin: a refresh
    assert upstream.count() == 2


def test_force_refresh_and_no_cache_fetch_every_time(upstream: Upstream) -> None:
    upstream.run()
    upstream.set(token="tok-2")
    assert token(upstream.run("--force-refresh")) == "tok-2"
    assert token(upstream.run()) == "tok-2"
    assert upstream.count() == 2
    upstream.set(token="tok-3")
    assert token(upstream.run("--no-cache")) == "tok-3"
    assert upstream.count() == 3
    assert token(upstream.run()) == "tok-2"  # --no-cache wrote nothing


def test_cache_key_separates_servers_options_and_identity_env(upstream: Upstream) -> None:
    a = exec_info(V1, server="https://a.example")
    b = exec_info(V1, server="https://b.example")
    upstream.run(env={"KUBERNETES_EXEC_INFO": json.dumps(a)})
    upstream.run(env={"KUBERNETES_EXEC_INFO": json.dumps(b)})
    upstream.run("--audience", "x")
    upstream.run(env={"FILE_ID": "other-account"})
    assert upstream.count() == 4
    # Non-identity options and the apiVersion asked for do not split the cache.
    upstream.run("--timeout", "5", "-v", "--refresh-margin", "10", "--server", "https://a.example")
    upstream.run(env={"KUBERNETES_EXEC_INFO": json.dumps({**a, "apiVersion": V1BETA1})})
    assert upstream.count() == 4
    # An option from the cluster config is the same identity as on the command line.
    configured = exec_info(V1, server="https://a.example", config={"audience": "y"})
    upstream.run(env={"KUBERNETES_EXEC_INFO": json.dumps(configured)})
    upstream.run("--audience", "y", "--server", "https://a.example")
    assert upstream.count() == 5


def test_failed_refresh_serves_the_still_valid_cached_token(upstream: Upstream) -> None:
    upstream.run()
    _age_entry(upstream, issued_ago=3500, expires_in=100)  # inside the margin, not expired
    upstream.set(fail="token endpoint answered 500")
    run = upstream.run()
    assert token(run) == "tok-1"
    assert "warning: refresh failed (token endpoint answered 500)" in run.stderr
    assert upstream.count() == 2


def test_failed_refresh_of_an_expired_token_is_an_error(upstream: Upstream) -> None:
    upstream.run()
    _age_entry(upstream, issued_ago=4000, expires_in=-5)
    upstream.set(fail="token endpoint answered 500")
    run = upstream.run()
    assert run.returncode == 4 and run.stdout == ""
    assert run.stderr.strip().splitlines() == ["credplugin: error: token endpoint answered 500"]


def test_refresh_material_of_the_previous_entry_reaches_the_provider(upstream: Upstream) -> None:
    upstream.run()
    upstream.set(token="tok-2")
    upstream.run("--force-refresh")
    stored = json.loads(upstream.entry_file().read_text())
    assert stored["credential"]["refresh"] == {"previous_token": "tok-1"}


def test_corrupt_entry_is_replaced(upstream: Upstream) -> None:
    upstream.run()
    entry = upstream.entry_file()
    entry.write_text('{"format": "credplugin-cache/1", "key": "trunc')
    upstream.set(token="tok-2")
    assert token(upstream.run()) == "tok-2"
    assert json.loads(entry.read_text())["credential"]["token"] == "tok-2"


def test_unusable_cache_dir_still_gives_the_credential(upstream: Upstream, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = upstream.run("--cache-dir", str(blocker / "cache"))
    assert token(run) == "tok-1"
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "cannot create cache directory" in warnings[0]


def test_parallel_cold_calls_cause_one_upstream_fetch(upstream: Upstream) -> None:
    upstream.set(token="shared", sleep=0.5)
    procs = [upstream.popen() for _ in range(20)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert len({out for out, _ in results}) == 1
    assert upstream.count() == 1


def test_waiters_say_who_they_wait_for(upstream: Upstream) -> None:
    upstream.set(token="slow", sleep=2.5)
    holder = upstream.popen()
    time.sleep(0.5)
    waiter = upstream.run()
    holder.communicate(timeout=30)
    assert token(waiter) == "slow"
    assert f"waiting for another credplugin process (pid {holder.pid})" in waiter.stderr
    assert upstream.count() == 1


def test_lock_wait_is_bounded(upstream: Upstream) -> None:
    upstream.set(token="slow", sleep=4)
    holder = upstream.popen()
    time.sleep(0.5)
    waiter = upstream.run("--lock-wait", "1")
    holder.communicate(timeout=30)
    assert waiter.returncode == 5 and waiter.stdout == ""
    assert f"gave up after 1s waiting for another credplugin process (pid {holder.pid})" in (
        waiter.stderr
    )


def test_hung_upstream_is_cut_by_the_deadline(upstream: Upstream) -> None:
    upstream.set(token="never", sleep=600)
    started = time.monotonic()
    run = upstream.run("--deadline", "1.5")
    assert time.monotonic() - started < 15
    assert run.returncode == 5 and run.stdout == ""
    assert "no credential after 2s" in run.stderr or "no credential after 1s" in run.stderr
    upstream.set(token="after")
    assert token(upstream.run()) == "after"  # the lock was released


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_fetch_releases_lock_and_leaves_no_partial_file(
    upstream: Upstream, signum: int
) -> None:
    upstream.set(token="never", sleep=600)
    proc = upstream.popen()
    deadline = time.monotonic() + 20
    while upstream.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and out == ""
    assert "interrupted" in err and "Traceback" not in err
    assert not [p for p in upstream.cache_dir.iterdir() if ".tmp." in p.name]
    upstream.set(token="next")
    assert token(upstream.run()) == "next"


def test_stdout_holds_only_the_document_whatever_the_provider_prints(upstream: Upstream) -> None:
    upstream.set(token="quiet", chatter=True)
    run = upstream.run()
    assert token(run) == "quiet"
    assert "library chatter on stdout" in run.stderr
    assert "child process chatter on stdout" in run.stderr


def test_provider_bug_is_one_line_and_traceback_only_with_verbose(upstream: Upstream) -> None:
    upstream.set(crash=True)
    quiet = upstream.run()
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert quiet.stderr.strip().splitlines() == [
        "credplugin: error: internal error: RuntimeError: provider bug"
    ]
    loud = upstream.run("-v")
    assert "Traceback" in loud.stderr and "provider bug" in loud.stderr


def test_prompt_when_nobody_can_answer_fails_at_once_naming_the_command(
    upstream: Upstream,
) -> None:
    upstream.set(ask=True)
    info = exec_info(V1, interactive=False, server="https://c.example", config={"audience": "aud"})
    started = time.monotonic()
    run = upstream.run(
        "--client-secret",
        "s3cr3t-value",
        env={"KUBERNETES_EXEC_INFO": json.dumps(info)},
    )
    assert time.monotonic() - started < 10
    assert run.returncode == 3 and run.stdout == ""
    assert "Verification code needs a person" in run.stderr
    # The command fills the same cache entry: cluster config and server spelled out.
    assert "--audience aud" in run.stderr and "--server https://c.example" in run.stderr
    # The secret is part of the key too: a placeholder says it must be given.
    assert "--client-secret '<client-secret>'" in run.stderr
    assert "s3cr3t-value" not in run.stderr


def test_interactive_prompt_reads_the_answer_from_stdin(upstream: Upstream) -> None:
    upstream.set(token="tok", ask=True)
    info = exec_info(V1, interactive=True)
    proc = subprocess.run(
        upstream.command(),
        env={**upstream.env, "KUBERNETES_EXEC_INFO": json.dumps(info)},
        cwd=Path(__file__).parent.parent,
        input="123456\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"]["token"] == "tok-123456"
    assert "Verification code: " in proc.stderr


def test_secrets_never_reach_stderr_even_at_vvv(upstream: Upstream) -> None:
    upstream.set(token="tok-very-secret-value")
    run = upstream.run("--client-secret", "s3cr3t-value", "-vvv")
    assert token(run) == "tok-very-secret-value"
    assert "s3cr3t-value" not in run.stderr and "tok-very-secret-value" not in run.stderr
    assert "cache miss" in run.stderr


def _age_entry(upstream: Upstream, *, issued_ago: float, expires_in: float) -> None:
    """Shift the cached credential in time, as if it had been fetched `issued_ago` s ago."""
    entry = upstream.entry_file()
    doc = json.loads(entry.read_text())
    now = time.time()
    doc["credential"]["issuedAt"] = now - issued_ago
    doc["credential"]["expiresAt"] = now + expires_in
    entry.write_text(json.dumps(doc))
    os.chmod(entry, 0o600)


def test_abandoned_login_is_not_retried_in_the_background_for_a_while(
    upstream: Upstream,
) -> None:
    upstream.set(abandon=True)
    first = upstream.run()
    assert first.returncode == 3 and "nobody finished the login" in first.stderr
    again = upstream.run()
    assert again.returncode == 3 and again.stdout == ""
    assert "was abandoned (nobody finished the login within 180s)" in again.stderr
    assert "in a terminal" in again.stderr
    assert upstream.count() == 1  # no second login was started
    # A person at a terminal may try again at once, and success clears the back-off.
    upstream.set(token="finally")
    info = json.dumps(exec_info(V1, interactive=True))
    assert token(upstream.run(env={"KUBERNETES_EXEC_INFO": info})) == "finally"
    assert not list(upstream.cache_dir.glob("*.backoff"))


def test_lock_wait_timeout_serves_a_still_valid_cached_token(upstream: Upstream) -> None:
    upstream.run()
    _age_entry(upstream, issued_ago=3500, expires_in=100)  # due for refresh, still valid
    upstream.set(token="slow", sleep=4)
    holder = upstream.popen()
    time.sleep(0.5)
    waiter = upstream.run("--lock-wait", "1")
    holder.communicate(timeout=30)
    assert token(waiter) == "tok-1"
    assert "serving the cached credential" in waiter.stderr
    assert "waiting for another credplugin process" in waiter.stderr


def test_a_due_login_is_not_started_in_the_background_while_the_token_works(
    upstream: Upstream,
) -> None:
    upstream.run()
    _age_entry(upstream, issued_ago=3500, expires_in=100)
    upstream.set(token="new", login=True)
    run = upstream.run()
    assert token(run) == "tok-1"
    assert "a new login is due but not started in the background" in run.stderr
    assert "--force-refresh" in run.stderr
    # At a terminal (or with --force-refresh, or once expired) the login goes ahead.
    info = json.dumps(exec_info(V1, interactive=True))
    assert token(upstream.run(env={"KUBERNETES_EXEC_INFO": info})) == "new"


def test_every_seconds_option_is_bounded(upstream: Upstream) -> None:
    for args in (("--timeout", "nan"), ("--refresh-margin", "inf"), ("--deadline", "-1")):
        run = upstream.run(*args)
        assert run.returncode == 2 and "must be between 0 and 86400 seconds" in run.stderr
