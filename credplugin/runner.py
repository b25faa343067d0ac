"""One path for every provider: exec request -> options -> cache -> provider -> stdout.

    main()     the exit code; the one ExecCredential document on stdout, or nothing
    run()      resolve the call (an Invocation), answer from the cache when the entry is fresh
    _refresh() under the per-key lock: re-check, fetch, write, or serve a still-valid token
    _fetch()   the provider's fetch code under a hard deadline

Only a cache miss loads a provider's fetch code, and with it anything heavy.
"""

from __future__ import annotations

import os
import sys
import time

from credplugin import execinfo, hotpath, log
from credplugin.cache import CacheStore, CacheUnavailable, Entry
from credplugin.errors import (
    CredpluginError,
    InteractionRequired,
    Interrupted,
    LockTimeout,
    LoginAbandoned,
    Timeout,
    UpstreamError,
    UsageError,
)
from credplugin.invocation import Invocation
from credplugin.providers.base import FetchContext

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from credplugin.credential import Credential
    from credplugin.providers.base import Declaration
    from credplugin.tokenstore import TokenStore

# After an abandoned login, background calls for the same key fail fast for this long.
LOGIN_BACKOFF_SECONDS = 60.0
# Say "waiting for another process" only once a wait is long enough for a person to wonder.
WAIT_NOTICE_SECONDS = 1.0


class _Deadline(BaseException):
    """Raised by the watchdog. A BaseException, so no SDK's `except Exception` swallows it."""


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that `finally` blocks release locks and files."""


def main(provider: Declaration, command_line: dict[str, Any], environ: Mapping[str, str]) -> int:
    """Run one provider subcommand; the process exit code. Never raises, never a traceback
    unless -v, and stdout holds exactly one ExecCredential or nothing at all."""
    log.set_verbosity(int(command_line.get("verbose") or 0))
    out = _StdoutGuard()
    try:
        credential, api_version = run(provider, command_line, environ)
        document = execinfo.render(api_version, credential)
        out.write(document)
        return 0
    except CredpluginError as exc:
        return _fail(exc)
    except (KeyboardInterrupt, _Terminated):
        return _fail(Interrupted("interrupted; nothing was cached and no lock is held"))
    except _Deadline:
        return _fail(Timeout("gave up: the credential fetch ran past its time limit"))
    except RecursionError as exc:
        # Only data nests this deep: an answer from outside, parsed by us or an SDK.
        return _fail(UpstreamError("an answer was nested too deeply to read; refused"), exc)
    except Exception as exc:
        return _fail(CredpluginError(f"internal error: {type(exc).__name__}: {exc}"), exc)
    finally:
        out.restore()


def run(
    provider: Declaration, command_line: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Credential, str]:
    request = execinfo.parse_request(
        environ.get(execinfo.ENV), command_line.get("api_version"), execinfo.stdin_is_tty()
    )
    for warning in request.warnings:
        log.warn(warning)
    call = Invocation(provider, command_line, request.cluster_config, request.server, environ)
    values = call.values
    log.set_verbosity(int(values["verbose"] or 0))
    contexts: list[FetchContext] = []

    def context() -> FetchContext:
        """What a fetch or a preflight may know; a plain cache hit needs none."""
        if not contexts:
            from credplugin.prompt import Prompter  # only they may talk to a person

            contexts.append(
                FetchContext(
                    interactive=request.interactive,
                    timeout=float(values["timeout"]),
                    server=call.server,
                    force_refresh=bool(values["force_refresh"]),
                    prompter=Prompter(
                        request.interactive, call.terminal_command, from_client=request.from_client
                    ),
                )
            )
        return contexts[0]

    if provider.preflight is not None:
        provider.preflight(values, context())
    if not call.cached:
        return _fetch(call, context()), request.api_version

    store = call.store()
    key = call.key
    margin = float(values["refresh_margin"])
    now = time.time()
    if not values["force_refresh"]:
        cached, why = store.read(key)
        if cached is not None and cached.credential.is_fresh(now, margin):
            log.info(f"cache hit {key[:12]} ({_time_left(cached.credential, now)})")
            return cached.credential, request.api_version
        log.info(f"cache miss {key[:12]}: {why if cached is None else 'near expiry'}")
    return _refresh(call, context(), store, margin), request.api_version


def _refresh(call: Invocation, ctx: FetchContext, store: CacheStore, margin: float) -> Credential:
    """Under the per-key lock: re-check, fetch, write; or serve a still-valid token."""
    started = time.time()
    key = call.key

    def waiting(holder: str) -> None:
        log.notice(f"waiting for another credplugin process ({holder}) fetching this credential")

    try:
        lock = store.lock(key, call.lock_wait_seconds(), waiting, WAIT_NOTICE_SECONDS)
        with lock:
            cached, _ = store.read(key)
            now = time.time()
            if cached is not None:
                fresh = cached.credential.is_fresh(now, margin)
                # With --force-refresh, a credential written while we waited is the refresh.
                if fresh and (not ctx.force_refresh or cached.created_at >= started):
                    log.info(f"fetched by another process while we waited {lock.waited:.1f}s")
                    return cached.credential
            secrets = _token_store(call, ctx)
            try:
                _respect_backoff(store, key, ctx)
                ctx.previous = secrets.restore(cached)
                credential = _fetch(call, ctx)
            except CredpluginError as exc:
                if isinstance(exc, LoginAbandoned):
                    _remember_abandoned_login(store, key, exc)
                if ctx.force_refresh:
                    raise
                return _serve_while_valid(cached, exc)
            entry = Entry(key, call.provider.name, credential, time.time(), call.summary())
            try:
                # The keyring first: a rotated refresh token is kept before anyone can read
                # the new entry, and before the lock is released.
                written = secrets.keep(entry, cached)
                store.write(written)
                secrets.settle(written, cached)  # an item the file no longer points at
                store.clear_backoff(key)
            except CacheUnavailable as exc:
                log.warn(f"{exc.one_line()}; the credential was not cached")
            return credential
    except LockTimeout as exc:
        # The holder is still at it (a slow endpoint, a login): a token that is still valid
        # serves this call as well as a fresh one would.
        return _serve_while_valid(store.read(key)[0], exc)
    except CacheUnavailable as exc:
        log.warn(f"{exc.one_line()}; going on without the cache")
        return _fetch(call, ctx)


def _token_store(call: Invocation, ctx: FetchContext) -> TokenStore:
    from credplugin.tokenstore import TokenStore  # a refresh only

    return TokenStore(
        str(call.values["token_store"]),
        interactive=ctx.interactive,
        bound=ctx.timeout,
        environ=call.environ,
    )


def _serve_while_valid(cached: Entry | None, exc: CredpluginError) -> Credential:
    """After a failed refresh: the cached credential while it has not expired, else `exc`."""
    now = time.time()  # not the time before the fetch: a login may have taken minutes
    if isinstance(exc, UsageError) or cached is None or cached.credential.is_expired(now):
        raise exc
    log.warn(
        f"refresh failed ({exc.one_line()}); serving the cached credential, "
        f"{_time_left(cached.credential, now)}"
    )
    return cached.credential


def _respect_backoff(store: CacheStore, key: str, ctx: FetchContext) -> None:
    """Refuse to start another login in the background right after one was abandoned."""
    if ctx.interactive:
        return  # a person is at the terminal: they may retry at once
    pending = store.backoff(key, time.time())
    if pending is not None:
        until, reason = pending
        raise InteractionRequired(
            f"a login for this credential was abandoned ({reason}); not starting another "
            f"in the background for {until - time.time():.0f}s",
            hint=f"run `{ctx.prompter.terminal_command}` in a terminal",
        )


def _remember_abandoned_login(store: CacheStore, key: str, exc: LoginAbandoned) -> None:
    try:
        store.set_backoff(key, time.time() + LOGIN_BACKOFF_SECONDS, exc.message)
    except CacheUnavailable:
        pass  # without a cache there is nothing to remember it in


def _fetch(call: Invocation, ctx: FetchContext) -> Credential:
    """The provider's fetch() under a hard deadline, with SIGTERM turned into a clean unwind."""
    # service-account always fetches: its every call is a hot path (see hotpath).
    signal = hotpath.signals()

    fetcher = call.fetcher()
    started = time.monotonic()
    deadline = call.deadline_seconds()

    def login_started() -> None:
        left = deadline - (time.monotonic() - started)
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left)

    ctx.on_login = login_started

    def on_alarm(signum: int, frame: object) -> None:
        raise _Deadline

    def on_term(signum: int, frame: object) -> None:
        raise _Terminated

    previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
    previous_term = signal.signal(signal.SIGTERM, on_term)
    # Until a person's login starts, the bound of a fetch that needs nobody.
    signal.setitimer(signal.ITIMER_REAL, min(deadline, call.fetch_seconds()))
    try:
        credential = fetcher.fetch(ctx)
    except _Deadline:
        raise Timeout(
            f"{fetcher.name}: no credential after {time.monotonic() - started:.0f}s",
            hint="check the network path to the identity provider, or raise --timeout",
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        ctx.on_login = None
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous_term)
    credential = credential.with_issued(time.time())
    for value in (credential.expires_at, credential.issued_at):
        # NaN fails the comparison; a provider checks what it is given, this is the net.
        if value is not None and not (0 <= value <= execinfo.LATEST):
            raise UpstreamError(f"{fetcher.name}: the credential's times are not usable")
    if credential.identity:
        log.info(f"credential for {credential.identity} ({_time_left(credential, time.time())})")
    return credential


def _time_left(credential: Credential, now: float) -> str:
    left = credential.seconds_left(now)
    if left is None:
        return "no expiry"
    return f"expires in {left / 60:.1f} min" if left >= 0 else "expired"


def _fail(exc: CredpluginError, cause: BaseException | None = None) -> int:
    log.error(exc.one_line())
    if log.verbosity() >= 1:
        import traceback

        traceback.print_exception(cause or exc, file=sys.stderr)
    return exc.exit_code


class _StdoutGuard:
    """Keep file descriptor 1 for the ExecCredential alone.

    While a provider runs, fd 1 points at stderr, so a library's print(), a browser launcher
    or a child process cannot corrupt the document kubectl parses. The real stdout is written
    once, at the end, with the whole document.
    """

    def __init__(self) -> None:
        sys.stdout.flush()
        try:
            self.saved: int | None = os.dup(1)
            os.dup2(2, 1)
        except OSError:
            self.saved = None

    def write(self, document: str) -> None:
        data = document.encode()
        fd = 1 if self.saved is None else self.saved
        while data:
            data = data[os.write(fd, data) :]

    def restore(self) -> None:
        if self.saved is not None:
            sys.stdout.flush()
            os.dup2(self.saved, 1)
            os.close(self.saved)
            self.saved = None
