"""Every kubeconfig in kubeconfig-examples/ loads in kubectl and passes doctor, once a reader
fills its placeholders (`<base64-pem-of-the-cluster-ca>`, `<path-to-...>`) on a machine that
has what the example's comments ask for (an AWS profile, a token variable...)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Plugin, kubectl_binaries, service_account_jwt
from tests.standins.tls import TLSMaterial

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


PLACEHOLDER = re.compile(r"<[a-z0-9-]+>")


def filled(example: Path, tmp_path: Path, ca_b64: str) -> Path:
    """The example as a reader makes it: the cluster's CA in, files where it names them."""
    text = example.read_text()
    for placeholder in set(PLACEHOLDER.findall(text)):
        if placeholder == "<base64-pem-of-the-cluster-ca>":
            value = ca_b64
        else:
            assert placeholder.startswith("<path-to-"), placeholder
            path = tmp_path / placeholder.strip("<>")
            path.write_text(service_account_jwt() if "token" in placeholder else "{}")
            path.chmod(0o600)
            value = str(path)
        text = text.replace(placeholder, value)
    out = tmp_path / example.name
    out.write_text(text)
    return out


def readers_machine(plugin: Plugin, tmp_path: Path) -> dict[str, str]:
    """What the examples' comments ask the reader's machine to have."""
    Path(plugin.env["AWS_CONFIG_FILE"]).write_text("[profile platform]\nregion = eu-west-1\n")
    federated = tmp_path / "federated-token"
    federated.write_text("eyJ.e30.sig")
    adc = Path(plugin.env["CLOUDSDK_CONFIG"])
    adc.mkdir(parents=True, exist_ok=True)
    (adc / "application_default_credentials.json").write_text("{}")
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{plugin.env['PATH']}",
        "STAGING_SA_TOKEN": service_account_jwt(),
        "AZURE_FEDERATED_TOKEN_FILE": str(federated),
    }


def test_every_example_leaves_the_cluster_ca_to_the_reader() -> None:
    for example in EXAMPLES:
        assert "certificate-authority: /" not in example.read_text(), example.name


@pytest.mark.kubectl
@pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine")
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_loads_in_kubectl_and_runs_credplugin(
    example: Path, plugin: Plugin, tmp_path: Path, tls: TLSMaterial
) -> None:
    view = subprocess.run(
        [
            KUBECTLS[-1],
            "config",
            "view",
            "--kubeconfig",
            str(filled(example, tmp_path, tls.ca_b64)),
            "-o",
            "json",
        ],
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
def test_example_passes_doctor_once_filled(
    example: Path, plugin: Plugin, tmp_path: Path, tls: TLSMaterial
) -> None:
    env = readers_machine(plugin, tmp_path)
    if PLACEHOLDER.search(example.read_text()):
        # As shipped, doctor points at the placeholders.
        run = plugin.run("doctor", "--kubeconfig", str(example), env=env)
        assert run.returncode == 1 and "placeholder" in run.stdout
    run = plugin.run("doctor", "--kubeconfig", str(filled(example, tmp_path, tls.ca_b64)), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ERROR" not in run.stdout


REPO = Path(__file__).resolve().parent.parent


def test_nothing_tells_people_to_install_from_a_registry_we_never_published_to() -> None:
    """Anyone could claim the name `credplugin` on PyPI until a release exists."""
    texts = [REPO / "README.md", *EXAMPLES, *(REPO / "credplugin").rglob("*.py")]
    for path in texts:
        text = path.read_text()
        for phrase in ("pip install credplugin", "pipx install credplugin"):
            assert phrase not in text, f"{path}: {phrase}"


def test_the_license_file_is_the_one_the_package_declares() -> None:
    license_text = (REPO / "LICENSE").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'license = "Apache-2.0"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_an_unsupported_platform_fails_at_once_in_one_line(tmp_path: Path) -> None:
    probe = "import os, sys; os.name = 'nt'; from credplugin.entry import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", probe, "aws", "--cluster-id", "c"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        "credplugin: error: this platform is not supported yet (Linux and macOS are); "
        "nothing was done\n"
    )
