"""The contract every provider keeps, run for each declaration credplugin.providers lists.

Like keyring's backend test base: a new provider is held to all of it by being registered.
Each test takes a provider name; nothing here knows one provider from another except through
its declaration (required options get sample values, by type).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from credplugin import providers
from credplugin.cache import Entry
from credplugin.credential import Credential
from credplugin.errors import UsageError
from credplugin.invocation import Invocation
from credplugin.options import ALLOWED, COMMON_OPTIONS, NEVER, OPT_IN, Option, parse_argv
from credplugin.providers import base
from credplugin.providers.base import Declaration
from tests.conftest import V1, clean_environ, credplugin_command, exec_info
from tests.test_hot_path import heavy, loaded_modules

PROVIDERS = providers.declarations()
NAMES = [p.name for p in PROVIDERS]
COMMON_NAMES = {o.name for o in COMMON_OPTIONS}
SECRET_VALUE = "S3cret-Value-That-Must-Never-Show-7f3a"


def sample(opt: Option, variant: int = 0) -> str:
    """A value the option's type accepts, as typed on a command line; `variant` 1 differs
    from variant 0 and from the default."""
    if opt.type == "choice":
        others = [c for c in opt.choices if c != opt.default]
        return others[variant % len(others)]
    if opt.type == "int":
        return str(7 + variant)
    if opt.type == "float":
        return str(1.5 + variant)
    if any(word in opt.name for word in ("url", "uri", "host", "endpoint")):
        # A loopback port nobody listens on: a fetch fails at once, off the network.
        return f"https://127.0.0.1:9/sample{variant}"
    return f"sample-{opt.name}-{variant}"


def argv_for(opt: Option, variant: int = 0) -> list[str]:
    if not opt.takes_value:
        return [opt.flag]
    return [opt.flag, sample(opt, variant)]


def required_argv(provider: Declaration) -> list[str]:
    return [word for opt in provider.options if opt.required for word in argv_for(opt)]


def invocation(
    provider: Declaration,
    argv: list[str],
    environ: Mapping[str, str],
    cluster_config: Mapping[str, Any] | None = None,
    server: str | None = "https://cluster.example",
) -> Invocation:
    given = parse_argv(provider.options + COMMON_OPTIONS, argv)
    return Invocation(provider, given, cluster_config or {}, server, environ)


@pytest.fixture
def environ(isolated_home: Path, tmp_path: Path) -> dict[str, str]:
    env = clean_environ(isolated_home)
    env["CREDPLUGIN_CACHE_DIR"] = str(tmp_path / "cache")
    return env


# -- the declaration -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_declaration_is_complete_and_found_by_every_name(name: str) -> None:
    provider = providers.lookup(name)
    assert provider is not None and provider.name == name
    assert provider.package == "credplugin.providers." + name.replace("-", "_")
    assert providers.lookup(provider.backstage) is provider
    assert provider.summary.endswith(".") and len(provider.summary) <= 90
    assert provider.side in ("server", "client")
    # A person's login serves every cluster; the machine's identity is keyed per cluster.
    assert provider.server_in_key == (provider.side == "server")
    names = [o.name for o in provider.options]
    assert len(names) == len(set(names)) and not set(names) & COMMON_NAMES
    spellings = [s for o in provider.options + COMMON_OPTIONS for s in o.spellings]
    assert len(spellings) == len(set(spellings)), "a spelling names two options"
    for opt in provider.options:
        assert opt.help.strip(), f"--{opt.name} has no help"
        assert opt.name == opt.name.lower() and " " not in opt.name
        assert not (opt.required and opt.default is not None), "required with a default"
    assert all(v.isupper() for v in provider.identity_env)


@pytest.mark.parametrize("name", NAMES)
def test_fetch_code_is_a_fetcher_in_the_packages_fetch_module(name: str) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    module = importlib.import_module(provider.package + ".fetch")
    assert issubclass(module.Fetcher, base.Fetcher)
    assert isinstance(provider.fetcher({}), module.Fetcher)


@pytest.mark.parametrize("name", NAMES)
def test_no_module_of_a_provider_imports_another_provider(name: str) -> None:
    """One folder per provider: shared code lives outside credplugin/providers."""
    import ast

    provider = providers.lookup(name)
    assert provider is not None
    folder = Path(importlib.import_module(provider.package).__file__ or "").parent
    others = {p.package for p in PROVIDERS} - {provider.package}
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for imported in names:
                assert not any(imported == o or imported.startswith(o + ".") for o in others), (
                    f"{source.name} imports {imported}"
                )


def test_lookup_refuses_what_is_not_a_provider() -> None:
    for word in ("nope", "google_service_account", "GoogleServiceAccount", "base", "", "-"):
        assert providers.lookup(word) is None, word


@pytest.mark.parametrize("name", NAMES)
def test_declaration_loads_no_fetch_code(name: str) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    code = (
        "import sys; from credplugin import providers; "
        f"providers.lookup({name!r}); "
        "print(' '.join(m for m in sys.modules if m.startswith('credplugin')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert heavy(set(out)) == [], out


# -- the cache key -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_cache_key_is_stable_and_decided_by_identity_only(
    name: str, environ: dict[str, str]
) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    base_argv = required_argv(provider)
    key = invocation(provider, base_argv, environ).key
    assert invocation(provider, base_argv, environ).key == key
    # What does not change who we are never changes the key.
    for extra in (["-vv"], ["--timeout", "5"], ["--refresh-margin", "60"], ["--force-refresh"]):
        assert invocation(provider, base_argv + extra, environ).key == key, extra
    for opt in provider.options:
        if opt.required:
            continue
        changed = invocation(provider, base_argv + argv_for(opt, 1), environ).key
        if opt.identity:
            assert changed != key, f"--{opt.name} is identity but does not change the key"
        else:
            assert changed == key, f"--{opt.name} is not identity but changes the key"
    for variable in provider.identity_env:
        assert invocation(provider, base_argv, {**environ, variable: "x"}).key != key, variable
    other_server = invocation(provider, base_argv, environ, server="https://other.example").key
    assert (other_server != key) == provider.server_in_key


# -- the hit path --------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    """An http server on loopback: the cluster server, and a `kubectl proxy` that answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("name", [p.name for p in PROVIDERS if p.cacheable])
def test_a_cache_hit_loads_no_fetch_code_and_no_sdk(
    name: str, environ: dict[str, str], http_server: str
) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    argv = required_argv(provider)
    call = invocation(provider, argv, environ, server=http_server)
    now = time.time()
    cached = Credential("cached-token", issued_at=now, expires_at=now + 3600)
    call.store().write(Entry(call.key, provider.name, cached, now))
    env = {**environ, "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1, server=http_server))}
    modules = loaded_modules([name, *argv], env)
    assert heavy(modules) == []


# -- secrets -------------------------------------------------------------------------------


SECRET_OPTIONS = [(p.name, o.name) for p in PROVIDERS for o in p.options if o.secret]


def test_some_provider_declares_a_secret_option() -> None:
    assert SECRET_OPTIONS, "the secret checks below would test nothing"


@pytest.mark.parametrize(("name", "option"), SECRET_OPTIONS)
def test_a_secret_option_never_shows(name: str, option: str, environ: dict[str, str]) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    opt = provider.option(option)
    argv = [*required_argv(provider), opt.flag, SECRET_VALUE]
    call = invocation(provider, argv, environ)
    assert SECRET_VALUE not in json.dumps(call.summary())
    assert SECRET_VALUE not in call.terminal_command()
    # Through the CLI, failing fast (nothing listens on port 9), at the highest verbosity.
    proc = subprocess.run(
        [*credplugin_command(), name, *argv, "--timeout", "2", "-vvv"],
        env={**environ, "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1, server="https://x"))},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert SECRET_VALUE not in proc.stdout + proc.stderr
    if opt.envvar:
        env = {**environ, opt.envvar: SECRET_VALUE}
        assert (
            SECRET_VALUE
            not in invocation(provider, required_argv(provider), env).terminal_command()
        )


# -- what a cluster entry may set ----------------------------------------------------------


OPTIONS_BY_PROVIDER = [(p.name, o.name) for p in PROVIDERS for o in p.options + COMMON_OPTIONS]


def config_value(opt: Option) -> Any:
    """A JSON value for the extension that differs from anything the user entry gives."""
    if not opt.takes_value:
        return True
    text = sample(opt, 1)
    if opt.type in ("int", "float"):
        text = str(opt.convert(text, "test") + 1)
    return [text] if opt.multiple else text


@pytest.mark.parametrize(("name", "option"), OPTIONS_BY_PROVIDER)
def test_the_cluster_entry_sets_only_what_the_declaration_allows(
    name: str, option: str, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every option of every provider, set only from the extension: used when the cluster
    may set it, else ignored with one warning naming the key and the server; an opt-in
    option is used once the user entry allows it, a never option cannot be allowed."""
    provider = providers.lookup(name)
    assert provider is not None
    opt = next(o for o in provider.options + COMMON_OPTIONS if o.name == option)
    others = [w for o in provider.options if o.required and o is not opt for w in argv_for(o)]
    argv = list(others)
    raw = config_value(opt)
    config = {option: raw}
    if opt.required and opt.cluster != ALLOWED:
        # Needed, and refused: a usage error that says how the user entry could allow it.
        with pytest.raises(UsageError) as needed:
            invocation(provider, argv, environ, config, server="https://k.example")
        assert f"needs --{option}" in str(needed.value)
        assert f"--allow-cluster-option {option}" in needed.value.one_line()
        argv += argv_for(opt)
    call = invocation(provider, argv, environ, config, server="https://k.example")
    warnings = [line for line in capsys.readouterr().err.splitlines() if "exec extension" in line]
    from_cluster = call.sources[opt.dest] == "cluster config"
    if opt.cluster == ALLOWED:
        assert from_cluster and warnings == []
        return
    assert not from_cluster, f"--{option} was taken from the cluster entry"
    assert warnings[-1:] == [
        f"credplugin: warning: ignored {option!r} in the exec extension of cluster "
        f"https://k.example: a cluster entry may not set --{option} "
        f"({warnings[-1].rsplit('(', 1)[1]}"
    ]
    assert len(warnings) == (2 if opt.required else 1)
    allow = [*others, "--allow-cluster-option", option]
    if opt.cluster == OPT_IN:
        allowed = invocation(provider, allow, environ, config)
        assert allowed.sources[opt.dest] == "cluster config"
        assert allowed.key != call.key or not opt.identity
    else:
        with pytest.raises(UsageError, match=f"may never set --{option}"):
            invocation(provider, allow, environ, config)


@pytest.mark.parametrize("name", NAMES)
def test_secrets_local_paths_and_endpoints_are_never_the_cluster_entrys(name: str) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    for opt in provider.options:
        if opt.secret or opt.name.endswith(("-file", "-command", "-endpoint", "-uri", "-host")):
            assert opt.cluster == NEVER, f"--{opt.name} must be NEVER"
    allowed = {o.name for o in provider.options if o.cluster == ALLOWED}
    # What a cluster entry may set is small, and listed here so that widening it is a
    # decision someone makes in review.
    assert allowed <= {"cluster-id", "region", "proxy-url"}, allowed


@pytest.mark.parametrize("name", NAMES)
def test_help_examples_are_valid_invocations(name: str, environ: dict[str, str]) -> None:
    """Every provider shows examples, and each parses and has what the provider requires."""
    provider = providers.lookup(name)
    assert provider is not None and provider.examples, f"{name} shows no example"
    for example in provider.examples:
        words = example.split()
        assert words[:2] == ["credplugin", name], example
        invocation(provider, words[2:], environ)  # raises on a bad option or a missing one
