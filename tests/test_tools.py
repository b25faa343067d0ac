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
    assert lines[0].split() == ["KEY", "PROVIDER", "FOR", "IDENTITY", "SECRETS", "EXPIRES"]
    assert len(lines) == 3
    prod = next(line for line in lines if "cluster-id=prod" in line)
    assert "  -  " in prod  # static keys: nothing long-lived is cached
    assert "server=https://p" in prod and f"access key {ACCESS_KEY}" in prod and "in 14m" in prod
    assert token["status"]["token"] not in run.stdout and SECRET_KEY not in run.stdout


def test_cache_list_reports_unusable_entries(aws_plugin: Plugin) -> None:
    aws_plugin.run("aws", "-i", "prod").credential()
    (entry,) = aws_plugin.cache_dir.glob("*.json")
    entry.write_text("{corrupt")
    run = aws_plugin.run("cache", "list")
    assert run.returncode == 0 and "unusable" in run.stdout, run.stderr


def test_cache_clear_by_key_provider_and_all(aws_plugin: Plugin, tmp_path: Path) -> None:
    for cluster in ("a", "b", "c"):
        aws_plugin.run("aws", "-i", cluster).credential()
    keys = sorted(p.stem for p in aws_plugin.cache_dir.glob("*.json"))
    run = aws_plugin.run("cache", "clear", keys[0][:10])
    assert run.returncode == 0 and "removed 1" in run.stderr
    assert sorted(p.stem for p in aws_plugin.cache_dir.glob("*.json")) == keys[1:]
    # Its lock goes too: nobody holds it.
    assert not (aws_plugin.cache_dir / f"{keys[0]}.lock").exists()
    assert aws_plugin.run("cache", "clear", "--provider", "oidc").stderr.startswith("removed 0")
    assert "removed 2" in aws_plugin.run("cache", "clear", "--provider", "aws").stderr
    assert aws_plugin.run("cache", "clear").returncode == 2  # says what to clear
    aws_plugin.run("aws", "-i", "a").credential()
    assert "removed 1" in aws_plugin.run("cache", "clear", "--all").stderr
    assert list(aws_plugin.cache_dir.iterdir()) == [], "no entry, lock or back-off remains"


def test_cache_clear_leaves_a_held_lock_and_says_so(aws_plugin: Plugin) -> None:
    import fcntl

    aws_plugin.run("aws", "-i", "a").credential()
    (entry,) = aws_plugin.cache_dir.glob("*.json")
    lock = entry.with_suffix(".lock")
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a fetch in progress holds it
        run = aws_plugin.run("cache", "clear", "--all")
    assert run.returncode == 0 and "removed 1" in run.stderr
    assert f"left the lock of {entry.stem[:12]}: another credplugin process holds it" in (
        run.stderr
    )
    assert lock.exists() and not entry.exists()


def test_cache_clear_of_an_unknown_key(aws_plugin: Plugin) -> None:
    aws_plugin.run("aws", "-i", "a").credential()
    run = aws_plugin.run("cache", "clear", "nosuch")
    assert run.returncode == 2 and "no entry matches 'nosuch'" in run.stderr


def test_cache_list_shows_only_what_was_given(aws_plugin: Plugin) -> None:
    aws_plugin.run("aws", "-i", "plain").credential()
    line = aws_plugin.run("cache", "list").stdout.splitlines()[1]
    assert "cluster-id=plain" in line
    assert "session-name" not in line and "duration" not in line  # no role: not used


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


def test_inspect_expired_jwt_says_so_and_exits_6(plugin: Plugin) -> None:
    run = plugin.run("inspect", service_account_jwt(lifetime=-3600))
    assert run.returncode == 6
    assert run.stdout.splitlines()[-1] == "EXPIRED" and "expired 60m ago" in run.stdout
    assert plugin.run("inspect", service_account_jwt(lifetime=600)).returncode == 0


def test_inspect_reads_a_token_from_a_file(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "token.jwt"
    path.write_text(service_account_jwt() + "\n")
    run = plugin.run("inspect", str(path))
    assert run.returncode == 0 and "system:serviceaccount:default:backstage" in run.stdout


def test_inspect_with_nothing_to_decode_is_a_usage_error(plugin: Plugin, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for run in (plugin.run("inspect", "-", stdin=""), plugin.run("inspect", str(empty))):
        assert run.returncode == 2 and "the input is empty" in run.stderr


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
        assert run.returncode in (0, 6) and "Traceback" not in run.stderr
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


# -- help --------------------------------------------------------------------------------------

HELP_PAGES = [
    [],
    ["cache"],
    ["cache", "list"],
    ["cache", "clear"],
    ["kubeconfig"],
    ["kubeconfig", "from-backstage"],
    ["kubeconfig", "add"],
    ["kubeconfig", "convert"],
    ["inspect"],
    ["doctor"],
]


@pytest.mark.parametrize("page", HELP_PAGES, ids=lambda p: " ".join(p) or "credplugin")
def test_help_pages_show_summaries_whole(plugin: Plugin, page: list[str]) -> None:
    run = plugin.run(*page, "--help", env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    assert not [
        line
        for line in run.stdout.splitlines()
        if line.rstrip().endswith("...") and "[ARGS]..." not in line and "[OPTIONS]" not in line
    ], run.stdout


@pytest.mark.parametrize(
    "page", [["doctor"], ["inspect"], ["cache", "clear"], ["kubeconfig", "from-backstage"]]
)
def test_tool_help_says_its_exit_codes(plugin: Plugin, page: list[str]) -> None:
    assert "Exit codes:" in plugin.run(*page, "--help").stdout
