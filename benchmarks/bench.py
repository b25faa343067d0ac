"""Side-by-side timing of the paths kubectl takes, against `python -c pass`.

Run with `make bench` (which compiles bytecode first: this machine sets
PYTHONDONTWRITEBYTECODE, and an installed package always has its .pyc files).

Each case runs as a fresh process, as kubectl runs the plugin. Cases run in alternating
order, round after round, so that drift in machine load hits all of them alike; the table
shows medians, the ratio to the baseline, and peak RSS from wait4().
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str]
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    failures: int = 0


def peak_rss_kib(case: Case, runs: int = 5) -> None:
    """Peak RSS from a small parent: a child forked from this (big) process starts with this
    process's RSS as its ru_maxrss, so wait4() here would over-report."""
    gnu_time = "/usr/bin/time"
    if not os.path.exists(gnu_time):
        return
    with tempfile.NamedTemporaryFile("r") as out, open(os.devnull, "wb") as null:
        for _ in range(runs):
            pid = os.posix_spawn(
                gnu_time,
                [gnu_time, "-f", "%M", "-o", out.name, *case.argv],
                case.env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, null.fileno(), 2),
                ],
            )
            os.waitpid(pid, 0)
            out.seek(0)
            case.rss_kib.append(int(out.read().strip().splitlines()[-1]))


def run_once(case: Case) -> None:
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        pid = os.posix_spawn(
            case.argv[0],
            case.argv,
            case.env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, null.fileno(), 2),
            ],
        )
        _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        case.failures += 1
    case.seconds.append(elapsed)


class _Quiet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"major":"1","minor":"32"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def jwt(lifetime: int) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"sub": "system:serviceaccount:default:bench", "iat": now, "exp": now + lifetime}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def real_aws_cli() -> str | None:
    """The aws CLI itself, not a pyenv shim (a bash script that would add its own cost)."""
    import subprocess

    found = shutil.which("aws")
    if found and "/shims/" in found and shutil.which("pyenv"):
        answer = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True)
        found = answer.stdout.strip() or None
    return found


def installed_scripts(work: Path) -> dict[str, str]:
    """The `credplugin` console script as a user gets it: a wheel built from this tree (with
    build isolation, so the setuptools floor is tested too) installed into a fresh venv by a
    current pip, and by the pip Python's ensurepip bundles (23.x writes a script that imports
    re before anything else). The venvs find the dependencies in this environment through a
    .pth file. {pip label: script path}; empty when the build fails (no network for setuptools)."""
    import subprocess

    pip = str(Path(sys.executable).with_name("pip"))
    dist = work / "dist"
    build = subprocess.run(
        [pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
    )
    wheels = list(dist.glob("credplugin-*.whl"))
    if build.returncode != 0 or not wheels:
        print(f"skipping the installed-script rows: the wheel did not build\n{build.stderr}")
        return {}
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages")
    scripts: dict[str, str] = {}
    for label, bundled_pip in (("current pip", False), ("bundled pip 23", True)):
        venv = work / ("venv-" + label.replace(" ", "-"))
        subprocess.run(
            [sys.executable, "-m", "venv", *([] if bundled_pip else ["--without-pip"]), str(venv)],
            check=True,
        )
        site = next(venv.glob("lib/python*/site-packages"))
        (site / "deps.pth").write_text(f"{deps}\n")
        installer = (
            [str(venv / "bin" / "pip")]
            if bundled_pip
            else [pip, "--python", str(venv / "bin" / "python")]
        )
        subprocess.run(
            [*installer, "install", "--quiet", "--no-deps", "--no-index", str(wheels[0])],
            check=True,
        )
        scripts[label] = str(venv / "bin" / "credplugin")
    return scripts


def build_cases(work: Path, proxy_url: str) -> list[Case]:
    python = sys.executable
    script = str(Path(python).with_name("credplugin"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "CREDPLUGIN_CACHE_DIR": str(work / "cache"),
        "KUBERNETES_EXEC_INFO": json.dumps(
            {
                "kind": "ExecCredential",
                "apiVersion": "client.authentication.k8s.io/v1",
                "spec": {"interactive": False, "cluster": {"server": proxy_url, "config": None}},
            }
        ),
    }
    token = work / "token"
    token.write_text(jwt(3600))
    aws_env = {
        **env,
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_REGION": "eu-west-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
    }
    aws_cases = [
        Case("aws cache hit", [python, script, "aws", "--cluster-id", "bench"], aws_env),
        *(
            Case(
                f"aws cache hit, installed script ({label})",
                [installed, "aws", "--cluster-id", "bench"],
                aws_env,
            )
            for label, installed in installed_scripts(work).items()
        ),
        Case(
            "aws fresh token (no cache)",
            [python, script, "aws", "--cluster-id", "bench", "--no-cache"],
            aws_env,
        ),
    ]
    google_cases = [
        Case(
            "google-service-account cache hit",
            [python, script, "google-service-account", "--key-file", seed_google_entry(work, env)],
            env,
        )
    ]
    # The same oidc entry twice: its refresh token inline, or in the keyring (a reference in
    # the file). A hit reads the file alone either way; these rows show it costs the same.
    oidc_args = ["oidc", "--issuer-url", "https://login.example.com", "--client-id", "kubectl"]
    for where in ("file", "keyring"):
        oidc_env = {**env, "CREDPLUGIN_CACHE_DIR": str(work / f"cache-oidc-{where}")}
        seed_oidc_entry(oidc_args, oidc_env, in_keyring=where == "keyring")
        google_cases.append(
            Case(
                f"oidc cache hit, refresh token in the {where}",
                [python, script, *oidc_args],
                oidc_env,
            )
        )
    gke = shutil.which("gke-gcloud-auth-plugin")
    if gke:
        google_cases.append(
            Case("gke-gcloud-auth-plugin cache hit (peer)", [gke], seed_gke_cache(work, env))
        )
    aws_cli = real_aws_cli()
    if aws_cli:
        aws_cases.append(
            Case(
                "`aws eks get-token` (peer, no cache)",
                [aws_cli, "eks", "get-token", "--cluster-name", "bench", "--output", "json"],
                aws_env,
            )
        )
    return [
        Case("`python -c pass` (baseline)", [python, "-c", "pass"], env),
        Case(
            "service-account (reads the token file)",
            [python, script, "service-account", "--token-file", str(token)],
            env,
        ),
        Case(
            "cache hit (local-kubectl-proxy, incl. proxy probe)",
            [python, script, "local-kubectl-proxy"],
            env,
        ),
        *aws_cases,
        *google_cases,
    ]


def seed_google_entry(work: Path, env: dict[str, str]) -> str:
    """A cached google-service-account token, written under the key the CLI will compute."""
    from credplugin.cache import Entry
    from credplugin.credential import Credential
    from credplugin.execinfo import parse_request
    from credplugin.invocation import Invocation
    from credplugin.options import COMMON_OPTIONS, parse_argv
    from credplugin.providers import lookup

    key_file = work / "sa-key.json"
    key_file.write_text("{}")
    provider = lookup("google-service-account")
    assert provider is not None
    request = parse_request(env["KUBERNETES_EXEC_INFO"], None, stdin_is_tty=False)
    given = parse_argv(provider.options + COMMON_OPTIONS, ["--key-file", str(key_file)])
    call = Invocation(provider, given, request.cluster_config, request.server, env)
    now = time.time()
    token = Credential("ya29.bench", issued_at=now, expires_at=now + 3600)
    call.store().write(Entry(call.key, provider.name, token, now))
    return str(key_file)


def seed_oidc_entry(argv: list[str], env: dict[str, str], *, in_keyring: bool) -> None:
    """A fresh oidc entry under the key the CLI will compute, its refresh token in the file
    or, as --token-store keyring leaves it, only a reference to a keyring item."""
    from credplugin.cache import Entry
    from credplugin.credential import Credential
    from credplugin.execinfo import parse_request
    from credplugin.invocation import Invocation
    from credplugin.options import COMMON_OPTIONS, parse_argv
    from credplugin.providers import lookup

    provider = lookup(argv[0])
    assert provider is not None
    request = parse_request(env["KUBERNETES_EXEC_INFO"], None, stdin_is_tty=False)
    given = parse_argv(provider.options + COMMON_OPTIONS, argv[1:])
    call = Invocation(provider, given, request.cluster_config, request.server, env)
    now = time.time()
    refresh = {} if in_keyring else {"refreshToken": "bench-refresh-token"}
    token = Credential(jwt(3600), issued_at=now, expires_at=now + 3600, refresh=refresh)
    secrets = {"store": "keyring", "service": "credplugin: oidc bench"} if in_keyring else None
    call.store().write(Entry(call.key, provider.name, token, now, call.summary(), secrets))


def seed_gke_cache(work: Path, env: dict[str, str]) -> dict[str, str]:
    """gke-gcloud-auth-plugin's own cache: `gke_gcloud_auth_plugin_cache` beside the
    kubeconfig, valid for the kubeconfig's current context."""
    gke_dir = work / "gke"
    gke_dir.mkdir()
    kubeconfig = gke_dir / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "bench",
                "clusters": [{"name": "bench", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "bench", "user": {"token": "unused"}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
            }
        )
    )
    expiry = datetime.fromtimestamp(time.time() + 3600, timezone.utc)
    cache = gke_dir / "gke_gcloud_auth_plugin_cache"
    cache.write_text(
        json.dumps(
            {
                "current_context": "bench",
                "access_token": "ya29.bench",
                "token_expiry": expiry.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
                "extra_args": "",
            }
        )
    )
    cache.chmod(0o600)
    return {**env, "KUBECONFIG": str(kubeconfig), "CLOUDSDK_CONFIG": str(gke_dir / "gcloud")}


def measure(cases: list[Case], rounds: int, warmup: int) -> None:
    for _ in range(warmup):
        for case in cases:
            run_once(case)
    for case in cases:
        case.seconds.clear()
        case.failures = 0
    for index in range(rounds):
        order = cases if index % 2 == 0 else list(reversed(cases))
        for case in order:
            run_once(case)
    for case in cases:
        peak_rss_kib(case)


def table(cases: list[Case], rounds: int) -> str:
    base = statistics.median(cases[0].seconds)
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.system()} "
        f"{platform.release()} ({cpu}, {os.cpu_count()} cores), Python "
        f"{platform.python_version()}; {rounds} alternating rounds, medians.",
        "",
        "| case | median | ratio to baseline | peak RSS | failures |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        median = statistics.median(case.seconds)
        rss = f"{max(case.rss_kib) / 1024:.1f} MiB" if case.rss_kib else "n/a"
        lines.append(
            f"| {case.name} | {median * 1000:.1f} ms | {median / base:.2f}x | {rss} "
            f"| {case.failures} |"
        )
    by_name = {case.name: statistics.median(case.seconds) for case in cases}
    peer = by_name.get("`aws eks get-token` (peer, no cache)")
    if peer:
        hit, fresh = by_name["aws cache hit"], by_name["aws fresh token (no cache)"]
        lines += [
            "",
            f"- aws cache hit vs `aws eks get-token`: {peer / hit:.0f}x faster (goal >= 10x)",
            f"- aws fresh token vs `aws eks get-token`: {fresh / peer:.2f}x the time "
            "(goal <= 0.5x)",
        ]
    gke = by_name.get("gke-gcloud-auth-plugin cache hit (peer)")
    if gke:
        ours = by_name["google-service-account cache hit"]
        lines.append(f"- google cache hit vs gke-gcloud-auth-plugin's cache hit: {gke / ours:.2f}x")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    content = README.read_text()
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--write-readme", action="store_true", help="record the table in README")
    args = parser.parse_args(argv)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="credplugin-bench-") as tmp:
        cases = build_cases(Path(tmp), proxy_url)
        measure(cases, args.rounds, args.warmup)
    server.shutdown()
    text = table(cases, args.rounds)
    print(text)
    if args.write_readme:
        write_readme(text)
    return 1 if any(case.failures for case in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
