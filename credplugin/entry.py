"""Process entry point, kept free of click.

kubectl runs this on every command. A provider subcommand whose arguments parse cleanly goes
straight to the runner, and a cache hit costs little more than starting Python. Everything
else (help, usage errors, the tool commands) goes to the click CLI.
"""

from __future__ import annotations

import os
import sys

from credplugin import providers

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from typing import Any

    from credplugin.providers.base import Declaration

HELP_FLAGS = ("--help", "-h")


def main(argv: list[str] | None = None) -> int:
    if os.name != "posix":
        # The cache's locks (flock), permission checks (getuid, 0600) and O_NOFOLLOW are
        # POSIX: fail at once, in one line, rather than half-work.
        sys.stderr.write(
            "credplugin: error: this platform is not supported yet (Linux and macOS are); "
            "nothing was done\n"
        )
        return 1
    args = sys.argv[1:] if argv is None else argv
    if args and not any(flag in args for flag in HELP_FLAGS):
        provider = providers.lookup(args[0])
        if provider is not None:
            from credplugin.errors import UsageError
            from credplugin.options import COMMON_OPTIONS, parse_argv

            command_line: dict[str, Any] | None
            try:
                command_line = parse_argv(provider.options + COMMON_OPTIONS, args[1:])
            except UsageError:
                command_line = _peer_command_line(provider, args[1:])
            if command_line is not None:
                from credplugin import runner

                return runner.main(provider, command_line, os.environ)

    from credplugin.cli import main as cli_main

    return cli_main(args)


def _peer_command_line(provider: Declaration, argv: list[str]) -> dict[str, Any] | None:
    """The command line of another plugin's arguments (int128 or Azure kubelogin,
    aws-iam-authenticator, `aws eks get-token`) after the provider's name, read by the
    provider's peers module; None for click to report (a refused flag among them: click's
    group reads the argv the same way, and says why)."""
    from credplugin import peerargs
    from credplugin.errors import UsageError

    try:
        found = peerargs.read(provider, argv, os.environ)
    except UsageError:
        return None
    return None if found is None else found[1]
