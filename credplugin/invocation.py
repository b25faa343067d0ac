"""What one call of a provider means, resolved once.

An Invocation holds the provider's declaration, the option values with where each came
from, the cluster server, and what follows from them: the cache key, the cache store, the
summary a person sees in `cache list`, and the command that repeats the call in a terminal.
The runner builds one per call; doctor and the benchmark build the same one to find the
entry kubectl would use.
"""

from __future__ import annotations

import os

from credplugin import log
from credplugin.cache import CacheStore, default_dir, make_key
from credplugin.errors import UsageError
from credplugin.options import ALLOWED, COMMON_OPTIONS, resolve

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from credplugin.options import Option, Refused
    from credplugin.providers.base import Declaration, Fetcher

# Bump to orphan every cache entry when the key's make-up changes.
KEY_VERSION = 1
# No number of seconds we take may exceed a day.
MAX_SECONDS = 86400.0


class Invocation:
    __slots__ = ("_key", "environ", "provider", "refused", "server", "sources", "values")

    def __init__(
        self,
        provider: Declaration,
        command_line: Mapping[str, Any],
        cluster_config: Mapping[str, Any],
        request_server: str | None,
        environ: Mapping[str, str],
        warn: Callable[[str], None] = log.warn,
    ) -> None:
        options = provider.options + COMMON_OPTIONS
        values, sources, refused = resolve(options, command_line, cluster_config, environ)
        self.provider = provider
        self.values = values
        self.sources = sources
        self.environ = environ
        self.server: str | None = request_server or values.get("server")
        self._key: str | None = None
        # The cluster config keys that were ignored: a cluster entry may not set them.
        self.refused = refused
        cluster = self.server or "(no server)"
        for item in refused:
            warn(
                f"ignored {item.option.name!r} in the exec extension of cluster {cluster}: "
                f"a cluster entry may not set {item.option.flag} ({item.why})"
            )
        _check_bounds(options, values)
        _check_required(provider, values, refused)
        _warn_unknown_config(options, cluster_config)

    @property
    def cached(self) -> bool:
        """Whether this call reads and writes the cache."""
        return self.provider.cacheable and not self.values["no_cache"]

    @property
    def key(self) -> str:
        """Everything that decides which credential is issued, hashed."""
        if self._key is None:
            provider = self.provider
            self._key = make_key(
                {
                    "v": KEY_VERSION,
                    "provider": provider.name,
                    "server": self.server if provider.server_in_key else None,
                    "options": {
                        o.name: self.values[o.dest] for o in provider.options if o.identity
                    },
                    "env": {n: self.environ[n] for n in provider.identity_env if n in self.environ},
                    "files": self._identity_file_stamps(),
                }
            )
        return self._key

    def store(self) -> CacheStore:
        return CacheStore(self.values["cache_dir"] or default_dir(self.environ))

    def fetch_seconds(self) -> float:
        return self.provider.fetch_seconds(self.values, float(self.values["timeout"]))

    def deadline_seconds(self) -> float:
        return self.provider.deadline_seconds(self.values, float(self.values["timeout"]))

    def lock_wait_seconds(self) -> float:
        return self.provider.lock_wait_seconds(self.values, float(self.values["timeout"]))

    def fetcher(self) -> Fetcher:
        return self.provider.fetcher(self.values)

    def summary(self) -> dict[str, Any]:
        """What the entry is for, as `cache list` shows it: the identity options given, never
        a secret, and the server when it is part of the key."""
        summary = {
            o.name: self.values[o.dest]
            for o in self.provider.options
            if o.identity
            and not o.secret
            and self.sources[o.dest] != "default"  # what was given, not what was assumed
            and self.values[o.dest] not in (None, [], False)
        }
        if self.server and self.provider.server_in_key:
            summary["server"] = self.server
        return summary

    def terminal_command(self) -> str:
        """The command a person runs in a terminal to do the same fetch into the same cache key.

        Options that came from the cluster config are spelled out (a terminal has no
        KUBERNETES_EXEC_INFO), and so are the server when it is part of the key and the
        identity variables the call had (kubeconfig `env:` entries among them). Secret values
        are left as placeholders for the person to fill in: they are part of the key too."""
        import shlex  # a failure's hint only

        environ = self.environ
        prefix = [
            f"{name}={_placeholder(name) if _is_secret_name(name) else shlex.quote(environ[name])}"
            for name in self.provider.identity_env
            if environ.get(name)
        ]
        words = ["credplugin", self.provider.name]
        for opt in self.provider.options:
            if opt.secret and opt.envvar and environ.get(opt.envvar):
                prefix.append(f"{opt.envvar}={_placeholder(opt.envvar)}")
                continue
            if self.sources.get(opt.dest) not in ("command line", "cluster config"):
                continue
            value = self.values[opt.dest]
            for item in value if opt.multiple else [value]:
                if opt.type == "flag":
                    if item:
                        words.append(opt.flag)
                elif opt.secret:
                    words += [opt.flag, _placeholder(opt.name)]
                else:
                    words += [opt.flag, str(item)]
        if self.server and self.provider.server_in_key:
            words += ["--server", self.server]
        if self.values.get("cache_dir"):
            words += ["--cache-dir", str(self.values["cache_dir"])]
        if self.sources.get("token_store") not in (None, "default"):
            # From the kubeconfig's env too: a terminal run must keep secrets where it does.
            words += ["--token-store", str(self.values["token_store"])]
        return " ".join([*prefix, shlex.join(words)])

    def problems(self) -> list[str]:
        """What would stop a fetch on this machine, found without fetching anything (doctor,
        kubeconfig writers): a file an option names that is not readable, a program not on
        PATH, a variable not set, and whatever the provider's own checks find."""
        import shlex  # tools only: never on the exec path
        import shutil

        found = []
        for opt in self.provider.options:
            value = self.values.get(opt.dest)
            if not opt.names or not value:
                continue
            if opt.names == "file" and not os.access(os.path.expanduser(str(value)), os.R_OK):
                found.append(f"{opt.flag} {value}: no readable file there")
            elif opt.names == "program":
                words = shlex.split(str(value))
                if not words or shutil.which(words[0]) is None:
                    found.append(f"{opt.flag} {value!r}: the program is not on PATH")
            elif opt.names == "variable" and not self.environ.get(str(value)):
                found.append(f"{opt.flag} {value}: ${value} is not set")
        return found + self.provider.problems(self.values, self.environ)

    def _identity_file_stamps(self) -> list[Any]:
        """(path, mtime, size) of files that say who we are (an AWS credentials file), so that
        editing them, or logging in as someone else, never serves the previous identity's
        token."""
        lister = self.provider.identity_files
        if lister is None:
            return []
        stamps: list[Any] = []
        for path in lister(self.values, self.environ):
            try:
                st = os.stat(path)
                stamps.append([path, st.st_mtime_ns, st.st_size])
            except OSError:
                stamps.append([path, None, None])
        return stamps


def _is_secret_name(name: str) -> bool:
    return any(word in name.upper() for word in ("SECRET", "TOKEN", "PASSWORD"))


def _placeholder(name: str) -> str:
    return f"<{name.lower().replace('_', '-')}>"


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


def _check_required(
    provider: Declaration, values: Mapping[str, Any], refused: list[Refused]
) -> None:
    """A usage error naming the first required option without a value, and where it could
    come from; when the cluster entry set it but may not, that too."""
    for opt in provider.options:
        if not opt.required or values[opt.dest] not in (None, "", []):
            continue
        ways = [f"pass {opt.flag} {opt.metavar or 'VALUE'} in the exec args"]
        if opt.envvar:
            ways.append(f"set ${opt.envvar}")
        if opt.cluster == ALLOWED:
            ways.append(f"put {opt.name} in the cluster's exec extension")
        if any(item.option is opt for item in refused):
            ways.append(
                f"to take it from the cluster's exec extension, add --allow-cluster-option "
                f"{opt.name} to the exec args"
            )
        raise UsageError(f"{provider.name} needs {opt.flag}", hint=", or ".join(ways))


def _warn_unknown_config(options: tuple[Option, ...], config: Mapping[str, Any]) -> None:
    known = {o.name for o in options}
    unknown = sorted(k for k in config if k not in known)
    if unknown:
        log.debug("cluster config keys that are not options here: " + ", ".join(unknown))
