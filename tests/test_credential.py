"""Credential: freshness with the capped refresh margin, serialisation, validation, repr."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credplugin import fastjson
from credplugin.credential import Credential

ISSUED = 1_700_000_000.0
TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIkeymaterial\n-----END EC PRIVATE KEY-----\n"
REFRESH_SECRET = "1//0refresh-token-secret"


def token_with_lifetime(lifetime: float) -> Credential:
    return Credential(TOKEN, issued_at=ISSUED, expires_at=ISSUED + lifetime)


# -- is_fresh ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "effective_margin"),
    [
        pytest.param(3600.0, 300.0, id="1h token: full 300 s margin"),
        pytest.param(600.0, 300.0, id="10 min token: half the lifetime is exactly 300 s"),
        pytest.param(240.0, 120.0, id="4 min token: margin capped at half, 120 s"),
    ],
)
def test_is_fresh_until_expiry_minus_margin_capped_at_half_the_lifetime(
    lifetime: float, effective_margin: float
) -> None:
    cred = token_with_lifetime(lifetime)
    expires = ISSUED + lifetime
    boundary = expires - effective_margin
    assert cred.is_fresh(ISSUED, 300.0)
    assert cred.is_fresh(boundary - 0.5, 300.0)
    assert not cred.is_fresh(boundary, 300.0)
    assert not cred.is_fresh(boundary + 0.5, 300.0)
    assert not cred.is_fresh(expires, 300.0)
    assert not cred.is_fresh(expires + 3600, 300.0)


def test_a_smaller_margin_than_half_the_lifetime_is_used_as_given() -> None:
    cred = token_with_lifetime(3600.0)
    expires = ISSUED + 3600.0
    assert cred.is_fresh(expires - 10.5, 10.0)
    assert not cred.is_fresh(expires - 10.0, 10.0)


def test_without_issued_at_the_margin_is_not_capped() -> None:
    # Lifetime unknown: a 4-minute token with a 300 s margin is never fresh.
    cred = Credential(TOKEN, expires_at=ISSUED + 240.0)
    assert not cred.is_fresh(ISSUED, 300.0)
    assert cred.is_fresh(ISSUED, 100.0)
    assert not cred.is_fresh(ISSUED + 140.0, 100.0)


def test_zero_margin_is_fresh_until_the_expiry_instant() -> None:
    cred = token_with_lifetime(60.0)
    assert cred.is_fresh(ISSUED + 59.9, 0.0)
    assert not cred.is_fresh(ISSUED + 60.0, 0.0)


@pytest.mark.parametrize("now", [0.0, ISSUED, ISSUED * 10])
@pytest.mark.parametrize("margin", [0.0, 300.0, 1e9])
def test_a_credential_without_expiry_is_always_fresh(now: float, margin: float) -> None:
    cred = Credential(TOKEN)
    assert cred.is_fresh(now, margin)
    assert not cred.is_expired(now)
    assert cred.seconds_left(now) is None


def test_is_expired_from_the_expiry_instant_on() -> None:
    cred = token_with_lifetime(100.0)
    assert not cred.is_expired(ISSUED + 99.9)
    assert cred.is_expired(ISSUED + 100.0)
    assert cred.seconds_left(ISSUED + 40.0) == 60.0


def test_with_issued_sets_issued_at_only_when_missing() -> None:
    bare = Credential(TOKEN, expires_at=ISSUED + 600, identity="me", refresh={"r": 1})
    stamped = bare.with_issued(ISSUED)
    assert stamped.issued_at == ISSUED
    assert stamped.token == TOKEN and stamped.expires_at == ISSUED + 600
    assert stamped.identity == "me" and dict(stamped.refresh) == {"r": 1}
    assert bare.issued_at is None
    already = token_with_lifetime(600.0)
    assert already.with_issued(ISSUED + 5).issued_at == ISSUED


# -- to_dict / from_dict -----------------------------------------------------------------------


def full_token_credential() -> Credential:
    return Credential(
        TOKEN,
        expires_at=ISSUED + 3600.5,
        issued_at=ISSUED,
        identity="arn:aws:sts::123456789012:assumed-role/dev/me",
        refresh={"refresh_token": REFRESH_SECRET, "nested": {"list": [1, 2.5, None, True]}},
    )


def cert_credential() -> Credential:
    return Credential(client_certificate_data=CERT, client_key_data=KEY, expires_at=ISSUED + 86400)


@pytest.mark.parametrize(
    "cred",
    [
        pytest.param(full_token_credential(), id="token with everything"),
        pytest.param(Credential("t"), id="bare token"),
        pytest.param(cert_credential(), id="client certificate"),
    ],
)
def test_to_dict_from_dict_round_trip(cred: Credential) -> None:
    data = cred.to_dict()
    again = Credential.from_dict(data)
    assert again == cred
    assert again.to_dict() == data
    # Through JSON, as the cache stores it.
    assert Credential.from_dict(fastjson.loads(fastjson.dumps(data))) == cred


def test_to_dict_omits_absent_fields_and_uses_camel_case() -> None:
    assert Credential("t").to_dict() == {"token": "t"}
    assert cert_credential().to_dict() == {
        "clientCertificateData": CERT,
        "clientKeyData": KEY,
        "expiresAt": ISSUED + 86400,
    }


def test_from_dict_turns_integer_times_into_floats() -> None:
    cred = Credential.from_dict({"token": "t", "expiresAt": 2_000_000_000, "issuedAt": 1})
    assert cred.expires_at == 2_000_000_000.0 and isinstance(cred.expires_at, float)
    assert cred.issued_at == 1.0 and isinstance(cred.issued_at, float)


@given(
    token=st.text(min_size=1),
    expires=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    issued=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    identity=st.none() | st.text(),
    refresh=st.dictionaries(st.text(), st.none() | st.integers() | st.text()),
)
def test_round_trip_holds_for_arbitrary_field_values(
    token: str,
    expires: float | None,
    issued: float | None,
    identity: str | None,
    refresh: dict[str, Any],
) -> None:
    cred = Credential(
        token, expires_at=expires, issued_at=issued, identity=identity, refresh=refresh
    )
    again = Credential.from_dict(fastjson.loads(fastjson.dumps(cred.to_dict())))
    assert again == cred
    assert again.token == token and again.expires_at == expires and again.issued_at == issued
    assert again.identity == identity and dict(again.refresh) == refresh


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"token": "t", "expiresAt": True}, id="bool expiresAt"),
        pytest.param({"token": "t", "expiresAt": "2030-01-01T00:00:00Z"}, id="string expiresAt"),
        pytest.param({"token": "t", "issuedAt": False}, id="bool issuedAt"),
        pytest.param({"token": "t", "issuedAt": [1]}, id="list issuedAt"),
        pytest.param({"token": ["t"]}, id="list token"),
        pytest.param({"token": 12345}, id="int token"),
        pytest.param({"token": True}, id="bool token"),
        pytest.param({"token": "t", "refresh": ["r"]}, id="list refresh"),
        pytest.param({"token": "t", "refresh": "r"}, id="string refresh"),
        pytest.param({"token": "t", "refresh": None}, id="null refresh"),
        pytest.param({"token": "t", "identity": 7}, id="int identity"),
        pytest.param({"clientCertificateData": 1, "clientKeyData": KEY}, id="int certificate"),
        pytest.param({"clientCertificateData": CERT, "clientKeyData": {}}, id="dict key"),
        pytest.param({}, id="nothing at all"),
        pytest.param({"token": ""}, id="empty token"),
        pytest.param({"clientCertificateData": CERT}, id="certificate without key"),
    ],
)
def test_from_dict_rejects_malformed_data_with_value_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Credential.from_dict(data)


@pytest.mark.parametrize("field", ["expiresAt", "issuedAt"])
def test_from_dict_rejects_an_integer_time_beyond_float_range_with_value_error(
    field: str,
) -> None:
    with pytest.raises(ValueError):
        Credential.from_dict({"token": "t", field: 10**400})


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"token": None}, id="None token"),
        pytest.param({"token": ""}, id="empty token"),
        pytest.param({"client_certificate_data": CERT}, id="certificate without key"),
        pytest.param({"client_key_data": KEY}, id="key without certificate"),
        pytest.param(
            {"token": "t", "client_certificate_data": CERT}, id="token plus certificate, no key"
        ),
        pytest.param({"token": "t", "client_key_data": KEY}, id="token plus key, no certificate"),
        pytest.param(
            {"client_certificate_data": CERT, "client_key_data": ""}, id="certificate, empty key"
        ),
    ],
)
def test_constructor_rejects_a_credential_without_token_or_complete_pair(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):
        Credential(**kwargs)


def test_constructor_accepts_token_or_pair_or_both() -> None:
    assert Credential("t").token == "t"
    pair = Credential(client_certificate_data=CERT, client_key_data=KEY)
    assert pair.token is None and pair.client_key_data == KEY
    both = Credential("t", client_certificate_data=CERT, client_key_data=KEY)
    assert both.token == "t" and both.client_certificate_data == CERT


def test_refresh_defaults_to_a_fresh_empty_mapping() -> None:
    first, second = Credential("a"), Credential("b")
    assert dict(first.refresh) == {} and dict(second.refresh) == {}
    assert first.refresh is not second.refresh


def test_equality_compares_every_field_and_credentials_are_unhashable() -> None:
    assert full_token_credential() == full_token_credential()
    assert Credential("a") != Credential("b")
    assert Credential("a", expires_at=1.0) != Credential("a", expires_at=2.0)
    assert Credential("a", refresh={"x": 1}) != Credential("a", refresh={"x": 2})
    assert Credential("a") != "a"
    with pytest.raises(TypeError):
        hash(Credential("a"))


# -- repr --------------------------------------------------------------------------------------


def test_repr_never_contains_the_token_or_refresh_material() -> None:
    text = repr(full_token_credential())
    assert TOKEN not in text
    assert "c2VjcmV0LXBheWxvYWQ" not in text  # not even a piece of it
    assert REFRESH_SECRET not in text
    assert text.startswith("Credential(token")
    assert "assumed-role/dev/me" in text  # identity is not secret, and helps a person
    assert str(ISSUED + 3600.5) in text


def test_repr_never_contains_the_client_key_or_certificate() -> None:
    text = repr(cert_credential())
    assert KEY not in text and "keymaterial" not in text
    assert CERT not in text and "MIIBcert" not in text
    assert "client certificate" in text


@given(st.text(min_size=1))
def test_repr_never_contains_an_arbitrary_token(token: str) -> None:
    secret = "S3CR3T" + token
    assert secret not in repr(Credential(secret, identity="someone"))
    assert secret not in str(Credential(secret))
