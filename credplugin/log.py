"""Diagnostics on stderr, never stdout. The logging module is not used: it costs ~5 ms to
import on a path that runs on every kubectl command, and we need only a verbosity counter.

Nothing passed here may hold a secret; pass text quoted from elsewhere through `scrub`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Iterable

_verbosity = 0


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def _emit(prefix: str, message: str) -> None:
    try:
        sys.stderr.write(f"credplugin: {prefix}{message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed: nothing useful left to do with the message


def error(message: str) -> None:
    _emit("error: ", message)


def warn(message: str) -> None:
    _emit("warning: ", message)


def notice(message: str) -> None:
    """Always shown: things a person waiting at a terminal should know (waiting, prompts)."""
    _emit("", message)


def info(message: str) -> None:
    if _verbosity >= 1:
        _emit("", message)


def debug(message: str) -> None:
    if _verbosity >= 2:
        _emit("debug: ", message)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of the given secrets replaced: for messages that quote
    what an identity provider answered, which may echo what we sent it."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
