"""`credplugin kubeconfig convert`: rewrite other plugins' exec entries as credplugin's."""

from __future__ import annotations

import click


@click.command("convert", context_settings={"help_option_names": ["-h", "--help"]})
def convert() -> None:
    """Rewrite the exec entries other plugins wrote (not built yet)."""
    raise click.ClickException("kubeconfig convert is not built yet")
