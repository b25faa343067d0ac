"""What each provider needs for real kubectl to `get ns` through the API server stand-in.

tests/test_kubectl_providers.py runs one test for every provider credplugin.providers
declares. Each provider contributes a scenario here, registered with @scenario(name): a
generator (made a context manager) that starts the provider's stand-ins and yields a Setup:

    args, cluster_config    the kubeconfig's user entry (exec args) and cluster entry (exec
                            extension: only aws cluster-id/region and local-kubectl-proxy
                            proxy-url may be set there)
    interactive_mode        the user entry's interactiveMode under exec v1
    env                     the environment kubectl (and so the plugin) runs in
    authenticate, identity  how the API server turns a bearer token into an identity, and the
                            one identity it must see
    answer                  the person's part of a login, if any: sees each stderr line
                            kubectl passes through (aks approves the device code it prints)
    wrong                   a user entry whose token the API server must refuse, and why
    upstream_requests       requests the identity provider has seen (a cache hit adds none)
    check                   what must hold after every successful kubectl call
    plugin_runs             False where kubectl never runs the plugin

A scenario knows nothing of kubectl or of the test's assertions; the test knows nothing of
any provider. The helpers come from the provider's own test module where they are plain
functions or constants.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Plugin, aws_static_env, kubectl_binaries, service_account_jwt, use_entra
from tests.standins.apiserver import Authenticator, FakeAPIServer
from tests.standins.eks_verifier import EksTokenVerifier
from tests.standins.entra import AKS_SERVER_ID, EntraStandIn, RefusingProxy
from tests.standins.google_oauth import DeadAddress, GoogleOAuthStandIn
from tests.standins.tls import TLSMaterial
from tests.test_aks import ALICE, CODE, TENANT_A, aks_args
from tests.test_aws import USER_ARN, static_principal
from tests.test_azure import SECRET, SP_CLIENT, TENANT
from tests.test_google import USER, write_adc
from tests.test_google_service_account import SA, write_key
from tests.test_local_kubectl_proxy import PROXY_TOKEN, static_token_kubeconfig
from tests.test_oidc import OIDC_DIR, Browser, oidc_args, verify

KUBECTLS = kubectl_binaries()

# Which kubectl binaries run a provider's scenario.
FIRST = "first"  # the oldest kubectl.1.NN
FIRST_AND_DISPATCHER = "first-and-dispatcher"  # and gcloud's dispatcher, /usr/bin/kubectl
EVERY = "every"  # every kubectl.1.NN and the dispatcher (kubectl_binaries())


@dataclass(frozen=True)
class Context:
    """What the test hands a scenario: this test's TLS material, directories and API server."""

    tls: TLSMaterial
    tmp_path: Path
    home: Path
    cache_dir: Path
    apiserver: FakeAPIServer

    def plugin(self) -> Plugin:
        """A Plugin with this test's isolated HOME and cache directory, whose env the
        scenario tailors and yields (the old modules' helpers take a Plugin)."""
        return Plugin(self.home, self.cache_dir)


@dataclass(frozen=True)
class Wrong:
    """A user entry whose token the API server must refuse, and a substring of the reason
    its authenticator gives (case-insensitive)."""

    args: Sequence[str]
    reason: str
    #: The cluster entry's exec extension; None: the scenario's own.
    cluster_config: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Setup:
    """What a scenario yields (its fields are described in the module docstring)."""

    args: Sequence[str]
    env: Mapping[str, str]
    authenticate: Authenticator
    identity: str
    interactive_mode: str = "Never"
    cluster_config: Mapping[str, str] | None = None
    #: Where kubectl connects, plain http and no CA; None: the API server stand-in over TLS.
    server: str | None = None
    answer: Callable[[str], None] | None = None
    wrong: Wrong | None = None
    upstream_requests: Callable[[], int] | None = None
    check: Callable[[], None] | None = None
    plugin_runs: bool = True


ScenarioStart = Callable[[Context], contextlib.AbstractContextManager[Setup]]


@dataclass(frozen=True)
class Scenario:
    """A provider's registered scenario, and which kubectl binaries run it."""

    provider: str
    start: ScenarioStart
    kubectls: str

    def binaries(self) -> list[str]:
        if self.kubectls == EVERY:
            return list(KUBECTLS)
        if self.kubectls == FIRST_AND_DISPATCHER:
            return list(dict.fromkeys(KUBECTLS[:1] + KUBECTLS[-1:]))
        return KUBECTLS[:1]


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    provider: str, kubectls: str = FIRST
) -> Callable[[Callable[[Context], Iterator[Setup]]], ScenarioStart]:
    """Register the decorated generator as `provider`'s scenario."""

    def register(fn: Callable[[Context], Iterator[Setup]]) -> ScenarioStart:
        start = contextlib.contextmanager(fn)
        SCENARIOS[provider] = Scenario(provider, start, kubectls)
        return start

    return register


# -- the machine's identities -------------------------------------------------------------------


@scenario("aws")
def aws(ctx: Context) -> Iterator[Setup]:
    """Static credentials; the API server is EKS cluster prod-cluster, checking the token
    the way EKS does (SigV4 recomputed with its own cluster id)."""
    plugin = ctx.plugin()
    plugin.env.update(aws_static_env("AWS_DEFAULT_REGION"))
    verifier = EksTokenVerifier("prod-cluster", principals=[static_principal()])
    yield Setup(
        args=["aws"],
        env=plugin.env,
        cluster_config={"cluster-id": "prod-cluster", "region": "eu-west-1"},
        authenticate=lambda token: "aws:" + verifier.verify(token).canonical_arn,
        identity=f"aws:{USER_ARN}",
        # A token bound to another cluster id: STS would refuse the signature.
        wrong=Wrong(
            args=["aws"],
            cluster_config={"cluster-id": "another-cluster", "region": "eu-west-1"},
            reason="signature",
        ),
    )


@scenario("azure")
def azure(ctx: Context) -> Iterator[Setup]:
    """A service principal from the environment, Entra on 127.0.0.1, the internet refused."""
    with EntraStandIn(ctx.tls) as entra, RefusingProxy() as proxy:
        entra.add_service_principal(SP_CLIENT, TENANT, secret=SECRET)
        plugin = use_entra(ctx.plugin(), entra, ctx.tls, proxy)
        plugin.env.update(
            {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": SP_CLIENT, "AZURE_CLIENT_SECRET": SECRET}
        )

        def nothing_went_to_the_internet() -> None:
            assert proxy.targets == []

        yield Setup(
            args=["azure"],
            env=plugin.env,
            authenticate=lambda token: f"azure:{entra.verify(token, AKS_SERVER_ID)['appid']}",
            identity=f"azure:{SP_CLIENT}",
            # A token for another scope.
            wrong=Wrong(
                args=["azure", "--scope", "https://management.azure.com/.default"],
                reason="audience",
            ),
            upstream_requests=lambda: len(entra.requests),
            check=nothing_went_to_the_internet,
        )


@scenario("google-service-account")
def google_service_account(ctx: Context) -> Iterator[Setup]:
    """A service-account key whose token_uri is the Google stand-in; the metadata server
    address refuses connections."""
    with google_standin(ctx) as (google, plugin):
        key_file = write_key(ctx.tmp_path, google.new_service_account(SA), google.token_uri)
        args = ["googleServiceAccount", "--key-file", str(key_file)]

        def one_token_for_every_request() -> None:
            assert google.count() == 1

        yield Setup(
            args=args,
            env=plugin.env,
            authenticate=google.identity_of,
            identity=f"google:{SA}",
            wrong=Wrong(args=[*args, "--scopes", "userinfo.email"], reason="cloud-platform"),
            check=one_token_for_every_request,
        )


@scenario("local-kubectl-proxy", kubectls=FIRST_AND_DISPATCHER)
def local_kubectl_proxy(ctx: Context) -> Iterator[Setup]:
    """kubectl -> a real `kubectl proxy` (with an identity of its own) -> the API server.

    client-go applies a user's credentials to TLS transports only, so kubectl never runs the
    plugin for the proxy's http URL: only the proxy's identity reaches the server."""
    plugin = ctx.plugin()
    upstream = static_token_kubeconfig(
        ctx.tmp_path / "proxy-kubeconfig", ctx.apiserver.url, ctx.tls.ca_b64
    )
    with kubectl_proxy(KUBECTLS[0], upstream, plugin.env) as url:
        yield Setup(
            args=["local-kubectl-proxy"],
            env=plugin.env,
            server=url,
            authenticate=lambda token: "kubectl-proxy" if token == PROXY_TOKEN else None,
            identity="kubectl-proxy",
            plugin_runs=False,
        )


@scenario("service-account", kubectls=EVERY)
def service_account(ctx: Context) -> Iterator[Setup]:
    """A projected token file, re-read on every call; the cheapest provider, so every
    kubectl runs it."""
    token, other = service_account_jwt(), service_account_jwt(subject="intruder")
    path, other_path = ctx.tmp_path / "sa-token", ctx.tmp_path / "other-token"
    path.write_text(token + "\n")
    other_path.write_text(other + "\n")

    def authenticate(presented: str) -> str:
        if presented != token:
            raise ValueError("not a token this cluster issued")
        return "service-account:system:serviceaccount:default:backstage"

    yield Setup(
        args=["service-account", "--token-file", str(path)],
        env=ctx.plugin().env,
        authenticate=authenticate,
        identity="service-account:system:serviceaccount:default:backstage",
        wrong=Wrong(
            args=["service-account", "--token-file", str(other_path)],
            reason="not a token this cluster issued",
        ),
    )


# -- a person's login ----------------------------------------------------------------------------


@scenario("aks")
def aks(ctx: Context) -> Iterator[Setup]:
    """A device-code login that alice approves as soon as kubectl shows the code."""
    entra_standin = EntraStandIn(ctx.tls, device_expires_in=30, device_interval=1)
    with entra_standin as entra, RefusingProxy() as proxy:
        plugin = use_entra(ctx.plugin(), entra, ctx.tls, proxy)

        def approve(line: str) -> None:
            match = CODE.search(line)
            if match:
                entra.approve(match.group(1), ALICE)

        def nothing_went_to_the_internet() -> None:
            assert proxy.targets == []

        yield Setup(
            args=aks_args(),
            env=plugin.env,
            authenticate=lambda token: f"aks:{entra.verify(token, AKS_SERVER_ID)['upn']}",
            identity=f"aks:{ALICE}",
            answer=approve,
            # A token for another audience.
            wrong=Wrong(
                args=aks_args(TENANT_A, "--server-id", "44444444-dddd-4ddd-8ddd-444444444444"),
                reason="audience",
            ),
            upstream_requests=lambda: len(entra.requests),
            check=nothing_went_to_the_internet,
        )


@scenario("google")
def google(ctx: Context) -> Iterator[Setup]:
    """The user's Application Default Credentials, refreshed at the file's token_uri."""
    with google_standin(ctx) as (standin, plugin):
        write_adc(plugin, standin)
        yield Setup(
            args=["google"],
            env=plugin.env,
            interactive_mode="IfAvailable",
            authenticate=standin.identity_of,
            identity=f"google:{USER}",
            wrong=Wrong(args=["google", "--scopes", "userinfo.email"], reason="cloud-platform"),
            upstream_requests=standin.count,
        )


@scenario("oidc", kubectls=FIRST_AND_DISPATCHER)
def oidc(ctx: Context) -> Iterator[Setup]:
    """node-oidc-provider, logged in to by a $BROWSER script that fills its pages as alice."""
    with node_oidc_provider() as issuer:
        plugin = ctx.plugin()
        browser = Browser(ctx.tmp_path)
        plugin.env.update(browser.env)
        plugin.env.pop("REQUESTS_CA_BUNDLE", None)

        def one_login() -> None:
            assert len(browser.opened()) == 1

        yield Setup(
            args=oidc_args(issuer),
            env=plugin.env,
            authenticate=lambda token: "oidc:" + verify(issuer, token)["sub"],
            identity="oidc:alice",
            check=one_login,
        )


# -- stand-ins the old modules start in pytest fixtures -------------------------------------------


@contextlib.contextmanager
def google_standin(ctx: Context) -> Iterator[tuple[GoogleOAuthStandIn, Plugin]]:
    """The Google stand-in, and a Plugin trusting its CA whose metadata server address
    refuses connections (tests.conftest's `google` and `gplugin` fixtures)."""
    with GoogleOAuthStandIn(ctx.tls) as google, DeadAddress() as dead:
        plugin = ctx.plugin()
        plugin.env["REQUESTS_CA_BUNDLE"] = str(ctx.tls.ca_path)
        plugin.env.pop("CURL_CA_BUNDLE", None)
        plugin.env["GCE_METADATA_IP"] = dead.address
        plugin.env["GCE_METADATA_HOST"] = dead.address
        yield google, plugin


@contextlib.contextmanager
def node_oidc_provider() -> Iterator[str]:
    """tests/oidc/provider.mjs on a free port; yields its issuer URL (tests.test_oidc's
    `issuer` fixture)."""
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("node or tests/oidc/node_modules missing (run `make test` to install)")
    proc = subprocess.Popen(
        [node, str(OIDC_DIR / "provider.mjs"), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def kubectl_proxy(kubectl: str, upstream: Path, env: Mapping[str, str]) -> Iterator[str]:
    """`kubectl proxy` for the `upstream` kubeconfig on a free port; yields its URL
    (tests.test_local_kubectl_proxy's `kubectl_proxy` fixture)."""
    proc = subprocess.Popen(
        [kubectl, "--kubeconfig", str(upstream), "proxy", "--port=0", "--address=127.0.0.1"],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"kubectl proxy did not start: {line!r}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
