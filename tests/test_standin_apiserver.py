"""The API server stand-in works with real clients: requests, kubectl (1.27+), kubernetes."""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests

from tests.standins.apiserver import NAMESPACES, FakeAPIServer, token_fingerprint
from tests.standins.tls import CLIENT_CN, TLSMaterial, make_tls

TOKEN = f"standin-good-{secrets.token_hex(16)}"
BAD_TOKEN = f"standin-bad-{secrets.token_hex(16)}"
UNAUTHORIZED_BODY = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def module_server(tls: TLSMaterial) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(tls, tokens=[TOKEN]) as srv:
        yield srv


@pytest.fixture
def server(module_server: FakeAPIServer) -> Iterator[FakeAPIServer]:
    """The module's token server with a clean log; settings restored afterwards."""
    module_server.reset()
    yield module_server
    module_server.reset()
    module_server.minor = "32"
    module_server.revoke(BAD_TOKEN)
    module_server.accept(TOKEN)


@pytest.fixture(scope="module")
def cert_server(tls: TLSMaterial) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(tls, client_ca=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def client_cert_files(
    tls: TLSMaterial, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("client")
    cert, key = directory / "client.crt", directory / "client.key"
    cert.write_bytes(tls.client_cert_pem)
    key.write_bytes(tls.client_key_pem)
    key.chmod(0o600)
    return str(cert), str(key)


def get(
    srv: FakeAPIServer,
    tls: TLSMaterial,
    path: str,
    token: str | None = None,
    accept: str | None = None,
    cert: tuple[str, str] | None = None,
) -> requests.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if accept is not None:
        headers["Accept"] = accept
    # verify= per request: a session's verify would lose against $REQUESTS_CA_BUNDLE.
    return requests.get(
        srv.url + path, headers=headers, verify=str(tls.ca_path), cert=cert, timeout=10
    )


def write_kubeconfig(
    path: Path, srv: FakeAPIServer, tls: TLSMaterial, user: dict[str, str]
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "standin",
                "cluster": {"server": srv.url, "certificate-authority-data": tls.ca_b64},
            }
        ],
        "users": [{"name": "standin-user", "user": user}],
        "contexts": [
            {"name": "standin", "context": {"cluster": "standin", "user": "standin-user"}}
        ],
        "current-context": "standin",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def run_kubectl(
    kubectl: str, kubeconfig: Path, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = str(home)  # kubectl writes its discovery cache under $HOME/.kube
    return subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _minor_of(path: Path) -> int:
    match = re.fullmatch(r"kubectl\.1\.(\d+)", path.name)
    assert match is not None
    return int(match.group(1))


def _versioned_kubectls() -> list[Path]:
    found = [p for p in KUBECTL_DIR.glob("kubectl.1.*") if re.fullmatch(r"kubectl\.1\.\d+", p.name)]
    return sorted((p for p in found if os.access(p, os.X_OK)), key=_minor_of)


def _dispatcher() -> str | None:
    """``kubectl`` on PATH if it is the Cloud SDK dispatcher (sits next to kubectl.1.NN)."""
    which = shutil.which("kubectl")
    if which is None:
        return None
    return which if any(Path(os.path.realpath(which)).parent.glob("kubectl.1.*")) else None


def _kubectl_params() -> list[Any]:
    params: list[Any] = [
        pytest.param(str(p), id=p.name, marks=pytest.mark.kubectl) for p in _versioned_kubectls()
    ]
    which = shutil.which("kubectl")
    if which is not None:
        params.append(pytest.param(which, id="kubectl-on-PATH", marks=pytest.mark.kubectl))
    if not params:
        params.append(
            pytest.param(
                None, id="no-kubectl", marks=[pytest.mark.kubectl, pytest.mark.skip("no kubectl")]
            )
        )
    return params


def _dispatcher_minor_params() -> list[Any]:
    marks: list[pytest.MarkDecorator] = [pytest.mark.kubectl]
    if _dispatcher() is None:
        marks.append(pytest.mark.skip("kubectl on PATH is not the Cloud SDK dispatcher"))
    minors = [_minor_of(p) for p in _versioned_kubectls()] or [32]
    return [pytest.param(m, id=f"minor-{m}", marks=marks) for m in minors]


def assert_no_full_token(srv: FakeAPIServer) -> None:
    """No record (repr) ever holds a full token."""
    text = repr(srv.requests)
    assert TOKEN not in text
    assert BAD_TOKEN not in text


# -- requests: bearer tokens --------------------------------------------------------------


def test_good_token_gets_namespace_list(server: FakeAPIServer, tls: TLSMaterial) -> None:
    response = get(server, tls, "/api/v1/namespaces?limit=500", token=TOKEN)
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "NamespaceList"
    assert body["apiVersion"] == "v1"
    assert [item["metadata"]["name"] for item in body["items"]] == list(NAMESPACES)
    assert all(item["status"]["phase"] == "Active" for item in body["items"])

    (rec,) = server.requests
    assert rec.method == "GET"
    assert rec.path == "/api/v1/namespaces?limit=500"
    assert rec.authorization == f"Bearer {TOKEN[:6]}..."
    assert rec.user_agent.startswith("python-requests/")
    assert rec.client_cert_cn is None
    assert rec.status == 200
    assert rec.identity == f"token:{TOKEN[:6]}..."
    assert rec.token_sha256 == token_fingerprint(TOKEN)
    assert server.authenticated_requests() == [rec]
    assert_no_full_token(server)


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {BAD_TOKEN}", "Bearer ", "Basic dXNlcjpwYXNzd29yZA==", BAD_TOKEN, TOKEN],
    ids=["missing", "bad-token", "empty-bearer", "basic", "no-scheme", "good-token-no-scheme"],
)
def test_unauthenticated_gets_401_status(
    server: FakeAPIServer, tls: TLSMaterial, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.get(
        server.url + "/api/v1/namespaces", headers=headers, verify=str(tls.ca_path), timeout=10
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == UNAUTHORIZED_BODY

    (rec,) = server.requests
    assert rec.status == 401
    assert rec.identity is None
    assert server.authenticated_requests() == []
    if authorization is None:
        assert rec.authorization is None
    else:
        assert rec.authorization is not None
        assert "dXNlcjpwYXNzd29yZA" not in rec.authorization
    assert_no_full_token(server)


def test_fail_next_401_then_success(server: FakeAPIServer, tls: TLSMaterial) -> None:
    server.fail_next_401 = 1
    first = get(server, tls, "/api/v1/namespaces", token=TOKEN)
    second = get(server, tls, "/api/v1/namespaces", token=TOKEN)
    assert (first.status_code, second.status_code) == (401, 200)
    assert first.json() == UNAUTHORIZED_BODY
    assert server.fail_next_401 == 0
    assert [r.status for r in server.requests] == [401, 200]
    # The forced 401 was for a good token: same fingerprint, but not authenticated.
    assert {r.token_sha256 for r in server.requests} == {token_fingerprint(TOKEN)}
    assert len(server.authenticated_requests()) == 1
    assert_no_full_token(server)


def test_fail_next_401_spares_unauthenticated_requests(
    server: FakeAPIServer, tls: TLSMaterial
) -> None:
    server.fail_next_401 = 1
    assert get(server, tls, "/healthz").status_code == 200
    assert get(server, tls, "/version", token=BAD_TOKEN).status_code == 401
    assert server.fail_next_401 == 1
    server.reset()
    assert server.fail_next_401 == 0
    assert server.requests == []


def test_accept_and_revoke(server: FakeAPIServer, tls: TLSMaterial) -> None:
    assert get(server, tls, "/version", token=BAD_TOKEN).status_code == 401
    server.accept(BAD_TOKEN)
    assert get(server, tls, "/version", token=BAD_TOKEN).status_code == 200
    server.revoke(TOKEN)
    assert get(server, tls, "/version", token=TOKEN).status_code == 401
    assert [r.status for r in server.requests] == [401, 200, 401]
    assert_no_full_token(server)


def test_nothing_prints_tokens(
    server: FakeAPIServer, tls: TLSMaterial, capfd: pytest.CaptureFixture[str]
) -> None:
    get(server, tls, "/api/v1/namespaces", token=TOKEN)
    get(server, tls, "/api/v1/namespaces", token=BAD_TOKEN)
    get(server, tls, "/nope", token=TOKEN)
    out, err = capfd.readouterr()
    assert TOKEN not in out + err
    assert BAD_TOKEN not in out + err
    assert_no_full_token(server)


# -- requests: routes ---------------------------------------------------------------------


def test_discovery_routes(server: FakeAPIServer, tls: TLSMaterial) -> None:
    server.minor = "29"
    version = get(server, tls, "/version", token=TOKEN).json()
    assert version["major"] == "1"
    assert version["minor"] == "29"
    assert version["gitVersion"] == "v1.29.0"
    assert version["platform"] == "linux/amd64"
    assert {"gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler"} <= set(version)

    api = get(server, tls, "/api", token=TOKEN).json()
    assert api["kind"] == "APIVersions"
    assert api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["serverAddress"] == f"127.0.0.1:{server.port}"

    assert get(server, tls, "/apis", token=TOKEN).json() == {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [],
    }

    resources = get(server, tls, "/api/v1", token=TOKEN).json()
    assert resources["kind"] == "APIResourceList"
    (namespaces,) = resources["resources"]
    assert namespaces["name"] == "namespaces"
    assert namespaces["shortNames"] == ["ns"]
    assert namespaces["namespaced"] is False


def test_namespace_routes(server: FakeAPIServer, tls: TLSMaterial) -> None:
    one = get(server, tls, "/api/v1/namespaces/kube-system", token=TOKEN)
    assert one.status_code == 200
    assert one.json()["kind"] == "Namespace"
    assert one.json()["metadata"]["name"] == "kube-system"

    missing = get(server, tls, "/api/v1/namespaces/nope", token=TOKEN)
    assert missing.status_code == 404
    assert missing.json()["kind"] == "Status"
    assert missing.json()["reason"] == "NotFound"

    other = get(server, tls, "/api/v1/pods", token=TOKEN)
    assert other.status_code == 404
    assert other.json()["code"] == 404

    table = get(
        server,
        tls,
        "/api/v1/namespaces?limit=500",
        token=TOKEN,
        accept="application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    ).json()
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert [row["cells"][0] for row in table["rows"]] == list(NAMESPACES)
    meta = table["rows"][0]["object"]
    assert meta["kind"] == "PartialObjectMetadata"
    created = datetime.datetime.strptime(
        meta["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"
    ).replace(tzinfo=datetime.timezone.utc)
    age = datetime.datetime.now(datetime.timezone.utc) - created
    assert datetime.timedelta(days=364) < age < datetime.timedelta(days=366)


def test_healthz_needs_no_auth(server: FakeAPIServer, tls: TLSMaterial) -> None:
    response = get(server, tls, "/healthz")
    assert (response.status_code, response.text) == (200, "ok")
    assert server.requests[0].identity is None


def test_keep_alive_head_and_post(server: FakeAPIServer, tls: TLSMaterial) -> None:
    """Several requests, HEAD and a POST with a body on one HTTP/1.1 connection."""
    context = ssl.create_default_context(cafile=str(tls.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        conn.request("GET", "/version", headers=auth)
        first = conn.getresponse()
        assert first.status == 200
        assert json.loads(first.read())["major"] == "1"
        sock = conn.sock

        conn.request("HEAD", "/api/v1/namespaces", headers=auth)
        head = conn.getresponse()
        assert head.status == 200
        assert int(head.getheader("Content-Length", "0")) > 0
        assert head.read() == b""

        conn.request("POST", "/api/v1/namespaces", body=b'{"metadata":{}}', headers=auth)
        post = conn.getresponse()
        assert post.status == 405
        assert json.loads(post.read())["kind"] == "Status"

        conn.request("POST", "/nope", body=b"x" * 1000, headers=auth)
        nope = conn.getresponse()
        assert nope.status == 404
        nope.read()

        conn.request("GET", "/api/v1/namespaces", headers=auth)
        last = conn.getresponse()
        assert last.status == 200
        last.read()
        assert conn.sock is sock, "the connection was not kept alive"
    finally:
        conn.close()
    assert [r.status for r in server.requests] == [200, 200, 405, 404, 200]


def test_plain_http_mode() -> None:
    with FakeAPIServer(None, tokens=[TOKEN]) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = requests.get(srv.url + "/api/v1/namespaces", headers=headers, timeout=10)
        assert response.status_code == 200
        assert requests.get(srv.url + "/version", timeout=10).status_code == 401
    with pytest.raises(ValueError):
        FakeAPIServer(None, client_ca=True)


def test_process_mode(tmp_path: Path) -> None:
    portfile = tmp_path / "url"
    certdir = tmp_path / "certs"
    command = [sys.executable, "-m", "tests.standins.apiserver", "--certdir", str(certdir)]
    command += ["--token", TOKEN, "--portfile", str(portfile), "--minor", "30", "--log"]
    proc = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not portfile.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no portfile"
            time.sleep(0.05)
        url = portfile.read_text(encoding="utf-8").strip()
        assert url.startswith("https://127.0.0.1:")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        ca = str(certdir / "ca.crt")
        response = requests.get(url + "/version", headers=headers, verify=ca, timeout=10)
        assert response.json()["minor"] == "30"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == f"READY {url}"
    assert "GET /version -> 200" in err
    assert TOKEN not in out + err


# -- requests: client certificates --------------------------------------------------------


def test_client_cert_authenticates(
    cert_server: FakeAPIServer, tls: TLSMaterial, client_cert_files: tuple[str, str]
) -> None:
    cert_server.reset()
    response = get(cert_server, tls, "/api/v1/namespaces", cert=client_cert_files)
    assert response.status_code == 200
    assert response.json()["kind"] == "NamespaceList"
    (rec,) = cert_server.requests
    assert rec.client_cert_cn == CLIENT_CN
    assert rec.identity == f"cert:{CLIENT_CN}"
    assert rec.authorization is None


def test_no_client_cert_is_401(cert_server: FakeAPIServer, tls: TLSMaterial) -> None:
    cert_server.reset()
    response = get(cert_server, tls, "/api/v1/namespaces")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED_BODY
    # Tokens are not accepted unless added.
    assert get(cert_server, tls, "/version", token=TOKEN).status_code == 401
    assert [r.client_cert_cn for r in cert_server.requests] == [None, None]


def test_foreign_client_cert_is_rejected(
    cert_server: FakeAPIServer, tls: TLSMaterial, tmp_path: Path
) -> None:
    foreign = make_tls(tmp_path / "foreign")
    cert, key = tmp_path / "c.crt", tmp_path / "c.key"
    cert.write_bytes(foreign.client_cert_pem)
    key.write_bytes(foreign.client_key_pem)
    cert_server.reset()
    with pytest.raises(requests.exceptions.ConnectionError):
        get(cert_server, tls, "/version", cert=(str(cert), str(key)))
    assert cert_server.requests == []


# -- real kubectl -------------------------------------------------------------------------


@pytest.mark.parametrize("kubectl", _kubectl_params())
def test_kubectl_get_ns(
    server: FakeAPIServer, tls: TLSMaterial, tmp_path: Path, kubectl: str
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, tls, {"token": TOKEN})
    result = run_kubectl(kubectl, kubeconfig, tmp_path / "home", "get", "ns")
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout
    assert all(name in result.stdout for name in NAMESPACES)
    listed = [r for r in server.requests if r.path.startswith("/api/v1/namespaces")]
    assert listed and all(r.status == 200 for r in listed)
    assert all(r.identity == f"token:{TOKEN[:6]}..." for r in server.requests)
    assert_no_full_token(server)


@pytest.mark.parametrize("minor", _dispatcher_minor_params())
def test_dispatcher_follows_reported_minor(
    server: FakeAPIServer, tls: TLSMaterial, tmp_path: Path, minor: int
) -> None:
    dispatcher = _dispatcher()
    assert dispatcher is not None
    server.minor = str(minor)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, tls, {"token": TOKEN})
    result = run_kubectl(dispatcher, kubeconfig, tmp_path / "home", "get", "ns")
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout
    first, *rest = server.requests
    assert first.path.startswith("/version")
    assert first.user_agent.startswith("kubectl-dispatcher/")
    assert first.identity is not None  # the dispatcher authenticates too
    assert rest
    assert all(f"/v1.{minor}." in r.user_agent for r in rest), [r.user_agent for r in rest]


@pytest.mark.kubectl
def test_kubectl_client_cert(cert_server: FakeAPIServer, tls: TLSMaterial, tmp_path: Path) -> None:
    kubectls = _versioned_kubectls()
    if not kubectls:
        pytest.skip("no kubectl.1.NN")
    cert_server.reset()
    user = {
        "client-certificate-data": base64.b64encode(tls.client_cert_pem).decode(),
        "client-key-data": base64.b64encode(tls.client_key_pem).decode(),
    }
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cert_server, tls, user)
    result = run_kubectl(str(kubectls[-1]), kubeconfig, tmp_path / "home", "get", "ns")
    assert result.returncode == 0, result.stderr
    assert "kube-public" in result.stdout
    assert {r.identity for r in cert_server.requests} == {f"cert:{CLIENT_CN}"}


# -- the Python kubernetes client ---------------------------------------------------------


def test_kubernetes_client_lists_namespaces(
    server: FakeAPIServer, tls: TLSMaterial, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, tls, {"token": TOKEN})
    # Called through Any: some kubernetes releases type this function, some do not.
    new_client_from_config: Any = kubernetes.config.new_client_from_config
    api_client: Any = new_client_from_config(config_file=str(kubeconfig))
    try:
        core = kubernetes.client.CoreV1Api(api_client)
        listed: Any = core.list_namespace()
        names = [item.metadata.name for item in listed.items]
        one: Any = core.read_namespace("default")
        assert one.status.phase == "Active"
    finally:
        api_client.close()
    assert names == list(NAMESPACES)
    assert all(r.identity == f"token:{TOKEN[:6]}..." for r in server.requests)
    assert_no_full_token(server)
