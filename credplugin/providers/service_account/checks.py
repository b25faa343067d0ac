"""What doctor can tell about a service-account entry without reading the token."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from credplugin.providers.service_account import IN_CLUSTER_TOKEN_FILE


def problems(values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    if values.get("token_file") and values.get("token_env"):
        return ["--token-file and --token-env exclude each other"]
    if values.get("token_file") or values.get("token_env"):
        return []  # the option's own file or variable is checked as named
    if not os.access(IN_CLUSTER_TOKEN_FILE, os.R_OK):
        return [
            f"neither --token-file nor --token-env, and no in-cluster token at "
            f"{IN_CLUSTER_TOKEN_FILE} (this is not a pod)"
        ]
    return []
