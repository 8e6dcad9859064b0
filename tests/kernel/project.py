"""The project's own Python modules, for the source-reading gates (status writes, registration)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Not the application: the tests themselves, the migrations (generated), the virtualenv.
EXCLUDED = {"tests", "alembic", ".venv", ".git", ".ci"}


def project_files() -> Iterator[Path]:
    for top in sorted(ROOT.iterdir()):
        if top.is_dir() and top.name not in EXCLUDED and not top.name.startswith("."):
            yield from sorted(top.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
