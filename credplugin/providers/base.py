"""What a provider is: its options, the parts of them that make its identity, and fetch()."""

from __future__ import annotations

import time

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
        "clock",
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
        clock: Any = time.time,
    ) -> None:
        self.interactive = interactive
        self.timeout = timeout  # seconds, for every network call
        self.server = server
        self.prompter = prompter
        # The last cached credential for this key (maybe expired): its refresh material.
        self.previous = previous
        self.force_refresh = force_refresh
        self.clock = clock

    def now(self) -> float:
        return float(self.clock())


class Provider:
    """Subclasses set NAME and implement fetch(); options arrive resolved and typed."""

    NAME = ""
    # False: never served from the cache (a token file is re-read on every call).
    cacheable = True

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def preflight(self, ctx: FetchContext) -> None:
        """A quick check that runs on every call, even when the cache answers."""

    def fetch(self, ctx: FetchContext) -> Credential:
        raise NotImplementedError

    def lock_wait_seconds(self, timeout: float) -> float:
        """How long another process may wait for this provider's fetch before giving up."""
        return 2 * timeout + 5

    def deadline_seconds(self, timeout: float) -> float:
        """A hard bound on one fetch, whatever retries the SDKs do underneath."""
        return 3 * timeout + 5
