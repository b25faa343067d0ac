"""aws-iam-authenticator's `token` and `aws eks get-token` arguments, read as `credplugin aws`
options (peerargs).

    aws-iam-authenticator token -i C [-r ROLE] ...   ->  credplugin aws token -i C [-r ROLE] ...
    aws --region R eks get-token --cluster-name C    ->  credplugin aws --region R eks get-token ...

Flags from aws-iam-authenticator's cmd/aws-iam-authenticator/{token,root}.go (v0.7.18) and
awscli's customizations/eks/get_token.py with the aws CLI's global options (1.45 / 2.36).
Spelled as ours already: -i/--cluster-id, --cluster-name, -r/--role/--role-arn,
-e/--external-id, -s/--session-name, --region, --profile.
"""

from __future__ import annotations

from credplugin.errors import UsageError
from credplugin.peerargs import (
    LEVEL,
    SWITCH,
    VALUE,
    Dialect,
    Flag,
    Translation,
    ignored,
    refused,
)

AUTHENTICATOR = ("token",)
AWS_CLI = ("eks", "get-token")
# The RoleSessionName `aws eks get-token --role-arn` always uses: aws-auth mappings
# ({{SessionName}}) and CloudTrail see it, so a translated entry keeps it.
AWS_CLI_SESSION_NAME = "EKSGetTokenAuth"
# aws-iam-authenticator's -v is a logrus level; debug and trace ask for detail.
LOGRUS_LEVELS = {
    "panic": 0,
    "fatal": 0,
    "error": 0,
    "warn": 0,
    "warning": 0,
    "info": 0,
    "debug": 2,
    "trace": 2,
}


def _log_level(t: Translation, spelling: str, value: str) -> None:
    t.level(LOGRUS_LEVELS[value.lower()])


def _debug(t: Translation, spelling: str, value: str) -> None:
    if value == "true":
        t.level(2)


def _cli_timeout(t: Translation, spelling: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{spelling} {value!r} is not a number of seconds") from None
    t.hold("timeout", repr(number))


FLAGS = (
    # aws-iam-authenticator
    Flag(
        "--token-only",
        SWITCH,
        refused(
            "credplugin always prints an ExecCredential",
            "remove it; `credplugin aws ... | credplugin inspect` shows the token",
        ),
    ),
    Flag(
        "--forward-session-name",
        SWITCH,
        refused(
            "credplugin cannot yet name the role session after the caller",
            "pass --session-name NAME",
        ),
    ),
    Flag(
        "--cache",
        SWITCH,
        ignored("credplugin always caches the role session and the token"),
    ),
    Flag(
        "-v --log-verbosity",
        LEVEL,
        _log_level,
        accepts=lambda word: word.lower() in LOGRUS_LEVELS,
    ),
    Flag("-l --log-format", VALUE, ignored("credplugin logs plain lines on stderr, with -v")),
    Flag(
        "-c --config",
        VALUE,
        refused(
            "credplugin reads no aws-iam-authenticator config file (it could set the cluster)",
            "pass --cluster-id and the other options as arguments",
        ),
    ),
    Flag("--feature-gates", VALUE, ignored("they are the authenticator server's")),
    # the aws CLI's global options
    Flag("--output", VALUE, ignored("credplugin always prints the ExecCredential as JSON")),
    Flag("--debug", SWITCH, _debug),
    Flag(
        "--endpoint-url",
        VALUE,
        refused(
            "the token would name that host; EKS takes only tokens for its regional STS host",
            "for an STS VPC endpoint, pass --sts-endpoint URL (used for AssumeRole only)",
        ),
    ),
    Flag(
        "--no-verify-ssl",
        SWITCH,
        refused(
            "credplugin never turns TLS verification off",
            "set AWS_CA_BUNDLE=FILE in the exec entry's env to trust a private CA",
        ),
    ),
    Flag(
        "--ca-bundle",
        VALUE,
        refused(
            "credplugin aws takes no CA bundle argument",
            "set AWS_CA_BUNDLE=FILE in the exec entry's env (botocore reads it)",
        ),
    ),
    Flag(
        "--query",
        VALUE,
        refused("kubectl needs the whole ExecCredential", "remove it"),
    ),
    Flag(
        "--no-sign-request",
        SWITCH,
        refused("an unsigned token authenticates nobody", "remove it"),
    ),
    Flag("--cli-read-timeout --cli-connect-timeout", VALUE, _cli_timeout),
    Flag("--color --cli-binary-format", VALUE, ignored("it shapes the aws CLI's own output")),
    Flag(
        "--no-paginate --no-cli-pager --cli-auto-prompt --no-cli-auto-prompt",
        SWITCH,
        ignored("it shapes the aws CLI's own output"),
    ),
)


def finish(t: Translation) -> None:
    # The longer of the two; 0 is the aws CLI's "no timeout": ours then keeps its default.
    longest = max((float(value) for value in t.held.get("timeout", [])), default=0.0)
    if longest > 0 and not t.has("timeout"):
        t.set("timeout", repr(longest))
    if t.command == AUTHENTICATOR:
        # aws-iam-authenticator (viper) takes these from the environment when not given.
        for name, variable in (
            ("cluster-id", "KUBERNETES_AWS_AUTHENTICATOR_CLUSTER_ID"),
            ("role-arn", "DEFAULT_ROLE"),
        ):
            value = t.environ.get(variable)
            if value and not t.has(name):
                t.set(name, value)
                t.notes.append(f"--{name} from ${variable}, as aws-iam-authenticator takes it")
    elif t.command == AWS_CLI and t.has("role-arn") and not t.has("session-name"):
        t.set("session-name", AWS_CLI_SESSION_NAME)


DIALECT = Dialect(
    "aws-iam-authenticator token / aws eks get-token",
    commands=(AUTHENTICATOR, AWS_CLI),
    flags=FLAGS,
    finish=finish,
)
