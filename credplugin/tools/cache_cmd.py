"""`credplugin cache list | clear`: what is cached, for whom, until when; and removing it."""

from __future__ import annotations

import os
import time

import click

from credplugin import execinfo, tokenstore
from credplugin.cache import CacheStore, default_dir
from credplugin.tools.durations import duration, relative
from credplugin.tools.group import Group

CACHE_DIR = click.option(
    "--cache-dir",
    metavar="DIR",
    help="Cache directory [default: $CREDPLUGIN_CACHE_DIR, $KUBECACHEDIR/credplugin, "
    "~/.kube/cache/credplugin].",
)


def _store(cache_dir: str | None) -> CacheStore:
    return CacheStore(cache_dir or default_dir(os.environ))


def expires_in(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return "never"
    left = expires_at - now
    return relative(left) if left > 0 else f"expired {duration(-left)} ago"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def cache() -> None:
    """List or clear cached credentials."""


@cache.command("list")
@CACHE_DIR
def list_entries(cache_dir: str | None) -> None:
    """One line per entry: key, provider, what it is for, who, where its refresh token is
    (keyring, file, or - for none), when it expires.

    Never prints a token, refresh token or secret option."""
    store = _store(cache_dir)
    now = time.time()
    rows: list[tuple[str, ...]] = []
    for key in store.entry_keys():
        entry, why = store.read(key)
        if entry is None:
            rows.append((key[:12], "?", f"unusable ({why})", "", "", ""))
            continue
        summary = " ".join(f"{k}={_show(v)}" for k, v in sorted(entry.summary.items()))
        rows.append(
            (
                key[:12],
                entry.provider,
                summary or "-",
                entry.credential.identity or "-",
                tokenstore.where(entry),
                expires_in(entry.credential.expires_at, now),
            )
        )
    if not rows:
        click.echo(f"no cached credentials in {store.directory}", err=True)
        return
    # SECRETS: where the refresh material is (keyring, file, or - when there is none).
    header = ("KEY", "PROVIDER", "FOR", "IDENTITY", "SECRETS", "EXPIRES")
    last = len(header) - 1
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(last)]
    for row in [header, *rows]:
        click.echo("  ".join(row[i].ljust(widths[i]) for i in range(last)) + "  " + row[last])


def _show(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


@cache.command("clear", short_help="Remove cached credentials, their locks and back-off records.")
@CACHE_DIR
@click.option(
    "--all", "everything", is_flag=True, help="Remove every entry, lock and back-off record."
)
@click.option("--provider", metavar="NAME", help="Remove the entries of one provider.")
@click.argument("keys", metavar="[KEY-PREFIX]...", nargs=-1)
def clear(
    cache_dir: str | None, everything: bool, provider: str | None, keys: tuple[str, ...]
) -> None:
    """Remove cached credentials by key prefix (as `cache list` shows), by provider, or all
    of them, with their lock files and back-off records. The next kubectl call fetches or
    logs in anew. A lock another process holds right now is left, and said so.

    An entry whose refresh token is in the OS keyring loses its keyring item too.

    \b
    Exit codes:
      0  removed what was asked
      1  an entry was left: the keyring holding its refresh token did not answer
      2  usage: nothing to clear was named, or a KEY-PREFIX matches no entry or several
    """
    if not (everything or provider or keys):
        raise click.UsageError("say what to clear: KEY-PREFIX..., --provider NAME or --all")
    store = _store(cache_dir)
    entry_keys = list(store.entry_keys())
    chosen: set[str] = set()
    if everything:
        # Locks and back-offs left without an entry (a failed fetch, a cleared entry) too.
        chosen.update(store.all_keys())
    if provider:
        from credplugin.providers import lookup

        known = lookup(provider)
        name = known.name if known else provider
        for key in entry_keys:
            entry, _ = store.read(key)
            if entry is not None and entry.provider == name:
                chosen.add(key)
    for prefix in keys:
        matches = [k for k in entry_keys if k.startswith(prefix)]
        if not matches:
            raise click.UsageError(f"no entry matches {prefix!r} (see `credplugin cache list`)")
        if len(matches) > 1:
            raise click.UsageError(
                f"{prefix!r} matches {len(matches)} entries; give more of the key"
            )
        chosen.add(matches[0])
    removed = 0
    kept_for_keyring = 0
    # One keyring for the command: after it fails once, the other entries are not waited on.
    keyring = tokenstore.Keyring(
        os.environ, interactive=execinfo.stdin_is_tty(), bound=tokenstore.KEYRING_SECONDS
    )
    for key in sorted(chosen):
        entry, _ = store.read(key)
        try:
            # The item first: without the entry, nothing would say that it exists.
            keyring_item = entry is not None and tokenstore.in_keyring(entry)
            if keyring_item or (entry is None and key in entry_keys):
                keyring.delete(key)  # an unreadable entry's item too, where one may be
        except tokenstore.KeyringUnusable as exc:
            if keyring_item:
                click.echo(
                    f"left {key[:12]}: its refresh token is in the keyring, which did not "
                    f"answer ({exc}); run this again when it does",
                    err=True,
                )
                kept_for_keyring += 1
                continue
        removed += store.remove(key)
        store.clear_backoff(key)
        if not store.remove_lock(key):
            click.echo(
                f"left the lock of {key[:12]}: another credplugin process holds it now", err=True
            )
    if everything:
        try:
            # Items whose entries are gone (a deleted cache directory): all of credplugin's.
            swept = keyring.delete_all()
        except tokenstore.KeyringUnusable:
            swept = None
        if swept:
            click.echo(f"removed {swept} more keyring item(s) of credplugin", err=True)
    click.echo(f"removed {removed} cached credential(s) from {store.directory}", err=True)
    if kept_for_keyring:
        raise SystemExit(1)
