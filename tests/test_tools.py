"""`cache`, `inspect` and `doctor` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import (
    ACCESS_KEY,
    SECRET_KEY,
    V1,
    Plugin,
    aws_static_env,
    credplugin_command,
    exec_info,
    service_account_jwt,
)


@pytest.fixture
def aws_plugin(plugin: Plugin) -> Plugin:
    plugin.env.update(aws_static_env())
    return plugin


# -- cache -----------------------------------------------------------------------------------


def test_cache_list_shows_entries_without_secrets(aws_plugin: Plugin) -> None:
    token = aws_plugin.run(
        "aws", "-i", "prod", exec_info=exec_info(V1, server="https://p")
    ).credential()
    aws_plugin.run("aws", "-i", "staging").credential()
    run = aws_plugin.run("cache", "list")
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["KEY", "PROVIDER", "FOR", "IDENTITY", "EXPIRES"]
    assert len(lines) == 3
    prod = next(line for line in lines if "cluster-id=prod" in line)
    assert "server=https://p" in prod and f"access key {ACCESS_KEY}" in prod and "in 14m" in prod
    assert token["status"]["token"] not in run.stdout and SECRET_KEY not in run.stdout


def test_cache_list_reports_unusable_entries(aws_plugin: Plugin) -> None:
    aws_plugin.run("aws", "-i", "prod").credential()
    (entry,) = aws_plugin.cache_dir.glob("*.json")
    entry.write_text("{corrupt")
    run = aws_plugin.run("cache", "list")
    assert run.returncode == 0 and "unusable" in run.stdout


def test_cache_clear_by_key_provider_and_all(aws_plugin: Plugin, tmp_path: Path) -> None:
    for cluster in ("a", "b", "c"):
        aws_plugin.run("aws", "-i", cluster).credential()
    keys = sorted(p.stem for p in aws_plugin.cache_dir.glob("*.json"))
    run = aws_plugin.run("cache", "clear", keys[0][:10])
    assert run.returncode == 0 and "removed 1" in run.stderr
    assert sorted(p.stem for p in aws_plugin.cache_dir.glob("*.json")) == keys[1:]
    # The lock file stays: a running process may hold it (removing it would let a second
    # process lock a new file and fetch alongside).
    assert (aws_plugin.cache_dir / f"{keys[0]}.lock").exists()
    assert aws_plugin.run("cache", "clear", "--provider", "oidc").stderr.startswith("removed 0")
    assert "removed 2" in aws_plugin.run("cache", "clear", "--provider", "aws").stderr
    assert aws_plugin.run("cache", "clear").returncode == 2  # says what to clear
    aws_plugin.run("aws", "-i", "a").credential()
    assert "removed 1" in aws_plugin.run("cache", "clear", "--all").stderr
    assert not list(aws_plugin.cache_dir.glob("*.json"))


def test_cache_clear_refuses_an_ambiguous_prefix(aws_plugin: Plugin) -> None:
    for cluster in ("a", "b"):
        aws_plugin.run("aws", "-i", cluster).credential()
    run = aws_plugin.run("cache", "clear", "")
    assert run.returncode == 2 and "matches 2 entries" in run.stderr


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_jwt_shows_claims_and_time_left(plugin: Plugin) -> None:
    run = plugin.run("inspect", service_account_jwt(lifetime=1800))
    assert run.returncode == 0
    assert "JWT (decoded, not verified)" in run.stdout
    assert '"system:serviceaccount:default:backstage"' in run.stdout
    assert "time left: 29m" in run.stdout or "time left: 30m" in run.stdout


def test_inspect_expired_jwt(plugin: Plugin) -> None:
    assert "EXPIRED" in plugin.run("inspect", service_account_jwt(lifetime=-60)).stdout


def test_inspect_reads_an_exec_credential_from_a_pipe(aws_plugin: Plugin) -> None:
    doc = aws_plugin.run("aws", "-i", "prod").stdout
    run = aws_plugin.run("inspect", stdin=doc)
    assert run.returncode == 0
    assert "host: sts.eu-west-1.amazonaws.com" in run.stdout
    assert f"access key id: {ACCESS_KEY}" in run.stdout
    assert "signed headers: host;x-k8s-aws-id" in run.stdout
    assert "session token: none" in run.stdout
    assert SECRET_KEY not in run.stdout


def test_inspect_survives_hostile_tokens(plugin: Plugin) -> None:
    """A token is anyone's text: deep nesting is no crash, control characters no terminal
    escape."""

    def part(text: str) -> str:
        import base64

        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    for header, payload in (("[" * 60000, '{"exp": 1}'), ('{"alg": "RS256"}', "[" * 60000)):
        run = plugin.run("inspect", f"{part(header)}.{part(payload)}.c2ln")
        assert run.returncode == 0 and "Traceback" not in run.stderr
    run = plugin.run("inspect", "-", stdin="{" + '"a":{' * 60000)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    hostile = part('{"alg": "\u001b]0;owned\u0007"}') + "." + part('{"exp": 1}') + ".c2ln"
    run = plugin.run("inspect", hostile)
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout


def test_inspect_opaque_and_malformed(plugin: Plugin) -> None:
    assert "opaque token, 6 characters" in plugin.run("inspect", "abcdef").stdout
    run = plugin.run("inspect", "-", stdin='{"status": {}}')
    assert run.returncode == 2 and "not an ExecCredential with a token" in run.stderr
    assert "malformed" in plugin.run("inspect", "k8s-aws-v1.!!!").stdout


# -- doctor ----------------------------------------------------------------------------------


def kubeconfig(path: Path, users: dict[str, dict[str, object]], server: str = "https://k") -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": server,
                    "extensions": [
                        {
                            "name": "client.authentication.k8s.io/exec",
                            "extension": {"cluster-id": "from-extension"},
                        }
                    ],
                },
            }
        ],
        "users": [{"name": name, "user": {"exec": block}} for name, block in users.items()],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": name}} for name in users],
    }
    path.write_text(json.dumps(doc))
    return path


def exec_block(
    *args: str, api: str = V1, mode: str | None = "Never", **extra: object
) -> dict[str, object]:
    command = credplugin_command()
    block: dict[str, object] = {
        "apiVersion": api,
        "command": command[0],
        "args": [*command[1:], *args],
    }
    if mode:
        block["interactiveMode"] = mode
    block.update(extra)
    return block


def test_doctor_finds_every_broken_entry(plugin: Plugin, tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "kubeconfig",
        {
            "alpha": exec_block("service-account", api="client.authentication.k8s.io/v1alpha1"),
            "no-mode": exec_block("service-account", mode=None),
            "missing-command": {**exec_block("aws"), "command": "no-such-plugin-anywhere"},
            "unknown-provider": exec_block("gcp"),
            "bad-args": exec_block("aws", "--no-such-flag"),
        },
    )
    run = plugin.run("doctor", "--kubeconfig", str(path))
    assert run.returncode == 1
    lines = run.stdout.splitlines()

    def finding(context: str) -> str:
        return "\n".join(line for line in lines if f"context {context} " in line)

    assert "v1alpha1 was removed" in finding("alpha")
    assert "needs interactiveMode" in finding("no-mode")
    assert "'no-such-plugin-anywhere' is not found" in finding("missing-command")
    assert "no provider 'gcp'" in finding("unknown-provider")
    assert "no such option: --no-such-flag" in finding("bad-args")
    assert "ERROR" in finding("alpha") and "ERROR" in finding("bad-args")


def test_doctor_dry_run_reports_cache_state_without_fetching(
    plugin: Plugin, tmp_path: Path
) -> None:
    plugin.env.update(aws_static_env())
    token = tmp_path / "token"
    token.write_text(service_account_jwt())
    path = kubeconfig(
        tmp_path / "kubeconfig",
        {
            "eks": exec_block("aws", provideClusterInfo=True),
            "sa": exec_block("service-account", "--token-file", str(token)),
            "sso": exec_block(
                "oidc",
                "--issuer-url",
                "https://idp.example",
                "--client-id",
                "k",
                mode="IfAvailable",
            ),
        },
    )
    before = plugin.run("doctor", "--kubeconfig", str(path))
    assert before.returncode == 0, before.stdout + before.stderr
    assert "credplugin aws: will fetch at the next use" in before.stdout
    assert "credplugin service-account: fetched on every call" in before.stdout
    assert "credplugin oidc: a login is needed at the next use" in before.stdout
    assert not list(plugin.cache_dir.glob("*.json")), "doctor must not fetch"
    # The token kubectl would get, with the cluster's extension, is then reported as cached.
    info = exec_info(V1, server="https://k", config={"cluster-id": "from-extension"})
    plugin.run("aws", exec_info=info).credential()
    after = plugin.run("doctor", "--kubeconfig", str(path), "--context", "eks")
    assert after.returncode == 0
    assert "credplugin aws: cached credential (14 min left)" in after.stdout
