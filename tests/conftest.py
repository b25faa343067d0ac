"""Shared fixtures: an isolated environment, the real CLI as a subprocess, the API stand-in.

Nothing here reads the developer's ~/.kube, ~/.aws, ~/.azure or gcloud config: HOME points
into a temp dir and every provider variable is removed, for this process and its children.
"""

from __future__ import annotations

import base64
import calendar
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.standins.apiserver import FakeAPIServer
from tests.standins.entra import EntraStandIn, RefusingProxy
from tests.standins.google_oauth import DeadAddress, GoogleOAuthStandIn
from tests.standins.tls import TLSMaterial, make_tls

# In CI the property tests replay one fixed set of examples, so that a landing does not hang
# on the luck of the draw; on developer machines they keep exploring (and keep what failed in
# .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

PROVIDER_ENV_PREFIXES = (
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "CLOUDSDK_",
    "GCE_",
    "KUBE",
    "CREDPLUGIN_",
    "MSAL_",
    "IDENTITY_",
    "MSI_",
    "IMDS_",
    "ACTIONS_ID_TOKEN",
    # The person's own keyring: a test that wants one starts its own (tests/standins).
    "DBUS_SESSION_BUS_ADDRESS",
    "PYTHON_KEYRING_BACKEND",
)
EXEC_INFO = "KUBERNETES_EXEC_INFO"
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
# AWS's documentation example key pair: static credentials for the aws provider.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def credplugin_command() -> list[str]:
    """The installed console script, as kubectl would run it (falls back to -m)."""
    script = Path(sys.executable).with_name("credplugin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "credplugin"]


def clean_environ(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    env.pop("BROWSER", None)
    env["HOME"] = str(home)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = str(home / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "no-aws-credentials")
    env["CLOUDSDK_CONFIG"] = str(home / "no-gcloud")
    env["AZURE_CONFIG_DIR"] = str(home / "no-azure")
    return env


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(PROVIDER_ENV_PREFIXES) or key == "BROWSER":
            monkeypatch.delenv(key)
    for key, value in clean_environ(home).items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return home


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def credential(self) -> dict[str, Any]:
        """The one ExecCredential on stdout; fails the test on anything else."""
        assert self.returncode == 0, self.stderr
        doc = json.loads(self.stdout)
        assert isinstance(doc, dict)
        assert doc["kind"] == "ExecCredential"
        assert self.stdout.count("\n") == 1 and self.stdout.endswith("\n"), self.stdout
        return doc


class Plugin:
    """Runs the real credplugin CLI in a subprocess with an isolated environment."""

    def __init__(self, home: Path, cache_dir: Path) -> None:
        self.home = home
        self.cache_dir = cache_dir
        self.env = clean_environ(home)
        self.env["CREDPLUGIN_CACHE_DIR"] = str(cache_dir)

    def run(
        self,
        *args: str,
        exec_info: Mapping[str, Any] | str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60,
    ) -> Run:
        full_env = dict(self.env)
        if exec_info is not None:
            full_env[EXEC_INFO] = exec_info if isinstance(exec_info, str) else json.dumps(exec_info)
        full_env.update(env or {})
        proc = subprocess.run(
            [*credplugin_command(), *args],
            env=full_env,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def plugin(isolated_home: Path, tmp_path: Path) -> Plugin:
    return Plugin(isolated_home, tmp_path / "cache")


def exec_info(
    api_version: str = V1,
    interactive: bool = False,
    server: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """KUBERNETES_EXEC_INFO as kubectl sends it."""
    spec: dict[str, Any] = {"interactive": interactive}
    if server is not None:
        spec["cluster"] = {"server": server, "config": dict(config) if config else None}
    return {"kind": "ExecCredential", "apiVersion": api_version, "spec": spec}


def make_jwt(claims: Mapping[str, Any]) -> str:
    """An unsigned-looking compact JWS (the stand-in checks tokens by value, not signature)."""

    def part(data: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'test'})}.{part(claims)}.c2lnbmF0dXJl"


def service_account_jwt(lifetime: float = 3600, subject: str = "backstage") -> str:
    now = int(time.time())
    return make_jwt(
        {
            "iss": "https://kubernetes.default.svc",
            "sub": f"system:serviceaccount:default:{subject}",
            "aud": ["https://kubernetes.default.svc"],
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
        }
    )


def expiry_of(doc: Mapping[str, Any]) -> float:
    """An ExecCredential's expirationTimestamp, in seconds since the epoch."""
    status = doc["status"]
    assert isinstance(status, dict)
    stamp = status["expirationTimestamp"]
    assert isinstance(stamp, str) and stamp.endswith("Z")
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def token_of(doc: Mapping[str, Any]) -> str:
    """An ExecCredential's bearer token."""
    token = doc["status"]["token"]
    assert isinstance(token, str)
    return token


def one_line(stderr: str) -> str:
    """The only line of `stderr`; fails the test if there are more or none."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# -- provider credentials and stand-ins -------------------------------------------------------


def aws_static_env(region_variable: str = "AWS_REGION") -> dict[str, str]:
    """Static AWS credentials (ACCESS_KEY, SECRET_KEY) and region eu-west-1 in `region_variable`."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        region_variable: "eu-west-1",
    }


@pytest.fixture
def google(tls: TLSMaterial) -> Iterator[GoogleOAuthStandIn]:
    with GoogleOAuthStandIn(tls) as standin:
        yield standin


@pytest.fixture
def gplugin(plugin: Plugin, tls: TLSMaterial) -> Iterator[Plugin]:
    """The plugin trusting the stand-ins' CA; the metadata server address refuses
    connections, so no test ever probes 169.254.169.254."""
    with DeadAddress() as dead:
        plugin.env["REQUESTS_CA_BUNDLE"] = str(tls.ca_path)
        plugin.env.pop("CURL_CA_BUNDLE", None)
        plugin.env["GCE_METADATA_IP"] = dead.address
        plugin.env["GCE_METADATA_HOST"] = dead.address
        yield plugin


@pytest.fixture
def proxy() -> Iterator[RefusingProxy]:
    with RefusingProxy() as trap:
        yield trap


def use_entra(
    plugin: Plugin, entra: EntraStandIn, tls: TLSMaterial, proxy: RefusingProxy
) -> Plugin:
    """The plugin's environment: the Entra stand-in's CA, its authority host, the refusing
    proxy in place of the internet."""
    plugin.env.pop("CURL_CA_BUNDLE", None)
    plugin.env.update(proxy.env())
    plugin.env.update({"REQUESTS_CA_BUNDLE": str(tls.ca_path), "AZURE_AUTHORITY_HOST": entra.url})
    return plugin


# -- kubectl and the API server stand-in ------------------------------------------------------


def kubectl_binaries() -> list[str]:
    """Every kubectl.1.NN shipped beside the dispatcher, then the dispatcher itself."""
    found = sorted(glob("/usr/lib/google-cloud-sdk/bin/kubectl.1.*"), key=_minor)
    dispatcher = shutil.which("kubectl")
    if dispatcher:
        found.append(dispatcher)
    return found


def _minor(path: str) -> int:
    try:
        return int(path.rsplit(".", 1)[1])
    except ValueError:
        return 0


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def apiserver(tls: TLSMaterial) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(tls) as server:
        yield server


def write_kubeconfig(
    path: Path,
    server: str,
    ca_b64: str | None,
    exec_args: Sequence[str],
    *,
    api_version: str = V1,
    interactive_mode: str | None = "Never",
    provide_cluster_info: bool = True,
    cluster_config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """A kubeconfig (JSON is YAML) whose only user runs credplugin through `exec:`."""
    command = credplugin_command()
    exec_block: dict[str, Any] = {
        "apiVersion": api_version,
        "command": command[0],
        "args": [*command[1:], *exec_args],
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "provideClusterInfo": provide_cluster_info,
        "installHint": "install credplugin from its repository: pipx install . in a clone",
    }
    if interactive_mode is not None:
        exec_block["interactiveMode"] = interactive_mode
    cluster: dict[str, Any] = {"server": server}
    if ca_b64:
        cluster["certificate-authority-data"] = ca_b64
    if cluster_config is not None:
        cluster["extensions"] = [
            {"name": "client.authentication.k8s.io/exec", "extension": dict(cluster_config)}
        ]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "test",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": "test", "user": {"exec": exec_block}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


def run_kubectl(
    kubectl: str, kubeconfig: Path, *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
