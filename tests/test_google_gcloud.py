"""google --gcloud: the gcloud CLI's own account, as gke-gcloud-auth-plugin uses it.

The real gcloud (from this machine's Google Cloud SDK) with a private configuration directory,
its account a service account whose key's token_uri is the Google stand-in on 127.0.0.1
(gcloud honours it and stores it with the credential), and the stand-in's CA given to gcloud
as core/custom_ca_certs_file. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import V1, Plugin, exec_info, kubectl_binaries, run_kubectl, token_of
from tests.conftest import write_kubeconfig as write_kubeconfig_file
from tests.standins.apiserver import FakeAPIServer
from tests.standins.google_oauth import GoogleOAuthStandIn
from tests.standins.tls import TLSMaterial

GCLOUD = shutil.which("gcloud")
DEPLOYER = "deployer@my-proj.iam.gserviceaccount.com"
READER = "reader@my-proj.iam.gserviceaccount.com"
pytestmark = pytest.mark.skipif(GCLOUD is None, reason="no gcloud on this machine")


@pytest.fixture
def gcloud_env(
    gplugin: Plugin, google: GoogleOAuthStandIn, tls: TLSMaterial, tmp_path: Path
) -> Iterator[Plugin]:
    """The plugin's environment with a gcloud configuration of its own, two service accounts
    activated, the deployer active."""
    gplugin.env.update(
        {
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": str(tls.ca_path),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "False",
        }
    )
    for account in (READER, DEPLOYER):  # the last one activated is the active account
        key = tmp_path / f"{account.split('@')[0]}.json"
        key.write_text(json.dumps(google.new_service_account(account).key_file(google.token_uri)))
        gcloud(gplugin, "auth", "activate-service-account", f"--key-file={key}")
    yield gplugin


def gcloud(plugin: Plugin, *args: str) -> str:
    assert GCLOUD is not None
    proc = subprocess.run(
        [GCLOUD, *args], env=plugin.env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_active_gcloud_account_is_used_then_cached(
    gcloud_env: Plugin, google: GoogleOAuthStandIn
) -> None:
    run = gcloud_env.run("google", "--gcloud", exec_info=exec_info(V1))
    token = token_of(run.credential())
    assert google.identity_of(token) == f"google:{DEPLOYER}"  # issued by the stand-in
    # A cache hit needs no gcloud at all: take it off PATH.
    asked = google.count()
    again = gcloud_env.run("google", "--gcloud", exec_info=exec_info(V1), env={"PATH": "/nowhere"})
    assert token_of(again.credential()) == token and google.count() == asked


def test_switching_the_active_account_is_another_cache_entry(
    gcloud_env: Plugin, google: GoogleOAuthStandIn
) -> None:
    first = token_of(gcloud_env.run("google", "--gcloud").credential())
    gcloud(gcloud_env, "config", "set", "account", READER)
    second = token_of(gcloud_env.run("google", "--gcloud").credential())
    assert google.identity_of(first) == f"google:{DEPLOYER}"
    assert google.identity_of(second) == f"google:{READER}"
    # --account picks one without touching the active configuration.
    third = token_of(gcloud_env.run("google", "--account", DEPLOYER).credential())
    assert google.identity_of(third) == f"google:{DEPLOYER}"


def test_an_account_gcloud_does_not_have_is_one_line_with_the_fix(gcloud_env: Plugin) -> None:
    run = gcloud_env.run("google", "--account", "nobody@example.com", "--timeout", "60")
    assert run.returncode == 4 and run.stdout == ""
    assert "gcloud config config-helper failed" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_gcloud_not_installed_is_a_usage_error(gplugin: Plugin) -> None:
    run = gplugin.run("google", "--gcloud", env={"PATH": "/nonexistent"})
    assert run.returncode == 2 and "`gcloud` is not on PATH" in run.stderr


@pytest.mark.kubectl
@pytest.mark.skipif(not kubectl_binaries(), reason="no kubectl binary on this machine")
def test_kubectl_get_ns_as_the_gcloud_account(
    gcloud_env: Plugin,
    google: GoogleOAuthStandIn,
    apiserver: FakeAPIServer,
    tls: TLSMaterial,
    tmp_path: Path,
) -> None:
    apiserver.add_authenticator(google.identity_of)
    kubeconfig = write_kubeconfig_file(
        tmp_path / "kubeconfig", apiserver.url, tls.ca_b64, ["google", "--gcloud"]
    )
    result = run_kubectl(kubectl_binaries()[0], kubeconfig, "get", "ns", env=gcloud_env.env)
    assert result.returncode == 0, result.stderr
    assert {r.identity for r in apiserver.authenticated_requests()} == {f"google:{DEPLOYER}"}
