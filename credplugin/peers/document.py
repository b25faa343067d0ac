"""A whole kubeconfig document: its peer user entries replaced by credplugin entries, one
outcome per user, and everything else kept as it was (clusters, contexts, other users,
preferences, extensions, and the other keys of a converted user)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credplugin import kubeconfig as kc
from credplugin.errors import CredpluginError, UsageError
from credplugin.peers import convert_user, secrets_left_in, shown_command
from credplugin.peers.model import Conversion, NotAPeer, Site, Unconvertible


@dataclass
class Outcome:
    """What happened to one user entry: converted, or left with a reason."""

    user: str
    before: str  # the entry's command line, secrets masked
    conversion: Conversion | None = None
    after: str = ""  # the credplugin command line
    reason: str = ""


@dataclass
class Result:
    document: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def converted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.conversion is not None]

    @property
    def files(self) -> dict[str, bytes]:
        """The files the converted entries need beside the kubeconfig (CA bundles)."""
        found: dict[str, bytes] = {}
        for outcome in self.outcomes:
            if outcome.conversion is not None:
                found.update(outcome.conversion.files)
        return found


def convert_document(
    doc: Mapping[str, Any], *, only: Sequence[str], site: Site, command: str
) -> Result:
    """`doc` with its peer user entries converted (only those named in `only`, if any)."""
    users = doc.get("users") or []
    if not isinstance(users, list):
        raise CredpluginError("not a kubeconfig: users is not a list")
    names = {item.get("name") for item in users if isinstance(item, dict)}
    missing = [name for name in only if name not in names]
    if missing:
        raise UsageError(f"no user {', '.join(map(repr, missing))} in the kubeconfig")
    result = Result(dict(doc))
    new_users: list[Any] = []
    for item in users:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or (only and name not in only):
            new_users.append(item)
            continue
        outcome, new_user = _convert_one(name, item.get("user"), site, command)
        result.outcomes.append(outcome)
        new_users.append(item if new_user is None else {**item, "user": new_user})
    if result.converted:
        result.document["users"] = new_users
    return result


def _convert_one(
    name: str, user: Any, site: Site, command: str
) -> tuple[Outcome, dict[str, Any] | None]:
    outcome = Outcome(name, shown_command(user))
    try:
        conversion = convert_user(user, site)
        outcome.after = conversion.command_line(command)
    except NotAPeer as exc:
        outcome.reason = exc.reason
        return outcome, None
    except Unconvertible as exc:
        outcome.reason = exc.reason
        kept = secrets_left_in(user)
        if kept:  # never silently: the secret stays in clear text in the file
            outcome.reason += f" (the entry keeps {', '.join(kept)} in clear text)"
        return outcome, None
    outcome.conversion = conversion
    # The user's other settings stay; exec (or auth-provider) becomes ours.
    new_user = {k: v for k, v in user.items() if k not in ("exec", "auth-provider")}
    entry = kc.Entry(
        name=name,
        server="",  # exec_user builds only the user's exec block: no server is needed
        provider=conversion.provider,
        args=conversion.args,
        env=conversion.env,
    )
    new_user.update(kc.exec_user(entry, command))
    return outcome, new_user
