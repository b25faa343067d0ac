"""The providers: one package per subcommand, listed here without importing any of them.

Each package `credplugin.providers.<package>` holds `PROVIDER`, its declaration, in its
`__init__` (read on every call), and `Fetcher` in its `fetch` module (read on a cache miss);
see base.py. A lookup loads one declaration: the subcommand `google-service-account` is the
package `google_service_account`, and so is Backstage's `googleServiceAccount`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # hot path: no typing import
if TYPE_CHECKING:
    from credplugin.providers.base import Declaration

# In the order `credplugin --help` lists them: the machine's identities, then a person's.
PACKAGES = (
    "aws",
    "azure",
    "google_service_account",
    "local_kubectl_proxy",
    "service_account",
    "aks",
    "google",
    "oidc",
)


def load(package: str) -> Declaration:
    module_name = "credplugin.providers." + package
    # __import__ rather than importlib.import_module: importlib is not loaded at startup.
    __import__(module_name)
    declaration: Declaration = sys.modules[module_name].PROVIDER
    return declaration


def lookup(name: str) -> Declaration | None:
    """The provider called `name` (its subcommand or its Backstage name), else None."""
    package = "".join("_" + c.lower() if c.isupper() else c for c in name).replace("-", "_")
    if package not in PACKAGES:
        return None
    declaration = load(package)
    return declaration if name in (declaration.name, declaration.backstage) else None


def declarations() -> list[Declaration]:
    """Every declaration, in help order (loads them all: not for the hot path)."""
    return [load(package) for package in PACKAGES]
