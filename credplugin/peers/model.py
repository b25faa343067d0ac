"""What converting one peer entry produces, and the rules every conversion follows.

    Unconvertible   the entry cannot be expressed exactly: it is left untouched, the reason
                    is reported
    NotAPeer        nothing to convert (already credplugin, no exec plugin at all)
    Site            where the kubeconfig lives and the environment convert runs in: files an
                    entry needs (a CA bundle) go beside the kubeconfig; `~` expands here
    Conversion      the credplugin entry being built: options are written through the
                    provider's declaration, by name, never as flag strings

Only `credplugin kubeconfig convert` imports this package: nothing here is on the exec path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from credplugin import providers
from credplugin.errors import UsageError
from credplugin.options import COMMON_OPTIONS, Option, parse_argv
from credplugin.providers.base import Declaration

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


class Unconvertible(Exception):
    """The entry means something credplugin cannot express exactly; `reason` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAPeer(Exception):
    """The user entry has nothing convert would change; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Site:
    """Where the converted kubeconfig will live, and the environment convert runs in."""

    directory: str  # beside the kubeconfig that is written: files the entries need go here
    environ: Mapping[str, str]

    def expand_home(self, path: str) -> str:
        """`~/x` as the peer expands it when it runs: for this user, with this HOME. Our
        providers take paths literally, so the entry gets the absolute path."""
        if path == "~" or path.startswith("~/"):
            home = self.environ.get("HOME") or os.path.expanduser("~")
            return home + path[1:]
        return path


@dataclass
class Conversion:
    """A credplugin user entry in the making: provider, arguments, exec env, notes, and the
    files it needs written beside the kubeconfig (path -> content)."""

    provider: str
    peer: str  # what the entry ran, for the report: "aws eks get-token"
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def declaration(self) -> Declaration:
        declaration = providers.lookup(self.provider)
        if declaration is None:
            raise KeyError(f"no provider {self.provider!r}")
        return declaration

    def option(self, name: str) -> Option:
        """The provider's option `name`, or a common one; KeyError when neither has it, so a
        renamed option breaks convert loudly instead of writing a flag nobody parses."""
        try:
            return self.declaration.option(name)
        except KeyError:
            for common in COMMON_OPTIONS:
                if common.name == name:
                    return common
            raise

    def give(self, name: str, value: str | None = None) -> None:
        """Pass option `name` (a flag when `value` is None), checked as the provider would
        check it: a value our option cannot take (a choice we lack, a number that is not one)
        makes the entry unconvertible."""
        option = self.option(name)
        if value is None:
            if option.takes_value:
                raise TypeError(f"--{name} takes a value")
            self.args.append(option.flag)
            return
        if not option.takes_value:
            raise TypeError(f"--{name} is a flag")
        try:
            option.convert(value, "the peer's arguments")
        except UsageError as exc:
            raise Unconvertible(exc.message) from None
        self.args += [option.flag, value]

    def give_each(self, name: str, values: Iterable[str]) -> None:
        for value in values:
            self.give(name, value)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def verbosity_of_klog(self, level: str | None) -> None:
        """The Go peers' `-v N` (klog) as our -v: levels 1-3 log, 4 and up debug."""
        if level is None:
            return
        if not level.isdigit():
            raise Unconvertible(f"-v {level!r} is not a log level")
        for _ in range(min(2, (int(level) + 2) // 3)):
            self.give("verbose")

    def variable_of(self, name: str) -> str:
        """The environment variable option `name` is read from (a secret's home)."""
        variable = self.option(name).envvar
        if not variable:
            raise KeyError(f"provider {self.provider}: --{name} is read from no variable")
        return variable

    def move_secret(self, what: str, value: str, variable: str) -> None:
        """A secret the peer took as an argument goes to the exec env, which other users of
        the machine cannot read in the process list."""
        self.env[variable] = value
        self.note(f"{what} moved to the exec env as {variable}")

    def ca_bundle(self, site: Site, pems: list[bytes], what: str) -> str:
        """A file beside the kubeconfig holding these PEM certificates, named by its content
        (the same CA in several entries is one file; converting again rewrites it
        identically). Our providers take CA files only, not inline data."""
        data = b"".join(pem if pem.endswith(b"\n") else pem + b"\n" for pem in pems)
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = os.path.join(site.directory, f"credplugin-ca-{digest}.pem")
        self.files[path] = data
        self.note(f"{what} goes to {path} (0600)")
        return path

    def checked_args(self) -> list[str]:
        """The arguments, after the provider's own parser has accepted them."""
        declaration = self.declaration
        try:
            parse_argv(declaration.options + COMMON_OPTIONS, self.args)
        except UsageError as exc:  # a bug here, not in the peer's entry: say so plainly
            raise Unconvertible(f"the converted arguments do not parse: {exc.message}") from None
        return [declaration.name, *self.args]

    def command_line(self, command: str) -> str:
        return shlex.join([command, *self.checked_args()])


def decode_pem_data(value: str, what: str) -> bytes:
    """Base64 PEM certificate data (kubeconfig's `*-data` fields), checked."""
    try:
        data = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unconvertible(f"{what} is not base64") from None
    if PEM_CERTIFICATE not in data:
        raise Unconvertible(f"{what} holds no PEM certificate")
    return data
