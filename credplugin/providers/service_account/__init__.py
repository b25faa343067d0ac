"""service-account: a Kubernetes service-account token from a file or an environment variable.

Backstage's `serviceAccount` strategy sends a configured token, or in a pod the projected
token of its own service account. The kubelet rotates that file in place, so it is read on
every call and never cached: a rotated token is picked up at once. Expiry comes from the
JWT `exp` claim when there is one (projected tokens; legacy secret tokens have none).
"""

from __future__ import annotations

from credplugin.options import NEVER, Option
from credplugin.providers.base import Declaration

IN_CLUSTER_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105

PROVIDER = Declaration(
    __name__,
    name="service-account",
    backstage="serviceAccount",
    summary="Kubernetes service-account token from a file or an environment variable.",
    side="server",
    cacheable=False,
    examples=(
        "credplugin service-account --token-file "
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "credplugin service-account --token-env K8S_SA_TOKEN",
    ),
    options=(
        Option(
            "token-file",
            f"Read the token from this file on every call [default: {IN_CLUSTER_TOKEN_FILE}].",
            metavar="PATH",
            cluster=NEVER,
            names="file",
        ),
        Option(
            "token-env",
            "Read the token from this environment variable instead of a file.",
            metavar="VAR",
            cluster=NEVER,
            names="variable",
        ),
    ),
)
