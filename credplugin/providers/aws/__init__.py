"""aws: an EKS bearer token, as aws-iam-authenticator and `aws eks get-token` make it.

    token = "k8s-aws-v1." + base64url_nopad(presigned STS GetCallerIdentity URL)

The URL is signed (SigV4, query string) with the header `x-k8s-aws-id: <cluster id>` among the
signed headers: EKS re-sends its own cluster id to STS, so a token made for another cluster
fails STS's signature check. Signing is local: botocore's credential chain and SigV4 signer,
no STS client (loading a client's service model costs more than the rest together).

With --role-arn the base credentials first assume the role; the session credentials are kept
as refresh material and reused until 5 minutes before they expire, so the role is assumed
once per session, not once per kubectl command. The same holds for roles that botocore
assumes from a profile (role_arn/source_profile, mfa_serial): its assume-role cache lives in
our cache entry, so an MFA code is asked once per session.

Reported expiry: the earlier of now + 14 minutes (STS honours a presigned GetCallerIdentity
for 15 minutes after X-Amz-Date, whatever X-Amz-Expires says) and the signing credentials'
expiry (a presigned URL dies with its credentials).
"""

from __future__ import annotations

import os

from credplugin.options import ALLOWED, NEVER, Option
from credplugin.providers.base import Declaration

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def identity_files(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Files whose change means a possibly different AWS identity (part of the cache key)."""
    home = os.path.expanduser("~")
    return [
        environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"),
        environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"),
    ]


PROVIDER = Declaration(
    __name__,
    name="aws",
    summary="EKS token: a presigned STS GetCallerIdentity, optionally after AssumeRole.",
    side="server",
    identity_env=(
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_STS",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ),
    identity_files=identity_files,
    examples=(
        "credplugin aws --cluster-id prod",
        "credplugin aws --cluster-id prod --role-arn arn:aws:iam::123456789012:role/eks-admin "
        "--external-id backstage",
    ),
    options=(
        Option(
            "cluster-id",
            "EKS cluster name (the x-k8s-aws-id the token is bound to).",
            aliases=("-i", "--cluster-name"),
            metavar="NAME",
            required=True,
            cluster=ALLOWED,
        ),
        Option(
            "region",
            "STS region [default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's region, the "
            "region in an EKS server URL, us-east-1].",
            cluster=ALLOWED,
        ),
        Option("profile", "AWS shared-config profile.", envvar="AWS_PROFILE"),
        Option(
            "role-arn", "Assume this role before signing.", aliases=("-r", "--role"), metavar="ARN"
        ),
        Option("external-id", "ExternalId for AssumeRole.", aliases=("-e",), metavar="ID"),
        Option(
            "session-name",
            "RoleSessionName for AssumeRole.",
            aliases=("-s",),
            default="credplugin",
            metavar="NAME",
        ),
        Option(
            "duration",
            "DurationSeconds for AssumeRole.",
            type="int",
            default=3600,
            metavar="SECONDS",
        ),
        Option(
            "sts-endpoint",
            "STS endpoint URL for AssumeRole only (VPC endpoints); the token is always signed "
            "for the regional STS host that EKS accepts.",
            envvar="AWS_ENDPOINT_URL_STS",
            metavar="URL",
            cluster=NEVER,
        ),
    ),
)
