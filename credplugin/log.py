"""Diagnostics on stderr, never stdout. Not the logging module (see hotpath): a verbosity
counter is all we need.

Nothing passed here may hold a secret; pass text quoted from elsewhere through `scrub`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Iterable

_verbosity = 0

# Text from outside (an identity provider's error_description, a device code's message, an
# SDK's exception) reaches stderr through here, and stderr is often a terminal: C0 and C1
# controls (ESC sequences, BEL, CR, NUL) and the bidirectional overrides are shown escaped,
# and an embedded newline cannot start a forged `credplugin:` line.
_ESCAPES = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (
        *range(0x00, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


def printable(text: str) -> str:
    """`text` with every control character written as an escape."""
    return text.translate(_ESCAPES)


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def _emit(prefix: str, message: str) -> None:
    try:
        sys.stderr.write(f"credplugin: {prefix}{printable(message)}\n")
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


def scrub(text: str, secrets: Iterable[str | None], *, shortest: int = 4, mask: str = "***") -> str:
    """`text` with every occurrence of the given secrets, and of each line of a multi-line
    one, replaced: for messages that quote what an identity provider or an SDK answered,
    which may echo what we sent it. Pieces shorter than `shortest` are left: they would
    mask innocent words."""
    pieces = {p for s in secrets if s for p in (s, *s.splitlines()) if len(p) >= shortest}
    for piece in sorted(pieces, key=len, reverse=True):  # longest first: no half-masked secret
        text = text.replace(piece, mask)
    return text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`scrub`, and also JWTs and the values of token-bearing fields (`access_token=...`,
    `"password": "..."`): for SDK messages and log records that may quote secrets we were
    never given."""
    import re  # only when redacting SDK text, on a miss (see hotpath)

    text = scrub(text, secrets, mask="<redacted>")
    text = re.sub(r"eyJ[\w-]*\.[\w-]*\.[\w-]*", "<jwt>", text)
    return re.sub(
        r"((?:access|refresh|id)_token|client_secret|client_assertion|device_code|\bcode"
        r"|password|assertion)(['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+",
        r"\1\2<redacted>",
        text,
    )
