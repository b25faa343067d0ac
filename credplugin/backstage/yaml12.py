"""YAML as Backstage reads it, within bounds.

Backstage parses app-configs with the `yaml` npm package, which implements YAML 1.2 (core
schema); PyYAML implements YAML 1.1. Read with PyYAML's defaults, a config means something
else than it does to Backstage: a cluster named `no` becomes False, `2025-01-15` a date,
`0123` the octal 83, and `<<` merges mappings (in 1.2 it is an ordinary key). This loader
keeps PyYAML's parser and changes only what 1.1 and 1.2 disagree on:

- scalars resolve by the 1.2 core schema: null (~, null, empty), true/false, decimal, 0o
  and 0x integers, floats with .inf and .nan; everything else is a string;
- `<<` is a key like any other;
- a key repeated in one mapping is an error, as in the `yaml` package.

And it refuses what a hostile file could make of a small document (a "billion laughs" alias
bomb): more than MAX_ALIASES aliases (the `yaml` package's own limit, maxAliasCount), or a
file larger than MAX_FILE_BYTES. The walk that substitutes the tree bounds the expansion of
the aliases that remain (appconfig.MAX_NODES).

PyYAML's resolver and constructor hooks are its public extension points; nothing here
parses YAML itself.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node

MAX_ALIASES = 100
MAX_FILE_BYTES = 4 * 1024 * 1024

_CORE_SCALARS = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
)


class TooLarge(yaml.YAMLError):
    """A document that would expand past the bounds."""


class DuplicateKey(yaml.YAMLError):
    """A mapping that names one key twice."""


class BackstageLoader(yaml.SafeLoader):
    # Its own table, filled below: none of SafeLoader's YAML 1.1 resolvers.
    yaml_implicit_resolvers = {}  # noqa: RUF012 - PyYAML's per-class registry

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise TooLarge(f"more than {MAX_ALIASES} aliases (an alias bomb?)")
        node: Node | None = super().compose_node(parent, index)
        return node

    def flatten_mapping(self, node: MappingNode) -> None:
        """No merge keys in YAML 1.2: `<<` stays an ordinary key."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeConstructor reports it below
                    continue
                if duplicate:
                    raise DuplicateKey(
                        f"key {key!r} appears twice in one mapping{key_node.start_mark}"
                    )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]
        return mapping

    def construct_core_int(self, node: Node) -> int:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)  # 1.2: a leading zero is decimal, not octal


for _tag, _pattern, _first in _CORE_SCALARS:
    BackstageLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
BackstageLoader.add_constructor("tag:yaml.org,2002:int", BackstageLoader.construct_core_int)


def load(text: str) -> Any:
    """One YAML document as Backstage would read it. Raises yaml.YAMLError."""
    if len(text) > MAX_FILE_BYTES:
        raise TooLarge(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return yaml.load(text, Loader=BackstageLoader)  # noqa: S506 - a SafeLoader subclass
