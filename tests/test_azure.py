"""azure: the real azure-identity credentials (DefaultAzureCredential, environment, workload
identity, managed identity, Azure CLI) against the Entra stand-in on https://127.0.0.1, with a
refusing proxy in place of the internet. Real kubectl: tests/test_kubectl_providers.py."""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    V1,
    Plugin,
    exec_info,
    use_entra,
)
from tests.standins.entra import AKS_SERVER_ID, EntraStandIn, RefusingProxy
from tests.standins.tls import TLSMaterial
from tests.test_aks import age_cache_entries, token_of
from tests.test_hot_path import heavy, loaded_modules

TENANT = "55555555-eeee-4eee-8eee-555555555555"
SP_CLIENT = "66666666-ffff-4fff-8fff-666666666666"
WI_CLIENT = "77777777-0000-4000-8000-777777777777"
SECRET = "Xq8~s3cr3t.value_thatMustNeverShow"
FEDERATED = (
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpiYWNrc3RhZ2UifQ.c2ln"
)


@pytest.fixture
def entra(tls: TLSMaterial) -> Iterator[EntraStandIn]:
    with EntraStandIn(tls) as server:
        server.add_service_principal(SP_CLIENT, TENANT, secret=SECRET)
        server.add_service_principal(WI_CLIENT, TENANT, assertion=FEDERATED)
        yield server


@pytest.fixture
def azure_env(
    plugin: Plugin, entra: EntraStandIn, tls: TLSMaterial, proxy: RefusingProxy
) -> Plugin:
    return use_entra(plugin, entra, tls, proxy)


@pytest.fixture
def sp_env(azure_env: Plugin) -> Plugin:
    """A service principal configured the usual way: three environment variables."""
    azure_env.env.update(
        {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": SP_CLIENT, "AZURE_CLIENT_SECRET": SECRET}
    )
    return azure_env


def test_default_chain_uses_the_environment_service_principal_and_caches(
    sp_env: Plugin, entra: EntraStandIn, proxy: RefusingProxy
) -> None:
    run = sp_env.run("azure", exec_info=exec_info(V1))
    claims = entra.verify(token_of(run), AKS_SERVER_ID)
    assert (claims["appid"], claims["tid"], claims["idtyp"]) == (SP_CLIENT, TENANT, "app")
    assert entra.count("token", grant_type="client_credentials") == 1
    before = len(entra.requests)
    started = time.monotonic()
    assert sp_env.run("azure", exec_info=exec_info(V1)).credential() == run.credential()
    assert time.monotonic() - started < 5
    assert len(entra.requests) == before
    # A custom authority host: instance discovery is off, nothing tried the public cloud.
    assert proxy.targets == []
    for entry in sp_env.cache_dir.glob("*.json"):
        assert SECRET not in entry.read_text()


def test_options_override_the_environment_and_key_the_cache(
    sp_env: Plugin, entra: EntraStandIn
) -> None:
    other = "88888888-1111-4111-8111-888888888888"
    entra.add_service_principal(other, TENANT, secret=SECRET)
    first = token_of(sp_env.run("azure", "--credential", "environment"))
    second = token_of(sp_env.run("azure", "--credential", "environment", "--client-id", other))
    assert entra.verify(first, AKS_SERVER_ID)["appid"] == SP_CLIENT
    assert entra.verify(second, AKS_SERVER_ID)["appid"] == other
    scoped = token_of(sp_env.run("azure", "--scope", "https://management.azure.com/.default"))
    assert entra.verify(scoped, "https://management.azure.com")["appid"] == SP_CLIENT
    assert len(list(sp_env.cache_dir.glob("*.json"))) == 3


@pytest.mark.parametrize("credential", ["default", "client-secret"])
def test_a_wrong_secret_is_one_clear_error_and_never_echoed(
    sp_env: Plugin, credential: str
) -> None:
    wrong = "Wr0ng~secret.valueThatMustNeverShow"
    env = {"AZURE_CLIENT_SECRET": wrong}
    run = sp_env.run("azure", "--credential", credential, env=env)
    assert run.returncode == 4 and run.stdout == ""
    assert run.stderr.startswith(f"credplugin: error: azure ({credential}): no token for")
    assert "AADSTS7000215" in run.stderr and "AZURE_CLIENT_SECRET" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    loud = sp_env.run("azure", "--credential", credential, "-vvv", env=env)
    assert loud.returncode == 4 and "Traceback" in loud.stderr  # -v shows the detail...
    assert "azure.core" in loud.stderr  # ...including the SDK's own log lines...
    assert wrong not in loud.stderr and wrong not in run.stderr  # ...but never the secret


def test_secrets_are_not_options(sp_env: Plugin) -> None:
    run = sp_env.run("azure", "--client-secret", SECRET)
    assert run.returncode == 2 and SECRET not in run.stderr
    run = sp_env.run("azure", "--credential", "client-secret", env={"AZURE_CLIENT_SECRET": ""})
    assert run.returncode == 2
    assert "needs the environment variable AZURE_CLIENT_SECRET" in run.stderr


@pytest.mark.parametrize("credential", ["workload-identity", "default"])
def test_workload_identity_from_a_token_file(
    azure_env: Plugin, entra: EntraStandIn, tmp_path: Path, credential: str
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(FEDERATED)
    azure_env.env.update(
        {
            "AZURE_TENANT_ID": TENANT,
            "AZURE_CLIENT_ID": WI_CLIENT,
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        }
    )
    run = azure_env.run("azure", "--credential", credential, "-vvv")
    claims = entra.verify(token_of(run), AKS_SERVER_ID)
    assert (claims["appid"], claims["tid"]) == (WI_CLIENT, TENANT)
    assert FEDERATED not in run.stderr
    # A token file the identity provider does not trust is refused, clearly.
    token_file.write_text(FEDERATED + "x")
    refused = azure_env.run("azure", "--credential", credential, "--no-cache")
    assert refused.returncode == 4 and "AADSTS700213" in refused.stderr


def test_client_certificate_from_the_environment(
    azure_env: Plugin, entra: EntraStandIn, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "credplugin-sp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "sp.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    cert_client = "99999999-2222-4222-8222-999999999999"
    entra.add_service_principal(cert_client, TENANT, public_key=key.public_key())
    azure_env.env.update(
        {
            "AZURE_TENANT_ID": TENANT,
            "AZURE_CLIENT_ID": cert_client,
            "AZURE_CLIENT_CERTIFICATE_PATH": str(pem),
        }
    )
    for credential in ("client-certificate", "default"):
        run = azure_env.run("azure", "--credential", credential, "--no-cache")
        assert entra.verify(token_of(run), AKS_SERVER_ID)["appid"] == cert_client
    # Another key in the same place is another identity: refused, and a new cache key.
    azure_env.run("azure", "--credential", "client-certificate").credential()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    refused = azure_env.run("azure", "--credential", "client-certificate")
    assert refused.returncode == 4 and refused.stdout == ""  # not the cached token
    assert "AADSTS700027" in refused.stderr and "AZURE_CLIENT_CERTIFICATE_PATH" in refused.stderr


def test_managed_identity_endpoint(azure_env: Plugin, entra: EntraStandIn) -> None:
    """App Service style managed identity (IDENTITY_ENDPOINT + IDENTITY_HEADER)."""
    azure_env.env.update(
        {"IDENTITY_ENDPOINT": f"{entra.url}/msi/token", "IDENTITY_HEADER": entra.msi_header}
    )
    run = azure_env.run("azure", "--credential", "managed-identity", "--client-id", "mi-1")
    claims = entra.verify(token_of(run), AKS_SERVER_ID)
    assert claims["appid"] == "mi-1"
    assert entra.count("msi") == 1


def test_azure_cli_credential_and_a_new_az_login_changes_the_cache_key(
    azure_env: Plugin, entra: EntraStandIn, tmp_path: Path
) -> None:
    issued = entra.issue_user_token("alice@example.test", TENANT, AKS_SERVER_ID)
    calls = tmp_path / "az-calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    az = bindir / "az"
    answer = {
        "accessToken": issued["access_token"],
        "expires_on": int(time.time()) + issued["expires_in"],
        "tenant": TENANT,
        "tokenType": "Bearer",
    }
    az.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"print(json.dumps({answer!r}))\n"
    )
    az.chmod(0o755)
    config_dir = Path(azure_env.env["AZURE_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "azureProfile.json").write_text('{"subscriptions": []}')
    azure_env.env["PATH"] = f"{bindir}{os.pathsep}{azure_env.env['PATH']}"

    run = azure_env.run("azure", "--credential", "cli", "--tenant-id", TENANT)
    assert entra.verify(token_of(run), AKS_SERVER_ID)["upn"] == "alice@example.test"
    argv = json.loads(calls.read_text().splitlines()[0])
    assert argv[:2] == ["account", "get-access-token"]
    assert argv[argv.index("--resource") + 1].rstrip("/") == AKS_SERVER_ID
    assert argv[argv.index("--tenant") + 1] == TENANT
    azure_env.run("azure", "--credential", "cli", "--tenant-id", TENANT).credential()
    assert len(calls.read_text().splitlines()) == 1  # cached
    # `az login` as someone else rewrites the profile: never the previous identity's token.
    (config_dir / "azureProfile.json").write_text('{"subscriptions": [{"id": "other"}]}')
    azure_env.run("azure", "--credential", "cli", "--tenant-id", TENANT).credential()
    assert len(calls.read_text().splitlines()) == 2


def test_a_failed_refresh_keeps_serving_the_unexpired_token(
    sp_env: Plugin, entra: EntraStandIn
) -> None:
    token = token_of(sp_env.run("azure"))
    age_cache_entries(sp_env.cache_dir)
    entra.fail_next_token_requests(10)
    run = sp_env.run("azure", "--refresh-margin", "86400")
    assert token_of(run) == token
    assert "refresh failed" in run.stderr
    assert entra.count("token", grant_type="client_credentials") >= 2


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """Accepts TCP connections and never answers (not even the TLS handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_every_request_is_bounded_by_the_timeout(sp_env: Plugin, silent_listener: str) -> None:
    started = time.monotonic()
    run = sp_env.run("azure", "--timeout", "1", "--authority-host", silent_listener)
    elapsed = time.monotonic() - started
    assert run.returncode == 4 and run.stdout == ""
    # azure-core gave up by itself, well before the runner's hard deadline (3 x 1 + 5 s).
    assert elapsed < 6, elapsed
    assert "timed out" in run.stderr and "no credential after" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_cache_hit_imports_nothing_heavy(sp_env: Plugin) -> None:
    env = dict(sp_env.env, KUBERNETES_EXEC_INFO=json.dumps(exec_info(V1, server="https://x")))
    miss = loaded_modules(["azure"], env)
    assert "azure" in {m.split(".")[0] for m in miss}, "the first call should fetch"
    assert heavy(loaded_modules(["azure"], env)) == []
