"""The hot path's rules, and the few low-level stand-ins they need, in one place.

kubectl runs the plugin before every command, and a cache hit should cost little more than
starting Python (benchmarks/bench.py measures it; tests/test_hot_path.py enforces the import
list). What a hit must not import, with what each costs on the CI machine:

    click                  more than starting the interpreter
    typing, dataclasses,   together about as much as starting the interpreter; hot-path
    pathlib                modules import typing names under `if TYPE_CHECKING` only
    re                     ~10 ms; urllib.parse and base64 import it (see urlhost, tokens)
    json                   ~15 ms with re and enum (see fastjson, which uses `_json`)
    enum                   ~3 ms; `signal` and `socket` import it
    hashlib                ~2.5 ms for OpenSSL
    logging                ~5 ms (see log)
    any SDK                a provider's `fetch` module, loaded on a miss only

The C modules below do the work of `hashlib`, `signal` and `socket` without their Python
wrappers. Nothing else in credplugin names a private C module, except fastjson (`_json`).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

try:
    from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python 3.12+ renamed it
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore,no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment,unused-ignore]

__all__ = ["sha256", "signals", "sockets"]


def signals() -> ModuleType:
    """The `_signal` C module (setitimer, SIGALRM, SIGTERM), loaded at startup anyway."""
    return sys.modules.get("_signal") or __import__("signal")


def sockets() -> ModuleType:
    """The `_socket` C module: getaddrinfo and socket objects with timeouts. Pass host
    names as bytes: a str goes through the idna codec, which imports re."""
    import _socket  # only the local-kubectl-proxy probe connects anywhere on a hit

    return _socket
