"""Other plugins' exec arguments, read as ours.

An exec entry written for int128 kubelogin, Azure kubelogin, aws-iam-authenticator or `aws eks
get-token` keeps working when only its command is replaced by `credplugin <provider>`: the
provider's `peers` module (credplugin.providers.<package>.peers) declares the peer's flags as a
`Dialect`, and this module reads the argv with it into OUR canonical argv (`--issuer-url ...`,
spelled from the declarations), which parse_argv then reads as usual. So a peer's entry and the
same entry written natively have the same option values and the same cache key.

It runs only after parse_argv has refused an argv (entry.main, and the click group, which must
do the same so that both paths run the same command): a native argv never loads it.

Each peer flag is one of

    translated   same meaning, our option (values mapped where the peer spells them otherwise:
                 Go durations, klog levels, comma lists, Azure cloud names...)
    no effect    accepted and dropped, with a debug line (-vv) saying why
    refused      what credplugin deliberately does not do: a usage error (exit 2) with the
                 reason and what to do instead; the message never holds the flag's value
                 when the value could be a secret

The peers parse with pflag (Go) or argparse (aws), and the details change what an entry means:

- a pflag bool takes `--x=VALUE` with Go's strconv.ParseBool spellings, never the next word;
- a pflag StringSlice splits each value as one CSV record (`--oidc-extra-scope=a,b` is two);
- a pflag StringToString takes `K=V`, or a CSV list of them when the value holds several `=`;
- pflag shorthands take `-xVALUE`, `-x=VALUE` and `-x VALUE`;
- klog's `-v` takes a level (`-v1`, `-v 4`, `--v=2`); aws-iam-authenticator's a logrus level
  (`-v debug`). A `-v` that is followed by no level stays our counted `-v`.

The peer's subcommand words (`get-token`, `oidc-login get-token`, `token`, `eks get-token`)
are accepted where the peer has them. When they are given, the argv is the peer's for sure, and
the peer's defaults that differ from ours apply too (kubelogin's `--login devicecode`, int128's
`--grant-type auto`, the aws CLI's role session name); without them only spellings translate.

Light on purpose, like options.py: it runs before a cache hit is served.
"""

from __future__ import annotations

import os
import sys

from credplugin import log
from credplugin.errors import UsageError
from credplugin.options import COMMON_OPTIONS, parse_argv

TYPE_CHECKING = False  # the exec path: no typing import
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from credplugin.options import Option
    from credplugin.providers.base import Declaration

    # What a flag does with its value (for a SWITCH: "true" or "false"); raises UsageError to
    # refuse it.
    Handler = Callable[["Translation", str, str], None]
    Finish = Callable[["Translation"], None]

# Flag kinds: how a peer flag takes its value.
VALUE = "value"  # --x V, --x=V, -xV, -x=V, -x V
SWITCH = "switch"  # a Go bool: --x, --x=true|false (never the next word)
LEVEL = "level"  # a log level: -vN, -v=N, -v N, --v=N; a bare -v stays our own

# Go's strconv.ParseBool, which pflag uses for `--flag=VALUE` on a bool.
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

# Go's time.ParseDuration units, in seconds.
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DIGITS = "0123456789"


class _Foreign(Exception):
    """Not a peer's argv we know (an unknown flag or word): click reports it as its own."""


class Flag:
    """One peer flag: its spellings (`--oidc-redirect-url`, or `-l --login`), how it takes a
    value, and what it means here."""

    __slots__ = ("accepts", "handle", "kind", "spellings")

    def __init__(
        self,
        spellings: str,
        kind: str,
        handle: Handler,
        accepts: Callable[[str], bool] | None = None,
    ) -> None:
        self.spellings = tuple(spellings.split())
        self.kind = kind
        self.handle = handle
        # LEVEL only: whether a word is a level, so that `-v` without one stays ours.
        self.accepts = accepts


class Dialect:
    """A peer's get-token argv: its subcommand words, its flags, and its defaults."""

    __slots__ = ("commands", "finish", "flags", "peer")

    def __init__(
        self,
        peer: str,
        commands: tuple[tuple[str, ...], ...],
        flags: Sequence[Flag],
        finish: Finish | None = None,
    ) -> None:
        self.peer = peer  # for messages: "int128 kubelogin get-token"
        self.commands = commands
        self.flags: dict[str, Flag] = {}
        for flag in flags:
            for spelling in flag.spellings:
                if spelling in self.flags:
                    raise ValueError(f"{peer}: {spelling} is declared twice")
                self.flags[spelling] = flag
        # Resolves what depends on several flags, and the peer's defaults (when the peer's
        # subcommand words were given), once the whole argv is read.
        self.finish = finish


class Translation:
    """Our options, collected from one peer argv by option name."""

    def __init__(self, provider: Declaration, environ: Mapping[str, str], dialect: Dialect) -> None:
        self.provider = provider
        self.environ = environ
        self.dialect = dialect
        options = provider.options + COMMON_OPTIONS
        self._options = {opt.name: opt for opt in options}
        self.native = {spelling: opt for opt in options for spelling in opt.spellings}
        # The peer's subcommand words, as given (empty: none).
        self.command: tuple[str, ...] = ()
        self._values: dict[str, list[str]] = {}
        self._count = 0  # our own -v / --verbose
        self._level = 0  # the peer's log level, mapped to ours (the last one wins)
        # Peer values resolved by the dialect's finish, by a name of its choosing.
        self.held: dict[str, list[str]] = {}
        self.notes: list[str] = []

    # -- what peer flags do ---------------------------------------------------------------

    def option(self, name: str) -> Option:
        """Our option called `name` (provider or common); KeyError on a rename."""
        try:
            return self._options[name]
        except KeyError:
            raise KeyError(f"provider {self.provider.name} has no option --{name}") from None

    def knows(self, name: str) -> bool:
        """Whether we have an option `name` (for a peer value we take once we do)."""
        return name in self._options

    def set(self, name: str, value: str) -> None:
        """Give our option `name` this value (one more, for a repeatable option)."""
        opt = self.option(name)
        if opt.multiple:
            self._values.setdefault(name, []).append(value)
        else:
            self._values[name] = [value]

    def switch(self, name: str, on: bool) -> None:
        if self.option(name).type != "flag":
            raise TypeError(f"--{name} is not a flag")
        if on:
            self._values[name] = ["true"]
        else:
            self._values.pop(name, None)

    def unset(self, name: str) -> None:
        self.option(name)
        self._values.pop(name, None)

    def has(self, name: str) -> bool:
        self.option(name)
        return name in self._values

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[-1] if values else None

    def count(self) -> None:
        self._count += 1

    def level(self, ours: int) -> None:
        self._level = ours

    def hold(self, key: str, value: str) -> None:
        self.held.setdefault(key, []).append(value)

    def last(self, key: str) -> str | None:
        values = self.held.get(key)
        return values[-1] if values else None

    def drop(self, spelling: str, why: str) -> None:
        self.notes.append(f"{spelling}: accepted, no effect: {why}")

    # -- the result -----------------------------------------------------------------------

    def words(self, shown: bool = False) -> list[str]:
        """Our canonical argv; `shown`: with secret values masked, for a log line."""
        words: list[str] = []
        for name, values in self._values.items():
            opt = self.option(name)
            if opt.type == "flag":
                words.append(opt.flag)
                continue
            for value in values:
                words += [opt.flag, "***" if shown and opt.secret else value]
        words += [self.option("verbose").flag] * (self._count + self._level)
        return words

    def report(self, values: Mapping[str, Any]) -> None:
        """The debug lines: what was dropped, and what the argv was read as. The runner sets
        the same verbosity again; it is set here because these lines come before it runs."""
        log.set_verbosity(int(values.get("verbose") or 0))
        for note in self.notes:
            log.debug(note)
        shown = " ".join(["credplugin", self.provider.name, *self.words(shown=True)])
        log.debug(f"read {self.dialect.peer} arguments as: {shown}")


# -- entry points ----------------------------------------------------------------------------


def dialect_of(provider: Declaration) -> Dialect | None:
    """The provider's peers module's DIALECT, or None when it has none."""
    module_name = provider.package + ".peers"
    try:
        # __import__ rather than importlib.import_module: importlib is not loaded at startup.
        __import__(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    dialect: Dialect = sys.modules[module_name].DIALECT
    return dialect


def translate(
    provider: Declaration, argv: Sequence[str], environ: Mapping[str, str]
) -> Translation | None:
    """`argv` read as the provider's peer would read it, or None when no peer of this
    provider takes it (an unknown flag or word: the caller reports its own usage error).
    Raises UsageError for a flag we refuse, or a value the peer itself would refuse."""
    dialect = dialect_of(provider)
    if dialect is None:
        return None
    translation = Translation(provider, environ, dialect)
    try:
        _read(translation, dialect, argv)
    except _Foreign:
        return None
    if dialect.finish is not None:
        dialect.finish(translation)
    return translation


def read(
    provider: Declaration, argv: Sequence[str], environ: Mapping[str, str]
) -> tuple[list[str], dict[str, Any]] | None:
    """Our canonical argv for a peer's `argv` and its parse_argv values, with the debug lines
    logged; None when no peer of this provider takes it. Raises UsageError."""
    translation = translate(provider, argv, environ)
    if translation is None:
        return None
    words = translation.words()
    values = parse_argv(provider.options + COMMON_OPTIONS, words)
    translation.report(values)
    return words, values


# -- reading an argv -------------------------------------------------------------------------


def _read(t: Translation, dialect: Dialect, argv: Sequence[str]) -> None:
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            raise _Foreign  # no peer entry needs it; click knows what it means for ours
        if word.startswith("--"):
            name, eq, inline = word.partition("=")
            i = _long(t, dialect, name, inline if eq else None, argv, i)
        elif word.startswith("-") and len(word) > 1:
            i = _short(t, dialect, word, argv, i)
        else:
            positionals.append(word)
    command = tuple(positionals)
    if command and command not in dialect.commands:
        raise _Foreign
    t.command = command


def _long(
    t: Translation,
    dialect: Dialect,
    name: str,
    inline: str | None,
    argv: Sequence[str],
    i: int,
) -> int:
    flag = dialect.flags.get(name)
    if flag is not None:
        if flag.kind == SWITCH:
            flag.handle(t, name, "true" if inline is None or go_bool(name, inline) else "false")
            return i
        if inline is None:
            if i >= len(argv):
                raise UsageError(f"{name} needs a value")
            inline, i = argv[i], i + 1
        if flag.kind == LEVEL and flag.accepts is not None and not flag.accepts(inline):
            raise UsageError(f"{name}={inline!r} is not a log level")
        flag.handle(t, name, inline)
        return i
    opt = t.native.get(name)
    if opt is None:
        raise _Foreign
    if opt.type == "count":
        if inline is not None:
            raise _Foreign
        t.count()
    elif opt.type == "flag":
        # Ours too take Go's bool spellings here: peers write `--skip-open-browser=true`.
        t.switch(opt.name, True if inline is None else go_bool(name, inline))
    else:
        if inline is None:
            if i >= len(argv):
                raise _Foreign
            inline, i = argv[i], i + 1
        t.set(opt.name, inline)
    return i


def _short(t: Translation, dialect: Dialect, word: str, argv: Sequence[str], i: int) -> int:
    """pflag shorthands: -x, -xVALUE, -x=VALUE, -x VALUE, and bools clustered (-vi NAME)."""
    j = 1
    while j < len(word):
        letter = "-" + word[j]
        j += 1
        rest = word[j:]
        value = rest[1:] if rest.startswith("=") else rest
        flag = dialect.flags.get(letter)
        if flag is not None and flag.kind == LEVEL:
            accepts = flag.accepts or (lambda _: True)
            if value and accepts(value):
                flag.handle(t, letter, value)
                return i
            if not rest and i < len(argv) and accepts(argv[i]):
                flag.handle(t, letter, argv[i])
                return i + 1
            flag = None  # no level follows: our own counted -v
        if flag is not None:
            if flag.kind == SWITCH:
                if rest.startswith("="):
                    flag.handle(t, letter, "true" if go_bool(letter, value) else "false")
                    return i
                flag.handle(t, letter, "true")
                continue
            if rest:
                flag.handle(t, letter, value)
                return i
            if i >= len(argv):
                raise UsageError(f"{letter} needs a value")
            flag.handle(t, letter, argv[i])
            return i + 1
        opt = t.native.get(letter)
        if opt is None:
            raise _Foreign
        if opt.type == "count":
            t.count()
            continue
        if opt.type == "flag":
            t.switch(opt.name, True)
            continue
        if rest:
            t.set(opt.name, value)  # pflag reads -x=V as V
            return i
        if i >= len(argv):
            raise _Foreign
        t.set(opt.name, argv[i])
        return i + 1
    return i


# -- what flags mean: handlers ---------------------------------------------------------------


def same(name: str) -> Handler:
    """The value goes to our option `name` as it is."""

    def handle(t: Translation, spelling: str, value: str) -> None:
        t.set(name, value)

    return handle


def each(name: str, check: Callable[[str, str], None] | None = None) -> Handler:
    """pflag StringSlice: every item of the value's comma-separated list goes to `name`
    (repeatable), after `check(spelling, item)`."""

    def handle(t: Translation, spelling: str, value: str) -> None:
        for item in split_csv(spelling, value):
            if check is not None:
                check(spelling, item)
            t.set(name, item)

    return handle


def seconds(name: str) -> Handler:
    """A Go duration (`90s`, `1m30s`; or a plain number of seconds) to our `name`."""

    def handle(t: Translation, spelling: str, value: str) -> None:
        try:
            number = float(value)
        except ValueError:
            number = go_duration(spelling, value)
        t.set(name, repr(number))

    return handle


def on(name: str) -> Handler:
    """A peer SWITCH that is our flag `name`."""

    def handle(t: Translation, spelling: str, value: str) -> None:
        t.switch(name, value == "true")

    return handle


def hold(key: str) -> Handler:
    """Kept for the dialect's finish, which needs the whole argv to decide."""

    def handle(t: Translation, spelling: str, value: str) -> None:
        t.hold(key, value)

    return handle


def ignored(why: str) -> Handler:
    def handle(t: Translation, spelling: str, value: str) -> None:
        t.drop(spelling, why)

    return handle


def refused(why: str, instead: str) -> Handler:
    """A usage error: `spelling is not supported: why; instead`. A SWITCH given as false asks
    for nothing, and is accepted."""

    def handle(t: Translation, spelling: str, value: str) -> None:
        if value == "false" and t.dialect.flags[spelling].kind == SWITCH:
            t.drop(spelling, "false is the default")
            return
        raise UsageError(f"{spelling} is not supported: {why}", hint=instead)

    return handle


def klog_level(t: Translation, spelling: str, value: str) -> None:
    """klog's -v N: int128 logs its debug lines at 1, Azure kubelogin its detail at 4+."""
    level = int(value)
    t.level(0 if level < 1 else 1 if level < 4 else 2)


def is_int(text: str) -> bool:
    digits = text[1:] if text[:1] in ("-", "+") else text
    return bool(digits) and all(c in _DIGITS for c in digits)


# klog's flags (int128 kubelogin adds them all; Azure kubelogin only -v and --logtostderr).
KLOG_VERBOSITY = Flag("-v --v", LEVEL, klog_level, accepts=is_int)
KLOG_OTHERS = (
    Flag(
        "--logtostderr --alsologtostderr --skip_headers --skip_log_headers --one_output "
        "--add_dir_header",
        SWITCH,
        ignored("credplugin logs to stderr only, with -v"),
    ),
    Flag(
        "--log_dir --log_file --log_file_max_size --stderrthreshold --vmodule --log_backtrace_at",
        VALUE,
        ignored("credplugin logs to stderr only, with -v"),
    ),
)


# -- the peers' value syntax -----------------------------------------------------------------


def go_bool(spelling: str, text: str) -> bool:
    if text in GO_TRUE:
        return True
    if text in GO_FALSE:
        return False
    raise UsageError(f"{spelling}={text!r} is not a boolean", hint="use true or false")


def go_duration(spelling: str, text: str) -> float:
    """Go's time.ParseDuration, in seconds: `300ms`, `1.5h`, `1h2m3s`, `-5s`, `0`."""
    rest = text[1:] if text[:1] in ("-", "+") else text
    sign = -1.0 if text.startswith("-") else 1.0
    if rest == "0":
        return 0.0
    total = 0.0
    if not rest:
        rest = "?"  # an empty duration is as invalid as a word
    while rest:
        k = 0
        while k < len(rest) and (rest[k] in _DIGITS or rest[k] == "."):
            k += 1
        number, rest = rest[:k], rest[k:]
        u = 0
        while u < len(rest) and rest[u] not in _DIGITS and rest[u] != ".":
            u += 1
        unit, rest = rest[:u], rest[u:]
        if number in ("", ".") or number.count(".") > 1 or unit not in _DURATION_UNITS:
            raise UsageError(
                f"{spelling} {text!r} is not a duration",
                hint="write it as Go does, such as 90s, 1m30s or 2h",
            )
        total += float(number) * _DURATION_UNITS[unit]
    return sign * total


def split_csv(spelling: str, text: str) -> list[str]:
    """One record of Go's encoding/csv, as pflag's StringSlice reads a value: `a,b` is two
    items, `"a,b"` one, `` nothing."""
    if text == "":
        return []
    items: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            i += 1
            quoted: list[str] = []
            while True:
                if i >= n:
                    raise UsageError(f"{spelling}: unterminated quote in {text!r}")
                if text[i] == '"':
                    if text[i + 1 : i + 2] == '"':
                        quoted.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                quoted.append(text[i])
                i += 1
            if i < n and text[i] != ",":
                raise UsageError(f"{spelling}: text after a closing quote in {text!r}")
            items.append("".join(quoted))
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            if '"' in text[i:end]:
                raise UsageError(f"{spelling}: a quote inside an unquoted item in {text!r}")
            items.append(text[i:end])
            i = end
        if i >= n:
            return items
        i += 1  # the comma
        if i == n:
            items.append("")  # a trailing comma ends with an empty item
            return items


def string_to_string(spelling: str, text: str) -> list[tuple[str, str]]:
    """pflag's StringToString: `K=V` is one pair (even with commas in V); with more than one
    `=`, a CSV list of pairs (`a=1,b=2`)."""
    equals = text.count("=")
    if equals == 0:
        raise UsageError(f"{spelling} {text!r} is not KEY=VALUE")
    pairs = [text.strip('"')] if equals == 1 else split_csv(spelling, text)
    found = []
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise UsageError(f"{spelling} {text!r} is not KEY=VALUE[,KEY=VALUE...]")
        found.append((key, value))
    return found


def expand_home(path: str, environ: Mapping[str, str]) -> str:
    """A leading `~` as the Go peers expand it (their own files, such as int128 kubelogin's
    --token-cache-dir=~/..., which the shell never saw)."""
    if not path.startswith("~"):
        return path
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, path[1:].lstrip("/"))
