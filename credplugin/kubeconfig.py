"""Kubeconfig files: entries that run credplugin, merged into documents, and the files
themselves, read and written the way kubectl does.

    Entry           one cluster, user and context of the same name
    merge()         Entries -> a kubeconfig document, alone or merged into another
    read_document() one file; load() the merged view of several, as kubectl merges them
    update_file()   read, change and write a kubeconfig under kubectl's own lock file,
                    atomically, 0600

Not on the exec path: only the tools import this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from credplugin import privatefile, providers
from credplugin.errors import CredpluginError, UsageError, os_reason

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
# No release is published yet: a package of that name on a registry is not ours.
INSTALL_HINT = (
    "credplugin is not installed or not on PATH: install it from its repository "
    "(`pipx install .` in a clone), or write this entry again with "
    "`credplugin kubeconfig ... --command /path/to/credplugin`."
)
LOCK_WAIT_SECONDS = 10.0


@dataclass
class Entry:
    """One cluster, user and context of the same name."""

    name: str
    server: str
    provider: str | None  # canonical subcommand; None: a user with no credentials at all
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ca_data: str | None = None
    ca_file: str | None = None
    insecure: bool = False


# -- kubeconfig documents --------------------------------------------------------------------


def exec_user(entry: Entry, command: str) -> dict[str, Any]:
    """The `user` of an entry: an exec block running credplugin, or nothing at all."""
    if entry.provider is None:
        return {}
    provider = providers.lookup(entry.provider)
    if provider is None:
        raise UsageError(f"unknown provider {entry.provider!r}")
    block: dict[str, Any] = {
        "apiVersion": EXEC_API_VERSION,
        "command": command,
        "args": [provider.name, *entry.args],
    }
    if entry.env:
        block["env"] = [{"name": k, "value": v} for k, v in entry.env.items()]
    # A person can answer a login only for client-side providers; the others must never wait.
    block["interactiveMode"] = "IfAvailable" if provider.side == "client" else "Never"
    block["provideClusterInfo"] = True
    block["installHint"] = INSTALL_HINT
    return {"exec": block}


def cluster_block(entry: Entry) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": entry.server}
    if entry.insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif entry.ca_file:
        cluster["certificate-authority"] = entry.ca_file
    elif entry.ca_data:
        cluster["certificate-authority-data"] = entry.ca_data
    return cluster


def empty_document() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "contexts": [],
        "users": [],
        "current-context": "",
    }


def merge(
    existing: Mapping[str, Any] | None,
    entries: Sequence[Entry],
    command: str,
    *,
    current: str | None = None,
) -> dict[str, Any]:
    """`existing` with these entries' clusters, users and contexts added or replaced by name.

    Everything else is kept. current-context becomes `current` if given, else the first
    entry when it was unset, else it stays."""
    doc: dict[str, Any] = dict(existing or {})
    if not doc:
        doc = empty_document()
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    for entry in entries:
        _upsert(doc, "clusters", entry.name, "cluster", cluster_block(entry))
        _upsert(doc, "users", entry.name, "user", exec_user(entry, command))
        _upsert(doc, "contexts", entry.name, "context", {"cluster": entry.name, "user": entry.name})
    if current:
        doc["current-context"] = current
    elif not doc.get("current-context") and entries:
        doc["current-context"] = entries[0].name
    return doc


def _upsert(doc: dict[str, Any], section: str, name: str, key: str, value: Any) -> None:
    items = doc.get(section)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise CredpluginError(f"not a kubeconfig: {section} is not a list")
    item = {"name": name, key: value}
    kept: list[Any] = []
    placed = False
    for existing in items:
        if isinstance(existing, dict) and existing.get("name") == name:
            if not placed:
                kept.append(item)  # replaced where it was, so the file's order stays
                placed = True
        else:
            kept.append(existing)
    if not placed:
        kept.append(item)
    doc[section] = kept


def dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=1 << 30)


# -- files -----------------------------------------------------------------------------------


def paths(environ: Mapping[str, str]) -> list[str]:
    """kubectl's kubeconfig files: those listed in $KUBECONFIG, else ~/.kube/config."""
    listed = environ.get("KUBECONFIG", "").split(os.pathsep)
    found = [os.path.expanduser(path) for path in listed if path]
    home = environ.get("HOME") or os.path.expanduser("~")
    return found or [os.path.join(home, ".kube", "config")]


def default_path(environ: Mapping[str, str]) -> str:
    """kubectl's file to write: the first of `paths`."""
    return paths(environ)[0]


def read_document(path: str) -> dict[str, Any] | None:
    """An existing kubeconfig, or None when there is none (missing or empty)."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredpluginError(f"cannot read {path}: {os_reason(exc)}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CredpluginError(
            f"{path} is not a valid kubeconfig: {_first_line(exc)}",
            hint="fix or move it; nothing was changed",
        ) from None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise CredpluginError(
            f"{path} is not a kubeconfig (not a mapping)", hint="nothing was changed"
        )
    return doc


SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


def load(paths: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """The named clusters, users and contexts of several files, as kubectl merges them: the
    first occurrence of a name wins. Each body remembers the file it came from (`_file`),
    against which a relative path in it resolves."""
    merged: dict[str, dict[str, dict[str, Any]]] = {name: {} for name, _ in SECTIONS}
    for path in paths:
        doc = read_document(path) or {}
        for section, inner in SECTIONS:
            items = doc.get(section) or []
            if not isinstance(items, list):
                raise CredpluginError(f"kubeconfig {path}: {section} is not a list")
            for item in items:
                if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
                    continue
                body = item.get(inner) or {}
                if not isinstance(body, dict):
                    raise CredpluginError(
                        f"kubeconfig {path}: {section} entry {item['name']!r} is not a mapping"
                    )
                merged[section].setdefault(item["name"], {**body, "_file": path})
    return merged


def write_atomically(path: str, text: str) -> None:
    """Replace `path` (through symlinks, at their target) with `text`, mode 0600."""
    final = os.path.realpath(path)
    try:
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        privatefile.write(final, text.encode("utf-8"))
    except OSError as exc:
        raise CredpluginError(f"cannot write {path}: {os_reason(exc)}") from None


@contextmanager
def locked(path: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """kubectl's own lock while it changes a kubeconfig: `<file>.lock`, created exclusively."""
    lock = os.path.realpath(path) + ".lock"
    deadline = time.monotonic() + wait
    while True:
        try:
            os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise CredpluginError(
                    f"{lock} exists: another kubectl or credplugin is changing {path}",
                    hint="retry; delete the lock file if no such process is running",
                ) from None
            time.sleep(0.05)
        except OSError as exc:
            raise CredpluginError(f"cannot lock {path}: {os_reason(exc)}") from None
    try:
        yield
    finally:
        os.close(fd)
        try:
            os.unlink(lock)
        except OSError:
            pass


def update_file(path: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
    """Read the kubeconfig at `path`, apply `change`, write the result atomically, all under
    the lock kubectl takes, so that neither loses the other's edit."""
    with locked(path):
        write_atomically(path, dump(change(read_document(path))))


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
