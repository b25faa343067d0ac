"""`make demo`: real kubectl authenticates through credplugin to a local API server.

No cloud account needed. It starts the test suite's bearer-checking HTTPS API server on
127.0.0.1 with its own CA, writes a service-account token file and a kubeconfig whose user runs
`credplugin service-account` through `exec:`, and runs `kubectl get ns`. Then it rotates the
token, as the kubelet does, and shows the next kubectl picking up the new one.
Everything lives in a temp dir that is removed at the end.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.standins.apiserver import FakeAPIServer
from tests.standins.tls import make_tls


def jwt(subject: str, lifetime: int = 3600) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"sub": f"system:serviceaccount:default:{subject}", "iat": now, "exp": now + lifetime}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def find_kubectl() -> str | None:
    versions = sorted(glob("/usr/lib/google-cloud-sdk/bin/kubectl.1.*"))
    return versions[-1] if versions else shutil.which("kubectl")


def main() -> int:
    kubectl = find_kubectl()
    if kubectl is None:
        print("kubectl is not installed; install it to run the demo", file=sys.stderr)
        return 1
    credplugin = Path(sys.executable).with_name("credplugin")
    with tempfile.TemporaryDirectory(prefix="credplugin-demo-") as tmp:
        work = Path(tmp)
        tls = make_tls(work)
        token_file = work / "token"
        token_file.write_text(jwt("backstage"))
        with FakeAPIServer(tls, tokens=[token_file.read_text()]) as server:
            kubeconfig = {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "demo",
                "clusters": [
                    {
                        "name": "demo",
                        "cluster": {"server": server.url, "certificate-authority-data": tls.ca_b64},
                    }
                ],
                "users": [
                    {
                        "name": "demo",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": str(credplugin),
                                "args": ["service-account", "--token-file", str(token_file)],
                                "interactiveMode": "Never",
                                "provideClusterInfo": True,
                            }
                        },
                    }
                ],
                "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}],
            }
            path = work / "kubeconfig"
            path.write_text(json.dumps(kubeconfig, indent=2))
            env = {**os.environ, "HOME": str(work), "CREDPLUGIN_CACHE_DIR": str(work / "cache")}
            env.pop("KUBECONFIG", None)

            print(f"API server stand-in: {server.url} (accepts one bearer token)")
            print(f"kubeconfig user: exec {credplugin.name} service-account --token-file ...")
            print(f"\n$ {Path(kubectl).name} get ns")
            first = subprocess.run(
                [kubectl, "--kubeconfig", str(path), "get", "ns"], env=env, check=False
            )

            print("\n# the kubelet rotates the token; the old one stops working")
            server.revoke(token_file.read_text())
            token_file.write_text(jwt("backstage-rotated"))
            server.accept(token_file.read_text())
            print(f"$ {Path(kubectl).name} get ns")
            second = subprocess.run(
                [kubectl, "--kubeconfig", str(path), "get", "ns"], env=env, check=False
            )

            print("\n$ credplugin service-account --token-file ... -v   (by hand, to debug)")
            subprocess.run(
                [str(credplugin), "service-account", "--token-file", str(token_file), "-v"],
                env=env,
                check=False,
            )
            identities = sorted({r.identity or "-" for r in server.requests})
            print(
                f"\nthe API server saw {len(server.requests)} requests as: {', '.join(identities)}"
            )
    ok = first.returncode == 0 and second.returncode == 0
    print("\ndemo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
