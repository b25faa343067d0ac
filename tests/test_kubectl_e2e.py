"""What real clients do with credplugin beyond one provider's login: the real Python
`kubernetes` client, kubectl's view of our errors, a rotated token file, a hostile cluster
entry. Every provider through every kubectl: tests/test_kubectl_providers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import (
    V1,
    V1BETA1,
    Plugin,
    kubectl_binaries,
    run_kubectl,
    service_account_jwt,
    write_kubeconfig,
)
from tests.standins.apiserver import FakeAPIServer, token_fingerprint
from tests.standins.tls import TLSMaterial

KUBECTLS = kubectl_binaries()
needs_kubectl = pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine")


@pytest.fixture
def token_file(tmp_path: Path) -> tuple[Path, str]:
    token = service_account_jwt()
    path = tmp_path / "sa-token"
    path.write_text(token + "\n")
    return path, token


@needs_kubectl
@pytest.mark.kubectl
def test_a_cluster_entry_cannot_make_the_plugin_send_a_local_file(
    apiserver: FakeAPIServer, tls: TLSMaterial, plugin: Plugin, tmp_path: Path
) -> None:
    """The cluster's exec extension names a file of the user's: kubectl fails with our
    message, and nothing reaches the server."""
    secret = tmp_path / "git-credentials"
    secret.write_text("https://bob:ghp_realtoken123@github.com")
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        apiserver.url,
        tls.ca_b64,
        ["service-account"],
        cluster_config={"token-file": str(secret)},
    )
    result = run_kubectl(KUBECTLS[0], kubeconfig, "get", "ns", env=plugin.env)
    assert result.returncode != 0
    assert "a cluster entry may not set --token-file" in result.stderr
    assert apiserver.requests == []


@needs_kubectl
@pytest.mark.kubectl
def test_kubectl_shows_our_one_line_error_and_fails(
    apiserver: FakeAPIServer, tls: TLSMaterial, plugin: Plugin, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        apiserver.url,
        tls.ca_b64,
        ["service-account", "--token-file", str(tmp_path / "missing")],
    )
    result = run_kubectl(KUBECTLS[0], kubeconfig, "get", "ns", env=plugin.env)
    assert result.returncode != 0
    assert "credplugin: error: cannot read service-account token file" in result.stderr
    assert "Traceback" not in result.stderr
    assert apiserver.authenticated_requests() == []


@needs_kubectl
@pytest.mark.kubectl
def test_rotated_token_file_is_picked_up_by_the_next_kubectl(
    apiserver: FakeAPIServer, tls: TLSMaterial, plugin: Plugin, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    first, second = service_account_jwt(subject="a"), service_account_jwt(subject="b")
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        apiserver.url,
        tls.ca_b64,
        ["service-account", "--token-file", str(path)],
    )
    path.write_text(first)
    apiserver.accept(first)
    assert run_kubectl(KUBECTLS[0], kubeconfig, "get", "ns", env=plugin.env).returncode == 0
    # The kubelet rotates the projected token and the old one stops working.
    apiserver.revoke(first)
    apiserver.accept(second)
    path.write_text(second)
    apiserver.reset()
    result = run_kubectl(KUBECTLS[0], kubeconfig, "get", "ns", env=plugin.env)
    assert result.returncode == 0, result.stderr
    assert {r.token_sha256 for r in apiserver.authenticated_requests()} == {
        token_fingerprint(second)
    }


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_python_kubernetes_client_lists_namespaces(
    api_version: str,
    apiserver: FakeAPIServer,
    tls: TLSMaterial,
    plugin: Plugin,
    token_file: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    path, token = token_file
    apiserver.accept(token)
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        apiserver.url,
        tls.ca_b64,
        ["service-account", "--token-file", str(path)],
        api_version=api_version,
        cluster_config={"unrelated": "ignored"},
    )
    for key, value in plugin.env.items():
        monkeypatch.setenv(key, value)
    api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    names = [
        n.metadata.name for n in kubernetes.client.CoreV1Api(api_client).list_namespace().items
    ]
    assert names == ["default", "kube-system", "kube-public"]
    assert {r.token_sha256 for r in apiserver.authenticated_requests()} == {
        token_fingerprint(token)
    }
