"""Where the shared golden vectors live, and how to read them.

``IPM_SHARED_DIR`` if set; else ``<repo root>/../shared`` (the layout of a checkout beside the shared
folder); else ``/work/shared``.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def vectors_dir() -> Path:
    configured = os.environ.get("IPM_SHARED_DIR")
    candidates = [Path(configured)] if configured else [REPO_ROOT.parent / "shared", Path("/work/shared")]
    for shared in candidates:
        if (shared / "vectors").is_dir():
            return shared / "vectors"
    raise FileNotFoundError(f"no vectors folder in {', '.join(map(str, candidates))}")


def load(name: str) -> dict[str, Any]:
    return json.loads((vectors_dir() / name).read_text(encoding="utf-8"))


def fen(yuan: str) -> int:
    """"85309.90" -> 8530990, exactly."""
    value = Decimal(yuan) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{yuan} is not a whole number of fen")
    return int(value)
