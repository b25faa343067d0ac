"""What doctor can tell about an aws entry without signing anything."""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from typing import Any

from credplugin.providers.aws import identity_files

# arn:PARTITION:iam::ACCOUNT:role/PATH/NAME, as IAM writes them.
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]+$")


def problems(values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    found = []
    role = values.get("role_arn")
    if role and not ROLE_ARN.match(str(role)):
        found.append(f"--role-arn {role!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    profile = values.get("profile") or environ.get("AWS_PROFILE")
    if profile and profile not in profiles(values, environ):
        known = ", ".join(sorted(profiles(values, environ))) or "none"
        found.append(f"AWS profile {profile!r} is in neither AWS config file (profiles: {known})")
    return found


def profiles(values: Mapping[str, Any], environ: Mapping[str, str]) -> set[str]:
    """The profiles the shared config and credentials files name."""
    config_file, credentials_file = identity_files(values, environ)
    names: set[str] = set()
    for path, prefix in ((config_file, "profile "), (credentials_file, "")):
        parser = configparser.RawConfigParser()
        try:
            parser.read(os.path.expanduser(path))
        except configparser.Error:
            continue
        for section in parser.sections():
            if section == "default" or not prefix:
                names.add(section)
            elif section.startswith(prefix):
                names.add(section[len(prefix) :].strip())
    return names
