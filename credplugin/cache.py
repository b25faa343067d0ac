"""The on-disk token cache: one JSON file per key, one lock file per key.

Guarantees, whatever else happens on the machine:
- the directory is 0700 and every file 0600, written to a temp file and renamed into place,
  so a reader sees the old entry or the new one, never half of one;
- a file that is a symlink, not a regular file, not ours, readable or writable by others,
  hard-linked elsewhere, corrupt, filed under another key, or dated in the future is ignored
  (and later replaced), never trusted; lock files get the same checks before we write to one;
- a cache directory that is a symlink is used only when it leads to a private directory of
  ours, and never made private through the link;
- one lock per key, held across "check, fetch, write", so that many kubectl processes
  starting at once cause one upstream fetch: the others wait, then read the fresh entry.

The cache knows nothing of providers: it stores Credentials under opaque keys.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from credplugin import fastjson
from credplugin.credential import Credential
from credplugin.errors import CredpluginError, LockTimeout, os_reason
from credplugin.hotpath import sha256

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

FORMAT = "credplugin-cache/1"
MAX_ENTRY_BYTES = 1 << 20
# An entry written more than this far "in the future" was not written by us on this clock:
# a token inside it may have died long ago, whatever its expiry says.
CLOCK_SKEW_SECONDS = 300.0
# A temp file this old was left by a killed process; nobody will rename it any more.
STALE_TEMP_SECONDS = 3600.0
LOCK_POLL_SECONDS = 0.05


class CacheUnavailable(CredpluginError):
    """The cache directory cannot be created or used; callers go on without a cache."""


def default_dir(environ: Mapping[str, str]) -> str:
    """`$CREDPLUGIN_CACHE_DIR` > `$KUBECACHEDIR/credplugin` > `~/.kube/cache/credplugin`."""
    if environ.get("CREDPLUGIN_CACHE_DIR"):
        return environ["CREDPLUGIN_CACHE_DIR"]
    if environ.get("KUBECACHEDIR"):
        return os.path.join(environ["KUBECACHEDIR"], "credplugin")
    return os.path.join(os.path.expanduser("~"), ".kube", "cache", "credplugin")


def make_key(material: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that decides which credential is issued."""
    canonical = fastjson.dumps(material, sort_keys=True)
    return str(sha256(canonical.encode()).hexdigest())


class Entry:
    """A cached credential plus what a person needs to recognise it (never secrets)."""

    __slots__ = ("created_at", "credential", "key", "provider", "secrets", "summary")

    def __init__(
        self,
        key: str,
        provider: str,
        credential: Credential,
        created_at: float,
        summary: Mapping[str, Any] | None = None,
        secrets: Mapping[str, Any] | None = None,
    ) -> None:
        self.key = key
        self.provider = provider
        self.credential = credential
        self.created_at = created_at
        self.summary: Mapping[str, Any] = summary or {}
        # Where the credential's refresh material went instead of this file (tokenstore): a
        # reference only, never a secret. None: it is in the credential, if there is any.
        self.secrets = secrets

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "key": self.key,
            "provider": self.provider,
            "createdAt": self.created_at,
            "summary": dict(self.summary),
            "credential": self.credential.to_dict(),
        }
        if self.secrets is not None:
            doc["secrets"] = dict(self.secrets)
        return fastjson.dumps(doc)

    @classmethod
    def from_json(cls, key: str, data: bytes) -> Entry:
        doc = fastjson.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not a credplugin cache entry")
        if doc.get("key") != key:
            # A file copied or renamed from another key must not answer for this one.
            raise ValueError("entry was written for another key")
        provider, created, summary = doc.get("provider"), doc.get("createdAt"), doc.get("summary")
        cred = doc.get("credential")
        if not isinstance(provider, str) or not isinstance(cred, dict):
            raise ValueError("entry lacks provider or credential")
        if not isinstance(created, (int, float)) or isinstance(created, bool):
            raise ValueError("entry lacks createdAt")
        try:
            created = float(created)
        except OverflowError:
            raise ValueError("entry createdAt is out of range") from None
        if created != created or created in (float("inf"), float("-inf")):
            raise ValueError("entry createdAt is not a finite time")
        if not isinstance(summary, dict):
            raise ValueError("entry summary is not an object")
        secrets = doc.get("secrets")
        if secrets is not None and not isinstance(secrets, dict):
            raise ValueError("entry secrets is not an object")
        return cls(key, provider, Credential.from_dict(cred), created, summary, secrets)


class CacheStore:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def entry_path(self, key: str) -> str:
        return os.path.join(self.directory, key + ".json")

    def lock_path(self, key: str) -> str:
        return os.path.join(self.directory, key + ".lock")

    # -- reading ---------------------------------------------------------------------------

    def read(self, key: str) -> tuple[Entry | None, str]:
        """The entry for `key`, or None and the reason it was not usable."""
        try:
            data = self._read_private_file(self.entry_path(key))
        except FileNotFoundError:
            return None, "no entry"
        except (OSError, ValueError) as exc:
            return None, f"ignored: {_describe(exc)}"
        if data is None:
            return None, "no entry"
        try:
            entry = Entry.from_json(key, data)
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
            return None, f"ignored: {type(exc).__name__}: {exc}"
        latest = time.time() + CLOCK_SKEW_SECONDS
        issued = entry.credential.issued_at
        if entry.created_at > latest or (issued is not None and issued > latest):
            return None, "ignored: dated in the future"
        return entry, "ok"

    @staticmethod
    def _read_private_file(path: str) -> bytes | None:
        # O_NOFOLLOW: a symlink planted in place of an entry is never followed.
        # O_NONBLOCK: a FIFO planted there cannot block us.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(path, flags)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ValueError("not a regular file")
            _check_ours(st)
            if st.st_size > MAX_ENTRY_BYTES:
                raise ValueError("too large")
            chunks = []
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    # -- writing ---------------------------------------------------------------------------

    def ensure_directory(self) -> None:
        """Create the directory 0700, or tighten one of ours that is open to others. A
        symlink is followed only to a private directory of ours, never tightened through."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            link = os.lstat(self.directory)
            st = os.stat(self.directory)
        except OSError as exc:
            raise CacheUnavailable(
                f"cannot create cache directory {self.directory}: {_describe(exc)}"
            ) from exc
        if stat.S_ISLNK(link.st_mode):
            if not (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()) or (st.st_mode & 0o077):
                raise CacheUnavailable(
                    f"cache directory {self.directory} is a symbolic link to "
                    f"{os.path.realpath(self.directory)}, which is not a private directory of "
                    "yours; not used",
                    hint="point --cache-dir at a directory of your own, mode 0700",
                )
            return
        if not stat.S_ISDIR(st.st_mode):
            raise CacheUnavailable(f"cache path {self.directory} is not a directory")
        if st.st_uid != os.getuid():
            raise CacheUnavailable(f"cache directory {self.directory} belongs to another user")
        if st.st_mode & 0o077:
            try:
                os.chmod(self.directory, 0o700)
            except OSError as exc:
                raise CacheUnavailable(
                    f"cannot make cache directory {self.directory} private: {_describe(exc)}"
                ) from exc

    def write(self, entry: Entry) -> None:
        """Atomically replace the entry for `entry.key`. Raises CacheUnavailable on failure."""
        self._write_private_file(self.entry_path(entry.key), entry.to_json().encode())
        self._sweep_stale_temps()

    def _write_private_file(self, final: str, data: bytes) -> None:
        self.ensure_directory()
        from credplugin import privatefile  # a write is a miss: not on the hit path

        try:
            # The rename replaces whatever was there (a corrupt file, a symlink).
            privatefile.write(final, data)
        except OSError as exc:
            raise CacheUnavailable(
                f"cannot write cache entry in {self.directory}: {_describe(exc)}"
            ) from exc

    def backoff_path(self, key: str) -> str:
        return os.path.join(self.directory, key + ".backoff")

    def backoff(self, key: str, now: float) -> tuple[float, str] | None:
        """(until, reason) while an abandoned login for `key` is being remembered."""
        try:
            data = self._read_private_file(self.backoff_path(key))
            doc = fastjson.loads(data or b"")
            until, reason = float(doc["until"]), str(doc["reason"])
        except (OSError, ValueError, TypeError, KeyError, OverflowError, RecursionError):
            return None
        return (until, reason) if now < until else None

    def set_backoff(self, key: str, until: float, reason: str) -> None:
        self._write_private_file(
            self.backoff_path(key), fastjson.dumps({"until": until, "reason": reason}).encode()
        )

    def clear_backoff(self, key: str) -> None:
        _unlink_quietly(self.backoff_path(key))

    def remove(self, key: str) -> bool:
        try:
            os.unlink(self.entry_path(key))
            return True
        except FileNotFoundError:
            return False

    def remove_lock(self, key: str) -> bool:
        """Remove `key`'s lock file unless a process holds it (False then): removing a held
        lock would let the next process lock a new file and fetch alongside the holder."""
        import fcntl

        path = self.lock_path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return True
        except OSError:  # a symlink or worse: not ours to keep
            _unlink_quietly(path)
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        try:
            # Unlinked while we hold it: a waiter that opened it will find it gone and retry.
            _unlink_quietly(path)
        finally:
            os.close(fd)
        return True

    def all_keys(self) -> list[str]:
        """Every key with any file here: entries, and locks and back-offs left without one."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        keys = set()
        for name in names:
            key, dot, suffix = name.partition(".")
            if dot and suffix in ("json", "lock", "backoff") and len(key) == 64:
                keys.add(key)
        return sorted(keys)

    def _sweep_stale_temps(self) -> None:
        from credplugin import privatefile

        cutoff = time.time() - STALE_TEMP_SECONDS
        try:
            with os.scandir(self.directory) as it:
                for item in it:
                    if (
                        privatefile.TEMP_MARK in item.name
                        and item.stat(follow_symlinks=False).st_mtime < cutoff
                    ):
                        _unlink_quietly(item.path)
        except OSError:
            pass

    # -- locking ---------------------------------------------------------------------------

    def lock(
        self,
        key: str,
        wait_seconds: float,
        on_wait: Callable[[str], None] | None = None,
        notice_after: float = 0.0,
    ) -> KeyLock:
        self.ensure_directory()
        return KeyLock(self.lock_path(key), wait_seconds, on_wait, notice_after)

    def entry_keys(self) -> Iterator[str]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in sorted(names):
            if name.endswith(".json") and len(name) == 69:
                yield name[:-5]


class KeyLock:
    """An exclusive flock on `<key>.lock`, acquired with a bounded wait.

    flock locks die with their process, so a crashed or killed holder never leaves a stale
    lock behind. The holder's pid is written into the file so that waiters can name it.
    """

    def __init__(
        self,
        path: str,
        wait_seconds: float,
        on_wait: Callable[[str], None] | None,
        notice_after: float = 0.0,
    ) -> None:
        self.path = path
        self.wait_seconds = wait_seconds
        self.on_wait = on_wait
        self.fd: int | None = None
        self.waited = 0.0
        # Call on_wait only once the wait has lasted this long.
        self.notice_after = notice_after

    def __enter__(self) -> KeyLock:
        import fcntl

        fd = _open_lock_file(self.path)
        start = time.monotonic()
        deadline = start + self.wait_seconds
        told = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise CacheUnavailable(
                            f"cannot lock {self.path}: {_describe(exc)}"
                        ) from exc
                waited = time.monotonic() - start
                if not told and self.on_wait is not None and waited >= self.notice_after:
                    self.on_wait(_holder(fd))
                    told = True
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"gave up after {self.wait_seconds:.0f}s waiting for another credplugin "
                        f"process ({_holder(fd)}) that is fetching this credential",
                        hint="finish or cancel that login, then run the command again",
                    )
                time.sleep(LOCK_POLL_SECONDS)
            self.waited = time.monotonic() - start
            try:  # only so that waiters can name us: a full disk must not stop the fetch
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError:
                pass
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.fd is not None:
            # Closing the descriptor releases the flock.
            os.close(self.fd)
            self.fd = None


def _check_ours(st: os.stat_result) -> None:
    """Raises ValueError unless the file is ours alone: owned by us, private, one link."""
    if st.st_uid != os.getuid():
        raise ValueError("owned by another user")
    if st.st_mode & 0o077:
        raise ValueError(f"mode {stat.S_IMODE(st.st_mode):04o} is not private")
    if st.st_nlink != 1:
        # Another name for the same file: writing here would write there too.
        raise ValueError("hard-linked elsewhere")


def _open_lock_file(path: str) -> int:
    """The lock file, opened without following a symlink; one that is not ours alone (a
    planted hard link, another user's file, a FIFO) is replaced, never written to."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    for _ in range(3):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise CacheUnavailable(f"cannot open lock file {path}: {_describe(exc)}") from exc
            fd = None  # a symlink: replace it below
        if fd is not None:
            st = os.fstat(fd)
            try:
                if not stat.S_ISREG(st.st_mode):
                    raise ValueError("not a regular file")
                _check_ours(st)
                return fd
            except ValueError:
                os.close(fd)
        # Unlinking removes only this name: the file it pointed at is left as it was.
        _unlink_quietly(path)
        flags |= os.O_EXCL
    raise CacheUnavailable(f"cannot open lock file {path}: it keeps being replaced")


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "pid unknown"


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "it is a symbolic link"  # entries are opened with O_NOFOLLOW
    return os_reason(exc)
