"""The host of a URL, and whether it names this machine.

Not urllib.parse, which imports re (see hotpath): local-kubectl-proxy reads a URL's host on
every call, cache hit or not.
"""

from __future__ import annotations

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def host_port(url: str) -> tuple[str, str]:
    """Host (IPv6 without its brackets) and port text (`""` when none) of `scheme://host...`."""
    authority = url.partition("://")[2].split("/", 1)[0].rpartition("@")[2]
    if authority.startswith("["):  # [::1]:8001
        host, _, rest = authority[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    host, _, port = authority.partition(":")
    return host, port


def is_loopback(url: str) -> bool:
    return host_port(url)[0] in LOOPBACK
