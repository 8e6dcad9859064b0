"""Registration cannot be forgotten: every module that registers something on import (a table, an event
subscriber, a day-end handler, a payment callback, a workflow) is imported by what the API imports, and
the migrations do not reach up into the API for their list of tables."""

from __future__ import annotations

import ast
import re
import sys

import api.registry  # noqa: F401  (what api.app imports)
from kernel import day_end, events
from tests.kernel.project import ROOT, module_name, parse, project_files

# Decorators and calls that register at import time.
REGISTERING = re.compile(r"^(subscribe|day_end_handler|on_settled|on_failed|on_refunded|on_\w+)$")


def _registers(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
                k.arg == "table" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords):
            return True
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "Workflow" or REGISTERING.match(name):
                return True
    return False


def registering_modules() -> list[str]:
    skip = {"bench", "demo"}  # scripts, not the application
    return [module_name(p) for p in project_files()
            if module_name(p).split(".")[0] not in skip and _registers(parse(p))]


def test_every_registering_module_is_imported_by_the_app():
    found = registering_modules()
    assert "market.day_end" in found and "valuation.subscribers" in found and "kernel.audit" in found
    missing = [m for m in found if m not in sys.modules]
    assert missing == [], f"not imported by api.registry (so never registered): {missing}"


def test_the_known_registrations_are_in_place():
    handlers = {h.name for h in day_end.registered_handlers()}
    assert {"market.assets.expire", "market.auctions.close", "market.matching.refresh"} <= handlers
    assert events._subscribers.get(events.DEAL_RECORDED)


def test_migrations_do_not_import_the_api():
    tree = parse(ROOT / "alembic" / "env.py")
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m == "api" or m.startswith("api.")], imported
