"""What a provider is: its options, the parts of them that make its identity, and fetch()."""

from __future__ import annotations

import time

from credplugin.errors import LoginDeferred

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from typing import Any, Protocol

    from credplugin.credential import Credential
    from credplugin.options import Option
    from credplugin.prompt import Prompter

    class ProviderModule(Protocol):
        OPTIONS: tuple[Option, ...]
        PROVIDER: type[Provider]


class FetchContext:
    """Everything a provider may know about the call, and nothing about where it goes."""

    __slots__ = (
        "force_refresh",
        "interactive",
        "previous",
        "prompter",
        "server",
        "timeout",
    )

    def __init__(
        self,
        *,
        interactive: bool,
        timeout: float,
        server: str | None,
        prompter: Prompter,
        previous: Credential | None = None,
        force_refresh: bool = False,
    ) -> None:
        self.interactive = interactive
        self.timeout = timeout  # seconds, for every network call
        self.server = server
        self.prompter = prompter
        # The last cached credential for this key (maybe expired): its refresh material.
        self.previous = previous
        self.force_refresh = force_refresh

    def now(self) -> float:
        return time.time()

    def before_login(self, why: str) -> None:
        """Call before starting a login that needs a person; raises LoginDeferred while the
        cached credential is still valid and nobody is at the terminal.

        A background caller (a watch, Lens, k9s) would otherwise hold the per-key lock for
        minutes, blocking every other kubectl, while a good token sits in the cache. The
        runner serves that token instead; the login happens at a terminal, with
        --force-refresh, or once the token has expired."""
        if self.interactive or self.force_refresh or self.previous is None:
            return
        if self.previous.is_expired(self.now()):
            return
        raise LoginDeferred(
            f"{why}; a new login is due but not started in the background",
            hint=f"run `{self.prompter.terminal_command} --force-refresh` in a terminal",
        )


class Provider:
    """Subclasses set NAME and implement fetch(); options arrive resolved and typed."""

    NAME = ""
    # False: never served from the cache (a token file is re-read on every call).
    cacheable = True
    # Whether the cluster's server URL is part of the cache key. A person's login (oidc,
    # aks, google) yields the same token for every cluster that trusts the issuer: keyed
    # by server, ten clusters would mean ten logins.
    server_in_key = True

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def preflight(self, ctx: FetchContext) -> None:
        """A quick check that runs on every call, even when the cache answers."""

    def fetch(self, ctx: FetchContext) -> Credential:
        raise NotImplementedError

    def login_seconds(self) -> float:
        """How long a person may take to finish a login this fetch may start (0: none)."""
        return 0.0

    def deadline_seconds(self, timeout: float) -> float:
        """A hard bound on one fetch, whatever retries the SDKs do underneath: a few
        network calls, each bounded by `timeout`, plus any login."""
        return self.login_seconds() + 3 * timeout + 5

    def lock_wait_seconds(self, timeout: float) -> float:
        """How long another process waits for this provider's fetch: longer than the
        holder may take, so that a waiter never gives up on a fetch that is still allowed
        to finish."""
        return self.deadline_seconds(timeout) + 5
