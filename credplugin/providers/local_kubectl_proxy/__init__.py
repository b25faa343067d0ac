"""local-kubectl-proxy: no credential of ours; a running `kubectl proxy` applies its own.

Backstage's `localKubectlProxy` strategy sends requests to a local `kubectl proxy` with no
credentials. An exec plugin must still return something, and client-go accepts a client
certificate and key instead of a token. Over the proxy's plain http nothing is presented,
so kubectl's requests reach the proxy with no Authorization header of ours. The pair is a
throwaway self-signed placeholder, made once and cached (cryptography takes ~0.1 s to load).

Every call checks that the proxy answers (preflight, even on a cache hit), and `--start`
launches `kubectl proxy` when nothing listens.

Note: client-go applies a kubeconfig user's credentials only to TLS transports, so kubectl
never runs an exec plugin for an http server; the Python client and other libraries do (and
ignore the pair over http). The entry is still worth having: it documents the intent, makes
those clients check and start the proxy, and `credplugin local-kubectl-proxy --start` by hand
brings the proxy up before kubectl is used.
"""

from __future__ import annotations

from credplugin.options import ALLOWED, NEVER, Option
from credplugin.providers.base import Declaration
from credplugin.providers.local_kubectl_proxy.proxy import DEFAULT_PROXY_URL, preflight

PROVIDER = Declaration(
    __name__,
    name="local-kubectl-proxy",
    backstage="localKubectlProxy",
    summary="No credential of ours: a running `kubectl proxy` applies its own identity.",
    side="server",
    preflight=preflight,
    examples=(
        "credplugin local-kubectl-proxy",
        "credplugin local-kubectl-proxy --start --context admin",
    ),
    options=(
        Option(
            "proxy-url",
            "Where `kubectl proxy` listens [default: the cluster server when it is a loopback "
            f"http URL, else {DEFAULT_PROXY_URL}].",
            metavar="URL",
            # Where the proxy for this cluster listens: probed, and never sent a secret.
            cluster=ALLOWED,
        ),
        Option(
            "start",
            "Start `kubectl proxy` in the background when nothing answers at the proxy URL.",
            type="flag",
            identity=False,
            cluster=NEVER,
        ),
        Option(
            "context",
            "Kubeconfig context for a proxy started by --start.",
            identity=False,
            cluster=NEVER,
        ),
        Option(
            "kubeconfig",
            "Kubeconfig file for a proxy started by --start.",
            identity=False,
            cluster=NEVER,
            names="file",
        ),
        Option(
            "kubectl",
            "kubectl binary for --start.",
            default="kubectl",
            metavar="PATH",
            identity=False,
            cluster=NEVER,
            names="program",
        ),
    ),
)
