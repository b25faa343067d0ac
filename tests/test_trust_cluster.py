"""A cluster entry is the cluster owner's: it may address the cluster, never choose whose
credential is issued or where a secret goes (DESIGN.md, Trust boundaries).

Each test is an attack a hostile kubeconfig cluster entry could make through its
`client.authentication.k8s.io/exec` extension, run through the real CLI (and kubectl) against
stand-ins that record what reached them. tests/test_provider_contract.py holds the table:
every option of every provider, set only from the extension.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    ACCESS_KEY,
    SECRET_KEY,
    V1,
    Plugin,
    aws_static_env,
    exec_info,
    kubectl_binaries,
    run_kubectl,
    token_of,
    use_entra,
    write_kubeconfig,
)
from tests.standins.apiserver import FakeAPIServer
from tests.standins.eks_verifier import AwsPrincipal, EksTokenVerifier
from tests.standins.entra import AKS_SERVER_ID, EntraStandIn, RefusingProxy
from tests.standins.hostile import CLIENT_ID, CLIENT_SECRET, HostileIdP
from tests.standins.tls import TLSMaterial
from tests.test_aws import query

KUBECTLS = kubectl_binaries()
ACCOUNT = "123456789012"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
ATTACKER_ROLE = "arn:aws:iam::999999999999:role/cluster-owner-picks-this"


@pytest.mark.kubectl
@pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine")
def test_aws_the_cluster_names_itself_but_cannot_choose_the_role_or_profile(
    plugin: Plugin, apiserver: FakeAPIServer, tls: TLSMaterial, tmp_path: Path
) -> None:
    """kubectl with a cluster entry whose extension asks for the owner's role, profile and
    external id: the token is the user's own identity, bound to the cluster the extension
    names; one warning per refused key."""
    plugin.env.update(aws_static_env())
    principal = AwsPrincipal(ACCESS_KEY, SECRET_KEY, USER_ARN, ACCOUNT, "AIDAEXAMPLEUSERID")
    verifier = EksTokenVerifier("prod-cluster", principals=[principal])
    apiserver.add_authenticator(lambda token: "aws:" + verifier.verify(token).canonical_arn)
    extension = {
        "cluster-id": "prod-cluster",
        "region": "eu-west-1",
        "role-arn": ATTACKER_ROLE,
        "external-id": "theirs",
        "profile": "owner",
        "sts-endpoint": "https://127.0.0.1:9/",
    }
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", apiserver.url, tls.ca_b64, ["aws"], cluster_config=extension
    )
    result = run_kubectl(KUBECTLS[0], kubeconfig, "get", "ns", env=plugin.env)
    assert result.returncode == 0, result.stderr
    assert {r.identity for r in apiserver.authenticated_requests()} == {f"aws:{USER_ARN}"}
    for key in ("role-arn", "external-id", "profile", "sts-endpoint"):
        assert f"ignored {key!r} in the exec extension of cluster {apiserver.url}" in result.stderr
    assert "'cluster-id'" not in result.stderr and "'region'" not in result.stderr


def test_aws_a_user_entry_may_let_its_clusters_choose_the_role(plugin: Plugin) -> None:
    """The opt-in is the user entry's: the role is then assumed (here: refused by an STS
    that is not there, which proves it was tried), and never without it."""
    plugin.env.update(aws_static_env())
    plugin.env["AWS_ENDPOINT_URL_STS"] = "https://127.0.0.1:9"
    info = exec_info(V1, server="https://x.example", config={"role-arn": ATTACKER_ROLE})
    mine = plugin.run("aws", "--cluster-id", "c", exec_info=info)
    assert query(token_of(mine.credential()))["X-Amz-Credential"].startswith(ACCESS_KEY)
    allowed = plugin.run(
        "aws",
        "--cluster-id",
        "c",
        "--allow-cluster-option",
        "role-arn",
        "--timeout",
        "2",
        exec_info=info,
    )
    assert allowed.returncode == 4 and f"AssumeRole {ATTACKER_ROLE}" in allowed.stderr


@pytest.fixture
def entra(tls: TLSMaterial) -> Iterator[EntraStandIn]:
    with EntraStandIn(tls) as server:
        server.add_service_principal("66666666-ffff-4fff-8fff-666666666666", "t1", secret="s3cr3t")
        yield server


def test_azure_the_cluster_cannot_widen_the_scope_of_the_machines_token(
    plugin: Plugin, entra: EntraStandIn, tls: TLSMaterial, proxy: RefusingProxy
) -> None:
    """An Azure Resource Manager token must never go to a cluster: the scope is the user's."""
    use_entra(plugin, entra, tls, proxy)
    plugin.env.update(
        {
            "AZURE_TENANT_ID": "t1",
            "AZURE_CLIENT_ID": "66666666-ffff-4fff-8fff-666666666666",
            "AZURE_CLIENT_SECRET": "s3cr3t",
        }
    )
    info = exec_info(
        V1,
        server="https://aks.example",
        config={"scope": "https://management.azure.com/.default", "tenant-id": "other"},
    )
    run = plugin.run("azure", "--credential", "client-secret", exec_info=info)
    claims = entra.verify(token_of(run.credential()), AKS_SERVER_ID)
    assert claims["tid"] == "t1"
    assert "ignored 'scope'" in run.stderr and "ignored 'tenant-id'" in run.stderr


def test_oidc_a_client_secret_never_goes_to_an_issuer_the_cluster_chose(
    plugin: Plugin, tls: TLSMaterial
) -> None:
    """The owner's issuer with the client-credentials grant would receive the user's client
    secret with nobody involved. With the user's own issuer, the token comes from there and
    the owner's issuer hears nothing; without one, a usage error and still nothing."""
    plugin.env["REQUESTS_CA_BUNDLE"] = str(tls.ca_path)
    plugin.env["OIDC_CLIENT_SECRET"] = CLIENT_SECRET
    with HostileIdP(tls) as mine, HostileIdP(tls, key=mine.key) as theirs:
        extension = {
            "issuer-url": theirs.url,
            "client-id": CLIENT_ID,
            "grant-type": "client-credentials",
            "auth-request-extra-params": ["redirect_uri=https://attacker.example/"],
        }
        info = exec_info(V1, server="https://k.example", config=extension)
        run = plugin.run("oidc", exec_info=info)
        assert run.returncode == 2 and run.stdout == ""
        assert "oidc needs --issuer-url" in run.stderr
        own = ["--issuer-url", mine.url, "--client-id", CLIENT_ID]
        run = plugin.run("oidc", *own, "--grant-type", "client-credentials", exec_info=info)
        assert run.credential()["status"]["token"]
        assert mine.requests and theirs.requests == []
        assert not theirs.other.requests and not theirs.plain.requests
        for key in extension:
            assert f"ignored {key!r}" in run.stderr


def test_oidc_extra_parameters_can_never_override_the_logins_protection(
    plugin: Plugin, tls: TLSMaterial
) -> None:
    plugin.env["REQUESTS_CA_BUNDLE"] = str(tls.ca_path)
    with HostileIdP(tls) as idp:
        for key in ("redirect_uri", "state", "nonce", "code_challenge", "client_id", "request"):
            run = plugin.run(
                "oidc",
                "--issuer-url",
                idp.url,
                "--client-id",
                CLIENT_ID,
                "--grant-type",
                "device-code",
                "--auth-request-extra-params",
                f"{key}=forged",
            )
            assert run.returncode == 2, run.stderr
            assert f"may not set {key!r}" in run.stderr
        # An ordinary extra parameter is sent.
        run = plugin.run(
            "oidc",
            "--issuer-url",
            idp.url,
            "--client-id",
            CLIENT_ID,
            "--grant-type",
            "device-code",
            "--auth-request-extra-params",
            "acr_values=mfa",
        )
        assert run.credential()
        device = [r for r in idp.requests if r.path.endswith("/device_authorization")]
        assert device and device[-1].form.get("acr_values") == "mfa"
