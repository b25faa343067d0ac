"""Every kubeconfig in kubeconfig-examples/ loads in kubectl and its exec entries pass doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Plugin, kubectl_binaries

EXAMPLES = sorted((Path(__file__).parent.parent / "kubeconfig-examples").glob("*.yaml"))
PROVIDERS = {
    "aws",
    "azure",
    "aks",
    "google",
    "google-service-account",
    "local-kubectl-proxy",
    "oidc",
    "service-account",
}
KUBECTLS = kubectl_binaries()


def test_one_example_per_provider() -> None:
    assert {p.stem for p in EXAMPLES} == PROVIDERS


@pytest.mark.kubectl
@pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine")
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_loads_in_kubectl_and_runs_credplugin(example: Path, plugin: Plugin) -> None:
    view = subprocess.run(
        [KUBECTLS[-1], "config", "view", "--kubeconfig", str(example), "-o", "json"],
        env=plugin.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert view.returncode == 0, view.stderr
    users = json.loads(view.stdout)["users"]
    assert users and all(u["user"]["exec"]["command"] == "credplugin" for u in users)
    assert {u["user"]["exec"]["args"][0] for u in users} == {example.stem}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_doctor(example: Path, plugin: Plugin) -> None:
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{plugin.env['PATH']}"}
    run = plugin.run("doctor", "--kubeconfig", str(example), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ERROR" not in run.stdout
