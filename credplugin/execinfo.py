"""The exec protocol: KUBERNETES_EXEC_INFO in, one ExecCredential JSON document out.

Rules as client-go implements them (see protocol.md): answer the apiVersion we were asked in,
v1beta1 when nobody asked; `spec.interactive` says whether stdin belongs to a person;
`spec.cluster` (provideClusterInfo) carries the server and the per-cluster plugin config.
"""

from __future__ import annotations

import os
import time

from credplugin import fastjson
from credplugin.errors import CredpluginError

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from typing import Any

    from credplugin.credential import Credential


def stdin_is_tty() -> bool:
    """Whether a person may be at stdin: what `spec.interactive` says when kubectl is not
    there to say it (a run by hand, a tool)."""
    try:
        return os.isatty(0)
    except OSError:
        return False


GROUP = "client.authentication.k8s.io"
V1 = GROUP + "/v1"
V1BETA1 = GROUP + "/v1beta1"
SHORT_NAMES = {"v1": V1, "v1beta1": V1BETA1}
ENV = "KUBERNETES_EXEC_INFO"


class ClusterInfo:
    """The parts of `spec.cluster` a plugin may rely on from every client.

    kubectl sends the ExecCredential Cluster type; the Python client sends the raw kubeconfig
    cluster entry (with a CA *path*, and `extensions`). Both carry `server` and `config`.
    """

    __slots__ = ("config", "server")

    def __init__(self, server: str | None, config: dict[str, Any]) -> None:
        self.server = server
        self.config = config


class ExecRequest:
    __slots__ = ("api_version", "cluster", "from_client", "interactive", "warnings")

    def __init__(
        self,
        api_version: str,
        interactive: bool,
        cluster: ClusterInfo | None = None,
        warnings: list[str] | None = None,
        from_client: bool = True,
    ) -> None:
        self.api_version = api_version
        self.interactive = interactive
        self.cluster = cluster
        self.warnings = warnings or []
        # Whether a client (kubectl, a library) sent KUBERNETES_EXEC_INFO: without it, a
        # person ran us by hand, and `interactive` only says whether stdin is a terminal.
        self.from_client = from_client

    @property
    def server(self) -> str | None:
        return self.cluster.server if self.cluster else None

    @property
    def cluster_config(self) -> dict[str, Any]:
        return self.cluster.config if self.cluster else {}


def parse_request(raw: str | None, api_version_flag: str | None, stdin_is_tty: bool) -> ExecRequest:
    """Read KUBERNETES_EXEC_INFO. Never raises: a bad value gives v1beta1 and a warning.

    Without the variable (a person at a terminal, or a client older than 1.20), we are
    interactive exactly when stdin is a terminal, which is the rule client-go applies.
    """
    if not raw or not raw.strip():
        asked = SHORT_NAMES.get(api_version_flag or "", V1BETA1)
        return ExecRequest(asked, interactive=stdin_is_tty, from_client=False)
    warnings: list[str] = []
    try:
        doc = fastjson.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        warnings.append(f"{ENV} is not a JSON object; answering {V1BETA1}, non-interactive")
        return ExecRequest(V1BETA1, interactive=False, warnings=warnings)

    api: Any = doc.get("apiVersion")
    if api not in (V1, V1BETA1):
        warnings.append(f"{ENV} asks for unsupported apiVersion {api!r}; answering {V1BETA1}")
        api = V1BETA1
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    # A malformed flag means nobody promised a person is there: never block on stdin.
    interactive = spec.get("interactive") is True
    cluster = _parse_cluster(spec.get("cluster"), warnings)
    return ExecRequest(api, interactive, cluster, warnings=warnings)


def _parse_cluster(raw: Any, warnings: list[str]) -> ClusterInfo | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        warnings.append(f"{ENV} spec.cluster is not an object; ignoring it")
        return None
    server = raw.get("server")
    if not isinstance(server, str) or not server:
        server = None
    config = raw.get("config")
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        warnings.append(f"{ENV} spec.cluster.config is not an object; ignoring it")
        config = {}
    return ClusterInfo(server, config)


# 9999-12-31T23:59:59Z: Go's RFC 3339 parser takes four-digit years only.
LATEST = 253402300799


def rfc3339(timestamp: float) -> str:
    """Second precision, UTC, `Z`: exactly what metav1.Time marshals. A far-future expiry
    (a JWT may say anything) is clamped to the last time kubectl can parse."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(int(timestamp), LATEST)))


def render(api_version: str, credential: Credential) -> str:
    """The ExecCredential document for stdout, newline-terminated."""
    status: dict[str, Any] = {}
    if credential.token:
        status["token"] = credential.token
    if credential.client_certificate_data and credential.client_key_data:
        status["clientCertificateData"] = credential.client_certificate_data
        status["clientKeyData"] = credential.client_key_data
    if not status:
        raise CredpluginError("internal error: a credential with neither token nor certificate")
    if credential.expires_at is not None:
        status["expirationTimestamp"] = rfc3339(credential.expires_at)
    doc = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {}, "status": status}
    return fastjson.dumps(doc) + "\n"
