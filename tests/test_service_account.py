"""service-account through the real CLI: file or env, re-read every call, expiry from `exp`."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.conftest import (
    V1,
    V1BETA1,
    Plugin,
    exec_info,
    expiry_of,
    make_jwt,
    service_account_jwt,
)


def test_token_file_with_exp_gives_token_and_expiry(plugin: Plugin, tmp_path: Path) -> None:
    token = service_account_jwt(lifetime=3600)
    path = tmp_path / "token"
    path.write_text(token + "\n")
    doc = plugin.run("service-account", "--token-file", str(path)).credential()
    assert doc["apiVersion"] == V1BETA1
    assert doc["status"]["token"] == token
    assert abs(expiry_of(doc) - (time.time() + 3600)) < 10


def test_token_is_reread_on_every_call(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(service_account_jwt(subject="one"))
    first = plugin.run("service-account", "--token-file", str(path)).credential()
    rotated = service_account_jwt(subject="two")
    path.write_text(rotated)
    second = plugin.run("service-account", "--token-file", str(path)).credential()
    assert second["status"]["token"] == rotated != first["status"]["token"]
    assert not plugin.cache_dir.exists() or not any(plugin.cache_dir.glob("*.json"))


def test_token_env(plugin: Plugin) -> None:
    token = service_account_jwt()
    run = plugin.run("serviceAccount", "--token-env", "SA_TOKEN", env={"SA_TOKEN": token})
    assert run.credential()["status"]["token"] == token


def test_missing_env_var_is_one_clear_line(plugin: Plugin) -> None:
    run = plugin.run("service-account", "--token-env", "NOPE")
    assert run.returncode != 0 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "credplugin: error: environment variable NOPE is not set or empty; "
        "export NOPE with the service-account token, or use --token-file"
    ]


def test_default_is_the_in_cluster_token_and_says_what_to_do_outside_a_pod(
    plugin: Plugin,
) -> None:
    if os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"):
        return  # running inside a pod: the default works, nothing to prove here
    run = plugin.run("service-account")
    assert run.returncode != 0 and run.stdout == ""
    assert "/var/run/secrets/kubernetes.io/serviceaccount/token" in run.stderr
    assert "--token-file" in run.stderr and "Traceback" not in run.stderr


def test_expired_token_fails_instead_of_looping_kubectl(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(service_account_jwt(lifetime=-600))
    run = plugin.run("service-account", "--token-file", str(path))
    assert run.returncode != 0 and run.stdout == ""
    assert "expired 10 minutes ago" in run.stderr


def test_legacy_token_without_exp_has_no_expiry(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(make_jwt({"sub": "system:serviceaccount:default:legacy"}))
    doc = plugin.run("service-account", "--token-file", str(path)).credential()
    assert "expirationTimestamp" not in doc["status"]


def test_opaque_token_is_passed_through(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("not-a-jwt-but-a-token\n")
    doc = plugin.run("service-account", "--token-file", str(path)).credential()
    assert doc["status"] == {"token": "not-a-jwt-but-a-token"}


def test_file_that_is_not_a_token_is_refused(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("two words\n")
    run = plugin.run("service-account", "--token-file", str(path))
    assert run.returncode != 0 and "does not hold a bearer token" in run.stderr
    path.write_text("")
    assert "is empty" in plugin.run("service-account", "--token-file", str(path)).stderr


def test_fifo_as_token_file_does_not_hang(plugin: Plugin, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    run = plugin.run("service-account", "--token-file", str(fifo), "--timeout", "2", timeout=30)
    assert run.returncode != 0 and run.stdout == ""
    assert time.monotonic() - started < 20


def test_both_sources_is_a_usage_error(plugin: Plugin, tmp_path: Path) -> None:
    run = plugin.run("service-account", "--token-file", "x", "--token-env", "Y")
    assert run.returncode == 2 and "exclude each other" in run.stderr


def test_cluster_config_may_not_name_the_token_source(plugin: Plugin, tmp_path: Path) -> None:
    """A cluster entry, often handed out by the cluster's owner, must not make the plugin
    send a local file or variable to that cluster as a bearer token."""
    secret = tmp_path / "git-credentials"
    secret.write_text("https://bob:ghp_realtoken123@github.com")
    for key, value in (("token-file", str(secret)), ("token-env", "HOME")):
        info = exec_info(V1, server="https://10.0.0.1", config={key: value})
        run = plugin.run("service-account", exec_info=info)
        # Ignored, with a warning; the user's own source (here the in-cluster default,
        # absent outside a pod) is what is read.
        assert run.returncode == 4 and run.stdout == ""
        assert (
            f"ignored '{key}' in the exec extension of cluster https://10.0.0.1: "
            f"a cluster entry may not set --{key}"
        ) in run.stderr
        assert "/var/run/secrets/kubernetes.io/serviceaccount/token" in run.stderr
        assert "ghp_realtoken123" not in run.stderr
    # The user entry's own args decide; the cluster's say is ignored even then.
    token = tmp_path / "token"
    token.write_text("argv-token")
    info = exec_info(V1, server="https://10.0.0.1", config={"token-file": str(secret)})
    doc = plugin.run("service-account", "--token-file", str(token), exec_info=info).credential()
    assert doc["status"]["token"] == "argv-token" and doc["apiVersion"] == V1
