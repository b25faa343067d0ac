"""local-kubectl-proxy: kubectl -> real `kubectl proxy` -> API stand-in, with no credential of
ours reaching the server; clear failure when nothing listens; --start launches the proxy."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    V1,
    Plugin,
    credplugin_command,
    exec_info,
    kubectl_binaries,
    run_kubectl,
    write_kubeconfig,
)
from tests.standins.apiserver import FakeAPIServer, token_fingerprint
from tests.standins.tls import TLSMaterial

KUBECTLS = kubectl_binaries()
pytestmark = pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine")
PROXY_TOKEN = "proxy-identity-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def static_token_kubeconfig(path: Path, server: str, ca_b64: str) -> Path:
    """The proxy's own identity: a plain token user, as a developer's kubeconfig would have."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "real",
        "clusters": [
            {"name": "real", "cluster": {"server": server, "certificate-authority-data": ca_b64}}
        ],
        "users": [{"name": "real", "user": {"token": PROXY_TOKEN}}],
        "contexts": [{"name": "real", "context": {"cluster": "real", "user": "real"}}],
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def upstream(apiserver: FakeAPIServer, tls: TLSMaterial, tmp_path: Path) -> Path:
    apiserver.accept(PROXY_TOKEN)
    return static_token_kubeconfig(tmp_path / "proxy-kubeconfig", apiserver.url, tls.ca_b64)


@pytest.fixture
def kubectl_proxy(upstream: Path, plugin: Plugin) -> Iterator[str]:
    proc = subprocess.Popen(
        [KUBECTLS[0], "--kubeconfig", str(upstream), "proxy", "--port=0", "--address=127.0.0.1"],
        env=plugin.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"kubectl proxy did not start: {line!r}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.kubectl
def test_placeholder_pair_is_cached_and_proxy_checked_on_every_call(
    kubectl_proxy: str, plugin: Plugin
) -> None:
    info = exec_info(V1, server=kubectl_proxy)
    first = plugin.run("localKubectlProxy", exec_info=info).credential()
    status = first["status"]
    assert status["clientCertificateData"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY-----" in status["clientKeyData"] and "token" not in status
    assert plugin.run("local-kubectl-proxy", exec_info=info).credential() == first
    entries = list(plugin.cache_dir.glob("*.json"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600


def test_nothing_listening_is_a_clear_error(plugin: Plugin) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = plugin.run("local-kubectl-proxy", "--proxy-url", url)
    assert run.returncode != 0 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        f"credplugin: error: nothing answers at {url} (connection refused); "
        "start `kubectl proxy` first, or add --start to the exec args"
    ]


def test_https_proxy_url_is_refused(plugin: Plugin) -> None:
    run = plugin.run("local-kubectl-proxy", "--proxy-url", "https://127.0.0.1:8443")
    assert run.returncode == 2 and "must be an http URL" in run.stderr


def test_parallel_cold_calls_fetch_once(kubectl_proxy: str, plugin: Plugin) -> None:
    """Ten processes race on an empty cache: one generates the pair, nine wait and read it."""
    info = json.dumps(exec_info(V1, server=kubectl_proxy))
    env = {**plugin.env, "KUBERNETES_EXEC_INFO": info}
    command = [*credplugin_command(), "local-kubectl-proxy"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(10)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1


@pytest.mark.kubectl
def test_start_launches_kubectl_proxy_when_nothing_listens(
    upstream: Path, apiserver: FakeAPIServer, plugin: Plugin, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["--start", "--kubeconfig", str(upstream), "--kubectl", KUBECTLS[0]]
    try:
        run = plugin.run("local-kubectl-proxy", "--proxy-url", url, *args)
        run.credential()
        assert "starting `" in run.stderr
        # A second call finds it running and starts nothing.
        again = plugin.run("local-kubectl-proxy", "--proxy-url", url, *args)
        assert again.returncode == 0 and "starting" not in again.stderr
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, None, ["local-kubectl-proxy"])
        result = run_kubectl(KUBECTLS[0], kubeconfig, "get", "ns", env=plugin.env)
        assert result.returncode == 0, result.stderr
        assert {r.token_sha256 for r in apiserver.requests} == {token_fingerprint(PROXY_TOKEN)}
    finally:
        subprocess.run(["pkill", "-f", f"proxy --address=127.0.0.1 --port={port}"], check=False)
        time.sleep(0.2)


def test_python_client_runs_the_plugin_and_reaches_the_proxy(
    kubectl_proxy: str,
    apiserver: FakeAPIServer,
    plugin: Plugin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """client-go never runs exec plugins for http servers (clientcmd applies user auth to
    TLS transports only); the Python client does, and ignores the pair over http."""
    kubernetes = pytest.importorskip("kubernetes")
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", kubectl_proxy, None, ["local-kubectl-proxy"]
    )
    for key, value in plugin.env.items():
        monkeypatch.setenv(key, value)
    api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    names = [
        n.metadata.name for n in kubernetes.client.CoreV1Api(api_client).list_namespace().items
    ]
    assert "kube-system" in names
    assert len(list(plugin.cache_dir.glob("*.json"))) == 1, "the plugin did not run"
    assert {r.token_sha256 for r in apiserver.requests} == {token_fingerprint(PROXY_TOKEN)}
