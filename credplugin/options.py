"""Provider options, declared once and parsed without click.

Every provider declares its options as a tuple of `Option`. The same declarations build the
click command (help, usage errors) and feed `parse_argv`, the small parser the hot path uses:
importing click costs more than starting Python, and a cache hit must not pay for it.

Values resolve with the precedence the exec protocol needs, so that one kubeconfig user entry
can serve many clusters: command line > cluster config (`spec.cluster.config`) > environment
variable > default.

The cluster config is the cluster entry's `client.authentication.k8s.io/exec` extension, and a
cluster entry is often handed out by the cluster's owner, while the user entry (args, env) is
the user's own. So each option says who may set it (`cluster`):

    ALLOWED   the cluster entry may: the value addresses the cluster (the EKS cluster name,
              its region), and can neither widen what the token grants nor send a secret
              elsewhere;
    OPT_IN    the user entry only, unless it names the option in --allow-cluster-option (a
              user who shares one user entry across clusters of one owner): anything that
              decides whose credential is issued (identity, role, account, tenant, issuer,
              client, audience, scope, impersonation, grant, request parameters);
    NEVER     the user entry only, always: a local file, program or variable, an endpoint
              that receives credentials, or how credplugin itself runs (cache, logging).

A value the cluster entry may not set is ignored with a warning; the user's own value, if
any, is used.
"""

from __future__ import annotations

from credplugin.errors import UsageError

# typing, dataclasses and pathlib are kept off this module: it is on the hot path, and
# together they cost about as much as starting the interpreter.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, Literal

    OptionType = Literal["str", "int", "float", "flag", "choice", "count"]


ALLOWED = "allowed"
OPT_IN = "opt-in"
NEVER = "never"


class Option:
    """One command-line option: `--name VALUE` (or a flag), plus any alias spellings."""

    __slots__ = (
        "aliases",
        "choices",
        "cluster",
        "default",
        "envvar",
        "help",
        "hidden",
        "identity",
        "metavar",
        "multiple",
        "name",
        "names",
        "required",
        "secret",
        "type",
    )

    def __init__(
        self,
        name: str,
        help: str,
        *,
        type: OptionType = "str",
        aliases: tuple[str, ...] = (),
        choices: tuple[str, ...] = (),
        multiple: bool = False,
        default: Any = None,
        metavar: str | None = None,
        envvar: str | None = None,
        identity: bool = True,
        secret: bool = False,
        hidden: bool = False,
        cluster: str = "opt-in",
        required: bool = False,
        names: str | None = None,
    ) -> None:
        self.name = name
        self.help = help
        self.type: OptionType = type
        self.aliases = aliases
        self.choices = choices
        self.multiple = multiple
        self.default = default
        self.metavar = metavar
        self.envvar = envvar
        # Part of the cache key: two invocations that differ here must never share a token.
        self.identity = identity
        # Never echoed back (login hints, logs, cache summaries).
        self.secret = secret
        self.hidden = hidden
        # The provider cannot work without a value (from any source): doctor and --help say
        # so, and the fetch refuses with a usage error naming it.
        self.required = required
        # What the value names on this machine, for doctor to check without using it:
        # "file" (exists, readable), "program" (on PATH), "variable" (set).
        self.names = names
        # Whether a cluster's exec extension may set it: ALLOWED, OPT_IN or NEVER (above).
        if cluster not in (ALLOWED, OPT_IN, NEVER):
            raise ValueError(f"--{name}: cluster={cluster!r}")
        self.cluster = cluster

    def __repr__(self) -> str:
        return f"Option({self.name!r})"

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return "--" + self.name

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.flag, *self.aliases)

    @property
    def takes_value(self) -> bool:
        return self.type not in ("flag", "count")

    def convert(self, raw: Any, source: str) -> Any:
        """One raw value (a string from argv or env, or JSON from cluster config), typed."""
        try:
            if self.type == "flag":
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(raw)
            if self.type in ("int", "count"):
                # JSON from cluster config: 3 and 3.0 are integers, 2.5 and true are not.
                if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                    raise ValueError(raw)
                return int(raw)
            if self.type == "float":
                if isinstance(raw, bool):
                    raise ValueError(raw)
                return float(raw)
            if isinstance(raw, (dict, list)) or raw is None:
                raise ValueError(raw)
            text = raw if isinstance(raw, str) else _json_scalar_text(raw)
            if self.type == "choice" and text not in self.choices:
                shown = "***" if self.secret else repr(text)
                raise UsageError(
                    f"invalid value for {self.flag} (from {source}): {shown} is not one of "
                    + ", ".join(repr(c) for c in self.choices)
                )
            return text
        except (TypeError, ValueError, OverflowError):
            shown = "***" if self.secret else repr(raw)
            raise UsageError(
                f"invalid value for {self.flag} (from {source}): {shown} is not a valid {self.type}"
            ) from None


def _json_scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Options every provider subcommand takes. Only the hidden --server changes which credential
# is issued: it is hashed into the cache key. None may come from a cluster entry.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option(
        "cache-dir",
        "Cache directory [default: $CREDPLUGIN_CACHE_DIR, $KUBECACHEDIR/credplugin, "
        "~/.kube/cache/credplugin].",
        metavar="DIR",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "no-cache",
        "Neither read nor write the token cache.",
        type="flag",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "force-refresh",
        "Fetch a new credential even if the cached one is still fresh.",
        type="flag",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "refresh-margin",
        "Refresh a cached token this many seconds before it expires (at most half its lifetime).",
        type="float",
        default=300.0,
        metavar="SECONDS",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "api-version",
        "ExecCredential apiVersion when KUBERNETES_EXEC_INFO is absent.",
        type="choice",
        choices=("v1", "v1beta1"),
        metavar="v1|v1beta1",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "token-store",
        "Where refresh tokens and other long-lived secrets go: the OS keyring, the 0600 cache "
        "file, or auto (the keyring when it answers, else the file). A cache hit never needs "
        "the keyring.",
        type="choice",
        choices=("auto", "keyring", "file"),
        default="auto",
        metavar="auto|keyring|file",
        envvar="CREDPLUGIN_TOKEN_STORE",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "timeout",
        "Timeout for every network call.",
        type="float",
        default=30.0,
        metavar="SECONDS",
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "server",
        "Cluster server URL for the cache key when KUBERNETES_EXEC_INFO carries none "
        "(to log in by hand for a kubeconfig that sets provideClusterInfo).",
        metavar="URL",
        identity=False,
        cluster=NEVER,
        hidden=True,
    ),
    Option(
        "verbose",
        "Log to stderr; repeat for more detail.",
        type="count",
        aliases=("-v",),
        default=0,
        identity=False,
        cluster=NEVER,
    ),
    Option(
        "allow-cluster-option",
        "Let the cluster's exec extension set this option, which only the user entry may "
        "set otherwise (repeatable, or comma-separated): for a user entry shared by clusters "
        "you trust to choose it.",
        multiple=True,
        metavar="NAME",
        envvar="CREDPLUGIN_ALLOW_CLUSTER_OPTIONS",
        identity=False,
        cluster=NEVER,
    ),
)


def _index(options: Iterable[Option]) -> dict[str, Option]:
    table: dict[str, Option] = {}
    for opt in options:
        for spelling in opt.spellings:
            table[spelling] = opt
    return table


def parse_argv(options: Sequence[Option], argv: Sequence[str]) -> dict[str, Any]:
    """Parse `argv` (the tokens after the subcommand) the way click would for these options.

    Accepts `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`, flags, counted `-vvv`, and
    clusters of short options (`-vi NAME`). As in click, the last of a repeated option wins
    and only it is converted. Returns the typed values given, by dest. Raises UsageError on
    anything else; the caller then lets click report it with full usage.
    """
    table = _index(options)
    values: dict[str, Any] = {}
    last: dict[str, tuple[Option, str]] = {}

    def take(opt: Option, raw: str) -> None:
        if opt.multiple:
            values.setdefault(opt.dest, []).append(opt.convert(raw, "the command line"))
        else:
            last[opt.dest] = (opt, raw)

    def switch(opt: Option) -> None:
        values[opt.dest] = values.get(opt.dest, 0) + 1 if opt.type == "count" else True

    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--" or not word.startswith("-") or word == "-":
            raise UsageError(f"unexpected argument {word!r}")
        if word.startswith("--"):
            name, eq, inline = word.partition("=")
            opt = table.get(name)
            if opt is None:
                raise UsageError(f"no such option: {name}")
            if not opt.takes_value:
                if eq:
                    raise UsageError(f"option {name} does not take a value")
                switch(opt)
            elif eq:
                take(opt, inline)
            elif i < len(argv):
                take(opt, argv[i])
                i += 1
            else:
                raise UsageError(f"option {name} requires an argument")
            continue
        # Short options: -x, -xVALUE, or a cluster such as -vvi NAME.
        j = 1
        while j < len(word):
            name = "-" + word[j]
            opt = table.get(name)
            if opt is None:
                raise UsageError(f"no such option: {name}")
            j += 1
            if not opt.takes_value:
                switch(opt)
                continue
            if j < len(word):
                take(opt, word[j:])
            elif i < len(argv):
                take(opt, argv[i])
                i += 1
            else:
                raise UsageError(f"option {name} requires an argument")
            break
    for dest, (opt, raw) in last.items():
        values[dest] = opt.convert(raw, "the command line")
    return values


class Refused:
    """A cluster config key that was ignored, and why."""

    __slots__ = ("option", "why")

    def __init__(self, option: Option, why: str) -> None:
        self.option = option
        self.why = why


def resolve(
    options: Sequence[Option],
    command_line: Mapping[str, Any],
    cluster_config: Mapping[str, Any],
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str], list[Refused]]:
    """Apply the precedence and the cluster entry's limits. Returns the values by dest, where
    each value came from, and the cluster config keys that were refused."""
    allowed = _allowed_from_cluster(options, command_line, environ)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    refused: list[Refused] = []
    for opt in options:
        dest = opt.dest
        from_cluster = cluster_config.get(opt.name)
        if from_cluster is not None and opt.cluster != ALLOWED and opt.name not in allowed:
            refused.append(Refused(opt, _why_refused(opt)))
            from_cluster = None
        if dest in command_line:
            values[dest], sources[dest] = command_line[dest], "command line"
        elif from_cluster is not None:
            values[dest] = _convert_config(opt, from_cluster)
            sources[dest] = "cluster config"
        elif opt.envvar and environ.get(opt.envvar):
            raw = environ[opt.envvar]
            source = f"${opt.envvar}"
            values[dest] = [opt.convert(raw, source)] if opt.multiple else opt.convert(raw, source)
            sources[dest] = source
        else:
            default = opt.default
            values[dest] = list(default or ()) if opt.multiple else default
            sources[dest] = "default"
    return values, sources, refused


def _allowed_from_cluster(
    options: Sequence[Option], command_line: Mapping[str, Any], environ: Mapping[str, str]
) -> set[str]:
    """The names the user entry lets the cluster entry set (--allow-cluster-option), checked:
    only OPT_IN options of this provider may be named."""
    given = command_line.get("allow_cluster_option")
    if given is None:
        given = [environ.get("CREDPLUGIN_ALLOW_CLUSTER_OPTIONS") or ""]
    names = {name.strip() for item in given for name in str(item).split(",") if name.strip()}
    by_name = {opt.name: opt for opt in options}
    for name in sorted(names):
        opt = by_name.get(name.removeprefix("--"))
        if opt is None:
            raise UsageError(f"--allow-cluster-option {name}: there is no option --{name} here")
        if opt.cluster == NEVER:
            raise UsageError(
                f"--allow-cluster-option {name}: a cluster entry may never set {opt.flag} "
                f"({_why_refused(opt)})"
            )
    return {name.removeprefix("--") for name in names}


def _why_refused(opt: Option) -> str:
    if opt.cluster == NEVER:
        return (
            "it names a local file, program or variable, an endpoint that receives "
            "credentials, or how credplugin runs"
        )
    return "it decides whose credential is issued"


def _convert_config(opt: Option, raw: Any) -> Any:
    source = f"cluster config key {opt.name!r}"
    if opt.multiple:
        items = raw if isinstance(raw, list) else [raw]
        return [opt.convert(item, source) for item in items]
    return opt.convert(raw, source)
