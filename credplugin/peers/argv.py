"""Peer command lines, read the way the peer's own parser reads them.

The Go peers parse with pflag (through cobra), the AWS CLI with argparse, and the details
change what an entry means: pflag takes `--flag=true` on a boolean and splits a StringSlice on
commas (`--oidc-extra-scope=email,groups` is two scopes); argparse takes no value on a
boolean. A flag this module does not know makes the entry unconvertible rather than guessed.

A peer declares its flags as a table of `Flag`; `parse` returns `Args`. Flags a conversion
does not need to look at carry their fate in the table: `refuse` (the entry cannot be
converted while it is given: the reason) or `ignore` (dropped, with the reason reported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from credplugin import peerargs
from credplugin.errors import UsageError
from credplugin.peerargs import GO_FALSE, GO_TRUE
from credplugin.peers.model import Unconvertible


@dataclass(frozen=True)
class Flag:
    """One flag of a peer. `name` is its long name without dashes."""

    name: str
    value: bool = True  # False: a boolean
    short: str | None = None  # one letter, pflag style (`-i NAME`, `-iNAME`)
    aliases: tuple[str, ...] = ()  # other long names (deprecated or abbreviated spellings)
    comma_list: bool = False  # pflag StringSlice: each value is a CSV list
    refuse: str | None = None
    ignore: str | None = None


# klog, the Go logging flags of gke-gcloud-auth-plugin and int128 kubelogin: -v is read as our
# verbosity (Conversion.verbosity_of_klog); the rest only change where Go logs went.
_KLOG = "a logging option"
KLOG_FLAGS: tuple[Flag, ...] = (
    Flag("v", short="v"),
    *(
        Flag(name, value=False, ignore=_KLOG)
        for name in (
            "logtostderr",
            "alsologtostderr",
            "skip_headers",
            "skip_log_headers",
            "one_output",
            "add_dir_header",
        )
    ),
    *(
        Flag(name, ignore=_KLOG)
        for name in (
            "log_dir",
            "log_file",
            "log_file_max_size",
            "stderrthreshold",
            "vmodule",
            "log_backtrace_at",
        )
    ),
)

Record = Callable[[Flag, str], None]


class Args:
    """A parsed command line: the positional words, and each flag's values in order."""

    def __init__(self, positionals: list[str], values: dict[str, list[str]], flags: list[Flag]):
        self.positionals = positionals
        self._values = values
        self._flags = {flag.name: flag for flag in flags}
        # Flags given that the conversion drops, each with why: reported with the entry.
        self.ignored = [
            f"--{flag.name} dropped: {flag.ignore}"
            for flag in flags
            if flag.ignore and self.given(flag.name)
        ]

    def given(self, name: str) -> bool:
        """Given with an effect: a value, or a boolean that is true."""
        if name not in self._values:
            return False
        return self.boolean(name) if not self._flags[name].value else True

    def last(self, name: str) -> str | None:
        """The value in effect for a flag given once or repeated: the last, as in pflag."""
        values = self._values.get(name)
        return values[-1] if values else None

    def every(self, name: str) -> list[str]:
        """Every value of a repeatable flag, comma lists split as pflag splits them."""
        values = self._values.get(name, [])
        if not self._flags[name].comma_list:
            return list(values)
        items: list[str] = []
        for value in values:
            if value:
                items += split_csv(value, name)
        return items

    def boolean(self, name: str) -> bool:
        value = self.last(name)
        return value is not None and value in GO_TRUE

    def names(self) -> list[str]:
        return list(self._values)


def split_csv(value: str, name: str) -> list[str]:
    """pflag's StringSlice reading of one value: Go's encoding/csv, one record (the same
    reading as `credplugin <provider>` gives a peer's argv)."""
    try:
        return peerargs.split_csv(f"--{name}", value)
    except UsageError:
        raise Unconvertible(f"--{name}={value!r} is not a comma-separated list") from None


def string_to_string(value: str, name: str) -> list[tuple[str, str]]:
    """pflag's StringToString reading of one value (peerargs.string_to_string)."""
    try:
        return peerargs.string_to_string(f"--{name}", value)
    except UsageError:
        raise Unconvertible(f"--{name} {value!r} is not KEY=VALUE") from None


def parse(argv: Sequence[str], flags: Iterable[Flag], *, go: bool) -> Args:
    """`argv` as pflag (`go=True`) or argparse reads it. Raises Unconvertible for an unknown
    flag, a missing value, a boolean that is not one, or a flag the table refuses."""
    table = list(flags)
    longs: dict[str, Flag] = {}
    shorts: dict[str, Flag] = {}
    for flag in table:
        for name in (flag.name, *flag.aliases):
            longs["--" + name] = flag
        if flag.short:
            shorts[flag.short] = flag
    values: dict[str, list[str]] = {}
    positionals: list[str] = []

    def record(flag: Flag, value: str) -> None:
        if not flag.value and value not in GO_TRUE and value not in GO_FALSE:
            raise Unconvertible(f"--{flag.name}={value!r} is not a boolean")
        values.setdefault(flag.name, []).append(value)

    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--" and go:
            positionals += words[i:]
            break
        if word.startswith("--"):
            name, eq, inline = word.partition("=")
            found = longs.get(name)
            if found is None:
                raise Unconvertible(f"unknown flag {name}")
            flag = found
            if not flag.value:
                if eq and not go:  # argparse: "ignored explicit argument"
                    raise Unconvertible(f"{name} takes no value")
                record(flag, inline if eq else "true")
            elif eq:
                record(flag, inline)
            elif i < len(words):
                record(flag, words[i])
                i += 1
            else:
                raise Unconvertible(f"{name} has no value")
            continue
        if word.startswith("-") and len(word) > 1 and go:
            i = _short_cluster(word, words, i, shorts, record)
            continue
        positionals.append(word)
    args = Args(positionals, values, table)
    for flag in table:
        if flag.refuse and args.given(flag.name):
            raise Unconvertible(f"--{flag.name}: {flag.refuse}")
    return args


def _short_cluster(
    word: str, words: list[str], i: int, shorts: dict[str, Flag], record: Record
) -> int:
    """pflag shorthands: `-x`, `-xVALUE`, `-x=VALUE`, `-x VALUE`, booleans clustered `-ab`."""
    j = 1
    while j < len(word):
        letter = word[j]
        flag = shorts.get(letter)
        if flag is None:
            raise Unconvertible(f"unknown flag -{letter}")
        j += 1
        if not flag.value:
            if word[j : j + 1] == "=":
                record(flag, word[j + 1 :])
                return i
            record(flag, "true")
            continue
        rest = word[j:]
        if rest:
            record(flag, rest[1:] if rest.startswith("=") else rest)
        elif i < len(words):
            record(flag, words[i])
            i += 1
        else:
            raise Unconvertible(f"-{letter} has no value")
        return i
    return i
