"""What doctor can tell about a google entry without asking Google."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from credplugin.google_adc import credentials_path


def problems(values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    if values.get("login"):
        return [] if values.get("client_id") else ["--login needs --client-id"]
    path = credentials_path(environ)
    if not os.access(path, os.R_OK):
        return [
            f"no sign-in to refresh: no Application Default Credentials at {path} (run "
            "`gcloud auth application-default login`, or use --login)"
        ]
    return []
