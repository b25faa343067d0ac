"""The on-disk cache: entries, permissions, atomic writes, keys, location, and per-key locks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credplugin.cache import (
    FORMAT,
    MAX_ENTRY_BYTES,
    CacheStore,
    CacheUnavailable,
    Entry,
    default_dir,
    make_key,
)
from credplugin.credential import Credential
from credplugin.errors import Timeout

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = make_key({"provider": "test", "n": 1})
OTHER_KEY = make_key({"provider": "test", "n": 2})
CREATED = 1_700_000_000.0
NOBODY = 65534
FIRST_TOKEN = "tok-1"


def make_entry(key: str = KEY, token: str = FIRST_TOKEN) -> Entry:
    credential = Credential(
        token,
        expires_at=CREATED + 3600,
        issued_at=CREATED,
        identity="arn:aws:iam::123456789012:role/dev",
        refresh={"session": {"AccessKeyId": "AKIA", "n": [1, 2]}},
    )
    return Entry(key, "aws", credential, CREATED, {"profile": "dev", "server": "https://k"})


def mode_of(path: str | Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def plant(path: str, data: bytes, mode: int = 0o600) -> None:
    """A file of ours with exactly this content and mode, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def read_within(store: CacheStore, key: str, seconds: float = 5.0) -> tuple[Entry | None, str]:
    """store.read(key), failing the test instead of hanging if it blocks."""
    results: list[tuple[Entry | None, str]] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(store.read(key))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"read() blocked for more than {seconds}s"
    if errors:
        raise errors[0]
    return results[0]


@pytest.fixture
def store(tmp_path: Path) -> CacheStore:
    return CacheStore(str(tmp_path / "cache"))


# -- round trip, permissions -------------------------------------------------------------------


def test_read_of_a_missing_entry_says_no_entry(store: CacheStore) -> None:
    assert store.read(KEY) == (None, "no entry")
    store.ensure_directory()
    assert store.read(KEY) == (None, "no entry")


def test_write_then_read_returns_the_same_entry(store: CacheStore) -> None:
    written = make_entry()
    store.write(written)
    entry, reason = store.read(KEY)
    assert reason == "ok"
    assert entry is not None
    assert entry.key == KEY
    assert entry.provider == "aws"
    assert entry.created_at == CREATED
    assert dict(entry.summary) == {"profile": "dev", "server": "https://k"}
    assert entry.credential == written.credential
    assert dict(entry.credential.refresh) == {"session": {"AccessKeyId": "AKIA", "n": [1, 2]}}


def test_entry_file_is_json_with_format_marker_and_key(store: CacheStore) -> None:
    store.write(make_entry())
    doc = json.loads(Path(store.entry_path(KEY)).read_text())
    assert doc["format"] == FORMAT
    assert doc["key"] == KEY
    assert doc["credential"]["token"] == "tok-1"


def test_a_second_write_replaces_the_first(store: CacheStore) -> None:
    store.write(make_entry(token="a-much-longer-first-token-" * 20))
    store.write(make_entry(token="short"))
    entry, reason = store.read(KEY)
    assert reason == "ok" and entry is not None
    assert entry.credential.token == "short"


def test_entries_for_different_keys_are_separate(store: CacheStore) -> None:
    store.write(make_entry(KEY, "one"))
    store.write(make_entry(OTHER_KEY, "two"))
    first, _ = store.read(KEY)
    second, _ = store.read(OTHER_KEY)
    assert first is not None and first.credential.token == "one"
    assert second is not None and second.credential.token == "two"
    assert list(store.entry_keys()) == sorted([KEY, OTHER_KEY])


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def test_files_are_0600_and_directory_0700_even_with_an_open_umask(store: CacheStore) -> None:
    with umask(0):
        store.write(make_entry())
        with store.lock(KEY, 1):
            pass
    assert mode_of(store.directory) == 0o700
    assert mode_of(store.entry_path(KEY)) == 0o600
    assert mode_of(store.lock_path(KEY)) == 0o600


def test_nested_missing_directories_are_created(tmp_path: Path) -> None:
    store = CacheStore(str(tmp_path / "a" / "b" / "cache"))
    store.write(make_entry())
    assert store.read(KEY)[1] == "ok"
    assert mode_of(store.directory) == 0o700


@pytest.mark.parametrize("loose_mode", [0o755, 0o777, 0o710, 0o701])
def test_an_existing_directory_of_ours_open_to_others_is_tightened_to_0700(
    store: CacheStore, loose_mode: int
) -> None:
    os.mkdir(store.directory)
    os.chmod(store.directory, loose_mode)
    store.ensure_directory()
    assert mode_of(store.directory) == 0o700
    os.chmod(store.directory, loose_mode)
    store.write(make_entry())
    assert mode_of(store.directory) == 0o700


def test_a_directory_owned_by_another_user_is_refused(store: CacheStore) -> None:
    os.mkdir(store.directory, 0o700)
    os.chown(store.directory, NOBODY, NOBODY)
    with pytest.raises(CacheUnavailable, match="another user"):
        store.ensure_directory()
    with pytest.raises(CacheUnavailable):
        store.write(make_entry())
    assert os.listdir(store.directory) == []


def test_lock_creates_the_missing_directory_0700(store: CacheStore) -> None:
    with store.lock(KEY, 1):
        assert os.path.isfile(store.lock_path(KEY))
    assert mode_of(store.directory) == 0o700


# -- unusable entries: ignored, never trusted, never a crash, then replaced --------------------


Mutation = Callable[[dict[str, Any]], object]


def planted_doc(mutate: Mutation) -> Callable[[CacheStore], None]:
    def spoil(store: CacheStore) -> None:
        doc = json.loads(make_entry().to_json())
        mutate(doc)
        plant(store.entry_path(KEY), json.dumps(doc).encode())

    return spoil


def planted_bytes(data: bytes, mode: int = 0o600) -> Callable[[CacheStore], None]:
    def spoil(store: CacheStore) -> None:
        plant(store.entry_path(KEY), data, mode)

    return spoil


def valid_entry_with_mode(mode: int) -> Callable[[CacheStore], None]:
    def spoil(store: CacheStore) -> None:
        store.write(make_entry())
        os.chmod(store.entry_path(KEY), mode)

    return spoil


def truncated_entry(store: CacheStore) -> None:
    store.write(make_entry())
    path = store.entry_path(KEY)
    os.truncate(path, os.path.getsize(path) // 2)


def entry_owned_by_nobody(store: CacheStore) -> None:
    store.write(make_entry())
    os.chown(store.entry_path(KEY), NOBODY, NOBODY)


def entry_filed_under_another_key(store: CacheStore) -> None:
    store.write(make_entry(OTHER_KEY))
    shutil.copyfile(store.entry_path(OTHER_KEY), store.entry_path(KEY))
    os.chmod(store.entry_path(KEY), 0o600)


def fifo_in_place(store: CacheStore) -> None:
    os.mkfifo(store.entry_path(KEY), 0o600)


def directory_in_place(store: CacheStore) -> None:
    os.mkdir(store.entry_path(KEY), 0o700)


def oversized_entry(store: CacheStore) -> None:
    doc = json.loads(make_entry().to_json())
    doc["summary"]["padding"] = "x" * MAX_ENTRY_BYTES
    plant(store.entry_path(KEY), json.dumps(doc).encode())


def huge_integer(field: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc["credential"] if field != "createdAt" else doc
        target[field] = 10**400

    return mutate


UNUSABLE = [
    pytest.param(planted_bytes(b"{not json"), "ignored: ", id="corrupt"),
    pytest.param(truncated_entry, "ignored: ", id="truncated"),
    pytest.param(planted_bytes(b""), "ignored: ", id="empty"),
    pytest.param(planted_bytes(b"\xff\xfe{}"), "ignored: ", id="not UTF-8"),
    pytest.param(planted_bytes(b"[]"), "not a credplugin cache entry", id="array"),
    pytest.param(planted_bytes(b"null"), "not a credplugin cache entry", id="null"),
    pytest.param(
        planted_doc(lambda d: d.update(format="credplugin-cache/0")),
        "not a credplugin cache entry",
        id="wrong format marker",
    ),
    pytest.param(
        planted_doc(lambda d: d.pop("format")), "not a credplugin cache entry", id="no marker"
    ),
    pytest.param(entry_filed_under_another_key, "another key", id="filed under another key"),
    pytest.param(planted_doc(lambda d: d.pop("key")), "another key", id="no key"),
    pytest.param(planted_doc(lambda d: d.update(provider=7)), "provider", id="int provider"),
    pytest.param(
        planted_doc(lambda d: d.update(credential=["t"])), "credential", id="list credential"
    ),
    pytest.param(
        planted_doc(lambda d: d.update(createdAt="yesterday")), "createdAt", id="str createdAt"
    ),
    pytest.param(planted_doc(lambda d: d.update(createdAt=True)), "createdAt", id="bool createdAt"),
    pytest.param(planted_doc(lambda d: d.update(summary=[])), "summary", id="list summary"),
    pytest.param(planted_doc(lambda d: d["credential"].update(token=5)), "token", id="int token"),
    pytest.param(
        planted_doc(lambda d: d["credential"].update(expiresAt=True)),
        "expiresAt",
        id="bool expiresAt",
    ),
    pytest.param(
        planted_doc(lambda d: d["credential"].update(refresh=["r"])),
        "refresh",
        id="list refresh",
    ),
    pytest.param(
        planted_doc(lambda d: d["credential"].pop("token")),
        "needs a token",
        id="credential without token",
    ),
    pytest.param(valid_entry_with_mode(0o644), "mode 0644 is not private", id="mode 0644"),
    pytest.param(valid_entry_with_mode(0o620), "mode 0620 is not private", id="mode 0620"),
    pytest.param(valid_entry_with_mode(0o604), "mode 0604 is not private", id="mode 0604"),
    pytest.param(entry_owned_by_nobody, "owned by another user", id="owned by uid 65534"),
    pytest.param(fifo_in_place, "not a regular file", id="FIFO"),
    pytest.param(oversized_entry, "too large", id="over 1 MiB"),
    pytest.param(
        directory_in_place,
        "not a regular file",
        id="directory",
    ),
    pytest.param(
        planted_bytes(b"[" * 100_000),
        "ignored: ",
        id="deeply nested",
    ),
    pytest.param(
        planted_doc(huge_integer("createdAt")),
        "createdAt",
        id="createdAt beyond float range",
    ),
    pytest.param(
        planted_doc(huge_integer("expiresAt")),
        "expiresAt",
        id="expiresAt beyond float range",
    ),
]


@pytest.mark.parametrize(("spoil", "reason_part"), UNUSABLE)
def test_unusable_entry_is_ignored_with_a_reason_then_replaced_by_write(
    store: CacheStore, spoil: Callable[[CacheStore], None], reason_part: str
) -> None:
    store.ensure_directory()
    spoil(store)
    entry, reason = read_within(store, KEY)
    assert entry is None
    assert reason.startswith("ignored: "), reason
    assert reason_part in reason
    store.write(make_entry(token="replacement"))
    entry, reason = read_within(store, KEY)
    assert reason == "ok"
    assert entry is not None and entry.credential.token == "replacement"
    path = store.entry_path(KEY)
    assert stat.S_ISREG(os.lstat(path).st_mode)
    assert os.lstat(path).st_uid == os.getuid()
    assert mode_of(path) == 0o600


def test_a_symlink_in_place_of_the_entry_is_not_followed_and_its_target_is_kept(
    store: CacheStore, tmp_path: Path
) -> None:
    store.write(make_entry(token="behind-the-link"))
    target = tmp_path / "elsewhere.json"
    os.rename(store.entry_path(KEY), target)
    os.symlink(target, store.entry_path(KEY))
    original = target.read_bytes()

    entry, reason = read_within(store, KEY)
    assert entry is None
    assert "symbolic link" in reason

    store.write(make_entry(token="replacement"))
    assert not os.path.islink(store.entry_path(KEY))
    entry, reason = store.read(KEY)
    assert reason == "ok" and entry is not None
    assert entry.credential.token == "replacement"
    assert target.read_bytes() == original
    assert mode_of(target) == 0o600


def test_a_dangling_symlink_in_place_of_the_entry_is_ignored(
    store: CacheStore, tmp_path: Path
) -> None:
    store.ensure_directory()
    os.symlink(tmp_path / "nowhere.json", store.entry_path(KEY))
    entry, reason = read_within(store, KEY)
    assert entry is None
    assert reason != "ok"
    store.write(make_entry())
    assert store.read(KEY)[1] == "ok"
    assert not (tmp_path / "nowhere.json").exists()


# -- atomic writes and temp files --------------------------------------------------------------


def test_write_leaves_no_temp_file_behind(store: CacheStore) -> None:
    for token in ("one", "two", "three"):
        store.write(make_entry(token=token))
    assert os.listdir(store.directory) == [KEY + ".json"]


def test_a_directory_squatting_the_entry_is_moved_aside_not_deleted(store: CacheStore) -> None:
    os.makedirs(os.path.join(store.entry_path(KEY), "child"))
    store.write(make_entry())
    entry, _ = store.read(KEY)
    assert entry is not None
    (aside,) = [n for n in os.listdir(store.directory) if ".squatter." in n]
    assert os.listdir(os.path.join(store.directory, aside)) == ["child"]
    assert not [n for n in os.listdir(store.directory) if ".tmp." in n]


def age(path: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_temp_file_older_than_an_hour_is_swept_by_the_next_write(store: CacheStore) -> None:
    store.ensure_directory()
    stale = store.entry_path(OTHER_KEY) + ".tmp.4242.deadbeef"
    fresh = store.entry_path(OTHER_KEY) + ".tmp.4343.cafebabe"
    old_entry = store.entry_path(OTHER_KEY)
    for path in (stale, fresh, old_entry):
        plant(path, b"{}")
    age(stale, 3700)
    age(fresh, 600)
    age(old_entry, 7 * 86400)  # an old entry is not a temp file: never swept

    store.write(make_entry())
    assert not os.path.exists(stale)
    assert os.path.exists(fresh)
    assert os.path.exists(old_entry)
    assert os.path.exists(store.entry_path(KEY))


# -- an unusable location ----------------------------------------------------------------------


def blocked_store(tmp_path: Path, beneath: bool) -> CacheStore:
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a directory")
    return CacheStore(str(blocker / "cache" if beneath else blocker))


@pytest.mark.parametrize("beneath", [True, False], ids=["under a file", "is a file"])
def test_an_uncreatable_directory_raises_cache_unavailable(tmp_path: Path, beneath: bool) -> None:
    store = blocked_store(tmp_path, beneath)
    with pytest.raises(CacheUnavailable, match="cache"):
        store.ensure_directory()
    with pytest.raises(CacheUnavailable):
        store.write(make_entry())
    with pytest.raises(CacheUnavailable), store.lock(KEY, 0):
        pass
    entry, reason = store.read(KEY)
    assert entry is None and reason != "ok"
    assert list(store.entry_keys()) == []
    assert (tmp_path / "regular-file").read_text() == "not a directory"


# -- keys --------------------------------------------------------------------------------------


def test_make_key_is_the_sha256_of_canonical_compact_sorted_json() -> None:
    material = {"v": 1, "provider": "aws", "server": None, "options": {"b": [1, "x"], "a": True}}
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    assert make_key(material) == hashlib.sha256(canonical.encode()).hexdigest()


def test_make_key_is_stable_hex() -> None:
    material = {"provider": "oidc", "server": "https://k.example", "options": {"issuer": "é"}}
    key = make_key(material)
    assert key == make_key(json.loads(json.dumps(material)))
    assert len(key) == 64
    assert set(key) <= set("0123456789abcdef")


BASE = {
    "v": 1,
    "provider": "aws",
    "server": "https://k",
    "options": {"role": "arn:aws:iam::1:role/x", "region": None, "scopes": ["a", "b"]},
    "env": {"AWS_PROFILE": "dev"},
}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m: m.update(v=2), id="version"),
        pytest.param(lambda m: m.update(provider="azure"), id="provider"),
        pytest.param(lambda m: m.update(server="https://k/"), id="server"),
        pytest.param(lambda m: m.update(server=None), id="server None"),
        pytest.param(lambda m: m["options"].update(role="arn:aws:iam::2:role/x"), id="option"),
        pytest.param(lambda m: m["options"].update(region=""), id="None vs empty"),
        pytest.param(lambda m: m["options"].update(scopes=["b", "a"]), id="list order"),
        pytest.param(lambda m: m["options"].update(extra=False), id="added option"),
        pytest.param(lambda m: m["env"].pop("AWS_PROFILE"), id="removed env"),
        pytest.param(lambda m: m["env"].update(AWS_PROFILE="prod"), id="env value"),
        pytest.param(lambda m: m.update(v="1"), id="int vs str"),
        pytest.param(lambda m: m.update(v=1.0), id="int vs float"),
        pytest.param(lambda m: m.update(v=True), id="int vs bool"),
    ],
)
def test_make_key_differs_when_any_part_differs(change: Mutation) -> None:
    changed = json.loads(json.dumps(BASE))
    change(changed)
    assert make_key(changed) != make_key(BASE)


KEY_MATERIAL: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=4), children, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=5,
)


def reversed_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_order(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_order(item) for item in value]
    return value


@given(KEY_MATERIAL)
def test_make_key_ignores_dict_insertion_order_at_every_level(material: dict[str, Any]) -> None:
    assert make_key(reversed_order(material)) == make_key(material)


@settings(max_examples=60)
@given(KEY_MATERIAL, KEY_MATERIAL)
def test_make_key_is_equal_exactly_when_the_canonical_json_is(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    def canonical(m: dict[str, Any]) -> str:
        return json.dumps(m, sort_keys=True, separators=(",", ":"))

    assert (make_key(a) == make_key(b)) == (canonical(a) == canonical(b))


# -- default location --------------------------------------------------------------------------


def test_default_dir_prefers_credplugin_cache_dir() -> None:
    environ = {"CREDPLUGIN_CACHE_DIR": "/x/mine", "KUBECACHEDIR": "/y/kube"}
    assert default_dir(environ) == "/x/mine"


def test_default_dir_then_kubecachedir_credplugin() -> None:
    assert default_dir({"KUBECACHEDIR": "/y/kube"}) == "/y/kube/credplugin"
    environ = {"CREDPLUGIN_CACHE_DIR": "", "KUBECACHEDIR": "/y/kube"}
    assert default_dir(environ) == "/y/kube/credplugin"


def test_default_dir_then_home_kube_cache(isolated_home: Path) -> None:
    expected = str(isolated_home / ".kube" / "cache" / "credplugin")
    assert default_dir({}) == expected
    assert default_dir({"CREDPLUGIN_CACHE_DIR": "", "KUBECACHEDIR": ""}) == expected


# -- locks -------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from credplugin.cache import CacheStore
with CacheStore(sys.argv[1]).lock(sys.argv[2], 10):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
"""


@contextmanager
def lock_holder(store: CacheStore, key: str, hold: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock for `key` for `hold` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store.directory, key, str(hold)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()


def test_a_waiter_gets_the_lock_once_the_other_process_lets_go(store: CacheStore) -> None:
    notices: list[str] = []
    with lock_holder(store, KEY, 1.5) as holder:
        lock = store.lock(KEY, 5, notices.append)
        lock.notice_after = 0
        with lock:
            assert lock.waited >= 1.0
            assert Path(store.lock_path(KEY)).read_text() == f"{os.getpid()}\n"
        assert holder.wait(5) == 0
    assert notices == [f"pid {holder.pid}"]


def test_a_short_wait_times_out_naming_the_holder_pid(store: CacheStore) -> None:
    with lock_holder(store, KEY, 30) as holder:
        started = time.monotonic()
        with pytest.raises(Timeout) as caught, store.lock(KEY, 0.3):
            pytest.fail("acquired a lock another process holds")
        elapsed = time.monotonic() - started
        assert holder.poll() is None
    assert f"pid {holder.pid}" in str(caught.value)
    assert 0.3 <= elapsed < 3


def test_a_killed_holder_releases_the_lock_at_once(store: CacheStore) -> None:
    with lock_holder(store, KEY, 30) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(5)
        with store.lock(KEY, 0) as lock:
            assert lock.waited < 0.5


def test_a_second_lock_in_the_same_process_waits_and_the_first_release_frees_it(
    store: CacheStore,
) -> None:
    notices: list[str] = []
    with store.lock(KEY, 1):
        with pytest.raises(Timeout, match=f"pid {os.getpid()}"), store.lock(KEY, 0.1):
            pytest.fail("acquired a lock that is held")
        late = store.lock(KEY, 0.1, notices.append)
        late.notice_after = 10  # the wait never lasts that long: no notice
        with pytest.raises(Timeout), late:
            pytest.fail("acquired a lock that is held")
        assert notices == []
        with store.lock(OTHER_KEY, 0):  # another key does not contend
            pass
    with store.lock(KEY, 0, notices.append) as again:
        assert again.fd is not None
    assert notices == []
    assert again.fd is None


def test_a_free_lock_is_taken_without_waiting_or_notice(store: CacheStore) -> None:
    notices: list[str] = []
    with store.lock(KEY, 0, notices.append) as lock:
        assert lock.waited < 0.5
    assert notices == []
