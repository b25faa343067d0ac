"""The hostile identity provider stand-in misbehaves in exactly the ways it claims to, as seen
by real clients (requests, urllib, a raw socket), and is a working issuer when told nothing:
tests that prove the plugin survives it mean something only if it really attacks."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import resource
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.standins.hostile import (
    ALL_ENDPOINTS,
    BAD_NUMBERS,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTROL_SEQUENCES,
    DEVICE_GRANT,
    HOSTILE_TEXT,
    MIB,
    OMIT,
    BadNumbers,
    Canned,
    ControlChars,
    DeepNesting,
    Endpoint,
    Framing,
    HostileIdP,
    HugeBody,
    Nesting,
    Number,
    Raw,
    Redirect,
    RedirectTarget,
    SlowLoris,
    Stall,
)
from tests.standins.tls import TLSMaterial

# One key for every stand-in here: making a 2048-bit RSA key costs ~70 ms.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def idp() -> Iterator[HostileIdP]:
    with HostileIdP(key=KEY) as server:
        yield server


@pytest.fixture
def idps(tls: TLSMaterial) -> Iterator[HostileIdP]:
    with HostileIdP(tls, key=KEY) as server:
        yield server


@pytest.fixture
def http(tls: TLSMaterial) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment
        session.verify = str(tls.ca_path)
        yield session


def urlopen(request: urllib.request.Request | str, timeout: float = 5) -> Any:
    """urllib without any proxy from the environment."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(request, timeout=timeout)


def client_credentials(http: requests.Session, idp: HostileIdP, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return http.post(
        idp.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        **kwargs,
    )


def public_key(http: requests.Session, idp: HostileIdP, kid: str) -> Any:
    keyset = jwt.PyJWKSet.from_dict(http.get(idp.jwks_uri, timeout=5).json())
    return keyset[kid].key


def verify(http: requests.Session, idp: HostileIdP, token: str) -> dict[str, Any]:
    """`token` checked as the plugin checks an ID token: RS256 under the JWKS key its kid names."""
    kid = jwt.get_unverified_header(token)["kid"]
    claims: dict[str, Any] = jwt.decode(
        token,
        public_key(http, idp, kid),
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=idp.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return claims


def signed_payload(http: requests.Session, idp: HostileIdP, token: str) -> bytes:
    """The payload of `token` after checking only its signature against the JWKS."""
    kid = jwt.get_unverified_header(token)["kid"]
    payload: bytes = jwt.api_jws.decode_complete(
        token, public_key(http, idp, kid), algorithms=["RS256"]
    )["payload"]
    return payload


def raw_exchange(idp: HostileIdP, request: bytes) -> socket.socket:
    """A plain-http connection to the main listener that has sent `request`."""
    sock = socket.create_connection(("127.0.0.1", idp.port), timeout=5)
    sock.sendall(request)
    return sock


GET_DISCOVERY = b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


# -- loopback only, fast stop ------------------------------------------------------------------


def test_every_listener_is_on_loopback_and_stop_ends_every_connection_at_once(
    http: requests.Session,
) -> None:
    idp = HostileIdP(key=KEY).start()
    try:
        assert [host for host, _ in idp.addresses()] == ["127.0.0.1"] * 3
        assert len({idp.port, idp.other.port, idp.plain.port}) == 3
        idp.misbehave(Endpoint.DISCOVERY, SlowLoris(interval=0.05))
        idp.misbehave(Endpoint.JWKS, Stall())
        idp.misbehave(Endpoint.TOKEN, HugeBody())
        drip = raw_exchange(idp, GET_DISCOVERY)
        stall = raw_exchange(idp, b"GET /jwks HTTP/1.1\r\nHost: x\r\n\r\n")
        huge = client_credentials(http, idp, stream=True)  # 1 GiB that nobody reads
        assert drip.recv(100).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 5
        while len(idp.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)

        started = time.monotonic()
        idp.stop()
        assert time.monotonic() - started < 2  # typically ~0.05 s
        for sock in (drip, stall):
            sock.settimeout(2)
            while sock.recv(65536):  # what was in flight, then the end
                pass
            sock.close()
        assert idp.live_connections() == 0
        huge.close()
    finally:
        idp.stop()  # again: stopping twice is harmless


# -- well-behaved ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_well_behaved_discovery_names_itself_and_publishes_its_key(
    scheme: str, tls: TLSMaterial, http: requests.Session
) -> None:
    with HostileIdP(tls if scheme == "https" else None, key=KEY) as idp:
        assert idp.url.startswith(f"{scheme}://127.0.0.1:")
        doc = http.get(idp.discovery_url, timeout=5).json()
        assert doc["issuer"] == idp.url == idp.issuer
        assert doc["token_endpoint"] == idp.token_endpoint
        assert doc["jwks_uri"] == idp.jwks_uri
        assert doc["device_authorization_endpoint"] == idp.device_authorization_endpoint
        assert doc["authorization_endpoint"] == idp.authorization_endpoint
        keys = http.get(idp.jwks_uri, timeout=5).json()["keys"]
        assert [k["kid"] for k in keys] == [idp.kid]
        assert keys[0]["alg"] == "RS256" and keys[0]["kty"] == "RSA"


def test_client_credentials_tokens_verify_against_the_published_jwks(
    idps: HostileIdP, http: requests.Session
) -> None:
    answer = client_credentials(http, idps)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    claims = verify(http, idps, tokens["id_token"])
    assert claims["sub"] == CLIENT_ID
    assert 3590 <= claims["exp"] - time.time() <= 3600
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"
    assert verify(http, idps, tokens["access_token"])["client_id"] == CLIENT_ID
    assert "refresh_token" not in tokens

    # client_secret_post works too; a wrong or missing secret does not.
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
    good = http.post(idps.token_endpoint, data={**form, "client_secret": CLIENT_SECRET}, timeout=5)
    assert good.status_code == 200
    wrong = http.post(idps.token_endpoint, data={**form, "client_secret": "nope"}, timeout=5)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    missing = http.post(idps.token_endpoint, data=form, timeout=5)
    assert (missing.status_code, missing.json()["error"]) == (401, "invalid_client")


def test_device_code_then_refresh_with_rotation(idp: HostileIdP, http: requests.Session) -> None:
    idp.device_pending_polls = 1
    flow = http.post(
        idp.device_authorization_endpoint,
        data={"client_id": CLIENT_ID, "scope": "openid email"},
        timeout=5,
    ).json()
    assert flow["verification_uri"].startswith(idp.url)
    assert flow["interval"] == 1 and flow["expires_in"] == 600

    def poll() -> requests.Response:
        form = {"grant_type": DEVICE_GRANT, "device_code": flow["device_code"]}
        return http.post(idp.token_endpoint, data=form, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)

    assert poll().json()["error"] == "authorization_pending"
    tokens = poll().json()
    assert verify(http, idp, tokens["id_token"])["email"] == idp.user
    assert poll().json()["error"] == "invalid_grant"  # redeemed once only

    def refresh(token: str) -> requests.Response:
        form = {"grant_type": "refresh_token", "refresh_token": token}
        return http.post(idp.token_endpoint, data=form, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)

    renewed = refresh(tokens["refresh_token"])
    assert renewed.status_code == 200
    assert verify(http, idp, renewed.json()["id_token"])["sub"] == idp.user
    assert renewed.json()["refresh_token"] != tokens["refresh_token"]
    assert refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"  # rotated away
    seeded = idp.issue_refresh_token()
    assert refresh(seeded).status_code == 200


def test_device_codes_wait_for_approval_when_told(idp: HostileIdP, http: requests.Session) -> None:
    idp.device_auto_approve = False
    codes = []
    for _ in range(2):
        flow = http.post(
            idp.device_authorization_endpoint, data={"client_id": CLIENT_ID}, timeout=5
        ).json()
        codes.append(flow)

    def poll(flow: dict[str, Any]) -> dict[str, Any]:
        form = {"grant_type": DEVICE_GRANT, "device_code": flow["device_code"]}
        doc: dict[str, Any] = http.post(
            idp.token_endpoint, data={**form, "client_id": CLIENT_ID}, timeout=5
        ).json()
        return doc

    assert poll(codes[0])["error"] == "authorization_pending"
    idp.approve(codes[0]["user_code"])
    idp.deny(codes[1]["user_code"])
    assert "id_token" in poll(codes[0])
    assert poll(codes[1])["error"] == "access_denied"


def test_authorization_code_with_pkce_and_nonce(idp: HostileIdP, http: requests.Session) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect_uri = "http://127.0.0.1:9/callback"
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "state": "st",
        "nonce": "n-1",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    answer = http.get(idp.authorization_endpoint, params=query, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["state"] == "st"
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": "wrong" * 10,
        "client_id": CLIENT_ID,
    }
    assert http.post(idp.token_endpoint, data=form, timeout=5).json()["error"] == "invalid_grant"

    answer = http.get(idp.authorization_endpoint, params=query, allow_redirects=False, timeout=5)
    form["code"] = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    form["code_verifier"] = verifier
    tokens = http.post(idp.token_endpoint, data=form, timeout=5).json()
    assert verify(http, idp, tokens["id_token"])["nonce"] == "n-1"
    assert "refresh_token" in tokens

    refused = http.get(
        idp.authorization_endpoint,
        params={**query, "redirect_uri": "https://evil.example/cb"},
        allow_redirects=False,
        timeout=5,
    )
    assert refused.status_code == 400


def test_every_request_is_recorded(idp: HostileIdP, http: requests.Session) -> None:
    http.get(idp.discovery_url, timeout=5)
    client_credentials(http, idp)
    http.post(idp.url + "/nowhere?x=1", data={"a": "b"}, timeout=5)
    assert http.get(idp.token_endpoint, timeout=5).status_code == 405

    discovery, token, nowhere, wrong_method = idp.requests
    assert (discovery.method, discovery.path, discovery.endpoint) == (
        "GET",
        "/.well-known/openid-configuration",
        Endpoint.DISCOVERY,
    )
    assert discovery.listener == "main" and discovery.behaviour == "WellBehaved"
    assert token.endpoint is Endpoint.TOKEN and token.form == {"grant_type": "client_credentials"}
    assert token.header("authorization") is not None
    assert token.carries(CLIENT_SECRET)  # from the decoded Basic credentials
    assert not token.carries("something-never-sent")
    assert nowhere.endpoint is None and nowhere.query == {"x": "1"}
    assert nowhere.body == b"a=b"
    assert wrong_method.method == "GET"
    assert idp.requests_to(Endpoint.TOKEN) == [token, wrong_method]


def test_a_behaviour_can_last_for_a_number_of_requests(
    idp: HostileIdP, http: requests.Session
) -> None:
    idp.misbehave(Endpoint.DISCOVERY, Canned(503, b"down", "text/plain"), times=2)
    statuses = [http.get(idp.discovery_url, timeout=5).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r.behaviour for r in idp.requests] == ["Canned", "Canned", "WellBehaved"]
    idp.misbehave(ALL_ENDPOINTS, Canned(418))
    assert http.get(idp.jwks_uri, timeout=5).status_code == 418
    idp.reset()
    assert http.get(idp.jwks_uri, timeout=5).status_code == 200


# -- 1. huge bodies ----------------------------------------------------------------------------


def read_some(response: requests.Response, limit: int) -> int:
    seen = 0
    for chunk in response.iter_content(256 * 1024):
        seen += len(chunk)
        if seen > limit:
            break
    response.close()
    return seen


@pytest.mark.parametrize(
    ("endpoint", "scheme"),
    [(Endpoint.DISCOVERY, "http"), (Endpoint.JWKS, "http"), (Endpoint.TOKEN, "https")],
)
def test_huge_body_is_chunked_without_a_length(
    endpoint: Endpoint, scheme: str, request: pytest.FixtureRequest, http: requests.Session
) -> None:
    idp: HostileIdP = request.getfixturevalue("idps" if scheme == "https" else "idp")
    idp.misbehave(endpoint, HugeBody())
    if endpoint is Endpoint.TOKEN:
        answer = client_credentials(http, idp, stream=True)
    else:
        answer = http.get(idp.url + endpoint.value, stream=True, timeout=5)
    assert answer.status_code == 200
    assert "Content-Length" not in answer.headers
    assert answer.headers["Transfer-Encoding"] == "chunked"
    assert read_some(answer, 10 * MIB) > 10 * MIB


def test_huge_body_with_a_true_length_or_none_at_all(
    idp: HostileIdP, http: requests.Session
) -> None:
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * rss_unit
    idp.misbehave(Endpoint.DISCOVERY, HugeBody(framing=Framing.CONTENT_LENGTH))
    answer = http.get(idp.discovery_url, stream=True, timeout=5)
    assert answer.headers["Content-Length"] == str(1 << 30)
    assert read_some(answer, 16 * MIB) > 16 * MIB
    # Generated as it goes: serving the start of a 1 GiB body did not cost a GiB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * rss_unit - rss_before < 256 * MIB

    idp.misbehave(Endpoint.JWKS, HugeBody(framing=Framing.CLOSE))
    answer = http.get(idp.jwks_uri, stream=True, timeout=5)
    assert "Content-Length" not in answer.headers
    assert "Transfer-Encoding" not in answer.headers
    assert answer.headers["Connection"] == "close"
    assert read_some(answer, 10 * MIB) > 10 * MIB

    # Read to the end, a padded answer is exactly `size` bytes of the real document.
    idp.misbehave(Endpoint.DISCOVERY, HugeBody(3 * MIB, Framing.CONTENT_LENGTH))
    whole = http.get(idp.discovery_url, timeout=5)
    assert len(whole.content) == 3 * MIB
    assert whole.json()["issuer"] == idp.url
    assert len(whole.json()["padding"]) > 3 * MIB - 1000


def test_urllib_reads_a_huge_body_too(idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.DISCOVERY, HugeBody())
    with urlopen(idp.discovery_url) as answer:
        assert answer.headers["Transfer-Encoding"] == "chunked"
        assert len(answer.read(4 * MIB)) == 4 * MIB


# -- 2. slow-loris -----------------------------------------------------------------------------


def drip_read(sock: socket.socket, size: int | None = None) -> tuple[bytes, int, float]:
    """Read `size` bytes (or to the end): (the bytes, how many reads it took, seconds)."""
    started = time.monotonic()
    data, reads = b"", 0
    while size is None or len(data) < size:
        piece = sock.recv(100 if size is None else size - len(data))
        if not piece:
            break
        data, reads = data + piece, reads + 1
    return data, reads, time.monotonic() - started


def test_slow_loris_drips_one_byte_at_a_time(idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.DISCOVERY, SlowLoris(interval=0.05, total=6))
    sock = raw_exchange(idp, GET_DISCOVERY)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length" not in head and b"Connection: close" in head
    body, reads, seconds = drip_read(sock)  # to the end: `total` bytes, then the close
    sock.close()
    assert body == b'{"padd'
    assert reads >= 3 and seconds > 0.25  # one byte every 50 ms, not all at once


def test_slow_loris_defeats_a_per_read_timeout(idp: HostileIdP, http: requests.Session) -> None:
    idp.misbehave(Endpoint.TOKEN, SlowLoris(interval=0.06, framing=Framing.CHUNKED))
    started = time.monotonic()
    answer = client_credentials(http, idp, timeout=(5, 0.8), stream=True)
    assert answer.headers["Transfer-Encoding"] == "chunked"
    got = b""
    for byte in answer.iter_content(1):
        got += byte
        if len(got) == 15:
            break
    answer.close()
    # 15 reads, ~0.9 s, each well within the 0.8 s read timeout: no timeout ever fires.
    assert got == b'{"padding":"aaa'
    assert time.monotonic() - started > 0.8


def test_slow_loris_can_drip_the_headers_too(idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.JWKS, SlowLoris(interval=0.05, drip_headers=True, status=502))
    sock = raw_exchange(idp, b"GET /jwks HTTP/1.1\r\nHost: x\r\n\r\n")
    head, reads, seconds = drip_read(sock, 12)
    sock.close()
    assert head == b"HTTP/1.1 502"
    assert reads >= 4 and seconds > 0.4


def test_stopping_ends_an_endless_drip_promptly() -> None:
    idp = HostileIdP(key=KEY).start()
    try:
        idp.misbehave(ALL_ENDPOINTS, SlowLoris(interval=0.02, framing=Framing.CONTENT_LENGTH))
        sock = raw_exchange(idp, GET_DISCOVERY)
        received = b""
        while received.count(b"a") < 3:
            received += sock.recv(1000)
        assert b"Content-Length: 1073741824\r\n" in received
    finally:
        idp.stop()
    stopped = time.monotonic()
    while sock.recv(1000):
        pass
    assert time.monotonic() - stopped < 2  # an endless drip, ended
    sock.close()


# -- 3. stall ----------------------------------------------------------------------------------


def test_stall_never_answers(idps: HostileIdP, http: requests.Session) -> None:
    idps.misbehave(Endpoint.TOKEN, Stall())
    with pytest.raises(requests.exceptions.ReadTimeout):
        client_credentials(http, idps, timeout=(2, 0.3))
    assert [r.behaviour for r in idps.requests] == ["Stall"]

    idps.misbehave(Endpoint.DISCOVERY, Stall(seconds=0.1))
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(idps.discovery_url, timeout=5)  # closed without a byte


def test_stalled_connections_never_even_handshake(
    idps: HostileIdP, http: requests.Session, tls: TLSMaterial
) -> None:
    idps.stall_connections = True
    with pytest.raises(requests.exceptions.Timeout):
        http.get(idps.discovery_url, timeout=0.3)
    with socket.create_connection(("127.0.0.1", idps.port), timeout=0.3) as raw:
        context = ssl.create_default_context(cafile=str(tls.ca_path))
        with pytest.raises(TimeoutError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert idps.requests == []


# -- 4. redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_token_post_redirected_to_another_origin_which_records_it(
    status: int, idps: HostileIdP, http: requests.Session
) -> None:
    idps.misbehave(Endpoint.TOKEN, Redirect(status))
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "rt-secret",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    answer = http.post(idps.token_endpoint, data=form, allow_redirects=False, timeout=5)
    assert answer.status_code == status
    assert answer.headers["Location"] == idps.other.url + "/token"
    assert idps.other.url.startswith("https://127.0.0.1:")
    assert idps.other.requests == []

    followed = http.post(idps.token_endpoint, data=form, timeout=5)
    assert followed.json()["access_token"] == "token-from-another-origin"
    (seen,) = idps.other.requests
    assert seen.listener == "other" and seen.path == "/token"
    if status in (307, 308):  # requests re-sends the POST and its body: the leak is recorded
        assert seen.method == "POST"
        assert seen.carries(CLIENT_SECRET) and seen.carries("rt-secret")
        assert idps.other.carried("rt-secret")
    else:  # requests turns it into a GET without the body
        assert seen.method == "GET" and seen.body == b""
        assert not idps.other.carried(CLIENT_SECRET)


def test_urllib_follows_a_302_to_the_other_origin(idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.TOKEN, Redirect(302))
    request = urllib.request.Request(
        idp.token_endpoint, data=b"grant_type=client_credentials", method="POST"
    )
    with urlopen(request) as answer:
        assert json.load(answer)["access_token"] == "token-from-another-origin"
    assert [(r.method, r.path) for r in idp.other.requests] == [("GET", "/token")]

    idp.misbehave(Endpoint.TOKEN, Redirect(307))
    with pytest.raises(urllib.error.HTTPError) as refused:  # urllib will not re-send a POST
        urlopen(request)
    assert refused.value.code == 307
    assert refused.value.headers["Location"] == idp.other.url + "/token"


def test_https_redirect_down_to_plain_http(idps: HostileIdP, http: requests.Session) -> None:
    idps.misbehave(Endpoint.TOKEN, Redirect(308, RedirectTarget.PLAIN_HTTP))
    form = {"grant_type": "refresh_token", "refresh_token": "rt-secret"}
    answer = http.post(idps.token_endpoint, data=form, allow_redirects=False, timeout=5)
    assert answer.headers["Location"] == f"http://127.0.0.1:{idps.plain.port}/token"
    http.post(idps.token_endpoint, data=form, timeout=5)
    (seen,) = idps.plain.requests
    assert seen.method == "POST" and seen.form["refresh_token"] == "rt-secret"
    assert idps.other.requests == []


def test_same_origin_redirects_and_loops(idp: HostileIdP, http: requests.Session) -> None:
    idp.misbehave(Endpoint.TOKEN, Redirect(307, RedirectTarget.SAME_ORIGIN))
    answer = client_credentials(http, idp)
    assert answer.status_code == 200 and "id_token" in answer.json()
    assert [(r.path, r.behaviour) for r in idp.requests] == [
        ("/token", "Redirect"),
        ("/moved/token", "WellBehaved"),
    ]

    idp.misbehave(Endpoint.DISCOVERY, Redirect(302, RedirectTarget.LOOP))
    with pytest.raises(requests.exceptions.TooManyRedirects):
        http.get(idp.discovery_url, timeout=5)
    assert len(idp.requests_to(Endpoint.DISCOVERY)) > 10


# -- 5. control characters ---------------------------------------------------------------------


def assert_hostile(value: str) -> None:
    assert HOSTILE_TEXT in value
    for sequence in CONTROL_SEQUENCES:
        assert sequence in value


def test_token_errors_carry_control_characters(idps: HostileIdP, http: requests.Session) -> None:
    idps.misbehave(Endpoint.TOKEN, ControlChars())
    answer = client_credentials(http, idps)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_grant" + HOSTILE_TEXT
    assert body["error_description"] == HOSTILE_TEXT
    assert_hostile(body["error"])
    assert "\\u001b[31m" in answer.text  # valid JSON: escaped on the wire


def test_device_answers_carry_control_characters_and_still_work(
    idp: HostileIdP, http: requests.Session
) -> None:
    idp.misbehave(Endpoint.DEVICE_AUTHORIZATION, ControlChars())
    flow = http.post(
        idp.device_authorization_endpoint, data={"client_id": CLIENT_ID}, timeout=5
    ).json()
    for name in ("user_code", "verification_uri", "verification_uri_complete", "message"):
        assert_hostile(flow[name])
    form = {"grant_type": DEVICE_GRANT, "device_code": flow["device_code"], "client_id": CLIENT_ID}
    assert "id_token" in http.post(idp.token_endpoint, data=form, timeout=5).json()


def test_control_characters_raw_in_the_body(idp: HostileIdP) -> None:
    idp.misbehave(Endpoint.TOKEN, ControlChars(escaped=False, status=401))
    request = urllib.request.Request(idp.token_endpoint, data=b"grant_type=x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urlopen(request)
    assert refused.value.code == 401
    body = refused.value.read()
    for sequence in CONTROL_SEQUENCES:
        assert sequence.encode() in body
    with pytest.raises(ValueError):
        json.loads(body)  # strict JSON refuses raw control characters
    assert json.loads(body, strict=False)["error_description"] == HOSTILE_TEXT


def test_discovery_and_jwks_carry_control_characters(
    idp: HostileIdP, http: requests.Session
) -> None:
    idp.misbehave([Endpoint.DISCOVERY, Endpoint.JWKS], ControlChars())
    assert http.get(idp.discovery_url, timeout=5).json()["issuer"] == idp.url + HOSTILE_TEXT
    assert_hostile(http.get(idp.jwks_uri, timeout=5).json()["keys"][0]["kid"])


# -- 6. numbers --------------------------------------------------------------------------------


def literal(value: Number) -> str:
    return value.text if isinstance(value, Raw) else json.dumps(value)


def same_number(parsed: Any, value: Number) -> bool:
    if isinstance(value, Raw):
        return bool(parsed == json.loads(value.text))
    if isinstance(value, float) and math.isnan(value):
        return isinstance(parsed, float) and math.isnan(parsed)
    return bool(parsed == value and type(parsed) is type(value))


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=[literal(v)[:12] for v in BAD_NUMBERS])
def test_bad_numbers_in_the_answer_and_in_properly_signed_tokens(
    value: Number, idp: HostileIdP, http: requests.Session
) -> None:
    idp.misbehave(Endpoint.TOKEN, BadNumbers.everywhere(value))
    answer = client_credentials(http, idp)
    assert f'"expires_in": {literal(value)}' in answer.text
    tokens = answer.json()
    assert same_number(tokens["expires_in"], value)
    for name in ("id_token", "access_token"):
        payload = signed_payload(http, idp, tokens[name])  # the signature is good
        assert f'"exp": {literal(value)}'.encode() in payload
        assert f'"iat": {literal(value)}'.encode() in payload
        claims = json.loads(payload)
        assert same_number(claims["exp"], value) and same_number(claims["iat"], value)
        assert claims["iss"] == idp.issuer and claims["aud"] == CLIENT_ID


def test_bad_numbers_one_field_at_a_time(idp: HostileIdP, http: requests.Session) -> None:
    idp.misbehave(Endpoint.TOKEN, BadNumbers(expires_in=OMIT, id_token_exp=-5))
    tokens = client_credentials(http, idp).json()
    assert "expires_in" not in tokens
    assert json.loads(signed_payload(http, idp, tokens["id_token"]))["exp"] == -5
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(http, idp, tokens["id_token"])
    assert verify(http, idp, tokens["access_token"])["exp"] > time.time()

    idp.misbehave(Endpoint.DEVICE_AUTHORIZATION, BadNumbers(interval=1e308, expires_in=-5))
    answer = http.post(idp.device_authorization_endpoint, data={"client_id": CLIENT_ID}, timeout=5)
    assert '"interval": 1e+308' in answer.text and '"expires_in": -5' in answer.text


def test_huge_integer_literal_is_written_in_full(idp: HostileIdP, http: requests.Session) -> None:
    idp.misbehave(Endpoint.TOKEN, BadNumbers(expires_in=10**400))
    text = client_credentials(http, idp).text
    assert '"expires_in": 1' + "0" * 400 + "," in text


# -- 7. deep nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [Endpoint.DISCOVERY, Endpoint.JWKS, Endpoint.TOKEN])
def test_deeply_nested_json(endpoint: Endpoint, idp: HostileIdP, http: requests.Session) -> None:
    def fetch() -> requests.Response:
        if endpoint is Endpoint.TOKEN:
            return client_credentials(http, idp)
        return http.get(idp.url + endpoint.value, timeout=5)

    idp.misbehave(endpoint, DeepNesting())
    answer = fetch()
    assert answer.status_code == 200 and answer.content == b"[" * 60000
    with pytest.raises(RecursionError):  # not a ValueError: a parser that recurses dies
        answer.json()

    idp.misbehave(endpoint, DeepNesting(shape=Nesting.OBJECT))
    assert fetch().content == b'{"a":' * 60000

    idp.misbehave(endpoint, DeepNesting(depth=500, closed=True))
    nested = fetch().json()
    for _ in range(499):
        (nested,) = nested
    assert nested == []
