"""Honest compatibility: a peer's exec entry works with only its command replaced.

Every peer kubeconfig in tests/data/peer-kubeconfigs/ (its README says where each came from)
is run with its args untouched after `credplugin <provider>`: each either resolves to the same
values and cache key as the native spelling written out here, or is refused with exit 2 and a
message saying why and what to do instead. Then one real run per peer family against the
stand-ins the provider tests use: aws (static credentials, the EKS verifier), Azure kubelogin
(the Entra stand-in: a service principal, and a device-code login), int128 kubelogin (client
credentials against HostileIdP, which is a well-behaved issuer by default).
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import click
import pytest
import yaml

from credplugin import peerargs, providers
from credplugin.cli import cli
from credplugin.errors import UsageError
from credplugin.invocation import Invocation
from credplugin.options import COMMON_OPTIONS, parse_argv
from credplugin.peerargs import go_bool, go_duration, split_csv, string_to_string
from tests.conftest import (
    V1,
    Plugin,
    Run,
    aws_static_env,
    clean_environ,
    credplugin_command,
    exec_info,
    token_of,
    use_entra,
)
from tests.standins.eks_verifier import EksTokenVerifier
from tests.standins.entra import AKS_SERVER_ID, EntraStandIn, RefusingProxy
from tests.standins.tls import TLSMaterial
from tests.test_aws import static_principal
from tests.test_hot_path import heavy, loaded_modules

PEERS = Path(__file__).parent / "data" / "peer-kubeconfigs"
SERVER = "https://cluster.example:6443"
ISSUER = "https://keycloak.corp.example.com/realms/platform"
CLIENT_SECRET = "9f3c2a7e-placeholder-client-secret"
TENANT = "3f2b7c1e-8d4a-4b6e-9c2f-5a1d0e7b6c48"
SP_CLIENT = "5c7e1f0a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
AKS_SCOPE = f"{AKS_SERVER_ID}/.default"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/KubernetesAdmin"


def peer_entry(file: str, user: str) -> tuple[list[str], dict[str, str]]:
    """The exec args and env of `user` in the peer kubeconfig `file`, untouched."""
    doc = yaml.safe_load((PEERS / file).read_text())
    found = next(u["user"]["exec"] for u in doc["users"] if u["name"] == user)
    args = [str(word) for word in found.get("args") or []]
    env = {item["name"]: str(item["value"]) for item in found.get("env") or []}
    return args, env


@pytest.fixture
def environ(isolated_home: Path, tmp_path: Path) -> dict[str, str]:
    env = clean_environ(isolated_home)
    env["CREDPLUGIN_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def translated(name: str, argv: list[str], environ: Mapping[str, str]) -> Invocation:
    provider = providers.lookup(name)
    assert provider is not None
    with pytest.raises(UsageError):  # only an argv ours refuse is ever translated
        parse_argv(provider.options + COMMON_OPTIONS, argv)
    found = peerargs.read(provider, argv, environ)
    assert found is not None, argv
    return Invocation(provider, found[1], {}, SERVER, environ)


def native(name: str, argv: list[str], environ: Mapping[str, str]) -> Invocation:
    provider = providers.lookup(name)
    assert provider is not None
    return Invocation(
        provider, parse_argv(provider.options + COMMON_OPTIONS, argv), {}, SERVER, environ
    )


def assert_same(theirs: Invocation, ours: Invocation) -> None:
    assert theirs.values == ours.values
    assert theirs.key == ours.key


# -- every documented entry, with only the command swapped -------------------------------------

# (file, user, provider, the same entry written natively); "{home}" is $HOME, "{ca}" the
# bundle file an entry's --certificate-authority-data becomes (checked separately).
AKS_USER = "clusterUser_rg-platform-prod_aks-prod"
EKS_PROD = "arn:aws:eks:eu-west-1:111122223333:cluster/prod"
SAME = [
    # int128 kubelogin
    (
        "int128-oidc-login-setup.yaml",
        "oidc",
        "oidc",
        f"--issuer-url {ISSUER} --client-id kubernetes --client-secret {CLIENT_SECRET} "
        "--extra-scope email --extra-scope groups --certificate-authority {ca} "
        "--auth-request-extra-params prompt=consent --redirect-url http://localhost",
    ),
    (
        "int128-oidc-login-setup.yaml",
        "oidc-homebrew",
        "oidc",
        f"--issuer-url {ISSUER} --client-id kubernetes-cli --grant-type device-code "
        "--use-access-token --skip-open-browser --certificate-authority "
        "{home}/.kube/corp-root-ca.pem --cache-dir /home/alice/.cache/oidc -v",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "setup-with-redirect",
        "oidc",
        f"--issuer-url {ISSUER} --client-id kubernetes --redirect-url http://localhost:8000 "
        "--extra-scope email --auth-request-extra-params prompt=consent "
        "--auth-request-extra-params max_age=0",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "password-grant",
        "oidc",
        f"--issuer-url {ISSUER} --client-id kubernetes --username alice --grant-type password",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "client-credentials",
        "oidc",
        f"--issuer-url {ISSUER} --client-id ci-robot --client-secret "
        "robot-placeholder-client-secret --grant-type client-credentials "
        "--extra-scope kubernetes",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "client-credentials-extra-params",
        "oidc",
        f"--issuer-url {ISSUER} --client-id ci-robot --client-secret "
        "robot-placeholder-client-secret --grant-type client-credentials "
        "--auth-request-extra-params audience=kubernetes",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "keyboard",
        "oidc",
        f"--issuer-url {ISSUER} --client-id kubernetes --grant-type authcode-keyboard "
        "--redirect-url urn:ietf:wg:oauth:2.0:oob --auth-request-extra-params prompt=login",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "old-listen-port",
        "oidc",
        f"--issuer-url {ISSUER} --client-id kubernetes --redirect-url http://localhost:8000 "
        "--listen-address 127.0.0.1:8000 --listen-address 127.0.0.1:18000 "
        "--insecure-skip-tls-verify --force-refresh",
    ),
    # Azure kubelogin: a person's login -> aks
    ("az-aks-get-credentials-exec.yaml", AKS_USER, "aks", f"--tenant-id {TENANT}"),
    ("azure-kubelogin-devicecode.yaml", AKS_USER, "aks", f"--tenant-id {TENANT}"),
    (
        "azure-kubelogin-interactive.yaml",
        AKS_USER,
        "aks",
        f"--tenant-id {TENANT} --login interactive --login-hint alice@contoso.example",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "interactive-login-hint",
        "aks",
        f"--tenant-id {TENANT} --login interactive --login-hint alice@contoso.example",
    ),
    # kubelogin lets AAD_LOGIN_METHOD override --login; here the arguments always win.
    ("azure-kubelogin-variants.yaml", "env-selects-interactive", "aks", f"--tenant-id {TENANT}"),
    (
        "azure-kubelogin-variants.yaml",
        "short-flags-usgov",
        "aks",
        f"--tenant-id {TENANT} --authority-host https://login.microsoftonline.us -vv "
        "--timeout 90 --cache-dir /home/alice/.kube/cache/kubelogin",
    ),
    # Azure kubelogin: the machine's identity -> azure
    (
        "azure-kubelogin-msi.yaml",
        AKS_USER,
        "azure",
        "--credential managed-identity --client-id 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d "
        f"--scope {AKS_SCOPE}",
    ),
    (
        "azure-kubelogin-workloadidentity.yaml",
        AKS_USER,
        "azure",
        f"--credential workload-identity --scope {AKS_SCOPE}",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "azurecli-tenant",
        "azure",
        f"--credential cli --tenant-id {TENANT} --scope {AKS_SCOPE}",
    ),
    # aws eks update-kubeconfig (aws CLI v1 and v2)
    ("aws-eks-update-kubeconfig-v1.yaml", EKS_PROD, "aws", "--region eu-west-1 --cluster-id prod"),
    (
        "aws-eks-update-kubeconfig-v1-outposts.yaml",
        "arn:aws:eks:us-west-2:111122223333:cluster/edge",
        "aws",
        "--region us-west-2 --cluster-id 3d4f8a2e-7c1b-4e5a-9f60-2b8c1d9e0a7f",
    ),
    (
        "aws-eks-update-kubeconfig-v2.yaml",
        "arn:aws:eks:us-east-2:111122223333:cluster/staging",
        "aws",
        "--region us-east-2 --cluster-id staging",
    ),
    (
        "aws-eks-update-kubeconfig-v2-profile-role.yaml",
        EKS_PROD,
        "aws",
        "--region eu-west-1 --cluster-id prod --role-arn "
        "arn:aws:iam::111122223333:role/eks-admins --session-name EKSGetTokenAuth",
    ),
    (
        "aws-variants.yaml",
        "cli-profile-debug",
        "aws",
        "--profile ops --cluster-id prod --region eu-west-1 -vv",
    ),
    # aws-iam-authenticator
    (
        "aws-iam-authenticator.yaml",
        "kubernetes-admin",
        "aws",
        f"--cluster-id prod --role-arn {ADMIN_ROLE}",
    ),
    ("aws-iam-authenticator.yaml", "aws", "aws", "--cluster-id prod"),
    ("aws-iam-authenticator.yaml", "alice@prod.eu-west-1.eksctl.io", "aws", "--cluster-id prod"),
    (
        "aws-iam-authenticator.yaml",
        "cross-account",
        "aws",
        "--cluster-id prod --role-arn arn:aws:iam::444455556666:role/eks-readonly "
        "--external-id 7c1e2f3a-partner-external-id --session-name alice-ci --region eu-west-1",
    ),
    # its cluster id and role from KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID and DEFAULT_ROLE
    (
        "aws-variants.yaml",
        "authenticator-env",
        "aws",
        f"--cluster-id prod --role-arn {ADMIN_ROLE}",
    ),
    ("aws-variants.yaml", "heptio", "aws", f"--cluster-id prod --role-arn {ADMIN_ROLE} -vv"),
]


@pytest.mark.parametrize(
    ("file", "user", "name", "ours"), SAME, ids=[f"{c[0]}:{c[1]}" for c in SAME]
)
def test_a_peer_entry_means_what_its_native_spelling_means(
    file: str, user: str, name: str, ours: str, environ: dict[str, str], isolated_home: Path
) -> None:
    args, env = peer_entry(file, user)
    environ.update(env)
    theirs = translated(name, args, environ)
    ca = str(theirs.values.get("certificate_authority"))
    if "{ca}" in ours:
        data = next(w for w in args if w.startswith("--certificate-authority-data="))
        assert Path(ca).read_bytes() == base64.b64decode(data.partition("=")[2])
        assert Path(ca).parent == Path(environ["CREDPLUGIN_CACHE_DIR"])
        assert Path(ca).stat().st_mode & 0o077 == 0
    words = ours.replace("{home}", str(isolated_home)).replace("{ca}", ca).split()
    assert_same(theirs, native(name, words, environ))


# Whether credplugin has a keyring token store yet (--token-store): int128's
# --token-cache-storage=keyring means it when it does, and is refused until then.
TOKEN_STORE = any(o.name == "token-store" for o in COMMON_OPTIONS)
NO_KEYRING = "--token-cache-storage=keyring is not supported: credplugin has no keyring token store"


def test_int128_release_binary_entry_means_its_native_spelling(
    environ: dict[str, str], isolated_home: Path, plugin: Plugin
) -> None:
    """int128's release-binary example keeps its tokens in the keyring: our keyring store when
    there is one, else refused; with only --token-cache-storage=keyring removed, it is the
    same as its native spelling either way."""
    args, _ = peer_entry("int128-oidc-login-setup.yaml", "oidc-release-binary")
    if not TOKEN_STORE:
        assert_refused(plugin.run("oidc", *args, exec_info=exec_info(V1)), NO_KEYRING)
        args.remove("--token-cache-storage=keyring")
    theirs = translated("oidc", args, environ)
    ours = [
        *("--issuer-url", ISSUER, "--client-id", "kubernetes", "--client-secret", CLIENT_SECRET),
        *("--extra-scope", "email", "--extra-scope", "groups", "--extra-scope", "offline_access"),
        *("--auth-request-extra-params", "prompt=consent"),
        *("--auth-request-extra-params", "ttl=86400"),
        *("--certificate-authority", str(theirs.values["certificate_authority"])),
        *("--cache-dir", f"{isolated_home}/.kube/cache/oidc-login-platform"),
        *("--grant-type", "authcode"),
        *("--listen-address", "127.0.0.1:8000", "--listen-address", "127.0.0.1:18000"),
        *("--authentication-timeout", "120", "--redirect-url", "http://localhost:8000/callback"),
        *(("--token-store", "keyring") if TOKEN_STORE else ()),
    ]
    assert_same(theirs, native("oidc", ours, environ))


@pytest.mark.parametrize(("storage", "store"), [("keyring", "keyring"), ("disk", "file")])
def test_int128_token_cache_storage_is_our_token_store(
    storage: str, store: str, environ: dict[str, str], plugin: Plugin
) -> None:
    argv = [*OIDC, f"--token-cache-storage={storage}"]
    browser = [*OIDC_NATIVE, *INT128_REDIRECT.split()]
    if TOKEN_STORE:
        ours = [*browser, "--token-store", store]
        assert_same(translated("oidc", argv, environ), native("oidc", ours, environ))
    elif storage == "disk":  # credplugin's one cache is on disk
        assert_same(translated("oidc", argv, environ), native("oidc", browser, environ))
    else:
        assert_refused(plugin.run("oidc", *argv, exec_info=exec_info(V1)), NO_KEYRING)


def test_a_workload_identity_token_file_is_accepted_when_it_is_the_environments(
    environ: dict[str, str],
) -> None:
    args, _ = peer_entry("azure-kubelogin-variants.yaml", "workloadidentity-flags")
    environ["AZURE_FEDERATED_TOKEN_FILE"] = "/var/run/secrets/azure/tokens/azure-identity-token"
    ours = [
        *("--credential", "workload-identity", "--client-id"),
        *("7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b3a", "--tenant-id", TENANT),
        *("--authority-host", "https://login.microsoftonline.us/", "--scope", AKS_SCOPE),
    ]
    assert_same(translated("azure", args, environ), native("azure", ours, environ))


@pytest.mark.parametrize(
    ("environment", "credential"),
    [
        ({"AZURE_CLIENT_SECRET": "s"}, "client-secret"),
        ({"AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, "client-certificate"),
        ({"AZURE_CLIENT_SECRET": "s", "AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, "client-secret"),
        ({}, "client-secret"),
    ],
)
def test_a_service_principal_uses_the_secret_or_certificate_the_environment_holds(
    environment: dict[str, str], credential: str, environ: dict[str, str]
) -> None:
    """kubelogin's spn login takes a secret first, else a certificate."""
    args, _ = peer_entry("azure-kubelogin-variants.yaml", "spn-secret-from-shell")
    environ.update(environment)
    ours = ["--credential", credential, "--client-id", SP_CLIENT, "--tenant-id", TENANT]
    ours += ["--scope", AKS_SCOPE]
    assert_same(translated("azure", args, environ), native("azure", ours, environ))


# -- flags and values across the families ------------------------------------------------------

OIDC = ["get-token", f"--oidc-issuer-url={ISSUER}", "--oidc-client-id=k"]
OIDC_NATIVE = ["--issuer-url", ISSUER, "--client-id", "k"]
# int128's redirect URI for its browser login, http://localhost:<bound port>, spelled as ours:
# what int128's `get-token` means when it names no --oidc-redirect-url.
INT128_REDIRECT = "--redirect-url http://localhost"

# (provider, a peer argv, the same written natively); an oidc argv follows OIDC, and its native
# spelling OIDC_NATIVE.
SPELLINGS = [
    (
        "oidc",
        "--oidc-extra-scope=email,groups",
        f"--extra-scope email --extra-scope groups {INT128_REDIRECT}",
    ),
    ("oidc", '--oidc-extra-scope="a,b",c', f"--extra-scope a,b --extra-scope c {INT128_REDIRECT}"),
    ("oidc", "--oidc-extra-scope=", INT128_REDIRECT),
    ("oidc", "--skip-open-browser=true", f"--skip-open-browser {INT128_REDIRECT}"),
    ("oidc", "--skip-open-browser=t --skip-open-browser=False", INT128_REDIRECT),
    ("oidc", "--oidc-use-access-token=1", f"--use-access-token {INT128_REDIRECT}"),
    ("oidc", "--insecure-skip-tls-verify=TRUE", f"--insecure-skip-tls-verify {INT128_REDIRECT}"),
    ("oidc", "--force-refresh=true", f"--force-refresh {INT128_REDIRECT}"),
    ("oidc", "--grant-type=auto", INT128_REDIRECT),
    ("oidc", "--grant-type=auto --username=u", "--username u --grant-type password"),
    ("oidc", "--username=u", "--username u --grant-type password"),
    ("oidc", "--grant-type=device-code --username=u", "--username u --grant-type device-code"),
    (
        "oidc",
        "--listen-address=127.0.0.1:8000,[::1]:18000",
        f"--listen-address 127.0.0.1:8000 --listen-address [::1]:18000 {INT128_REDIRECT}",
    ),
    ("oidc", "--authentication-timeout-sec=60", f"--authentication-timeout 60 {INT128_REDIRECT}"),
    ("oidc", "--oidc-redirect-url=http://localhost", "--redirect-url http://localhost"),
    ("oidc", "--oidc-pkce-method=auto --oidc-pkce-method=S256 --oidc-use-pkce", INT128_REDIRECT),
    ("oidc", "--token-cache-storage=none", f"--no-cache {INT128_REDIRECT}"),
    ("oidc", "--token-cache-dir=/tmp/c", f"--cache-dir /tmp/c {INT128_REDIRECT}"),
    (
        "oidc",
        "--oidc-auth-request-extra-params=a=1,2",
        f"--auth-request-extra-params a=1,2 {INT128_REDIRECT}",
    ),
    (
        "oidc",
        "--oidc-auth-request-extra-params=a=1 --oidc-auth-request-extra-params=a=2",
        f"--auth-request-extra-params a=2 {INT128_REDIRECT}",
    ),
    ("oidc", "--open-url-after-authentication=https://x --tls-renegotiation-once", INT128_REDIRECT),
    (
        "oidc",
        "--certificate-authority=/ca.pem",
        f"--certificate-authority /ca.pem {INT128_REDIRECT}",
    ),
    ("oidc", "-v1", f"-v {INT128_REDIRECT}"),
    ("oidc", "--v=4", f"-vv {INT128_REDIRECT}"),
    ("oidc", "-v 0", INT128_REDIRECT),
    ("oidc", "-v=2 -v", f"-vv {INT128_REDIRECT}"),  # klog's level, and our own -v
    ("oidc", "--logtostderr --log_dir /tmp --vmodule=x=2", INT128_REDIRECT),
    (
        "aks",
        "get-token -t t -e AzureChinaCloud",
        "-t t --authority-host https://login.chinacloudapi.cn",
    ),
    (
        "aks",
        "get-token -t t --environment azurecloud --authority-host https://a.example/",
        "-t t --authority-host https://a.example/",
    ),
    ("aks", "get-token -t t --timeout 1m30s -v4", "-t t --timeout 90 -vv"),
    ("aks", "get-token -t t --timeout=45", "-t t --timeout 45"),
    ("aks", "get-token -t t --token-cache-dir /c", "-t t --cache-dir /c"),
    ("aks", "get-token -t t --legacy=false --pop-enabled=0", "-t t"),
    ("aks", "get-token -t t --disable-environment-override --disable-instance-discovery", "-t t"),
    ("aks", "get-token -t t -l interactive --redirect-url http://localhost", "-t t -l interactive"),
    (
        "azure",
        "get-token -l azurecli --server-id api://x/",
        "--credential cli --scope api://x/.default",
    ),
    (
        "azure",
        "get-token -l msi --server-id x/.default",
        "--credential managed-identity --scope x/.default",
    ),
    ("azure", "--server-id S --client-id c", "--scope S/.default --client-id c"),
    ("azure", "get-token --credential cli --server-id S", "--credential cli --scope S/.default"),
    ("aws", "token -i c -v info --log-format=json --cache", "--cluster-id c"),
    ("aws", "token -vi c", "-v --cluster-id c"),
    ("aws", "token -i c --log-verbosity=trace --feature-gates=A=true", "--cluster-id c -vv"),
    ("aws", "token -i c --token-only=false --no-sign-request=f", "--cluster-id c"),
    (
        "aws",
        "eks get-token --cluster-id c --role-arn r --session-name s",
        "--cluster-id c --role-arn r --session-name s",
    ),
    (
        "aws",
        "eks get-token --cluster-name c --cli-read-timeout 60 --cli-connect-timeout=5",
        "--cluster-id c --timeout 60",
    ),
    ("aws", "eks get-token --cluster-name c --cli-read-timeout 0 --no-cli-pager", "--cluster-id c"),
    ("aws", "--color off eks get-token --cluster-name c --output json", "--cluster-id c"),
]


@pytest.mark.parametrize(("name", "argv", "ours"), SPELLINGS)
def test_peer_spellings_and_values_translate(
    name: str, argv: str, ours: str, environ: dict[str, str]
) -> None:
    theirs, native_argv = argv.split(), ours.split()
    if name == "oidc":
        theirs, native_argv = OIDC + theirs, OIDC_NATIVE + native_argv
    assert_same(translated(name, theirs, environ), native(name, native_argv, environ))


def test_without_the_peers_command_only_spellings_translate(environ: dict[str, str]) -> None:
    """int128's `get-token` makes its defaults apply (--username means the password grant);
    without it, our own defaults stay (the browser login)."""
    argv = [f"--oidc-issuer-url={ISSUER}", "--oidc-client-id=k", "--username=u", "-v1"]
    ours = [*OIDC_NATIVE, "--username", "u", "-v"]
    assert_same(translated("oidc", argv, environ), native("oidc", ours, environ))


def test_the_canonical_argv_is_spelled_from_the_declarations(environ: dict[str, str]) -> None:
    provider = providers.lookup("oidc")
    assert provider is not None
    found = peerargs.read(provider, [*OIDC, "--oidc-extra-scope=a,b", "-v1"], environ)
    assert found is not None
    words, _ = found
    flags = {o.flag for o in provider.options + COMMON_OPTIONS}
    assert [w for w in words if w.startswith("-")] == [
        "--issuer-url",
        "--client-id",
        "--extra-scope",
        "--extra-scope",
        "--redirect-url",
        "--verbose",
    ]
    assert {w for w in words if w.startswith("-")} <= flags


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("aws", ["eks", "describe-cluster", "--name", "prod"]),
        ("aws", ["token", "-i", "prod", "--frobnicate"]),
        ("oidc", ["get-token", "extra"]),
        ("oidc", [*OIDC, "--"]),
        ("google", ["get-token"]),  # no peers module
    ],
)
def test_what_no_peer_reads_is_left_to_the_ordinary_usage_error(
    name: str, argv: list[str], environ: dict[str, str]
) -> None:
    provider = providers.lookup(name)
    assert provider is not None
    assert peerargs.read(provider, argv, environ) is None


# -- refused, with the reason, through the real CLI ------------------------------------------


REFUSED_FIXTURES = [
    (
        "int128-oidc-login-variants.yaml",
        "password-in-args",
        "oidc",
        "--password is not supported: credplugin never takes a password from its arguments",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "listen-on-all-interfaces",
        "oidc",
        "--listen-address 0.0.0.0:8000 is not supported: credplugin binds its login listener "
        "to loopback only",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "request-header",
        "oidc",
        "--oidc-request-header is not supported",
    ),
    (
        "int128-oidc-login-variants.yaml",
        "pkce-off",
        "oidc",
        "--oidc-pkce-method=no is not supported: credplugin always uses PKCE (S256)",
    ),
    (
        "azure-kubelogin-spn.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "azure",
        "--client-secret is not supported: credplugin never takes a service principal's credential "
        "from its arguments, which other users of the machine can read; put it in the exec "
        "entry's env as AZURE_CLIENT_SECRET",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "spn-certificate-china",
        "azure",
        "--client-certificate is not supported: credplugin never takes a service principal's "
        "credential from its arguments, which other users of the machine can read; set "
        "AZURE_CLIENT_CERTIFICATE_PATH in the exec entry's env",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "spn-secret-in-env",
        "azure",
        "$AAD_SERVICE_PRINCIPAL_CLIENT_SECRET is Azure kubelogin's: credplugin reads "
        "$AZURE_CLIENT_SECRET; rename it to AZURE_CLIENT_SECRET in the exec entry's env",
    ),
    (
        "azure-kubelogin-ropc.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "azure",
        "--login ropc is not supported: Entra ID's password grant fails",
    ),
    (
        "azure-kubelogin-azd.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "azure",
        "--login azd is not supported: credplugin has no Azure Developer CLI credential",
    ),
    (
        "azure-kubelogin-azurepipelines.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "azure",
        "--login azurepipelines is not supported: credplugin has no Azure Pipelines credential",
    ),
    (
        "azure-kubelogin-azurecli.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "azure",
        "--subscription is not supported: credplugin cannot choose the Azure CLI's "
        "subscription yet",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "msi-resource-id",
        "azure",
        "--identity-resource-id is not supported: credplugin picks a user-assigned managed "
        "identity by its client id only",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "workloadidentity-flags",
        "azure",
        "--federated-token-file is not supported: credplugin reads the workload identity's token "
        "file from $AZURE_FEDERATED_TOKEN_FILE only",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "devicecode-legacy",
        "aks",
        "--legacy is not supported: credplugin gets no AAD v1 tokens",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "german-cloud",
        "aks",
        "--environment AzureGermanCloud is not supported: credplugin knows AzurePublicCloud, "
        "AzureUSGovernmentCloud and AzureChinaCloud (Azure kubelogin would quietly use the "
        "public cloud); pass --authority-host URL for another cloud",
    ),
    (
        "azure-kubelogin-variants.yaml",
        "interactive-pop",
        "aks",
        "--pop-enabled is not supported: credplugin gets no proof-of-possession tokens",
    ),
    # the right login, on the other subcommand
    (
        "azure-kubelogin-msi.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "aks",
        "--login msi signs in as this machine's own identity, which is credplugin azure",
    ),
    (
        "azure-kubelogin-devicecode.yaml",
        "clusterUser_rg-platform-prod_aks-prod",
        "azure",
        "--login devicecode signs a person in, which is credplugin aks",
    ),
    (
        "aws-iam-authenticator.yaml",
        "federated",
        "aws",
        "--forward-session-name is not supported: credplugin cannot yet name the role session "
        "after the caller; pass --session-name NAME",
    ),
    (
        "aws-variants.yaml",
        "cli-endpoint-url",
        "aws",
        "--endpoint-url is not supported: the token would name that host; EKS takes only tokens "
        "for its regional STS host",
    ),
]

SECRETS = (CLIENT_SECRET, "hunter2-placeholder-password", "Plc8Q~placeholder", "pfx-placeholder")


def assert_refused(run: Run, message: str) -> None:
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert message in " ".join(run.stderr.split()), run.stderr
    assert run.stderr.count("Error:") == 1 and "Traceback" not in run.stderr
    for secret in SECRETS:
        assert secret not in run.stderr


@pytest.mark.parametrize(
    ("file", "user", "name", "message"),
    REFUSED_FIXTURES,
    ids=[f"{c[0]}:{c[1]}:{c[2]}" for c in REFUSED_FIXTURES],
)
def test_a_peer_entry_we_deliberately_do_not_run_is_refused_with_the_reason(
    file: str, user: str, name: str, message: str, plugin: Plugin
) -> None:
    args, env = peer_entry(file, user)
    assert_refused(plugin.run(name, *args, env=env, exec_info=exec_info(V1)), message)


# (provider, a flag after PREFIX's argv, what the refusal says)
REFUSED_FLAGS = [
    (
        "oidc",
        "--local-server-cert=/c.pem --local-server-key=/k.pem",
        "--local-server-cert is not supported: the login redirect comes back over plain http",
    ),
    (
        "oidc",
        "--oidc-redirect-url-hostname=localhost",
        "--oidc-redirect-url-hostname is not supported: int128 kubelogin itself removed it",
    ),
    ("oidc", "--skip-open-browser=maybe", "--skip-open-browser='maybe' is not a boolean"),
    ("oidc", "--listen-address=10.0.0.1:8000", "--listen-address 10.0.0.1:8000 is not supported"),
    ("aks", "--timeout soon", "--timeout 'soon' is not a duration"),
    ("aks", "--use-azurerm-env-vars", "--use-azurerm-env-vars is not supported"),
    ("aks", "--pop-claims u=x", "--pop-claims is not supported"),
    ("aks", "-l nope", "-l 'nope' is not an Azure kubelogin login method"),
    ("azure", "--password hunter2-placeholder-password", "--password is not supported"),
    ("azure", "--client-certificate-password pfx-placeholder", "--client-certificate-password is"),
    ("aws", "--token-only", "--token-only is not supported: credplugin always prints an Exec"),
    ("aws", "--config /etc/a.yaml", "--config is not supported: credplugin reads no aws-iam-auth"),
    ("aws", "--no-verify-ssl", "--no-verify-ssl is not supported: credplugin never turns TLS"),
    ("aws", "--query status.token", "--query is not supported"),
    ("aws", "--no-sign-request", "--no-sign-request is not supported"),
    ("aws", "--ca-bundle /ca.pem", "set AWS_CA_BUNDLE=FILE in the exec entry's env"),
]
PREFIX = {
    "oidc": OIDC,
    "aks": ["get-token", "--tenant-id", TENANT],
    "azure": ["get-token", "--login", "msi"],
    "aws": ["token", "-i", "prod"],
}


@pytest.mark.parametrize(("name", "argv", "message"), REFUSED_FLAGS)
def test_a_peer_flag_we_deliberately_do_not_take_is_refused_with_the_reason(
    name: str, argv: str, message: str, plugin: Plugin
) -> None:
    run = plugin.run(name, *PREFIX[name], *argv.split(), exec_info=exec_info(V1))
    assert_refused(run, message)


# -- both entry paths read a peer's argv the same way ------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["oidc", *OIDC, "--oidc-extra-scope=a,b"],
        ["aws", "--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod"],
        ["aks", "get-token", "-l", "devicecode", "-t", TENANT, "-e", "AzureUSGovernmentCloud"],
        ["aws", "--cluster-id", "prod"],  # native: left as it is
    ],
)
def test_the_click_group_reads_a_peer_argv_as_entry_main_does(
    argv: list[str], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    provider = providers.lookup(argv[0])
    assert provider is not None
    with click.Context(cli) as ctx:
        name, command, rest = cli.resolve_command(ctx, argv)
    assert name == argv[0] and command is not None
    found = peerargs.read(provider, argv[1:], environ)
    assert rest == (argv[1:] if found is None else found[0])
    with click.Context(cli) as ctx, pytest.raises(click.UsageError, match="--password is not"):
        cli.resolve_command(ctx, ["oidc", *OIDC, "--password=hunter2"])


def test_help_is_shown_for_a_peer_argv(plugin: Plugin) -> None:
    run = plugin.run("oidc", "get-token", "--help")
    assert run.returncode == 0 and "Usage: credplugin oidc [OPTIONS]" in run.stdout


# -- the exec path ---------------------------------------------------------------------------


def test_a_native_argv_never_loads_the_peer_reader_and_a_peer_hit_loads_nothing_heavy(
    isolated_home: Path, tmp_path: Path
) -> None:
    env = clean_environ(isolated_home)
    env.update(
        {
            "CREDPLUGIN_CACHE_DIR": str(tmp_path / "cache"),
            **aws_static_env(),
            "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1, server="https://x.example")),
        }
    )
    args, _ = peer_entry(
        "aws-eks-update-kubeconfig-v1.yaml", "arn:aws:eks:eu-west-1:111122223333:cluster/prod"
    )
    miss = loaded_modules(["aws", *args], env)
    assert "botocore" in {m.split(".")[0] for m in miss}, "the first call should sign"
    hit = loaded_modules(["aws", *args], env)
    assert heavy(hit) == [] and "credplugin.peerargs" in hit
    # The same entry written natively is the same cache entry: a hit too, without the reader.
    hit = loaded_modules(["aws", "--region", "eu-west-1", "--cluster-id", "prod"], env)
    assert heavy(hit) == [] and "credplugin.peerargs" not in hit
    assert not any(m.endswith(".peers") for m in hit)


# -- end to end, one per peer family -----------------------------------------------------------


def test_aws_cli_and_authenticator_entries_sign_tokens_eks_accepts(plugin: Plugin) -> None:
    plugin.env.update(aws_static_env("AWS_DEFAULT_REGION"))
    verifier = EksTokenVerifier("prod", principals=[static_principal()])
    args, env = peer_entry(
        "aws-eks-update-kubeconfig-v1.yaml", "arn:aws:eks:eu-west-1:111122223333:cluster/prod"
    )
    first = plugin.run("aws", *args, env=env, exec_info=exec_info(V1))
    assert verifier.verify(token_of(first.credential())).arn == static_principal().arn
    # Written natively, it is the same cache entry.
    again = plugin.run(
        "aws", "--region", "eu-west-1", "--cluster-id", "prod", exec_info=exec_info(V1)
    )
    assert token_of(again.credential()) == token_of(first.credential())
    assert len(list(plugin.cache_dir.glob("*.json"))) == 1
    args, env = peer_entry("aws-iam-authenticator.yaml", "alice@prod.eu-west-1.eksctl.io")
    run = plugin.run("aws", *args, env=env, exec_info=exec_info(V1))
    verifier.verify(token_of(run.credential()))


@pytest.fixture
def entra(tls: TLSMaterial) -> Iterator[EntraStandIn]:
    with EntraStandIn(tls, device_expires_in=30, device_interval=1) as server:
        yield server


@pytest.fixture
def azure_env(
    plugin: Plugin, entra: EntraStandIn, tls: TLSMaterial, proxy: RefusingProxy
) -> Plugin:
    return use_entra(plugin, entra, tls, proxy)


def test_azure_kubelogin_spn_entry_gets_a_token_from_entra(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    """The documented spn login with its secret moved to the environment, as the refusal of
    --client-secret says, and the fixture's ids untouched."""
    secret = "Xq8~s3cr3t.value_thatMustNeverShow"
    entra.add_service_principal(SP_CLIENT, TENANT, secret=secret)
    args, _ = peer_entry("azure-kubelogin-variants.yaml", "spn-secret-from-shell")
    run = azure_env.run("azure", *args, "-vv", env={"AZURE_CLIENT_SECRET": secret})
    claims = entra.verify(token_of(run.credential()), AKS_SERVER_ID)
    assert (claims["appid"], claims["tid"]) == (SP_CLIENT, TENANT)
    assert secret not in run.stderr
    assert "read Azure kubelogin get-token arguments as: credplugin azure" in run.stderr


def test_azure_kubelogin_devicecode_entry_signs_a_person_in(
    azure_env: Plugin, entra: EntraStandIn
) -> None:
    """`az aks get-credentials`' own exec entry: a device code on stderr, approved as alice."""
    args, _ = peer_entry(
        "az-aks-get-credentials-exec.yaml", "clusterUser_rg-platform-prod_aks-prod"
    )
    env = {**azure_env.env, "KUBERNETES_EXEC_INFO": json.dumps(exec_info(V1))}
    proc = subprocess.Popen(
        [*credplugin_command(), "aks", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None and proc.stdout is not None
        stderr = []
        for line in proc.stderr:
            stderr.append(line)
            if "enter the code " in line:
                entra.approve(line.split("enter the code ")[1].split()[0], "alice@example.test")
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
    run = Run(proc.returncode, stdout, "".join(stderr))
    claims = entra.verify(token_of(run.credential()), AKS_SERVER_ID)
    assert (claims["upn"], claims["tid"]) == ("alice@example.test", TENANT)
    # The native spelling finds the same cache entry.
    cached = azure_env.run("aks", "--tenant-id", TENANT, exec_info=exec_info(V1))
    assert token_of(cached.credential()) == token_of(run.credential())


def test_int128_client_credentials_entry_gets_a_token_trusting_its_ca_data(
    plugin: Plugin, tls: TLSMaterial
) -> None:
    """int128's client-credentials example against a well-behaved issuer, its CA given as
    --certificate-authority-data only (no CA bundle in the environment), the issuer URL the
    only change."""
    from tests.standins.hostile import HostileIdP

    args, _ = peer_entry("int128-oidc-login-variants.yaml", "client-credentials")
    ca_data = base64.b64encode(Path(tls.ca_path).read_bytes()).decode()
    secret = "robot-placeholder-client-secret"
    with HostileIdP(tls, client_id="ci-robot", client_secret=secret) as idp:
        args = [
            f"--oidc-issuer-url={idp.url}" if a.startswith("--oidc-issuer-url=") else a
            for a in args
        ]
        run = plugin.run("oidc", *args, f"--certificate-authority-data={ca_data}", "--v=4")
        assert token_of(run.credential())
        assert secret not in run.stderr
        assert "--client-secret *** " in run.stderr  # the debug line of what was read
        # The bundle is written once and found again by its content.
        bundles = list(plugin.cache_dir.glob("ca-*.pem"))
        assert len(bundles) == 1 and bundles[0].read_bytes() == Path(tls.ca_path).read_bytes()
        again = plugin.run("oidc", *args, f"--certificate-authority-data={ca_data}")
        assert token_of(again.credential()) == token_of(run.credential())


# -- the peers' value syntax -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [(t, True) for t in ("1", "t", "T", "TRUE", "true", "True")]
    + [(f, False) for f in ("0", "f", "F", "FALSE", "false", "False")],
)
def test_go_bools(text: str, value: bool) -> None:
    assert go_bool("--x", text) is value


@pytest.mark.parametrize("text", ["yes", "on", "", "tRuE", "2"])
def test_not_go_bools(text: str) -> None:
    with pytest.raises(UsageError, match="is not a boolean"):
        go_bool("--x", text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", 60.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("300ms", 0.3),
        ("0", 0.0),
        ("-5s", -5.0),
        ("2h45m", 9900.0),
        ("1\u00b5s", 1e-6),
        (".5s", 0.5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration("--timeout", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["60", "", "s", "1x", "1..2s", "1s2", "--1s"])
def test_not_go_durations(text: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        go_duration("--timeout", text)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("a,b", ["a", "b"]),
        ("", []),
        ("a", ["a"]),
        ('"a,b",c', ["a,b", "c"]),
        ("a,", ["a", ""]),
        ('"say ""hi"""', ['say "hi"']),
    ],
)
def test_pflag_string_slices_are_csv(text: str, items: list[str]) -> None:
    assert split_csv("--x", text) == items


@pytest.mark.parametrize("text", ['"a', 'a"b', '"a"b'])
def test_bad_csv_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        split_csv("--x", text)


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("a=1", [("a", "1")]),
        ("a=1,2", [("a", "1,2")]),
        ("a=1,b=2", [("a", "1"), ("b", "2")]),
        ('"a=1"', [("a", "1")]),
        ("a=", [("a", "")]),
    ],
)
def test_pflag_string_to_string(text: str, pairs: list[tuple[str, str]]) -> None:
    assert string_to_string("--x", text) == pairs


@pytest.mark.parametrize("text", ["a", "a=1,b,c=2"])
def test_bad_string_to_string_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        string_to_string("--x", text)


def test_the_loopback_hosts_are_the_listeners() -> None:
    from credplugin.flows.loopback import LOOPBACK_HOSTS
    from credplugin.providers.oidc.peers import LOOPBACK_HOSTS as PEER_LOOPBACK

    assert set(LOOPBACK_HOSTS) == PEER_LOOPBACK


def test_a_peer_flag_is_spelled_like_ours_only_where_its_meaning_or_syntax_differs() -> None:
    """Spelled like ours and meaning the same, a flag needs no entry (ours reads it); an entry
    that shadows one of ours is listed here, so that adding one is a decision."""
    shadowing = {
        "oidc": {
            "--listen-address",
            "--certificate-authority",
            "--grant-type",
            "--oidc-extra-scope",
            "-v",
        },
        "aks": {"-l", "--login", "--timeout", "-v"},
        "azure": {"--timeout", "-v"},
        "aws": {"-v"},
    }
    for name, expected in shadowing.items():
        provider = providers.lookup(name)
        assert provider is not None
        dialect = peerargs.dialect_of(provider)
        assert dialect is not None
        ours = {s for o in provider.options + COMMON_OPTIONS for s in o.spellings}
        assert set(dialect.flags) & ours == expected, name
