"""The inputs of the money approaches: what the caller gave, and a documented default for what it left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from kernel.errors import ValidationFailed
from market.assets.models import Asset
from valuation import config
from valuation.schemas import ValuationIn


def _years_left(asset: Asset, today: date) -> int | None:
    if asset.expiry_date is None:
        return None
    return max(0, (asset.expiry_date - today).days) // 365


def _default_life(assets: Sequence[Asset], today: date) -> tuple[int, str]:
    """Whole years to expiry, capped by the kind's economic life; a bundle lives as long as its longest."""
    lives = []
    for a in assets:
        cap = config.kind_data(a.kind)["economic_life_cap_years"]
        left = _years_left(a, today)
        lives.append(max(1, min(cap, left if left is not None else cap)))
    return max(lives), "whole years to expiry capped by the kind's economic life (longest in the bundle)"


@dataclass
class Resolved:
    values: dict[str, Any]
    defaults: list[str]
    basis: dict[str, str]


def resolve_inputs(body: ValuationIn, assets: Sequence[Asset], today: date) -> Resolved:
    given = body.inputs.model_dump(exclude_none=True) if body.inputs else {}
    income_cfg, cost_cfg = config.data()["income"], config.data()["cost"]
    lead = assets[0]
    royalty, royalty_basis = config.default_royalty_bps(lead.kind, lead.industry)
    life, life_basis = _default_life(assets, today)
    defaults: dict[str, tuple[Any, str]] = {
        "royalty_rate_bps": (royalty, f"customary royalty for the first asset's {royalty_basis}"),
        "growth_bps": (income_cfg["growth_bps"], "no growth assumed"),
        "discount_rate_bps": (income_cfg["discount_rate_bps"], "platform default discount rate"),
        "tax_rate_bps": (income_cfg["tax_rate_bps"], "PRC enterprise income tax rate"),
        "remaining_life_years": (life, life_basis),
        "functional_obsolescence_bps": (cost_cfg["functional_obsolescence_bps"], "platform default"),
    }
    values: dict[str, Any] = {"annual_revenue": given.get("annual_revenue"), "rd_cost": given.get("rd_cost")}
    applied, basis = [], {}
    for name, (default, why) in defaults.items():
        if name in given:
            values[name] = given[name]
        else:
            values[name] = default
            applied.append(name)
            basis[name] = why
    if values["discount_rate_bps"] <= values["growth_bps"]:
        raise ValidationFailed.at(["body", "inputs", "discount_rate_bps"],
                                  f"the discount rate ({values['discount_rate_bps']} bps) must exceed the growth "
                                  f"rate ({values['growth_bps']} bps), or the value has no finite limit")
    return Resolved(values, applied, basis)
