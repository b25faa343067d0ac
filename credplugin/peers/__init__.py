"""Other credential plugins' kubeconfig user entries, converted into credplugin entries with
the same meaning: `credplugin kubeconfig convert`.

    convert_user(user, site)   the Conversion of one user entry; raises Unconvertible (left
                               as it is, with the reason) or NotAPeer (nothing to convert)
    shown_command(user)        what the entry runs, for a report: secrets masked

One module per peer family, chosen here by the exec command (and for `kubelogin`, which is two
different programs, by its flags):

    aws      `aws eks get-token`, aws-iam-authenticator
    azure    Azure kubelogin
    int128   int128/kubelogin: `kubectl oidc-login`, `kubectl-oidc_login`, Homebrew's kubelogin
    gke      gke-gcloud-auth-plugin
    legacy   kubectl's removed auth-provider entries: gcp, oidc, azure

and around them: `model` (what a conversion is and the rules it follows), `argv` (peer
command lines read as pflag or argparse reads them), `document` (a whole kubeconfig).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import Any

from credplugin.peers import aws, azure, gke, int128, legacy
from credplugin.peers.model import Conversion, NotAPeer, Site, Unconvertible

__all__ = [
    "Conversion",
    "NotAPeer",
    "Site",
    "Unconvertible",
    "convert_user",
    "secrets_left_in",
    "shown_command",
]

KNOWN = "aws, aws-iam-authenticator, kubelogin, kubectl oidc-login, kubectl-oidc_login, " + (
    "gke-gcloud-auth-plugin"
)
# Peer flags whose value is a secret: masked in every report, and named when an entry that
# is left as it is keeps one on its command line.
SECRET_FLAGS = frozenset(
    {"--client-secret", "--oidc-client-secret", "--password", "--client-certificate-password"}
)
SECRET_CONFIG_KEYS = frozenset(
    {"client-secret", "service-acct", "access-token", "id-token", "refresh-token"}
)
SHOWN_VALUE_CHARS = 100


def convert_user(user: Any, site: Site) -> Conversion:
    if not isinstance(user, Mapping):
        raise NotAPeer("no user settings")
    exec_block, provider = user.get("exec"), user.get("auth-provider")
    if exec_block is not None and provider is not None:
        raise Unconvertible("both exec and auth-provider: kubectl's choice between them is unclear")
    if provider is not None:
        if not (isinstance(provider, Mapping) and isinstance(provider.get("name"), str)):
            raise Unconvertible("auth-provider has no name")
        config = provider.get("config") or {}
        if not (isinstance(config, Mapping) and all(isinstance(v, str) for v in config.values())):
            raise Unconvertible("auth-provider config is not a map of strings")
        return legacy.from_auth_provider(provider["name"], config, site)
    if exec_block is None:
        raise NotAPeer("no exec plugin or auth-provider: nothing to convert")
    command, args, env = _exec_parts(exec_block)
    program = os.path.basename(command).removesuffix(".exe")
    if program in ("credplugin", "kubectl-credplugin") or (
        program == "kubectl" and args[:1] == ["credplugin"]
    ):
        raise NotAPeer("already runs credplugin")
    if program == "aws":
        return aws.from_aws_cli(args, env)
    if program in ("aws-iam-authenticator", "heptio-authenticator-aws"):
        return aws.from_authenticator(program, args, env)
    if program == "kubectl" and args[:1] == ["oidc-login"]:
        return int128.from_get_token("kubectl oidc-login", args[1:], env, site)
    if program == "kubectl-oidc_login":
        return int128.from_get_token(program, args, env, site)
    if program == "kubelogin":
        # Homebrew installs int128's plugin under the name of Azure's: tell them by flags.
        if int128.is_int128(args):
            return int128.from_get_token("kubelogin (int128)", args, env, site)
        if azure.is_azure_kubelogin(args):
            return azure.from_kubelogin(args, env, site.environ)
        raise Unconvertible("kubelogin with neither int128's --oidc-* nor Azure's flags")
    if program == "gke-gcloud-auth-plugin":
        return gke.from_plugin(args, env)
    if program in ("docker", "podman") and any("kubelogin" in arg for arg in args):
        raise Unconvertible(f"runs kubelogin in a container ({program}): convert the entry by hand")
    raise Unconvertible(f"{command} is not a plugin convert knows ({KNOWN})")


def _exec_parts(block: Any) -> tuple[str, list[str], dict[str, str]]:
    """command, args and env of an exec block, as kubectl would accept them."""
    if not isinstance(block, Mapping):
        raise Unconvertible("exec is not a mapping")
    command = block.get("command")
    if not isinstance(command, str) or not command:
        raise Unconvertible("exec has no command")
    args = block.get("args") or []
    if not (isinstance(args, list) and all(isinstance(arg, str) for arg in args)):
        raise Unconvertible("exec args are not a list of strings")
    env: dict[str, str] = {}
    for item in block.get("env") or []:
        if not (
            isinstance(item, Mapping)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("value"), str)
        ):
            raise Unconvertible("exec env is not a list of names and values")
        env[item["name"]] = item["value"]
    return command, list(args), env


def shown_command(user: Any) -> str:
    """The entry's command line (or auth-provider), secrets masked, long values shortened."""
    if not isinstance(user, Mapping):
        return "nothing"
    provider = user.get("auth-provider")
    if isinstance(provider, Mapping):
        return f"auth-provider {provider.get('name')}"
    block = user.get("exec")
    if not isinstance(block, Mapping):
        return "no exec plugin"
    args = block.get("args")
    words = [
        str(block.get("command")),
        *(str(arg) for arg in (args if isinstance(args, list) else [])),
    ]
    shown: list[str] = []
    hide_next = False
    for word in words:
        name, eq, _ = word.partition("=")
        if hide_next:
            shown.append("***")
        elif name in SECRET_FLAGS and eq:
            shown.append(f"{name}=***")
        elif len(word) > SHOWN_VALUE_CHARS:
            shown.append(f"{word[:60]}...({len(word)} chars)")
        else:
            shown.append(word)
        hide_next = word in SECRET_FLAGS
    return shlex.join(shown)


def secrets_left_in(user: Any) -> list[str]:
    """The secret flags or config keys an entry holds in clear text: said when it stays."""
    if not isinstance(user, Mapping):
        return []
    provider = user.get("auth-provider")
    if isinstance(provider, Mapping) and isinstance(provider.get("config"), Mapping):
        return sorted(SECRET_CONFIG_KEYS & set(provider["config"]))
    block = user.get("exec")
    args = block.get("args") if isinstance(block, Mapping) else None
    if not isinstance(args, list):
        return []
    return sorted({str(arg).partition("=")[0] for arg in args} & SECRET_FLAGS)
