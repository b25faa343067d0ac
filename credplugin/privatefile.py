"""Replacing a private file atomically, for the cache and for kubeconfig files alike.

The data goes to a temp file beside the target (0600, created exclusively, never through a
symlink), is flushed to disk, and is renamed over the target: a reader sees the old file or
the new one, never half of one. The rename replaces a symlink at the target rather than
following it. Temp files carry TEMP_MARK in their name, so that one left by a killed process
can be recognised and swept.
"""

from __future__ import annotations

import os

TEMP_MARK = ".tmp."


def write(path: str, data: bytes) -> None:
    """Atomically make `path` hold `data`, mode 0600. Raises OSError; leaves no temp file."""
    temp = f"{path}{TEMP_MARK}{os.getpid()}.{os.urandom(4).hex()}"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(temp, path)
        except IsADirectoryError:
            # A directory squats the name: move it aside (never delete a tree).
            os.rename(path, f"{path}.squatter.{os.urandom(4).hex()}")
            os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
