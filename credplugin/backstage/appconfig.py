"""A Backstage app-config, read as Backstage's config loader reads it.

Several files merge (later files win; mappings merge key by key, arrays are replaced), and
`${VAR}`, `$env`, `$file` and `$include` are substituted. A string that came from the
environment or a file keeps its origin (`Ref`), so that what is written from it can name
the variable or the file instead of copying a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from credplugin import log
from credplugin.backstage import yaml12
from credplugin.errors import CredpluginError, os_reason


class ConfigError(CredpluginError):
    """An app-config that cannot be read or is not what Backstage would accept."""


@dataclass(frozen=True)
class Ref:
    """A config string that came from the environment or a file, kept with its origin.

    kind "env": the whole value was `${VAR}` or `$env: VAR`; "file": `$file: path` (source is
    the absolute path); "template": a longer string with `${...}` substitutions. `value` is
    what Backstage would see now, None when a variable is unset or the file unreadable
    (Backstage would then drop the key; here the later file's intent is kept, so that a
    secret from an unset variable still becomes `--token-env VAR`). `variables` names every
    variable the value is made of, so that none of another service's secrets is sent where
    it does not belong."""

    kind: str
    source: str
    value: str | None
    why: str = ""
    variables: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "env":
            return "${" + self.source + "}"
        if self.kind == "file":
            return f"$file: {self.source}"
        return "a string with ${...} substitutions"  # its literal part may be half a secret


# The sections the conversion reads: kubernetes (clusters), auth (OIDC issuers and client ids),
# aws (accounts and their roles).
SECTIONS = ("kubernetes", "auth", "aws")
MAX_NODES = 200_000
_SUBSTITUTION = re.compile(r"(\$?\$\{[^{}]*\})")
_INCLUDE_KEYS = ("$file", "$env", "$include")


def substitute(text: str, environ: Mapping[str, str]) -> str | Ref:
    """Backstage's `${VAR}` substitution: values trimmed, `${VAR:-default}` when VAR is unset
    or empty, `$${X}` escapes to `${X}`. A string that is one `${VAR}` keeps its origin."""
    parts = _SUBSTITUTION.split(text)
    if len(parts) == 1:
        return text
    out: list[str] = []
    missing: list[str] = []
    names: list[str] = []
    value: str | None = None
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part.startswith("$$"):
            out.append(part[1:])
        else:
            name, has_default, default = part[2:-1].partition(":-")
            name = name.strip()
            names.append(name)
            value = environ.get(name)
            if has_default and not (value or "").strip():
                value = default
            if value is None:
                missing.append(name)
            else:
                value = value.strip()
                out.append(value)
    if len(parts) == 3 and not parts[0] and not parts[2] and names:
        return Ref("env", names[0], value, _unset(names), (names[0],))
    if not names:
        return "".join(out)  # only $${...} escapes
    if missing:
        return Ref("template", text, None, _unset(missing), tuple(names))
    return Ref("template", text, "".join(out), "", tuple(names))


def _unset(names: Sequence[str]) -> str:
    listed = ", ".join(names)
    return f"{listed} {'is' if len(names) == 1 else 'are'} not set"


class _Reader:
    """Reads app-config files and applies Backstage's transforms, within bounds: a document
    may expand to at most MAX_NODES values (aliases that survive the loader's limit cannot
    multiply it past that), and an `$include` may not include itself, directly or not."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.nodes = 0
        self.including: list[str] = []  # the $include chain being read

    def file(self, path: str, where: str = "") -> Any:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(yaml12.MAX_FILE_BYTES + 1)
            return yaml12.load(text)
        except OSError as exc:
            raise ConfigError(
                f"{where + ': ' if where else ''}cannot read {path}: {os_reason(exc)}"
            ) from None
        except yaml12.TooLarge as exc:
            raise ConfigError(f"{path} is refused: {exc}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid YAML: {_first_line(exc)}") from None

    def transform(self, node: Any, base_dir: str, where: str) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError(
                f"the app-config expands past {MAX_NODES} values (an alias bomb?); refused"
            )
        if isinstance(node, str):
            return substitute(node, self.environ)
        if isinstance(node, list):
            return [self.transform(v, base_dir, f"{where}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, dict):
            keys = [k for k in node if k in _INCLUDE_KEYS]
            if keys:
                if len(node) != 1:
                    raise ConfigError(
                        f"{where}: include key {keys[0]} should not have adjacent keys"
                    )
                return self.include(keys[0], node[keys[0]], base_dir, where)
            return {
                str(k): self.transform(v, base_dir, f"{where}.{k}" if where else str(k))
                for k, v in node.items()
            }
        return node

    def include(self, key: str, raw: Any, base_dir: str, where: str) -> Any:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: {key} include value is not a string")
        target = substitute(raw, self.environ)
        if isinstance(target, Ref):
            if target.value is None:
                raise ConfigError(f"{where}: {key} value {raw!r}: {target.why}")
            target = target.value
        if key == "$env":
            value = self.environ.get(target)
            stripped = None if value is None else value.strip()
            return Ref("env", target, stripped, _unset([target]), (target,))
        if key == "$file":
            path = os.path.normpath(os.path.join(base_dir, target))
            try:
                with open(path, encoding="utf-8") as handle:
                    return Ref("file", path, handle.read(yaml12.MAX_FILE_BYTES).rstrip())
            except (OSError, UnicodeDecodeError) as exc:
                return Ref("file", path, None, f"cannot read it ({os_reason(exc)})")
        # $include: a YAML or JSON file, optionally a dotted path into it after '#'.
        file_part, _, data_path = target.partition("#")
        path = os.path.normpath(os.path.join(base_dir, file_part))
        if not path.endswith((".yaml", ".yml", ".json")):
            raise ConfigError(f"{where}: no configuration parser for included file {file_part}")
        if path in self.including:
            chain = " -> ".join(os.path.basename(p) for p in [*self.including, path])
            raise ConfigError(f"{where}: $include cycle: {chain}")
        value = self.file(path, where)
        for index, part in enumerate(data_path.split(".") if data_path else ()):
            if not isinstance(value, dict):
                prefix = ".".join(data_path.split(".")[:index])
                raise ConfigError(f"{where}: value at {prefix!r} in {file_part} is not an object")
            value = value.get(part)
        self.including.append(path)
        try:
            return self.transform(value, os.path.dirname(path), where)
        finally:
            self.including.pop()


def merge_config(base: Any, override: Any) -> Any:
    """Backstage's reading of several files: mappings merge key by key, anything else
    (arrays included) is replaced by the later file's value."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_config(base[key], value) if key in base else value
        return merged
    return override


def load_app_config(
    paths: Sequence[str],
    environ: Mapping[str, str],
    *,
    warn: Callable[[str], None] = log.warn,
) -> dict[str, Any]:
    """The merged, substituted config of these app-config files (later ones win).

    Only SECTIONS matter to the conversion: a substitution that fails elsewhere (an
    `$include` under `integrations`, an unset variable under `backend`) is a warning and that
    section is left out, where Backstage itself would refuse to start."""
    reader = _Reader(environ)
    merged: dict[str, Any] = {}
    for path in paths:
        raw = reader.file(path)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top of the config")
        base_dir = os.path.dirname(os.path.abspath(path))
        reader.including = [os.path.abspath(path)]
        data: dict[str, Any] = {}
        for key, value in raw.items():
            key = str(key)
            try:
                data[key] = reader.transform(value, base_dir, key)
            except ConfigError as exc:
                if key in SECTIONS or "expands past" in exc.message:
                    raise
                warn(f"{path}: {exc.one_line()}; section {key!r} left out (not needed here)")
        merged = merge_config(merged, data)
    return merged


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
