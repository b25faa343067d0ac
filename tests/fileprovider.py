"""A provider whose "identity provider" is a JSON file, for proving the runner's behaviour.

The runner (cache, locks, deadlines, stdout guard, fallbacks) is real; only the upstream is
this file, so a test can make it slow, failing, chatty or counting. Every fetch appends a line
to `<upstream>.count`, the equivalent of a token endpoint's request log.

Run as `python -m tests.fileprovider --upstream FILE [common options]`: the same path as
`credplugin <provider>` from kubectl, with this provider in place of a registered one. Like a
real provider it is a declaration (here, `PROVIDER`) and a fetch module (`tests.fileprovider
.fetch`, which is this same module: `Fetcher` below).

Upstream file keys: token, expires_in (seconds, or null), sleep (seconds before answering),
fail (an error message), abandon (a login nobody finished), crash (raise RuntimeError),
chatter (print to stdout and run a child that writes to stdout), ask (prompt the person),
login (a login that needs a person is due), identity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from credplugin import runner
from credplugin.credential import Credential
from credplugin.errors import LoginAbandoned, UpstreamError
from credplugin.options import ALLOWED, COMMON_OPTIONS, Option, parse_argv
from credplugin.providers import base
from credplugin.providers.base import FetchContext


class FileDeclaration(base.Declaration):
    """Bounds a test may shorten with --lock-wait and --deadline."""

    def deadline_seconds(self, values: Mapping[str, Any], timeout: float) -> float:
        value = values.get("deadline")
        return float(value) if value is not None else super().deadline_seconds(values, timeout)

    def lock_wait_seconds(self, values: Mapping[str, Any], timeout: float) -> float:
        value = values.get("lock_wait")
        return float(value) if value is not None else super().lock_wait_seconds(values, timeout)

    def fetcher(self, options: Mapping[str, Any]) -> base.Fetcher:
        return Fetcher(self, options)


PROVIDER = FileDeclaration(
    __name__,
    name="file-test",
    summary="test provider",
    side="server",
    identity_env=("FILE_ID",),
    options=(
        Option("upstream", "The JSON file that plays the identity provider.", metavar="FILE"),
        Option("client-secret", "A secret that must never be echoed.", secret=True),
        Option("audience", "An identity option that cluster config may carry.", cluster=ALLOWED),
        Option("lock-wait", "Override the lock wait bound.", type="float", identity=False),
        Option("deadline", "Override the fetch deadline.", type="float", identity=False),
    ),
)


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        upstream = Path(self.options["upstream"])
        with open(f"{upstream}.count", "a") as counter:
            counter.write(f"{os.getpid()}\n")
        spec = json.loads(upstream.read_text())
        if spec.get("sleep"):
            time.sleep(float(spec["sleep"]))
        if spec.get("chatter"):
            print("library chatter on stdout")
            subprocess.run(["echo", "child process chatter on stdout"], check=False)
        if spec.get("login"):
            ctx.before_login("the refresh token was refused")
        if spec.get("ask"):
            answer = ctx.prompter.ask("Verification code: ")
            spec["token"] = f"{spec.get('token', 'tok')}-{answer}"
        if spec.get("abandon"):
            raise LoginAbandoned("nobody finished the login within 180s")
        if spec.get("crash"):
            raise RuntimeError("provider bug")
        if spec.get("fail"):
            raise UpstreamError(str(spec["fail"]))
        expires_in = spec.get("expires_in", 3600)
        now = ctx.now()
        return Credential(
            str(spec.get("token", "tok")),
            issued_at=now,
            expires_at=None if expires_in is None else now + float(expires_in),
            identity=spec.get("identity"),
            refresh={"previous_token": ctx.previous.token if ctx.previous else None},
        )


def main(argv: list[str]) -> int:
    return runner.main(PROVIDER, parse_argv(PROVIDER.options + COMMON_OPTIONS, argv), os.environ)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
