"""Real kubectl runs `get ns` through credplugin against the bearer-checking API server
stand-in, for every provider credplugin.providers declares, each in its own scenario
(tests/kubectl_scenarios.py): the server authenticates exactly the provider's identity, the
next kubectl is served from our cache, and a token made for something else is refused."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from credplugin import providers
from tests.conftest import V1, V1BETA1, Plugin, kubectl_binaries, write_kubeconfig
from tests.kubectl_scenarios import EVERY, SCENARIOS, Context, Setup
from tests.standins.apiserver import FakeAPIServer
from tests.standins.tls import TLSMaterial

KUBECTLS = kubectl_binaries()
DECLARATIONS = {d.name: d for d in providers.declarations()}
pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine"),
]

# (exec apiVersion, interactiveMode) as users write them; SCENARIO: the scenario's own
# interactiveMode (v1 requires one; under v1beta1 kubectl's default is IfAvailable).
SCENARIO = "scenario"
FLAVOURS: dict[str, tuple[str, str | None]] = {
    "v1": (V1, SCENARIO),
    "v1beta1-unset": (V1BETA1, None),
    "v1beta1-IfAvailable": (V1BETA1, "IfAvailable"),
}
# The wrong variant (a kubectl whose token the server refuses) runs once per provider: with
# the first kubectl, in this flavour.
WRONG_FLAVOUR = "v1"


def cases() -> list[object]:
    """(provider, kubectl, flavour): the cheapest provider (service-account) with every
    kubectl in every flavour; the others with their scenario's kubectl(s), in v1 and in
    v1beta1 without interactiveMode. A provider with no scenario still gets a case: it fails."""
    params: list[object] = []
    for name in DECLARATIONS:
        found = SCENARIOS.get(name)
        kubectls = (found.binaries() if found else KUBECTLS[:1]) or ["kubectl"]
        every = found is not None and found.kubectls == EVERY
        flavours = list(FLAVOURS) if every else ["v1", "v1beta1-unset"]
        for kubectl in kubectls:
            for flavour in flavours:
                case_id = f"{name}-{Path(kubectl).name}-{flavour}"
                params.append(pytest.param(name, kubectl, flavour, id=case_id))
    return params


def test_every_scenario_is_a_declared_provider() -> None:
    assert set(SCENARIOS) <= set(DECLARATIONS), set(SCENARIOS) - set(DECLARATIONS)


@pytest.mark.parametrize(("provider", "kubectl", "flavour"), cases())
def test_kubectl_get_ns(
    provider: str,
    kubectl: str,
    flavour: str,
    apiserver: FakeAPIServer,
    tls: TLSMaterial,
    plugin: Plugin,
    tmp_path: Path,
) -> None:
    found = SCENARIOS.get(provider)
    if found is None:
        pytest.fail(
            f"provider {provider!r} has no kubectl scenario: add one to "
            f"tests/kubectl_scenarios.py with @scenario({provider!r})",
            pytrace=False,
        )
    api_version, mode = FLAVOURS[flavour]
    context = Context(tls, tmp_path, plugin.home, plugin.cache_dir, apiserver)
    with found.start(context) as setup:
        apiserver.add_authenticator(setup.authenticate)

        def kubeconfig(
            name: str, args: Sequence[str], cluster_config: Mapping[str, str] | None
        ) -> Path:
            return write_kubeconfig(
                tmp_path / name,
                setup.server or apiserver.url,
                None if setup.server else tls.ca_b64,
                args,
                api_version=api_version,
                interactive_mode=setup.interactive_mode if mode == SCENARIO else mode,
                cluster_config=cluster_config,
            )

        config = kubeconfig("kubeconfig", setup.args, setup.cluster_config)
        first = get_ns(kubectl, config, setup)
        tokens = assert_served_only(first, apiserver, setup)
        if setup.check is not None:
            setup.check()

        # The next kubectl command: our cache answers where the provider caches (no request
        # to the identity provider, the entry untouched), and the same credential is sent.
        entries = cache_entries(plugin.cache_dir)
        if not setup.plugin_runs:
            assert entries == {}, "kubectl ran the plugin"
        elif DECLARATIONS[provider].cacheable:
            assert entries, "the first call cached nothing"
        else:
            assert entries == {}, "a provider that never caches wrote a cache entry"
        upstream = setup.upstream_requests() if setup.upstream_requests else None
        apiserver.reset()
        second = get_ns(kubectl, config, setup)
        assert assert_served_only(second, apiserver, setup) == tokens
        assert cache_entries(plugin.cache_dir) == entries
        if setup.upstream_requests is not None:
            assert setup.upstream_requests() == upstream, "the second call was not a cache hit"
        if setup.check is not None:
            setup.check()

        wrong = setup.wrong
        if wrong is None or kubectl != KUBECTLS[0] or flavour != WRONG_FLAVOUR:
            return
        apiserver.reset()
        cluster_config = (
            setup.cluster_config if wrong.cluster_config is None else wrong.cluster_config
        )
        refused = get_ns(kubectl, kubeconfig("kubeconfig-wrong", wrong.args, cluster_config), setup)
        assert refused.returncode != 0, refused.stdout
        assert apiserver.authenticated_requests() == []
        assert apiserver.rejections, refused.stderr
        assert any(wrong.reason.lower() in reason.lower() for reason in apiserver.rejections), (
            apiserver.rejections
        )


def get_ns(kubectl: str, kubeconfig: Path, setup: Setup) -> subprocess.CompletedProcess[str]:
    """`kubectl get ns`, handing every line of its stderr (where the plugin's stderr goes) to
    the scenario's `answer` while it runs: the person's part of a login."""
    command = [kubectl, "--kubeconfig", str(kubeconfig), "get", "ns"]
    proc = subprocess.Popen(
        command,
        env=dict(setup.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    answer: Callable[[str], None] = setup.answer or (lambda line: None)
    lines: list[str] = []
    try:
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            lines.append(line)
            answer(line)
        stdout = proc.stdout.read()
        returncode = proc.wait()
    finally:
        watchdog.cancel()
    return subprocess.CompletedProcess(command, returncode, stdout, "".join(lines))


def assert_served_only(
    result: subprocess.CompletedProcess[str], apiserver: FakeAPIServer, setup: Setup
) -> set[str | None]:
    """kubectl listed the namespaces, and the server saw the scenario's identity and nothing
    else: no other token, no client certificate. Returns the tokens' fingerprints."""
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout
    seen = apiserver.requests
    authenticated = apiserver.authenticated_requests()
    assert authenticated, "kubectl reached the server without our token"
    assert {r.identity for r in authenticated} == {setup.identity}
    assert [r for r in seen if r.identity is None] == [], "a request without our credential"
    assert all(r.client_cert_cn is None for r in seen)
    return {r.token_sha256 for r in authenticated}


def cache_entries(cache_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every cache entry's bytes and mtime: a fetch rewrites its entry."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in cache_dir.glob("*.json")}
