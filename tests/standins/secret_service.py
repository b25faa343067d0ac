"""A real Secret Service for tests: gnome-keyring-daemon on a private D-Bus session bus.

Nothing here touches the session bus of whoever runs the tests: :class:`SecretServiceStandIn`
starts its own ``dbus-daemon`` from a generated config (listening in a fresh directory, with
*no* service directories, so nothing is D-Bus-activated behind our back: not a second
gnome-keyring-daemon, not ``gcr-prompter``) and, on it, ``gnome-keyring-daemon --foreground
--unlock --components=secrets`` with a fresh HOME and XDG_DATA_HOME, so the ``login`` keyring
is created new with :attr:`SecretServiceStandIn.password` (read from stdin) and is the default
collection, unlocked.

Clients run with :attr:`SecretServiceStandIn.env` merged into their environment
(``DBUS_SESSION_BUS_ADDRESS`` and an ``XDG_RUNTIME_DIR`` of our own, so libsecret/GDBus cannot
fall back to ``$XDG_RUNTIME_DIR/bus`` of a real session), and
``PYTHON_KEYRING_BACKEND=``:data:`SECRET_SERVICE_BACKEND` when they use the ``keyring``
library and must not pick another backend.

The states a client can meet, and how to get them::

    with SecretServiceStandIn(tmp_path) as ss:           # running, login keyring unlocked
        ss.lock()        # locked: a client's unlock request becomes a prompt, and then
                         #   prompter="none"   (default) no prompter on the bus: dismissed at once
                         #   prompter="silent" a prompter that accepts and never answers: the
                         #                     client waits forever (a desktop dialog nobody sees)
                         #   prompter="mute"   a prompter that never replies: gnome-keyring gives
                         #                     up after its D-Bus call timeout (25 s), dismissed
        ss.unlock()      # unlocked again with the password, no prompt
        ss.pause()       # the daemon is SIGSTOPped: calls to it wait (a hung service)
        ss.resume()
        ss.stop_daemon() # absent: a session bus with no Secret Service on it
        ss.start_daemon()# back, same keyring files, unlocked
    SecretServiceStandIn(tmp_path, daemon=False)         # absent from the start
    no_session_bus_env(env, tmp_path)                    # no session bus at all

:meth:`SecretServiceStandIn.items` lists what is stored (collection, label, attributes and the
secret where unlocked) through ``secretstorage``, so a test can assert what a client wrote.
Leaving the ``with`` block kills every process it started (each in its own process group) and
:meth:`SecretServiceStandIn.leftover_pids` lets a test check that nothing survived.

Needs the Debian packages ``dbus-daemon`` and ``gnome-keyring`` (see
``scripts/install-keyring-test-deps.sh``) and, in the test's Python, ``jeepney`` and
``secretstorage`` (imported lazily: this module imports with the standard library alone).
:func:`unavailable_reason` says why the stand-in cannot start, for ``pytest.skip``.
"""

from __future__ import annotations

import importlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .loopback_server import StandIn

# jeepney ships no type information: its objects are Any here, reached through _jeepney().
DBusConnection = Any

__all__ = [
    "BUS_NAME",
    "REQUIRED_BINARIES",
    "SECRET_SERVICE_BACKEND",
    "Prompter",
    "SecretServiceStandIn",
    "StandInError",
    "StoredItem",
    "no_session_bus_env",
    "unavailable_reason",
]

#: What ``PYTHON_KEYRING_BACKEND`` names to make the ``keyring`` library use the Secret Service.
SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
#: The Secret Service's well-known name on the session bus.
BUS_NAME = "org.freedesktop.secrets"
#: Binaries the stand-in runs (``secret-tool``, from libsecret-tools, is for cross-checks only).
REQUIRED_BINARIES = ("dbus-daemon", "gnome-keyring-daemon")
#: The gcr system prompter's names: gnome-keyring asks whoever owns one of them to prompt.
PROMPTER_NAMES = ("org.gnome.keyring.SystemPrompter", "org.gnome.keyring.PrivatePrompter")
PROMPTER_INTERFACE = "org.gnome.keyring.internal.Prompter"

SERVICE_PATH = "/org/freedesktop/secrets"
SERVICE_INTERFACE = "org.freedesktop.Secret.Service"
# gnome-keyring's own interface for unlocking with a password, without a prompt.
GNOME_KEYRING_INTERNAL = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"
# Marks every process the stand-in starts (in its environment), for leftover_pids().
MARKER = "SECRET_SERVICE_STANDIN_ID"
# Variables a daemon must not inherit: a real session's bus, display or keyring.
_DAEMON_DROP = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "GNOME_KEYRING_CONTROL",
    "SSH_AUTH_SOCK",
)

#: Who answers gnome-keyring's prompts: nobody, a prompter that accepts and never calls back,
#: or a prompter that owns the name and never replies at all.
Prompter = Literal["none", "silent", "mute"]

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <!-- No standard_session_servicedirs: nothing is activated on this bus. -->
  <servicedir>{service_dir}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class StandInError(RuntimeError):
    """The stand-in could not start or do what it was asked; the message says which part."""


@dataclass(frozen=True)
class StoredItem:
    """One item in the Secret Service, as ``secretstorage`` sees it."""

    collection: str  #: the collection's label, e.g. ``"Login"``
    label: str
    attributes: dict[str, str]
    secret: bytes | None  #: None while the collection is locked
    path: str = field(compare=False)  #: the item's D-Bus object path


def unavailable_reason() -> str | None:
    """Why the stand-in cannot start here (a missing binary or Python package), else None."""
    missing = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if missing:
        return (
            f"{', '.join(missing)} not installed (Debian packages dbus-daemon, gnome-keyring: "
            "run scripts/install-keyring-test-deps.sh)"
        )
    for module in ("jeepney", "secretstorage"):
        try:
            __import__(module)
        except ImportError:
            return f"Python package {module} not installed"
    return None


def no_session_bus_env(base: Mapping[str, str], runtime_dir: Path) -> dict[str, str]:
    """`base` without any session bus: no DBUS_SESSION_BUS_ADDRESS, and XDG_RUNTIME_DIR an
    empty directory (created under `runtime_dir`), so no client finds ``$XDG_RUNTIME_DIR/bus``
    of a real session either."""
    empty = runtime_dir / "no-bus-runtime"
    empty.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in base.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY")}
    env["XDG_RUNTIME_DIR"] = str(empty)
    return env


class SecretServiceStandIn(StandIn):
    """gnome-keyring-daemon (secrets component only) on a private session bus.

    `root` holds the daemon's HOME, XDG_DATA_HOME (its keyring files) and logs; the bus
    socket and XDG_RUNTIME_DIR live in a short directory under the system temp dir (a unix
    socket path must fit in 108 bytes), removed by :meth:`stop`. With ``daemon=False`` only
    the bus starts: the Secret Service is absent. `prompter` says who answers gnome-keyring's
    prompts (see :data:`Prompter`). `start_timeout` bounds each start step.
    """

    def __init__(
        self,
        root: Path,
        *,
        password: str = "credplugin-test-password",  # noqa: S107 -- a throwaway test keyring
        daemon: bool = True,
        prompter: Prompter = "none",
        start_timeout: float = 10.0,
    ) -> None:
        self.root = Path(root)
        self.password = password
        self.prompter = prompter
        self.start_timeout = start_timeout
        self._want_daemon = daemon
        self.id = uuid.uuid4().hex
        self.address = ""
        self.runtime_dir: Path | None = None
        self.home = self.root / "home"
        self.data_home = self.root / "data"
        self._bus: subprocess.Popen[bytes] | None = None
        self._daemon: subprocess.Popen[bytes] | None = None
        self._prompter: subprocess.Popen[bytes] | None = None
        self._started: list[subprocess.Popen[bytes]] = []
        self._paused = False
        #: Seconds each part took to come up, for the record: {"bus": .., "daemon": ..}.
        self.timings: dict[str, float] = {}

    # -- environment ---------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to reach this Secret Service (merge into its env)."""
        if not self.address or self.runtime_dir is None:
            raise StandInError("the stand-in is not started")
        return {"DBUS_SESSION_BUS_ADDRESS": self.address, "XDG_RUNTIME_DIR": str(self.runtime_dir)}

    def child_env(
        self, base: Mapping[str, str] | None = None, *, keyring_backend: bool = True
    ) -> dict[str, str]:
        """`base` (default: os.environ) with :attr:`env`, without DISPLAY/WAYLAND_DISPLAY (no
        client-side GUI), and with PYTHON_KEYRING_BACKEND set to the Secret Service backend
        unless `keyring_backend` is False (then the library auto-detects)."""
        env = dict(os.environ if base is None else base)
        for key in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_STARTER_ADDRESS", "PYTHON_KEYRING_BACKEND"):
            env.pop(key, None)
        env.update(self.env)
        if keyring_backend:
            env["PYTHON_KEYRING_BACKEND"] = SECRET_SERVICE_BACKEND
        return env

    def daemon_env(self) -> dict[str, str]:
        """The environment the daemons run with: their own HOME, XDG dirs and runtime dir."""
        assert self.runtime_dir is not None
        env = {k: v for k, v in os.environ.items() if k not in _DAEMON_DROP}
        env.update(
            {
                "HOME": str(self.home),
                "XDG_DATA_HOME": str(self.data_home),
                "XDG_CONFIG_HOME": str(self.root / "config"),
                "XDG_CACHE_HOME": str(self.root / "cache"),
                "XDG_RUNTIME_DIR": str(self.runtime_dir),
                MARKER: self.id,
            }
        )
        if self.address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        return env

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> SecretServiceStandIn:
        reason = unavailable_reason()
        if reason:
            raise StandInError(reason)
        for d in (self.root, self.home, self.data_home, self.root / "config", self.root / "cache"):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="ss-"))
        try:
            self._start_bus()
            if self.prompter != "none":
                self._start_prompter()
            if self._want_daemon:
                self.start_daemon()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_bus(self) -> None:
        assert self.runtime_dir is not None
        service_dir = self.runtime_dir / "services"
        service_dir.mkdir()
        config = self.root / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket_dir=self.runtime_dir, service_dir=service_dir))
        began = time.perf_counter()
        self._bus = self._spawn(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            log="dbus-daemon.log",
        )
        self.address = _read_line(self._bus, self.start_timeout, "dbus-daemon")
        self.timings["bus"] = time.perf_counter() - began

    def start_daemon(self) -> None:
        """Start gnome-keyring-daemon on the bus and wait until it owns org.freedesktop.secrets.
        The first start creates the login keyring with :attr:`password`; a later one (after
        :meth:`stop_daemon`) unlocks the same keyring files with it."""
        if self._daemon is not None and self._daemon.poll() is None:
            return
        began = time.perf_counter()
        self._daemon = self._spawn(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            log="gnome-keyring-daemon.log",
            stdin=self.password.encode(),
            stdout_to_log=True,
        )
        deadline = time.monotonic() + self.start_timeout
        with self.connect() as conn:
            while not _name_has_owner(conn, BUS_NAME):
                if self._daemon.poll() is not None:
                    raise StandInError(
                        f"gnome-keyring-daemon exited with {self._daemon.returncode}: "
                        + self._log_tail("gnome-keyring-daemon.log")
                    )
                if time.monotonic() > deadline:
                    raise StandInError(
                        f"gnome-keyring-daemon did not own {BUS_NAME} in {self.start_timeout}s"
                    )
                time.sleep(0.005)
        self.timings["daemon"] = time.perf_counter() - began

    def stop_daemon(self) -> None:
        """Stop gnome-keyring-daemon: the bus stays, with no Secret Service on it (absent)."""
        if self._daemon is not None:
            if self._paused:
                self.resume()
            _kill_group(self._daemon)
            self._started.remove(self._daemon)
            self._daemon = None
            # The bus drops the name when the connection closes; wait for it to.
            deadline = time.monotonic() + self.start_timeout
            with self.connect() as conn:
                while _name_has_owner(conn, BUS_NAME) and time.monotonic() < deadline:
                    time.sleep(0.005)

    def _start_prompter(self) -> None:
        repo = Path(__file__).resolve().parents[2]
        env = self.daemon_env()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
        self._prompter = self._spawn(
            [
                sys.executable,
                "-m",
                "tests.standins.secret_service",
                "prompter",
                self.prompter,
                str(self.root / "prompter.log"),
            ],
            log="prompter.stderr",
            env=env,
        )
        line = _read_line(self._prompter, self.start_timeout, "prompter")
        if line != "READY":
            raise StandInError(f"prompter said {line!r}: " + self._log_tail("prompter.stderr"))

    def stop(self) -> None:
        """Kill everything started (each process group: TERM, then KILL after 2 s), remove
        the runtime directory. Safe to call twice."""
        if self._paused and self._daemon is not None:
            self.resume()
        for proc in reversed(self._started):
            _kill_group(proc)
        self._started.clear()
        self._bus = self._daemon = self._prompter = None
        if self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def leftover_pids(self) -> list[int]:
        """Live processes (not zombies) that carry this stand-in's marker in their environment:
        empty after :meth:`stop` unless something escaped."""
        found = []
        needle = f"{MARKER}={self.id}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                found.append(int(entry.name))
        return found

    @property
    def daemon_pid(self) -> int | None:
        return self._daemon.pid if self._daemon is not None else None

    # -- states a client can meet ----------------------------------------------------------

    def lock(self) -> None:
        """Lock every collection (Secret Service ``Lock``: gnome-keyring does it without a
        prompt). ``secret-tool lock`` from libsecret 0.20.5 hangs, so it is not used."""
        jeepney = _jeepney()
        with self.connect() as conn:
            paths = self._collections(conn)
            _call(conn, jeepney.new_method_call(_service(), "Lock", "ao", (paths,)))

    def unlock(self, collection: str = LOGIN_COLLECTION) -> None:
        """Unlock `collection` with :attr:`password`, without a prompt (gnome-keyring's
        ``UnlockWithMasterPassword`` over a plain session, as ``gnome-keyring-daemon --unlock``
        does)."""
        jeepney = _jeepney()
        with self.connect() as conn:
            plain = ("plain", ("s", ""))
            _, session = _call(
                conn, jeepney.new_method_call(_service(), "OpenSession", "sv", plain)
            )
            internal = _service(GNOME_KEYRING_INTERNAL)
            secret = (session, b"", self.password.encode(), "text/plain")
            unlock = jeepney.new_method_call(
                internal, "UnlockWithMasterPassword", "o(oayays)", (collection, secret)
            )
            _call(conn, unlock)

    def is_locked(self, collection: str = LOGIN_COLLECTION) -> bool:
        import secretstorage

        with self.connect() as conn:
            return bool(secretstorage.Collection(conn, collection).is_locked())

    def pause(self) -> None:
        """SIGSTOP the daemon: it keeps its bus name, and every call to it waits (a hung
        service). :meth:`resume` or :meth:`stop` undoes it."""
        if self._daemon is None:
            raise StandInError("no daemon to pause")
        self._daemon.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self._daemon is not None:
            self._daemon.send_signal(signal.SIGCONT)
        self._paused = False

    def prompts(self) -> list[str]:
        """The prompter calls seen so far (``"BeginPrompting /org/gnome/keyring/Prompt/p3"``),
        with prompter="silent" or "mute"."""
        log = self.root / "prompter.log"
        return log.read_text().splitlines() if log.exists() else []

    # -- what is stored --------------------------------------------------------------------

    def items(self) -> list[StoredItem]:
        """Every item in every collection (labels and attributes are readable while locked;
        secrets are None then). Goes through ``secretstorage``, on a connection of its own."""
        import secretstorage

        found = []
        with self.connect() as conn:
            for collection in secretstorage.get_all_collections(conn):
                locked = collection.is_locked()
                name = collection.get_label()
                for item in collection.get_all_items():
                    found.append(
                        StoredItem(
                            collection=name,
                            label=item.get_label(),
                            attributes=dict(item.get_attributes()),
                            secret=None if locked else item.get_secret(),
                            path=item.item_path,
                        )
                    )
        return found

    def find(self, **attributes: str) -> list[StoredItem]:
        """The items whose attributes include all of `attributes`."""
        return [i for i in self.items() if attributes.items() <= i.attributes.items()]

    # -- plumbing --------------------------------------------------------------------------

    def connect(self) -> _Connection:
        """A jeepney blocking connection to this bus (a context manager that closes it)."""
        return _Connection(self.address)

    @staticmethod
    def _collections(conn: DBusConnection) -> list[str]:
        (_, paths) = _call(conn, _jeepney().Properties(_service()).get("Collections"))[0]
        return list(paths)

    def _spawn(
        self,
        argv: list[str],
        *,
        log: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        stdout_to_log: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in a process group of its own, stderr (and with `stdout_to_log`,
        stdout; else a pipe for _read_line) appended to `log` under root, `stdin` written
        and closed."""
        with open(self.root / log, "ab") as err:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=err if stdout_to_log else subprocess.PIPE,
                stderr=err,
                env=dict(env) if env is not None else self.daemon_env(),
                start_new_session=True,  # its own process group, killed whole by stop()
            )
        self._started.append(proc)
        if stdin is not None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        return proc

    def _log_tail(self, log: str) -> str:
        try:
            return " | ".join((self.root / log).read_text().strip().splitlines()[-5:])
        except OSError:
            return ""


class _Connection:
    """``with _Connection(address) as conn``: a jeepney blocking connection, closed after."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.conn: DBusConnection | None = None

    def __enter__(self) -> DBusConnection:
        if not self.address:
            raise StandInError("the stand-in is not started")
        self.conn = _jeepney("jeepney.io.blocking").open_dbus_connection(self.address)
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()


def _jeepney(module: str = "jeepney") -> Any:
    """A jeepney module, imported on first use (it has no type information: Any)."""
    return importlib.import_module(module)


def _service(interface: str = SERVICE_INTERFACE) -> Any:
    """The Secret Service object's address, with `interface`."""
    return _jeepney().DBusAddress(SERVICE_PATH, bus_name=BUS_NAME, interface=interface)


def _call(conn: DBusConnection, msg: Any, timeout: float = 10.0) -> Any:
    """Send `msg`, wait at most `timeout` s, return the reply's body; a D-Bus error raises."""
    reply = conn.send_and_get_reply(msg, timeout=timeout)
    if reply.header.message_type == _jeepney().MessageType.error:
        raise _jeepney("jeepney.wrappers").DBusErrorResponse(reply)
    return reply.body


def _name_has_owner(conn: DBusConnection, name: str) -> bool:
    message_bus = _jeepney("jeepney.bus_messages").message_bus
    return bool(_call(conn, message_bus.NameHasOwner(name))[0])


def _read_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    """The first line `proc` prints, waiting at most `timeout` s (an exit or silence raises)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StandInError(f"{what} printed nothing in {timeout}s")
            if not sel.select(left):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise StandInError(f"{what} exited ({proc.wait()}) before it was ready")
            buf += chunk
    return buf.split(b"\n", 1)[0].decode().strip()


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """TERM `proc`'s process group, KILL it after `grace` s, reap `proc`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            # The leader is gone; a child left in the group gets the KILL too.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


# -- the prompter process (python -m tests.standins.secret_service prompter MODE LOG) ---------


def run_prompter(mode: str, log_path: str) -> int:
    """Own the gcr prompter names on the session bus and answer gnome-keyring like a prompter
    whose dialog nobody ever answers ("silent": BeginPrompting and PerformPrompt return, no
    PromptReady ever comes back) or like a wedged one ("mute": no reply at all). Every call to
    the prompter interface is appended to `log_path`. Prints READY once the names are owned."""
    jeepney = _jeepney()
    HeaderFields, MessageType = jeepney.HeaderFields, jeepney.MessageType
    message_bus = _jeepney("jeepney.bus_messages").message_bus
    conn = _jeepney("jeepney.io.blocking").open_dbus_connection("SESSION")
    for name in PROMPTER_NAMES:
        (result,) = conn.send_and_get_reply(message_bus.RequestName(name), timeout=10).body
        if result != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
            print(f"could not own {name}: {result}", flush=True)
            return 1
    print("READY", flush=True)
    with open(log_path, "a", buffering=1) as log:
        while True:
            msg = conn.receive()
            if msg.header.message_type != MessageType.method_call:
                continue
            interface = msg.header.fields.get(HeaderFields.interface)
            member = msg.header.fields.get(HeaderFields.member)
            if interface == PROMPTER_INTERFACE:
                log.write(f"{member} {' '.join(str(a) for a in msg.body[:1])}\n")
                if mode == "silent":
                    conn.send(jeepney.new_method_return(msg))
            elif mode == "silent":
                conn.send(jeepney.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "prompter" and args[1] in ("silent", "mute"):
        sys.exit(run_prompter(args[1], args[2]))
    print(
        "usage: python -m tests.standins.secret_service prompter silent|mute LOG", file=sys.stderr
    )
    sys.exit(2)
