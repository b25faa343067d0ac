"""--token-store: refresh material in a real Secret Service (gnome-keyring-daemon on a private
D-Bus session, tests/standins/secret_service.py), driven through the real CLI.

google (--login, against the Google OAuth stand-in), oidc (node-oidc-provider, which rotates
refresh tokens and revokes the grant when an old one is replayed) and aks (MSAL against the
Entra stand-in) keep their refresh material in the keyring; the cache file keeps the access
token and a reference. Locked, hung and absent keyrings fall back within their bound, and
never raise an unlock prompt without a person at the terminal: the stand-in's "silent"
prompter accepts a prompt and never answers, so a client that prompted would hang.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credplugin import tokenstore
from credplugin.cache import Entry
from credplugin.credential import Credential
from tests.conftest import V1, Plugin, credplugin_command, exec_info, token_of
from tests.standins.google_oauth import GoogleOAuthStandIn
from tests.standins.secret_service import SecretServiceStandIn, StoredItem, unavailable_reason
from tests.standins.tls import TLSMaterial
from tests.test_aks import aks_args, login
from tests.test_aks import azure_env as azure_env
from tests.test_aks import entra as entra
from tests.test_aks import token_of as token_in
from tests.test_google import CLIENT_ID, CLIENT_SECRET, USER, install_browser, login_args
from tests.test_hot_path import heavy, loaded_modules
from tests.test_oidc import Browser, oidc_args
from tests.test_oidc import issuer as issuer

REASON = unavailable_reason()
needs_keyring = pytest.mark.skipif(REASON is not None, reason=REASON or "")
BACKGROUND = exec_info(V1, interactive=False)
PERSON = exec_info(V1, interactive=True)
IN_FILE_NOTICE = "refresh token kept in the 0600 cache file: no usable keyring"


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[SecretServiceStandIn]:
    if REASON is not None:
        pytest.skip(REASON)
    # "silent": a prompt would be accepted and never answered, so any unlock prompt we
    # raised would show as a hang (and in prompts()).
    with SecretServiceStandIn(tmp_path / "secret-service", prompter="silent") as ss:
        yield ss


def use_keyring(plugin: Plugin, ss: SecretServiceStandIn) -> Plugin:
    # The library picks its backend as on a real desktop: no PYTHON_KEYRING_BACKEND.
    plugin.env.update(ss.child_env(plugin.env, keyring_backend=False))
    return plugin


def ours(ss: SecretServiceStandIn) -> list[StoredItem]:
    return [i for i in ss.items() if i.attributes.get("application") == "credplugin"]


def entry_file(plugin: Plugin) -> Path:
    (path,) = plugin.cache_dir.glob("*.json")
    return path


def entry_doc(plugin: Plugin) -> dict[str, Any]:
    doc = json.loads(entry_file(plugin).read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture
def google_login(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> tuple[Plugin, GoogleOAuthStandIn]:
    google.add_client(CLIENT_ID, CLIENT_SECRET, USER)
    install_browser(gplugin, tmp_path)
    return gplugin, google


def stored_refresh_token(item: StoredItem) -> str:
    assert item.secret is not None
    value = json.loads(item.secret)["refreshToken"]
    assert isinstance(value, str)
    return value


# -- the keyring holds the refresh material -----------------------------------------------------


@needs_keyring
def test_google_refresh_token_lives_in_the_keyring_and_renews_across_processes(
    gplugin: Plugin, tls: TLSMaterial, secret_service: SecretServiceStandIn, tmp_path: Path
) -> None:
    use_keyring(gplugin, secret_service)
    browser = install_browser(gplugin, tmp_path)
    with GoogleOAuthStandIn(tls, lifetime=4) as google:
        google.add_client(CLIENT_ID, CLIENT_SECRET, USER)
        first = gplugin.run(*login_args(google), exec_info=PERSON)
        first.credential()
        assert IN_FILE_NOTICE not in first.stderr
        (item,) = ours(secret_service)
        assert item.label.startswith("credplugin: google ") and USER in item.label
        assert item.attributes["service"] == "credplugin"
        refresh_token = stored_refresh_token(item)
        # The file: the access token, its expiry, a reference; no refresh token.
        raw = entry_file(gplugin).read_text()
        assert refresh_token not in raw
        doc = json.loads(raw)
        assert doc["secrets"] == {"store": "keyring"}
        assert "refresh" not in doc["credential"]
        assert item.attributes["username"] == doc["key"]

        # Within the refresh margin: a new process renews with the keyring's refresh token.
        time.sleep(2.2)
        renewed = gplugin.run(*login_args(google), exec_info=BACKGROUND)
        issued = google.issued(token_of(renewed.credential()))
        assert issued is not None and issued.via == "refresh_token"
        assert google.count("authorize") == 1 and len(browser.read_text().splitlines()) == 1
        (again,) = ours(secret_service)
        assert stored_refresh_token(again) == refresh_token
        assert secret_service.prompts() == []


@needs_keyring
def test_oidc_rotation_under_20_parallel_calls_keeps_the_newest_in_the_keyring(
    issuer: str,
    plugin: Plugin,
    secret_service: SecretServiceStandIn,
    tmp_path: Path,
) -> None:
    browser = Browser(tmp_path)
    plugin.env.update(browser.env)
    plugin.env.pop("REQUESTS_CA_BUNDLE", None)
    use_keyring(plugin, secret_service)
    first = plugin.run(*oidc_args(issuer), exec_info=BACKGROUND).credential()
    (item,) = ours(secret_service)
    assert item.label.startswith(f"credplugin: oidc {issuer} ")
    old = stored_refresh_token(item)
    assert old not in entry_file(plugin).read_text()

    # Expired: every one of the 20 calls misses, one refreshes, the others wait and read it.
    path = entry_file(plugin)
    doc = json.loads(path.read_text())
    doc["credential"]["expiresAt"] = time.time() - 1
    doc["credential"]["issuedAt"] = time.time() - 3600
    path.write_text(json.dumps(doc))
    time.sleep(1.1)  # iat has second precision: the refreshed token differs
    env = {**plugin.env, "KUBERNETES_EXEC_INFO": json.dumps(BACKGROUND)}
    procs = [
        subprocess.Popen(
            [*credplugin_command(), *oidc_args(issuer)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    tokens = {json.loads(out)["status"]["token"] for out, _ in outputs}
    assert len(tokens) == 1 and tokens != {first["status"]["token"]}
    assert len(browser.opened()) == 1  # no login: the refresh token did it

    (item,) = ours(secret_service)
    newest = stored_refresh_token(item)
    assert newest != old
    # node-oidc-provider revokes the grant when a rotated-out refresh token is replayed: had
    # two calls refreshed, or the keyring kept an old one, this refresh would need a login.
    time.sleep(1.1)
    again = plugin.run(*oidc_args(issuer, "--force-refresh", "-v"), exec_info=BACKGROUND)
    again.credential()
    assert "refreshed without a browser" in again.stderr
    assert len(browser.opened()) == 1
    assert stored_refresh_token(ours(secret_service)[0]) not in (old, newest)


@needs_keyring
def test_aks_msal_cache_lives_in_the_keyring(
    azure_env: Plugin,
    entra: Any,
    secret_service: SecretServiceStandIn,
) -> None:
    use_keyring(azure_env, secret_service)
    run, codes = login(azure_env, entra, *aks_args())
    run.credential()
    assert len(codes) == 1
    (item,) = ours(secret_service)
    assert item.label.startswith("credplugin: aks ")
    assert item.secret is not None and "msalCache" in json.loads(item.secret)
    doc = entry_doc(azure_env)
    assert "refresh" not in doc["credential"] and doc["secrets"] == {"store": "keyring"}
    time.sleep(1.1)
    renewed = azure_env.run(*aks_args(), "--force-refresh", exec_info=BACKGROUND)
    assert token_in(renewed) != token_in(run)
    assert entra.count("devicecode") == 1
    assert entra.count("token", grant_type="refresh_token") == 1


# -- moving between stores -------------------------------------------------------------------


@needs_keyring
def test_a_file_entry_moves_to_the_keyring_on_its_next_refresh_and_back(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    args = login_args(google)
    plugin.run(*args, "--token-store", "file", exec_info=PERSON).credential()
    assert ours(secret_service) == []
    refresh_token = entry_doc(plugin)["credential"]["refresh"]["refreshToken"]

    moved = plugin.run(*args, "--force-refresh", exec_info=BACKGROUND)  # default: auto
    moved.credential()
    (item,) = ours(secret_service)
    assert stored_refresh_token(item) == refresh_token
    assert refresh_token not in entry_file(plugin).read_text()

    back = plugin.run(*args, "--force-refresh", exec_info=BACKGROUND, env={tokenstore.ENV: "file"})
    back.credential()
    assert ours(secret_service) == []
    assert entry_doc(plugin)["credential"]["refresh"]["refreshToken"] == refresh_token
    assert google.count("authorize") == 1


# -- a keyring that cannot answer ------------------------------------------------------------


@needs_keyring
def test_a_locked_keyring_in_the_background_is_reported_never_prompted(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    plugin.run(*login_args(google), exec_info=PERSON).credential()
    secret_service.lock()
    started = time.monotonic()
    run = plugin.run(*login_args(google), "--force-refresh", exec_info=BACKGROUND)
    assert time.monotonic() - started < 10
    # Without the refresh token, a new sign-in needs a person: exit 3, saying why.
    assert run.returncode == 3 and run.stdout == ""
    assert "could not read the refresh token from the keyring (the keyring collection is " in (
        run.stderr
    )
    assert secret_service.prompts() == []
    assert google.count("refresh_token") == 0
    # Unlocked again: the item is still there and works.
    secret_service.unlock()
    plugin.run(*login_args(google), "--force-refresh", exec_info=BACKGROUND).credential()
    assert google.count("refresh_token") == 1


@needs_keyring
def test_a_locked_keyring_at_login_keeps_the_token_in_the_file_and_says_so_once(
    issuer: str,
    plugin: Plugin,
    secret_service: SecretServiceStandIn,
    tmp_path: Path,
) -> None:
    plugin.env.update(Browser(tmp_path).env)
    plugin.env.pop("REQUESTS_CA_BUNDLE", None)
    use_keyring(plugin, secret_service)
    secret_service.lock()
    run = plugin.run(*oidc_args(issuer), exec_info=BACKGROUND)
    run.credential()
    assert f"{IN_FILE_NOTICE} (the keyring collection is locked)" in run.stderr
    assert entry_doc(plugin)["credential"]["refresh"]["refreshToken"]
    assert ours(secret_service) == [] and secret_service.prompts() == []
    time.sleep(1.1)
    again = plugin.run(*oidc_args(issuer, "--force-refresh"), exec_info=BACKGROUND)
    again.credential()
    assert IN_FILE_NOTICE not in again.stderr  # said once, when the place changed


@needs_keyring
def test_a_hung_keyring_costs_at_most_the_timeout(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    plugin.run(*login_args(google), exec_info=PERSON).credential()
    secret_service.pause()
    try:
        started = time.monotonic()
        run = plugin.run(
            *login_args(google), "--force-refresh", "--timeout", "2", exec_info=BACKGROUND
        )
        took = time.monotonic() - started
    finally:
        secret_service.resume()
    assert took < 8, took
    assert run.returncode == 3
    assert "could not read the refresh token from the keyring (no answer within 2s)" in run.stderr


@needs_keyring
def test_no_secret_service_on_the_bus(
    google_login: tuple[Plugin, GoogleOAuthStandIn], tmp_path: Path
) -> None:
    plugin, google = google_login
    with SecretServiceStandIn(tmp_path / "no-daemon", daemon=False) as bus_only:
        use_keyring(plugin, bus_only)
        run = plugin.run(*login_args(google), exec_info=PERSON)
        run.credential()
        assert IN_FILE_NOTICE in run.stderr
        assert entry_doc(plugin)["credential"]["refresh"]["refreshToken"]

        # keyring, chosen: never a long-lived secret in a file, so none is kept at all.
        strict = plugin.run(
            *login_args(google), "--force-refresh", "--token-store", "keyring", exec_info=PERSON
        )
        strict.credential()
        assert "the keyring did not take the refresh token" in strict.stderr
        doc = entry_doc(plugin)
        assert "refresh" not in doc["credential"] and "secrets" not in doc
        background = plugin.run(
            *login_args(google), "--force-refresh", "--token-store", "keyring", exec_info=BACKGROUND
        )
        assert background.returncode == 3


def test_no_session_bus_falls_back_to_the_file_with_one_notice(
    google_login: tuple[Plugin, GoogleOAuthStandIn],
) -> None:
    plugin, google = google_login
    assert "DBUS_SESSION_BUS_ADDRESS" not in plugin.env
    run = plugin.run(*login_args(google), exec_info=PERSON)
    run.credential()
    assert f"{IN_FILE_NOTICE} (no D-Bus session bus)" in run.stderr
    assert entry_doc(plugin)["credential"]["refresh"]["refreshToken"]
    quiet = plugin.run(*login_args(google), "--force-refresh", exec_info=BACKGROUND)
    quiet.credential()
    assert IN_FILE_NOTICE not in quiet.stderr
    silenced = plugin.run(*login_args(google), "--token-store", "file", "--force-refresh")
    assert IN_FILE_NOTICE not in silenced.stderr


# -- the boundary: a reference is followed only to credplugin's own items ----------------------


@needs_keyring
def test_only_credplugins_own_item_for_the_key_is_ever_read(
    google_login: tuple[Plugin, GoogleOAuthStandIn],
    secret_service: SecretServiceStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    plugin.run(*login_args(google), exec_info=PERSON).credential()
    path = entry_file(plugin)
    doc = json.loads(path.read_text())
    for name, value in secret_service.env.items():
        monkeypatch.setenv(name, value)  # jeepney reads the bus address from os.environ
    from keyring.backends import SecretService

    # Another program's items: one under another service, one under ours and the same key
    # (the keyring library's own application attribute).
    stock = SecretService.Keyring()  # type: ignore[no-untyped-call]
    stock.set_password("github.com", doc["key"], json.dumps({"refreshToken": "someone-elses"}))  # type: ignore[no-untyped-call]
    stock.set_password("credplugin", doc["key"], json.dumps({"refreshToken": "planted"}))  # type: ignore[no-untyped-call]
    # A tampered entry naming the other item: a reference cannot choose the item.
    doc["secrets"]["service"] = "github.com"
    path.write_text(json.dumps(doc))
    run = plugin.run(*login_args(google), "--force-refresh", exec_info=BACKGROUND)
    issued = google.issued(token_of(run.credential()))
    assert issued is not None and (issued.subject, issued.via) == (USER, "refresh_token")
    assert google.count("refresh_token") == 1  # the genuine one, at the first try


@needs_keyring
def test_a_renamed_entry_keeps_one_item_and_leaving_the_keyring_deletes_it_after_the_write(
    secret_service: SecretServiceStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in secret_service.env.items():
        monkeypatch.setenv(name, value)
    key = "a" * 64

    def entry(identity: str, refresh: dict[str, Any], secrets: Any = None) -> Entry:
        credential = Credential("t", identity=identity, refresh=refresh)
        return Entry(key, "oidc", credential, time.time(), {"issuer-url": "https://i"}, secrets)

    store = tokenstore.TokenStore(
        "auto", interactive=False, bound=5, environ=dict(secret_service.env)
    )
    first = store.keep(entry("alice at https://i", {"refreshToken": "r1"}), None)
    # A refresh without an ID token: the identity (and so the label) changes.
    second = store.keep(entry("client kubectl", {"refreshToken": "r2"}), first)
    store.settle(second, first)
    (item,) = ours(secret_service)
    assert item.label == "credplugin: oidc https://i (client kubectl)"
    assert stored_refresh_token(item) == "r2"

    to_file = tokenstore.TokenStore(
        "file", interactive=False, bound=5, environ=dict(secret_service.env)
    )
    written = to_file.keep(entry("client kubectl", {"refreshToken": "r3"}), second)
    assert ours(secret_service) != []  # nothing deleted before the file is written
    to_file.settle(written, second)
    assert ours(secret_service) == []


# -- the tools ----------------------------------------------------------------------------------


@needs_keyring
def test_cache_list_shows_where_and_clear_removes_the_item(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    plugin.run(*login_args(google), exec_info=PERSON).credential()
    listed = plugin.run("cache", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert "SECRETS" in header.split() and "keyring" in row.split()

    secret_service.lock()
    refused = plugin.run("cache", "clear", "--all")
    assert refused.returncode == 1
    assert "left" in refused.stderr and "the keyring collection is locked" in refused.stderr
    assert len(list(plugin.cache_dir.glob("*.json"))) == 1  # the reference survives
    assert secret_service.prompts() == []

    secret_service.unlock()
    cleared = plugin.run("cache", "clear", "--all")
    assert cleared.returncode == 0, cleared.stderr
    assert ours(secret_service) == [] and list(plugin.cache_dir.glob("*.json")) == []


@needs_keyring
def test_clear_all_removes_items_of_unreadable_and_deleted_entries(
    google_login: tuple[Plugin, GoogleOAuthStandIn],
    secret_service: SecretServiceStandIn,
    tls: TLSMaterial,
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    plugin.run(*login_args(google), exec_info=PERSON).credential()
    entry_file(plugin).write_text("{corrupt")  # its reference unreadable
    second = [*login_args(google), "--scopes", "openid"]
    plugin.run(*second, exec_info=PERSON).credential()
    for path in plugin.cache_dir.glob("*.json"):
        if path.read_text() != "{corrupt":
            path.unlink()  # the entry gone entirely: its item is an orphan
    assert len(ours(secret_service)) == 2
    run = plugin.run("cache", "clear", "--all")
    assert run.returncode == 0, run.stderr
    assert ours(secret_service) == []


@needs_keyring
def test_clear_waits_on_a_hung_keyring_once_not_per_entry(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    for scopes in ("openid", "email", "profile"):
        plugin.run(*login_args(google), "--scopes", scopes, exec_info=PERSON).credential()
    secret_service.pause()
    try:
        started = time.monotonic()
        run = plugin.run("cache", "clear", "--all")
        took = time.monotonic() - started
    finally:
        secret_service.resume()
    assert run.returncode == 1 and run.stderr.count("left ") == 3
    assert took < tokenstore.KEYRING_SECONDS + 5, took
    assert len(list(plugin.cache_dir.glob("*.json"))) == 3


@needs_keyring
def test_a_person_at_a_terminal_without_a_desktop_gets_no_unlock_prompt(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    assert "DISPLAY" not in plugin.env and "WAYLAND_DISPLAY" not in plugin.env
    secret_service.lock()
    run = plugin.run(*login_args(google), exec_info=PERSON)  # ssh: a terminal, no desktop
    run.credential()
    assert f"{IN_FILE_NOTICE} (the keyring collection is locked)" in run.stderr
    assert secret_service.prompts() == []


@needs_keyring
def test_doctor_reports_the_store_and_whether_it_answers(
    google_login: tuple[Plugin, GoogleOAuthStandIn],
    secret_service: SecretServiceStandIn,
    tmp_path: Path,
) -> None:
    plugin, google = google_login
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": credplugin_command()[0],
                                "args": login_args(google),
                                "interactiveMode": "IfAvailable",
                            }
                        },
                    }
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    without = plugin.run("doctor", "--kubeconfig", str(kubeconfig))
    assert "token store auto: no usable keyring (no D-Bus session bus)" in without.stdout
    use_keyring(plugin, secret_service)
    answering = plugin.run("doctor", "--kubeconfig", str(kubeconfig))
    assert "token store auto: the keyring answers (Secret Service)" in answering.stdout
    secret_service.lock()
    locked = plugin.run("doctor", "--kubeconfig", str(kubeconfig), env={tokenstore.ENV: "keyring"})
    assert "WARN  token store keyring: the keyring does not answer (the keyring collection is " in (
        locked.stdout
    )
    assert secret_service.prompts() == []


# -- the hit path never needs the keyring ----------------------------------------------------


@needs_keyring
def test_a_cache_hit_imports_no_keyring_module(
    google_login: tuple[Plugin, GoogleOAuthStandIn], secret_service: SecretServiceStandIn
) -> None:
    plugin, google = google_login
    use_keyring(plugin, secret_service)
    plugin.run(*login_args(google), exec_info=PERSON).credential()
    assert "secrets" in entry_doc(plugin)
    secret_service.pause()  # a hit that touched the keyring would hang here
    try:
        env = {**plugin.env, "KUBERNETES_EXEC_INFO": json.dumps(BACKGROUND)}
        modules = loaded_modules(login_args(google), env)
    finally:
        secret_service.resume()
    assert heavy(modules) == []
    assert not any(m.startswith(("keyring", "secretstorage", "jeepney")) for m in modules)


# -- units --------------------------------------------------------------------------------------


def test_the_label_is_what_a_person_recognises() -> None:
    label = tokenstore.label(
        "oidc",
        {"client-id": "kubectl", "issuer-url": "https://login.example.com", "login": True},
        "alice@example.com at https://login.example.com",
    )
    assert label == (
        "credplugin: oidc https://login.example.com kubectl "
        "(alice@example.com at https://login.example.com)"
    )
    long = tokenstore.label("oidc", {"issuer-url": "https://x/" + "a" * 500}, None)
    assert len(long) == tokenstore.MAX_LABEL and long.endswith("...")
    assert "\n" not in tokenstore.label("oidc", {"issuer-url": "https://x\n/evil"}, "a\x1b[2J")


def test_where_an_entry_keeps_its_secrets() -> None:
    def entry(refresh: dict[str, Any], secrets: dict[str, Any] | None) -> Entry:
        return Entry("k" * 64, "oidc", Credential("t", refresh=refresh), 0.0, {}, secrets)

    assert tokenstore.where(entry({"refreshToken": "r"}, None)) == "file"
    assert tokenstore.where(entry({}, None)) == "-"
    assert tokenstore.where(entry({}, {"store": "keyring"})) == "keyring"
    assert not tokenstore.in_keyring(entry({}, {"store": "file"}))


def test_a_keyring_call_that_hangs_is_abandoned_at_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def hang(prompting: threading.Event) -> None:
        time.sleep(30)

    def fail(prompting: threading.Event) -> None:
        raise RuntimeError("no bus")

    def prompt_then_hang(prompting: threading.Event) -> None:
        prompting.set()  # a person now has a prompt in front of them: more time
        time.sleep(30)

    started = time.monotonic()
    with pytest.raises(tokenstore.KeyringUnusable, match="no answer within 0s"):
        tokenstore._bounded(hang, 0.3)
    assert time.monotonic() - started < 2
    with pytest.raises(tokenstore.KeyringUnusable, match="RuntimeError: no bus"):
        tokenstore._bounded(fail, 5)
    monkeypatch.setattr(tokenstore, "PROMPT_SECONDS", 1.5)
    started = time.monotonic()
    with pytest.raises(tokenstore.KeyringUnusable, match="no answer within 2s"):
        tokenstore._bounded(prompt_then_hang, 0.3)
    assert 1.4 < time.monotonic() - started < 3


def test_no_session_bus_is_known_without_importing_keyring() -> None:
    probe = (
        "import sys\n"
        "from credplugin import tokenstore\n"
        "k = tokenstore.Keyring({}, interactive=False, bound=5)\n"
        "try:\n"
        "    k.get('x')\n"
        "except tokenstore.KeyringUnusable as exc:\n"
        "    print(exc)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keyring', 'secretstorage', 'jeepney')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.splitlines() == ["no D-Bus session bus", "[]"]
