"""google-service-account through the real CLI and real google-auth, against loopback stand-ins
of Google's token endpoint (service-account assertions verified against the key's public
half), IAM Credentials impersonation and the metadata server. Real kubectl:
tests/test_kubectl_providers.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

from credplugin.cloud.google_auth import parse_scopes
from tests.conftest import (
    V1,
    Plugin,
    clean_environ,
    exec_info,
    expiry_of,
    one_line,
    token_of,
)
from tests.standins.google_oauth import (
    CLOUD_PLATFORM,
    USERINFO_EMAIL,
    Blackhole,
    GoogleOAuthStandIn,
    ServiceAccountKey,
)
from tests.standins.tls import TLSMaterial
from tests.test_hot_path import heavy, loaded_modules

SA = "deployer@test-project.iam.gserviceaccount.com"
TARGET = "gke-admin@test-project.iam.gserviceaccount.com"


def write_key(directory: Path, key: ServiceAccountKey, token_uri: str) -> Path:
    path = directory / f"{key.email.split('@')[0]}.json"
    path.write_text(json.dumps(key.key_file(token_uri)))
    path.chmod(0o600)
    return path


# -- sources -----------------------------------------------------------------------------------


def test_key_file_token_comes_from_the_keys_token_uri_and_is_then_cached(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    """The stand-in is reachable only through the key's token_uri, and it verified the RS256
    assertion against the key's public half before issuing."""
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    doc = gplugin.run(
        "google-service-account", "--key-file", str(key_file), exec_info=exec_info(V1)
    ).credential()
    assert doc["apiVersion"] == V1
    issued = google.issued(token_of(doc))
    assert issued is not None
    assert (issued.subject, issued.via) == (SA, "jwt-bearer")
    assert issued.scopes == (CLOUD_PLATFORM, USERINFO_EMAIL)
    assert abs(expiry_of(doc) - (time.time() + 3599)) < 10
    assert google.count() == 1

    again = gplugin.run("googleServiceAccount", "--key-file", str(key_file)).credential()
    assert token_of(again) == token_of(doc)
    assert google.count() == 1, "a cache hit must make no request"


def test_a_key_the_endpoint_does_not_know_is_refused_in_one_line(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    registered = google.new_service_account(SA)
    # Same account, a key Google never saw: the signature check must fail.
    rogue = GoogleOAuthStandIn().new_service_account(SA)
    forged = ServiceAccountKey(SA, registered.key_id, rogue.private_key_pem, rogue.public_key)
    run = gplugin.run(
        "google-service-account", "--key-file", str(write_key(tmp_path, forged, google.token_uri))
    )
    assert run.returncode == 4 and run.stdout == ""
    line = one_line(run.stderr)
    assert "Invalid JWT Signature" in line and "key may be deleted or disabled" in line


def test_adc_from_google_application_credentials_and_switching_it_switches_identity(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    first = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    second = write_key(tmp_path, google.new_service_account(TARGET), google.token_uri)
    doc = gplugin.run(
        "google-service-account", env={"GOOGLE_APPLICATION_CREDENTIALS": str(first)}
    ).credential()
    assert google.issued(token_of(doc)).subject == SA  # type: ignore[union-attr]
    other = gplugin.run(
        "google-service-account", env={"GOOGLE_APPLICATION_CREDENTIALS": str(second)}
    ).credential()
    assert google.issued(token_of(other)).subject == TARGET  # type: ignore[union-attr]
    # --key-file wins over the environment.
    chosen = gplugin.run(
        "google-service-account",
        "--key-file",
        str(first),
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(second)},
    ).credential()
    assert google.issued(token_of(chosen)).subject == SA  # type: ignore[union-attr]


def test_gcloud_adc_user_file_is_refreshed_at_its_own_token_uri(
    gplugin: Plugin, google: GoogleOAuthStandIn
) -> None:
    """A developer's `gcloud auth application-default login` file, whose token_uri google-auth
    alone would replace with Google's."""
    refresh_token = google.add_user("dev@example.com", "adc-client", "adc-secret")
    config = Path(gplugin.env["CLOUDSDK_CONFIG"])
    config.mkdir()
    (config / "application_default_credentials.json").write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "adc-client",
                "client_secret": "adc-secret",
                "refresh_token": refresh_token,
                "token_uri": google.token_uri,
                "account": "dev@example.com",
            }
        )
    )
    run = gplugin.run("google-service-account", "-v")
    issued = google.issued(token_of(run.credential()))
    assert issued is not None and issued.subject == "dev@example.com"
    assert "dev@example.com (gcloud ADC" in run.stderr
    assert refresh_token not in run.stderr and "adc-secret" not in run.stderr


def test_workload_identity_federation_exchanges_the_subject_token_at_sts(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    """An external_account file (a pod outside Google Cloud, a CI job): google-auth reads
    the subject token from its file and exchanges it at the file's token_url."""
    audience = (
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s"
    )
    principal = (
        "principal://iam.googleapis.com/projects/1/subject/system:serviceaccount:ci:deployer"
    )
    subject_token = tmp_path / "token"
    subject_token.write_text("eyJ.subject.token")
    google.trust_subject_token("eyJ.subject.token", audience, principal)
    config = tmp_path / "federation.json"
    config.write_text(
        json.dumps(
            {
                "type": "external_account",
                "audience": audience,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": google.sts_uri,
                "credential_source": {"file": str(subject_token)},
            }
        )
    )
    doc = gplugin.run(
        "google-service-account", env={"GOOGLE_APPLICATION_CREDENTIALS": str(config)}
    ).credential()
    issued = google.issued(token_of(doc))
    assert issued is not None and (issued.subject, issued.via) == (principal, "sts")
    assert issued.scopes == (CLOUD_PLATFORM, USERINFO_EMAIL)


def test_scopes_option_asks_for_exactly_those_scopes(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    doc = gplugin.run(
        "google-service-account",
        "--key-file",
        str(key_file),
        "--scopes",
        "cloud-platform.read-only",
    ).credential()
    issued = google.issued(token_of(doc))
    assert issued is not None and issued.scopes == (CLOUD_PLATFORM + ".read-only",)


def test_bad_key_files_are_usage_errors_naming_the_file_not_its_contents(
    gplugin: Plugin, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY')
    run = gplugin.run("google-service-account", "--key-file", str(broken))
    assert run.returncode == 2 and run.stdout == ""
    assert one_line(run.stderr).endswith(f"{broken} is not a Google credentials file (not JSON)")
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"type": "service_account", "private_key": "x" * 40}))
    run = gplugin.run("google-service-account", "--key-file", str(incomplete))
    assert run.returncode == 2 and "x" * 20 not in run.stderr
    assert f"cannot use the Google credentials in {incomplete}" in one_line(run.stderr)
    run = gplugin.run("google-service-account", "--key-file", str(tmp_path / "missing.json"))
    assert run.returncode == 2 and "no such file" in one_line(run.stderr)


# -- impersonation -----------------------------------------------------------------------------


def test_impersonation_returns_the_targets_token_through_iam_credentials(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    google.allow_impersonation(SA, TARGET)
    run = gplugin.run(
        "google-service-account",
        "--key-file",
        str(key_file),
        "--impersonate-service-account",
        TARGET,
        "--iam-endpoint",
        google.iam_endpoint,
        "-v",
    )
    issued = google.issued(token_of(run.credential()))
    assert issued is not None
    assert (issued.subject, issued.via) == (TARGET, "impersonation")
    assert issued.scopes == (CLOUD_PLATFORM, USERINFO_EMAIL)
    assert google.count("generateAccessToken") == 1
    assert f"credential for {TARGET} (impersonated" in run.stderr


def test_impersonation_chain_names_delegates_first(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    delegate = "middle@test-project.iam.gserviceaccount.com"
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    google.allow_impersonation(SA, delegate)
    google.allow_impersonation(delegate, TARGET)
    doc = gplugin.run(
        "google-service-account",
        "--key-file",
        str(key_file),
        env={
            "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT": f"{delegate},{TARGET}",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS": google.iam_endpoint,
        },
    ).credential()
    assert google.issued(token_of(doc)).subject == TARGET  # type: ignore[union-attr]


def test_impersonation_without_permission_is_one_clear_line(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    run = gplugin.run(
        "google-service-account",
        "--key-file",
        str(key_file),
        "--impersonate-service-account",
        TARGET,
        "--iam-endpoint",
        google.iam_endpoint,
    )
    assert run.returncode == 4 and run.stdout == ""
    line = one_line(run.stderr)
    assert f"impersonation of {TARGET}" in line
    assert "Permission 'iam.serviceAccounts.getAccessToken' denied" in line
    assert "roles/iam.serviceAccountTokenCreator" in line


# -- failures: bounded, one line, nothing secret -----------------------------------------------


def test_upstream_500_is_retried_then_one_clear_line(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    google.fail_next(3, status=500)
    run = gplugin.run("google-service-account", "--key-file", str(key_file))
    assert run.returncode == 4 and run.stdout == ""
    line = one_line(run.stderr)
    assert line.startswith("credplugin: error: token from key file")
    assert f"refused at {google.host}: internal_failure" in line
    assert google.count() == 3  # google-auth retries a 500 twice, with backoff
    assert not list(gplugin.cache_dir.glob("*.json"))


def test_hung_token_endpoint_is_bounded_by_timeout(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    google.hang_next(1, seconds=30)
    started = time.monotonic()
    run = gplugin.run("google-service-account", "--key-file", str(key_file), "--timeout", "1")
    elapsed = time.monotonic() - started
    assert run.returncode == 5 and run.stdout == ""
    assert elapsed < 5, f"took {elapsed:.1f}s"
    assert f"no answer at {google.host} within 1s" in one_line(run.stderr)


def test_no_key_material_in_any_output_at_vvv(
    gplugin: Plugin, google: GoogleOAuthStandIn, tmp_path: Path
) -> None:
    key = google.new_service_account(SA)
    key_file = write_key(tmp_path, key, google.token_uri)
    body = [line for line in key.private_key_pem.splitlines() if "PRIVATE KEY" not in line]
    ok = gplugin.run("google-service-account", "--key-file", str(key_file), "-vvv")
    ok.credential()
    google.fail_next(1, status=400)
    failed = gplugin.run(
        "google-service-account", "--key-file", str(key_file), "--force-refresh", "-vvv"
    )
    assert failed.returncode == 4 and "Traceback" in failed.stderr
    google.hang_next(1, seconds=30)
    timed_out = gplugin.run(
        "google-service-account",
        "--key-file",
        str(key_file),
        "--no-cache",
        "-vvv",
        "--timeout",
        "1",
    )
    assert timed_out.returncode == 5 and "Traceback" in timed_out.stderr
    outputs = [ok.stdout, ok.stderr, failed.stderr, timed_out.stderr]
    outputs += [p.read_text() for p in gplugin.cache_dir.glob("*")]
    for text in outputs:
        assert "PRIVATE KEY" not in text
        assert key.key_id not in text
        assert not any(line in text for line in body)


def test_no_credentials_fail_fast_when_the_metadata_address_swallows_packets(
    gplugin: Plugin,
) -> None:
    with Blackhole() as hole:
        started = time.monotonic()
        run = gplugin.run(
            "google-service-account",
            "--timeout",
            "1",
            env={"GCE_METADATA_IP": hole.address, "GCE_METADATA_HOST": hole.address},
        )
        elapsed = time.monotonic() - started
    assert run.returncode == 4 and run.stdout == ""
    assert elapsed < 5, f"took {elapsed:.1f}s"
    line = one_line(run.stderr)
    assert "no Google credentials found" in line and "gcloud auth application-default login" in line


# -- the metadata server (GKE workload identity) -----------------------------------------------


def test_metadata_server_token_and_impersonation_from_it(gplugin: Plugin) -> None:
    with GoogleOAuthStandIn(tls=None) as metadata:  # google-auth speaks plain HTTP to it
        metadata.set_metadata_account(SA, (CLOUD_PLATFORM, USERINFO_EMAIL))
        env = {"GCE_METADATA_IP": metadata.host, "GCE_METADATA_HOST": metadata.host}
        run = gplugin.run("google-service-account", "-v", env=env)
        issued = metadata.issued(token_of(run.credential()))
        assert issued is not None and (issued.subject, issued.via) == (SA, "metadata")
        assert f"credential for {SA} (the metadata server)" in run.stderr
        assert metadata.count("metadata-ping") == 1 and metadata.count("metadata-token") == 1

        # The metadata token impersonates through IAM Credentials (here the same stand-in,
        # which knows the tokens it issued).
        metadata.allow_impersonation(SA, TARGET)
        doc = gplugin.run(
            "google-service-account",
            "--impersonate-service-account",
            TARGET,
            "--iam-endpoint",
            metadata.url,
            env=env,
        ).credential()
        assert metadata.issued(token_of(doc)).subject == TARGET  # type: ignore[union-attr]


# -- unit: parsing, hot path ---------------------------------------------------------------------


def test_scope_parsing() -> None:
    assert parse_scopes(None, ("d",)) == ["d"]
    assert parse_scopes(["cloud-platform, userinfo.email", "openid"], ()) == [
        CLOUD_PLATFORM,
        USERINFO_EMAIL,
        "openid",
    ]
    assert parse_scopes("https://x.example/s https://x.example/s", ()) == ["https://x.example/s"]


def test_cache_hit_imports_nothing_heavy(
    isolated_home: Path, tmp_path: Path, google: GoogleOAuthStandIn, tls: TLSMaterial
) -> None:
    key_file = write_key(tmp_path, google.new_service_account(SA), google.token_uri)
    env = clean_environ(isolated_home)
    env["CREDPLUGIN_CACHE_DIR"] = str(tmp_path / "cache")
    env["REQUESTS_CA_BUNDLE"] = str(tls.ca_path)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info(V1, server="https://gke.example"))
    args = ["google-service-account", "--key-file", str(key_file)]
    miss = loaded_modules(args, env)
    assert "google" in {m.split(".")[0] for m in miss}, "the first call should fetch"
    assert heavy(loaded_modules(args, env)) == []
