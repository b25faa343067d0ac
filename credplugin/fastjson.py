"""JSON for the hot path, through the same C accelerator the json package uses.

Why not `import json`: json.decoder and json.encoder compile regular expressions when they
are imported, which pulls in re and enum (see hotpath). The C scanner and
string escaper in `_json` do the real work for json itself; this module calls them directly
and keeps the tiny part json does in Python (top-level whitespace, container walking).
Where `_json` is missing (other interpreters), it falls back to the json package.

Tests check it against json on generated documents (tests/test_fastjson.py).
"""

from __future__ import annotations

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from typing import Any

_json: Any = None
try:
    import _json as _c_json

    _json = _c_json
except ImportError:  # pragma: no cover - CPython always has it
    pass

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScannerContext:
    """The attributes `_json.make_scanner` reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}  # noqa: RUF012 - the scanner clears it after each call


_scan = _json.make_scanner(_ScannerContext()) if _json is not None else None


def loads(text: str | bytes) -> Any:
    """Like json.loads (strict, no hooks). Raises ValueError on malformed input."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    if _scan is None:  # pragma: no cover
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError("expecting a JSON value") from None
    except RecursionError:
        raise ValueError("JSON value nested too deeply") from None
    except SystemError:
        # The C scanner raises its errors as json.decoder.JSONDecodeError, which it looks up
        # in sys.modules only: without json.decoder imported it fails with SystemError.
        # Malformed input is off the hot path, so import it and let the scanner say why.
        import json.decoder

        try:
            value, end = _scan(text, start)
        except StopIteration:
            raise ValueError("expecting a JSON value") from None
        except RecursionError:
            raise ValueError("JSON value nested too deeply") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError("extra data after the JSON value")
    return value


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON (separators "," and ":"), ASCII only, like json.dumps(..., separators=...)."""
    if _json is None:  # pragma: no cover
        import json

        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"))
    parts: list[str] = []
    _encode(value, parts, sort_keys, 0)
    return "".join(parts)


def _encode(value: Any, out: list[str], sort_keys: bool, depth: int) -> None:
    if depth > 100:
        raise ValueError("JSON value nested too deeply")
    if isinstance(value, str):
        out.append(_json.encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity are not JSON")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        items = sorted(value.items()) if sort_keys else value.items()
        out.append("{")
        for index, (key, item) in enumerate(items):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            if index:
                out.append(",")
            out.append(_json.encode_basestring_ascii(key))
            out.append(":")
            _encode(item, out, sort_keys, depth + 1)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, sort_keys, depth + 1)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
