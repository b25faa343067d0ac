"""Diagnostics on stderr, never stdout. The logging module is not used: it costs ~5 ms to
import on a path that runs on every kubectl command, and we need only a verbosity counter.

Nothing passed here may hold a secret; use `redact` for anything token-shaped.
"""

from __future__ import annotations

import sys

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


def redact(secret: str | None) -> str:
    """Enough to tell two tokens apart in a log, not enough to use one."""
    if not secret:
        return "<none>"
    return f"<{len(secret)} chars>"
