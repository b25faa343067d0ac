"""What doctor can tell about an azure entry without asking Entra ID anything."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

# What each credential reads from the environment, and whether it names a file.
NEEDS = {
    "client-secret": (("AZURE_CLIENT_SECRET", False),),
    "client-certificate": (("AZURE_CLIENT_CERTIFICATE_PATH", True),),
    "workload-identity": (("AZURE_FEDERATED_TOKEN_FILE", True),),
}


def problems(values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    kind = str(values.get("credential") or "default")
    found = []
    for variable, is_file in NEEDS.get(kind, ()):
        value = environ.get(variable)
        if not value:
            found.append(f"--credential {kind} needs ${variable}, which is not set")
        elif is_file and not os.access(value, os.R_OK):
            found.append(f"${variable} names {value}, which is not a readable file")
    if kind in ("client-secret", "client-certificate", "workload-identity"):
        for option, variable in (
            ("tenant_id", "AZURE_TENANT_ID"),
            ("client_id", "AZURE_CLIENT_ID"),
        ):
            if not values.get(option):
                found.append(
                    f"--credential {kind} needs --{option.replace('_', '-')} (or ${variable})"
                )
    if kind == "cli" and shutil.which("az") is None:
        found.append("--credential cli runs the Azure CLI, but `az` is not on PATH")
    return found
