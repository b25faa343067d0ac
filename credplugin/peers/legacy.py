"""kubectl's removed `auth-provider` entries (gcp, oidc, azure) -> credplugin exec entries.

kubectl 1.26 dropped these plugins: such an entry no longer works at all, so converting it is
how its user gets going again. The tokens client-go cached in the entry (access-token,
id-token, refresh-token, expiry) are dropped: credplugin fetches and caches its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from credplugin.peers import azure
from credplugin.peers.model import Conversion, Site, Unconvertible, decode_pem_data

# What client-go kept in the entry after a login or refresh: not configuration.
CACHED_TOKENS = frozenset(
    {"access-token", "id-token", "refresh-token", "expiry", "expires-in", "expires-on"}
)
# What gcloud writes for its account's token (USE_GKE_GCLOUD_AUTH_PLUGIN=False).
GCLOUD_HELPER_ARGS = ["config", "config-helper", "--format=json"]
GCLOUD_HELPER_KEYS = {
    "token-key": "{.credential.access_token}",
    "expiry-key": "{.credential.token_expiry}",
}


def from_auth_provider(name: str, config: Mapping[str, str], site: Site) -> Conversion:
    if name == "gcp":
        conversion = _gcp(config)
    elif name == "oidc":
        conversion = _oidc(config, site)
    elif name == "azure":
        conversion = _azure(config)
    else:
        raise Unconvertible(f"auth-provider {name!r} is none convert knows (gcp, oidc, azure)")
    dropped = sorted(CACHED_TOKENS & set(config))
    if dropped:
        conversion.note(f"cached {', '.join(dropped)} dropped: credplugin keeps its own cache")
    return conversion


def _gcp(config: Mapping[str, str]) -> Conversion:
    if config.get("service-acct"):
        raise Unconvertible(
            "service-acct holds a service account key inline: save it to a file and use "
            "credplugin google-service-account --key-file"
        )
    command = config.get("cmd-path")
    if not command:
        # client-go's gcp plugin without a command: Application Default Credentials.
        conversion = Conversion("google-service-account", "auth-provider gcp (ADC)")
        scopes = [s.strip() for s in config.get("scopes", "").split(",") if s.strip()]
        conversion.give_each("scopes", scopes)
        return conversion
    # client-go splits on whitespace, cmd-path too when there is no cmd-args.
    if "cmd-args" in config:
        args = config["cmd-args"].split()
    else:
        command, *args = command.split()
    if os.path.basename(command) != "gcloud" or args != GCLOUD_HELPER_ARGS:
        raise Unconvertible(
            f"auth-provider gcp runs {command} {' '.join(args)}, not gcloud's helper"
        )
    for key, expected in GCLOUD_HELPER_KEYS.items():
        if config.get(key, expected) != expected:
            raise Unconvertible(f"auth-provider gcp reads {key} {config[key]!r} from gcloud")
    if config.get("scopes"):
        raise Unconvertible("scopes with cmd-path (client-go refuses that entry)")
    conversion = Conversion("google", "auth-provider gcp (gcloud)")
    conversion.give("gcloud")
    return conversion


def _oidc(config: Mapping[str, str], site: Site) -> Conversion:
    issuer, client_id = config.get("idp-issuer-url"), config.get("client-id")
    if not (issuer and client_id):
        raise Unconvertible("no idp-issuer-url or client-id (client-go requires both)")
    conversion = Conversion("oidc", "auth-provider oidc")
    conversion.give("issuer-url", issuer)
    conversion.give("client-id", client_id)
    if config.get("client-secret"):
        variable = conversion.variable_of("client-secret")
        conversion.move_secret("client-secret", config["client-secret"], variable)
    scopes = [s.strip() for s in config.get("extra-scopes", "").split(",") if s.strip()]
    conversion.give_each("extra-scope", scopes)
    if config.get("idp-certificate-authority"):
        conversion.give("certificate-authority", config["idp-certificate-authority"])
    elif config.get("idp-certificate-authority-data"):
        pem = decode_pem_data(
            config["idp-certificate-authority-data"], "idp-certificate-authority-data"
        )
        path = conversion.ca_bundle(site, [pem], "idp-certificate-authority-data")
        conversion.give("certificate-authority", path)
    # client-go only refreshed tokens another program had obtained; credplugin logs in itself.
    conversion.note(
        "client-go only refreshed the tokens another tool put here; credplugin logs in itself "
        "(browser, redirect http://127.0.0.1:8000/ or :18000/): register that redirect URI "
        "at the issuer, or add --redirect-url"
    )
    return conversion


def _azure(config: Mapping[str, str]) -> Conversion:
    # client-go: config-mode "" or "0" asks for an AADv1 token (audience spn:<apiserver-id>).
    if config.get("config-mode", "") != "1":
        raise Unconvertible(
            "config-mode 0 asks for AADv1 tokens (audience spn:<apiserver-id>), which are not "
            "implemented; migrate the cluster to AKS-managed Entra integration"
        )
    for key in ("tenant-id", "client-id", "apiserver-id"):
        if not config.get(key):
            raise Unconvertible(f"no {key} (client-go requires it)")
    conversion = Conversion("aks", "auth-provider azure")
    conversion.give("tenant-id", config["tenant-id"])
    conversion.give("client-id", config["client-id"])
    conversion.give("server-id", config["apiserver-id"])
    # client-go's azure plugin signed in with a device code.
    conversion.give("login", "devicecode")
    if config.get("environment"):
        conversion.give("authority-host", azure.environment_authority(config["environment"]))
    return conversion
