"""aks: the real MSAL code paths against an Entra ID stand-in on https://127.0.0.1.

Device-code logins are answered the way a person would: the code is read from the plugin's
stderr while it runs, then approved at the stand-in. A proxy that refuses everything stands
in for the internet, so any request to login.microsoftonline.com would be seen (and fail).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from credplugin.entra import AKS_CLIENT_ID
from tests.conftest import (
    V1,
    Plugin,
    Run,
    credplugin_command,
    exec_info,
    use_entra,
)
from tests.standins.entra import AKS_SERVER_ID, EntraStandIn, RefusingProxy, browser_command
from tests.standins.tls import TLSMaterial
from tests.test_hot_path import heavy, loaded_modules

TENANT_A = "11111111-aaaa-4aaa-8aaa-111111111111"
TENANT_B = "22222222-bbbb-4bbb-8bbb-222222222222"
ALICE = "alice@example.test"
BOB = "bob@example.test"
REPO = Path(__file__).resolve().parents[1]
CODE = re.compile(r"enter the code (\S+)")


@pytest.fixture
def entra(tls: TLSMaterial) -> Iterator[EntraStandIn]:
    with EntraStandIn(tls, device_expires_in=30, device_interval=1) as server:
        yield server


@pytest.fixture
def azure_env(
    plugin: Plugin, entra: EntraStandIn, tls: TLSMaterial, proxy: RefusingProxy
) -> Plugin:
    """use_entra's environment, with the repo on PYTHONPATH for the stand-in browser
    (python -m tests.standins...)."""
    plugin.env["PYTHONPATH"] = str(REPO)
    return use_entra(plugin, entra, tls, proxy)


def login(
    plugin: Plugin,
    entra: EntraStandIn,
    *args: str,
    user: str | None = ALICE,
    info: Mapping[str, Any] | None = None,
    timeout: float = 60,
) -> tuple[Run, list[str]]:
    """Run the plugin; approve each device code it prints on stderr as `user` (None: never).
    Returns the run and the user codes seen."""
    env = dict(plugin.env)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info if info is not None else exec_info(V1))
    proc = subprocess.Popen(
        [*credplugin_command(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    codes: list[str] = []
    lines: list[str] = []
    try:
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            lines.append(line)
            match = CODE.search(line)
            if match:
                codes.append(match.group(1))
                if user is not None:
                    entra.approve(match.group(1), user)
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
    return Run(proc.returncode, stdout, "".join(lines)), codes


def aks_args(tenant: str = TENANT_A, *extra: str) -> list[str]:
    return ["aks", "--tenant-id", tenant, *extra]


def token_of(run: Run) -> str:
    return str(run.credential()["status"]["token"])


def age_cache_entries(cache_dir: Path) -> None:
    """Make every cached token look old enough to refresh (yet unexpired) under a large
    --refresh-margin: the same state as waiting most of its lifetime, without the wait."""
    for path in cache_dir.glob("*.json"):
        doc = json.loads(path.read_text())
        doc["credential"]["issuedAt"] = doc["credential"]["expiresAt"] - 100_000
        path.write_text(json.dumps(doc))  # same file: its 0600 mode stays


# -- device code ----------------------------------------------------------------------------------


def test_device_code_login_end_to_end_then_a_cached_call_makes_no_request(
    azure_env: Plugin, entra: EntraStandIn, proxy: RefusingProxy
) -> None:
    run, codes = login(azure_env, entra, *aks_args())
    assert len(codes) == 1
    token = token_of(run)
    claims = entra.verify(token, AKS_SERVER_ID)
    assert (claims["upn"], claims["tid"]) == (ALICE, TENANT_A)
    assert claims["appid"] == AKS_CLIENT_ID
    assert entra.count("devicecode") == 1
    # MSAL asked for the AKS server app's .default scope, plus a refresh token.
    before = len(entra.requests)
    started = time.monotonic()
    assert token_of(azure_env.run(*aks_args(), exec_info=exec_info(V1))) == token
    assert time.monotonic() - started < 5
    assert len(entra.requests) == before
    # Nothing went to the public cloud: the custom authority host turned discovery off.
    assert proxy.targets == []
    entries = list(azure_env.cache_dir.glob("*.json"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    stored = json.loads(entries[0].read_text())["credential"]["refresh"]["msalCache"]
    refresh_tokens = json.loads(stored)["RefreshToken"]
    assert len(refresh_tokens) == 1
    secret = next(iter(refresh_tokens.values()))["secret"]
    assert secret not in run.stderr


def test_force_refresh_goes_through_the_refresh_token_without_a_person(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    first = token_of(login(azure_env, entra, *aks_args())[0])
    time.sleep(1.1)  # iat has second precision: a new token must differ
    run = azure_env.run(*aks_args(), "--force-refresh", exec_info=exec_info(V1))
    second = token_of(run)
    assert second != first
    assert entra.verify(second, AKS_SERVER_ID)["upn"] == ALICE
    assert entra.count("devicecode") == 1
    assert entra.count("token", grant_type="refresh_token") == 1
    assert "enter the code" not in run.stderr


def test_two_tenants_side_by_side_never_clobber_each_other(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    a = token_of(login(azure_env, entra, *aks_args(TENANT_A), user=ALICE)[0])
    b = token_of(login(azure_env, entra, *aks_args(TENANT_B), user=BOB)[0])
    assert len(list(azure_env.cache_dir.glob("*.json"))) == 2
    before = len(entra.requests)
    assert token_of(azure_env.run(*aks_args(TENANT_A))) == a
    assert token_of(azure_env.run(*aks_args(TENANT_B))) == b
    assert len(entra.requests) == before
    # Refreshing one tenant refreshes that tenant's account only, the other stays put.
    a2 = token_of(azure_env.run(*aks_args(TENANT_A), "--force-refresh"))
    b2 = token_of(azure_env.run(*aks_args(TENANT_B), "--force-refresh"))
    assert (entra.verify(a2, AKS_SERVER_ID)["tid"], entra.verify(a2, AKS_SERVER_ID)["upn"]) == (
        TENANT_A,
        ALICE,
    )
    assert (entra.verify(b2, AKS_SERVER_ID)["tid"], entra.verify(b2, AKS_SERVER_ID)["upn"]) == (
        TENANT_B,
        BOB,
    )
    assert entra.count("token", grant_type="refresh_token", tenant=TENANT_A) == 1
    assert entra.count("token", grant_type="refresh_token", tenant=TENANT_B) == 1
    assert entra.count("devicecode") == 2


def test_login_hints_keep_accounts_apart_and_a_mismatch_is_only_a_warning(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    as_bob = login(azure_env, entra, *aks_args(TENANT_A, "--login-hint", BOB), user=BOB)[0]
    other, _ = login(azure_env, entra, *aks_args(TENANT_A, "--login-hint", "carol@example.test"))
    assert "signed in as alice@example.test, not as carol@example.test" in other.stderr
    assert len(list(azure_env.cache_dir.glob("*.json"))) == 2
    # That session is still this entry's: it refreshes without a new login.
    refreshed = azure_env.run(
        *aks_args(TENANT_A, "--login-hint", "carol@example.test"), "--force-refresh"
    )
    assert entra.verify(token_of(refreshed), AKS_SERVER_ID)["upn"] == ALICE
    assert entra.verify(token_of(as_bob), AKS_SERVER_ID)["upn"] == BOB
    assert entra.count("devicecode") == 2


def test_a_revoked_refresh_token_is_dropped_and_a_new_login_starts(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    login(azure_env, entra, *aks_args(), user=ALICE)[0].credential()
    assert entra.revoke_refresh_tokens() == 1
    run, codes = login(azure_env, entra, *aks_args(), "--force-refresh", user=BOB)
    assert entra.verify(token_of(run), AKS_SERVER_ID)["upn"] == BOB
    assert len(codes) == 1 and "signing in again" in run.stderr
    assert "invalid_grant" in run.stderr
    # The new login's refresh token replaced the dead one in the cache entry.
    token_of(azure_env.run(*aks_args(), "--force-refresh"))
    assert entra.count("token", grant_type="refresh_token") == 2  # the dead one, the new one
    assert entra.count("devicecode") == 2


def test_a_revoked_refresh_token_does_not_block_while_the_cached_token_works(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    token = token_of(login(azure_env, entra, *aks_args())[0])
    entra.revoke_refresh_tokens()
    age_cache_entries(azure_env.cache_dir)
    run = azure_env.run(*aks_args(), "--refresh-margin", "86400")
    assert token_of(run) == token
    assert "a new login is due" in run.stderr and "--force-refresh" in run.stderr
    assert entra.count("devicecode") == 1  # no login started while the token still works


def test_an_unanswered_device_code_is_an_abandoned_login_with_back_off(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    entra.device_expires_in = 3
    background = exec_info(V1, interactive=False)
    started = time.monotonic()
    run, codes = login(azure_env, entra, *aks_args(), user=None, info=background)
    assert time.monotonic() - started < 15
    assert run.returncode == 3 and run.stdout == ""
    assert len(codes) == 1 and f"device code {codes[0]} before it expired" in run.stderr
    assert f"credplugin aks --tenant-id {TENANT_A}" in run.stderr
    # Background callers now fail at once instead of starting login after login.
    started = time.monotonic()
    again = azure_env.run(*aks_args(), exec_info=background)
    assert again.returncode == 3 and "abandoned" in again.stderr
    assert time.monotonic() - started < 5
    assert entra.count("devicecode") == 1
    # A person at a terminal may retry at once.
    entra.device_expires_in = 30
    run, codes = login(azure_env, entra, *aks_args(), info=exec_info(V1, interactive=True))
    assert entra.verify(token_of(run), AKS_SERVER_ID)["upn"] == ALICE


def test_a_failed_refresh_keeps_serving_the_unexpired_token(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    token = token_of(login(azure_env, entra, *aks_args())[0])
    age_cache_entries(azure_env.cache_dir)
    entra.fail_next_token_requests(10)
    run = azure_env.run(*aks_args(), "--refresh-margin", "86400")
    assert token_of(run) == token
    assert "refresh failed" in run.stderr and "HTTP Error: 500" in run.stderr
    # Asked for a new token explicitly, the failure is reported, not papered over.
    forced = azure_env.run(*aks_args(), "--force-refresh")
    assert forced.returncode == 4 and forced.stdout == ""
    assert forced.stderr.startswith("credplugin: error: Entra ID failed: HTTP Error: 500")
    assert len(forced.stderr.strip().splitlines()) == 1


def test_cache_hit_imports_nothing_heavy(azure_env: Plugin, entra: EntraStandIn) -> None:
    info = exec_info(V1, server="https://aks.example")
    login(azure_env, entra, *aks_args(), info=info)[0].credential()
    env = dict(azure_env.env, KUBERNETES_EXEC_INFO=json.dumps(info))
    assert heavy(loaded_modules(aks_args(), env)) == []


# -- interactive browser --------------------------------------------------------------------------


def test_interactive_login_through_a_browser_keeps_stdout_clean(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    azure_env.env["BROWSER"] = browser_command()
    run = azure_env.run(
        *aks_args(TENANT_A, "--login", "interactive", "--login-hint", BOB),
        exec_info=exec_info(V1, interactive=True),
    )
    claims = entra.verify(token_of(run), AKS_SERVER_ID)  # stdout holds one document only
    assert claims["upn"] == BOB
    assert "stand-in browser: opening" in run.stderr  # the launcher's stdout went to stderr
    assert entra.count("authorize") == 1
    assert entra.count("token", grant_type="authorization_code") == 1


def test_interactive_login_needs_a_person(azure_env: Plugin, entra: EntraStandIn) -> None:
    azure_env.env["BROWSER"] = browser_command()
    started = time.monotonic()
    run = azure_env.run(
        *aks_args(TENANT_A, "--login", "interactive"), exec_info=exec_info(V1, interactive=False)
    )
    assert time.monotonic() - started < 10
    assert run.returncode == 3 and run.stdout == ""
    assert "needs a person" in run.stderr and "--login interactive" in run.stderr
    assert entra.count("authorize") == 0


def test_a_refresh_token_works_even_when_nobody_is_there_in_interactive_mode(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    """The login mode is not part of the identity: a device-code login serves --login
    interactive too, and its refresh needs no browser."""
    token = token_of(login(azure_env, entra, *aks_args())[0])
    args = aks_args(TENANT_A, "--login", "interactive")
    assert token_of(azure_env.run(*args, exec_info=exec_info(V1))) == token
    refreshed = azure_env.run(*args, "--force-refresh", exec_info=exec_info(V1))
    assert entra.verify(token_of(refreshed), AKS_SERVER_ID)["upn"] == ALICE
    assert entra.count("authorize") == 0


# -- options and clouds ---------------------------------------------------------------------------


def test_the_public_cloud_authority_is_the_default(
    azure_env: Plugin, entra: EntraStandIn, proxy: RefusingProxy
) -> None:
    azure_env.env.pop("AZURE_AUTHORITY_HOST")
    run = azure_env.run(*aks_args(), "--timeout", "5")
    assert run.returncode == 4 and run.stdout == ""
    assert "cannot reach Entra ID" in run.stderr
    assert proxy.targets and all("login.microsoftonline.com" in t for t in proxy.targets)
    assert entra.requests == []


def test_missing_tenant_and_bad_authority_are_usage_errors(azure_env: Plugin) -> None:
    run = azure_env.run("aks")
    assert run.returncode == 2 and "aks needs --tenant-id" in run.stderr
    run = azure_env.run(*aks_args(), "--authority-host", "http://login.example")
    assert run.returncode == 2 and "invalid authority host" in run.stderr


def test_the_cluster_entry_chooses_tenant_and_audience_only_when_the_user_allows_it(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    other_server = "33333333-cccc-4ccc-8ccc-333333333333"
    info = exec_info(
        V1, server="https://aks.example", config={"tenant-id": TENANT_B, "server-id": other_server}
    )
    # Not allowed: both keys are ignored, and the tenant was needed: a usage error that says
    # how to allow it. No sign-in starts.
    run, codes = login(azure_env, entra, "aks", info=info)
    assert run.returncode == 2 and codes == []
    assert "ignored 'tenant-id' in the exec extension of cluster https://aks.example" in run.stderr
    assert "ignored 'server-id'" in run.stderr
    assert (
        "aks needs --tenant-id" in run.stderr and "--allow-cluster-option tenant-id" in run.stderr
    )
    # With the user's own tenant, the token is for the AKS server app, not the cluster's pick.
    run, _ = login(azure_env, entra, *aks_args(), info=info)
    assert entra.verify(token_of(run), AKS_SERVER_ID)["tid"] == TENANT_A
    # The user entry allows both: the cluster entry's values are used.
    run, _ = login(
        azure_env, entra, "aks", "--allow-cluster-option", "tenant-id,server-id", info=info
    )
    assert "ignored" not in run.stderr
    assert entra.verify(token_of(run), other_server)["tid"] == TENANT_B


def test_an_account_is_found_for_a_tenant_given_as_a_domain() -> None:
    """MSAL records the tenant GUID as the realm; --tenant-id may be a domain name."""
    from credplugin.providers.aks.fetch import _pick_account

    account = {"realm": "72f988bf-86f1-41af-91ab-2d7cd011db47", "username": "me@contoso.com"}
    assert _pick_account([account], "contoso.onmicrosoft.com") == account
    assert _pick_account([account], "organizations") == account
    assert _pick_account([account], "72F988BF-86F1-41AF-91AB-2D7CD011DB47") == account
    # A different GUID is a different tenant: never its account.
    assert _pick_account([account], "0c5f4a3b-2e1d-4c9b-8a7f-6e5d4c3b2a19") is None
    assert _pick_account([], "contoso.onmicrosoft.com") is None
