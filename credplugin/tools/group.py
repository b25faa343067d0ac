"""A click group whose command list shows every summary whole.

click cuts each summary at the terminal width less the longest command name, ending it in
"...": a person reading `credplugin cache --help` saw half a sentence.
"""

from __future__ import annotations

import click


class Group(click.Group):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            summary = command.short_help or (command.help or "").split("\n\n")[0]
            rows.append((name, " ".join(summary.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
