"""Talking to a person: messages on stderr, answers from stdin only when kubectl says a
person is there (`spec.interactive`). A prompt that needs an answer when nobody can give one
fails at once, naming the command to run in a terminal. (Device-code logins, in aks and oidc,
are not prompts: they run without a terminal and may hold the lock for minutes.)
"""

from __future__ import annotations

import sys

from credplugin import log
from credplugin.errors import InteractionRequired

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Callable


class Prompter:
    def __init__(
        self, interactive: bool, terminal_command: Callable[[], str], *, from_client: bool = True
    ) -> None:
        self.interactive = interactive
        # Who said nobody can answer: kubectl (spec.interactive false) or a stdin that is
        # not a terminal when a person ran us by hand.
        self.from_client = from_client
        # Builds the command that does the same login by hand (secrets left out); lazily,
        # since only a failure needs it.
        self._terminal_command = terminal_command

    @property
    def terminal_command(self) -> str:
        return self._terminal_command()

    def tell(self, message: str) -> None:
        log.notice(message)

    def require_person(self, what: str) -> None:
        if not self.interactive:
            raise InteractionRequired(
                f"{what} needs a person, but "
                + (
                    "kubectl runs this plugin non-interactively"
                    if self.from_client
                    else "stdin is not a terminal"
                ),
                hint=f"run `{self.terminal_command}` in a terminal, then retry",
            )

    def ask(self, question: str, *, secret: bool = False) -> str:
        what = question.rstrip(": ")
        self.require_person(what)
        if secret:
            import getpass  # a prompt: a person is there, and a few ms do not matter

            try:
                return getpass.getpass(question, stream=sys.stderr)
            except EOFError:
                # stdin is not a terminal and ran out (a pipe, /dev/null): nobody can answer.
                raise InteractionRequired(
                    f"{what}: no answer (stdin closed)",
                    hint=f"run `{self.terminal_command}` in a terminal",
                ) from None
        sys.stderr.write(question)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise InteractionRequired(
                f"{what}: no answer (stdin closed)",
                hint=f"run `{self.terminal_command}` in a terminal",
            )
        return line.rstrip("\n")
