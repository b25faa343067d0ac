"""The Secret Service stand-in against real clients: the ``keyring`` library (in subprocesses,
as the plugin would use it), ``secret-tool`` (libsecret, an independent client) and
``secretstorage``. Also pins down, with bounds, what those clients do when the keyring is
locked, absent, hung or has nobody to answer its prompt: the facts the plugin's fallback
relies on.

Measured here (gnome-keyring 42.1, keyring 25.7.0, SecretStorage 3.5.0, jeepney 0.9.0):

* locked, no prompter on the bus (a headless box): ``keyring.get_password`` asks to unlock,
  the prompt is dismissed at once, ``KeyringLocked`` in ~0.2 s (process included);
* locked, a prompter that shows its dialog and nobody answers (a desktop, kubectl running us
  in the background): ``keyring`` waits forever: no timeout anywhere in keyring/secretstorage;
  killing that client leaves the prompt open, and every later unlock queues behind it;
* locked, a prompter that never replies: gnome-keyring gives up after its own D-Bus call
  timeout, 25 s, then ``KeyringLocked``;
* daemon hung (SIGSTOP): ``keyring`` waits forever (``secret-tool`` gives up after 50 s);
* no daemon on the bus: with ``PYTHON_KEYRING_BACKEND`` forced, ``RuntimeError`` from
  ``get_keyring()`` (not a ``KeyringError``); auto-detected, ``NoKeyringError`` from the
  ``fail`` backend; both in well under a second;
* no session bus: ``RuntimeError`` (variable unset) or a bare ``FileNotFoundError`` (address
  naming a missing socket) -- again not ``KeyringError``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.standins.secret_service import (
    SECRET_SERVICE_BACKEND,
    SecretServiceStandIn,
    no_session_bus_env,
    unavailable_reason,
)

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
needs_secret_tool = pytest.mark.skipif(
    shutil.which("secret-tool") is None,
    reason="secret-tool not installed (Debian package libsecret-tools)",
)

# A keyring client in a fresh process: `python -c CLIENT op args...` prints one JSON line.
CLIENT = r"""
import json, sys, time
began = time.perf_counter()
op, *args = sys.argv[1:]
try:
    import keyring
    if op == "set":
        value = keyring.set_password(*args)
    elif op == "get":
        value = keyring.get_password(*args)
    elif op == "delete":
        value = keyring.delete_password(*args)
    elif op == "backend":
        kr = keyring.get_keyring()
        value = type(kr).__module__ + "." + type(kr).__qualname__
    else:
        raise SystemExit("unknown op " + op)
    result = {"ok": True, "value": value}
except Exception as exc:
    result = {"ok": False, "error": type(exc).__module__ + "." + type(exc).__qualname__,
              "message": str(exc)}
result["seconds"] = time.perf_counter() - began
print(json.dumps(result))
"""

KEYRING_LOCKED = "keyring.errors.KeyringLocked"


@dataclass
class ClientResult:
    """What one keyring client process did, and how long it took (wall clock, process
    start included). `hung` means it was killed at the timeout."""

    hung: bool
    seconds: float
    ok: bool = False
    value: Any = None
    error: str = ""
    message: str = ""


def keyring_client(env: Mapping[str, str], *args: str, timeout: float = 30) -> ClientResult:
    began = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CLIENT, *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ClientResult(hung=True, seconds=time.perf_counter() - began)
    seconds = time.perf_counter() - began
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return ClientResult(
        hung=False,
        seconds=seconds,
        ok=doc["ok"],
        value=doc.get("value"),
        error=doc.get("error", ""),
        message=doc.get("message", ""),
    )


def secret_tool(
    env: Mapping[str, str], *args: str, stdin: str | None = None, timeout: float = 10
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["secret-tool", *args],
        env=dict(env),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[SecretServiceStandIn]:
    standin = SecretServiceStandIn(tmp_path / "secret-service")
    with standin:
        yield standin
    assert standin.leftover_pids() == []


# -- the stand-in itself --------------------------------------------------------------------


def test_starts_a_private_bus_fast_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever session bus the caller has must stay out of it.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/caller-bus")
    began = time.perf_counter()
    with SecretServiceStandIn(tmp_path / "ss") as ss:
        started = time.perf_counter() - began
        assert started < 5, ss.timings  # measured: ~30 ms (bus ~4 ms, daemon ~25 ms)
        assert ss.runtime_dir is not None
        runtime_dir = ss.runtime_dir
        assert ss.address.startswith(f"unix:path={runtime_dir}/")
        env = ss.child_env()
        assert env["DBUS_SESSION_BUS_ADDRESS"] == ss.address
        assert env["XDG_RUNTIME_DIR"] == str(runtime_dir)
        assert env["PYTHON_KEYRING_BACKEND"] == SECRET_SERVICE_BACKEND
        assert "caller-bus" not in json.dumps(ss.daemon_env())
        # A fresh login keyring, the default collection, unlocked.
        assert (tmp_path / "ss" / "data" / "keyrings" / "login.keyring").exists()
        assert not ss.is_locked()
        assert ss.items() == []
        pids = ss.leftover_pids()
        assert ss.daemon_pid in pids and len(pids) == 2  # dbus-daemon, gnome-keyring-daemon
    assert ss.leftover_pids() == []
    assert not runtime_dir.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


# -- real clients, keyring unlocked -----------------------------------------------------------


def test_keyring_set_get_delete_across_processes(secret_service: SecretServiceStandIn) -> None:
    env = secret_service.child_env()
    assert keyring_client(env, "backend").value == SECRET_SERVICE_BACKEND
    stored = keyring_client(env, "set", "credplugin-test", "alice", "refresh-1")
    assert stored.ok, stored
    # Another process reads it back; the test side sees the item, its label and attributes.
    assert keyring_client(env, "get", "credplugin-test", "alice").value == "refresh-1"
    (item,) = secret_service.items()
    assert item.collection == "Login"
    assert item.label == "Password for 'alice' on 'credplugin-test'"
    assert {"service": "credplugin-test", "username": "alice"}.items() <= item.attributes.items()
    assert item.secret == b"refresh-1"
    # Rotation overwrites in place: still one item.
    assert keyring_client(env, "set", "credplugin-test", "alice", "refresh-2").ok
    assert [i.secret for i in secret_service.find(service="credplugin-test")] == [b"refresh-2"]
    assert keyring_client(env, "delete", "credplugin-test", "alice").ok
    assert secret_service.items() == []
    gone = keyring_client(env, "get", "credplugin-test", "alice")
    assert (gone.ok, gone.value) == (True, None), gone


def test_items_survive_a_daemon_restart(secret_service: SecretServiceStandIn) -> None:
    env = secret_service.child_env()
    assert keyring_client(env, "set", "svc", "bob", "kept").ok
    secret_service.stop_daemon()
    secret_service.start_daemon()  # same files, unlocked again with the password
    assert not secret_service.is_locked()
    assert keyring_client(env, "get", "svc", "bob").value == "kept"


@needs_secret_tool
def test_secret_tool_sees_what_keyring_stores_and_back(
    secret_service: SecretServiceStandIn,
) -> None:
    env = secret_service.child_env()
    assert keyring_client(env, "set", "svc", "alice", "from-keyring").ok
    found = secret_tool(env, "lookup", "service", "svc", "username", "alice")
    assert (found.returncode, found.stdout) == (0, "from-keyring"), found.stderr

    label = "credplugin: oidc https://issuer (bob@example)"
    stored = secret_tool(
        env, "store", f"--label={label}", "service", "svc2", "username", "bob", stdin="from-tool"
    )
    assert stored.returncode == 0, stored.stderr
    assert keyring_client(env, "get", "svc2", "bob").value == "from-tool"
    (item,) = secret_service.find(service="svc2")
    assert (item.label, item.secret) == (label, b"from-tool")


# -- locked ---------------------------------------------------------------------------------


@needs_secret_tool
def test_locked_without_a_prompter_fails_at_once(secret_service: SecretServiceStandIn) -> None:
    """A headless box: the unlock prompt has nobody to show it and is dismissed at once."""
    env = secret_service.child_env()
    assert keyring_client(env, "set", "svc", "alice", "s3cret").ok
    secret_service.lock()
    assert secret_service.is_locked()
    # Labels and attributes stay visible while locked; the secret does not.
    (item,) = secret_service.items()
    assert (item.label, item.secret) == ("Password for 'alice' on 'svc'", None)

    got = keyring_client(env, "get", "svc", "alice")
    assert (got.ok, got.error, got.message) == (
        False,
        KEYRING_LOCKED,
        "Failed to unlock the collection!",
    )
    assert got.seconds < 5  # measured: ~0.2 s, process start included
    put = keyring_client(env, "set", "svc", "alice", "new")
    assert (put.ok, put.error) == (False, KEYRING_LOCKED)
    # libsecret does not even try: nothing found, exit 1, no output.
    found = secret_tool(env, "lookup", "service", "svc", "username", "alice")
    assert (found.returncode, found.stdout) == (1, "")

    secret_service.unlock()
    assert keyring_client(env, "get", "svc", "alice").value == "s3cret"


def test_locked_with_an_unanswered_prompt_hangs_keyring(tmp_path: Path) -> None:
    """A desktop where the unlock dialog appears and nobody answers (kubectl runs us in the
    background): keyring waits with no bound of its own. secretstorage can bound it: checking
    is_locked() first needs no prompt, and unlock(timeout=) raises TimeoutError."""
    with SecretServiceStandIn(tmp_path / "ss", prompter="silent") as ss:
        env = ss.child_env()
        assert keyring_client(env, "set", "svc", "alice", "s3cret").ok
        ss.lock()
        got = keyring_client(env, "get", "svc", "alice", timeout=3)
        assert got.hung, got  # still waiting after 3 s: killed
        (prompt,) = ss.prompts()
        assert prompt.startswith("BeginPrompting ")
        # Killing the client does not withdraw its prompt (no StopPrompting): the dialog stays
        # up, and the next client's unlock queues behind it, hanging too.
        again = keyring_client(env, "get", "svc", "alice", timeout=2)
        assert again.hung, again
        assert ss.prompts() == [prompt]

        import secretstorage

        with ss.connect() as conn:
            collection = secretstorage.get_default_collection(conn)
            began = time.perf_counter()
            assert collection.is_locked()  # no prompt for this
            with pytest.raises(TimeoutError):
                collection.unlock(timeout=0.5)
            assert time.perf_counter() - began < 3
    assert ss.leftover_pids() == []


@pytest.mark.slow
def test_locked_with_a_mute_prompter_is_dismissed_after_25_s(tmp_path: Path) -> None:
    """A prompter that owns its name but never replies: gnome-keyring's own D-Bus call to it
    times out (GDBus default, 25 s) and it dismisses the prompt."""
    with SecretServiceStandIn(tmp_path / "ss", prompter="mute") as ss:
        env = ss.child_env()
        assert keyring_client(env, "set", "svc", "alice", "s3cret").ok
        ss.lock()
        got = keyring_client(env, "get", "svc", "alice", timeout=45)
        assert (got.hung, got.error) == (False, KEYRING_LOCKED), got
        assert 20 < got.seconds < 40, got
    assert ss.leftover_pids() == []


# -- hung, absent, no bus -------------------------------------------------------------------


def test_a_hung_daemon_hangs_keyring(secret_service: SecretServiceStandIn) -> None:
    """Every keyring/secretstorage D-Bus call is unbounded; a stopped daemon keeps its name,
    so the client waits (measured: still waiting at 60 s)."""
    env = secret_service.child_env()
    assert keyring_client(env, "set", "svc", "alice", "s3cret").ok
    secret_service.pause()
    got = keyring_client(env, "get", "svc", "alice", timeout=3)
    assert got.hung, got
    # In-process, a daemon thread bounds it: the caller goes on, the stuck thread is left
    # behind (and does not keep the process alive at exit).
    done = threading.Event()

    def call() -> None:
        import secretstorage

        with secret_service.connect() as conn:
            list(secretstorage.get_all_collections(conn))  # a Service property read
            done.set()

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout=0.5)
    assert worker.is_alive() and not done.is_set()
    secret_service.resume()
    worker.join(timeout=5)
    assert done.is_set()  # it answers once resumed
    assert keyring_client(env, "get", "svc", "alice").value == "s3cret"


def test_absent_daemon_fails_fast(tmp_path: Path) -> None:
    with SecretServiceStandIn(tmp_path / "ss", daemon=False) as ss:
        forced = keyring_client(ss.child_env(), "get", "svc", "alice")
        assert (forced.ok, forced.error) == (False, "builtins.RuntimeError")
        assert "neither running nor activatable" in forced.message
        assert forced.seconds < 5  # measured: ~0.15 s
        auto = keyring_client(ss.child_env(keyring_backend=False), "get", "svc", "alice")
        assert (auto.ok, auto.error) == (False, "keyring.errors.NoKeyringError"), auto
        assert keyring_client(ss.child_env(keyring_backend=False), "backend").value == (
            "keyring.backends.fail.Keyring"
        )

        import secretstorage

        with ss.connect() as conn:
            assert not secretstorage.check_service_availability(conn)
    assert ss.leftover_pids() == []


def test_stopping_the_daemon_makes_the_service_absent(secret_service: SecretServiceStandIn) -> None:
    env = secret_service.child_env()
    assert keyring_client(env, "set", "svc", "alice", "s3cret").ok
    secret_service.stop_daemon()
    got = keyring_client(env, "get", "svc", "alice")
    assert (got.ok, got.error) == (False, "builtins.RuntimeError"), got


def test_no_session_bus_fails_fast(tmp_path: Path) -> None:
    base = {**os.environ, "PYTHON_KEYRING_BACKEND": SECRET_SERVICE_BACKEND}
    unset = keyring_client(no_session_bus_env(base, tmp_path), "get", "svc", "alice")
    assert (unset.ok, unset.error) == (False, "builtins.RuntimeError")
    assert "DBUS_SESSION_BUS_ADDRESS is unset" in unset.message
    assert unset.seconds < 5
    # An address naming a socket that is gone: jeepney's error leaks out as it is.
    dead = {**base, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-socket"}
    gone = keyring_client(dead, "get", "svc", "alice")
    assert (gone.ok, gone.error) == (False, "builtins.FileNotFoundError"), gone
    assert gone.seconds < 5
