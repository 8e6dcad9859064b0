"""CI gate: a status is written only by kernel.workflow (``Workflow.apply``/``apply_bulk``/``start``).

Any assignment to an attribute named ``status``, ``escrow_state`` or any workflow's ``field`` (also
``setattr(obj, "status", …)``) anywhere else in the project fails this test.
"""

from __future__ import annotations

import ast

import api.registry  # noqa: F401  (every workflow registers itself)
from kernel.workflow import Workflow
from tests.kernel.project import ROOT, parse, project_files

ALLOWED = {ROOT / "kernel" / "workflow.py"}


def _forbidden_fields() -> set[str]:
    return {"status", "escrow_state"} | {wf.field for wf in Workflow.registry.values()}


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found: list[ast.expr] = []
        for target in node.targets:
            found.extend(target.elts if isinstance(target, ast.Tuple | ast.List) else [target])
        return found
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return [node.target]
    return []


def status_writes(tree: ast.Module, fields: set[str]) -> list[tuple[int, str]]:
    writes = []
    for node in ast.walk(tree):
        for target in _targets(node):
            if isinstance(target, ast.Attribute) and target.attr in fields:
                writes.append((target.lineno, f".{target.attr} ="))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in fields):
            writes.append((node.lineno, f"setattr(..., {node.args[1].value!r})"))
    return writes


def test_no_status_written_outside_the_workflow_module():
    fields = _forbidden_fields()
    offenders = [f"{path.relative_to(ROOT)}:{line}: {what}"
                 for path in project_files() if path not in ALLOWED
                 for line, what in status_writes(parse(path), fields)]
    assert offenders == [], "write statuses through a kernel.workflow.Workflow:\n" + "\n".join(offenders)


def test_the_gate_sees_every_shape_of_write():
    tree = ast.parse("a.status = 'x'\nb.escrow_state, c.n = 1, 2\nd.status: str = 'y'\n"
                     "setattr(e, 'status', 'z')\nf.statuses = []\ng = h.status\n")
    assert [line for line, _ in status_writes(tree, {"status", "escrow_state"})] == [1, 2, 3, 4]
