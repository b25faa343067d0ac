"""The few ways credplugin fails, each with an exit code and a message a person can act on.

A message says what failed and why; `hint` says what to do. Neither ever holds a secret.
"""

from __future__ import annotations


class CredpluginError(Exception):
    """Base class: printed as one line on stderr, traceback only with -v."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        if self.hint:
            text += f"; {self.hint}"
        return " ".join(text.split())


class UsageError(CredpluginError):
    """Bad arguments, bad cluster config, bad option values."""

    exit_code = 2


class InteractionRequired(CredpluginError):
    """A person is needed (a prompt or a login) but kubectl said nobody can answer."""

    exit_code = 3


class LoginAbandoned(InteractionRequired):
    """A login that needed a person timed out or was never finished.

    The runner remembers it for a while: background callers (Lens, k9s, a watch) would
    otherwise start a new login, and open a new browser tab, on every call."""


class UpstreamError(CredpluginError):
    """The identity provider, token file or proxy failed or refused."""

    exit_code = 4


class Timeout(UpstreamError):
    """A network call or a wait ran past its bound."""

    exit_code = 5


class Interrupted(CredpluginError):
    """SIGINT or SIGTERM: we stop cleanly, releasing the lock and leaving no partial file."""

    exit_code = 130


class LockTimeout(Timeout):
    """Another process held this credential's lock for longer than we may wait."""


class LoginDeferred(UpstreamError):
    """A login is due, but the cached credential is still valid and nobody is at the
    terminal: the runner serves the cached one rather than block everyone on a login."""


def os_reason(exc: BaseException) -> str:
    """Why an OS call failed, as the words after "cannot read PATH: " (`permission denied`);
    any other exception as its message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


# What a failed connection says deep in its exception chain, in a person's words.
_NETWORK_REASONS = (
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
    ("Connection refused", "connection refused"),
    ("Name or service not known", "the host name does not resolve"),
    ("nodename nor servname", "the host name does not resolve"),
    ("Temporary failure in name resolution", "the host name does not resolve"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    ("RemoteDisconnected", "the connection was closed without an answer"),
    ("Connection reset", "the connection was reset"),
)


def proxy_settings(url: str) -> str:
    """The proxy settings a request to `url` goes out with, as a person would check them."""
    import os
    import urllib.request  # an error path: never on a cache hit

    scheme = url.partition("://")[0].lower() or "https"
    proxies = urllib.request.getproxies()
    host = url.partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1].split(":")[0]
    if host and urllib.request.proxy_bypass(host):
        return "no proxy for it (NO_PROXY)"
    chosen = proxies.get(scheme)
    if chosen:
        name = f"{scheme.upper()}_PROXY"
        where = name if os.environ.get(name) or os.environ.get(name.lower()) else "the system"
        return f"through the proxy {_without_password(chosen)} ({where})"
    return "no proxy set (HTTPS_PROXY, HTTP_PROXY)"


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{auth.split(':')[0]}:***@{host}" if at else url


def network_reason(exc: BaseException) -> str | None:
    """'connection refused', 'the host name does not resolve'...: found in the exception's
    chain (requests and urllib3 wrap the socket error several times), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    texts = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__} {current}")
        current = current.__cause__ or current.__context__
    text = " ".join(texts)
    for marker, reason in _NETWORK_REASONS:
        if marker in text:
            return reason
    return None
