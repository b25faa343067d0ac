"""One path for every provider: exec request -> options -> cache -> provider -> stdout.

    run()      resolve options, answer from the cache when the entry is fresh
    _refresh() under the per-key lock: re-check, fetch, write, or serve a still-valid token
    _emit()    the one ExecCredential document on stdout

Only a cache miss imports anything heavy, and only inside the provider's fetch().
"""

from __future__ import annotations

import os
import sys
import time

from credplugin import execinfo, log
from credplugin.cache import CacheStore, CacheUnavailable, Entry, default_dir, make_key
from credplugin.errors import (
    CredpluginError,
    InteractionRequired,
    Interrupted,
    LockTimeout,
    LoginAbandoned,
    Timeout,
    UsageError,
)
from credplugin.options import COMMON_OPTIONS, resolve
from credplugin.prompt import Prompter
from credplugin.providers.base import FetchContext

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from credplugin.credential import Credential
    from credplugin.options import Option
    from credplugin.providers.base import Provider, ProviderModule
    from credplugin.registry import ProviderEntry

KEY_VERSION = 1
# After an abandoned login, background calls for the same key fail fast for this long.
LOGIN_BACKOFF_SECONDS = 60.0
# Say "waiting for another process" only once a wait is long enough for a person to wonder.
WAIT_NOTICE_SECONDS = 1.0


class _Deadline(BaseException):
    """Raised by the watchdog. A BaseException, so no SDK's `except Exception` swallows it."""


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that `finally` blocks release locks and files."""


def main(entry: ProviderEntry, command_line: dict[str, Any], environ: Mapping[str, str]) -> int:
    """Run one provider subcommand; the process exit code. Never raises, never a traceback
    unless -v, and stdout holds exactly one ExecCredential or nothing at all."""
    log.set_verbosity(int(command_line.get("verbose") or 0))
    out = _StdoutGuard()
    try:
        credential, api_version = run(entry, command_line, environ)
        document = execinfo.render(api_version, credential)
        out.write(document)
        return 0
    except CredpluginError as exc:
        return _fail(exc)
    except (KeyboardInterrupt, _Terminated):
        return _fail(Interrupted("interrupted; nothing was cached and no lock is held"))
    except _Deadline:
        return _fail(Timeout("gave up: the credential fetch ran past its time limit"))
    except Exception as exc:
        return _fail(CredpluginError(f"internal error: {type(exc).__name__}: {exc}"), exc)
    finally:
        out.restore()


def run(
    entry: ProviderEntry, command_line: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Credential, str]:
    request = execinfo.parse_request(
        environ.get(execinfo.ENV), command_line.get("api_version"), _stdin_is_tty()
    )
    for warning in request.warnings:
        log.warn(warning)
    module, values, sources, server = invocation(
        entry, command_line, request.cluster_config, request.server, environ
    )
    log.set_verbosity(int(values["verbose"] or 0))
    provider = module.PROVIDER(values)
    ctx = FetchContext(
        interactive=request.interactive,
        timeout=float(values["timeout"]),
        server=server,
        force_refresh=bool(values["force_refresh"]),
        prompter=Prompter(
            request.interactive,
            lambda: terminal_command(entry, module, values, sources, server, environ),
        ),
    )
    provider.preflight(ctx)
    if not provider.cacheable or values["no_cache"]:
        return _fetch(provider, ctx), request.api_version

    store = cache_store(values, environ)
    key = cache_key(entry, module, values, server, environ)
    margin = float(values["refresh_margin"])
    now = time.time()
    if not ctx.force_refresh:
        cached, why = store.read(key)
        if cached is not None and cached.credential.is_fresh(now, margin):
            log.info(f"cache hit {key[:12]} ({_time_left(cached.credential, now)})")
            return cached.credential, request.api_version
        log.info(f"cache miss {key[:12]}: {why if cached is None else 'near expiry'}")
    summary = {
        o.name: values[o.dest]
        for o in module.OPTIONS
        if o.identity and not o.secret and values[o.dest] not in (None, [], False)
    }
    if server and module.PROVIDER.server_in_key:
        summary["server"] = server
    return _refresh(entry, provider, ctx, store, key, margin, summary), request.api_version


def invocation(
    entry: ProviderEntry,
    command_line: Mapping[str, Any],
    cluster_config: Mapping[str, Any],
    request_server: str | None,
    environ: Mapping[str, str],
) -> tuple[ProviderModule, dict[str, Any], dict[str, str], str | None]:
    """What one call of `entry` means: its module, the resolved and checked option values,
    where each came from, and the cluster server. Shared by the exec path and by the tools
    that must find the same cache entry (doctor)."""
    module = entry.load()
    options: tuple[Option, ...] = module.OPTIONS + COMMON_OPTIONS
    values, sources = resolve(options, command_line, cluster_config, environ)
    _check_bounds(options, values)
    _warn_unknown_config(options, cluster_config)
    return module, values, sources, request_server or values.get("server")


def cache_store(values: Mapping[str, Any], environ: Mapping[str, str]) -> CacheStore:
    return CacheStore(values["cache_dir"] or default_dir(environ))


def cache_key(
    entry: ProviderEntry,
    module: ProviderModule,
    values: Mapping[str, Any],
    server: str | None,
    environ: Mapping[str, str],
) -> str:
    """Everything that decides which credential is issued, hashed."""
    return make_key(
        {
            "v": KEY_VERSION,
            "provider": entry.name,
            "server": server if module.PROVIDER.server_in_key else None,
            "options": {o.name: values[o.dest] for o in module.OPTIONS if o.identity},
            "env": {name: environ[name] for name in entry.identity_env if name in environ},
            "files": _identity_files(module, values, environ),
        }
    )


def _refresh(
    entry: ProviderEntry,
    provider: Provider,
    ctx: FetchContext,
    store: CacheStore,
    key: str,
    margin: float,
    summary: dict[str, Any],
) -> Credential:
    started = time.time()

    def waiting(holder: str) -> None:
        log.notice(f"waiting for another credplugin process ({holder}) fetching this credential")

    try:
        lock = store.lock(
            key, provider.lock_wait_seconds(ctx.timeout), waiting, WAIT_NOTICE_SECONDS
        )
        with lock:
            cached, _ = store.read(key)
            now = time.time()
            if cached is not None:
                fresh = cached.credential.is_fresh(now, margin)
                # With --force-refresh, a credential written while we waited is the refresh.
                if fresh and (not ctx.force_refresh or cached.created_at >= started):
                    log.info(f"fetched by another process while we waited {lock.waited:.1f}s")
                    return cached.credential
            ctx.previous = cached.credential if cached is not None else None
            try:
                _respect_backoff(store, key, ctx)
                credential = _fetch(provider, ctx)
            except CredpluginError as exc:
                if isinstance(exc, LoginAbandoned):
                    _remember_abandoned_login(store, key, exc)
                if ctx.force_refresh:
                    raise
                return _serve_while_valid(cached, exc)
            try:
                store.write(Entry(key, entry.name, credential, time.time(), summary))
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
        return _fetch(provider, ctx)


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


def _fetch(provider: Provider, ctx: FetchContext) -> Credential:
    """provider.fetch() under a hard deadline, with SIGTERM turned into a clean unwind."""
    # The C module that `signal` wraps: `signal` itself imports enum (~3 ms), and the
    # service-account provider, which always fetches, is a hot path.
    signal = sys.modules.get("_signal") or __import__("signal")

    deadline = provider.deadline_seconds(ctx.timeout)

    def on_alarm(signum: int, frame: object) -> None:
        raise _Deadline

    def on_term(signum: int, frame: object) -> None:
        raise _Terminated

    previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
    previous_term = signal.signal(signal.SIGTERM, on_term)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        credential = provider.fetch(ctx)
    except _Deadline:
        raise Timeout(
            f"{provider.NAME}: no credential after {deadline:.0f}s",
            hint="check the network path to the identity provider, or raise --timeout",
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous_term)
    credential = credential.with_issued(time.time())
    if credential.identity:
        log.info(f"credential for {credential.identity} ({_time_left(credential, time.time())})")
    return credential


def terminal_command(
    entry: ProviderEntry,
    module: ProviderModule,
    values: Mapping[str, Any],
    sources: Mapping[str, str],
    server: str | None,
    environ: Mapping[str, str],
) -> str:
    """The command a person runs in a terminal to do the same fetch into the same cache key.

    Options that came from the cluster config are spelled out (a terminal has no
    KUBERNETES_EXEC_INFO), and so are the server when it is part of the key and the identity
    variables the call had (kubeconfig `env:` entries among them). Secret values are left
    as placeholders for the person to fill in: they are part of the key too."""
    import shlex

    prefix = [
        f"{name}={_placeholder(name) if _is_secret_name(name) else shlex.quote(environ[name])}"
        for name in entry.identity_env
        if environ.get(name)
    ]
    words = ["credplugin", entry.name]
    for opt in module.OPTIONS:
        if opt.secret and opt.envvar and environ.get(opt.envvar):
            prefix.append(f"{opt.envvar}={_placeholder(opt.envvar)}")
            continue
        if sources.get(opt.dest) not in ("command line", "cluster config"):
            continue
        value = values[opt.dest]
        for item in value if opt.multiple else [value]:
            if opt.type == "flag":
                if item:
                    words.append(opt.flag)
            elif opt.secret:
                words += [opt.flag, _placeholder(opt.name)]
            else:
                words += [opt.flag, str(item)]
    if server and module.PROVIDER.server_in_key:
        words += ["--server", server]
    if values.get("cache_dir"):
        words += ["--cache-dir", str(values["cache_dir"])]
    return " ".join([*prefix, shlex.join(words)])


def _is_secret_name(name: str) -> bool:
    return any(word in name.upper() for word in ("SECRET", "TOKEN", "PASSWORD"))


def _placeholder(name: str) -> str:
    return f"<{name.lower().replace('_', '-')}>"


def _identity_files(
    module: ProviderModule, values: Mapping[str, Any], environ: Mapping[str, str]
) -> list[Any]:
    """(path, mtime, size) of files that say who we are (an AWS credentials file), so that
    editing them, or logging in as someone else, never serves the previous identity's token."""
    lister = getattr(module, "identity_files", None)
    if lister is None:
        return []
    stamps: list[Any] = []
    for path in lister(values, environ):
        try:
            st = os.stat(path)
            stamps.append([path, st.st_mtime_ns, st.st_size])
        except OSError:
            stamps.append([path, None, None])
    return stamps


MAX_SECONDS = 86400.0


def _check_bounds(options: tuple[Option, ...], values: Mapping[str, Any]) -> None:
    """Every number of seconds is finite, not negative, and at most a day (click accepts
    'inf' and 'nan'; timers and sleeps do not). --timeout must also be above zero."""
    for opt in options:
        value = values.get(opt.dest)
        if opt.type != "float" or value is None:
            continue
        low_ok = value > 0 if opt.name == "timeout" else value >= 0
        # `x == x` is False for NaN; the upper bound also rejects infinity.
        if not (value == value and low_ok and value <= MAX_SECONDS):
            raise UsageError(
                f"--{opt.name} must be between 0 and {MAX_SECONDS:.0f} seconds, not {value}"
            )


def _warn_unknown_config(options: tuple[Option, ...], config: Mapping[str, Any]) -> None:
    known = {o.name for o in options}
    unknown = sorted(k for k in config if k not in known)
    if unknown:
        log.debug("cluster config keys that are not options here: " + ", ".join(unknown))


def _time_left(credential: Credential, now: float) -> str:
    left = credential.seconds_left(now)
    if left is None:
        return "no expiry"
    return f"expires in {left / 60:.1f} min" if left >= 0 else "expired"


def _stdin_is_tty() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


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
