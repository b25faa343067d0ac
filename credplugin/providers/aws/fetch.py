"""Signing EKS tokens with botocore, and assuming roles (see the package docstring)."""

from __future__ import annotations

import base64
import os
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from credplugin import bounds
from credplugin.credential import Credential
from credplugin.errors import InteractionRequired, UpstreamError, UsageError, proxy_settings
from credplugin.providers import base
from credplugin.providers.aws import checks
from credplugin.providers.base import FetchContext
from credplugin.urlhost import host_port

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format prefix
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# aws-cli and aws-iam-authenticator both send 60; STS ignores it for GetCallerIdentity and
# the verifier requires it present and within 0..900.
PRESIGN_EXPIRES = 60
TOKEN_LIFETIME = 14 * 60
# Assumed-role session credentials are reused while more than this remains.
SESSION_REUSE_MARGIN = 5 * 60
DEFAULT_REGION = "us-east-1"

# (partition, region prefix test, DNS suffix); the regexes of botocore's partitions.json,
# kept here so that no botocore data file is read to name a host.
PARTITIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("aws-cn", ("cn-",), "amazonaws.com.cn"),
    ("aws-us-gov", ("us-gov-",), "amazonaws.com"),
    ("aws-iso", ("us-iso-",), "c2s.ic.gov"),
    ("aws-iso-b", ("us-isob-",), "sc2s.sgov.gov"),
    ("aws-iso-e", ("eu-isoe-",), "cloud.adc-e.uk"),
    ("aws-iso-f", ("us-isof-",), "csp.hci.ic.gov"),
    ("aws-eusc", ("eusc-",), "amazonaws.eu"),
    (
        "aws",
        ("us-", "eu-", "ap-", "sa-", "ca-", "me-", "af-", "il-", "mx-"),
        "amazonaws.com",
    ),
)


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        cluster_id = str(self.options["cluster_id"])  # required: the invocation checked
        role_arn = self.options.get("role_arn")
        if role_arn and not checks.ROLE_ARN.match(str(role_arn)):
            raise UsageError(
                f"--role-arn {role_arn!r} is not an IAM role ARN",
                hint="pass arn:aws:iam::ACCOUNT:role/NAME (arn:aws-cn:... in China)",
            )
        previous = dict(ctx.previous.refresh) if ctx.previous is not None else {}
        session, role_cache = self._session(ctx, previous)
        region = self._region(session, ctx.server)
        partition, dns_suffix = partition_for(region)
        now = ctx.now()

        base, signing_expiry = self._base_credentials(session)
        signing, refresh = base, {}
        if role_cache:
            refresh["botocoreAssumeRoleCache"] = dict(role_cache)
        role_arn = self.options.get("role_arn")
        if role_arn:
            assumed = _reusable_session(previous, base.access_key, role_arn, now)
            if assumed is None:
                assumed = self._assume_role(session, base, role_arn, region, ctx)
            signing, signing_expiry = _frozen(assumed), float(assumed["expiration"])
            refresh["assumedRole"] = assumed

        token = presign_token(signing, str(cluster_id), region, dns_suffix)
        expires_at = now + TOKEN_LIFETIME
        if signing_expiry is not None:
            expires_at = min(expires_at, signing_expiry)
        if expires_at <= now + 60:
            raise UpstreamError(
                "the AWS credentials expire in less than a minute; a token signed with them "
                "would be dead on arrival",
                hint="refresh them (for SSO: `aws sso login`), then retry",
            )
        return Credential(
            token,
            issued_at=now,
            expires_at=expires_at,
            identity=f"{role_arn or 'access key ' + base.access_key} ({partition}/{region})",
            refresh=refresh,
        )

    # -- the pieces ----------------------------------------------------------------------

    def _session(self, ctx: FetchContext, previous: dict[str, Any]) -> tuple[Any, dict[str, Any]]:

        try:
            session = botocore.session.Session(profile=self.options.get("profile") or None)
            # Outside AWS, IMDS would otherwise be probed with retries for seconds.
            session.set_config_variable("metadata_service_timeout", min(ctx.timeout, 1.0))
            session.set_config_variable("metadata_service_num_attempts", 1)
            role_cache = _wire_profile_role_cache(session, ctx, previous)
        except botocore.exceptions.ProfileNotFound as exc:
            known = ", ".join(sorted(checks.profiles(self.options, os.environ))) or "none"
            raise UsageError(
                f"AWS profile not found: {exc.kwargs.get('profile')}",
                hint=f"the AWS config files name these profiles: {known}",
            ) from exc
        return session, role_cache

    def _region(self, session: Any, server: str | None) -> str:
        region = (
            self.options.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or _profile_region(session)
            or region_from_server(server)
            or DEFAULT_REGION
        )
        return str(region)

    def _base_credentials(self, session: Any) -> tuple[Any, float | None]:
        """Frozen base credentials and when they expire (None: static keys)."""

        profile = self.options.get("profile") or os.environ.get("AWS_PROFILE") or "default"
        try:
            credentials = session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials else None
        except InteractionRequired:
            raise
        except (
            botocore.exceptions.SSOTokenLoadError,
            botocore.exceptions.UnauthorizedSSOTokenError,
        ) as exc:
            raise UpstreamError(
                "the AWS SSO session has expired or was never started",
                hint=f"run `aws sso login --profile {profile}`",
            ) from exc
        except botocore.exceptions.ClientError as exc:
            raise UpstreamError(
                f"AWS refused the profile's credentials: {_client_error(exc)}"
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise UpstreamError(f"cannot load AWS credentials: {exc}") from exc
        if frozen is None or not frozen.access_key:
            raise UpstreamError(
                "no AWS credentials found (environment, shared config, SSO, web identity, "
                "container and instance metadata were tried)",
                hint="set AWS_PROFILE or credentials, or run `aws configure` / `aws sso login`",
            )
        # botocore has no public accessor for a refreshable credential's expiry.
        expiry = getattr(credentials, "_expiry_time", None)
        return frozen, None if expiry is None else float(expiry.timestamp())

    def _assume_role(
        self, session: Any, base: Any, role_arn: str, region: str, ctx: FetchContext
    ) -> dict[str, Any]:

        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": self.options.get("session_name") or "credplugin",
            "DurationSeconds": int(self.options.get("duration") or 3600),
        }
        if self.options.get("external_id"):
            params["ExternalId"] = self.options["external_id"]
        config = botocore.config.Config(
            connect_timeout=ctx.timeout,
            read_timeout=ctx.timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        try:
            client = session.create_client(
                "sts",
                region_name=region,
                endpoint_url=self.options.get("sts_endpoint") or None,
                aws_access_key_id=base.access_key,
                aws_secret_access_key=base.secret_key,
                aws_session_token=base.token,
                config=config,
            )
            _read_answers_bounded(client, ctx.timeout)
            answer = client.assume_role(**params)["Credentials"]
        except botocore.exceptions.ClientError as exc:
            raise UpstreamError(
                f"AssumeRole {role_arn} was refused: {_client_error(exc)}",
                hint="check the role's trust policy, the external id and the base identity",
            ) from exc
        except botocore.exceptions.EndpointConnectionError as exc:
            url = str(exc.kwargs.get("endpoint_url") or client.meta.endpoint_url)
            raise UpstreamError(
                f"AssumeRole {role_arn} failed: cannot reach STS at {url}",
                hint=f"check the network path to it; botocore goes {proxy_settings(url)} "
                "(or set --sts-endpoint for a VPC endpoint)",
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise UpstreamError(f"AssumeRole {role_arn} failed: {exc}") from exc
        return {
            "roleArn": role_arn,
            "baseAccessKeyId": base.access_key,
            "accessKeyId": answer["AccessKeyId"],
            "secretAccessKey": answer["SecretAccessKey"],
            "sessionToken": answer["SessionToken"],
            "expiration": answer["Expiration"].timestamp(),
        }


# -- token ---------------------------------------------------------------------------------


def presign_token(credentials: Any, cluster_id: str, region: str, dns_suffix: str) -> str:
    """The EKS token for `cluster_id`, signed with `credentials` (access_key, secret_key,
    token) for the regional STS host of `region`."""

    request = AWSRequest(
        method="GET",
        url=f"https://sts.{region}.{dns_suffix}/",
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={CLUSTER_ID_HEADER: cluster_id},
    )
    SigV4QueryAuth(credentials, "sts", region, expires=PRESIGN_EXPIRES).add_auth(request)
    url = request.url
    assert url is not None
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def partition_for(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a region name; UsageError for a name no partition has."""
    parts = region.split("-")
    if (
        len(parts) >= 3
        and parts[-1].isdigit()
        and all(p.isalnum() and p == p.lower() for p in parts)
    ):
        for partition, prefixes, suffix in PARTITIONS:
            if region.startswith(prefixes):
                return partition, suffix
    raise UsageError(
        f"unknown AWS region {region!r}",
        hint="pass --region with a region name such as eu-west-1",
    )


def region_from_server(server: str | None) -> str | None:
    """`https://ABC.gr7.eu-west-1.eks.amazonaws.com` -> eu-west-1 (also .cn hosts)."""
    if not server:
        return None
    labels = host_port(server)[0].lower().split(".")
    if "eks" in labels:
        index = labels.index("eks")
        if index >= 1 and labels[index + 1 : index + 2] == ["amazonaws"]:
            return labels[index - 1]
    return None


# -- helpers -------------------------------------------------------------------------------


def _frozen(assumed: dict[str, Any]) -> Any:
    return ReadOnlyCredentials(
        assumed["accessKeyId"], assumed["secretAccessKey"], assumed["sessionToken"]
    )


def _reusable_session(
    previous: dict[str, Any], base_access_key: str, role_arn: str, now: float
) -> dict[str, Any] | None:
    assumed = previous.get("assumedRole")
    if not isinstance(assumed, dict):
        return None
    try:
        fresh = float(assumed["expiration"]) - now > SESSION_REUSE_MARGIN
        same = assumed["roleArn"] == role_arn and assumed["baseAccessKeyId"] == base_access_key
        complete = all(
            isinstance(assumed.get(k), str)
            for k in ("accessKeyId", "secretAccessKey", "sessionToken")
        )
    except (KeyError, TypeError, ValueError):
        return None
    return assumed if fresh and same and complete else None


def _read_answers_bounded(client: Any, timeout: float) -> None:
    """STS's answers read by us, bounded like every other endpoint's (bounds.read_body), but
    sent through botocore's own transport, with its proxies and CA bundle: botocore itself
    would read an answer of any size."""
    http = client._endpoint.http_session  # botocore's transport has no public accessor
    host = client.meta.endpoint_url

    def send(request: Any, **_: Any) -> Any:
        request.stream_output = True  # botocore reads nothing; we read below
        response = http.send(request)
        try:
            body = bounds.read_body(
                response.raw.stream(64 * 1024), f"STS at {host}", seconds=timeout
            )
        except BaseException:
            response.raw.close()
            raise
        response._content = body  # what AWSResponse.content returns from here on
        return response

    client.meta.events.register("before-send.sts.*", send)


def _profile_region(session: Any) -> str | None:
    try:
        # The profile's own setting: get_config_variable would stop at an empty env var.
        region = session.get_scoped_config().get("region")
    except Exception:  # a broken config file: the other region sources still apply
        return None
    return str(region) if region else None


def _client_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip().rstrip(":")


class _JSONSafeCache(dict):  # type: ignore[type-arg]
    """botocore stores AssumeRole responses with datetimes; we persist this dict as JSON."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _json_safe(value))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _wire_profile_role_cache(
    session: Any, ctx: FetchContext, previous: dict[str, Any]
) -> dict[str, Any]:
    """Give botocore's profile assume-role provider our cache and our prompter.

    botocore keeps assumed-role credentials of a profile (role_arn + source_profile, with or
    without mfa_serial) in a dict-like cache; ours is persisted in the cache entry, so the
    role is assumed (and an MFA code asked) once per session. Its default MFA prompt reads
    the terminal with getpass; ours refuses at once when kubectl says nobody is there.
    """
    resolver = session.get_component("credential_provider")
    provider = resolver.get_provider("assume-role")
    cache = _JSONSafeCache()
    stored = previous.get("botocoreAssumeRoleCache")
    if isinstance(stored, dict):
        for key, value in stored.items():
            cache[key] = value
    provider.cache = cache

    def mfa_prompt(prompt: str) -> str:
        return ctx.prompter.ask(prompt if prompt.endswith(" ") else prompt + " ", secret=True)

    provider._prompter = mfa_prompt
    return cache
