"""Where a cache entry's long-lived secrets live: in its 0600 file, or in the OS keyring.

A credential's `refresh` material (oidc and google refresh tokens, the MSAL cache of aks,
assumed-role session credentials) mints new tokens for hours or months; the access token next
to it dies within the hour. `--token-store` decides where the first kind goes:

    file     inline in the cache file, as before;
    keyring  in the OS keyring, one item per cache key, and never in a file: when the keyring
             does not answer, the material is not kept at all (the next refresh logs in anew);
    auto     (default) the keyring when it answers, else the file, said once in one line.

The file always keeps the access token, its expiry and a reference to the keyring item, so a
cache hit reads one file and never loads a keyring module. Only a refresh, under the key's
lock, reads the item and writes the rotated one back before the lock is released.

The keyring is the maintained `keyring` library (Secret Service on Linux, Keychain on macOS).
Every call runs in a daemon thread and is abandoned after its bound: a hung D-Bus service or
a prompt nobody answers costs a refresh at most that long, never a hang. Without a person at
the terminal, a locked keyring is reported, never unlocked: unlocking is a desktop prompt.
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

# Every item's service name starts so: a person finds them in their keyring UI, and a
# reference that names anything else (a tampered entry) is not followed.
SERVICE_PREFIX = "credplugin: "
MAX_SERVICE = 200
MAX_SECRET = 1 << 20
# A keyring call longer than this is a hung service or an unanswered prompt.
KEYRING_SECONDS = 10.0

T = TypeVar("T")


class KeyringUnusable(Exception):
    """The keyring cannot be used now; the message says why, in a few words."""


def reference_of(entry: Entry) -> str | None:
    """The keyring service name an entry points at, or None."""
    ref = entry.secrets
    if not isinstance(ref, Mapping) or ref.get("store") != KEYRING:
        return None
    service = ref.get("service")
    if isinstance(service, str) and service.startswith(SERVICE_PREFIX) and len(service) <= 512:
        return service
    return None


def where(entry: Entry) -> str:
    """Where the entry's long-lived secrets are, for `cache list`."""
    if entry.secrets is not None:
        return KEYRING if reference_of(entry) else "unusable reference"
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
    if len(SERVICE_PREFIX) + len(text) > MAX_SERVICE:
        text = text[: MAX_SERVICE - len(SERVICE_PREFIX) - 3] + "..."
    return SERVICE_PREFIX + text


def _with_refresh(credential: Credential, refresh: Mapping[str, Any]) -> Credential:
    return Credential(
        credential.token,
        client_certificate_data=credential.client_certificate_data,
        client_key_data=credential.client_key_data,
        expires_at=credential.expires_at,
        issued_at=credential.issued_at,
        identity=credential.identity,
        refresh=refresh,
    )


class TokenStore:
    """The chosen store for one call; `keyring` is built on first use (a miss only)."""

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
        if entry is None:
            return None
        if entry.secrets is None:
            return entry.credential
        service = reference_of(entry)
        if service is None:
            log.warn("the cache entry's keyring reference is not credplugin's; not followed")
            return entry.credential
        try:
            secret = self.keyring.get(service, entry.key)
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
        return _with_refresh(entry.credential, material)

    def keep(self, entry: Entry, previous: Entry | None) -> Entry:
        """The entry to write to the file, its long-lived material stored per the choice.
        Called under the key's lock, before the file is written."""
        old_service = reference_of(previous) if previous is not None else None
        material = dict(entry.credential.refresh)
        if not material:
            self._forget(old_service, entry.key)
            return entry
        if self.choice == FILE:
            self._forget(old_service, entry.key)
            return entry
        service = label(entry.provider, entry.summary, entry.credential.identity)
        try:
            self.keyring.put(service, entry.key, fastjson.dumps(material))
        except KeyringUnusable as exc:
            return self._fallback(entry, previous, str(exc))
        if old_service is not None and old_service != service:
            self._forget(old_service, entry.key)
        stripped = Entry(
            entry.key,
            entry.provider,
            _with_refresh(entry.credential, {}),
            entry.created_at,
            entry.summary,
            secrets={"store": KEYRING, "service": service},
        )
        log.info(f"refresh material kept in the keyring as {service!r}")
        return stripped

    def _fallback(self, entry: Entry, previous: Entry | None, reason: str) -> Entry:
        if self.choice == KEYRING:
            # Chosen so that no long-lived secret ever sits in a file: keep none.
            log.warn(
                f"the keyring did not take the refresh token ({reason}); it was not kept, "
                "so the next refresh logs in anew"
            )
            return Entry(
                entry.key,
                entry.provider,
                _with_refresh(entry.credential, {}),
                entry.created_at,
                entry.summary,
            )
        # auto: say it when the place changes, not on every refresh of a keyring-less box.
        if previous is None or previous.secrets is not None or not previous.credential.refresh:
            log.notice(
                f"refresh token kept in the 0600 cache file: no usable keyring ({reason}); "
                "--token-store=file says so and silences this"
            )
        return entry

    def _forget(self, service: str | None, key: str) -> None:
        if service is None:
            return
        try:
            self.keyring.delete(service, key)
        except KeyringUnusable as exc:
            log.info(f"left an old keyring item {service!r}: {exc}")


def forget(entry: Entry, environ: Mapping[str, str], *, interactive: bool, bound: float) -> str:
    """Delete the entry's keyring item (cache clear); '' when done or nothing was there,
    else why not."""
    service = reference_of(entry)
    if service is None:
        return ""
    try:
        Keyring(environ, interactive=interactive, bound=bound).delete(service, entry.key)
    except KeyringUnusable as exc:
        return str(exc)
    return ""


class Keyring:
    """The OS keyring through the `keyring` library, every call bounded."""

    def __init__(self, environ: Mapping[str, str], *, interactive: bool, bound: float) -> None:
        self.environ = environ
        self.interactive = interactive
        self.bound = max(0.1, min(bound, KEYRING_SECONDS))
        self._backend: Any = None

    def get(self, service: str, username: str) -> str | None:
        value = self._call(lambda b: b.get_password(service, username))
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SECRET):
            raise KeyringUnusable("the keyring returned something that is not ours")
        return value

    def put(self, service: str, username: str, secret: str) -> None:
        self._call(lambda b: b.set_password(service, username, secret))

    def delete(self, service: str, username: str) -> None:
        def delete(backend: Any) -> None:
            from keyring.errors import PasswordDeleteError

            try:
                backend.delete_password(service, username)
            except PasswordDeleteError:
                pass  # already gone: what we wanted

        self._call(delete)

    def describe(self) -> str:
        """The backend's name once it answers a read (doctor); raises KeyringUnusable."""
        self.get(SERVICE_PREFIX + "probe", "probe")
        backend = self._backend
        return str(getattr(backend, "display", None) or getattr(backend, "name", "keyring"))

    def _call(self, operation: Callable[[Any], T]) -> T:
        why = self._absent()
        if why:
            raise KeyringUnusable(why)

        def work() -> T:
            if self._backend is None:
                self._backend = _backend(self.environ, self.interactive)
            return operation(self._backend)

        return _bounded(work, self.bound)

    def _absent(self) -> str:
        """Why no keyring can answer here, found without importing one; '' if it may."""
        if self.environ.get("PYTHON_KEYRING_BACKEND"):
            return ""
        if sys.platform.startswith("linux") or "bsd" in sys.platform:
            if not self.environ.get("DBUS_SESSION_BUS_ADDRESS"):
                return "no D-Bus session bus"
        return ""


def _bounded(work: Callable[[], T], seconds: float) -> T:
    """work() in a daemon thread, given up after `seconds`. Every failure, ours or the
    library's (D-Bus, locked, denied, not installed), becomes KeyringUnusable."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # carried to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="credplugin-keyring", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        # The thread stays blocked; as a daemon it does not keep the process alive.
        raise KeyringUnusable(f"no answer within {seconds:.0f}s")
    if failure:
        raise KeyringUnusable(_reason(failure[0])) from failure[0]
    return result[0]


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, ImportError):
        return "the keyring library is not installed"
    if name == "KeyringLocked":
        return "the keyring is locked"
    text = log.printable(str(exc)).strip()
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{name}: {text}" if text else name


def _backend(environ: Mapping[str, str], interactive: bool) -> Any:
    """The keyring backend for this platform, chosen without keyring's autodetection (which
    probes every backend, 70-120 ms). $PYTHON_KEYRING_BACKEND still wins."""
    import keyring.core

    named = environ.get("PYTHON_KEYRING_BACKEND", "")
    if named == "keyring.backends.SecretService.Keyring":
        return _secret_service(interactive)
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
        return _secret_service(interactive)
    raise KeyringUnusable(f"no keyring backend for {sys.platform}")


def _secret_service(interactive: bool) -> Any:
    """keyring's Secret Service backend, with two changes: the item's label is its service
    name (what a person reads in Seahorse or KeePassXC), and without a person at the terminal
    a locked keyring is an error, not an unlock prompt on someone's desktop."""
    from contextlib import closing

    import secretstorage
    from keyring.backends import SecretService
    from keyring.errors import InitError, KeyringLocked
    from secretstorage import exceptions

    class Backend(SecretService.Keyring):
        appid = "credplugin"
        display = "Secret Service"

        def get_preferred_collection(self) -> Any:
            bus = secretstorage.dbus_init()
            try:
                # The default alias only: get_default_collection would create a collection,
                # which is itself a prompt.
                collection = secretstorage.Collection(bus)
                locked = collection.is_locked()
            except exceptions.ItemNotFoundException:
                bus.close()
                raise InitError("the Secret Service has no default keyring") from None
            except exceptions.SecretStorageException as exc:
                bus.close()
                raise InitError(f"Secret Service: {exc}") from exc
            if locked:
                if not interactive:
                    bus.close()
                    raise KeyringLocked("the keyring is locked")
                collection.unlock()
                if collection.is_locked():
                    bus.close()
                    raise KeyringLocked("the keyring is locked")
            return collection

        def set_password(self, service: str, username: str, password: str) -> None:
            collection = self.get_preferred_collection()
            attributes = self._query(service, username, application=self.appid)
            with closing(collection.connection):
                collection.create_item(service, attributes, password, replace=True)

    return Backend()  # type: ignore[no-untyped-call]
