"""The Entra stand-in refuses what Entra refuses, so the provider tests that pass against it
mean something: wrong audience, foreign refresh tokens, expired device codes, bad PKCE."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from tests.standins.entra import AKS_CLIENT_ID, AKS_SERVER_ID, DEVICE_CODE_GRANT, EntraStandIn
from tests.standins.tls import TLSMaterial

SCOPE = f"{AKS_SERVER_ID}/.default offline_access openid profile"


@pytest.fixture
def entra(tls: TLSMaterial) -> Iterator[EntraStandIn]:
    with EntraStandIn(tls, device_expires_in=2) as server:
        yield server


@pytest.fixture
def http(tls: TLSMaterial) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(tls.ca_path)
        yield session


def post(http: requests.Session, entra: EntraStandIn, path: str, **form: str) -> requests.Response:
    return http.post(f"{entra.url}/{path}", data=form, timeout=5)


def device_login(http: requests.Session, entra: EntraStandIn, tenant: str) -> dict[str, Any]:
    flow = post(
        http, entra, f"{tenant}/oauth2/v2.0/devicecode", client_id=AKS_CLIENT_ID, scope=SCOPE
    )
    flow = flow.json()
    entra.approve(flow["user_code"])
    answer = post(
        http,
        entra,
        f"{tenant}/oauth2/v2.0/token",
        grant_type=DEVICE_CODE_GRANT,
        client_id=AKS_CLIENT_ID,
        device_code=flow["device_code"],
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_tokens_verify_only_for_their_audience(http: requests.Session, entra: EntraStandIn) -> None:
    tokens = device_login(http, entra, "t1")
    assert entra.verify(tokens["access_token"], AKS_SERVER_ID)["tid"] == "t1"
    with pytest.raises(jwt.InvalidAudienceError):
        entra.verify(tokens["access_token"], "https://management.azure.com")
    keys = http.get(f"{entra.url}/t1/discovery/v2.0/keys", timeout=5).json()["keys"]
    public = jwt.PyJWK(keys[0]).key
    assert jwt.decode(tokens["access_token"], public, ["ES256"], audience=AKS_SERVER_ID)


def test_refresh_tokens_are_bound_to_tenant_and_client_and_can_be_revoked(
    http: requests.Session, entra: EntraStandIn
) -> None:
    rt = device_login(http, entra, "t1")["refresh_token"]

    def refresh(tenant: str, client: str) -> requests.Response:
        return post(
            http,
            entra,
            f"{tenant}/oauth2/v2.0/token",
            grant_type="refresh_token",
            refresh_token=rt,
            client_id=client,
            scope=SCOPE,
        )

    assert refresh("t1", AKS_CLIENT_ID).status_code == 200
    assert refresh("t2", AKS_CLIENT_ID).json()["error"] == "invalid_grant"
    assert refresh("t1", "another-client").json()["error"] == "invalid_grant"
    entra.revoke_refresh_tokens()
    answer = refresh("t1", AKS_CLIENT_ID)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    entra.fail_next_token_requests(1)
    assert refresh("t1", AKS_CLIENT_ID).status_code == 500


def test_device_codes_are_pending_then_expire(http: requests.Session, entra: EntraStandIn) -> None:
    flow = post(
        http, entra, "t1/oauth2/v2.0/devicecode", client_id=AKS_CLIENT_ID, scope=SCOPE
    ).json()
    assert re.search(rf"enter the code {flow['user_code']} ", flow["message"])

    def poll() -> str:
        return str(
            post(
                http,
                entra,
                "t1/oauth2/v2.0/token",
                grant_type=DEVICE_CODE_GRANT,
                client_id=AKS_CLIENT_ID,
                device_code=flow["device_code"],
            ).json()["error"]
        )

    assert poll() == "authorization_pending"
    time.sleep(2.1)
    assert poll() == "expired_token"


def test_authorization_code_needs_the_pkce_verifier(
    http: requests.Session, entra: EntraStandIn
) -> None:
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect = "http://localhost:12345"
    page = http.get(
        f"{entra.url}/t1/oauth2/v2.0/authorize",
        params={
            "client_id": AKS_CLIENT_ID,
            "redirect_uri": redirect,
            "response_mode": "form_post",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            "scope": SCOPE,
            "state": "s",
        },
        timeout=5,
    )
    code = re.search(r'name="code" value="([^"]+)"', page.text)
    assert code is not None

    def redeem(with_verifier: str) -> requests.Response:
        return post(
            http,
            entra,
            "t1/oauth2/v2.0/token",
            grant_type="authorization_code",
            client_id=AKS_CLIENT_ID,
            code=code.group(1),
            redirect_uri=redirect,
            code_verifier=with_verifier,
        )

    assert redeem("w" * 43).json()["error"] == "invalid_grant"
    assert redeem(verifier).json()["error"] == "invalid_grant"  # codes are single-use


def test_client_credentials_and_managed_identity_refuse_wrong_proof(
    http: requests.Session, entra: EntraStandIn
) -> None:
    entra.add_service_principal("sp", "t1", secret="right")
    form = {
        "grant_type": "client_credentials",
        "client_id": "sp",
        "scope": f"{AKS_SERVER_ID}/.default",
    }
    assert post(http, entra, "t1/oauth2/v2.0/token", **form, client_secret="right").ok
    wrong = post(http, entra, "t1/oauth2/v2.0/token", **form, client_secret="wrong")
    assert wrong.status_code == 401 and "AADSTS7000215" in wrong.text and "wrong" not in wrong.text
    other_tenant = post(http, entra, "t2/oauth2/v2.0/token", **form, client_secret="right")
    assert "AADSTS700016" in other_tenant.text
    msi = f"{entra.url}/msi/token?resource={AKS_SERVER_ID}&api-version=2019-08-01"
    assert http.get(msi, headers={"X-IDENTITY-HEADER": "nope"}, timeout=5).status_code == 401
    assert http.get(msi, headers={"X-IDENTITY-HEADER": entra.msi_header}, timeout=5).ok
