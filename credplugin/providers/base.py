"""What a provider is, in two parts that load at different times.

    Declaration   read on every call: names, options, what makes the cache key
                  (identity variables and files), cache behaviour, how long a login may
                  take, an optional preflight
    Fetcher       read on a cache miss only: the `fetch` module of the provider's package,
                  which imports its SDKs at the top like ordinary Python
    checks        optional, read by doctor only: what would stop a fetch on this machine

A provider is a package `credplugin.providers.<name>`: its `__init__` holds `PROVIDER`, the
Declaration; its `fetch` module holds `Fetcher`. Neither prints, touches the cache or parses
KUBERNETES_EXEC_INFO.
"""

from __future__ import annotations

import sys
import time

from credplugin.errors import LoginDeferred

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from credplugin.credential import Credential
    from credplugin.options import Option
    from credplugin.prompt import Prompter

    IdentityFiles = Callable[[Mapping[str, Any], Mapping[str, str]], Sequence[str]]
    LoginSeconds = Callable[[Mapping[str, Any]], float]
    Preflight = Callable[[Mapping[str, Any], "FetchContext"], None]


class Declaration:
    """One provider, declared once: everything about it that a cache hit needs."""

    __slots__ = (
        "backstage",
        "cacheable",
        "examples",
        "identity_env",
        "identity_files",
        "login_seconds",
        "name",
        "options",
        "package",
        "preflight",
        "server_in_key",
        "side",
        "summary",
    )

    def __init__(
        self,
        package: str,
        *,
        name: str,
        summary: str,
        side: str,
        options: tuple[Option, ...],
        backstage: str | None = None,
        identity_env: tuple[str, ...] = (),
        identity_files: IdentityFiles | None = None,
        cacheable: bool = True,
        server_in_key: bool | None = None,
        login_seconds: LoginSeconds | None = None,
        preflight: Preflight | None = None,
        examples: tuple[str, ...] = (),
    ) -> None:
        self.package = package  # its `fetch` module is loaded on a miss
        self.name = name  # the subcommand
        self.backstage = backstage or name  # the Backstage authProvider name
        self.summary = summary
        # "server": the machine's own identity; "client": a person's login.
        self.side = side
        self.options = options
        # Environment variables that change *who* the provider authenticates as (a profile,
        # a key file, a tenant): their values are part of the cache key, so switching
        # accounts in a shell never serves the previous account's token.
        self.identity_env = identity_env
        # Files whose change may mean another identity (an AWS credentials file): their
        # stat is part of the cache key.
        self.identity_files = identity_files
        # False: never served from the cache (a token file is re-read on every call).
        self.cacheable = cacheable
        # Whether the cluster's server URL is part of the cache key. A person's login (oidc,
        # aks, google) yields the same token for every cluster that trusts the issuer: keyed
        # by server, ten clusters would mean ten logins.
        self.server_in_key = side == "server" if server_in_key is None else server_in_key
        # How long a person may take to finish a login a fetch with these option values
        # may start (None: no login). It bounds the fetch, and how long others wait for it.
        self.login_seconds = login_seconds
        # A quick check that runs on every call, even when the cache answers.
        self.preflight = preflight
        # Command lines a person could copy (--help shows them; the contract parses them).
        self.examples = examples

    def __repr__(self) -> str:
        return f"Declaration({self.name!r})"

    def option(self, name: str) -> Option:
        """The option whose long name is `name`; KeyError names what is missing, so that
        code that writes options by name (the Backstage mapping) breaks loudly on a rename."""
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(f"provider {self.name} has no option --{name}")

    def fetch_seconds(self, values: Mapping[str, Any], timeout: float) -> float:
        """A hard bound on a fetch that needs no person (a refresh, a token request, STS),
        whatever retries the SDKs do underneath: a few network calls, each bounded by
        `timeout`. A login that starts extends it to deadline_seconds."""
        return 3 * timeout + 5

    def deadline_seconds(self, values: Mapping[str, Any], timeout: float) -> float:
        """The most one fetch may take: a person's login included."""
        login = self.login_seconds(values) if self.login_seconds is not None else 0.0
        return login + self.fetch_seconds(values, timeout)

    def lock_wait_seconds(self, values: Mapping[str, Any], timeout: float) -> float:
        """How long another process waits for this provider's fetch: longer than the
        holder may take, so that a waiter never gives up on a fetch that is still allowed
        to finish. Known before the fetch code loads: a waiter that finds the credential
        fetched never pays for an SDK import. The holder may also wait on the keyring,
        outside the fetch: one bound of min(timeout, 10) s per refresh (tokenstore)."""
        keyring = 0.0 if values.get("token_store") == "file" else min(timeout, 10.0)
        return self.deadline_seconds(values, timeout) + 5 + keyring

    def problems(self, values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
        """What would stop a fetch with these values on this machine, found without fetching
        (for doctor): the provider's optional `checks` module says."""
        module_name = self.package + ".checks"
        try:
            __import__(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return []
            raise
        found: list[str] = sys.modules[module_name].problems(values, environ)
        return found

    def fetcher(self, options: Mapping[str, Any]) -> Fetcher:
        """The provider's fetch code, with the resolved option values: a miss only."""
        module_name = self.package + ".fetch"
        # __import__ rather than importlib.import_module: importlib is not loaded at startup.
        __import__(module_name)
        fetcher: Fetcher = sys.modules[module_name].Fetcher(self, options)
        return fetcher


class Fetcher:
    """Obtains one credential; subclasses implement fetch(). Options arrive resolved and
    typed, by dest (`cluster_id`)."""

    def __init__(self, declaration: Declaration, options: Mapping[str, Any]) -> None:
        self.declaration = declaration
        self.options = options

    @property
    def name(self) -> str:
        return self.declaration.name

    def fetch(self, ctx: FetchContext) -> Credential:
        raise NotImplementedError


class FetchContext:
    """Everything a provider may know about the call, and nothing about where it goes."""

    __slots__ = (
        "force_refresh",
        "interactive",
        "on_login",
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
        # Called when a login that needs a person starts: the runner then gives the fetch
        # the time a person may take.
        self.on_login: Callable[[], None] | None = None

    def now(self) -> float:
        return time.time()

    def before_login(self, why: str) -> None:
        """Call before starting a login that needs a person: it extends the fetch's time
        bound by the login's. Raises LoginDeferred instead while the cached credential is
        still valid and nobody is at the terminal.

        A background caller (a watch, Lens, k9s) would otherwise hold the per-key lock for
        minutes, blocking every other kubectl, while a good token sits in the cache. The
        runner serves that token instead; the login happens at a terminal, with
        --force-refresh, or once the token has expired."""
        deferred = not (self.interactive or self.force_refresh or self.previous is None)
        if deferred and self.previous is not None and not self.previous.is_expired(self.now()):
            raise LoginDeferred(
                f"{why}; a new login is due but not started in the background",
                hint=f"run `{self.prompter.terminal_command} --force-refresh` in a terminal",
            )
        if self.on_login is not None:
            self.on_login()
