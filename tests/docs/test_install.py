"""`make run` installs only what serving needs; the Makefile lets uv trust the system's certificates."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv") or str(Path.home() / ".local/bin/uv")


def _make_dry_run(target: str) -> str:
    return subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_run_syncs_without_the_dev_group_and_test_with_it() -> None:
    run = _make_dry_run("run")
    assert re.search(r"sync --frozen --no-dev", run)
    assert "run --no-sync python -m api" in run and "pytest" not in run
    test = _make_dry_run("test")
    assert re.search(r"sync --frozen\s*$", test, re.M) and "run --no-sync pytest" in test
    makefile = (ROOT / "Makefile").read_text()
    assert "export UV_NATIVE_TLS ?= 1" in makefile and "export UV_SYSTEM_CERTS ?= 1" in makefile


@pytest.mark.skipif(not Path(UV).exists(), reason="uv not installed")
def test_serving_set_has_no_test_tools() -> None:
    out = subprocess.run([UV, "export", "--frozen", "--no-dev", "--no-hashes", "--no-header"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    names = {re.split(r"[=<>\[ ;]", line.strip(), maxsplit=1)[0].lower() for line in out.splitlines()
             if line.strip() and not line.startswith(("#", " "))}
    assert {"fastapi", "uvicorn", "openpyxl", "fastapi-offline"} <= names
    assert not names & {"pytest", "ruff", "hypothesis", "playwright", "respx", "pytest-asyncio"}
