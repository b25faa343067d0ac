"""The EKS token verifier stand-in (tests/standins/eks_verifier.py).

Checked against: the golden vector of protocol.md 2.1, tokens presigned by botocore the way
aws-cli builds them, the pre-STS cases of aws-iam-authenticator's token_test.go
(protocol.md 2.6 A, D), the identity mapping cases (2.6 B/C), and FakeAPIServer's
authenticator hook end to end.
"""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import botocore.session
import pytest
import requests
from botocore.config import Config

from tests.standins import eks_verifier
from tests.standins.apiserver import FakeAPIServer
from tests.standins.eks_verifier import (
    EMPTY_PAYLOAD_SHA256,
    AwsPrincipal,
    EksTokenVerifier,
    Identity,
    TokenRejected,
    presign_token,
)

# -- golden vector (protocol.md 2.1; aws-iam-authenticator TestGetWithSTS) ---------------------

GOLDEN_TIME = 1682640000  # 2023-04-28T00:00:00Z
GOLDEN_URL = (
    "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAR2TG44V6AS3ZZE7C%2F20230428%2Fus-west-2%2Fsts%2Faws4_request"
    "&X-Amz-Date=20230428T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
    "&X-Amz-Signature=e211dba77aba9dc44b0b6be38b8eaad092599c5157f6314444c5b9d85747f5ce"
)
GOLDEN_TOKEN = (
    "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudG"
    "l0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVu"
    "dGlhbD1BU0lBUjJURzQ0VjZBUzNaWkU3QyUyRjIwMjMwNDI4JTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZX"
    "N0JlgtQW16LURhdGU9MjAyMzA0MjhUMDAwMDAwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9"
    "aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9ZTIxMWRiYTc3YWJhOWRjNDRiMGI2YmUzOGI4ZWFhZD"
    "A5MjU5OWM1MTU3ZjYzMTQ0NDRjNWI5ZDg1NzQ3ZjVjZQ"
)
GOLDEN = AwsPrincipal(
    access_key_id="ASIAR2TG44V6AS3ZZE7C",
    secret_access_key="4KD5cntGcVmLWRdF5wvNRuzNL5Qxmp6OKVY6Fz/Q",
    arn="arn:aws:iam::123456789012:user/golden",
    account="123456789012",
    user_id="AIDAGOLDENEXAMPLE",
)

# -- principals for generated tokens ----------------------------------------------------------

T0 = 1767225600.0  # 2026-01-01T00:00:00Z: when generated tokens are signed
ACCOUNT = "123456789012"
STATIC = AwsPrincipal(
    access_key_id="AKIAEXAMPLESTATIC001",
    secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
    account=ACCOUNT,
    user_id="AIDAEXAMPLEALICE",
)
ASSUMED = AwsPrincipal(
    access_key_id="ASIAEXAMPLESESSION01",
    secret_access_key="je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/k8s-admin/plugin-session",
    account=ACCOUNT,
    user_id="AROAEXAMPLEROLE:plugin-session",
    # '+', '/' and '=' exercise the SigV4 query encoding, as real session tokens do.
    session_token="FwoGZXIvYXdzEXAMPLE//////////wEaDO+token/with+slash=and=equals==",
)
AWS_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def in_partition(principal: AwsPrincipal, partition: str) -> AwsPrincipal:
    """The same principal with its ARN moved to another partition."""
    return AwsPrincipal(
        access_key_id=principal.access_key_id,
        secret_access_key=principal.secret_access_key,
        arn=principal.arn.replace("arn:aws:", f"arn:{partition}:", 1),
        account=principal.account,
        user_id=principal.user_id,
        session_token=principal.session_token,
    )


def to_token(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def to_url(token: str) -> str:
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def amz_date(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def rejection(verifier: EksTokenVerifier, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as info:
        verifier.verify(token)
    return info.value


def golden_verifier(cluster: str = "test-cluster", **kwargs: Any) -> EksTokenVerifier:
    return EksTokenVerifier(
        cluster, principals=[GOLDEN], clock=lambda: GOLDEN_TIME + 60.0, **kwargs
    )


# -- botocore, as aws-cli uses it -------------------------------------------------------------


@pytest.fixture(scope="module")
def boto_session() -> Iterator[Any]:
    """A botocore session that reads no AWS config, env credentials or endpoint overrides."""
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield botocore.session.Session()


TokenMaker = Callable[..., str]


@pytest.fixture(scope="module")
def boto_token(boto_session: Any) -> TokenMaker:
    def make(
        cluster: str,
        region: str,
        principal: AwsPrincipal,
        *,
        when: float | None = T0,
        expires: int = 60,
        config: Config | None = None,
        session: Any = None,
    ) -> str:
        client = (session or boto_session).create_client(
            "sts",
            region_name=region,
            aws_access_key_id=principal.access_key_id,
            aws_secret_access_key=principal.secret_access_key,
            aws_session_token=principal.session_token,
            config=config,
        )

        def add_cluster_header(request: Any, **kwargs: Any) -> None:
            request.headers["x-k8s-aws-id"] = cluster

        client.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
        with mock.patch("botocore.auth.get_current_datetime") as clock:
            moment = time.time() if when is None else when
            clock.return_value = datetime.datetime.fromtimestamp(
                moment, datetime.timezone.utc
            ).replace(tzinfo=None)
            url = client.generate_presigned_url(
                "get_caller_identity", Params={}, ExpiresIn=expires, HttpMethod="GET"
            )
        return to_token(str(url))

    return make


def verifier_at(
    now: float, *principals: AwsPrincipal, cluster: str = "my-cluster", partition: str = "aws"
) -> EksTokenVerifier:
    return EksTokenVerifier(cluster, partition=partition, principals=principals, clock=lambda: now)


# == golden vector ============================================================================


def test_golden_token_decodes_to_golden_url() -> None:
    assert to_url(GOLDEN_TOKEN) == GOLDEN_URL
    assert to_token(GOLDEN_URL) == GOLDEN_TOKEN


def test_golden_vector_verifies() -> None:
    identity = golden_verifier().verify(GOLDEN_TOKEN)
    assert identity == Identity(
        arn="arn:aws:iam::123456789012:user/golden",
        canonical_arn="arn:aws:iam::123456789012:user/golden",
        account_id="123456789012",
        user_id="AIDAGOLDENEXAMPLE",
        session_name="",
        access_key_id="ASIAR2TG44V6AS3ZZE7C",
        sts_endpoint="sts.us-west-2.amazonaws.com",
    )


def test_golden_vector_is_reproduced_by_botocore_and_presign_token(
    boto_token: TokenMaker,
) -> None:
    assert boto_token("test-cluster", "us-west-2", GOLDEN, when=GOLDEN_TIME) == GOLDEN_TOKEN
    assert presign_token("test-cluster", GOLDEN, "us-west-2", now=GOLDEN_TIME) == GOLDEN_TOKEN


def test_golden_payload_hash_is_the_empty_body_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    assert eks_verifier.PAYLOAD_HASH == EMPTY_PAYLOAD_SHA256
    assert EMPTY_PAYLOAD_SHA256.startswith("e3b0c442")
    monkeypatch.setattr(eks_verifier, "PAYLOAD_HASH", "UNSIGNED-PAYLOAD")  # the S3 presign value
    assert rejection(golden_verifier(), GOLDEN_TOKEN).aws_code == "SignatureDoesNotMatch"


def test_golden_vector_for_another_cluster_is_a_signature_mismatch() -> None:
    exc = rejection(golden_verifier("other-cluster"), GOLDEN_TOKEN)
    assert exc.kind == "sts"
    assert exc.aws_code == "SignatureDoesNotMatch"
    assert str(exc).startswith(
        "sts getCallerIdentity failed: error from AWS (expected 200, got 403) "
        "on us-west-2 endpoint. Body: "
    )
    assert "signature mismatch" in str(exc)


@pytest.mark.parametrize(
    ("old", "new", "expected", "code"),
    [
        pytest.param(
            "e211dba7", "e211dba8", "signature mismatch", "SignatureDoesNotMatch", id="sig"
        ),
        pytest.param(
            "Signature=e211",
            "Signature=E211",
            "signature mismatch",
            "SignatureDoesNotMatch",
            id="sig-uppercase",
        ),
        pytest.param(
            "T000000Z", "T000001Z", "signature mismatch", "SignatureDoesNotMatch", id="date"
        ),
        pytest.param(
            "Expires=60",
            "Expires=900",
            "signature mismatch",
            "SignatureDoesNotMatch",
            id="expires",
        ),
        pytest.param(
            "sts.us-west-2.",
            "sts.us-east-1.",
            "scoped to a valid region",
            "SignatureDoesNotMatch",
            id="host",
        ),
        pytest.param(
            "%2Fus-west-2%2F",
            "%2Fus-east-1%2F",
            "scoped to a valid region",
            "SignatureDoesNotMatch",
            id="scope-region",
        ),
        pytest.param(
            "%2F20230428%2F",
            "%2F20230427%2F",
            "Date in Credential scope does not match",
            "SignatureDoesNotMatch",
            id="scope-date",
        ),
        pytest.param(
            "%2Fsts%2F",
            "%2Fs3%2F",
            "scoped to correct service",
            "SignatureDoesNotMatch",
            id="scope-service",
        ),
        pytest.param(
            "ASIAR2TG44V6AS3ZZE7C",
            "ASIAR2TG44V6AS3ZZE7D",
            "InvalidClientTokenId",
            "InvalidClientTokenId",
            id="unknown-key",
        ),
        pytest.param(
            "&X-Amz-Signature",
            "&X-Amz-Security-Token=abc&X-Amz-Signature",
            "InvalidClientTokenId",
            "InvalidClientTokenId",
            id="added-session-token",
        ),
        pytest.param(
            "host%3Bx-k8s-aws-id",
            "x-k8s-aws-id",
            "'Host' or ':authority' must be a",
            "SignatureDoesNotMatch",
            id="host-not-signed",
        ),
        pytest.param(
            "&X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "",
            "AWS query-string parameters must include",
            "IncompleteSignature",
            id="no-algorithm",
        ),
        pytest.param(
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA1",
            "Unsupported AWS 'algorithm'",
            "IncompleteSignature",
            id="algorithm",
        ),
        pytest.param(
            "X-Amz-Credential=",
            "x-amz-credential=",
            "AWS query-string parameters",
            "IncompleteSignature",
            id="lowercase-credential-key",
        ),
    ],
)
def test_tampered_golden_vector_fails_at_sts(old: str, new: str, expected: str, code: str) -> None:
    assert old in GOLDEN_URL
    exc = rejection(golden_verifier(), to_token(GOLDEN_URL.replace(old, new, 1)))
    assert exc.kind == "sts"
    assert exc.aws_code == code
    assert expected in str(exc)
    assert "error from AWS (expected 200, got 403)" in str(exc)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("&X-Amz-Foo=1", 'non-whitelisted query parameter "X-Amz-Foo"'),
        ("&Version=2011-06-15", "query parameter with multiple values not supported"),
        ("&version=2011-06-15", 'duplicate query parameter found: "version"'),
        ("&x-amz-security-token=abc;", "malformed query parameter"),
    ],
)
def test_golden_vector_with_an_extra_query_parameter_fails(extra: str, expected: str) -> None:
    exc = rejection(golden_verifier(), to_token(GOLDEN_URL + extra))
    assert str(exc) == "input token was not properly formatted: " + expected


def test_golden_vector_survives_harmless_reencodings() -> None:
    verifier = golden_verifier()
    # Go lowercases the scheme, and the signature does not cover it.
    assert verifier.verify(to_token(GOLDEN_URL.replace("https:", "HTTPS:", 1))).user_id
    # An empty query segment is skipped by url.ParseQuery and by the canonical query.
    assert verifier.verify(to_token(GOLDEN_URL + "&")).user_id
    # base64.RawURLEncoding skips CR and LF.
    assert verifier.verify(GOLDEN_TOKEN[:40] + "\r\n" + GOLDEN_TOKEN[40:]).user_id


@pytest.mark.parametrize(
    ("offset", "outcome"),
    [
        (-16 * 60, "Signature not yet current"),
        (-14 * 60, None),
        (0, None),
        (15 * 60, None),  # now == date + 15 min is still valid (now.After(expiration) is false)
        (15 * 60 + 0.001, "X-Amz-Date parameter is expired (15 minute expiration) "),
        (16 * 60, "X-Amz-Date parameter is expired (15 minute expiration) "),
    ],
)
def test_golden_vector_validity_window(offset: float, outcome: str | None) -> None:
    verifier = EksTokenVerifier(
        "test-cluster", principals=[GOLDEN], clock=lambda: GOLDEN_TIME + offset
    )
    if outcome is None:
        assert verifier.verify(GOLDEN_TOKEN).access_key_id == GOLDEN.access_key_id
    else:
        assert outcome in str(rejection(verifier, GOLDEN_TOKEN))


def test_expired_message_prints_the_date_like_go() -> None:
    verifier = EksTokenVerifier("test-cluster", principals=[GOLDEN], clock=lambda: 2e9)
    assert str(rejection(verifier, GOLDEN_TOKEN)) == (
        "input token was not properly formatted: X-Amz-Date parameter is expired "
        "(15 minute expiration) 2023-04-28 00:00:00 +0000 UTC"
    )


def test_removed_principal_is_an_invalid_client_token() -> None:
    verifier = golden_verifier()
    verifier.remove_principal(GOLDEN.access_key_id)
    exc = rejection(verifier, GOLDEN_TOKEN)
    assert exc.aws_code == "InvalidClientTokenId"
    assert "InvalidClientTokenId" in str(exc)


# == tokens presigned by botocore =============================================================

REGIONS = [
    ("us-west-2", "aws", "sts.us-west-2.amazonaws.com"),
    ("eu-west-1", "aws", "sts.eu-west-1.amazonaws.com"),
    ("cn-north-1", "aws-cn", "sts.cn-north-1.amazonaws.com.cn"),
    ("us-gov-west-1", "aws-us-gov", "sts.us-gov-west-1.amazonaws.com"),
]


@pytest.mark.parametrize("with_session", [False, True], ids=["static", "session"])
@pytest.mark.parametrize(("region", "partition", "host"), REGIONS, ids=[r[0] for r in REGIONS])
def test_botocore_token_verifies(
    boto_token: TokenMaker, region: str, partition: str, host: str, with_session: bool
) -> None:
    principal = in_partition(ASSUMED if with_session else STATIC, partition)
    token = boto_token("my-cluster", region, principal)
    assert to_url(token).startswith(f"https://{host}/?Action=GetCallerIdentity&")
    assert ("X-Amz-Security-Token=" in to_url(token)) is with_session
    identity = verifier_at(T0 + 60, principal, partition=partition).verify(token)
    assert identity.sts_endpoint == host
    assert identity.access_key_id == principal.access_key_id
    assert identity.account_id == ACCOUNT
    if with_session:
        assert (
            identity.arn == f"arn:{partition}:sts::{ACCOUNT}:assumed-role/k8s-admin/plugin-session"
        )
        assert identity.canonical_arn == f"arn:{partition}:iam::{ACCOUNT}:role/k8s-admin"
        assert (identity.user_id, identity.session_name) == ("AROAEXAMPLEROLE", "plugin-session")
    else:
        assert (
            identity.canonical_arn == identity.arn == f"arn:{partition}:iam::{ACCOUNT}:user/alice"
        )
        assert (identity.user_id, identity.session_name) == ("AIDAEXAMPLEALICE", "")
    # presign_token (stdlib) builds the identical token.
    assert presign_token("my-cluster", principal, region, now=T0) == token


@pytest.mark.parametrize(
    ("region", "config", "host"),
    [
        ("us-west-2", Config(use_fips_endpoint=True), "sts-fips.us-west-2.amazonaws.com"),
        ("us-west-2", Config(use_dualstack_endpoint=True), "sts.us-west-2.api.aws"),
        (
            "us-east-1",
            Config(use_fips_endpoint=True, use_dualstack_endpoint=True),
            "sts-fips.us-east-1.api.aws",
        ),
    ],
    ids=["fips", "dualstack", "fips-dualstack"],
)
def test_botocore_fips_and_dualstack_tokens_verify(
    boto_token: TokenMaker, region: str, config: Config, host: str
) -> None:
    token = boto_token("my-cluster", region, ASSUMED, config=config)
    assert to_url(token).startswith(f"https://{host}/?")
    assert verifier_at(T0 + 60, ASSUMED).verify(token).sts_endpoint == host


def test_botocore_legacy_global_endpoint_token_verifies(boto_session: Any) -> None:
    legacy = botocore.session.Session()
    legacy.set_config_variable("sts_regional_endpoints", "legacy")
    client = legacy.create_client(
        "sts",
        region_name="us-west-2",
        aws_access_key_id=STATIC.access_key_id,
        aws_secret_access_key=STATIC.secret_access_key,
    )
    client.meta.events.register(
        "before-sign.sts.GetCallerIdentity",
        lambda request, **kwargs: request.headers.__setitem__("x-k8s-aws-id", "my-cluster"),
    )
    url = str(
        client.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
        )
    )
    assert url.startswith("https://sts.amazonaws.com/?")
    assert "%2Fus-east-1%2Fsts%2F" in url  # the global host signs for us-east-1
    verifier = EksTokenVerifier("my-cluster", principals=[STATIC])
    assert verifier.verify(to_token(url)).sts_endpoint == "sts.amazonaws.com"
    aws_cn = EksTokenVerifier("my-cluster", partition="aws-cn", principals=[STATIC])
    assert str(rejection(aws_cn, to_token(url))).endswith(
        "global endpoint unsupported in partition aws-cn"
    )


def test_botocore_token_with_the_wrong_secret_is_a_signature_mismatch(
    boto_token: TokenMaker,
) -> None:
    forged = AwsPrincipal(
        access_key_id=STATIC.access_key_id,
        secret_access_key="not-the-secret",
        arn=STATIC.arn,
        account=ACCOUNT,
        user_id=STATIC.user_id,
    )
    exc = rejection(verifier_at(T0 + 60, STATIC), boto_token("my-cluster", "us-west-2", forged))
    assert exc.aws_code == "SignatureDoesNotMatch"
    assert "signature mismatch" in str(exc)


def test_botocore_token_for_another_cluster_is_a_signature_mismatch(
    boto_token: TokenMaker,
) -> None:
    token = boto_token("other-cluster", "eu-west-1", ASSUMED)
    assert "signature mismatch" in str(rejection(verifier_at(T0 + 60, ASSUMED), token))


def _with_session_token(principal: AwsPrincipal, session_token: str | None) -> AwsPrincipal:
    return AwsPrincipal(
        access_key_id=principal.access_key_id,
        secret_access_key=principal.secret_access_key,
        arn=principal.arn,
        account=principal.account,
        user_id=principal.user_id,
        session_token=session_token,
    )


def test_session_token_must_match_the_principal(boto_token: TokenMaker) -> None:
    with_token = boto_token("my-cluster", "us-west-2", ASSUMED)
    without_token = boto_token("my-cluster", "us-west-2", _with_session_token(ASSUMED, None))
    assert verifier_at(T0 + 60, ASSUMED).verify(with_token).session_name == "plugin-session"
    cases = [
        (_with_session_token(ASSUMED, "a-different-session-token"), with_token),
        (_with_session_token(ASSUMED, None), with_token),  # STS knows no session token
        (ASSUMED, without_token),  # the token left X-Amz-Security-Token out
    ]
    for principal, token in cases:
        assert rejection(verifier_at(T0 + 60, principal), token).aws_code == "InvalidClientTokenId"


def test_expired_temporary_credentials_are_rejected(boto_token: TokenMaker) -> None:
    expiring = AwsPrincipal(
        access_key_id=ASSUMED.access_key_id,
        secret_access_key=ASSUMED.secret_access_key,
        arn=ASSUMED.arn,
        account=ACCOUNT,
        user_id=ASSUMED.user_id,
        session_token=ASSUMED.session_token,
        expires_at=T0 + 300,
    )
    token = boto_token("my-cluster", "us-west-2", expiring)
    assert verifier_at(T0 + 299, expiring).verify(token).user_id == "AROAEXAMPLEROLE"
    assert rejection(verifier_at(T0 + 300, expiring), token).aws_code == "ExpiredToken"


def test_botocore_token_expires_after_15_minutes(boto_token: TokenMaker) -> None:
    token = boto_token("my-cluster", "us-west-2", STATIC)
    assert verifier_at(T0 + 14 * 60, STATIC).verify(token).user_id == STATIC.user_id
    exc = rejection(verifier_at(T0 + 16 * 60, STATIC), token)
    assert exc.kind == "format"
    assert "X-Amz-Date parameter is expired (15 minute expiration)" in str(exc)


@pytest.mark.parametrize("expires", [0, 900])
def test_x_amz_expires_bounds_are_accepted(boto_token: TokenMaker, expires: int) -> None:
    token = boto_token("my-cluster", "us-west-2", STATIC, expires=expires)
    assert f"X-Amz-Expires={expires}&" in to_url(token)
    assert verifier_at(T0 + 60, STATIC).verify(token).user_id == STATIC.user_id


def test_x_amz_expires_901_is_rejected(boto_token: TokenMaker) -> None:
    token = boto_token("my-cluster", "us-west-2", STATIC, expires=901)
    assert str(rejection(verifier_at(T0 + 60, STATIC), token)) == (
        "input token was not properly formatted: "
        "invalid X-Amz-Expires parameter in pre-signed URL: 901"
    )


def test_x_amz_expires_missing_is_rejected(boto_token: TokenMaker) -> None:
    url = to_url(boto_token("my-cluster", "us-west-2", STATIC))
    assert "&X-Amz-Expires=60" in url
    token = to_token(url.replace("&X-Amz-Expires=60", ""))
    assert str(rejection(verifier_at(T0 + 60, STATIC), token)).endswith(
        "invalid X-Amz-Expires parameter in pre-signed URL: 0"
    )


def test_base64_padding_is_rejected(boto_token: TokenMaker) -> None:
    url = to_url(boto_token("my-cluster", "us-west-2", STATIC))
    # An empty trailing query segment changes neither the parse nor the signature.
    url = next(u for u in (url, url + "&") if len(u) % 3)
    verifier = verifier_at(T0 + 60, STATIC)
    unpadded = to_token(url)
    assert verifier.verify(unpadded).user_id == STATIC.user_id
    padded = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode()
    assert padded.endswith("=")
    assert str(rejection(verifier, padded)) == (
        "input token was not properly formatted: "
        f"illegal base64 data at input byte {padded.index('=') - len('k8s-aws-v1.')}"
    )


def test_token_size_limit(boto_token: TokenMaker) -> None:
    huge = AwsPrincipal(
        access_key_id=ASSUMED.access_key_id,
        secret_access_key=ASSUMED.secret_access_key,
        arn=ASSUMED.arn,
        account=ACCOUNT,
        user_id=ASSUMED.user_id,
        session_token="Q" * 3000,
    )
    token = boto_token("my-cluster", "us-west-2", huge)
    assert len(token) > 4096
    verifier = verifier_at(T0 + 60, huge)
    assert str(rejection(verifier, token)) == (
        "input token was not properly formatted: token is too large"
    )
    assert "too large" in str(rejection(verifier, "k8s-aws-v1." + "A" * (4097 - 11)))
    # Exactly 4096 bytes passes V1 (and fails later).
    assert "too large" not in str(rejection(verifier, "k8s-aws-v1." + "A" * (4096 - 11)))


# == protocol.md 2.6 A: TestVerifyTokenPreSTSValidations ======================================


def _now_str() -> str:
    return amz_date(time.time())


PRE_STS_CASES: list[tuple[str, Callable[[], str], str]] = [
    ("1-too-large", lambda: "\x00" * 4097, "token is too large"),
    ("2-prefix", lambda: "k8s-aws-v2.asdfasdfa", 'token is missing expected "k8s-aws-v1." prefix'),
    ("3-base64", lambda: "k8s-aws-v1.decodingerror", "illegal base64 data"),
    ("4-url-parse", lambda: to_token(":ab:cd.af:/asda"), "missing protocol scheme"),
    ("5-scheme", lambda: to_token("http://"), "unexpected scheme"),
    (
        "6-host",
        lambda: to_token("https://google.com"),
        "input token was not properly formatted: could not parse region for pre-signed URL "
        "google.com, invalid host format: google.com",
    ),
    (
        "8-path",
        lambda: to_token("https://sts.amazonaws.com/abc"),
        "unexpected path in pre-signed URL",
    ),
    (
        "9-whitelist",
        lambda: to_token("https://sts.amazonaws.com/?NoInWhiteList=abc"),
        "non-whitelisted query parameter",
    ),
    (
        "10-multi",
        lambda: to_token("https://sts.amazonaws.com/?action=get&action=post"),
        "query parameter with multiple values not supported",
    ),
    (
        "11-action",
        lambda: to_token("https://sts.amazonaws.com/?action=NotGetCallerIdenity"),
        "unexpected action parameter in pre-signed URL",
    ),
    (
        "12-signed-headers",
        lambda: to_token(
            "https://sts.amazonaws.com/?action=GetCallerIdentity"
            "&x-amz-signedheaders=abc%3bx-k8s-aws-i%3bdef"
        ),
        "client did not sign the x-k8s-aws-id header in the pre-signed URL",
    ),
    (
        "13-expires",
        lambda: to_token(
            "https://sts.amazonaws.com/?action=GetCallerIdentity&x-amz-signedheaders=x-k8s-aws-id"
            f"&x-amz-date={_now_str()}&x-amz-expires=9999999"
        ),
        "invalid X-Amz-Expires parameter in pre-signed URL",
    ),
    (
        "14-date-format",
        lambda: to_token(
            "https://sts.amazonaws.com/?action=GetCallerIdentity&x-amz-signedheaders=x-k8s-aws-id"
            "&x-amz-date=xxxxxxx&x-amz-expires=60"
        ),
        "error parsing X-Amz-Date parameter",
    ),
    (
        "15-date-expired",
        lambda: to_token(
            "https://sts.amazonaws.com/?action=GetCallerIdentity&x-amz-signedheaders=x-k8s-aws-id"
            "&x-amz-date=19900422T010203Z&x-amz-expires=60"
        ),
        "X-Amz-Date parameter is expired",
    ),
    (
        "16-malformed-query",
        lambda: to_token(
            "https://sts.sa-east-1.amazonaws.com/?action=GetCallerIdentity"
            f"&x-amz-signedheaders=x-k8s-aws-id&x-amz-date={_now_str()}&x-amz-expires=60%gh"
        ),
        "input token was not properly formatted: malformed query parameter",
    ),
    (
        "22-duplicate",
        lambda: to_token(
            "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
            "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=ASIAAAAAAAAAAAAAAAAA%2F20220601%2Fus-west-2%2Fsts%2Faws4_request"
            f"&X-Amz-Date={_now_str()}&X-Amz-Expires=900&X-Amz-Security-Token=XXXXXXXXXXXXX"
            "&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&x-amz-credential=eve"
            "&X-Amz-Signature=999999999999999999"
        ),
        "input token was not properly formatted: duplicate query parameter found:",
    ),
]


@pytest.mark.parametrize(
    ("make_token", "expected"),
    [pytest.param(make, expected, id=name) for name, make, expected in PRE_STS_CASES],
)
def test_pre_sts_validation(make_token: Callable[[], str], expected: str) -> None:
    exc = rejection(EksTokenVerifier("", "aws", ""), make_token())
    assert exc.kind == "format"
    assert expected in str(exc)
    assert str(exc).startswith("input token was not properly formatted: ")


def test_pre_sts_validation_7_path_in_aws_cn() -> None:
    token = to_token("https://sts.cn-north-1.amazonaws.com.cn/abc")
    assert "unexpected path in pre-signed URL" in str(
        rejection(EksTokenVerifier("", "aws-cn", ""), token)
    )


def test_pre_sts_exact_messages() -> None:
    verifier = EksTokenVerifier("", "aws", "")
    prefix = "input token was not properly formatted: "
    cases = {
        "k8s-aws-v1.decodingerror": "illegal base64 data at input byte 12",
        to_token(":ab:cd.af:/asda"): 'parse ":ab:cd.af:/asda": missing protocol scheme',
        to_token("http://"): 'unexpected scheme "http" in pre-signed URL',
        to_token(
            "https://sts.amazonaws.com/?action=GetCallerIdentity&x-amz-signedheaders="
            "x-k8s-aws-id&x-amz-date=xxxxxxx&x-amz-expires=60"
        ): (
            "error parsing X-Amz-Date parameter xxxxxxx into format 20060102T150405Z: "
            'parsing time "xxxxxxx" as "20060102T150405Z": cannot parse "xxxxxxx" as "2006"'
        ),
        to_token(
            "https://sts.amazonaws.com/?action=GetCallerIdentity&x-amz-signedheaders="
            "x-k8s-aws-id&x-amz-expires=60"
        ): ("X-Amz-Date parameter must be present in pre-signed URL"),
        to_token("https://sts.us-west-2.amazonaws.com:443/"): (
            'unexpected hostname "sts.us-west-2.amazonaws.com:443" in pre-signed URL'
        ),
        to_token("https://sts.us_west_2.amazonaws.com/"): (
            "invalid region identifier format provided: us_west_2"
        ),
        to_token("https://sts.amazonaws.com"): "unexpected path in pre-signed URL",
        to_token("https:sts.amazonaws.com/"): (
            "could not parse region for pre-signed URL , host is empty"
        ),
    }
    for token, message in cases.items():
        assert str(rejection(verifier, token)) == prefix + message


@pytest.mark.parametrize(
    "region", ["us-east-2", "ap-northeast-2", "ca-central-1", "eu-west-1", "sa-east-1"]
)
def test_pre_sts_validation_success_cases_reach_sts(region: str) -> None:
    """2.6 A 17-21: these pass every local rule; only the (unsigned) STS call fails."""
    token = to_token(
        f"https://sts.{region}.amazonaws.com/?action=GetCallerIdentity"
        f"&x-amz-signedheaders=x-k8s-aws-id&x-amz-date={_now_str()}&x-amz-expires=60"
    )
    exc = rejection(EksTokenVerifier("", "aws", ""), token)
    assert exc.kind == "sts"
    assert exc.aws_code == "MissingAuthenticationToken"
    assert f"on {region} endpoint" in str(exc)


# == protocol.md 2.6 D: STS host verification =================================================

VALID_HOSTS = [
    ("aws", "sts.amazonaws.com", ""),
    ("aws-cn", "sts.cn-northwest-1.amazonaws.com.cn", ""),
    ("aws-cn", "sts.cn-north-1.amazonaws.com.cn", ""),
    ("aws-cn", "sts.not-a-region2.amazonaws.com.cn", "not-a-region2"),
    ("aws", "sts-fips.us-west-2.amazonaws.com", ""),
    ("aws", "sts-fips.us-east-1.amazonaws.com", ""),
    *[
        ("aws", f"sts.{r}.amazonaws.com", "")
        for r in (
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ap-south-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ca-central-1",
            "eu-central-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-north-1",
        )
    ],
    ("aws", "sts.default-region.amazonaws.com", "default-region"),
    ("aws-iso", "sts.us-iso-east-1.c2s.ic.gov", ""),
    ("aws-us-gov", "sts.us-gov-east-1.amazonaws.com", ""),
    ("aws-cn", "sts.us-isob-east-1.amazonaws.com.cn", "us-isob-east-1"),
    ("aws", "sts.us-west-2.api.aws", ""),
    ("aws-cn", "sts.cn-north-1.api.amazonwebservices.com.cn", ""),
    ("aws", "sts.not-a-region.amazonaws.com", ""),
    ("aws", "sts.not-a-region.amazonaws.com", "not-a-region"),
    ("aws", "sts.not-a-region.amazonaws.com", "us-west-2"),
    ("aws-cn", "sts.not-a-region4.amazonaws.com.cn", "not-a-region4"),
]
INVALID_HOSTS = [
    *[
        (p, "sts.amazonaws.com", "")
        for p in (
            "aws-cn",
            "aws-us-gov",
            "aws-iso",
            "aws-iso-b",
            "aws-iso-e",
            "aws-iso-f",
            "aws-not-a-partition",
        )
    ],
    ("aws-cn", "sts.us-iso-east-1.c2s.ic.gov", ""),
    ("aws-cn", "sts.not-a-region1.amazonaws.com.cn", ""),
    ("aws", "sts.amazonaws.com.cn", ""),
    ("aws", "website.amazonaws.com", ""),
    ("aws-iso", "sts.cn-north-1.amazonaws.com.cn", ""),
    ("aws-iso-b", "sts.cn-north-1.amazonaws.com.cn", ""),
    ("aws-cn", "sts-fips.us-east-1.amazonaws.com", ""),
    ("aws-cn", "sts.us-isob-east-1.amazonaws.com.cn", ""),
    ("aws-iso-b", "sts.us-isob-east-1.amazonaws.com.cn", ""),
    ("aws-iso-b", "sts.us-isob-east-1.amazonaws.com.cn", "us-isob-east-1"),
    ("aws", "sts.cn-north-1.api.amazonwebservices.com.cn", ""),
    ("aws-cn", "sts.not-a-region3.amazonaws.com.cn", ""),
    ("aws-cn", "sts.not-a-region5.amazonaws.com.cn", "us-west-2"),
    ("aws-cn", "sts.us-west-2.amazonaws.com.cn", ""),
    ("aws", "sts.us-west-2.amazonaws.com.cn", ""),
    ("aws", "sts.us-west-2.amazonaws.com.cn", "us-west-2"),
    ("aws-cn", "sts.not-a-region.amazonaws.com", "not-a-region"),
    # Not from token_test.go: ports, userinfo, too few labels.
    ("aws", "sts.us-west-2.amazonaws.com:443", ""),
    ("aws", "sts.amazonaws.com:443", ""),
    ("aws", "user@sts.us-west-2.amazonaws.com.evil", ""),
    ("aws", "sts.wrongformat", ""),
    ("aws", "sts.evil.com", "evil"),
]


def _host_token(host: str) -> str:
    return to_token(
        f"https://{host}/?action=GetCallerIdentity&x-amz-signedheaders=x-k8s-aws-id"
        f"&x-amz-date={_now_str()}&x-amz-expires=60"
    )


@pytest.mark.parametrize(("partition", "host", "region"), VALID_HOSTS)
def test_valid_sts_host(partition: str, host: str, region: str) -> None:
    verifier = EksTokenVerifier("", partition, region)
    assert rejection(verifier, _host_token(host)).kind == "sts"  # got past V6-V17
    assert host in verifier.cached_hosts


@pytest.mark.parametrize(("partition", "host", "region"), INVALID_HOSTS)
def test_invalid_sts_host(partition: str, host: str, region: str) -> None:
    verifier = EksTokenVerifier("", partition, region)
    exc = rejection(verifier, _host_token(host))
    assert exc.kind != "sts"
    assert verifier.cached_hosts == frozenset()


# == protocol.md 2.6 B/C: identity mapping (V22, V23) =========================================


@pytest.mark.parametrize(
    ("arn", "user_id", "expected"),
    [
        (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "")),
        (
            f"arn:aws:iam::{ACCOUNT}:user/Alice",
            "AIDAIYCCCMMMMMMMMGGDA",
            (f"arn:aws:iam::{ACCOUNT}:user/Alice", "AIDAIYCCCMMMMMMMMGGDA", ""),
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:federated-user/Alice",
            f"{ACCOUNT}:Alice",
            (f"arn:aws:sts::{ACCOUNT}:federated-user/Alice", f"{ACCOUNT}:Alice", ""),
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:role/Alice",
            "Alice:session-name",
            (f"arn:aws:iam::{ACCOUNT}:role/Alice", "Alice", "session-name"),
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/Alice/extra",
            "Alice:session-name",
            (f"arn:aws:iam::{ACCOUNT}:role/Alice", "Alice", "session-name"),
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/path/to/Alice/extra",
            "AROAX:extra",
            (f"arn:aws:iam::{ACCOUNT}:role/path/to/Alice", "AROAX", "extra"),
        ),
        ("arn", "userid", "arn 'arn' is invalid: 'arn: invalid prefix'"),
        ("arn:aws:iam", "userid", "arn 'arn:aws:iam' is invalid: 'arn: not enough sections'"),
        ("arn:aws-xx:iam::1:user/A", "A", "does not have a recognized partition"),
        (
            "arn:aws:sts::1:assumed-role/A",
            "A:b",
            "assumed-role arn 'arn:aws:sts::1:assumed-role/A'",
        ),
        ("arn:aws:iam::1:group/A", "A", "unrecognized resource group/A for service iam"),
        ("arn:aws:s3:::bucket", "A", "service s3 in arn arn:aws:s3:::bucket is not a valid"),
        (f"arn:aws:iam::{ACCOUNT}:role/Alice", "AROAZZCCCNNNNNNNNFFFA", "malformed UserID"),
        (f"arn:aws:iam::{ACCOUNT}:role/Alice", "not:vailid:userid", 'malformed UserID "not:vai'),
    ],
)
def test_identity_mapping(arn: str, user_id: str, expected: tuple[str, str, str] | str) -> None:
    principal = AwsPrincipal("AKIAVVVVVVVVVVVAGAVA", "secret", arn, ACCOUNT, user_id)
    verifier = verifier_at(T0, principal)
    token = presign_token("my-cluster", principal, "us-east-1", now=T0)
    if isinstance(expected, str):
        exc = rejection(verifier, token)
        assert exc.kind == "sts"
        assert str(exc).startswith("sts getCallerIdentity failed: ")
        assert expected in str(exc)
        return
    identity = verifier.verify(token)
    assert (identity.canonical_arn, identity.user_id, identity.session_name) == expected
    assert identity.arn == arn
    assert identity.access_key_id == "AKIAVVVVVVVVVVVAGAVA"


# == end to end through FakeAPIServer =========================================================


def test_fake_apiserver_authenticates_eks_tokens(boto_token: TokenMaker) -> None:
    verifier = EksTokenVerifier("my-cluster", principals=[ASSUMED])
    good = boto_token("my-cluster", "us-west-2", ASSUMED, when=None)
    foreign = boto_token("other-cluster", "us-west-2", ASSUMED, when=None)
    with FakeAPIServer(None, tokens=["static-token-still-works"]) as server:
        server.add_authenticator(verifier.authenticator())

        def get(token: str) -> requests.Response:
            return requests.get(
                f"{server.url}/api/v1/namespaces",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )

        ok = get(good)
        assert ok.status_code == 200
        assert ok.json()["kind"] == "NamespaceList"
        assert get("static-token-still-works").status_code == 200
        assert server.rejections == []

        denied = get(foreign)
        assert denied.status_code == 401
        assert denied.json()["reason"] == "Unauthorized"
        assert len(server.rejections) == 1
        reason = server.rejections[0]
        assert reason.startswith("sts getCallerIdentity failed: error from AWS (expected 200")
        assert "signature mismatch" in reason
        assert foreign not in reason

        assert get("k8s-aws-v2.nope").status_code == 401
        assert "k8s-aws-v1." in server.rejections[-1]

        identities = [(r.status, r.identity) for r in server.requests]
        assert identities == [
            (200, "aws:arn:aws:iam::123456789012:role/k8s-admin"),
            (200, "token:static..."),
            (401, None),
            (401, None),
        ]
        server.reset()
        assert server.rejections == []


def test_fake_apiserver_authenticator_returning_none_is_recorded() -> None:
    def never(token: str) -> str | None:
        return None

    with FakeAPIServer(None) as server:
        server.add_authenticator(never)
        response = requests.get(
            f"{server.url}/version", headers={"Authorization": "Bearer abc123"}, timeout=10
        )
        assert response.status_code == 401
        assert server.rejections == [f"{never.__qualname__} returned None"]
        # Without a bearer token the authenticators are not consulted.
        assert requests.get(f"{server.url}/version", timeout=10).status_code == 401
        assert len(server.rejections) == 1
