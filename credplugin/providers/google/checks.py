"""What doctor can tell about a google entry without asking Google."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from credplugin.google_adc import credentials_path


def problems(values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    if values.get("login"):
        return [] if values.get("client_id") else ["--login needs --client-id"]
    if values.get("gcloud") or values.get("account"):
        if shutil.which("gcloud", path=environ.get("PATH")) is None:
            return ["--gcloud runs the gcloud CLI, but `gcloud` is not on PATH"]
        return []
    path = credentials_path(environ)
    if not os.access(path, os.R_OK):
        return [
            f"no sign-in to refresh: no Application Default Credentials at {path} (run "
            "`gcloud auth application-default login`, or use --gcloud or --login)"
        ]
    return []
