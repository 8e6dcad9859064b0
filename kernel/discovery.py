"""Import every module of the domain packages, so whatever registers itself on import (tables, event
subscribers, day-end handlers, payment callbacks, workflows) is registered: there is no list of modules
to forget. The API (``api.registry``) and the migrations (``alembic/env.py``) both start here.
"""

from __future__ import annotations

import importlib
import pkgutil

# Lowest first, as the layers run (api, above them all, discovers its routers itself).
DOMAIN_PACKAGES = ("kernel", "accounts", "market", "valuation", "finance")


def import_all(packages: tuple[str, ...] = DOMAIN_PACKAGES) -> list[str]:
    """Import each package and every module below it; returns the module names imported."""
    names: list[str] = []
    for package in packages:
        module = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            importlib.import_module(info.name)
            names.append(info.name)
    return names
