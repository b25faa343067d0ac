"""Spans of time as a person reads them in `cache list` and `inspect`: `45s`, `14m`, `3.5h`."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """A non-negative span, rounded to the unit that keeps it to two or three digits."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d"


def relative(seconds: float) -> str:
    """`in 14m` for a time ahead, `5m ago` for one past."""
    return f"in {duration(seconds)}" if seconds >= 0 else f"{duration(-seconds)} ago"
