"""A tool command's failure: one line on stderr and the error's exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from credplugin import log
from credplugin.errors import CredpluginError

F = TypeVar("F", bound=Callable[..., Any])


def fails_cleanly(function: F) -> F:
    """Turn a CredpluginError raised by `function` into one line and its exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except CredpluginError as exc:
            log.error(exc.one_line())
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
