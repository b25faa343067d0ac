"""Azure kubelogin `get-token` -> `aks` (a person's login) or `azure` (the machine's identity).

    devicecode, interactive   aks --login devicecode|interactive
    spn                       azure --credential client-secret | client-certificate
    msi                       azure --credential managed-identity
    azurecli                  azure --credential cli
    workloadidentity          azure --credential workload-identity
    ropc, azd, azurepipelines no equivalent: left as they are

kubelogin lets its environment variables override its flags (AAD_LOGIN_METHOD replaces
--login, AZURE_CLIENT_ID --client-id...) unless --disable-environment-override; ours is the
other way round. So the values in effect are worked out as kubelogin would, from the entry's
flags and its exec env, and written as arguments. Secrets never stay arguments: they go to
the exec env under the variable our azure provider reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from credplugin.entra import PUBLIC_CLOUD, authority_host
from credplugin.errors import UsageError
from credplugin.peers.argv import Args, Flag, parse
from credplugin.peers.model import Conversion, Unconvertible

_NO_EFFECT = "no effect on the credential"
_OWN_CACHE = "credplugin keeps its own token cache"

FLAGS = (
    Flag("login", short="l"),
    Flag("server-id"),
    Flag("client-id"),
    Flag("tenant-id", short="t"),
    Flag("environment", short="e"),
    Flag("authority-host"),
    Flag("client-secret"),
    Flag("client-certificate"),
    Flag("client-certificate-password"),
    Flag("username"),
    Flag("password"),
    Flag("identity-resource-id"),
    Flag("federated-token-file"),
    Flag("subscription", short="s"),
    Flag("azure-pipelines-service-connection-id"),
    Flag("redirect-url"),
    Flag("login-hint"),
    Flag("disable-environment-override", value=False),
    Flag("cache-dir", aliases=("token-cache-dir",), ignore=_OWN_CACHE),
    Flag("timeout", ignore="credplugin bounds each network call with its own --timeout"),
    Flag(
        "disable-instance-discovery",
        value=False,
        ignore="credplugin turns instance discovery off for every authority host but the "
        "public cloud's",
    ),
    Flag(
        "legacy",
        value=False,
        refuse="AADv1 tokens (audience spn:<server-id>) are not implemented; migrate the "
        "cluster to AKS-managed Entra integration",
    ),
    Flag("pop-enabled", value=False, refuse="proof-of-possession tokens are not implemented"),
    Flag("pop-claims", refuse="proof-of-possession tokens are not implemented"),
    Flag(
        "use-azurerm-env-vars",
        value=False,
        refuse="credplugin reads AZURE_* variables only, not ARM_*",
    ),
    Flag("v", short="v"),
    Flag("logtostderr", value=False, ignore=_NO_EFFECT),
)

# The flags whose use depends on the login mode.
MODE_INPUTS = frozenset(
    {
        "client-id",
        "tenant-id",
        "environment",
        "authority-host",
        "client-secret",
        "client-certificate",
        "client-certificate-password",
        "username",
        "password",
        "identity-resource-id",
        "federated-token-file",
        "subscription",
        "azure-pipelines-service-connection-id",
        "redirect-url",
        "login-hint",
    }
)
# Variables kubelogin reads over its flags, in its order (the last one set wins).
ENV_OVERRIDES = (
    ("client-id", ("AAD_SERVICE_PRINCIPAL_CLIENT_ID", "AZURE_CLIENT_ID")),
    ("client-secret", ("AAD_SERVICE_PRINCIPAL_CLIENT_SECRET", "AZURE_CLIENT_SECRET")),
    (
        "client-certificate",
        ("AAD_SERVICE_PRINCIPAL_CLIENT_CERTIFICATE", "AZURE_CLIENT_CERTIFICATE_PATH"),
    ),
    (
        "client-certificate-password",
        ("AAD_SERVICE_PRINCIPAL_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
    ),
    ("tenant-id", ("AZURE_TENANT_ID",)),
    ("username", ("AAD_USER_PRINCIPAL_NAME", "AZURE_USERNAME")),
    ("password", ("AAD_USER_PRINCIPAL_PASSWORD", "AZURE_PASSWORD")),
    ("login", ("AAD_LOGIN_METHOD",)),
)
WORKLOAD_IDENTITY_OVERRIDES = (
    ("client-id", ("AZURE_CLIENT_ID",)),
    ("federated-token-file", ("AZURE_FEDERATED_TOKEN_FILE",)),
    ("authority-host", ("AZURE_AUTHORITY_HOST",)),
)
# kubelogin's own names: once their value is in the arguments (or under the AZURE_ name our
# provider reads), they go from the env.
KUBELOGIN_ONLY_ENV = frozenset(
    name for _, names in ENV_OVERRIDES for name in names if name.startswith("AAD_")
)
GITHUB_ACTIONS_ENV = ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL")

# The variables our azure provider (azure-identity) reads its secrets and files from.
CLIENT_SECRET_ENV = "AZURE_CLIENT_SECRET"  # noqa: S105 - a variable name
CLIENT_CERTIFICATE_ENV = "AZURE_CLIENT_CERTIFICATE_PATH"
CLIENT_CERTIFICATE_PASSWORD_ENV = "AZURE_CLIENT_CERTIFICATE_PASSWORD"  # noqa: S105 - a variable name
# kubelogin sends the certificate chain (x5c) with a certificate credential; azure-identity
# does when this is set (needed for subject-name/issuer authentication).
SEND_CERTIFICATE_CHAIN_ENV = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
FEDERATED_TOKEN_FILE_ENV = "AZURE_FEDERATED_TOKEN_FILE"  # noqa: S105 - a variable name

# kubelogin's --environment names (case-insensitive) and the authority host each means.
# kubelogin silently takes any other name for the public cloud; convert refuses instead.
CLOUDS = {
    "azurecloud": PUBLIC_CLOUD,
    "azurepublic": PUBLIC_CLOUD,
    "azurepubliccloud": PUBLIC_CLOUD,
    "azureusgovernment": "https://login.microsoftonline.us",
    "azureusgovernmentcloud": "https://login.microsoftonline.us",
    "azurechinacloud": "https://login.chinacloudapi.cn",
}

NO_EQUIVALENT = {
    "ropc": "login mode ropc (username and password) has no credplugin equivalent: Entra "
    "deprecates it and it fails with MFA; use aks (device code) or azure --credential "
    "client-secret",
    "azd": "login mode azd (Azure Developer CLI) has no credplugin equivalent",
    "azurepipelines": "login mode azurepipelines has no credplugin equivalent",
}


def is_azure_kubelogin(args: list[str]) -> bool:
    """Azure's `kubelogin get-token`, as opposed to int128's Homebrew `kubelogin`: by flags
    only Azure's has (both are called kubelogin)."""
    names = {arg.partition("=")[0] for arg in args}
    return bool(names & {"--server-id", "--login", "-l", "--tenant-id", "--client-id"})


def environment_authority(name: str) -> str:
    """The authority host of an Azure environment name (kubelogin's, go-autorest's)."""
    host = CLOUDS.get(name.lower())
    if host is None:
        raise Unconvertible(
            f"unknown Azure environment {name!r} (kubelogin would silently use the public "
            "cloud); convert with --authority-host instead"
        )
    return host


def checked_authority(value: str) -> str:
    try:
        return authority_host(value)
    except UsageError as exc:
        raise Unconvertible(exc.message) from None


def server_scope(server_id: str) -> str:
    """kubelogin's scope for --server-id: `<id>/.default` unless the id already is a scope."""
    return server_id if server_id.endswith("/.default") else server_id.rstrip("/") + "/.default"


def from_kubelogin(
    args: list[str], env: Mapping[str, str], environ: Mapping[str, str]
) -> Conversion:
    parsed = parse(args, FLAGS, go=True)
    if parsed.positionals != ["get-token"]:
        raise Unconvertible(f"not `kubelogin get-token` ({' '.join(parsed.positionals)})")
    values, sources = _effective(parsed, env)
    login = values.get("login") or "devicecode"
    if login in NO_EQUIVALENT:
        raise Unconvertible(NO_EQUIVALENT[login])
    server_id = values.get("server-id")
    if not server_id:
        raise Unconvertible("no --server-id (kubelogin requires one)")
    provider = "aks" if login in ("devicecode", "interactive") else "azure"
    conversion = Conversion(provider, f"Azure kubelogin ({login})", dict(env))
    for name in KUBELOGIN_ONLY_ENV:
        conversion.env.pop(name, None)
    if login in ("devicecode", "interactive"):
        used = _person(conversion, login, values, server_id)
    elif login == "spn":
        used = _service_principal(conversion, values, sources, server_id)
    elif login == "msi":
        used = _managed_identity(conversion, values, server_id)
    elif login == "azurecli":
        used = _azure_cli(conversion, values, server_id)
    elif login == "workloadidentity":
        if all(env.get(name) for name in GITHUB_ACTIONS_ENV):
            raise Unconvertible(
                "workloadidentity with GitHub Actions' OIDC token has no equivalent"
            )
        used = _workload_identity(conversion, values, sources, server_id)
    else:
        raise Unconvertible(f"unknown login mode {login!r}")
    for name in sorted(MODE_INPUTS - used):
        if name in values and sources[name].startswith("--"):
            conversion.note(f"{sources[name]} dropped: kubelogin ignores it for {login}")
    conversion.verbosity_of_klog(parsed.last("v"))
    conversion.notes += parsed.ignored
    if not parsed.boolean("disable-environment-override"):
        overriding = sorted(
            name for _, names in ENV_OVERRIDES for name in names if environ.get(name)
        )
        if overriding:
            conversion.note(
                f"${', $'.join(overriding)} set here: kubelogin let them override its flags, "
                "credplugin's arguments win over the environment"
            )
    return conversion


def _effective(parsed: Args, env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The values kubelogin runs with, and where each came from (`--flag` or `$VAR`)."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for flag in FLAGS:
        value = parsed.last(flag.name) if flag.value else None
        if value:
            values[flag.name] = value
            sources[flag.name] = f"--{flag.name}"
    if parsed.boolean("disable-environment-override"):
        return values, sources
    overrides = list(ENV_OVERRIDES)
    login = env.get("AAD_LOGIN_METHOD") if "AAD_LOGIN_METHOD" in env else values.get("login")
    if login == "workloadidentity":
        overrides += WORKLOAD_IDENTITY_OVERRIDES
    for name, variables in overrides:
        for variable in variables:
            if variable in env:  # set, even to "": kubelogin uses os.LookupEnv
                values[name] = env[variable]
                sources[name] = f"${variable}"
    return {k: v for k, v in values.items() if v}, sources


def _authority(conversion: Conversion, values: Mapping[str, str]) -> None:
    """--authority-host from kubelogin's --authority-host, else its --environment when the
    entry names one (kubelogin then ignores $AZURE_AUTHORITY_HOST: so does the argument)."""
    if values.get("authority-host"):
        conversion.give("authority-host", checked_authority(values["authority-host"]))
    elif values.get("environment"):
        conversion.give("authority-host", environment_authority(values["environment"]))


def _person(
    conversion: Conversion, login: str, values: Mapping[str, str], server_id: str
) -> set[str]:
    for name in ("tenant-id", "client-id"):
        if not values.get(name):
            raise Unconvertible(f"no --{name} (kubelogin {login} requires one)")
    if login == "interactive" and values.get("redirect-url"):
        raise Unconvertible(
            "--redirect-url: credplugin aks has no option to fix the redirect port (MSAL "
            "listens on a free port of http://localhost)"
        )
    conversion.give("tenant-id", values["tenant-id"])
    conversion.give("client-id", values["client-id"])
    conversion.give("server-id", server_scope(server_id).removesuffix("/.default"))
    conversion.give("login", login)
    if values.get("login-hint"):
        conversion.give("login-hint", values["login-hint"])
    _authority(conversion, values)
    return {"tenant-id", "client-id", "login-hint", "authority-host", "environment"}


def _service_principal(
    conversion: Conversion, values: Mapping[str, str], sources: Mapping[str, str], server_id: str
) -> set[str]:
    for name in ("tenant-id", "client-id"):
        if not values.get(name):
            raise Unconvertible(f"no --{name} (kubelogin spn requires one)")
    # kubelogin prefers the certificate when it has both.
    if values.get("client-certificate"):
        kind = "client-certificate"
        used = {"client-certificate", "client-certificate-password"}
    elif values.get("client-secret"):
        kind = "client-secret"
        used = {"client-secret"}
    else:
        raise Unconvertible(
            "spn without a secret or certificate in the entry: kubelogin takes it from the "
            "environment it runs in, so convert cannot tell a client secret from a certificate"
        )
    conversion.give("credential", kind)
    conversion.give("tenant-id", values["tenant-id"])
    conversion.give("client-id", values["client-id"])
    conversion.give("scope", server_scope(server_id))
    _authority(conversion, values)
    if kind == "client-secret":
        _place(conversion, CLIENT_SECRET_ENV, values, sources, "client-secret")
    else:
        _place(conversion, CLIENT_CERTIFICATE_ENV, values, sources, "client-certificate")
        if values.get("client-certificate-password"):
            _place(
                conversion,
                CLIENT_CERTIFICATE_PASSWORD_ENV,
                values,
                sources,
                "client-certificate-password",
            )
        conversion.env[SEND_CERTIFICATE_CHAIN_ENV] = "true"
    return {"tenant-id", "client-id", "authority-host", "environment", *used}


def _managed_identity(
    conversion: Conversion, values: Mapping[str, str], server_id: str
) -> set[str]:
    conversion.give("credential", "managed-identity")
    if values.get("client-id"):
        conversion.give("client-id", values["client-id"])
    elif values.get("identity-resource-id"):
        raise Unconvertible(
            "--identity-resource-id: credplugin azure selects a user-assigned identity by "
            "client id only"
        )
    conversion.give("scope", server_scope(server_id))
    return {"client-id", "identity-resource-id"}


def _azure_cli(conversion: Conversion, values: Mapping[str, str], server_id: str) -> set[str]:
    if values.get("subscription"):
        raise Unconvertible(
            "--subscription: credplugin azure --credential cli cannot pick the subscription "
            "(and with it the tenant) az uses"
        )
    conversion.give("credential", "cli")
    if values.get("tenant-id"):
        conversion.give("tenant-id", values["tenant-id"])
    conversion.give("scope", server_scope(server_id))
    return {"tenant-id"}


def _workload_identity(
    conversion: Conversion, values: Mapping[str, str], sources: Mapping[str, str], server_id: str
) -> set[str]:
    conversion.give("credential", "workload-identity")
    for name in ("tenant-id", "client-id"):
        # Taken from the flag only: a value that came from the env stays in the env, where
        # our provider reads it too.
        if values.get(name) and sources[name].startswith("--"):
            conversion.give(name, values[name])
    conversion.give("scope", server_scope(server_id))
    # kubelogin's AZURE_AUTHORITY_HOST override stays in the env, where ours reads it too.
    authority_source = sources.get("authority-host", "")
    if authority_source.startswith("--"):
        conversion.give("authority-host", checked_authority(values["authority-host"]))
    elif not authority_source and values.get("environment"):
        host = environment_authority(values["environment"])
        if host != PUBLIC_CLOUD:  # the public cloud is our default, as it is kubelogin's
            conversion.give("authority-host", host)
    if values.get("federated-token-file") and sources["federated-token-file"].startswith("--"):
        conversion.env[FEDERATED_TOKEN_FILE_ENV] = values["federated-token-file"]
        conversion.note(
            f"--federated-token-file moved to the exec env as {FEDERATED_TOKEN_FILE_ENV}"
        )
    return {"tenant-id", "client-id", "authority-host", "environment", "federated-token-file"}


def _place(
    conversion: Conversion,
    variable: str,
    values: Mapping[str, str],
    sources: Mapping[str, str],
    name: str,
) -> None:
    """Put a secret or file kubelogin had (as a flag or under its own variable) where our
    provider reads it."""
    source = sources[name]
    if source == f"${variable}":
        return  # already there
    conversion.move_secret(source, values[name], variable)
