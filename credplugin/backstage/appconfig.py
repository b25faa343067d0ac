"""A Backstage app-config, read as Backstage's config loader reads it.

Several files merge (later files win; mappings merge key by key, arrays are replaced), and
`${VAR}`, `$env`, `$file` and `$include` are substituted. A string that came from the
environment or a file keeps its origin (`Ref`), so that what is written from it can name
the variable or the file instead of copying a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from credplugin.errors import CredpluginError, os_reason


class ConfigError(CredpluginError):
    """An app-config that cannot be read or is not what Backstage would accept."""


@dataclass(frozen=True)
class Ref:
    """A config string that came from the environment or a file, kept with its origin.

    kind "env": the whole value was `${VAR}` or `$env: VAR`; "file": `$file: path` (source is
    the absolute path); "template": a longer string with `${...}` of which some are unset.
    `value` is what Backstage would see now, None when a variable is unset or the file
    unreadable (Backstage would then drop the key; here the later file's intent is kept, so
    that a secret from an unset variable still becomes `--token-env VAR`)."""

    kind: str
    source: str
    value: str | None
    why: str = ""

    def describe(self) -> str:
        if self.kind == "env":
            return "${" + self.source + "}"
        if self.kind == "file":
            return f"$file: {self.source}"
        return "a string with ${...} substitutions"  # its literal part may be half a secret


_SUBSTITUTION = re.compile(r"(\$?\$\{[^{}]*\})")
_INCLUDE_KEYS = ("$file", "$env", "$include")


def substitute(text: str, environ: Mapping[str, str]) -> str | Ref:
    """Backstage's `${VAR}` substitution (values trimmed, `$${X}` escapes to `${X}`)."""
    parts = _SUBSTITUTION.split(text)
    if len(parts) == 1:
        return text
    out: list[str] = []
    missing: list[str] = []
    names: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part.startswith("$$"):
            out.append(part[1:])
        else:
            name = part[2:-1].strip()
            names.append(name)
            value = environ.get(name)
            if value is None:
                missing.append(name)
            else:
                out.append(value.strip())
    if len(parts) == 3 and not parts[0] and not parts[2] and names:
        value = environ.get(names[0])
        return Ref("env", names[0], None if value is None else value.strip(), _unset(names))
    if missing:
        return Ref("template", text, None, _unset(missing))
    return "".join(out)


def _unset(names: Sequence[str]) -> str:
    listed = ", ".join(names)
    return f"{listed} {'is' if len(names) == 1 else 'are'} not set"


def _include(key: str, raw: Any, base_dir: str, environ: Mapping[str, str], where: str) -> Any:
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: {key} include value is not a string")
    target = substitute(raw, environ)
    if isinstance(target, Ref):
        if target.value is None:
            raise ConfigError(f"{where}: {key} value {raw!r}: {target.why}")
        target = target.value
    if key == "$env":
        value = environ.get(target)
        return Ref("env", target, None if value is None else value.strip(), _unset([target]))
    path = os.path.normpath(os.path.join(base_dir, target))
    if key == "$file":
        try:
            with open(path, encoding="utf-8") as handle:
                return Ref("file", path, handle.read().rstrip())
        except (OSError, UnicodeDecodeError) as exc:
            return Ref("file", path, None, f"cannot read it ({os_reason(exc)})")
    # $include: a YAML or JSON file, optionally a dotted path into it after '#'.
    file_part, _, data_path = target.partition("#")
    path = os.path.normpath(os.path.join(base_dir, file_part))
    if not path.endswith((".yaml", ".yml", ".json")):
        raise ConfigError(f"{where}: no configuration parser for included file {file_part}")
    value = _read_yaml(path, where)
    for index, part in enumerate(data_path.split(".") if data_path else ()):
        if not isinstance(value, dict):
            prefix = ".".join(data_path.split(".")[:index])
            raise ConfigError(f"{where}: value at {prefix!r} in {file_part} is not an object")
        value = value.get(part)
    return _transform(value, os.path.dirname(path), environ, where)


def _transform(node: Any, base_dir: str, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        return substitute(node, environ)
    if isinstance(node, list):
        return [_transform(v, base_dir, environ, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, dict):
        keys = [k for k in node if k in _INCLUDE_KEYS]
        if keys:
            if len(node) != 1:
                raise ConfigError(f"{where}: include key {keys[0]} should not have adjacent keys")
            return _include(keys[0], node[keys[0]], base_dir, environ, where)
        return {
            str(k): _transform(v, base_dir, environ, f"{where}.{k}" if where else str(k))
            for k, v in node.items()
        }
    return node


def _read_yaml(path: str, where: str = "") -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(
            f"{where + ': ' if where else ''}cannot read {path}: {os_reason(exc)}"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {_first_line(exc)}") from None


def merge_config(base: Any, override: Any) -> Any:
    """Backstage's reading of several files: mappings merge key by key, anything else
    (arrays included) is replaced by the later file's value."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_config(base[key], value) if key in base else value
        return merged
    return override


def load_app_config(paths: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """The merged, substituted config of these app-config files (later ones win)."""
    merged: dict[str, Any] = {}
    for path in paths:
        raw = _read_yaml(path)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top of the config")
        data = _transform(raw, os.path.dirname(os.path.abspath(path)), environ, "")
        merged = merge_config(merged, data)
    return merged


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
