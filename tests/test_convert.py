"""`credplugin kubeconfig convert` through the real CLI.

Every kubeconfig in tests/data/peer-kubeconfigs/ is converted, and each user entry must come
out as exactly the credplugin entry listed in EXPECTED (or stay as it was, with its reason
reported); everything else in the file stays the same; real kubectl accepts the result. The
kubeconfigs that the real awscli (against moto) and gcloud (against a loopback container API)
write on this machine are converted the same way, and the converted aws entries take real
kubectl to the EKS-verifying API stand-in, one through AssumeRole with the session name
`aws eks get-token` uses.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from credplugin import peers, providers
from credplugin.kubeconfig import INSTALL_HINT
from credplugin.options import Option
from tests.conftest import (
    ACCESS_KEY,
    SECRET_KEY,
    V1,
    Plugin,
    Run,
    aws_static_env,
    credplugin_command,
    kubectl_binaries,
    run_kubectl,
    token_of,
    use_entra,
)
from tests.standins.apiserver import FakeAPIServer
from tests.standins.eks_verifier import AwsPrincipal, EksTokenVerifier
from tests.standins.entra import AKS_SERVER_ID, EntraStandIn, RefusingProxy
from tests.standins.loopback_server import LoopbackHandler, LoopbackHTTPServer
from tests.standins.tls import TLSMaterial

PEERS = Path(__file__).parent / "data" / "peer-kubeconfigs"
# Versioned binaries only: /usr/bin/kubectl is gcloud's dispatcher, which runs the current
# context's exec plugin (a peer's, in these files) to learn the server version.
VERSIONED_KUBECTLS = [k for k in kubectl_binaries() if os.path.basename(k).startswith("kubectl.1.")]
KUBECTLS = VERSIONED_KUBECTLS[:1] + VERSIONED_KUBECTLS[-1:] if VERSIONED_KUBECTLS else []
needs_kubectl = pytest.mark.skipif(not KUBECTLS, reason="no versioned kubectl.1.NN here")

PERSON = "IfAvailable"  # a person's login: kubectl lets the plugin use the terminal
MACHINE = "Never"
TENANT = "3f2b7c1e-8d4a-4b6e-9c2f-5a1d0e7b6c48"
AKS_SERVER = "6dae42f8-4368-4678-94ff-3960e28e3630"
AKS_SCOPE = f"{AKS_SERVER}/.default"
AKS_CLIENT = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"
SPN = "5c7e1f0a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
PUBLIC_CLOUD = "https://login.microsoftonline.com"
US_GOV = "https://login.microsoftonline.us"
ISSUER = "https://keycloak.corp.example.com/realms/platform"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/KubernetesAdmin"
# The EKS cluster the real awscli sees in moto, and who signs for it.
ACCOUNT = "123456789012"
CLUSTER_ARN = f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/demo"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/eks-admins"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
# Every secret in the fixtures: never on stderr, never in a converted entry's args.
SECRETS = (
    "Plc8Q~placeholder.client-secret-value",
    "Plc8Q~placeholder.env-secret-value",
    "9f3c2a7e-placeholder-client-secret",
    "ZXhhbXBsZS1hcHAtc2VjcmV0",
    "pfx-placeholder-password",
    "hunter2-placeholder-password",
    "robot-placeholder-client-secret",
    "ya29.placeholder-static-token",
    "ya29.a0AcM612placeholder-access-token-0123456789",
    "AQABAAAAAADCoMpjJXrxTq9VG9te-7FXplaceholder-refresh-token",
    "ChlvcGF5cGxhY2Vob2xkZXJyZWZyZXNodG9rZW4",
    "placeholder-static-bearer-token",
)


@dataclass(frozen=True)
class Converted:
    """The credplugin entry a user must become. `{home}` is HOME, `{ca}` the CA bundle
    convert writes beside the kubeconfig."""

    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    mode: str = MACHINE


@dataclass(frozen=True)
class Left:
    """A user that must stay as it is; `reason` is part of what is reported."""

    reason: str


def aks(*args: str) -> Converted:
    return Converted(
        ("aks", "--tenant-id", TENANT, "--client-id", AKS_CLIENT, "--server-id", AKS_SERVER, *args),
        mode=PERSON,
    )


AKS_DEVICECODE = aks("--login", "devicecode", "--authority-host", PUBLIC_CLOUD)

# fmt: off
EXPECTED: dict[str, dict[str, Converted | Left]] = {
    "aws-eks-update-kubeconfig-v1.yaml": {
        "arn:aws:eks:eu-west-1:111122223333:cluster/prod": Converted(
            ("aws", "--cluster-id", "prod", "--region", "eu-west-1")
        ),
    },
    "aws-eks-update-kubeconfig-v1-outposts.yaml": {
        # Local clusters on Outposts: the cluster's id, not its name, is x-k8s-aws-id.
        "arn:aws:eks:us-west-2:111122223333:cluster/edge": Converted(
            ("aws", "--cluster-id", "3d4f8a2e-7c1b-4e5a-9f60-2b8c1d9e0a7f", "--region", "us-west-2")
        ),
    },
    "aws-eks-update-kubeconfig-v2.yaml": {
        "arn:aws:eks:us-east-2:111122223333:cluster/staging": Converted(
            ("aws", "--cluster-id", "staging", "--region", "us-east-2")
        ),
    },
    "aws-eks-update-kubeconfig-v2-profile-role.yaml": {
        "arn:aws:eks:eu-west-1:111122223333:cluster/prod": Converted(
            (
                "aws",
                "--cluster-id",
                "prod",
                "--region",
                "eu-west-1",
                "--role-arn",
                "arn:aws:iam::111122223333:role/eks-admins",
                "--session-name",
                "EKSGetTokenAuth",
            ),
            env=(("AWS_PROFILE", "platform-dev"),),
        ),
    },
    "aws-iam-authenticator.yaml": {
        "kubernetes-admin": Converted(("aws", "--cluster-id", "prod", "--role-arn", ADMIN_ROLE)),
        "aws": Converted(("aws", "--cluster-id", "prod"), env=(("AWS_PROFILE", "dev"),)),
        "alice@prod.eu-west-1.eksctl.io": Converted(
            ("aws", "--cluster-id", "prod"),
            env=(("AWS_STS_REGIONAL_ENDPOINTS", "regional"), ("AWS_DEFAULT_REGION", "eu-west-1")),
        ),
        "cross-account": Converted(
            (
                "aws",
                "--cluster-id",
                "prod",
                "--region",
                "eu-west-1",
                "--role-arn",
                "arn:aws:iam::444455556666:role/eks-readonly",
                "--external-id",
                "7c1e2f3a-partner-external-id",
                "--session-name",
                "alice-ci",
            ),
            env=(("AWS_PROFILE", "platform-dev"),),
        ),
        "federated": Left("--forward-session-name"),
    },
    "aws-variants.yaml": {
        "cli-profile-debug": Converted(
            (
                "aws",
                "--cluster-id",
                "prod",
                "--region",
                "eu-west-1",
                "--profile",
                "ops",
                "--verbose",
                "--verbose",
            )
        ),
        "cli-endpoint-url": Left("--endpoint-url: the AWS CLI then presigns the token for that"),
        "cli-not-get-token": Left("not `aws eks get-token`"),
        "authenticator-env": Converted(
            ("aws", "--cluster-id", "prod", "--role-arn", ADMIN_ROLE), env=(("AWS_PROFILE", "dev"),)
        ),
        "authenticator-unknown-flag": Left("unknown flag --frobnicate"),
        "heptio": Converted(("aws", "--cluster-id", "prod", "--role-arn", ADMIN_ROLE, "--verbose")),
    },
    "az-aks-get-credentials-exec.yaml": {"clusterUser_rg-platform-prod_aks-prod": AKS_DEVICECODE},
    "az-aks-get-credentials-legacy.yaml": {"clusterUser_rg-platform-prod_aks-prod": AKS_DEVICECODE},
    "azure-kubelogin-devicecode.yaml": {"clusterUser_rg-platform-prod_aks-prod": AKS_DEVICECODE},
    "azure-kubelogin-interactive.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Left("--redirect-url")
    },
    "azure-kubelogin-spn.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Converted(
            (
                "azure",
                "--credential",
                "client-secret",
                "--tenant-id",
                TENANT,
                "--client-id",
                SPN,
                "--scope",
                AKS_SCOPE,
                "--authority-host",
                PUBLIC_CLOUD,
            ),
            env=(("AZURE_CLIENT_SECRET", "Plc8Q~placeholder.client-secret-value"),),
        )
    },
    "azure-kubelogin-ropc.yaml": {"clusterUser_rg-platform-prod_aks-prod": Left("ropc")},
    "azure-kubelogin-msi.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Converted(
            (
                "azure",
                "--credential",
                "managed-identity",
                "--client-id",
                "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                "--scope",
                AKS_SCOPE,
            )
        )
    },
    "azure-kubelogin-azurecli.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Left("--subscription")
    },
    "azure-kubelogin-azd.yaml": {"clusterUser_rg-platform-prod_aks-prod": Left("azd")},
    "azure-kubelogin-azurepipelines.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Left("azurepipelines")
    },
    "azure-kubelogin-workloadidentity.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Converted(
            ("azure", "--credential", "workload-identity", "--scope", AKS_SCOPE)
        )
    },
    "azure-kubelogin-variants.yaml": {
        "interactive-login-hint": aks(
            "--login", "interactive", "--login-hint", "alice@contoso.example"
        ),
        # kubelogin's AAD_LOGIN_METHOD overrides its --login: the mode in effect is written.
        "env-selects-interactive": aks("--login", "interactive"),
        "short-flags-usgov": aks(
            "--login", "devicecode", "--authority-host", US_GOV, "--verbose", "--verbose"
        ),
        "spn-certificate-china": Converted(
            (
                "azure",
                "--credential",
                "client-certificate",
                "--tenant-id",
                TENANT,
                "--client-id",
                SPN,
                "--scope",
                AKS_SCOPE,
                "--authority-host",
                "https://login.chinacloudapi.cn",
            ),
            env=(
                ("AZURE_CLIENT_CERTIFICATE_PATH", "/home/alice/.azure/sp-cert.pfx"),
                ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-placeholder-password"),
                ("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true"),
            ),
        ),
        "spn-secret-in-env": Converted(
            (
                "azure",
                "--credential",
                "client-secret",
                "--tenant-id",
                TENANT,
                "--client-id",
                SPN,
                "--scope",
                AKS_SCOPE,
            ),
            env=(("AZURE_CLIENT_SECRET", "Plc8Q~placeholder.env-secret-value"),),
        ),
        "spn-secret-from-shell": Left("cannot tell a client secret from a certificate"),
        "msi-resource-id": Left("--identity-resource-id"),
        "azurecli-tenant": Converted(
            ("azure", "--credential", "cli", "--tenant-id", TENANT, "--scope", AKS_SCOPE),
            env=(("AZURE_CONFIG_DIR", "/home/alice/.azure-work"),),
        ),
        "workloadidentity-flags": Converted(
            (
                "azure",
                "--credential",
                "workload-identity",
                "--tenant-id",
                TENANT,
                "--client-id",
                "7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b3a",
                "--scope",
                AKS_SCOPE,
                "--authority-host",
                US_GOV,
            ),
            env=(
                (
                    "AZURE_FEDERATED_TOKEN_FILE",
                    "/var/run/secrets/azure/tokens/azure-identity-token",
                ),
            ),
        ),
        "devicecode-legacy": Left("AADv1"),
        "german-cloud": Left("unknown Azure environment 'AzureGermanCloud'"),
        "interactive-pop": Left("proof-of-possession"),
    },
    "gcloud-get-credentials.yaml": {
        "gke_acme-platform-prod_europe-west1-b_web": Converted(("google", "--gcloud"), mode=PERSON)
    },
    "gcloud-get-credentials-adc.yaml": {
        "gke_acme-platform-prod_europe-west1_web": Converted(("google-service-account",))
    },
    "gcloud-get-credentials-impersonate.yaml": {
        "gke_acme-platform-prod_europe-west1-b_web": Converted(
            (
                "google-service-account",
                "--impersonate-service-account",
                "gke-deployer@acme-platform-prod.iam.gserviceaccount.com",
            )
        )
    },
    "gke-gcloud-auth-plugin-variants.yaml": {
        "adc-impersonate": Converted(("google-service-account",)),
        "project-verbose": Converted(("google", "--gcloud", "--verbose", "--verbose"), mode=PERSON),
        "gcloud-account": Converted(
            ("google", "--gcloud", "--account", "dev@acme.example"), mode=PERSON
        ),
        "static-token": Left("CLOUDSDK_AUTH_ACCESS_TOKEN"),
    },
    "int128-oidc-login-setup.yaml": {
        # No --oidc-redirect-url: int128 sends http://localhost:<bound port>, as ours does for
        # --redirect-url http://localhost.
        "oidc": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--extra-scope",
                "email",
                "--extra-scope",
                "groups",
                "--grant-type",
                "authcode",
                "--auth-request-extra-params",
                "prompt=consent",
                "--certificate-authority",
                "{ca}",
                "--redirect-url",
                "http://localhost",
            ),
            env=(("OIDC_CLIENT_SECRET", "9f3c2a7e-placeholder-client-secret"),),
            mode=PERSON,
        ),
        "oidc-homebrew": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes-cli",
                "--grant-type",
                "device-code",
                "--use-access-token",
                "--certificate-authority",
                "{home}/.kube/corp-root-ca.pem",
                "--skip-open-browser",
                "--verbose",
            ),
            mode=PERSON,
        ),
        "oidc-release-binary": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--extra-scope",
                "email",
                "--extra-scope",
                "groups",
                "--extra-scope",
                "offline_access",
                "--grant-type",
                "authcode",
                "--auth-request-extra-params",
                "prompt=consent",
                "--auth-request-extra-params",
                "ttl=86400",
                "--certificate-authority",
                "{ca}",
                "--listen-address",
                "127.0.0.1:8000",
                "--listen-address",
                "127.0.0.1:18000",
                "--redirect-url",
                "http://localhost:8000/callback",
                "--authentication-timeout",
                "120",
            ),
            env=(("OIDC_CLIENT_SECRET", "9f3c2a7e-placeholder-client-secret"),),
            mode=PERSON,
        ),
    },
    "int128-oidc-login-variants.yaml": {
        "setup-with-redirect": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--extra-scope",
                "email",
                "--grant-type",
                "authcode",
                "--auth-request-extra-params",
                "prompt=consent",
                "--auth-request-extra-params",
                "max_age=0",
                "--redirect-url",
                "http://localhost:8000",
            ),
            mode=PERSON,
        ),
        # int128's `auto` grant with a username is the password grant.
        "password-grant": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--grant-type",
                "password",
                "--username",
                "alice",
            ),
            mode=PERSON,
        ),
        "password-in-args": Left("never takes a password from the kubeconfig"),
        "client-credentials": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "ci-robot",
                "--extra-scope",
                "kubernetes",
                "--grant-type",
                "client-credentials",
            ),
            env=(("OIDC_CLIENT_SECRET", "robot-placeholder-client-secret"),),
            mode=PERSON,
        ),
        "client-credentials-extra-params": Left("on the token request"),
        "keyboard": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--grant-type",
                "authcode-keyboard",
                "--auth-request-extra-params",
                "prompt=login",
                "--redirect-url",
                "urn:ietf:wg:oauth:2.0:oob",
            ),
            mode=PERSON,
        ),
        "old-listen-port": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--grant-type",
                "authcode",
                "--insecure-skip-tls-verify",
                "--listen-address",
                "127.0.0.1:8000",
                "--listen-address",
                "127.0.0.1:18000",
                "--redirect-url",
                "http://localhost:8000",
                "--force-refresh",
            ),
            mode=PERSON,
        ),
        "listen-on-all-interfaces": Left("binds loopback only"),
        "extra-param-sets-scope": Left("sets scope, which credplugin oidc sets itself"),
        # login_hint has an option of its own, which also keeps each account's tokens apart.
        "extra-param-login-hint": Converted(
            (
                "oidc", "--issuer-url", ISSUER, "--client-id", "kubernetes",
                "--grant-type", "authcode", "--login-hint", "alice@corp.example.com",
                "--auth-request-extra-params", "prompt=select_account",
                "--redirect-url", "http://localhost:8000",
            ),
            mode=PERSON,
        ),
        "request-header": Left("--oidc-request-header"),
        "pkce-off": Left("--oidc-pkce-method=no"),
        "docker": Left("in a container"),
        "kubelogin-neither": Left("neither int128's --oidc-* nor Azure's flags"),
    },
    "legacy-auth-provider-azure-after-login.yaml": {
        "clusterUser_rg-platform-prod_aks-prod": Left("AADv1")
    },
    "legacy-auth-provider-gcp.yaml": {
        "gke_acme-platform-prod_europe-west1-b_web": Converted(("google", "--gcloud"), mode=PERSON)
    },
    "legacy-auth-provider-gcp-adc.yaml": {
        "gke_acme-platform-prod_europe-west1-b_web": Converted(("google-service-account",))
    },
    "legacy-auth-provider-oidc.yaml": {
        "dex": Converted(
            (
                "oidc",
                "--issuer-url",
                "https://dex.corp.example.com",
                "--client-id",
                "kubectl",
                "--certificate-authority",
                "/etc/kubernetes/dex-ca.pem",
            ),
            env=(("OIDC_CLIENT_SECRET", "ZXhhbXBsZS1hcHAtc2VjcmV0"),),
            mode=PERSON,
        ),
        "keycloak": Converted(
            (
                "oidc",
                "--issuer-url",
                ISSUER,
                "--client-id",
                "kubernetes",
                "--extra-scope",
                "email",
                "--extra-scope",
                "groups",
                "--certificate-authority",
                "{ca}",
            ),
            env=(("OIDC_CLIENT_SECRET", "9f3c2a7e-placeholder-client-secret"),),
            mode=PERSON,
        ),
    },
    "mixed-kubeconfig.yaml": {
        "admin-cert": Left("nothing to convert"),
        "ci-token": Left("nothing to convert"),
        "already-credplugin": Left("already runs credplugin"),
        "nothing": Left("nothing to convert"),
        "eks": Converted(
            ("aws", "--cluster-id", "prod", "--region", "eu-west-1"),
            env=(("AWS_PROFILE", "payments"),),
        ),
        "eks-as-admin": Converted(("aws", "--cluster-id", "prod")),
    },
}
# fmt: on
FIXTURES = sorted(p.name for p in PEERS.glob("*.yaml"))


# -- helpers -----------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def users_of(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item["user"] for item in doc.get("users") or []}


def lines_of(stderr: str, prefix: str) -> dict[str, str]:
    """User -> the rest of its report line, for lines `credplugin: <prefix> USER: ...`."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        head = f"credplugin: {prefix} "
        if line.startswith(head):
            user, _, rest = line[len(head) :].partition(": ")
            found[user] = rest
    return found


def expected_exec(want: Converted, home: Path, ca: str | None, command: str) -> dict[str, Any]:
    args = [a.replace("{home}", str(home)).replace("{ca}", ca or "{ca}") for a in want.args]
    block: dict[str, Any] = {
        "apiVersion": V1,
        "command": command,
        "args": args,
        "interactiveMode": want.mode,
        "provideClusterInfo": True,
        "installHint": INSTALL_HINT,
    }
    if want.env:
        block["env"] = [{"name": name, "value": value} for name, value in want.env]
    return block


def ca_bundles(directory: Path) -> list[Path]:
    return sorted(directory.glob("credplugin-ca-*.pem"))


def convert(plugin: Plugin, path: Path, *args: str, env: Mapping[str, str] | None = None) -> Run:
    return plugin.run("kubeconfig", "convert", "--kubeconfig", str(path), *args, env=env)


def kubectl_accepts_user(kubectl: str, path: Path, user: str, env: Mapping[str, str]) -> None:
    """kubectl builds a client for this user (and validates its exec block: apiVersion,
    interactiveMode, command), without running the plugin: a client-side dry run."""
    cluster = load(path)["clusters"][0]["name"]
    run = run_kubectl(
        kubectl, path, "--cluster", cluster, "--user", user,
        "create", "configmap", "convert-check", "--dry-run=client", "-o", "name",
        env=env,
    )  # fmt: skip
    assert run.returncode == 0, f"{kubectl} {user}: {run.stderr}"
    assert run.stdout.strip() == "configmap/convert-check"


# -- every peer kubeconfig ------------------------------------------------------------------


def test_every_peer_kubeconfig_and_user_has_an_expectation() -> None:
    assert set(FIXTURES) == set(EXPECTED)
    for name in FIXTURES:
        assert set(users_of(load(PEERS / name))) == set(EXPECTED[name]), name


@pytest.mark.parametrize("name", FIXTURES)
def test_convert_rewrites_each_peer_entry_exactly(
    plugin: Plugin, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    shutil.copy(PEERS / name, path)
    before = load(path)
    run = convert(plugin, path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    after = load(path)
    expected = EXPECTED[name]
    converted = {user for user, want in expected.items() if isinstance(want, Converted)}

    # Everything but the converted users' exec (or auth-provider) is as it was.
    assert {k: v for k, v in after.items() if k != "users"} == {
        k: v for k, v in before.items() if k != "users"
    }
    assert [u["name"] for u in after["users"]] == [u["name"] for u in before["users"]]
    old, new = users_of(before), users_of(after)
    bundles = ca_bundles(tmp_path)
    ca = str(bundles[0]) if bundles else None
    for user, want in expected.items():
        if isinstance(want, Left):
            assert new[user] == old[user], user
            continue
        rest = {k: v for k, v in new[user].items() if k != "exec"}
        assert rest == {k: v for k, v in old[user].items() if k not in ("exec", "auth-provider")}
        assert new[user]["exec"] == expected_exec(want, plugin.home, ca, "credplugin"), user

    # One line per user on stderr, with the reason for those left as they were.
    reported = lines_of(run.stderr, "converted")
    left = lines_of(run.stderr, "left")
    assert set(reported) == converted
    assert set(left) == set(expected) - converted
    for user, want in expected.items():
        if isinstance(want, Left):
            assert want.reason in left[user], left[user]
        else:
            assert f" -> credplugin {want.args[0]}" in reported[user]
    for secret in SECRETS:
        assert secret not in run.stderr
        for user in converted:
            assert secret not in " ".join(new[user]["exec"]["args"])

    if converted:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A CA given as data went to one private file beside the kubeconfig.
    uses_ca = any("{ca}" in w.args for w in expected.values() if isinstance(w, Converted))
    assert len(bundles) == (1 if uses_ca else 0)
    for bundle in bundles:
        assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
        assert bundle.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert not list(tmp_path.glob("*.lock"))


@pytest.mark.kubectl
@needs_kubectl
@pytest.mark.parametrize("name", FIXTURES)
def test_kubectl_accepts_every_converted_entry(plugin: Plugin, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(PEERS / name, path)
    assert convert(plugin, path).returncode == 0
    for kubectl in KUBECTLS:
        view = run_kubectl(kubectl, path, "config", "view", "--raw", "-o", "json", env=plugin.env)
        assert view.returncode == 0, view.stderr
        assert users_of(json.loads(view.stdout)).keys() == EXPECTED[name].keys()
        for user, want in EXPECTED[name].items():
            if isinstance(want, Converted):
                kubectl_accepts_user(kubectl, path, user, plugin.env)


# -- the command's behaviour --------------------------------------------------------------


def test_dry_run_shows_old_and_new_and_writes_nothing(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    shutil.copy(PEERS / "int128-oidc-login-setup.yaml", path)
    original, mtime = path.read_bytes(), path.stat().st_mtime_ns
    run = convert(plugin, path, "--dry-run")
    assert run.returncode == 0, run.stderr
    assert path.read_bytes() == original and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in path.parent.iterdir()) == ["config"]  # no CA file, no lock
    shown = lines_of(run.stderr, "would convert")
    assert set(shown) == {"oidc", "oidc-homebrew", "oidc-release-binary"}
    old, _, new = shown["oidc-release-binary"].partition(" -> ")
    assert old.startswith(f"kubectl-oidc_login get-token --oidc-issuer-url={ISSUER} ")
    assert "'--oidc-client-secret=***'" in old  # the old command, its secret masked
    assert new.startswith(f"credplugin oidc --issuer-url {ISSUER} --client-id kubernetes")
    assert "--oidc-client-secret moved to the exec env as OIDC_CLIENT_SECRET" in new
    assert lines_of(run.stderr, "left") == {}
    assert "9f3c2a7e-placeholder-client-secret" not in run.stderr
    assert "nothing was written" in run.stderr


def test_output_writes_elsewhere_and_leaves_the_input_untouched(
    plugin: Plugin, tmp_path: Path
) -> None:
    source = tmp_path / "in" / "config"
    source.parent.mkdir()
    shutil.copy(PEERS / "legacy-auth-provider-oidc.yaml", source)
    original = source.read_bytes()
    out = tmp_path / "out" / "converted.yaml"
    out.parent.mkdir()
    run = convert(plugin, source, "--output", str(out))
    assert run.returncode == 0, run.stderr
    assert source.read_bytes() == original
    assert sorted(p.name for p in source.parent.iterdir()) == ["config"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # The CA bundle goes beside the file that names it.
    (bundle,) = ca_bundles(out.parent)
    keycloak = users_of(load(out))["keycloak"]["exec"]
    assert keycloak["args"][-2:] == ["--certificate-authority", str(bundle)]
    assert f"wrote {out}: 2 of 2 user entries of {source} converted" in run.stderr


def test_it_waits_for_kubectls_lock_file(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "config"
    shutil.copy(PEERS / "aws-eks-update-kubeconfig-v1.yaml", path)
    lock = tmp_path / "config.lock"  # what kubectl holds while it changes the file
    lock.write_text("")
    release = threading.Timer(0.5, lock.unlink)
    release.start()
    try:
        started = time.monotonic()
        run = convert(plugin, path)
        waited = time.monotonic() - started
    finally:
        release.cancel()
    assert run.returncode == 0, run.stderr
    assert waited >= 0.4  # it waited for kubectl instead of writing under it
    assert users_of(load(path))["arn:aws:eks:eu-west-1:111122223333:cluster/prod"]["exec"][
        "args"
    ] == ["aws", "--cluster-id", "prod", "--region", "eu-west-1"]
    assert not lock.exists()


def test_user_limits_the_conversion_to_the_named_entries(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "config"
    shutil.copy(PEERS / "aws-iam-authenticator.yaml", path)
    before = users_of(load(path))
    run = convert(plugin, path, "--user", "aws", "--user", "federated")
    assert run.returncode == 0, run.stderr
    after = users_of(load(path))
    assert after["aws"]["exec"]["command"] == "credplugin"
    for user in (
        "kubernetes-admin",
        "alice@prod.eu-west-1.eksctl.io",
        "cross-account",
        "federated",
    ):
        assert after[user] == before[user]
    assert set(lines_of(run.stderr, "converted")) == {"aws"}
    assert set(lines_of(run.stderr, "left")) == {"federated"}

    original = path.read_bytes()
    missing = convert(plugin, path, "--user", "aws", "--user", "nobody")
    assert missing.returncode == 2
    assert "no user 'nobody'" in missing.stderr and "Traceback" not in missing.stderr
    assert path.read_bytes() == original


def test_command_names_the_exec_program(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "config"
    shutil.copy(PEERS / "gcloud-get-credentials.yaml", path)
    run = convert(plugin, path, "--command", "/opt/credplugin/bin/credplugin")
    assert run.returncode == 0, run.stderr
    (user,) = users_of(load(path)).values()
    assert user["exec"]["command"] == "/opt/credplugin/bin/credplugin"
    # The same source as the plugin: gcloud's active account, not Application Default
    # Credentials that the person may never have created.
    assert user["exec"]["args"] == ["google", "--gcloud"]
    assert "gke_acme-platform-prod_europe-west1-b_web" in lines_of(run.stderr, "converted")


def test_default_is_the_first_file_of_kubeconfig(plugin: Plugin, tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    shutil.copy(PEERS / "aws-eks-update-kubeconfig-v2.yaml", first)
    shutil.copy(PEERS / "aws-eks-update-kubeconfig-v1.yaml", second)
    untouched = second.read_bytes()
    run = plugin.run("kubeconfig", "convert", env={"KUBECONFIG": f"{first}{os.pathsep}{second}"})
    assert run.returncode == 0, run.stderr
    (user,) = users_of(load(first)).values()
    assert user["exec"]["args"][0] == "aws"
    assert second.read_bytes() == untouched
    assert f"converting {first}, the first file of $KUBECONFIG" in run.stderr

    home_config = plugin.home / ".kube" / "config"
    home_config.parent.mkdir()
    shutil.copy(PEERS / "gcloud-get-credentials-adc.yaml", home_config)
    assert plugin.run("kubeconfig", "convert").returncode == 0
    (user,) = users_of(load(home_config)).values()
    assert user["exec"]["args"] == ["google-service-account"]


def test_a_file_with_nothing_to_convert_is_not_rewritten(plugin: Plugin, tmp_path: Path) -> None:
    path = tmp_path / "config"
    shutil.copy(PEERS / "azure-kubelogin-ropc.yaml", path)
    original, mtime = path.read_bytes(), path.stat().st_mtime_ns
    run = convert(plugin, path)
    assert run.returncode == 0, run.stderr
    assert path.read_bytes() == original and path.stat().st_mtime_ns == mtime
    assert "it was not changed" in run.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no kubeconfig at"),
        ("", "no kubeconfig at"),
        ("users: [unclosed\n", "is not a valid kubeconfig"),
        ("- a list\n", "is not a kubeconfig (not a mapping)"),
        ("users: {a: b}\n", "users is not a list"),
    ],
)
def test_unreadable_input_fails_with_one_line(
    plugin: Plugin, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "config"
    if content is not None:
        path.write_text(content)
    run = convert(plugin, path)
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    if content is not None:
        assert path.read_text() == content


def test_a_renamed_provider_option_breaks_convert_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options are written by name through the declarations: were `--cluster-id` renamed,
    convert must fail, not write a flag the aws provider no longer parses."""
    declaration = providers.lookup("aws")
    assert declaration is not None
    renamed = tuple(
        Option("cluster-name", opt.help) if opt.name == "cluster-id" else opt
        for opt in declaration.options
    )
    monkeypatch.setattr(declaration, "options", renamed)
    exec_block = {"command": "aws", "args": ["eks", "get-token", "--cluster-name", "prod"]}
    site = peers.Site(directory="/nonexistent", environ={})
    with pytest.raises(KeyError, match="cluster-id"):
        peers.convert_user({"exec": exec_block}, site)


# -- kubeconfigs the real tools write on this machine ------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    pytest.importorskip("flask")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_cli(plugin: Plugin, *args: str, env: Mapping[str, str]) -> None:
    # Anything not on 127.0.0.1 goes to a port where nothing listens.
    tripwire = {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}
    run = subprocess.run(
        ["aws", *args],
        env={**plugin.env, **aws_static_env(), **tripwire, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def write_aws_profile(plugin: Plugin) -> None:
    """Profile `dev` with the static test keys, in the isolated AWS config files."""
    Path(plugin.env["AWS_CONFIG_FILE"]).write_text("[profile dev]\nregion = eu-west-1\n")
    Path(plugin.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[dev]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )


@pytest.fixture(scope="module")
def eks_cluster(moto: str) -> str:
    """An EKS cluster `demo` in eu-west-1, in moto."""
    import boto3

    eks = boto3.client(
        "eks",
        region_name="eu-west-1",
        endpoint_url=moto,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    if "demo" not in eks.list_clusters()["clusters"]:
        eks.create_cluster(
            name="demo",
            roleArn="arn:aws:iam::123456789012:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        )
    return "demo"


needs_aws_cli = pytest.mark.skipif(shutil.which("aws") is None, reason="awscli not installed")


@needs_aws_cli
def test_awscli_update_kubeconfig_entries_convert(
    plugin: Plugin, tmp_path: Path, moto: str, eks_cluster: str
) -> None:
    write_aws_profile(plugin)
    plain, role = tmp_path / "plain.yaml", tmp_path / "role.yaml"
    aws_cli(
        plugin, "--endpoint-url", moto, "--region", "eu-west-1", "eks", "update-kubeconfig",
        "--name", eks_cluster, "--kubeconfig", str(plain), env={},
    )  # fmt: skip
    aws_cli(
        plugin, "--endpoint-url", moto, "--profile", "dev", "eks", "update-kubeconfig",
        "--name", eks_cluster, "--role-arn", ROLE_ARN, "--alias", "demo-admin",
        "--kubeconfig", str(role), env={},
    )  # fmt: skip
    written = users_of(load(role))[CLUSTER_ARN]["exec"]
    assert written["command"] == "aws" and "--role" in written["args"]  # the real tool's spelling

    for path in (plain, role):
        before = load(path)
        run = convert(plugin, path)
        assert run.returncode == 0, run.stderr
        after = load(path)
        assert {k: v for k, v in after.items() if k != "users"} == {
            k: v for k, v in before.items() if k != "users"
        }
    assert users_of(load(plain))[CLUSTER_ARN]["exec"] == expected_exec(
        Converted(("aws", "--cluster-id", "demo", "--region", "eu-west-1")),
        plugin.home,
        None,
        "credplugin",
    )
    assert users_of(load(role))[CLUSTER_ARN]["exec"] == expected_exec(
        Converted(
            (
                "aws", "--cluster-id", "demo", "--region", "eu-west-1", "--role-arn", ROLE_ARN,
                "--session-name", "EKSGetTokenAuth",
            ),
            env=(("AWS_PROFILE", "dev"),),
        ),
        plugin.home,
        None,
        "credplugin",
    )  # fmt: skip


def assumed_role_principals() -> list[AwsPrincipal]:
    """The sessions moto's STS has handed out, as principals the verifier knows."""
    from moto.backends import get_backend
    from moto.core.models import DEFAULT_ACCOUNT_ID

    principals = []
    for region_backend in get_backend("sts")[DEFAULT_ACCOUNT_ID].values():
        for role in region_backend.assumed_roles:
            principals.append(
                AwsPrincipal(
                    role.access_key_id,
                    role.secret_access_key,
                    role.arn,
                    ACCOUNT,
                    role.user_id,
                    session_token=role.session_token,
                )
            )
    return principals


def point_cluster_at(path: Path, server: str, ca_b64: str) -> None:
    """The cluster entry of an awscli kubeconfig, aimed at the API stand-in (moto's endpoint
    is a made-up host); the converted user entry stays as convert wrote it."""
    doc = load(path)
    (cluster,) = doc["clusters"]
    cluster["cluster"] = {"server": server, "certificate-authority-data": ca_b64}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.mark.kubectl
@needs_kubectl
@needs_aws_cli
@pytest.mark.parametrize("with_role", [False, True], ids=["static-keys", "assume-role"])
def test_converted_awscli_entry_takes_kubectl_to_an_eks_verified_cluster(
    plugin: Plugin,
    tmp_path: Path,
    moto: str,
    eks_cluster: str,
    apiserver: FakeAPIServer,
    tls: TLSMaterial,
    with_role: bool,
) -> None:
    write_aws_profile(plugin)
    path = tmp_path / "config"
    role_args = ("--profile", "dev", "--role-arn", ROLE_ARN) if with_role else ()
    aws_cli(
        plugin, "--endpoint-url", moto, "--region", "eu-west-1", "eks", "update-kubeconfig",
        "--name", eks_cluster, *role_args, "--kubeconfig", str(path), env={},
    )  # fmt: skip
    run = convert(plugin, path, "--command", credplugin_command()[0])
    assert run.returncode == 0, run.stderr
    point_cluster_at(path, apiserver.url, tls.ca_b64)

    static = AwsPrincipal(ACCESS_KEY, SECRET_KEY, USER_ARN, ACCOUNT, "AIDAEXAMPLEUSERID")

    def authenticate(token: str) -> str:
        verifier = EksTokenVerifier(eks_cluster, principals=[static, *assumed_role_principals()])
        identity = verifier.verify(token)
        return f"{identity.canonical_arn} session={identity.session_name}"

    apiserver.add_authenticator(authenticate)
    # Static keys for the default chain or profile dev; moto's STS answers the AssumeRole.
    env = {**plugin.env, **aws_static_env(), "AWS_ENDPOINT_URL_STS": moto}
    result = run_kubectl(KUBECTLS[-1], path, "get", "ns", env=env)
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout
    identities = {r.identity for r in apiserver.authenticated_requests()}
    if with_role:
        # The identity `aws eks get-token --role-arn` had: the role, session EKSGetTokenAuth.
        assert identities == {f"{ROLE_ARN} session=EKSGetTokenAuth"}
    else:
        assert identities == {f"{USER_ARN} session="}


class _ContainerAPI(LoopbackHandler):
    """GKE's `projects.locations.clusters.get`, as gcloud get-credentials calls it."""

    server: LoopbackHTTPServer[GKEStandIn]

    def do_GET(self) -> None:
        parts = self.path.partition("?")[0].strip("/").split("/")
        if len(parts) != 7 or parts[:2] != ["v1", "projects"] or parts[5] != "clusters":
            self.send_error(404)
            return
        body = json.dumps(
            {
                "name": parts[6],
                "location": parts[4],
                "zone": parts[4],
                "status": "RUNNING",
                "endpoint": "34.76.142.18",
                "masterAuth": {"clusterCaCertificate": self.server.owner.ca_b64},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class GKEStandIn:
    def __init__(self, ca_b64: str) -> None:
        self.ca_b64 = ca_b64
        self._httpd = LoopbackHTTPServer(self, _ContainerAPI)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/"
        self._httpd.serve_in_thread("gke-standin")

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def gke_api(tls: TLSMaterial) -> Iterator[GKEStandIn]:
    standin = GKEStandIn(tls.ca_b64)
    yield standin
    standin.close()


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud not installed")
@pytest.mark.parametrize(
    ("variant", "gcloud_env", "want"),
    [
        ("gcloud-account", {}, Converted(("google", "--gcloud"), mode=PERSON)),
        (
            "adc",
            {"CLOUDSDK_CONTAINER_USE_APPLICATION_DEFAULT_CREDENTIALS": "true"},
            Converted(("google-service-account",)),
        ),
        (
            "auth-provider",
            {"USE_GKE_GCLOUD_AUTH_PLUGIN": "False"},
            Converted(("google", "--gcloud"), mode=PERSON),
        ),
    ],
)
def test_gcloud_get_credentials_entries_convert(
    plugin: Plugin,
    tmp_path: Path,
    gke_api: GKEStandIn,
    variant: str,
    gcloud_env: dict[str, str],
    want: Converted,
) -> None:
    path = tmp_path / "config"
    env = {
        **plugin.env,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "KUBECONFIG": str(path),
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER": gke_api.url,
        # No account at all: gcloud sends this as the bearer token.
        "CLOUDSDK_AUTH_ACCESS_TOKEN": "fake-access-token",
        # Anything not on 127.0.0.1 goes to a port where nothing listens.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        **gcloud_env,
    }
    gcloud = subprocess.run(
        ["gcloud", "container", "clusters", "get-credentials", "web",
         "--zone", "europe-west1-b", "--project", "acme"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert gcloud.returncode == 0, gcloud.stderr
    user_name = "gke_acme_europe-west1-b_web"
    written = users_of(load(path))[user_name]
    assert ("auth-provider" in written) == (variant == "auth-provider")
    before = load(path)
    run = convert(plugin, path)
    assert run.returncode == 0, run.stderr
    after = load(path)
    assert {k: v for k, v in after.items() if k != "users"} == {
        k: v for k, v in before.items() if k != "users"
    }
    assert users_of(after)[user_name] == {
        "exec": expected_exec(want, plugin.home, None, "credplugin")
    }
    for kubectl in KUBECTLS:
        kubectl_accepts_user(kubectl, path, user_name, plugin.env)


def test_certificate_data_that_is_not_a_certificate_is_left(plugin: Plugin, tmp_path: Path) -> None:
    doc = load(PEERS / "legacy-auth-provider-oidc.yaml")
    keycloak = doc["users"][1]["user"]["auth-provider"]["config"]
    keycloak["idp-certificate-authority-data"] = base64.b64encode(b"not a certificate").decode()
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    run = convert(plugin, path)
    assert run.returncode == 0, run.stderr
    assert "holds no PEM certificate" in lines_of(run.stderr, "left")["keycloak"]
    assert "refresh-token" in lines_of(run.stderr, "left")["keycloak"]  # said to stay in the file
    assert users_of(load(path))["keycloak"] == doc["users"][1]["user"]
    assert not ca_bundles(tmp_path)


# -- a converted Azure service principal gets its token --------------------------------------


@pytest.mark.parametrize("secret_in", ["args", "kubelogin-env"])
def test_converted_kubelogin_spn_entry_gets_a_token_from_entra(
    plugin: Plugin, tmp_path: Path, tls: TLSMaterial, proxy: RefusingProxy, secret_in: str
) -> None:
    """The secret kubelogin had as --client-secret (or as its own AAD_ variable) is where
    the azure provider reads it: the converted entry, run as kubectl runs it, is issued the
    service principal's token by the Entra stand-in."""
    secret = "Plc8Q~placeholder.e2e-secret-value"
    with EntraStandIn(tls) as entra:
        entra.add_service_principal(SPN, TENANT, secret=secret)
        use_entra(plugin, entra, tls, proxy)
        plugin.env.pop("AZURE_AUTHORITY_HOST")  # the entry names its authority host itself
        args = [
            "get-token", "--login", "spn", "--server-id", AKS_SERVER_ID, "--client-id", SPN,
            "--tenant-id", TENANT, "--authority-host", entra.url + "/",
        ]  # fmt: skip
        env = []
        if secret_in == "args":
            args += ["--client-secret", secret]
        else:
            env = [{"name": "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET", "value": secret}]
        path = tmp_path / "config"
        exec_block = {"apiVersion": V1, "command": "kubelogin", "args": args, "env": env}
        path.write_text(yaml.safe_dump({"users": [{"name": "sp", "user": {"exec": exec_block}}]}))
        run = convert(plugin, path)
        assert run.returncode == 0, run.stderr
        assert secret not in run.stderr
        converted = users_of(load(path))["sp"]["exec"]
        assert secret not in converted["args"]
        entry_env = {item["name"]: item["value"] for item in converted["env"]}
        assert entry_env == {"AZURE_CLIENT_SECRET": secret}
        token = token_of(plugin.run(*converted["args"], env=entry_env).credential())
        claims = entra.verify(token, AKS_SERVER_ID)
        assert (claims["appid"], claims["tid"], claims["idtyp"]) == (SPN, TENANT, "app")
        assert proxy.targets == []  # nothing went to the real Entra
