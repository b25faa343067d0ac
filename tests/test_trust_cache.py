"""The cache directory: nothing in it is trusted that is not ours, private, a regular file,
with one link, dated in the past (DESIGN.md, Trust boundaries). Each test prepares the
directory as "another user" (or an attacker with write access to it once) would, then runs
the real runner (tests/fileprovider.py) against it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, V1, Plugin, aws_static_env, exec_info
from tests.test_aws import ROLE_ARN
from tests.test_runner import Upstream, token


@pytest.fixture
def upstream(tmp_path: Path, isolated_home: Path) -> Upstream:
    return Upstream(tmp_path, isolated_home)


def lock_path(upstream: Upstream) -> Path:
    (entry,) = upstream.cache_dir.glob("*.json")
    return entry.with_suffix(".lock")


def test_a_hard_linked_lock_file_is_replaced_not_written_through(
    upstream: Upstream, tmp_path: Path
) -> None:
    """Planted `<key>.lock` -> a file of ours: the lock's pid must never land in it."""
    upstream.run()
    lock = lock_path(upstream)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    lock.unlink()
    os.link(precious, lock)
    upstream.run("--force-refresh")
    assert precious.read_text() == "keep me\n"
    assert lock.stat().st_nlink == 1 and not os.path.samefile(lock, precious)


def test_a_symlinked_lock_file_is_replaced_not_followed(upstream: Upstream, tmp_path: Path) -> None:
    upstream.run()
    lock = lock_path(upstream)
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    lock.unlink()
    lock.symlink_to(target)
    upstream.run("--force-refresh")
    assert target.read_text() == "untouched" and not lock.is_symlink()


def test_an_open_lock_file_of_ours_is_replaced(upstream: Upstream) -> None:
    upstream.run()
    lock = lock_path(upstream)
    lock.chmod(0o666)
    assert token(upstream.run("--force-refresh")) == "tok-1"
    assert lock.stat().st_mode & 0o777 == 0o600


def test_a_symlinked_cache_directory_is_never_made_private_through_the_link(
    upstream: Upstream, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    link = tmp_path / "cache-link"
    link.symlink_to(shared)
    run = upstream.run("--cache-dir", str(link))
    assert token(run) == "tok-1"  # the credential, without the cache
    assert "is a symbolic link to" in run.stderr and "not a private directory" in run.stderr
    assert shared.stat().st_mode & 0o777 == 0o755
    assert list(shared.iterdir()) == []


def test_a_symlink_to_a_private_directory_of_ours_is_used(
    upstream: Upstream, tmp_path: Path
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link = tmp_path / "cache-link"
    link.symlink_to(private)
    run = upstream.run("--cache-dir", str(link))
    assert token(run) == "tok-1"
    assert "warning" not in run.stderr and "symbolic link" not in run.stderr
    assert len(list(private.glob("*.json"))) == 1
    upstream.run("--cache-dir", str(link))
    assert upstream.count() == 1


def test_an_entry_dated_in_the_future_is_not_a_hit(upstream: Upstream) -> None:
    """Shifted a year ahead, it would otherwise be served long after its token died."""
    upstream.run()
    entry = upstream.entry_file()
    doc = json.loads(entry.read_text())
    year = 365 * 86400
    doc["createdAt"] += year
    doc["credential"]["issuedAt"] += year
    doc["credential"]["expiresAt"] += year
    entry.write_text(json.dumps(doc))
    upstream.set(token="tok-2")
    assert token(upstream.run()) == "tok-2"
    assert upstream.count() == 2


def test_a_hard_linked_entry_is_not_a_hit(upstream: Upstream, tmp_path: Path) -> None:
    upstream.run()
    os.link(upstream.entry_file(), tmp_path / "second-name")
    upstream.set(token="tok-2")
    assert token(upstream.run()) == "tok-2"


def test_eof_at_a_secret_prompt_is_exit_3_with_the_command_to_run(plugin: Plugin) -> None:
    """kubectl says a person is there, but stdin has nothing: the MFA prompt of a profile
    role gets EOF. One line naming the command, never an internal error."""
    Path(plugin.env["AWS_CONFIG_FILE"]).write_text(
        "[profile base]\nregion = eu-west-1\n"
        f"[profile admin]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n"
        "mfa_serial = arn:aws:iam::123456789012:mfa/alice\n"
    )
    Path(plugin.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[base]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    plugin.env.update(aws_static_env())
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    started = time.monotonic()
    run = plugin.run(
        "aws", "-i", "p", "--profile", "admin", exec_info=exec_info(V1, interactive=True), env=env
    )
    assert time.monotonic() - started < 20
    assert run.returncode == 3 and run.stdout == "", run.stderr
    assert "no answer (stdin closed)" in run.stderr and "credplugin aws" in run.stderr
    assert "internal error" not in run.stderr
