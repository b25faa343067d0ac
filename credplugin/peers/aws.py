"""`aws eks get-token` (AWS CLI v1 and v2) and `aws-iam-authenticator token` -> `aws`.

Both sign the same token (a presigned STS GetCallerIdentity bound to the cluster by
`x-k8s-aws-id`), so what carries over is who signs (profile, role, external id, session name)
and for which cluster and region. The AWS SDK variables in the exec env (AWS_PROFILE,
AWS_DEFAULT_REGION, ...) are kept: our provider reads them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from credplugin.peers.argv import Args, Flag, parse
from credplugin.peers.model import Conversion, Unconvertible

# `aws eks get-token --role-arn` assumes the role with this fixed session name; keeping it
# keeps the identity EKS sees (aws-auth `{{SessionName}}` mappings, CloudTrail).
AWS_CLI_SESSION_NAME = "EKSGetTokenAuth"

_NO_EFFECT = "no effect on the credential"

# The CLI's global options (accepted before or after `eks get-token`), then get-token's own.
AWS_CLI_FLAGS = (
    Flag("region"),
    Flag("profile"),
    Flag("output", ignore="credplugin always prints JSON"),
    Flag("debug", value=False),
    Flag("no-paginate", value=False, ignore=_NO_EFFECT),
    Flag("no-cli-pager", value=False, ignore=_NO_EFFECT),
    Flag("color", ignore=_NO_EFFECT),
    Flag("cli-binary-format", ignore=_NO_EFFECT),
    Flag("no-cli-auto-prompt", value=False, ignore=_NO_EFFECT),
    Flag(
        "endpoint-url",
        refuse="the AWS CLI then presigns the token for that endpoint, which EKS rejects; "
        "credplugin aws has --sts-endpoint for AssumeRole only",
    ),
    Flag("no-verify-ssl", value=False, refuse="credplugin never turns TLS verification off"),
    Flag("no-sign-request", value=False, refuse="an unsigned token authenticates nobody"),
    Flag("query", refuse="it changes the output kubectl reads"),
    Flag("ca-bundle", refuse="no credplugin aws option takes a CA bundle (set AWS_CA_BUNDLE)"),
    Flag("cli-read-timeout", refuse="no equivalent (credplugin's --timeout bounds every call)"),
    Flag("cli-connect-timeout", refuse="no equivalent (credplugin's --timeout bounds every call)"),
    Flag("cluster-name"),
    Flag("cluster-id"),  # Outposts local clusters: the cluster's id (a UUID) is x-k8s-aws-id
    # argparse accepts unique abbreviations; `update-kubeconfig` writes `--role`.
    Flag("role-arn", aliases=("role",)),
)

AUTHENTICATOR_FLAGS = (
    Flag("cluster-id", short="i"),
    Flag("role", short="r"),
    Flag("external-id", short="e"),
    Flag("session-name", short="s"),
    Flag("region"),
    Flag(
        "forward-session-name",
        value=False,
        refuse="credplugin aws has no option to name the role session after the caller's "
        "own session",
    ),
    Flag("token-only", value=False, refuse="it prints a bare token, not an ExecCredential"),
    Flag("config", short="c", refuse="a configuration file can set the cluster id"),
    Flag("cache", value=False, ignore="credplugin always caches the role session and the token"),
    Flag("log-verbosity", short="v"),
    Flag("log-format", short="l", ignore=_NO_EFFECT),
    Flag("feature-gates", ignore=_NO_EFFECT),
)
# aws-iam-authenticator binds these through viper: a flag given wins over them.
AUTHENTICATOR_CLUSTER_ID_ENV = "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID"
AUTHENTICATOR_ROLE_ENV = "DEFAULT_ROLE"


def from_aws_cli(args: list[str], env: Mapping[str, str]) -> Conversion:
    if "get-token" not in args:  # another command: say so rather than name its first flag
        raise Unconvertible(f"not `aws eks get-token` (aws {' '.join(args[:2])})")
    parsed = parse(args, AWS_CLI_FLAGS, go=False)
    if parsed.positionals != ["eks", "get-token"]:
        raise Unconvertible(f"not `aws eks get-token` (aws {' '.join(parsed.positionals)})")
    conversion = Conversion("aws", "aws eks get-token", dict(env))
    name, cluster_id = parsed.last("cluster-name"), parsed.last("cluster-id")
    if name and cluster_id:
        raise Unconvertible("both --cluster-name and --cluster-id (the AWS CLI refuses that)")
    if not (name or cluster_id):
        raise Unconvertible("no --cluster-name or --cluster-id")
    conversion.give("cluster-id", name or cluster_id)
    _region_and_profile(conversion, parsed)
    role = parsed.last("role-arn")
    if role:
        conversion.give("role-arn", role)
        conversion.give("session-name", AWS_CLI_SESSION_NAME)
    if parsed.given("debug"):
        _verbose(conversion, 2)
    conversion.notes += parsed.ignored
    return conversion


def from_authenticator(command: str, args: list[str], env: Mapping[str, str]) -> Conversion:
    parsed = parse(args, AUTHENTICATOR_FLAGS, go=True)
    if parsed.positionals != ["token"]:
        raise Unconvertible(f"not `{command} token` ({' '.join(parsed.positionals)})")
    conversion = Conversion("aws", f"{command} token", dict(env))
    # Values the authenticator reads from the environment when the flag is absent become
    # arguments: our provider does not read those variables.
    env_cluster_id = conversion.env.pop(AUTHENTICATOR_CLUSTER_ID_ENV, None)
    env_role = conversion.env.pop(AUTHENTICATOR_ROLE_ENV, None)
    cluster_id = parsed.last("cluster-id") or env_cluster_id
    role = parsed.last("role") or env_role
    if not cluster_id:
        raise Unconvertible("no --cluster-id (-i)")
    conversion.give("cluster-id", cluster_id)
    _region_and_profile(conversion, parsed)
    if role:
        conversion.give("role-arn", role)
    for name in ("external-id", "session-name"):
        value = parsed.last(name)
        if value and role:
            conversion.give(name, value)
        elif value:
            conversion.note(f"--{name} dropped: the authenticator uses it only with --role")
    level = (parsed.last("log-verbosity") or "").lower()
    if level in ("debug", "trace"):
        _verbose(conversion, 1)
    conversion.notes += parsed.ignored
    return conversion


def _region_and_profile(conversion: Conversion, parsed: Args) -> None:
    for name in ("region", "profile"):
        value = parsed.last(name)
        if value:
            conversion.give(name, value)


def _verbose(conversion: Conversion, times: int) -> None:
    for _ in range(times):
        conversion.give("verbose")
