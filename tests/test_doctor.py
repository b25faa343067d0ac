"""`credplugin doctor` on broken kubeconfigs, one fault each: every fault is an ERROR line
naming the context and what is wrong, and exit 1; the same kubeconfig without the fault
passes. Nothing is fetched (the cache stays empty)."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import V1, Plugin, credplugin_command, service_account_jwt
from tests.standins.tls import TLSMaterial

Doc = dict[str, Any]


def config(args: list[str], **exec_extra: Any) -> Doc:
    """A kubeconfig whose one context runs `credplugin ARGS` against an https cluster."""
    command = credplugin_command()
    block: dict[str, Any] = {
        "apiVersion": V1,
        "command": command[0],
        "args": [*command[1:], *args],
        "interactiveMode": "Never",
        "provideClusterInfo": True,
    }
    block.update(exec_extra)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://k.example"}}],
        "users": [{"name": "u", "user": {"exec": block}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    }


def cluster(doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = doc["clusters"][0]["cluster"]
    return result


def exec_of(doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = doc["users"][0]["user"]["exec"]
    return result


class Machine:
    """Files and variables a test may point a kubeconfig at."""

    def __init__(self, tmp: Path, plugin: Plugin, tls: TLSMaterial) -> None:
        self.tmp = tmp
        self.plugin = plugin
        self.tls = tls
        self.token = tmp / "token"
        self.token.write_text(service_account_jwt())
        self.not_pem = tmp / "not-a-ca.crt"
        self.not_pem.write_text("hello\n")


# (name, the healthy doc, how to break it, what the ERROR line says)
def sa(m: Machine) -> Doc:
    return config(["service-account", "--token-file", str(m.token)])


def aws(m: Machine) -> Doc:
    return config(["aws", "--cluster-id", "c"])


FAULTS: list[tuple[str, Callable[[Machine], Doc], Callable[[Doc, Machine], object], str]] = [
    (
        "ca-file-missing",
        sa,
        lambda d, m: cluster(d).update({"certificate-authority": str(m.tmp / "nope.crt")}),
        "nope.crt: no such file or directory",
    ),
    (
        "ca-file-not-pem",
        sa,
        lambda d, m: cluster(d).update({"certificate-authority": str(m.not_pem)}),
        "is not a PEM certificate",
    ),
    (
        "ca-data-not-base64",
        sa,
        lambda d, m: cluster(d).update({"certificate-authority-data": "not base64!"}),
        "certificate-authority-data is not base64",
    ),
    (
        "ca-data-not-a-certificate",
        sa,
        lambda d, m: cluster(d).update(
            {"certificate-authority-data": base64.b64encode(b"hello").decode()}
        ),
        "certificate-authority-data: is not a PEM certificate",
    ),
    (
        "ca-and-insecure",
        sa,
        lambda d, m: cluster(d).update(
            {"certificate-authority-data": m.tls.ca_b64, "insecure-skip-tls-verify": True}
        ),
        "kubectl refuses the pair",
    ),
    (
        "http-server-with-exec-user",
        sa,
        lambda d, m: cluster(d).update({"server": "http://k.example:8080"}),
        "plain http: kubectl applies exec credentials to TLS servers only",
    ),
    (
        "placeholder-server",
        sa,
        lambda d, m: cluster(d).update({"server": "https://<cluster-endpoint>"}),
        "is a placeholder to fill in",
    ),
    (
        "exec-v1alpha1",
        sa,
        lambda d, m: exec_of(d).update({"apiVersion": "client.authentication.k8s.io/v1alpha1"}),
        "v1alpha1 was removed",
    ),
    (
        "v1-without-interactive-mode",
        sa,
        lambda d, m: exec_of(d).pop("interactiveMode"),
        "needs interactiveMode",
    ),
    (
        "command-not-on-path",
        sa,
        lambda d, m: exec_of(d).update({"command": "no-such-plugin-anywhere"}),
        "'no-such-plugin-anywhere' is not found",
    ),
    (
        "required-option-missing",
        aws,
        lambda d, m: exec_of(d)["args"].remove("c") or exec_of(d)["args"].remove("--cluster-id"),
        "aws needs --cluster-id",
    ),
    (
        "required-option-only-in-a-refused-extension-key",
        lambda m: config(["aks", "--tenant-id", "t"], interactiveMode="IfAvailable"),
        lambda d, m: (
            exec_of(d).update({"args": exec_of(d)["args"][:-2]}),
            cluster(d).update(
                {
                    "extensions": [
                        {
                            "name": "client.authentication.k8s.io/exec",
                            "extension": {"tenant-id": "t"},
                        }
                    ]
                }
            ),
        ),
        "add --allow-cluster-option tenant-id",
    ),
    (
        "token-file-missing",
        sa,
        lambda d, m: m.token.unlink(),
        "--token-file",
    ),
    (
        "token-variable-unset",
        lambda m: config(["service-account", "--token-env", "DOCTOR_SA_TOKEN"]),
        lambda d, m: m.plugin.env.pop("DOCTOR_SA_TOKEN"),
        "$DOCTOR_SA_TOKEN is not set",
    ),
    (
        "browser-command-not-on-path",
        lambda m: config(
            ["oidc", "--issuer-url", "https://idp.example", "--client-id", "k"],
            interactiveMode="IfAvailable",
        ),
        lambda d, m: exec_of(d)["args"].extend(["--browser-command", "no-such-browser --new"]),
        "'no-such-browser --new': the program is not on PATH",
    ),
    (
        "unknown-aws-profile",
        aws,
        lambda d, m: exec_of(d)["args"].extend(["--profile", "nosuch"]),
        "AWS profile 'nosuch' is in neither AWS config file (profiles: platform)",
    ),
    (
        "role-arn-is-not-an-arn",
        aws,
        lambda d, m: exec_of(d)["args"].extend(["--role-arn", "eks-admin"]),
        "'eks-admin' is not an IAM role ARN",
    ),
    (
        "azure-secret-variable-unset",
        lambda m: config(
            ["azure", "--credential", "client-secret", "--tenant-id", "t", "--client-id", "c"],
            env=[{"name": "AZURE_CLIENT_SECRET", "value": "s"}],
        ),
        lambda d, m: exec_of(d).pop("env"),
        "needs $AZURE_CLIENT_SECRET, which is not set",
    ),
    (
        "written-incomplete",
        aws,
        lambda d, m: exec_of(d).update(
            {"env": [{"name": "CREDPLUGIN_INCOMPLETE", "value": "needs --role-arn"}]}
        ),
        "incomplete: needs --role-arn",
    ),
    (
        "placeholder-argument",
        aws,
        lambda d, m: exec_of(d)["args"].extend(["--profile", "<your-profile>"]),
        "'<your-profile>' is a placeholder to fill in",
    ),
    (
        "no-token-source-outside-a-pod",
        sa,
        lambda d, m: exec_of(d).update({"args": exec_of(d)["args"][:-2]}),
        "no in-cluster token at /var/run/secrets/kubernetes.io/serviceaccount/token",
    ),
]


@pytest.fixture
def machine(plugin: Plugin, tmp_path: Path, tls: TLSMaterial) -> Machine:
    Path(plugin.env["AWS_CONFIG_FILE"]).write_text("[profile platform]\nregion = eu-west-1\n")
    plugin.env["DOCTOR_SA_TOKEN"] = service_account_jwt()
    plugin.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{plugin.env['PATH']}"
    return Machine(tmp_path, plugin, tls)


def doctor(plugin: Plugin, doc: Doc, path: Path) -> Any:
    path.write_text(json.dumps(doc))
    return plugin.run("doctor", "--kubeconfig", str(path))


@pytest.mark.parametrize(
    ("name", "healthy", "break_it", "says"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_each_fault_is_an_error_naming_it(
    name: str,
    healthy: Callable[[Machine], Doc],
    break_it: Callable[[Doc, Machine], object],
    says: str,
    machine: Machine,
    plugin: Plugin,
    tmp_path: Path,
) -> None:
    doc = healthy(machine)
    good = doctor(plugin, doc, tmp_path / "good.json")
    assert good.returncode == 0 and "ERROR" not in good.stdout, good.stdout + good.stderr
    break_it(doc, machine)
    bad = doctor(plugin, doc, tmp_path / "bad.json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    errors = [line for line in bad.stdout.splitlines() if line.startswith("ERROR")]
    assert any(says in line and "context ctx" in line for line in errors), bad.stdout
    assert not list(plugin.cache_dir.glob("*.json")), "doctor must not fetch"


def test_no_kubeconfig_at_all_names_where_it_looked(plugin: Plugin, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"
    run = plugin.run("doctor", env={"KUBECONFIG": f"{missing}{os.pathsep}{tmp_path / 'b'}"})
    assert run.returncode == 1
    assert f"no kubeconfig found: looked at {missing}, {tmp_path / 'b'}" in run.stderr


def test_a_refused_extension_key_is_a_warning(machine: Machine, plugin: Plugin) -> None:
    doc = aws(machine)
    cluster(doc)["extensions"] = [
        {
            "name": "client.authentication.k8s.io/exec",
            "extension": {"role-arn": "arn:aws:iam::123456789012:role/theirs"},
        }
    ]
    run = doctor(plugin, doc, machine.tmp / "k.json")
    assert run.returncode == 0, run.stdout
    assert "WARN  context ctx (user u): credplugin aws: ignored 'role-arn'" in run.stdout
