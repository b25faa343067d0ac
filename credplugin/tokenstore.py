"""Where a cache entry's long-lived secrets live: in its 0600 file, or in the OS keyring.

A credential's `refresh` material (oidc and google refresh tokens, the MSAL cache of aks,
assumed-role session credentials) mints new tokens for hours or months; the access token next
to it dies within the hour. `--token-store` decides where the first kind goes:

    file     inline in the cache file, as before;
    keyring  in the OS keyring, one item per cache key, and never in a file: when the keyring
             does not answer, the material is not kept at all (the next refresh logs in anew);
    auto     (default) the keyring when it answers, else the file, said once in one line.

The file always keeps the access token, its expiry and a mark that the rest is in the
keyring, so a cache hit reads one file and never loads a keyring module. Only a refresh, under
the key's lock, reads the item and writes the rotated one back before the lock is released.

An item is found by a fixed service name and the cache key as its user, so a tampered entry
cannot point us at another item, and a renamed one never leaves its predecessor behind; what
a person reads in their keyring UI is the item's label ("credplugin: oidc https://issuer
(alice@...)", Secret Service) or the service name and key (elsewhere).

The keyring is the maintained `keyring` library (Secret Service on Linux, Keychain on macOS).
Every call runs in a daemon thread and is abandoned after its bound: a hung D-Bus service or
a prompt nobody answers costs a refresh at most that long, never a hang, and after one such
failure the call's other keyring steps give up at once. An unlock prompt is raised only for
a person at a terminal of a desktop session, who is told, and gets PROMPT_SECONDS to answer.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from credplugin import fastjson, log
from credplugin.cache import Entry
from credplugin.credential import Credential

FILE = "file"
KEYRING = "keyring"
AUTO = "auto"
CHOICES = (FILE, KEYRING, AUTO)
DEFAULT = AUTO
ENV = "CREDPLUGIN_TOKEN_STORE"

# Every item: this service name, the cache key as the user, and (Secret Service) this
# application attribute and a label a person recognises.
SERVICE = "credplugin"
APPLICATION = "credplugin"
LABEL_PREFIX = "credplugin: "
MAX_LABEL = 200
MAX_SECRET = 1 << 20
# A keyring call longer than this is a hung service or an unanswered prompt.
KEYRING_SECONDS = 10.0
# How long a person has to answer an unlock prompt on their desktop.
PROMPT_SECONDS = 60.0

T = TypeVar("T")


class KeyringUnusable(Exception):
    """The keyring cannot be used now; the message says why, in a few words."""


def in_keyring(entry: Entry) -> bool:
    """Whether the entry's long-lived material is in the keyring (its item: SERVICE, key)."""
    ref = entry.secrets
    return isinstance(ref, Mapping) and ref.get("store") == KEYRING


def where(entry: Entry) -> str:
    """Where the entry's long-lived secrets are, for `cache list`."""
    if in_keyring(entry):
        return KEYRING
    return FILE if entry.credential.refresh else "-"


def label(provider: str, summary: Mapping[str, Any], identity: str | None) -> str:
    """What a person sees in their keyring: "credplugin: oidc https://issuer (alice@...)"."""
    values = [
        ",".join(map(str, v)) if isinstance(v, list) else str(v)
        for _, v in sorted(summary.items())
        if v not in (None, "", [], True, False)
    ]
    values.sort(key=lambda v: not v.startswith(("https://", "http://", "arn:")))
    text = " ".join([provider, *values])
    if identity:
        text += f" ({identity})"
    text = log.printable(text)
    if len(LABEL_PREFIX) + len(text) > MAX_LABEL:
        text = text[: MAX_LABEL - len(LABEL_PREFIX) - 3] + "..."
    return LABEL_PREFIX + text


def _stripped(entry: Entry, secrets: Mapping[str, Any] | None) -> Entry:
    return Entry(
        entry.key,
        entry.provider,
        entry.credential.with_refresh({}),
        entry.created_at,
        entry.summary,
        secrets=secrets,
    )


class TokenStore:
    """The chosen store for one refresh; the keyring is built on first use.

    The runner calls, under the key's lock: restore() before the fetch, keep() before it
    writes the file, settle() after the file is written."""

    def __init__(
        self,
        choice: str,
        *,
        interactive: bool,
        bound: float,
        environ: Mapping[str, str],
        keyring: Keyring | None = None,
    ) -> None:
        self.choice = choice
        self.interactive = interactive
        self.bound = bound
        self.environ = environ
        self._keyring = keyring

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = Keyring(self.environ, interactive=self.interactive, bound=self.bound)
        return self._keyring

    def restore(self, entry: Entry | None) -> Credential | None:
        """The entry's credential with its long-lived material, read from the keyring when
        it is there. An item that cannot be read is said once; the fetch then goes on
        without it, as after a first login."""
        if entry is None or not in_keyring(entry):
            return entry.credential if entry is not None else None
        try:
            secret = self.keyring.get(entry.key)
        except KeyringUnusable as exc:
            log.notice(
                f"could not read the refresh token from the keyring ({exc}); going on without it"
            )
            return entry.credential
        if secret is None:
            log.notice(
                "the keyring no longer holds this entry's refresh token; going on without it"
            )
            return entry.credential
        try:
            material = fastjson.loads(secret)
        except ValueError:
            material = None
        if not isinstance(material, dict):
            log.warn("the keyring item for this entry is not credplugin's; ignored")
            return entry.credential
        return entry.credential.with_refresh(material)

    def keep(self, entry: Entry, previous: Entry | None) -> Entry:
        """The entry to write to the file, its long-lived material stored per the choice.
        Nothing is deleted here: an item the new entry no longer needs goes in settle(),
        once the file no longer points at it."""
        material = dict(entry.credential.refresh)
        if not material or self.choice == FILE:
            return entry
        text = label(entry.provider, entry.summary, entry.credential.identity)
        try:
            self.keyring.put(entry.key, fastjson.dumps(material), text)
        except KeyringUnusable as exc:
            return self._fallback(entry, previous, str(exc))
        log.info(f"refresh material kept in the keyring as {text!r}")
        return _stripped(entry, {"store": KEYRING})

    def settle(self, written: Entry, previous: Entry | None) -> None:
        """After the file is written: delete the item when the entry left the keyring (a
        move to the file, a fallback, nothing long-lived any more)."""
        if in_keyring(written) or previous is None or not in_keyring(previous):
            return
        try:
            self.keyring.delete(written.key)
        except KeyringUnusable as exc:
            log.notice(f"left this entry's old refresh token in the keyring: {exc}")

    def _fallback(self, entry: Entry, previous: Entry | None, reason: str) -> Entry:
        if self.choice == KEYRING:
            # Chosen so that no long-lived secret ever sits in a file: keep none.
            log.warn(
                f"the keyring did not take the refresh token ({reason}); it was not kept, "
                "so the next refresh logs in anew"
            )
            return _stripped(entry, None)
        # auto: say it when the place changes, not on every refresh of a keyring-less box.
        if previous is None or in_keyring(previous) or not previous.credential.refresh:
            log.notice(
                f"refresh token kept in the 0600 cache file: no usable keyring ({reason}); "
                "--token-store=file says so and silences this"
            )
        return entry


class Keyring:
    """The OS keyring through the `keyring` library, every call bounded. After a call that
    fails for the keyring's sake (not answering, locked, absent), later calls on this object
    fail at once with the same reason: one slow keyring costs one bound, not one per step."""

    def __init__(self, environ: Mapping[str, str], *, interactive: bool, bound: float) -> None:
        self.environ = environ
        # A prompt only for a person at a terminal of a desktop session (not over ssh).
        self.may_prompt = interactive and bool(
            environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")
        )
        self.bound = max(0.1, min(bound, KEYRING_SECONDS))
        self._backend: Any = None
        self._broken = ""

    def get(self, key: str) -> str | None:
        value = self._call(lambda b: b.get_password(SERVICE, key))
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SECRET):
            raise KeyringUnusable("the keyring returned something that is not ours")
        return value

    def put(self, key: str, secret: str, text: str) -> None:
        def put(backend: Any) -> None:
            if hasattr(backend, "set_labelled"):
                backend.set_labelled(SERVICE, key, secret, text)
            else:
                backend.set_password(SERVICE, key, secret)

        self._call(put)

    def delete(self, key: str) -> None:
        def delete(backend: Any) -> None:
            from keyring.errors import PasswordDeleteError

            try:
                backend.delete_password(SERVICE, key)
            except PasswordDeleteError:
                pass  # already gone: what we wanted

        self._call(delete)

    def delete_all(self) -> int | None:
        """Delete every credplugin item (cache clear --all): how many; None where the backend
        cannot search (then only the entries' own items go)."""

        def delete_all(backend: Any) -> int | None:
            if hasattr(backend, "delete_all"):
                return int(backend.delete_all(SERVICE))
            return None

        return self._call(delete_all)

    def describe(self) -> str:
        """The backend's name once it answers a read (doctor); raises KeyringUnusable."""
        self.get("probe")
        backend = self._backend
        return str(getattr(backend, "display", None) or getattr(backend, "name", "keyring"))

    def _call(self, operation: Callable[[Any], T]) -> T:
        if self._broken:
            raise KeyringUnusable(self._broken)
        why = self._absent()
        if why:
            self._broken = why
            raise KeyringUnusable(why)

        def work(prompting: threading.Event) -> T:
            if self._backend is None:
                self._backend = _backend(self.environ, self.may_prompt, prompting)
            return operation(self._backend)

        try:
            return _bounded(work, self.bound)
        except KeyringUnusable as exc:
            self._broken = str(exc)
            raise

    def _absent(self) -> str:
        """Why no keyring can answer here, found without importing one; '' if it may."""
        if self.environ.get("PYTHON_KEYRING_BACKEND"):
            return ""
        if sys.platform.startswith("linux") or "bsd" in sys.platform:
            if not self.environ.get("DBUS_SESSION_BUS_ADDRESS"):
                return "no D-Bus session bus"
        return ""


def _bounded(work: Callable[[threading.Event], T], seconds: float) -> T:
    """work() in a daemon thread, given up after `seconds`, or PROMPT_SECONDS once work has
    put a prompt in front of a person. Every failure, ours or the library's (D-Bus, locked,
    denied, not installed), becomes KeyringUnusable."""
    result: list[T] = []
    failure: list[BaseException] = []
    prompting = threading.Event()

    def run() -> None:
        try:
            result.append(work(prompting))
        except BaseException as exc:  # carried to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="credplugin-keyring", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive() and prompting.is_set():
        thread.join(max(0.0, PROMPT_SECONDS - seconds))
    if thread.is_alive():
        # The thread stays blocked; as a daemon it does not keep the process alive.
        waited = PROMPT_SECONDS if prompting.is_set() else seconds
        raise KeyringUnusable(f"no answer within {waited:.0f}s")
    if failure:
        raise KeyringUnusable(_reason(failure[0])) from failure[0]
    return result[0]


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, ImportError):
        return "the keyring library is not installed"
    text = log.printable(str(exc)).strip()
    if name in ("KeyringLocked", "LockedException", "PromptDismissedException"):
        return text if text.startswith("the keyring ") else "the keyring is locked"
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{name}: {text}" if text else name


def _backend(environ: Mapping[str, str], may_prompt: bool, prompting: threading.Event) -> Any:
    """The keyring backend for this platform, chosen without keyring's autodetection (which
    probes every backend, 70-120 ms). $PYTHON_KEYRING_BACKEND still wins."""
    import keyring.core

    named = environ.get("PYTHON_KEYRING_BACKEND", "")
    if named == "keyring.backends.SecretService.Keyring":
        return _secret_service(may_prompt, prompting)
    chosen = keyring.core.load_keyring(named) if named else None
    if chosen is not None:
        name = type(chosen).__module__
        if name.startswith(("keyring.backends.fail", "keyring.backends.null")):
            raise KeyringUnusable(f"$PYTHON_KEYRING_BACKEND chooses {name}, which stores nothing")
        return chosen
    if sys.platform == "darwin":
        from keyring.backends import macOS

        return macOS.Keyring()
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return _secret_service(may_prompt, prompting)
    raise KeyringUnusable(f"no keyring backend for {sys.platform}")


def _secret_service(may_prompt: bool, prompting: threading.Event) -> Any:
    """keyring's Secret Service backend, reading and writing only credplugin's items (its
    application attribute), labelling them for a person, and never unlocking a collection or
    an item (some services, KeePassXC among them, lock items per client) unless a person at
    a desktop may answer the prompt."""
    from contextlib import closing

    import secretstorage
    from keyring.backends import SecretService
    from keyring.errors import InitError, KeyringLocked
    from secretstorage import exceptions

    def unlock(thing: Any, what: str) -> None:
        if not thing.is_locked():
            return
        if not may_prompt:
            raise KeyringLocked(f"the keyring {what} is locked")
        prompting.set()
        log.notice(f"the keyring {what} is locked: unlock it in the prompt on your desktop")
        thing.unlock()
        if thing.is_locked():
            raise KeyringLocked(f"the keyring {what} is locked")

    class Backend(SecretService.Keyring):
        appid = APPLICATION
        display = "Secret Service"

        def get_preferred_collection(self) -> Any:
            bus = secretstorage.dbus_init()
            try:
                # The default alias only: get_default_collection would create a collection,
                # which is itself a prompt.
                collection = secretstorage.Collection(bus)
                unlock(collection, "collection")
            except exceptions.ItemNotFoundException:
                bus.close()
                raise InitError("the Secret Service has no default keyring") from None
            except BaseException:
                bus.close()
                raise
            return collection

        def _ours(self, collection: Any, service: str, username: str) -> list[Any]:
            query = self._query(service, username, application=self.appid)
            return list(collection.search_items(query))

        def get_password(self, service: str, username: str) -> str | None:
            collection = self.get_preferred_collection()
            with closing(collection.connection):
                for item in self._ours(collection, service, username):
                    unlock(item, "item")
                    return str(item.get_secret().decode("utf-8"))
            return None

        def delete_password(self, service: str, username: str) -> None:
            collection = self.get_preferred_collection()
            with closing(collection.connection):
                for item in self._ours(collection, service, username):
                    item.delete()

        def set_labelled(self, service: str, username: str, password: str, text: str) -> None:
            collection = self.get_preferred_collection()
            attributes = self._query(service, username, application=self.appid)
            with closing(collection.connection):
                collection.create_item(text, attributes, password, replace=True)

        def delete_all(self, service: str) -> int:
            collection = self.get_preferred_collection()
            query = {"service": service, "application": self.appid}
            with closing(collection.connection):
                items = list(collection.search_items(query))
                for item in items:
                    item.delete()
            return len(items)

    return Backend()  # type: ignore[no-untyped-call]
