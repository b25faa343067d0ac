"""Option declarations: the hot-path argv parser, its agreement with click, and resolve()."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import pytest
from click.core import ParameterSource
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credplugin import providers
from credplugin.cli import click_option, provider_command
from credplugin.errors import UsageError
from credplugin.options import ALLOWED, COMMON_OPTIONS, NEVER, OPT_IN, Option, parse_argv, resolve

# The cluster entry may set these: resolve's conversion of cluster config is tested on them.
NAME = Option("name", "A string.", aliases=("-n",), cluster=ALLOWED)
FORCE = Option("force", "A flag.", type="flag", aliases=("-f",), cluster=ALLOWED)
RETRIES = Option("retries", "An int.", type="int", cluster=ALLOWED)
RATIO = Option("ratio", "A float.", type="float", cluster=ALLOWED)
MODE = Option("mode", "A choice.", type="choice", choices=("fast", "slow"), cluster=ALLOWED)
SCOPE = Option("scope", "Repeatable.", multiple=True, aliases=("-s",), cluster=ALLOWED)
LEVEL = Option("level", "Repeatable int.", type="int", multiple=True, cluster=ALLOWED)
VERBOSE = Option("verbose", "Counted.", type="count", aliases=("-v",), default=0)
OPTS = (NAME, FORCE, RETRIES, RATIO, MODE, SCOPE, LEVEL, VERBOSE)

SECRET_VALUE = "hunter2-s3cr3t"


def parse(*argv: str) -> dict[str, Any]:
    return parse_argv(OPTS, argv)


# -- parse_argv: accepted forms ----------------------------------------------------------------


def test_nothing_given_parses_to_nothing() -> None:
    assert parse() == {}
    assert parse_argv(COMMON_OPTIONS, []) == {}


def test_long_option_takes_the_next_word_as_its_value() -> None:
    assert parse("--name", "alice") == {"name": "alice"}


def test_long_option_takes_an_inline_value_after_equals() -> None:
    assert parse("--name=alice") == {"name": "alice"}
    assert parse("--name=a=b") == {"name": "a=b"}
    assert parse("--name=") == {"name": ""}


def test_the_next_word_is_the_value_even_when_it_looks_like_an_option() -> None:
    assert parse("--name", "--force") == {"name": "--force"}
    assert parse("--name", "-") == {"name": "-"}
    assert parse_argv(COMMON_OPTIONS, ["--cache-dir", "-v"]) == {"cache_dir": "-v"}


def test_short_alias_takes_a_separate_or_attached_value() -> None:
    assert parse("-n", "bob") == {"name": "bob"}
    assert parse("-nbob") == {"name": "bob"}
    assert parse("-n=bob") == {"name": "=bob"}  # as click reads it


def test_flag_is_true_when_given_by_name_or_alias_and_absent_otherwise() -> None:
    assert parse("--force") == {"force": True}
    assert parse("-f") == {"force": True}
    assert parse("--force", "--force") == {"force": True}
    assert parse_argv(COMMON_OPTIONS, ["--no-cache", "--force-refresh"]) == {
        "no_cache": True,
        "force_refresh": True,
    }


@pytest.mark.parametrize(
    ("argv", "count"),
    [
        (["-v"], 1),
        (["-vvv"], 3),
        (["-v", "-v"], 2),
        (["--verbose"], 1),
        (["--verbose", "-vv"], 3),
        (["-vv", "--verbose", "-v"], 4),
    ],
)
def test_count_option_adds_up_every_occurrence(argv: list[str], count: int) -> None:
    assert parse_argv(COMMON_OPTIONS, argv) == {"verbose": count}
    assert isinstance(parse_argv(COMMON_OPTIONS, argv)["verbose"], int)


def test_common_options_parse_to_typed_values() -> None:
    argv = [
        "--cache-dir=/tmp/c",
        "--refresh-margin",
        "60",
        "--api-version",
        "v1",
        "--timeout=2.5",
        "--server",
        "https://k:6443",
        "-vv",
    ]
    assert parse_argv(COMMON_OPTIONS, argv) == {
        "cache_dir": "/tmp/c",
        "refresh_margin": 60.0,
        "api_version": "v1",
        "timeout": 2.5,
        "server": "https://k:6443",
        "verbose": 2,
    }
    assert isinstance(parse_argv(COMMON_OPTIONS, argv)["refresh_margin"], float)


def test_int_float_and_choice_values_are_converted() -> None:
    values = parse("--retries", "3", "--ratio", "1", "--mode", "slow")
    assert values == {"retries": 3, "ratio": 1.0, "mode": "slow"}
    assert type(values["retries"]) is int
    assert type(values["ratio"]) is float
    assert parse("--retries=-2", "--ratio=-0.5e1") == {"retries": -2, "ratio": -5.0}


def test_a_non_repeatable_option_given_twice_keeps_the_last_value() -> None:
    assert parse("--name", "a", "-n", "b") == {"name": "b"}
    assert parse("--retries", "1", "--retries=2") == {"retries": 2}


def test_multiple_options_accumulate_in_order() -> None:
    assert parse("--scope", "a", "-s", "b", "--scope=c", "-sd") == {"scope": ["a", "b", "c", "d"]}
    assert parse("--level", "1", "--level=2") == {"level": [1, 2]}
    assert parse("--scope", "only") == {"scope": ["only"]}


# -- parse_argv: rejected forms ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--no-cache=x"], "option --no-cache does not take a value"),
        (["--no-cache="], "option --no-cache does not take a value"),
        (["--verbose=2"], "option --verbose does not take a value"),
        (["--timeout"], "option --timeout requires an argument"),
        (["-v", "--cache-dir"], "option --cache-dir requires an argument"),
        (["--nope"], "no such option: --nope"),
        (["--nope=1"], "no such option: --nope"),
        (["--verb"], "no such option: --verb"),  # no abbreviations (click has none)
        (["---verbose"], "no such option"),
        (["-x"], "no such option: -x"),
        (["-vx"], "no such option"),
        (["-v=1"], "no such option"),
        (["-verbose"], "no such option"),
        (["positional"], "unexpected argument 'positional'"),
        (["--no-cache", "extra"], "unexpected argument 'extra'"),
        ([""], "unexpected argument ''"),
        (["-"], "unexpected argument '-'"),
        (["--"], "unexpected argument '--'"),
        (["--", "--no-cache"], "unexpected argument '--'"),
    ],
)
def test_parse_argv_rejects_with_a_usage_error(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_argv(COMMON_OPTIONS, argv)
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--retries", "3.5"], ["--retries", "'3.5'", "int"]),
        (["--retries=abc"], ["--retries", "'abc'", "int"]),
        (["--retries", ""], ["--retries", "int"]),
        (["--ratio", "fast"], ["--ratio", "'fast'", "float"]),
        (["--ratio="], ["--ratio", "float"]),
        (["--mode", "medium"], ["--mode", "'medium'", "'fast'", "'slow'"]),
        (["--mode", "FAST"], ["--mode", "'FAST'"]),  # case-sensitive, like click
        (["--level", "1", "--level", "x"], ["--level", "'x'", "int"]),
    ],
)
def test_a_value_that_does_not_convert_is_a_usage_error_naming_the_option(
    argv: list[str], names: list[str]
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_argv(OPTS, argv)
    message = str(caught.value)
    assert "the command line" in message
    for name in names:
        assert name in message


SECRET_OPTIONS = [
    pytest.param(Option("pin", "h", type="int", secret=True, cluster=ALLOWED), id="int"),
    pytest.param(Option("weight", "h", type="float", secret=True, cluster=ALLOWED), id="float"),
    pytest.param(Option("enabled", "h", type="flag", secret=True, cluster=ALLOWED), id="flag"),
    pytest.param(
        Option("kind", "h", type="choice", choices=("a", "b"), secret=True, cluster=ALLOWED),
        id="choice",
    ),
]


@pytest.mark.parametrize("opt", SECRET_OPTIONS)
def test_a_secret_options_value_never_appears_in_its_error_message(opt: Option) -> None:
    with pytest.raises(UsageError) as from_argv:
        if opt.takes_value:
            parse_argv((opt,), [f"{opt.flag}={SECRET_VALUE}"])
        else:  # a flag takes no value on the command line: convert as env or config would
            opt.convert(SECRET_VALUE, "the command line")
    with pytest.raises(UsageError) as from_config:
        resolve((opt,), {}, {opt.name: SECRET_VALUE}, {})
    for caught in (from_argv, from_config):
        message = str(caught.value)
        assert opt.flag in message
        assert SECRET_VALUE not in message
        assert "s3cr3t" not in message


def test_a_non_secret_options_value_is_shown_in_its_error_message() -> None:
    with pytest.raises(UsageError, match="'not-a-number'"):
        parse("--retries", "not-a-number")


# -- parse_argv and click agree ----------------------------------------------------------------


HELP = {"<click shows help>": True}


def click_params(command: click.Command, argv: Sequence[str]) -> dict[str, Any] | None:
    """What click takes from the command line (None when it rejects argv; HELP when a help
    flag hides in a cluster of short options, such as -vh)."""
    try:
        ctx = command.make_context(command.name or "x", list(argv))
    except click.exceptions.UsageError:
        return None
    except click.exceptions.Exit:
        return HELP
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in ctx.params.items()
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }


def our_params(options: Sequence[Option], argv: Sequence[str]) -> dict[str, Any] | None:
    try:
        return parse_argv(options, argv)
    except UsageError:
        return None


def comparable(values: dict[str, Any] | None) -> dict[str, str] | None:
    """Exact types (1 is not 1.0 is not True), NaN equal to itself, key order ignored."""
    return None if values is None else {k: repr(v) for k, v in values.items()}


def provider_options_and_command(name: str) -> tuple[tuple[Option, ...], click.Command]:
    provider = providers.lookup(name)
    assert provider is not None
    return provider.options + COMMON_OPTIONS, provider_command(provider)


def typed_value(opt: Option) -> st.SearchStrategy[str]:
    """Values the option's type accepts, as they would be typed."""
    if opt.type == "choice":
        return st.sampled_from(opt.choices)
    if opt.type == "int":
        return st.integers().map(str)
    if opt.type == "float":
        return st.floats().map(repr) | st.integers().map(str)
    return st.text(max_size=5)


def well_formed(opt: Option) -> st.SearchStrategy[list[str]]:
    spellings = st.sampled_from(opt.spellings)
    if not opt.takes_value:
        return st.lists(spellings, min_size=1, max_size=2)
    return st.builds(lambda s, v: [s, v], spellings, typed_value(opt)) | st.builds(
        lambda v: [f"{opt.flag}={v}"], typed_value(opt)
    )


def argv_strategy(options: Sequence[Option]) -> st.SearchStrategy[list[str]]:
    """Mostly well-formed option uses, mixed with near misses and noise."""
    spellings = sorted({s for o in options for s in o.spellings})
    shorts = [s for s in spellings if not s.startswith("--")]
    choices = sorted({c for o in options for c in o.choices})
    values = st.one_of(
        st.sampled_from(
            [
                *("1", "-1", "2.5", " 7 ", "1e3", "nan", "inf", "0x10", "", "true", "x y", "é"),
                *choices,
                *spellings,
            ]
        ),
        st.text(max_size=5),
    )
    noise = [
        st.sampled_from(spellings),
        st.builds("{}={}".format, st.sampled_from(spellings), values),
        values,
        st.sampled_from(["-", "-x", "--nope", "---v", "-vvv", "-vv", "-v=1", "-vx", "-vvx", "--"]),
    ]
    if shorts:
        noise.append(st.builds("{}{}".format, st.sampled_from(shorts), values))
        # Clusters such as -vi or -vvs: click reads several short options from one word.
        letters = st.sampled_from([s[1:] for s in shorts])
        noise.append(st.builds("-{}{}".format, letters, st.text(letters, max_size=2)))
    good = st.one_of([well_formed(o) for o in options])
    chunk = st.one_of(good, good, good, st.one_of(noise).map(lambda word: [word]))
    return st.lists(chunk, max_size=5).map(lambda chunks: [w for c in chunks for w in c])


def routed_to_click_first(argv: Sequence[str]) -> bool:
    """entry.main sends any argv with a help flag straight to click."""
    return any(word in ("-h", "--help") for word in argv)


PROVIDER_NAMES = [p.name for p in providers.declarations()]
AGREEMENT = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_parse_argv_and_click_accept_and_reject_the_same_argv(provider: str) -> None:
    options, command = provider_options_and_command(provider)

    @AGREEMENT
    @given(argv_strategy(options))
    def agree(argv: list[str]) -> None:
        if routed_to_click_first(argv):
            return
        ours = comparable(our_params(options, argv))
        clicked = click_params(command, argv)
        if clicked is HELP:
            # Help asked for inside a cluster (-vh): parse_argv must refuse, so that click
            # shows the help instead of the plugin running.
            assert ours is None, argv
            return
        theirs = comparable(clicked)
        # The one known divergence, where only parse_argv rejects (harmless: the click
        # fallback then runs the same command); it has its own test below.
        if ours is None and theirs is not None and "--" in argv:
            return
        assert ours == theirs, argv

    agree()


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_whatever_parse_argv_accepts_click_accepts_with_the_same_values(provider: str) -> None:
    # The property the hot path relies on: taking it never changes what the command means.
    options, command = provider_options_and_command(provider)

    @AGREEMENT
    @given(argv_strategy(options))
    def safe(argv: list[str]) -> None:
        if routed_to_click_first(argv):
            return
        ours = our_params(options, argv)
        if ours is not None:
            assert comparable(ours) == comparable(click_params(command, argv)), argv

    safe()


@settings(max_examples=250, deadline=None)
@given(argv_strategy(OPTS))
def test_whatever_parse_argv_accepts_click_accepts_for_every_option_type(
    argv: list[str],
) -> None:
    command = click.Command("x", params=[click_option(o) for o in OPTS])
    ours = our_params(OPTS, argv)
    if ours is not None and not routed_to_click_first(argv):
        assert comparable(ours) == comparable(click_params(command, argv)), argv


def test_double_dash_is_rejected_by_parse_argv_and_left_to_click() -> None:
    # click takes a lone "--" as the end of options; parse_argv refuses it, so entry.main
    # falls back to click, which then runs the same command: slower, not different.
    command = click.Command("x", params=[click_option(o) for o in COMMON_OPTIONS])
    assert click_params(command, ["--no-cache", "--"]) == {"no_cache": True}
    assert our_params(COMMON_OPTIONS, ["--no-cache", "--"]) is None


def test_an_invalid_value_overridden_later_is_accepted_like_click() -> None:
    argv = ["--timeout", "soon", "--timeout", "5"]
    command = click.Command("x", params=[click_option(o) for o in COMMON_OPTIONS])
    assert click_params(command, argv) == {"timeout": 5.0}
    assert our_params(COMMON_OPTIONS, argv) == {"timeout": 5.0}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["-vn", "bob"], {"verbose": 1, "name": "bob"}, id="-vn bob"),
        pytest.param(["-vvnbob"], {"verbose": 2, "name": "bob"}, id="-vvnbob"),
        pytest.param(["-fv"], {"force": True, "verbose": 1}, id="-fv"),
    ],
)
def test_clustered_short_options_are_read_like_click(
    argv: list[str], expected: dict[str, Any]
) -> None:
    command = click.Command("x", params=[click_option(o) for o in OPTS])
    assert click_params(command, argv) == expected
    assert our_params(OPTS, argv) == expected


# -- resolve: precedence -----------------------------------------------------------------------

REGION = Option(
    "token-region", "A string.", envvar="T_REGION", default="from-default", cluster=ALLOWED
)

PRECEDENCE = [
    pytest.param(True, True, True, "from-cli", "command line", id="cli over config, env, default"),
    pytest.param(True, True, False, "from-cli", "command line", id="cli over config"),
    pytest.param(True, False, True, "from-cli", "command line", id="cli over env"),
    pytest.param(True, False, False, "from-cli", "command line", id="cli over default"),
    pytest.param(False, True, True, "from-config", "cluster config", id="config over env"),
    pytest.param(False, True, False, "from-config", "cluster config", id="config over default"),
    pytest.param(False, False, True, "from-env", "$T_REGION", id="env over default"),
    pytest.param(False, False, False, "from-default", "default", id="default alone"),
]


@pytest.mark.parametrize(("cli", "config", "env", "value", "source"), PRECEDENCE)
def test_resolve_precedence_is_cli_then_config_then_env_then_default(
    cli: bool, config: bool, env: bool, value: str, source: str
) -> None:
    values, sources, _ = resolve(
        (REGION,),
        {"token_region": "from-cli"} if cli else {},
        {"token-region": "from-config"} if config else {},
        {"T_REGION": "from-env"} if env else {},
    )
    assert values == {"token_region": value}
    assert sources == {"token_region": source}


def test_resolve_reads_cluster_config_by_option_name_and_cli_by_dest() -> None:
    values, _, _ = resolve((REGION,), {"token-region": "wrong"}, {"token_region": "wrong"}, {})
    assert values == {"token_region": "from-default"}


def test_a_null_cluster_config_value_falls_through_to_env_then_default() -> None:
    values, sources, _ = resolve((REGION,), {}, {"token-region": None}, {"T_REGION": "from-env"})
    assert (values, sources) == ({"token_region": "from-env"}, {"token_region": "$T_REGION"})
    values, sources, _ = resolve((REGION,), {}, {"token-region": None}, {})
    assert (values, sources) == ({"token_region": "from-default"}, {"token_region": "default"})


def test_an_empty_environment_variable_falls_through_to_the_default() -> None:
    values, sources, _ = resolve((REGION,), {}, {}, {"T_REGION": ""})
    assert (values, sources) == ({"token_region": "from-default"}, {"token_region": "default"})


def test_resolve_gives_every_option_a_value_and_a_source() -> None:
    values, sources, _ = resolve(COMMON_OPTIONS, {"verbose": 2}, {}, {})
    assert set(values) == set(sources) == {o.dest for o in COMMON_OPTIONS}
    assert values["verbose"] == 2 and sources["verbose"] == "command line"
    assert values["timeout"] == 30.0 and values["refresh_margin"] == 300.0
    assert values["no_cache"] is None and sources["no_cache"] == "default"


def test_command_line_values_are_taken_as_already_typed() -> None:
    values, _, _ = resolve((RATIO, SCOPE), {"ratio": 2.5, "scope": ["a"]}, {"ratio": "9"}, {})
    assert values == {"ratio": 2.5, "scope": ["a"]}


def test_unknown_cluster_config_keys_are_ignored_by_resolve() -> None:
    values, _, _ = resolve((NAME,), {}, {"unheard-of": [1, 2], "name": "n"}, {})
    assert values == {"name": "n"}


# -- resolve: cluster config values are JSON -----------------------------------------------------


@pytest.mark.parametrize(
    ("opt", "raw", "expected"),
    [
        pytest.param(RATIO, 3, 3.0, id="int for a float option"),
        pytest.param(RATIO, 2.5, 2.5, id="float"),
        pytest.param(RATIO, "2.5", 2.5, id="string for a float option"),
        pytest.param(RETRIES, 4, 4, id="int"),
        pytest.param(RETRIES, "4", 4, id="string for an int option"),
        pytest.param(FORCE, True, True, id="true for a flag"),
        pytest.param(FORCE, False, False, id="false for a flag"),
        pytest.param(FORCE, "true", True, id="'true' for a flag"),
        pytest.param(FORCE, "false", False, id="'false' for a flag"),
        pytest.param(FORCE, "Yes", True, id="'Yes' for a flag"),
        pytest.param(FORCE, "0", False, id="'0' for a flag"),
        pytest.param(FORCE, 1, True, id="1 for a flag"),
        pytest.param(NAME, "n", "n", id="string"),
        pytest.param(NAME, 5, "5", id="int for a string option"),
        pytest.param(NAME, True, "true", id="bool for a string option"),
        pytest.param(MODE, "fast", "fast", id="choice"),
        pytest.param(SCOPE, ["a", "b"], ["a", "b"], id="list for multiple"),
        pytest.param(SCOPE, "a", ["a"], id="scalar for multiple"),
        pytest.param(SCOPE, [], [], id="empty list for multiple"),
        pytest.param(LEVEL, ["1", 2], [1, 2], id="list of mixed for a multiple int"),
    ],
)
def test_cluster_config_json_values_are_converted_to_the_option_type(
    opt: Option, raw: Any, expected: Any
) -> None:
    values, sources, _ = resolve((opt,), {}, {opt.name: raw}, {})
    assert repr(values[opt.dest]) == repr(expected)
    assert sources[opt.dest] == "cluster config"


@pytest.mark.parametrize(
    ("opt", "raw"),
    [
        pytest.param(RATIO, "fast", id="word for a float"),
        pytest.param(RATIO, True, id="bool for a float"),
        pytest.param(RATIO, [1.0], id="list for a float"),
        pytest.param(RETRIES, True, id="bool for an int"),
        pytest.param(RETRIES, "4.5", id="decimal string for an int"),
        pytest.param(FORCE, "maybe", id="word for a flag"),
        pytest.param(FORCE, 2, id="2 for a flag"),
        pytest.param(NAME, {"a": 1}, id="object for a string"),
        pytest.param(NAME, ["a"], id="list for a string"),
        pytest.param(MODE, "medium", id="not a choice"),
        pytest.param(LEVEL, [1, "x"], id="bad item in a list"),
        pytest.param(
            RETRIES,
            2.5,
            id="fraction for an int",
        ),
        pytest.param(
            RATIO,
            10**400,
            id="integer beyond float range",
        ),
    ],
)
def test_a_bad_cluster_config_value_is_a_usage_error_naming_the_key(opt: Option, raw: Any) -> None:
    with pytest.raises(UsageError) as caught:
        resolve((opt,), {}, {opt.name: raw}, {})
    assert f"cluster config key {opt.name!r}" in str(caught.value)
    assert opt.flag in str(caught.value)


# -- resolve: environment variables ------------------------------------------------------------


def test_environment_values_are_converted_to_the_option_type() -> None:
    options = (
        Option("ratio", "h", type="float", envvar="T_RATIO"),
        Option("force", "h", type="flag", envvar="T_FORCE"),
        Option("scope", "h", multiple=True, envvar="T_SCOPE"),
    )
    values, sources, _ = resolve(
        options, {}, {}, {"T_RATIO": "0.25", "T_FORCE": "on", "T_SCOPE": "a b"}
    )
    assert values == {"ratio": 0.25, "force": True, "scope": ["a b"]}
    assert sources == {"ratio": "$T_RATIO", "force": "$T_FORCE", "scope": "$T_SCOPE"}


def test_a_bad_environment_value_is_a_usage_error_naming_the_variable() -> None:
    opt = Option("ratio", "h", type="float", envvar="T_RATIO")
    with pytest.raises(UsageError, match=r"--ratio \(from \$T_RATIO\)"):
        resolve((opt,), {}, {}, {"T_RATIO": "lots"})


def test_multiple_defaults_become_a_new_list_each_time() -> None:
    opt = Option("scope", "h", multiple=True, default=("a", "b"))
    first, _, _ = resolve((opt,), {}, {}, {})
    assert first == {"scope": ["a", "b"]}
    first["scope"].append("c")
    second, _, _ = resolve((opt,), {}, {}, {})
    assert second == {"scope": ["a", "b"]}
    assert resolve((SCOPE,), {}, {}, {})[0] == {"scope": []}


# -- resolve: what a cluster entry may set ---------------------------------------------------

ROLE = Option("role", "Decides the identity.", envvar="T_ROLE")
KEY_FILE = Option("key-file", "A local file.", cluster=NEVER)
CLUSTER = Option("cluster", "Addresses the cluster.", cluster=ALLOWED)
ALLOW = next(o for o in COMMON_OPTIONS if o.name == "allow-cluster-option")
TRUST = (ROLE, KEY_FILE, CLUSTER, ALLOW)


def test_by_default_an_option_is_the_user_entrys() -> None:
    assert Option("x", "h").cluster == OPT_IN
    assert all(o.cluster == NEVER for o in COMMON_OPTIONS)


def test_a_refused_cluster_value_falls_through_to_the_users_own() -> None:
    config = {"role": "attacker", "key-file": "/etc/shadow", "cluster": "c1"}
    values, sources, refused = resolve(TRUST, {}, config, {"T_ROLE": "mine"})
    assert values["role"] == "mine" and sources["role"] == "$T_ROLE"
    assert values["key_file"] is None and values["cluster"] == "c1"
    assert {(r.option.name, r.why.split(" ")[0]) for r in refused} == {
        ("role", "it"),
        ("key-file", "it"),
    }
    assert "whose credential" in next(r.why for r in refused if r.option is ROLE)


def test_the_user_entry_may_let_the_cluster_set_an_opt_in_option() -> None:
    config = {"role": "theirs", "key-file": "/etc/shadow"}
    env_name = "CREDPLUGIN_ALLOW_CLUSTER_OPTIONS"
    assert ALLOW.envvar == env_name
    for allow_cli, env in (({"allow_cluster_option": ["role"]}, {}), ({}, {env_name: "role"})):
        values, sources, refused = resolve(TRUST, allow_cli, config, env)
        assert values["role"] == "theirs" and sources["role"] == "cluster config"
        assert [r.option.name for r in refused] == ["key-file"]
    values, _, _ = resolve(TRUST, {"allow_cluster_option": ["cluster,--role"]}, config, {})
    assert values["role"] == "theirs"


def test_a_cluster_entry_can_never_be_allowed_a_never_option() -> None:
    with pytest.raises(UsageError, match="may never set --key-file"):
        resolve(TRUST, {"allow_cluster_option": ["key-file"]}, {}, {})
    with pytest.raises(UsageError, match="no option --nosuch"):
        resolve(TRUST, {"allow_cluster_option": ["nosuch"]}, {}, {})
    # The extension cannot allow itself anything.
    values, _, refused = resolve(
        TRUST, {}, {"allow-cluster-option": ["role"], "role": "theirs"}, {}
    )
    assert values["role"] is None and {r.option.name for r in refused} == {
        "allow-cluster-option",
        "role",
    }
