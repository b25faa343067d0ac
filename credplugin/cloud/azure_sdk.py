"""What the azure and aks providers share about Microsoft's SDKs (azure-identity, MSAL):
their `logging` output, kept off stderr. Loaded on a cache miss only."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from credplugin import log


def route_sdk_logs(secrets: Iterable[str] = ()) -> None:
    """The Azure SDKs, MSAL and urllib3 log through `logging`, whose last-resort handler would
    print their warnings on stderr unasked. Silence them; at -vvv pass them on as redacted debug
    lines."""
    verbose = log.verbosity() >= 3
    kept = list(secrets)

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                log.debug(f"{record.name}: {log.redact(self.format(record), kept)}")
            except Exception:  # noqa: S110 - a log line must never break a fetch
                pass

    handler: logging.Handler = Forward() if verbose else logging.NullHandler()
    for name in ("azure", "msal", "urllib3"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1)
