"""google through the real CLI: a person's Application Default Credentials refreshed through
real google-auth at the file's own token_uri, and a loopback auth-code + PKCE sign-in driven
by a scripted $BROWSER against a stand-in of Google's authorization and token endpoints.
Real kubectl: tests/test_kubectl_providers.py."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    V1,
    Plugin,
    clean_environ,
    exec_info,
    one_line,
    token_of,
)
from tests.standins.google_oauth import (
    CLOUD_PLATFORM,
    USERINFO_EMAIL,
    GoogleOAuthStandIn,
)
from tests.standins.tls import TLSMaterial
from tests.test_hot_path import heavy, loaded_modules

USER = "alice@example.com"
CLIENT_ID = "123-desktop.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-desktop-secret-123"

# A "browser" that does what a person approving at once does: open the URL, follow the
# redirects to the loopback listener. With FAKE_BROWSER_FORGE it first delivers a code
# with the wrong state to the listener, as another page on this machine could.
FAKE_BROWSER = """\
import os, ssl, sys, urllib.error, urllib.parse, urllib.request

url = sys.argv[-1]
log = open(os.environ["FAKE_BROWSER_LOG"], "a")
if os.environ.get("FAKE_BROWSER_FORGE"):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    forged = query["redirect_uri"][0] + "?code=4/forged&state=forged"
    try:
        urllib.request.urlopen(forged, timeout=10)
        log.write("forged 200\\n")
    except urllib.error.HTTPError as exc:
        log.write(f"forged {exc.code}\\n")
context = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
with urllib.request.urlopen(url, context=context, timeout=10) as answer:
    log.write(f"final {answer.status} {urllib.parse.urlsplit(answer.url).hostname}\\n")
"""


def write_adc(plugin: Plugin, google: GoogleOAuthStandIn, email: str = USER, **extra: Any) -> str:
    """`gcloud auth application-default login` output, with token_uri at the stand-in."""
    refresh_token = google.add_user(email, "adc-client", "adc-secret", **extra)
    config = Path(plugin.env["CLOUDSDK_CONFIG"])
    config.mkdir(exist_ok=True)
    info = {
        "type": "authorized_user",
        "client_id": "adc-client",
        "client_secret": "adc-secret",
        "refresh_token": refresh_token,
        "token_uri": google.token_uri,
        "account": email,
        "universe_domain": "googleapis.com",
    }
    (config / "application_default_credentials.json").write_text(json.dumps(info))
    return refresh_token


# -- Application Default Credentials --------------------------------------------------------------


def test_adc_sign_in_is_refreshed_at_the_files_token_uri_and_cached(
    gplugin: Plugin, google: GoogleOAuthStandIn
) -> None:
    refresh_token = write_adc(gplugin, google)
    run = gplugin.run("google", "-vvv", exec_info=exec_info(V1))
    issued = google.issued(token_of(run.credential()))
    assert issued is not None and (issued.subject, issued.via) == (USER, "refresh_token")
    # Down-scoped to what GKE needs, not everything the login granted.
    assert issued.scopes == (CLOUD_PLATFORM, USERINFO_EMAIL)
    assert refresh_token not in run.stderr and "adc-secret" not in run.stderr
    assert f"credential for {USER}" in run.stderr

    again = gplugin.run("google").credential()
    assert token_of(again) == token_of(run.credential())
    assert google.count() == 1, "a cache hit must make no request"


def test_read_only_scope_as_backstage_asks(gplugin: Plugin, google: GoogleOAuthStandIn) -> None:
    read_only = CLOUD_PLATFORM + ".read-only"
    write_adc(gplugin, google, scopes=(USERINFO_EMAIL, CLOUD_PLATFORM, read_only))
    doc = gplugin.run("google", "--scopes", "cloud-platform.read-only").credential()
    assert google.issued(token_of(doc)).scopes == (read_only,)  # type: ignore[union-attr]
    # A scope the sign-in never granted: Google refuses, and we say what to check.
    run = gplugin.run("google", "--scopes", "compute")
    assert run.returncode == 4 and run.stdout == ""
    assert "invalid_scope" in one_line(run.stderr) and "--scopes" in run.stderr


def test_signing_in_as_someone_else_is_not_served_the_previous_token(
    gplugin: Plugin, google: GoogleOAuthStandIn
) -> None:
    write_adc(gplugin, google, USER)
    first = gplugin.run("google").credential()
    time.sleep(0.01)  # a distinct mtime even on coarse file systems
    write_adc(gplugin, google, "bob@example.com")
    second = gplugin.run("google").credential()
    assert google.issued(token_of(first)).subject == USER  # type: ignore[union-attr]
    assert google.issued(token_of(second)).subject == "bob@example.com"  # type: ignore[union-attr]


def test_google_application_credentials_names_the_users_file(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    refresh_token = google.add_user(USER, "adc-client", "adc-secret")
    path = tmp_path / "user.json"
    info = {"type": "authorized_user", "client_id": "adc-client", "client_secret": "adc-secret"}
    path.write_text(json.dumps({**info, "refresh_token": refresh_token}))
    doc = gplugin.run(
        "google", "--token-uri", google.token_uri, env={"GOOGLE_APPLICATION_CREDENTIALS": str(path)}
    ).credential()
    assert google.issued(token_of(doc)).subject == USER  # type: ignore[union-attr]
    key = tmp_path / "sa.json"
    key.write_text(json.dumps({"type": "service_account", "client_email": "x@y"}))
    run = gplugin.run("google", env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert run.returncode == 2 and run.stdout == ""
    assert "credplugin google-service-account" in one_line(run.stderr)


def test_no_sign_in_says_what_to_run(gplugin: Plugin) -> None:
    run = gplugin.run("google")
    assert run.returncode == 4 and run.stdout == ""
    line = one_line(run.stderr)
    assert "no Google sign-in found" in line and "gcloud auth application-default login" in line


def test_revoked_sign_in_is_one_line_naming_the_fix(
    gplugin: Plugin, google: GoogleOAuthStandIn
) -> None:
    refresh_token = write_adc(gplugin, google)
    google.revoke(refresh_token)
    run = gplugin.run("google", "-v")
    assert run.returncode == 4 and run.stdout == ""
    assert refresh_token not in run.stderr and "adc-secret" not in run.stderr
    first = next(x for x in run.stderr.splitlines() if x.startswith("credplugin: error:"))
    assert "Token has been expired or revoked" in first
    assert first.endswith("run `gcloud auth application-default login` again")


def test_hung_token_endpoint_is_bounded_by_timeout(
    gplugin: Plugin, google: GoogleOAuthStandIn
) -> None:
    write_adc(gplugin, google)
    google.hang_next(1, seconds=30)
    started = time.monotonic()
    run = gplugin.run("google", "--timeout", "1")
    assert time.monotonic() - started < 5
    assert run.returncode == 5 and run.stdout == ""
    assert f"no answer at {google.host} within 1s" in one_line(run.stderr)


# -- --login: auth code + PKCE on a loopback redirect --------------------------------------------


def install_browser(plugin: Plugin, tmp_path: Path) -> Path:
    """FAKE_BROWSER as the plugin's $BROWSER; the path of the log of what it did."""
    script = tmp_path / "fake-browser"
    script.write_text(f"#!{sys.executable}\n{FAKE_BROWSER}")
    script.chmod(0o755)
    log = tmp_path / "browser.log"
    plugin.env["BROWSER"] = str(script)
    plugin.env["FAKE_BROWSER_LOG"] = str(log)
    return log


@pytest.fixture
def browser(gplugin: Plugin, tmp_path: Path) -> Path:
    return install_browser(gplugin, tmp_path)


def login_args(google: GoogleOAuthStandIn) -> list[str]:
    return [
        "google",
        "--login",
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--auth-uri",
        google.auth_uri,
        "--token-uri",
        google.token_uri,
    ]


def test_login_with_pkce_then_the_cached_refresh_token_renews_without_a_browser(
    gplugin: Plugin, tls: TLSMaterial, browser: Path
) -> None:
    with GoogleOAuthStandIn(tls, lifetime=4) as google:
        google.add_client(CLIENT_ID, CLIENT_SECRET, USER)
        interactive = exec_info(V1, interactive=True)
        run = gplugin.run(*login_args(google), exec_info=interactive)
        issued = google.issued(token_of(run.credential()))
        assert issued is not None and (issued.subject, issued.via) == (USER, "authorization_code")
        assert google.count("authorize") == 1 and google.count("authorization_code") == 1
        assert f"{google.auth_uri}?client_id={CLIENT_ID}" in run.stderr  # the URL, for a person
        assert "code_challenge_method=S256" in run.stderr
        assert CLIENT_SECRET not in run.stderr
        assert browser.read_text().splitlines() == ["final 200 127.0.0.1"]

        # Fresh: from the cache, no request at all.
        again = gplugin.run(*login_args(google), exec_info=interactive)
        assert token_of(again.credential()) == token_of(run.credential())
        assert google.count() == 2
        # Within the refresh margin (half of the 4 s lifetime): the refresh token, no browser.
        time.sleep(2.2)
        renewed = gplugin.run(*login_args(google), exec_info=exec_info(V1, interactive=False))
        issued = google.issued(token_of(renewed.credential()))
        assert issued is not None and (issued.subject, issued.via) == (USER, "refresh_token")
        assert google.count("authorize") == 1 and google.count("refresh_token") == 1
        assert len(browser.read_text().splitlines()) == 1
        for entry in gplugin.cache_dir.glob("*.json"):
            assert oct(entry.stat().st_mode & 0o777) == "0o600"


def test_revoked_login_needs_a_person_then_signs_in_again(
    gplugin: Plugin, google: GoogleOAuthStandIn, browser: Path
) -> None:
    google.add_client(CLIENT_ID, CLIENT_SECRET, USER)
    gplugin.run(*login_args(google), exec_info=exec_info(V1, interactive=True)).credential()
    entry = json.loads(next(gplugin.cache_dir.glob("*.json")).read_text())
    refresh_token = entry["credential"]["refresh"]["refreshToken"]
    google.revoke(refresh_token)
    background = gplugin.run(
        *login_args(google), "--force-refresh", exec_info=exec_info(V1, interactive=False)
    )
    assert background.returncode == 3 and background.stdout == ""
    line = one_line(background.stderr)
    assert "Token has been expired or revoked" in line and "credplugin google --login" in line
    assert refresh_token not in line
    person = gplugin.run(
        *login_args(google), "--force-refresh", exec_info=exec_info(V1, interactive=True)
    )
    person.credential()
    assert google.count("authorize") == 2 and len(browser.read_text().splitlines()) == 2
    entry = json.loads(next(gplugin.cache_dir.glob("*.json")).read_text())
    assert entry["credential"]["refresh"]["refreshToken"] != refresh_token


def test_login_ignores_a_redirect_with_the_wrong_state(
    gplugin: Plugin, google: GoogleOAuthStandIn, browser: Path
) -> None:
    google.add_client(CLIENT_ID, CLIENT_SECRET, USER)
    gplugin.env["FAKE_BROWSER_FORGE"] = "1"
    run = gplugin.run(*login_args(google), exec_info=exec_info(V1, interactive=True))
    assert google.issued(token_of(run.credential())).subject == USER  # type: ignore[union-attr]
    assert browser.read_text().splitlines() == ["forged 400", "final 200 127.0.0.1"]
    # The forged code never reached the token endpoint: only the real one was exchanged.
    assert google.count("authorization_code") == 1


def test_login_without_a_person_fails_at_once_naming_the_command(
    gplugin: Plugin, google: GoogleOAuthStandIn, browser: Path
) -> None:
    google.add_client(CLIENT_ID, CLIENT_SECRET, USER)
    started = time.monotonic()
    run = gplugin.run(*login_args(google), exec_info=exec_info(V1, interactive=False))
    assert time.monotonic() - started < 5
    assert run.returncode == 3 and run.stdout == ""
    line = one_line(run.stderr)
    assert "signing in to Google needs a person" in line
    assert f"credplugin google --login --client-id {CLIENT_ID}" in line
    assert CLIENT_SECRET not in line
    assert google.count() == 0 and not browser.exists()


def test_login_needs_a_client_id(gplugin: Plugin) -> None:
    run = gplugin.run("google", "--login", exec_info=exec_info(V1, interactive=True))
    assert run.returncode == 2 and "--login needs --client-id" in one_line(run.stderr)


# -- kubectl, hot path ----------------------------------------------------------------------------


def test_cache_hit_imports_nothing_heavy(
    gplugin: Plugin, google: GoogleOAuthStandIn, isolated_home: Path, tmp_path: Path
) -> None:
    write_adc(gplugin, google)
    env = clean_environ(isolated_home)
    env.update(gplugin.env)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info(V1, server="https://gke.example"))
    miss = loaded_modules(["google"], env)
    assert "google" in {m.split(".")[0] for m in miss}, "the first call should fetch"
    assert heavy(loaded_modules(["google"], env)) == []
