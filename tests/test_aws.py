"""aws: EKS tokens checked the way EKS checks them (aws-iam-authenticator's Verify rules plus
a SigV4 recomputation from the known secret) and AssumeRole against moto's STS on 127.0.0.1.
Real kubectl against the EKS-verifying API stand-in: tests/test_kubectl_providers.py."""

from __future__ import annotations

import base64
import datetime
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from credplugin.errors import UsageError
from credplugin.providers.aws import fetch as aws
from tests.conftest import (
    ACCESS_KEY,
    SECRET_KEY,
    V1,
    V1BETA1,
    Plugin,
    aws_static_env,
    exec_info,
    expiry_of,
)
from tests.standins.eks_verifier import AwsPrincipal, EksTokenVerifier, TokenRejected

ACCOUNT = "123456789012"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/eks-admin"


def static_principal() -> AwsPrincipal:
    return AwsPrincipal(ACCESS_KEY, SECRET_KEY, USER_ARN, ACCOUNT, "AIDAEXAMPLEUSERID")


def decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token[len("k8s-aws-v1.") :]
    assert "=" not in body
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def query(token: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(decode(token)).query).items()}


@pytest.fixture
def aws_env(plugin: Plugin) -> Plugin:
    plugin.env.update(aws_static_env("AWS_DEFAULT_REGION"))
    return plugin


# -- the token -------------------------------------------------------------------------------


def test_golden_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-iam-authenticator's TestGetWithSTS vector, byte for byte (protocol.md 2.1)."""
    import botocore.auth
    from botocore.credentials import ReadOnlyCredentials

    frozen = datetime.datetime(2023, 4, 28, 0, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: frozen)
    credentials = ReadOnlyCredentials(
        "ASIAR2TG44V6AS3ZZE7C", "4KD5cntGcVmLWRdF5wvNRuzNL5Qxmp6OKVY6Fz/Q", None
    )
    token = aws.presign_token(credentials, "test-cluster", "us-west-2", "amazonaws.com")
    assert token == (
        "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0"
        "eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlh"
        "bD1BU0lBUjJURzQ0VjZBUzNaWkU3QyUyRjIwMjMwNDI4JTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0Jlgt"
        "QW16LURhdGU9MjAyMzA0MjhUMDAwMDAwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUz"
        "QngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9ZTIxMWRiYTc3YWJhOWRjNDRiMGI2YmUzOGI4ZWFhZDA5MjU5OWM1"
        "MTU3ZjYzMTQ0NDRjNWI5ZDg1NzQ3ZjVjZQ"
    )


def test_cli_token_passes_eks_verification_and_is_bound_to_the_cluster(aws_env: Plugin) -> None:
    run = aws_env.run("aws", "--cluster-id", "prod", exec_info=exec_info(V1))
    doc = run.credential()
    token = doc["status"]["token"]
    verifier = EksTokenVerifier("prod", principals=[static_principal()])
    identity = verifier.verify(token)
    assert identity.arn == USER_ARN and identity.access_key_id == ACCESS_KEY
    with pytest.raises(TokenRejected, match="signature"):
        EksTokenVerifier("staging", principals=[static_principal()]).verify(token)
    params = query(token)
    assert params["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert params["X-Amz-Expires"] == "60"
    assert urlsplit(decode(token)).hostname == "sts.eu-west-1.amazonaws.com"
    assert "x-k8s-aws-id" not in {k.lower() for k in params}
    lifetime = expiry_of(doc) - time.time()
    assert 13 * 60 < lifetime <= 14 * 60


@pytest.mark.parametrize(
    ("region", "host", "partition"),
    [
        ("us-east-1", "sts.us-east-1.amazonaws.com", "aws"),
        ("cn-north-1", "sts.cn-north-1.amazonaws.com.cn", "aws-cn"),
        ("us-gov-west-1", "sts.us-gov-west-1.amazonaws.com", "aws-us-gov"),
    ],
)
def test_partitions_sign_for_their_regional_sts_host(
    aws_env: Plugin, region: str, host: str, partition: str
) -> None:
    token = aws_env.run("aws", "-i", "c1", "--region", region).credential()["status"]["token"]
    assert urlsplit(decode(token)).hostname == host
    assert f"/{region}/sts/aws4_request" in query(token)["X-Amz-Credential"]
    EksTokenVerifier("c1", partition=partition, principals=[static_principal()]).verify(token)


def test_region_precedence(aws_env: Plugin) -> None:
    eks = "https://ABCDEF.gr7.ap-south-1.eks.amazonaws.com"

    def region(*args: str, env: dict[str, str] | None = None, server: str | None = None) -> str:
        info = exec_info(V1, server=server) if server else None
        run = aws_env.run(
            "aws", "--cluster-name", "c", "--no-cache", *args, exec_info=info, env=env
        )
        return str(urlsplit(decode(run.credential()["status"]["token"])).hostname).split(".")[1]

    assert region("--region", "eu-central-1", env={"AWS_REGION": "us-west-2"}) == "eu-central-1"
    assert region(env={"AWS_REGION": "us-west-2"}) == "us-west-2"
    assert region() == "eu-west-1"  # AWS_DEFAULT_REGION from the fixture
    no_region = {"AWS_DEFAULT_REGION": ""}
    assert region(env=no_region, server=eks) == "ap-south-1"
    assert region(env=no_region) == "us-east-1"
    config = Path(aws_env.env["AWS_CONFIG_FILE"])
    config.write_text("[default]\nregion = ca-central-1\n")
    assert region(env=no_region, server=eks) == "ca-central-1"


def test_unknown_region_is_a_clear_error(aws_env: Plugin) -> None:
    run = aws_env.run("aws", "-i", "c", "--region", "moon-base-1")
    assert run.returncode == 2 and run.stdout == ""
    assert "unknown AWS region 'moon-base-1'" in run.stderr


def test_region_and_partition_parsing() -> None:
    assert aws.region_from_server("https://X.gr7.eu-west-1.eks.amazonaws.com") == "eu-west-1"
    assert aws.region_from_server("https://X.cn-north-1.eks.amazonaws.com.cn:443/") == "cn-north-1"
    assert aws.region_from_server("https://10.0.0.1:6443") is None
    assert aws.partition_for("eu-isoe-west-1") == ("aws-iso-e", "cloud.adc-e.uk")
    for bad in ("", "us_east_1", "EU-WEST-1", "us-east", "sts.amazonaws.com"):
        with pytest.raises(UsageError):
            aws.partition_for(bad)


def test_missing_cluster_id_is_a_usage_error(aws_env: Plugin) -> None:
    run = aws_env.run("aws")
    assert run.returncode == 2 and "--cluster-id" in run.stderr


def test_cluster_id_from_cluster_config(aws_env: Plugin) -> None:
    info = exec_info(V1BETA1, server="https://x", config={"cluster-id": "from-config"})
    token = aws_env.run("aws", exec_info=info).credential()["status"]["token"]
    EksTokenVerifier("from-config", principals=[static_principal()]).verify(token)


def test_no_credentials_is_one_clear_line_without_hanging_on_imds(plugin: Plugin) -> None:
    plugin.env.pop("AWS_EC2_METADATA_DISABLED", None)
    started = time.monotonic()
    run = plugin.run("aws", "-i", "c", "--region", "eu-west-1", "--timeout", "2")
    assert time.monotonic() - started < 15
    assert run.returncode == 4 and run.stdout == ""
    assert run.stderr.startswith("credplugin: error: no AWS credentials found")
    assert len(run.stderr.strip().splitlines()) == 1


def test_second_call_is_a_cache_hit_and_switching_identity_is_not(aws_env: Plugin) -> None:
    first = aws_env.run("aws", "-i", "c").credential()
    assert aws_env.run("aws", "-i", "c").credential() == first
    other = aws_env.run("aws", "-i", "c", env={"AWS_ACCESS_KEY_ID": "AKIAOTHEROTHEROTHER0"})
    assert query(other.credential()["status"]["token"])["X-Amz-Credential"].startswith(
        "AKIAOTHEROTHER"
    )
    assert len(list(aws_env.cache_dir.glob("*.json"))) == 2
    # Editing the shared credentials file may change who we are: not the same cache entry.
    Path(aws_env.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text("[default]\n")
    aws_env.run("aws", "-i", "c").credential()
    assert len(list(aws_env.cache_dir.glob("*.json"))) == 3


def test_profile_credentials_and_unknown_profile(aws_env: Plugin) -> None:
    Path(aws_env.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[dev]\naws_access_key_id = AKIADEVDEVDEVDEVDEV0\naws_secret_access_key = devsecret\n"
    )
    token = aws_env.run("aws", "-i", "c", "--profile", "dev").credential()["status"]["token"]
    assert query(token)["X-Amz-Credential"].startswith("AKIADEVDEVDEVDEVDEV0/")
    run = aws_env.run("aws", "-i", "c", "--profile", "nope")
    assert run.returncode == 2 and "AWS profile not found: nope" in run.stderr


def test_secret_key_never_reaches_stderr(aws_env: Plugin) -> None:
    run = aws_env.run("aws", "-i", "c", "-vvv")
    run.credential()
    assert SECRET_KEY not in run.stderr and SECRET_KEY not in run.stdout
    for entry in aws_env.cache_dir.glob("*.json"):
        assert SECRET_KEY not in entry.read_text()


# -- AssumeRole against moto -------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_sts() -> Iterator[str]:
    pytest.importorskip("flask")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def assumed_roles() -> list[Any]:
    from moto.backends import get_backend
    from moto.core.models import DEFAULT_ACCOUNT_ID

    roles: list[Any] = []
    for region_backend in get_backend("sts")[DEFAULT_ACCOUNT_ID].values():
        roles.extend(region_backend.assumed_roles)
    return roles


def principal_for(role: Any) -> AwsPrincipal:
    return AwsPrincipal(
        role.access_key_id,
        role.secret_access_key,
        role.arn,
        ACCOUNT,
        f"{role.user_id}",
        session_token=role.session_token,
    )


def test_assume_role_with_external_id_and_session_name(aws_env: Plugin, moto_sts: str) -> None:
    before = len(assumed_roles())
    run = aws_env.run(
        "aws",
        "-i",
        "prod",
        "--role-arn",
        ROLE_ARN,
        "--external-id",
        "ext-123",
        "--session-name",
        "kube-alice",
        "--duration",
        "1800",
        env={"AWS_ENDPOINT_URL_STS": moto_sts},
    )
    token = run.credential()["status"]["token"]
    roles = assumed_roles()[before:]
    assert len(roles) == 1
    role = roles[0]
    assert role.role_arn == ROLE_ARN and role.session_name == "kube-alice"
    assert role.external_id == "ext-123"
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((role.expiration - now).total_seconds() - 1800) < 60
    identity = EksTokenVerifier("prod", principals=[principal_for(role)]).verify(token)
    assert identity.canonical_arn == ROLE_ARN and identity.session_name == "kube-alice"
    # The presigned host stays the regional STS host EKS accepts, not the custom endpoint.
    assert urlsplit(decode(token)).hostname == "sts.eu-west-1.amazonaws.com"
    assert query(token)["X-Amz-Security-Token"] == role.session_token
    # Nothing secret of the session appears on stderr.
    assert role.secret_access_key not in run.stderr


def test_role_is_assumed_once_per_session_not_per_token(aws_env: Plugin, moto_sts: str) -> None:
    args = ("aws", "-i", "prod", "--role-arn", ROLE_ARN, "--sts-endpoint", moto_sts)
    before = len(assumed_roles())
    first = aws_env.run(*args).credential()
    time.sleep(1.1)  # X-Amz-Date has second precision
    second = aws_env.run(*args, "--force-refresh").credential()
    assert first != second  # a new presigned token...
    assert len(assumed_roles()) == before + 1  # ...from the same role session
    assert (
        query(first["status"]["token"])["X-Amz-Security-Token"]
        == (query(second["status"]["token"])["X-Amz-Security-Token"])
    )


def test_token_expiry_is_capped_by_the_role_session(aws_env: Plugin, moto_sts: str) -> None:
    doc = aws_env.run(
        "aws", "-i", "p", "--role-arn", ROLE_ARN, "--duration", "900", "--sts-endpoint", moto_sts
    ).credential()
    assert expiry_of(doc) - time.time() <= 14 * 60


def test_assume_role_refused_is_one_clear_line(aws_env: Plugin) -> None:
    run = aws_env.run(
        "aws",
        "-i",
        "p",
        "--role-arn",
        ROLE_ARN,
        "--sts-endpoint",
        "http://127.0.0.1:9",
        "--timeout",
        "2",
    )
    assert run.returncode in (4, 5) and run.stdout == ""
    assert f"AssumeRole {ROLE_ARN} failed" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_profile_role_with_mfa_fails_fast_when_nobody_can_answer(aws_env: Plugin) -> None:
    Path(aws_env.env["AWS_CONFIG_FILE"]).write_text(
        "[profile base]\nregion = eu-west-1\n"
        f"[profile admin]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n"
        "mfa_serial = arn:aws:iam::123456789012:mfa/alice\n"
    )
    Path(aws_env.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[base]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    started = time.monotonic()
    run = aws_env.run(
        "aws", "-i", "p", "--profile", "admin", exec_info=exec_info(V1, interactive=False), env=env
    )
    assert time.monotonic() - started < 20
    assert run.returncode == 3 and run.stdout == ""
    assert "needs a person" in run.stderr and "credplugin aws" in run.stderr
