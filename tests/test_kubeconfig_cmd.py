"""`credplugin kubeconfig from-backstage` and `add` through the real CLI, read back by real
kubectl, and a generated entry taking real kubectl to the API server stand-in."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from credplugin.backstage.appconfig import Ref, load_app_config, substitute
from credplugin.kubeconfig import INSTALL_HINT
from tests.conftest import (
    V1,
    Plugin,
    credplugin_command,
    kubectl_binaries,
    run_kubectl,
    service_account_jwt,
)
from tests.standins.apiserver import FakeAPIServer, token_fingerprint
from tests.standins.tls import TLSMaterial

DATA = Path(__file__).parent / "data"
KUBECTLS = kubectl_binaries()
needs_kubectl = pytest.mark.skipif(not KUBECTLS, reason="no kubectl binary on this machine")
IN_CLUSTER_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

TENANT = "22222222-2222-2222-2222-222222222222"
# Values that must never appear in the output unless --include-secrets (and then only in
# an exec env, never in args). The literal ones are written in tests/data/app-config*.yaml.
SECRET_ENV = {
    "ONPREM_SA_TOKEN": "onprem-env-token-d6f1",
    "ONPREM_DR_SA_TOKEN": "onprem-dr-env-token-77ab",
    "AUTH_GOOGLE_CLIENT_SECRET": "google-client-secret-91c2",
    "AUTH_MICROSOFT_CLIENT_SECRET": "microsoft-client-secret-4e0d",
    "AUTH_OKTA_CLIENT_SECRET": "okta-prod-client-secret-5a5a",
    "AUTH_GITLAB_CLIENT_SECRET": "gitlab-client-secret-0b1e",
    "AUTH_ONELOGIN_CLIENT_SECRET": "onelogin-client-secret-c3c3",
    "GOOGLE_SA_KEY_JSON": '{"type": "service_account", "private_key": "env-key-8f8f"}',
    "POSTGRES_PASSWORD": "postgres-password-1234",
}
LITERAL_SA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.literal-legacy-token-payload.c2lnbmF0dXJl"
LITERAL_OKTA_DEV_SECRET = "literal-okta-dev-client-secret"
LAB_TOKEN = "lab-file-token-e5e5"
KEY_FILE_SECRET = "file-key-6d6d"
SECRETS = [
    *SECRET_ENV.values(),
    LITERAL_SA_TOKEN,
    LITERAL_OKTA_DEV_SECRET,
    LAB_TOKEN,
    KEY_FILE_SECRET,
]


@pytest.fixture
def backstage(tmp_path: Path, tls: TLSMaterial) -> Path:
    """The test app-configs in a directory of their own, with the files their $file names."""
    directory = tmp_path / "backstage"
    (directory / "ca").mkdir(parents=True)
    (directory / "secrets").mkdir()
    for name in ("app-config.yaml", "app-config.production.yaml"):
        shutil.copy(DATA / name, directory / name)
    (directory / "ca" / "eks-partner.b64").write_text(tls.ca_b64 + "\n")
    (directory / "secrets" / "gke-sa-key.json").write_text(
        json.dumps({"type": "service_account", "private_key": KEY_FILE_SECRET})
    )
    (directory / "secrets" / "lab-token").write_text(LAB_TOKEN + "\n")
    return directory


@pytest.fixture
def backstage_env(tls: TLSMaterial) -> dict[str, str]:
    """Every variable the app-configs name, except GKE_DEV_CA_DATA (left unset on purpose)."""
    ca_vars = ["EKS_PROD", "EKS_SHARED", "AKS_PLATFORM", "AKS_TEAMS", "GKE_PROD", "ONPREM", "RKE"]
    return {
        **{f"{name}_CA_DATA": tls.ca_b64 for name in ca_vars},
        **SECRET_ENV,
        "POSTGRES_HOST": "db.internal",
        "AWS_EXTID_222": "extid-222",
        "AWS_EXTID_444": "extid-444",
        "PARTNER_EXTERNAL_ID": "partner-extid",
        "AUTH_GOOGLE_CLIENT_ID": "123-google.apps.googleusercontent.com",
        "AUTH_MICROSOFT_CLIENT_ID": "33333333-3333-3333-3333-333333333333",
        "AUTH_MICROSOFT_TENANT_ID": TENANT,
        "AUTH_GITLAB_CLIENT_ID": "gitlab-app-id",
        "AUTH_ONELOGIN_CLIENT_ID": "onelogin-client-id",
        "INTERNAL_DOMAIN": "corp.example.com",
    }


PARTIAL = 3  # from-backstage: written, but some clusters refused


def from_backstage(
    plugin: Plugin, directory: Path, *args: str, env: dict[str, str], production: bool = True
) -> tuple[dict[str, Any], str]:
    files = [str(directory / "app-config.yaml")]
    if production:
        files.append(str(directory / "app-config.production.yaml"))
    run = plugin.run("kubeconfig", "from-backstage", *files, *args, env=env)
    # The fixture has clusters that cannot work (an unknown authProvider, oidc providers
    # without an issuer for the environment): refused, the rest written, exit 3.
    assert run.returncode == PARTIAL, run.stderr
    assert "Traceback" not in run.stderr
    doc = yaml.safe_load(run.stdout)
    assert isinstance(doc, dict)
    return doc, run.stderr


def by_name(doc: dict[str, Any], section: str) -> dict[str, Any]:
    key = section[:-1]
    items = {item["name"]: item[key] for item in doc[section]}
    assert len(items) == len(doc[section]), f"duplicate names in {section}"
    return items


def user(*args: str, mode: str = "Never", env: dict[str, str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "apiVersion": V1,
        "command": "credplugin",
        "args": list(args),
    }
    if env:
        block["env"] = [{"name": k, "value": v} for k, v in env.items()]
    block.update(interactiveMode=mode, provideClusterInfo=True, installHint=INSTALL_HINT)
    return {"exec": block}


def expected_production(directory: Path, ca: str) -> dict[str, tuple[dict[str, Any], Any]]:
    """cluster name -> (cluster block, user block) for app-config + app-config.production."""
    okta = "https://example.okta.com/oauth2/default"
    entra = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    return {
        "eks-prod": (
            {
                "server": "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
                "certificate-authority-data": ca,
            },
            user("aws", "--cluster-id", "prod"),
        ),
        "eks-partner": (
            {
                "server": "https://FEDCBA9876543210FEDCBA9876543210.yl4.us-east-1.eks.amazonaws.com",
                "certificate-authority-data": ca,  # from $file:, relative to the app-config
            },
            user(
                "aws",
                "--cluster-id",
                "partner-main",
                "--role-arn",
                "arn:aws:iam::333333333333:role/backstage-eks-read",
                "--external-id",
                "partner-extid",
            ),
        ),
        "eks-legacy": (
            {"server": "https://AAAA0000BBBB1111CCCC2222DDDD3333.gr7.eu-west-1.eks.amazonaws.com"},
            user(
                "aws",
                "--cluster-id",
                "eks-legacy",
                "--role-arn",
                "arn:aws:iam::222222222222:role/legacy-read",
                "--external-id",
                "legacy-external-id",
            ),
        ),
        "eks-shared": (
            {
                "server": "https://AAAA1111BBBB2222CCCC3333DDDD4444.sk1.eu-west-1.eks.amazonaws.com",
                "certificate-authority-data": ca,
            },
            # aws.accounts from the production file (the array replaced, not merged)
            user(
                "aws",
                "--cluster-id",
                "shared",
                "--role-arn",
                "arn:aws:iam::444444444444:role/backstage-k8s-prod",
                "--external-id",
                "extid-444",
            ),
        ),
        "aks-platform": (
            {
                "server": "https://aks-platform-dns-1a2b3c4d.hcp.westeurope.azmk8s.io:443",
                "certificate-authority-data": ca,
            },
            user("azure"),
        ),
        "aks-teams": (
            {
                "server": "https://aks-teams-dns-9f8e7d6c.hcp.westeurope.azmk8s.io:443",
                "certificate-authority-data": ca,
            },
            user("aks", "--tenant-id", TENANT, mode="IfAvailable"),
        ),
        "gke-dev": ({"server": "https://34.76.10.20"}, user("google", mode="IfAvailable")),
        "gke-prod": (
            {"server": "https://35.195.1.2", "certificate-authority-data": ca},
            user("google-service-account"),  # the key came from ${GOOGLE_SA_KEY_JSON}: not copied
        ),
        "onprem": (
            {
                "server": "https://k8s-api.dc1.example.com:6443",
                "certificate-authority": "/etc/backstage/ca/onprem-ca.crt",
            },
            user("service-account", "--token-env", "ONPREM_SA_TOKEN"),
        ),
        "onprem-dr": (
            {"server": "https://k8s-api.dc2.example.com:6443", "certificate-authority-data": ca},
            user("service-account", "--token-env", "ONPREM_DR_SA_TOKEN"),
        ),
        "onprem-lab": (
            {"server": "https://k8s-api.lab.example.com:6443", "insecure-skip-tls-verify": True},
            user("service-account", "--token-file", str(directory / "secrets" / "lab-token")),
        ),
        "legacy-literal": (
            {"server": "https://10.20.30.40:6443", "certificate-authority-data": ca},
            user("service-account", "--token-env", "CREDPLUGIN_SA_TOKEN_LEGACY_LITERAL"),
        ),
        "in-cluster": (
            {"server": "https://kubernetes.default.svc", "certificate-authority": IN_CLUSTER_CA},
            user("service-account"),
        ),
        "rke-oidc": (
            {"server": "https://rancher-k8s.example.com:6443", "certificate-authority-data": ca},
            user(
                "oidc",
                "--issuer-url",
                okta,
                "--client-id",
                "0oa-prod-okta-client",
                mode="IfAvailable",
            ),
        ),
        "kind-entra": (
            {"server": "https://kind.dev.example.com:6443", "insecure-skip-tls-verify": True},
            user(
                "oidc",
                "--issuer-url",
                entra,
                "--client-id",
                "33333333-3333-3333-3333-333333333333",
                mode="IfAvailable",
            ),
        ),
        "gitlab-k8s": (
            {"server": "https://k8s.corp.example.com:6443"},
            user(
                "oidc",
                "--issuer-url",
                "https://gitlab.example.com",
                "--client-id",
                "gitlab-app-id",
                mode="IfAvailable",
            ),
        ),
        "google-oidc": (
            {"server": "https://oidc-gke.example.com"},
            user(
                "oidc",
                "--issuer-url",
                "https://accounts.google.com",
                "--client-id",
                "123-google.apps.googleusercontent.com",
                mode="IfAvailable",
            ),
        ),
        "via-proxy": ({"server": "http://127.0.0.1:8001"}, user("local-kubectl-proxy")),
        "proxy-host": (
            {"server": "http://kubectl-proxy.internal.example.com:8001"},
            user(
                "local-kubectl-proxy",
                "--proxy-url",
                "http://kubectl-proxy.internal.example.com:8001",
            ),
        ),
        "public-anon": ({"server": "https://anonymous.example.com"}, {}),
        "local": ({"server": "http://127.0.0.1:8001"}, user("local-kubectl-proxy")),
    }


# -- from-backstage ---------------------------------------------------------------------------


def test_every_auth_provider_becomes_the_matching_exec_entry(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tls: TLSMaterial
) -> None:
    doc, stderr = from_backstage(plugin, backstage, env=backstage_env)
    expected = expected_production(backstage, tls.ca_b64)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
    assert [c["name"] for c in doc["clusters"]] == list(expected)  # app-config order
    assert by_name(doc, "clusters") == {name: c for name, (c, _) in expected.items()}
    assert by_name(doc, "users") == {name: u for name, (_, u) in expected.items()}
    assert by_name(doc, "contexts") == {n: {"cluster": n, "user": n} for n in expected}
    assert doc["current-context"] == "eks-prod"
    # The things left for the person to do are named on stderr.
    assert "cluster gke-dev: caData comes from ${GKE_DEV_CA_DATA}" in stderr
    assert "export CREDPLUGIN_SA_TOKEN_LEGACY_LITERAL" in stderr
    assert "--key-file" in stderr and "${GOOGLE_SA_KEY_JSON}" in stderr
    assert "cluster keycloak-k8s: refused: there is no auth.providers.keycloak block" in stderr
    assert (
        "cluster onelogin-k8s: refused: auth.providers.onelogin has no 'production' environment"
    ) in stderr
    assert "21 of 24 clusters written, 3 refused" in stderr


def test_locators_found_only_at_runtime_are_reported_as_skipped(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str]
) -> None:
    doc, stderr = from_backstage(plugin, backstage, env=backstage_env)
    skipped = [line for line in stderr.splitlines() if line.startswith("credplugin: skipped ")]
    assert len(skipped) == 2, stderr
    gke, catalog = skipped
    assert "clusterLocatorMethods[1] (type gke)" in gke and "my-gcp-project" in gke
    assert "-- google-service-account" in gke  # the locator's authProvider
    assert "clusterLocatorMethods[2] (type catalog)" in catalog and "Resource" in catalog
    assert "cluster eks-typo: refused: authProvider 'awz'" in stderr
    assert "eks-typo" not in by_name(doc, "clusters")
    # the localKubectlProxy locator is not skipped: it is the cluster "local"
    assert by_name(doc, "clusters")["local"] == {"server": "http://127.0.0.1:8001"}


def test_no_secret_reaches_the_output_without_include_secrets(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str]
) -> None:
    for production in (True, False):
        files = [str(backstage / "app-config.yaml")]
        if production:
            files.append(str(backstage / "app-config.production.yaml"))
        run = plugin.run("kubeconfig", "from-backstage", *files, env=backstage_env)
        assert run.returncode == PARTIAL, run.stderr
        for secret in SECRETS:
            assert secret not in run.stdout, secret
            assert secret not in run.stderr, secret
        assert "env:" not in run.stdout


def test_include_secrets_puts_literal_secrets_in_the_exec_env_never_in_args(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tls: TLSMaterial
) -> None:
    doc, _ = from_backstage(plugin, backstage, "--include-secrets", env=backstage_env)
    users = by_name(doc, "users")
    expected = expected_production(backstage, tls.ca_b64)
    literal = users["legacy-literal"]["exec"]
    assert literal["args"] == expected["legacy-literal"][1]["exec"]["args"]
    assert literal["env"] == [
        {"name": "CREDPLUGIN_SA_TOKEN_LEGACY_LITERAL", "value": LITERAL_SA_TOKEN}
    ]
    # The oidc provider reads its client secret only from $OIDC_CLIENT_SECRET.
    assert users["rke-oidc"]["exec"]["env"] == [
        {"name": "OIDC_CLIENT_SECRET", "value": SECRET_ENV["AUTH_OKTA_CLIENT_SECRET"]}
    ]
    # A token Backstage reads from a variable or a file stays a reference.
    assert "env" not in users["onprem"]["exec"] and "env" not in users["onprem-lab"]["exec"]
    all_args = [a for u in users.values() if u for a in u["exec"]["args"]]
    for secret in SECRETS:
        assert secret not in all_args
    # The Google key JSON is never copied anywhere.
    assert SECRET_ENV["GOOGLE_SA_KEY_JSON"] not in json.dumps(doc)
    assert SECRET_ENV["POSTGRES_PASSWORD"] not in json.dumps(doc)


def test_later_files_override_earlier_ones_as_backstage_merges_them(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str]
) -> None:
    base, base_err = from_backstage(plugin, backstage, env=backstage_env, production=False)
    prod, prod_err = from_backstage(plugin, backstage, env=backstage_env)
    base_users, prod_users = by_name(base, "users"), by_name(prod, "users")

    def args(users: dict[str, Any], name: str) -> list[str]:
        result: list[str] = users[name]["exec"]["args"]
        return result

    # auth.environment and auth.providers.*: mappings merge, the later file wins.
    assert args(base_users, "aks-teams") == [
        "aks",
        "--tenant-id",
        "11111111-1111-1111-1111-111111111111",
    ]
    assert args(prod_users, "aks-teams") == ["aks", "--tenant-id", TENANT]
    assert args(base_users, "rke-oidc")[1:] == [
        "--issuer-url",
        "https://dev-example.okta.com",
        "--client-id",
        "0oa-dev-okta-client",
    ]
    assert args(base_users, "gitlab-k8s")[1:3] == ["--issuer-url", "https://gitlab.com"]
    # aws.accounts: the production array replaces the base one, it is not merged into it.
    assert args(base_users, "eks-shared")[3:] == [
        "--role-arn",
        "arn:aws:iam::444444444444:role/backstage-k8s-dev",
    ]
    assert "through aws.accounts' role backstage-k8s-read" in base_err  # account 222 (base)
    assert "through aws.accounts' role" not in prod_err
    # kubernetes.googleServiceAccountCredentials: $file in the base (a path: referenced),
    # ${VAR} in production (key JSON: never copied).
    assert args(base_users, "gke-prod") == [
        "google-service-account",
        "--key-file",
        str(backstage / "secrets" / "gke-sa-key.json"),
    ]
    assert args(prod_users, "gke-prod") == ["google-service-account"]
    # The cluster list itself comes from the base file in both; production has no onelogin
    # block for its environment, so that cluster is refused there.
    assert [c["name"] for c in base["clusters"] if c["name"] != "onelogin-k8s"] == [
        c["name"] for c in prod["clusters"]
    ]


def test_unset_variables_are_named_and_secret_references_survive_them(
    plugin: Plugin, backstage: Path
) -> None:
    doc, stderr = from_backstage(plugin, backstage, env={})
    users, clusters = by_name(doc, "users"), by_name(doc, "clusters")
    # The variable is what kubectl will read: it need not be set when converting.
    assert users["onprem"]["exec"]["args"] == ["service-account", "--token-env", "ONPREM_SA_TOKEN"]
    # The tenant comes from an unset variable: never dropped, the cluster is refused.
    assert "aks-teams" not in users
    assert "cluster aks-teams: refused: auth.providers.microsoft tenantId comes from" in stderr
    assert "AUTH_MICROSOFT_TENANT_ID is not set" in stderr
    assert clusters["eks-prod"] == {
        "server": "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
    }
    # A url with an unset variable cannot make an entry.
    assert "gitlab-k8s" not in clusters
    assert "cluster gitlab-k8s: refused: url comes from" in stderr
    assert "INTERNAL_DOMAIN is not set" in stderr


def test_an_entry_missing_what_only_a_person_can_add_is_refused_or_marked(
    plugin: Plugin, tmp_path: Path
) -> None:
    config = tmp_path / "app-config.yaml"
    config.write_text(
        "kubernetes:\n  clusterLocatorMethods:\n  - type: config\n    clusters:\n"
        "    - {name: teams, url: 'https://teams.example:443', authProvider: aks}\n"
        "    - {name: ok, url: 'https://ok.example', authProvider: azure}\n"
    )
    run = plugin.run("kubeconfig", "from-backstage", str(config))
    assert run.returncode == PARTIAL
    assert "cluster teams: refused: no Entra tenant" in run.stderr
    assert "--allow-incomplete" in run.stderr
    assert [c["name"] for c in yaml.safe_load(run.stdout)["clusters"]] == ["ok"]
    run = plugin.run("kubeconfig", "from-backstage", str(config), "--allow-incomplete")
    assert run.returncode == 0, run.stderr
    user = by_name(yaml.safe_load(run.stdout), "users")["teams"]["exec"]
    assert user["args"] == ["aks"]
    assert user["env"] == [
        {
            "name": "CREDPLUGIN_INCOMPLETE",
            "value": "needs --tenant-id TENANT: no Entra tenant in "
            "auth.providers.microsoft.development",
        }
    ]
    assert "cluster teams: written INCOMPLETE" in run.stderr


def test_output_file_is_private_and_replaced_whole(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "kubeconfig"
    out.parent.mkdir()
    out.write_text("old: content\n")
    out.chmod(0o644)
    files = [str(backstage / "app-config.yaml"), str(backstage / "app-config.production.yaml")]
    run = plugin.run("kubeconfig", "from-backstage", *files, "-o", str(out), env=backstage_env)
    assert run.returncode == PARTIAL, run.stderr
    assert run.stdout == ""
    assert "wrote 21 clusters to" in run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = yaml.safe_load(out.read_text())
    assert "old" not in doc and len(doc["clusters"]) == 21
    assert sorted(p.name for p in out.parent.iterdir()) == ["kubeconfig"]  # no temp, no lock


def existing_kubeconfig(path: Path, current: str | None) -> None:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {"colors": True},
        "clusters": [
            {"name": "mine", "cluster": {"server": "https://mine.example.com"}},
            {"name": "onprem", "cluster": {"server": "https://stale.example.com"}},
        ],
        "users": [
            {"name": "mine", "user": {"token": "my-own-static-token"}},
            {"name": "onprem", "user": {"token": "stale-token"}},
        ],
        "contexts": [
            {"name": "mine", "context": {"cluster": "mine", "user": "mine", "namespace": "dev"}},
            {"name": "onprem", "context": {"cluster": "onprem", "user": "onprem"}},
        ],
        "extensions": [{"name": "keep-me", "extension": {"a": 1}}],
    }
    if current is not None:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))


def test_merge_keeps_unrelated_entries_and_the_current_context(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tmp_path: Path
) -> None:
    first, second = tmp_path / "kube" / "first", tmp_path / "kube" / "second"
    first.parent.mkdir()
    existing_kubeconfig(first, current="mine")
    files = [str(backstage / "app-config.yaml"), str(backstage / "app-config.production.yaml")]
    env = {**backstage_env, "KUBECONFIG": f"{first}{os.pathsep}{second}"}
    run = plugin.run("kubeconfig", "from-backstage", *files, "--merge", env=env)
    assert run.returncode == PARTIAL, run.stderr
    assert run.stdout == ""
    doc = yaml.safe_load(first.read_text())
    clusters, users, contexts = (
        by_name(doc, "clusters"),
        by_name(doc, "users"),
        by_name(doc, "contexts"),
    )
    assert clusters["mine"] == {"server": "https://mine.example.com"}
    assert users["mine"] == {"token": "my-own-static-token"}
    assert contexts["mine"] == {"cluster": "mine", "user": "mine", "namespace": "dev"}
    assert doc["preferences"] == {"colors": True}
    assert doc["extensions"] == [{"name": "keep-me", "extension": {"a": 1}}]
    assert doc["current-context"] == "mine"
    # Same-named entries are replaced in place, not duplicated.
    assert [c["name"] for c in doc["clusters"]][:2] == ["mine", "onprem"]
    assert clusters["onprem"]["server"] == "https://k8s-api.dc1.example.com:6443"
    assert users["onprem"]["exec"]["args"] == ["service-account", "--token-env", "ONPREM_SA_TOKEN"]
    assert len(doc["clusters"]) == 21 + 1  # "mine" kept, "onprem" replaced
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert not second.exists()
    assert sorted(p.name for p in first.parent.iterdir()) == ["first"]


@needs_kubectl
@pytest.mark.kubectl
def test_kubectl_loads_every_generated_entry(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "kubeconfig"
    files = [str(backstage / "app-config.yaml"), str(backstage / "app-config.production.yaml")]
    run = plugin.run("kubeconfig", "from-backstage", *files, "-o", str(out), env=backstage_env)
    assert run.returncode == PARTIAL, run.stderr
    view = kubectl_view(out, plugin.env)
    expected = expected_production(backstage, "DATA+OMITTED")  # kubectl redacts CA data
    assert view["current-context"] == "eks-prod"
    assert by_name(view, "clusters") == {name: c for name, (c, _) in expected.items()}
    users = by_name(view, "users")
    assert set(users) == set(expected)
    for name, (_, wanted) in expected.items():
        if not wanted:
            assert users[name] == {}
            continue
        got = users[name]["exec"]
        assert got["args"] == wanted["exec"]["args"], name
        assert got["interactiveMode"] == wanted["exec"]["interactiveMode"], name
        assert got["apiVersion"] == V1 and got["provideClusterInfo"] is True


def test_merge_sets_the_current_context_only_when_unset(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "config"
    existing_kubeconfig(target, current=None)
    files = [str(backstage / "app-config.yaml")]
    run = plugin.run(
        "kubeconfig",
        "from-backstage",
        *files,
        "--merge",
        "--kubeconfig",
        str(target),
        "--prefix",
        "bs-",
        env=backstage_env,
    )
    assert run.returncode == PARTIAL, run.stderr
    doc = yaml.safe_load(target.read_text())
    assert doc["current-context"] == "bs-eks-prod"
    contexts = by_name(doc, "contexts")
    assert contexts["bs-onprem"] == {"cluster": "bs-onprem", "user": "bs-onprem"}
    assert by_name(doc, "users")["onprem"] == {"token": "stale-token"}  # no prefix: untouched


def test_merge_into_a_file_that_is_not_a_kubeconfig_changes_nothing(
    plugin: Plugin, backstage: Path, backstage_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "config"
    target.write_text("clusters: [unbalanced\n")
    run = plugin.run(
        "kubeconfig",
        "from-backstage",
        str(backstage / "app-config.yaml"),
        "--merge",
        "--kubeconfig",
        str(target),
        env=backstage_env,
    )
    assert run.returncode == 1 and run.stdout == ""
    assert f"credplugin: error: {target} is not a valid kubeconfig" in run.stderr
    assert "Traceback" not in run.stderr
    assert target.read_text() == "clusters: [unbalanced\n"


def test_output_and_merge_exclude_each_other(plugin: Plugin, backstage: Path) -> None:
    run = plugin.run(
        "kubeconfig", "from-backstage", str(backstage / "app-config.yaml"), "--merge", "-o", "x"
    )
    assert run.returncode == 2 and run.stdout == ""
    assert "--output and --merge exclude each other" in run.stderr


def test_substitutions_follow_backstage(tmp_path: Path) -> None:
    env = {"HOST": " api.example.com \n", "EMPTY": ""}
    url = substitute("https://${HOST}:6443", env)
    assert isinstance(url, Ref) and url.value == "https://api.example.com:6443"
    assert url.variables == ("HOST",)
    assert substitute("cost: $${HOST}", env) == "cost: ${HOST}"
    assert substitute("${ HOST }", env) == Ref(
        "env", "HOST", "api.example.com", "HOST is not set", ("HOST",)
    )
    missing = substitute("https://${NOPE}/${HOST}", env)
    assert isinstance(missing, Ref) and missing.value is None and missing.why == "NOPE is not set"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "extra.yaml").write_text(
        "deep:\n  cluster:\n    url: https://${HOST}\n    token: {$file: token.txt}\n"
    )
    (tmp_path / "sub" / "token.txt").write_text("tok\n\n")
    (tmp_path / "app-config.yaml").write_text(
        "a: {$include: 'sub/extra.yaml#deep.cluster'}\nb: {$env: EMPTY}\n"
    )
    config = load_app_config([str(tmp_path / "app-config.yaml")], env)
    token_path = str(tmp_path / "sub" / "token.txt")  # $file relative to the included file
    assert config == {
        "a": {
            "url": Ref("template", "https://${HOST}", "https://api.example.com", "", ("HOST",)),
            "token": Ref("file", token_path, "tok"),
        },
        "b": Ref("env", "EMPTY", "", "EMPTY is not set", ("EMPTY",)),
    }


# -- add --------------------------------------------------------------------------------------


def kubectl_view(kubeconfig: Path, env: dict[str, str]) -> dict[str, Any]:
    result = run_kubectl(KUBECTLS[0], kubeconfig, "config", "view", "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@needs_kubectl
@pytest.mark.kubectl
def test_add_writes_entries_that_kubectl_reads_back(
    plugin: Plugin, tls: TLSMaterial, tmp_path: Path
) -> None:
    target = tmp_path / "kubeconfig"
    sa = plugin.run(
        "kubeconfig",
        "add",
        "onprem",
        "--server",
        "https://k8s.example.com:6443",
        "--certificate-authority",
        str(tls.ca_path),
        "--kubeconfig",
        str(target),
        "--",
        "serviceAccount",  # a Backstage name, written under the subcommand's
        "--token-file",
        "/var/run/token",
    )
    assert sa.returncode == 0, sa.stderr
    oidc = plugin.run(
        "kubeconfig",
        "add",
        "dev",
        "--server",
        "https://dev.example.com",
        "--kubeconfig",
        str(target),
        "--set-current",
        "--",
        "oidc",
        "--issuer-url",
        "https://idp.example.com",
        "--client-id",
        "kubectl",
    )
    assert oidc.returncode == 0, oidc.stderr
    view = kubectl_view(target, plugin.env)
    assert view["current-context"] == "dev"
    clusters, users = by_name(view, "clusters"), by_name(view, "users")
    assert clusters["onprem"] == {
        "server": "https://k8s.example.com:6443",
        "certificate-authority": str(tls.ca_path),
    }
    assert clusters["dev"] == {"server": "https://dev.example.com"}
    onprem = users["onprem"]["exec"]
    assert onprem["command"] == "credplugin"
    assert onprem["args"] == ["service-account", "--token-file", "/var/run/token"]
    assert onprem["apiVersion"] == V1
    assert onprem["interactiveMode"] == "Never"
    assert onprem["provideClusterInfo"] is True
    assert onprem["installHint"] == INSTALL_HINT
    dev = users["dev"]["exec"]
    assert dev["args"] == [
        "oidc",
        "--issuer-url",
        "https://idp.example.com",
        "--client-id",
        "kubectl",
    ]
    assert dev["interactiveMode"] == "IfAvailable"
    assert by_name(view, "contexts")["onprem"] == {"cluster": "onprem", "user": "onprem"}


@needs_kubectl
@pytest.mark.kubectl
def test_add_replaces_a_same_named_entry_and_keeps_the_others(
    plugin: Plugin, tmp_path: Path
) -> None:
    target = tmp_path / "kubeconfig"
    existing_kubeconfig(target, current="mine")
    run = plugin.run(
        "kubeconfig",
        "add",
        "onprem",
        "--server",
        "https://new.example.com",
        "--kubeconfig",
        str(target),
        "--env",
        "AWS_PROFILE=ops",
        "--",
        "aws",
        "--cluster-id",
        "prod",
    )
    assert run.returncode == 0, run.stderr
    view = kubectl_view(target, plugin.env)
    assert view["current-context"] == "mine"
    assert [c["name"] for c in view["clusters"]] == ["mine", "onprem"]
    assert by_name(view, "clusters")["onprem"] == {"server": "https://new.example.com"}
    exec_block = by_name(view, "users")["onprem"]["exec"]
    assert exec_block["args"] == ["aws", "--cluster-id", "prod"]
    assert exec_block["env"] == [{"name": "AWS_PROFILE", "value": "ops"}]
    assert by_name(view, "users")["mine"] == {"token": "REDACTED"}  # kept (kubectl redacts)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--", "awz", "--cluster-id", "x"], "'awz' is not a provider"),
        (["--", "aws", "--no-such-flag"], "aws arguments: no such option: --no-such-flag"),
        (["--", "oidc", "--grant-type", "magic"], "invalid value for --grant-type"),
        (["--", "aws", "stray"], "aws arguments: unexpected argument 'stray'"),
        (["aws", "--cluster-id", "x"], "put the provider and its arguments after --"),
    ],
)
def test_add_refuses_unknown_providers_and_bad_arguments(
    plugin: Plugin, tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "kubeconfig"
    run = plugin.run(
        "kubeconfig", "add", "x", "--server", "https://x", "--kubeconfig", str(target), *args
    )
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "Usage:" in run.stderr and "Traceback" not in run.stderr
    assert not target.exists()


def test_add_warns_when_a_secret_goes_into_the_args(plugin: Plugin, tmp_path: Path) -> None:
    target = tmp_path / "kubeconfig"
    run = plugin.run(
        "kubeconfig",
        "add",
        "x",
        "--server",
        "https://x.example.com",
        "--kubeconfig",
        str(target),
        "--",
        "oidc",
        "--issuer-url",
        "https://idp.example.com",
        "--client-secret",
        "s3cr3t-value",
    )
    assert run.returncode == 0, run.stderr
    assert "--client-secret is written into the kubeconfig in clear text" in run.stderr
    assert "$OIDC_CLIENT_SECRET" in run.stderr and "s3cr3t-value" not in run.stderr


def test_add_waits_for_kubectls_lock_file(plugin: Plugin, tmp_path: Path) -> None:
    target = tmp_path / "config"
    existing_kubeconfig(target, current="mine")
    lock = tmp_path / "config.lock"  # what kubectl holds while it changes the file
    lock.write_text("")
    release = threading.Timer(0.5, lock.unlink)
    release.start()
    try:
        started = time.monotonic()
        run = plugin.run(
            "kubeconfig", "add", "sa", "--server", "https://sa.example.com",
            "--kubeconfig", str(target), "--", "service-account",
        )  # fmt: skip
        waited = time.monotonic() - started
    finally:
        release.cancel()
    assert run.returncode == 0, run.stderr
    assert waited >= 0.4  # it waited for the lock instead of failing or ignoring it
    assert set(by_name(yaml.safe_load(target.read_text()), "users")) == {"mine", "onprem", "sa"}
    assert not lock.exists()


def test_add_writes_the_default_kubeconfig_under_home(plugin: Plugin) -> None:
    run = plugin.run(
        "kubeconfig", "add", "sa", "--server", "https://sa.example.com", "--", "service-account"
    )
    assert run.returncode == 0, run.stderr
    path = plugin.home / ".kube" / "config"
    doc = yaml.safe_load(path.read_text())
    assert by_name(doc, "users")["sa"]["exec"]["args"] == ["service-account"]
    assert doc["current-context"] == "sa"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- generated entries work -------------------------------------------------------------------


@needs_kubectl
@pytest.mark.kubectl
def test_kubectl_get_ns_through_an_entry_written_by_add(
    plugin: Plugin, apiserver: FakeAPIServer, tls: TLSMaterial, tmp_path: Path
) -> None:
    token = service_account_jwt(subject="kubeconfig-add")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    apiserver.accept(token)
    target = tmp_path / "kubeconfig"
    run = plugin.run(
        "kubeconfig",
        "add",
        "stand-in",
        "--server",
        apiserver.url,
        "--certificate-authority",
        str(tls.ca_path),
        "--embed-certs",
        "--kubeconfig",
        str(target),
        "--command",
        credplugin_command()[0],
        "--",
        "service-account",
        "--token-file",
        str(token_file),
    )
    assert run.returncode == 0, run.stderr
    result = run_kubectl(KUBECTLS[0], target, "get", "ns", env=plugin.env)
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout
    authenticated = apiserver.authenticated_requests()
    assert authenticated
    assert {r.token_sha256 for r in authenticated} == {token_fingerprint(token)}


@needs_kubectl
@pytest.mark.kubectl
def test_kubectl_get_ns_through_a_from_backstage_token_env_entry(
    plugin: Plugin, apiserver: FakeAPIServer, tls: TLSMaterial, tmp_path: Path
) -> None:
    token = service_account_jwt(subject="from-backstage")
    apiserver.accept(token)
    app_config = tmp_path / "app-config.yaml"
    app_config.write_text(
        yaml.safe_dump(
            {
                "kubernetes": {
                    "clusterLocatorMethods": [
                        {
                            "type": "config",
                            "clusters": [
                                {
                                    "name": "stand-in",
                                    "url": apiserver.url,
                                    "authProvider": "serviceAccount",
                                    "serviceAccountToken": "${STAND_IN_SA_TOKEN}",
                                    "caData": "${STAND_IN_CA_DATA}",
                                }
                            ],
                        }
                    ]
                }
            }
        )
    )
    target = tmp_path / "kubeconfig"
    run = plugin.run(
        "kubeconfig",
        "from-backstage",
        str(app_config),
        "-o",
        str(target),
        "--command",
        credplugin_command()[0],
        env={"STAND_IN_CA_DATA": tls.ca_b64},  # the token is not needed to convert
    )
    assert run.returncode == 0, run.stderr
    assert token not in target.read_text()
    result = run_kubectl(
        KUBECTLS[0], target, "get", "ns", env={**plugin.env, "STAND_IN_SA_TOKEN": token}
    )
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout
    assert {r.token_sha256 for r in apiserver.authenticated_requests()} == {
        token_fingerprint(token)
    }
