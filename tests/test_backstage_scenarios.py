"""`kubeconfig from-backstage` on realistic app-configs nobody here tuned the code to.

Each directory of tests/data/app-configs/ is a deployment's app-config file(s) in a style
seen in public repositories or Backstage's documentation, with an expect.yaml saying what a
correct converter does with every cluster (written, written with warnings, refused) and what
must appear nowhere; tests/data/app-configs/README.md documents the format. The real CLI
runs on a copy of the scenario, in a fresh environment, under the scenario's time and
memory limits; then every written entry is checked against the expectation.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import credplugin_command, kubectl_binaries

SCENARIOS = Path(__file__).parent / "data" / "app-configs"
KUBECTLS = kubectl_binaries()
ALL = sorted(p.name for p in SCENARIOS.iterdir() if (p / "expect.yaml").is_file())
# `from-backstage` exits 3 when it wrote some clusters and refused others.
PARTIAL = 3


def kube_name(name: str) -> str:
    """A Backstage cluster name as the kubeconfig name it must become: nothing a shell would
    need quotes for (the README's rule, restated here rather than imported)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


def load_expectation(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SCENARIOS / name / "expect.yaml").read_text())
    assert isinstance(doc, dict) and doc["scenario"] == name
    return doc


def run_scenario(
    name: str, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], Path, Path, dict[str, str]]:
    expect = load_expectation(name)
    copy = tmp_path / "a" / "b" / name
    shutil.copytree(SCENARIOS / name, copy)
    for item in (expect.get("setup") or {}).get("files") or []:
        target = (copy / item["path"]).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["content"])
    home = tmp_path / "scenario-home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
    env.update({k: str(v) for k, v in ((expect.get("env") or {}).get("set") or {}).items()})
    output = tmp_path / "kubeconfig"
    limits = expect.get("limits") or {}
    memory = int(limits.get("memory_mb", 0)) * 1024 * 1024

    def bounded() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    command = [
        *credplugin_command(),
        "kubeconfig",
        "from-backstage",
        *[str(copy / f) for f in expect["files"]],
        *expect.get("args", []),
        "--output",
        str(output),
    ]
    proc = subprocess.run(
        command,
        cwd=copy,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=float(limits.get("seconds", 60)),
        preexec_fn=bounded,
        check=False,
    )
    return proc, output, copy, env


@pytest.mark.parametrize("name", ALL)
def test_app_config_scenario(name: str, tmp_path: Path) -> None:
    expect = load_expectation(name)
    proc, output, copy, env = run_scenario(name, tmp_path)
    written = output.read_text() if output.exists() else ""
    everything = proc.stdout + proc.stderr + written
    for secret in expect.get("must_not_contain") or []:
        assert str(secret) not in everything, f"{secret!r} leaked"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    result = expect["result"]
    if result["exit"] == "error":
        assert proc.returncode != 0, proc.stderr
        mentions = [m.lower() for m in result.get("error_mentions") or []]
        assert not mentions or any(m in proc.stderr.lower() for m in mentions), proc.stderr
        assert not written
        return
    refused = [c for c in expect.get("clusters") or [] if c["outcome"] == "refused"]
    assert proc.returncode == (PARTIAL if refused else 0), proc.stderr
    doc = yaml.safe_load(written) or {}
    contexts = {c["name"]: c["context"] for c in doc.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in doc.get("clusters") or []}
    users = {u["name"]: u["user"] for u in doc.get("users") or []}
    for absent in expect.get("absent") or []:
        assert kube_name(str(absent)) not in contexts
    for cluster in expect.get("clusters") or []:
        cname = str(cluster["name"])
        if cluster["outcome"] == "refused":
            assert kube_name(cname) not in contexts, f"{cname} should be refused"
            lines = [line for line in proc.stderr.splitlines() if cname in line]
            assert any(
                all(str(m) in line for m in cluster.get("mentions") or []) for line in lines
            ), (cname, proc.stderr)
            continue
        assert kube_name(cname) in contexts, (cname, proc.stderr)
        context = contexts[kube_name(cname)]
        entry = clusters[context["cluster"]]
        assert entry["server"] == cluster["server"]
        user = users[context["user"]]
        if cluster.get("user") == "none":
            assert user == {} or not user.get("exec")
        elif cluster.get("user", "exec") == "exec":
            args = user["exec"]["args"]
            assert args[0] == cluster["subcommand"]
            if "options" in cluster:
                check_options(args[1:], cluster["options"], copy)
        for warning in cluster.get("warnings") or []:
            lines = [line for line in proc.stderr.splitlines() if cname in line]
            assert any(
                all(str(m) in line for m in warning.get("mentions") or []) for line in lines
            ), (
                cname,
                warning,
                proc.stderr,
            )
    check_in_kubectl_and_doctor(output, proc.stderr, env, copy)


def check_in_kubectl_and_doctor(output: Path, stderr: str, env: dict[str, str], copy: Path) -> None:
    """What was written loads in real kubectl, and doctor finds no fault the converter did
    not warn about (an unset token variable, a CA file not on this machine...)."""
    if KUBECTLS:
        view = subprocess.run(
            [KUBECTLS[0], "config", "view", "--kubeconfig", str(output), "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert view.returncode == 0, view.stderr
    doctor = subprocess.run(
        [*credplugin_command(), "doctor", "--kubeconfig", str(output)],
        cwd=copy,
        env={**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in doctor.stderr, doctor.stderr
    warned = {
        kube_name(line.split("warning: cluster ", 1)[1].split(":", 1)[0])
        for line in stderr.splitlines()
        if "warning: cluster " in line
    }
    for line in doctor.stdout.splitlines():
        if line.startswith("ERROR"):
            context = line.split("context ", 1)[1].split(" ", 1)[0].rstrip(":")
            assert context in warned, line


def check_options(args: list[str], expected: dict[str, Any], copy: Path) -> None:
    given: dict[str, str] = {}
    words = list(args)
    while words:
        word = words.pop(0)
        flag, eq, value = word.partition("=")
        given[flag] = (
            value if eq else (words.pop(0) if words and not words[0].startswith("--") else "")
        )
    given.pop("--region", None)
    wanted = {k: str(v).replace("{scenario}", str(copy)) for k, v in expected.items()}
    assert set(given) == set(wanted), (given, wanted)
    for flag, value in wanted.items():
        assert value == "*" or given[flag] == value, (flag, given[flag], value)
