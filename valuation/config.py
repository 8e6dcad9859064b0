"""The valuation data file (indicators, weights per scenario, defaults and their sources), read once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from kernel.settings import get_settings

DATA_FILE = Path(__file__).with_name("indicators.json")
SCENARIOS = ("financing", "transfer")
APPROACHES = ("income", "market", "cost")
DIMENSIONS = ("legal", "technical", "economic")


@lru_cache
def data() -> dict[str, Any]:
    loaded = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    _check(loaded)
    return loaded


def _check(d: dict[str, Any]) -> None:
    """Fail at start-up, not mid-request, if the data file's weights do not add up."""
    indicators = d["score"]["indicators"]
    for name in SCENARIOS:
        sc = d["scenarios"][name]
        _require(sum(sc["dimensions"].values()) == 10000, f"{name}: dimension weights must sum to 10000")
        _require(set(sc["approaches"]) == set(APPROACHES), f"{name}: one weight per approach")
        _require(set(sc["indicators"]) == set(indicators), f"{name}: one weight per indicator")
        for dim in DIMENSIONS:
            total = sum(w for ind, w in sc["indicators"].items() if indicators[ind]["dimension"] == dim)
            _require(total == 10000, f"{name}: {dim} indicator weights must sum to 10000")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"{DATA_FILE.name}: {message}")


def kind_data(kind: str) -> dict[str, Any]:
    return data()["kinds"][kind]


def default_royalty_bps(kind: str, industry: str | None) -> tuple[int, str]:
    """The royalty default: the industry's customary rate when the data file knows it, else the kind's."""
    table = data()["industry_royalty_bps"]
    key = (industry or "").strip().lower().replace(" ", "_").replace("-", "_")
    if key in table and not key.startswith("_"):
        return int(table[key]), f"industry {key}"
    return int(kind_data(kind)["royalty_bps"]), f"kind {kind}"


def default_ltv_bps(kind: str) -> int:
    if kind == "geographical_indication":
        configured = get_settings().gi_ltv_bps
        if configured is not None:
            return configured
    return int(kind_data(kind)["ltv_bps"])
