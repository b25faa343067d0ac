"""google-service-account: not implemented yet; the subcommand exits non-zero saying so."""

from __future__ import annotations

from credplugin.options import Option
from credplugin.providers.base import NotImplementedYet

OPTIONS: tuple[Option, ...] = ()


class GoogleServiceAccountProvider(NotImplementedYet):
    NAME = "google-service-account"


PROVIDER = GoogleServiceAccountProvider
