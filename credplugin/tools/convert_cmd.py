"""`credplugin kubeconfig convert`: rewrite other plugins' exec entries as credplugin's.

The conversion itself is credplugin.peers; this command reads the kubeconfig under kubectl's
lock, writes the result (in place, or to --output) atomically, and reports one line per user
on stderr, never a secret.
"""

from __future__ import annotations

import os
from typing import Any

import click

from credplugin import kubeconfig as kc
from credplugin import log, privatefile
from credplugin.errors import CredpluginError, os_reason
from credplugin.peers import Site
from credplugin.peers.document import Outcome, Result, convert_document
from credplugin.tools.clean_exit import fails_cleanly


@click.command(
    "convert",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    short_help="Rewrite other plugins' entries as credplugin entries.",
)
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="The kubeconfig to convert [default: the first file of $KUBECONFIG, else ~/.kube/config].",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME",
    help="Convert only this user entry (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the result to FILE (atomically, 0600) and leave the kubeconfig as it is.",
)
@click.option(
    "--command",
    default="credplugin",
    show_default=True,
    metavar="PATH",
    help="The exec command (e.g. an absolute path when credplugin is not on kubectl's PATH).",
)
@fails_cleanly
def convert(
    kubeconfig_path: str | None,
    users: tuple[str, ...],
    dry_run: bool,
    output: str | None,
    command: str,
) -> None:
    """Rewrite the user entries other credential plugins wrote as credplugin entries with the
    same meaning: aws eks get-token, aws-iam-authenticator, Azure kubelogin, int128 kubelogin
    (kubectl oidc-login), gke-gcloud-auth-plugin, and kubectl's removed auth-provider entries
    (gcp, oidc, azure).

    Everything else in the file stays as it is. An entry that cannot be expressed exactly (an
    unknown flag, a mode credplugin lacks) is left as it is, and the reason is reported. A
    secret the peer took as an argument moves to the entry's exec env. One line per user
    goes to stderr.
    """
    listed = kc.paths(os.environ)
    source = kubeconfig_path or listed[0]
    if not kubeconfig_path and len(listed) > 1:
        log.notice(f"converting {source}, the first file of $KUBECONFIG (--kubeconfig for others)")
    in_place = output is None or os.path.realpath(output) == os.path.realpath(source)
    target = source if in_place else str(output)
    site = Site(directory=os.path.dirname(os.path.realpath(target)), environ=os.environ)

    # Read (and, in place, write) under kubectl's lock: kubectl rewrites a kubeconfig in
    # place, and a read during its write would see half a file.
    with kc.locked(source):
        result = convert_document(_read(source), only=users, site=site, command=command)
        if in_place and not dry_run and result.converted:
            _write(source, result)
    if not in_place and not dry_run:
        with kc.locked(target):
            _write(target, result)

    for outcome in result.outcomes:
        log.notice(_line(outcome, dry_run))
    count = f"{len(result.converted)} of {len(result.outcomes)} user entries"
    if dry_run:
        log.notice(f"dry run: {count} of {source} would be converted; nothing was written")
    elif not in_place:
        log.notice(f"wrote {target}: {count} of {source} converted")
    elif result.converted:
        log.notice(f"rewrote {source}: {count} converted")
    else:
        log.notice(f"nothing to convert in {source}; it was not changed")


def _read(path: str) -> dict[str, Any]:
    doc = kc.read_document(path)
    if doc is None:
        raise CredpluginError(f"no kubeconfig at {path} (missing or empty)")
    return doc


def _write(path: str, result: Result) -> None:
    """The files the entries need first, then the kubeconfig that names them."""
    for file, data in result.files.items():
        try:
            os.makedirs(os.path.dirname(file), mode=0o700, exist_ok=True)
            privatefile.write(file, data)
        except OSError as exc:
            raise CredpluginError(f"cannot write {file}: {os_reason(exc)}") from None
    kc.write_atomically(path, kc.dump(result.document))


def _line(outcome: Outcome, dry_run: bool) -> str:
    if outcome.conversion is None:
        return f"left {outcome.user}: {outcome.reason}"
    notes = f" ({'; '.join(outcome.conversion.notes)})" if outcome.conversion.notes else ""
    if dry_run:
        return f"would convert {outcome.user}: {outcome.before} -> {outcome.after}{notes}"
    return f"converted {outcome.user}: {outcome.conversion.peer} -> {outcome.after}{notes}"
