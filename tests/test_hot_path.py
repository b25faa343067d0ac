"""The paths kubectl takes on every command import nothing heavy.

Not a timing test (benchmarks/bench.py measures time): it checks which modules a cache hit
and a service-account call load, which is what decides their cost and does not flake.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import V1, aws_static_env, clean_environ, exec_info, service_account_jwt

# Each of these costs milliseconds to import (click alone costs more than starting Python).
FORBIDDEN = (
    "click",
    "boto3",
    "botocore",
    "msal",
    "azure",
    "google",
    "requests",
    "urllib3",
    "cryptography",
    "json",  # json.decoder compiles regexes at import: re + enum
    "re",
    "enum",
    "typing",
    "dataclasses",
    "logging",
    "pathlib",
    "datetime",
    "socket",
    "subprocess",
    "hashlib",
    "keyring",  # the token store: a refresh only
    "secretstorage",
    "jeepney",
    "threading",
)

PROBE = """
import sys
base = set(sys.modules)
from credplugin.entry import main
code = main(sys.argv[1:])
loaded = sorted(set(sys.modules) - base)
sys.stderr.write("MODULES " + " ".join(loaded) + "\\n")
sys.exit(code)
"""


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_listener() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def loaded_modules(args: list[str], env: dict[str, str]) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


# Loaded on a cache miss only: a provider's fetch code, and the cloud plumbing around SDKs.
MISS_ONLY = (
    "credplugin.cloud",
    "credplugin.flows",
    "credplugin.privatefile",  # writes
    "credplugin.bounds",  # reading endpoints
    "credplugin.tokenstore",  # where refresh tokens live: read and written on a refresh
)


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in FORBIDDEN
        or m.startswith(MISS_ONLY)
        or (m.startswith("credplugin.providers.") and m.endswith(".fetch"))
    )


def test_service_account_imports_nothing_heavy(isolated_home: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(service_account_jwt())
    env = clean_environ(isolated_home)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info(V1, server="https://x"))
    modules = loaded_modules(["service-account", "--token-file", str(token)], env)
    # Never cached: it always runs its fetch code, which must stay light.
    fetch = {"credplugin.providers.service_account.fetch", "credplugin.bounds"}
    assert fetch <= modules
    assert heavy(modules - fetch) == []


def test_cache_hit_imports_nothing_heavy(
    isolated_home: Path, tmp_path: Path, http_listener: str
) -> None:
    env = clean_environ(isolated_home)
    env["CREDPLUGIN_CACHE_DIR"] = str(tmp_path / "cache")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info(V1, server=http_listener))
    miss = loaded_modules(["local-kubectl-proxy"], env)
    assert "cryptography" in {m.split(".")[0] for m in miss}, "the first call should fetch"
    hit = loaded_modules(["local-kubectl-proxy"], env)
    assert heavy(hit) == []


def test_aws_cache_hit_imports_nothing_heavy(isolated_home: Path, tmp_path: Path) -> None:
    env = clean_environ(isolated_home)
    env.update(
        {
            "CREDPLUGIN_CACHE_DIR": str(tmp_path / "cache"),
            **aws_static_env(),
            "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1, server="https://x.example")),
        }
    )
    miss = loaded_modules(["aws", "--cluster-id", "c"], env)
    assert "botocore" in {m.split(".")[0] for m in miss}, "the first call should sign"
    assert heavy(loaded_modules(["aws", "--cluster-id", "c"], env)) == []


def test_oidc_cache_hit_imports_nothing_heavy(isolated_home: Path, tmp_path: Path) -> None:
    """Seed the entry by hand (no identity provider needed): a hit never reaches one."""
    from credplugin.cache import Entry
    from credplugin.credential import Credential
    from credplugin.invocation import Invocation
    from credplugin.options import COMMON_OPTIONS, parse_argv
    from credplugin.providers import lookup

    env = clean_environ(isolated_home)
    env["CREDPLUGIN_CACHE_DIR"] = str(tmp_path / "cache")
    args = ["oidc", "--issuer-url", "https://idp.example", "--client-id", "k"]
    provider = lookup("oidc")
    assert provider is not None
    given = parse_argv(provider.options + COMMON_OPTIONS, args[1:])
    call = Invocation(provider, given, {}, None, env)
    now = time.time()
    token = Credential("id-token", issued_at=now, expires_at=now + 3600)
    call.store().write(Entry(call.key, "oidc", token, now))
    assert heavy(loaded_modules(args, env)) == []
