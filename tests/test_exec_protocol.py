"""The exec protocol as client-go speaks it, and the command line around it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credplugin import execinfo
from credplugin.credential import Credential
from tests.conftest import V1, V1BETA1, Plugin, exec_info, service_account_jwt

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def token_path(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(service_account_jwt())
    return path


def sa(plugin: Plugin, token_path: Path, *args: str, **kwargs: object) -> object:
    return plugin.run("service-account", "--token-file", str(token_path), *args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("api", [V1, V1BETA1])
def test_answers_the_api_version_it_was_asked_in(
    plugin: Plugin, token_path: Path, api: str
) -> None:
    run = plugin.run("service-account", "--token-file", str(token_path), exec_info=exec_info(api))
    doc = run.credential()
    assert doc["apiVersion"] == api
    assert RFC3339_Z.match(doc["status"]["expirationTimestamp"])
    assert run.stderr == ""


def test_without_exec_info_answers_v1beta1_or_the_flag(plugin: Plugin, token_path: Path) -> None:
    base = ["service-account", "--token-file", str(token_path)]
    assert plugin.run(*base).credential()["apiVersion"] == V1BETA1
    assert plugin.run(*base, "--api-version", "v1").credential()["apiVersion"] == V1
    # The flag is for manual runs only: kubectl's request wins.
    doc = plugin.run(*base, "--api-version", "v1", exec_info=exec_info(V1BETA1)).credential()
    assert doc["apiVersion"] == V1BETA1


@pytest.mark.parametrize(
    ("raw", "warning"),
    [
        ("not json", "is not a JSON object"),
        ('["a list"]', "is not a JSON object"),
        (
            '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1",'
            '"spec":{"interactive":false}}',
            "unsupported apiVersion 'client.authentication.k8s.io/v1alpha1'",
        ),
        ('{"apiVersion": 7}', "unsupported apiVersion 7"),
    ],
)
def test_bad_exec_info_gives_v1beta1_and_one_warning(
    plugin: Plugin, token_path: Path, raw: str, warning: str
) -> None:
    run = plugin.run("service-account", "--token-file", str(token_path), exec_info=raw)
    assert run.credential()["apiVersion"] == V1BETA1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("credplugin: warning: ") and warning in lines[0]


def test_python_client_cluster_shape_is_understood() -> None:
    raw = json.dumps(
        {
            "apiVersion": V1,
            "kind": "ExecCredential",
            "spec": {
                "interactive": False,
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority": "/path/ca.crt",
                    "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {}}],
                    "config": {"region": "eu-west-1"},
                },
            },
        }
    )
    request = execinfo.parse_request(raw, None, stdin_is_tty=True)
    assert request.api_version == V1 and request.interactive is False
    assert request.server == "https://127.0.0.1:6443"
    assert request.cluster_config == {"region": "eu-west-1"}
    assert request.warnings == []


@pytest.mark.parametrize(
    ("spec", "interactive"),
    [
        ({"interactive": True}, True),
        ({"interactive": False}, False),
        ({"interactive": "true"}, False),  # malformed: never assume a person is there
        ({}, False),
        (None, False),
    ],
)
def test_interactive_is_true_only_when_kubectl_says_so(spec: object, interactive: bool) -> None:
    raw = json.dumps({"apiVersion": V1, "kind": "ExecCredential", "spec": spec})
    assert execinfo.parse_request(raw, None, stdin_is_tty=True).interactive is interactive


def test_without_exec_info_a_terminal_means_interactive() -> None:
    assert execinfo.parse_request(None, None, stdin_is_tty=True).interactive is True
    assert execinfo.parse_request("", None, stdin_is_tty=False).interactive is False


def test_cluster_config_null_and_absent_are_empty() -> None:
    for cluster in ({"server": "https://x", "config": None}, {"server": "https://x"}):
        raw = json.dumps({"apiVersion": V1, "spec": {"cluster": cluster, "interactive": False}})
        request = execinfo.parse_request(raw, None, stdin_is_tty=False)
        assert request.cluster_config == {} and request.warnings == []


def test_rendered_document_shape() -> None:
    token = Credential("abc", expires_at=1_800_000_000.9)
    doc = json.loads(execinfo.render(V1, token))
    assert doc == {
        "apiVersion": V1,
        "kind": "ExecCredential",
        "spec": {},
        "status": {"token": "abc", "expirationTimestamp": "2027-01-15T08:00:00Z"},
    }
    pair = Credential(client_certificate_data="CERT", client_key_data="KEY")
    assert json.loads(execinfo.render(V1BETA1, pair))["status"] == {
        "clientCertificateData": "CERT",
        "clientKeyData": "KEY",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
exec_docs = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["ExecCredential", "Other"]) | json_values,
        "apiVersion": st.sampled_from([V1, V1BETA1, "v1", ""]) | json_values,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "interactive": json_values,
                "cluster": json_values
                | st.fixed_dictionaries(
                    {}, optional={"server": json_values, "config": json_values}
                ),
            },
        )
        | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(doc=exec_docs | json_values, garble=st.booleans())
def test_fuzzed_exec_info_never_raises(doc: object, garble: bool) -> None:
    raw = json.dumps(doc)
    if garble:
        raw = raw[: len(raw) // 2]
    request = execinfo.parse_request(raw, None, stdin_is_tty=True)
    assert request.api_version in (V1, V1BETA1)
    assert isinstance(request.interactive, bool)
    assert isinstance(request.cluster_config, dict)
    assert request.server is None or isinstance(request.server, str)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=exec_docs, garble=st.booleans())
def test_fuzzed_exec_info_through_the_cli_never_tracebacks(
    plugin: Plugin, token_path: Path, doc: object, garble: bool
) -> None:
    raw = json.dumps(doc)
    if garble:
        raw = raw[: len(raw) // 2]
    run = plugin.run("service-account", "--token-file", str(token_path), exec_info=raw)
    # Whatever the variable holds, the credential is still served (v1beta1 at worst).
    assert run.credential()["apiVersion"] in (V1, V1BETA1)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr


# -- the command line ------------------------------------------------------------------------

PROVIDERS = [
    "aws",
    "azure",
    "google-service-account",
    "local-kubectl-proxy",
    "service-account",
    "aks",
    "google",
    "oidc",
]


def test_help_lists_every_provider_and_hides_backstage_aliases(plugin: Plugin) -> None:
    run = plugin.run("--help")
    assert run.returncode == 0
    section = run.stdout.split("Providers (Backstage authProviders):")[1].split("Commands:")[0]
    listed = re.findall(r"^  (\S+)\s", section, flags=re.MULTILINE)
    assert listed == PROVIDERS
    for alias in ("googleServiceAccount", "localKubectlProxy", "serviceAccount"):
        assert alias not in run.stdout


@pytest.mark.parametrize("alias", ["serviceAccount", "localKubectlProxy", "googleServiceAccount"])
def test_backstage_aliases_work(plugin: Plugin, alias: str) -> None:
    run = plugin.run(alias, "--help")
    assert run.returncode == 0 and "Usage:" in run.stdout


def test_usage_errors_come_from_click_with_exit_2(plugin: Plugin) -> None:
    run = plugin.run("service-account", "--token-fil", "x")
    assert run.returncode == 2 and run.stdout == ""
    assert "No such option '--token-fil'" in run.stderr and "--token-file" in run.stderr
    run = plugin.run("service-account", "--timeout", "soon")
    assert run.returncode == 2 and "'soon' is not a valid float" in run.stderr
    assert plugin.run("no-such-provider").returncode == 2


def test_bad_cluster_config_value_is_a_usage_error(plugin: Plugin, token_path: Path) -> None:
    info = exec_info(V1, server="https://x", config={"region": ["not", "a", "string"]})
    run = plugin.run("aws", "--cluster-id", "c", exec_info=info)
    assert run.returncode == 2 and run.stdout == ""
    assert "invalid value for --region (from cluster config key 'region')" in run.stderr


def test_a_cluster_entry_may_not_set_how_credplugin_runs(plugin: Plugin, token_path: Path) -> None:
    """timeout, cache, logging: the user's, even with a malformed value in the extension."""
    info = exec_info(V1, server="https://x", config={"timeout": "soon", "no-cache": True})
    run = plugin.run("service-account", "--token-file", str(token_path), exec_info=info)
    assert run.credential()["status"]["token"] == token_path.read_text()
    lines = [line for line in run.stderr.splitlines() if "exec extension" in line]
    assert len(lines) == 2 and "'timeout'" in lines[1] and "'no-cache'" in lines[0]


def test_version(plugin: Plugin) -> None:
    run = plugin.run("--version")
    assert run.returncode == 0 and run.stdout.startswith("credplugin, version ")


def test_far_future_expiry_is_clamped_to_a_time_kubectl_can_parse() -> None:
    assert execinfo.rfc3339(1e20) == "9999-12-31T23:59:59Z"
    assert execinfo.rfc3339(300_000_000_000) == "9999-12-31T23:59:59Z"
    assert execinfo.rfc3339(0) == "1970-01-01T00:00:00Z"


def test_scrub_hides_every_secret_and_keeps_the_rest() -> None:
    from credplugin.log import scrub

    text = "refused: grant_type=password&password=hunter2-SECRET&client_secret=abcd1234"
    assert scrub(text, ["hunter2-SECRET", "abcd1234", None, "ab"]) == (
        "refused: grant_type=password&password=***&client_secret=***"
    )
