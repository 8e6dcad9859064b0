"""Valuation rules: value an asset or a bundle, certify it as an appraisal report, supersede, go stale.

Who may value: the owner of every asset in the bundle (SME, university), or any bank or evaluator (they
value collateral they are asked to lend against or appraise). Who may read a valuation: the requester,
the current owners of its assets, the certifying evaluator, banks, evaluators and the platform admin;
anyone else gets 404. Only an evaluator certifies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.money import apply_bps, split_largest_remainder
from market.assets.models import Asset
from market.assets.service import ASSET_OWNER_KINDS
from valuation import approaches, config, simulation
from valuation.access import visible_valuations
from valuation.inputs import resolve_inputs
from valuation.models import VALUATION, Valuation, ValuationAsset, ValuationComparable
from valuation.schemas import ValuationIn, ValuationOut
from valuation.scores import score_assets
from valuation.scoring import Score, half_up_div

VALUER_KINDS = ("bank", "evaluator")
CERTIFIER_KINDS = ("evaluator",)
VALUABLE_STATUSES = ("valid", "pending")
STALE_ASSET_STATUSES = ("lapsed", "invalidated", "expired")
DEFAULT_VALID_DAYS = 365



async def _move(session: AsyncSession, actor: Actor, valuation: Valuation, action: str,
                **changes: Any) -> Valuation:
    """One workflow move with the facts that come with it (certifier, staleness), audited together."""
    VALUATION.ensure(valuation, action)  # refuse before touching any field
    for field, value in changes.items():
        setattr(valuation, field, value)
    await VALUATION.apply(session, actor, valuation, action, **changes)
    await session.flush()
    return valuation


# --- valuing -----------------------------------------------------------------------------------------


async def _load_for_valuation(session: AsyncSession, actor: Actor, asset_ids: list[str]) -> list[Asset]:
    if not (actor.is_kind(*ASSET_OWNER_KINDS) or actor.is_kind(*VALUER_KINDS)):
        raise Forbidden("only asset owners, banks and evaluators request valuations")
    rows = {a.id: a for a in (await session.exec(select(Asset).where(col(Asset.id).in_(asset_ids)))).all()}
    missing = [i for i, a in enumerate(asset_ids) if a not in rows]
    if missing:
        raise ValidationFailed("unknown asset", errors=[{"loc": ["body", "asset_ids", i], "msg": "unknown asset"}
                                                        for i in missing])
    assets = [rows[a] for a in asset_ids]
    # The registry is public, so refusing another's asset is 403, not 404 (nothing private is revealed).
    if actor.is_kind(*ASSET_OWNER_KINDS) and any(a.owner_org_id != actor.org_id for a in assets):
        raise Forbidden("an owner may value only its own assets; ask a bank or an evaluator for others")
    for a in assets:
        if a.status not in VALUABLE_STATUSES:
            raise InvalidState(f"asset {a.id} is {a.status}; a valuation of it would be stale at once")
    return assets


async def _comparables(session: AsyncSession, ipc_subclasses: set[str],
                       today: date) -> dict[str, list[ValuationComparable]]:
    """Recent whole-right deals in the given IPC subclasses, newest first, in one query for the bundle."""
    market = config.data()["market"]
    if not ipc_subclasses:
        return {}
    since = today - timedelta(days=365 * market["lookback_years"])
    stmt = (select(ValuationComparable)
            .where(col(ValuationComparable.ipc_subclass).in_(sorted(ipc_subclasses)),
                   col(ValuationComparable.mode).in_(market["modes"]),
                   col(ValuationComparable.recorded_on) >= since, col(ValuationComparable.recorded_on) <= today)
            .order_by(col(ValuationComparable.recorded_on).desc(), col(ValuationComparable.id)))
    by_subclass: dict[str, list[ValuationComparable]] = {s: [] for s in ipc_subclasses}
    for c in (await session.exec(stmt)).all():
        by_subclass[c.ipc_subclass or ""].append(c)
    return by_subclass


@dataclass
class MarketResult:
    value: int | None
    note: str
    prices: list[list[Decimal]] | None
    comparable_ids: list[str]


async def _market(session: AsyncSession, assets: Sequence[Asset], scores: Sequence[Score],
                  today: date) -> MarketResult:
    cfg = config.data()["market"]
    needed = cfg["min_comparables"]
    total = 0
    prices: list[list[Decimal]] = []
    ids: list[str] = []
    shortfalls: list[str] = []
    found = await _comparables(session, {a.ipc_subclass for a in assets if a.ipc_subclass}, today)
    for asset, sc in zip(assets, scores, strict=True):
        if asset.ipc_subclass is None:
            shortfalls.append(f"{asset.id} has no IPC subclass to find comparables by")
            continue
        comps = found[asset.ipc_subclass]
        if len(comps) < needed:
            shortfalls.append(f"too few comparables for {asset.id}: {len(comps)} recorded "
                              f"{'/'.join(cfg['modes'])} deal(s) in {asset.ipc_subclass} in the last "
                              f"{cfg['lookback_years']} years, {needed} needed")
            continue
        life = None if asset.expiry_date is None else max(0, (asset.expiry_date - today).days)
        subject = [approaches.Comparable(c.amount, c.remaining_life_days, c.score_total) for c in comps]
        adjusted = approaches.adjusted_prices(life, sc.total, subject, cfg["adjustment_floor_bps"],
                                              cfg["adjustment_cap_bps"])
        prices.append(adjusted)
        total += approaches.market_value(life, sc.total, subject, cfg["adjustment_floor_bps"],
                                         cfg["adjustment_cap_bps"])
        ids.extend(c.id for c in comps)
    if shortfalls:
        return MarketResult(None, "; ".join(shortfalls) + ": the market approach is left out", None, [])
    return MarketResult(total, f"median of {len(ids)} comparable deal(s) adjusted for remaining life and score",
                        prices, ids)


def _life_used(assets: Sequence[Asset], today: date) -> Fraction:
    shares = []
    for a in assets:
        term = (a.expiry_date - a.filing_date).days if a.expiry_date and a.filing_date else None
        ago = (today - a.filing_date).days if a.filing_date else None
        shares.append(approaches.life_used(ago, term))
    return sum(shares, Fraction(0)) / len(shares)


def _bundle_key(asset_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(asset_ids)).encode()).hexdigest()


async def create_valuation(session: AsyncSession, actor: Actor, body: ValuationIn) -> Valuation:
    assets = await _load_for_valuation(session, actor, body.asset_ids)
    today = await business_date(session)
    resolved = resolve_inputs(body, assets, today)
    inputs = resolved.values
    weights = config.data()["scenarios"][body.scenario]["approaches"]
    scores = await score_assets(session, assets, today, body.scenario)
    notes: dict[str, str] = {}

    income_inputs = None
    income = None
    if inputs["annual_revenue"] is not None:
        income_inputs = simulation.IncomeInputs(
            inputs["annual_revenue"], inputs["royalty_rate_bps"], inputs["tax_rate_bps"], inputs["growth_bps"],
            inputs["discount_rate_bps"], inputs["remaining_life_years"])
        income = approaches.relief_from_royalty(**vars(income_inputs))
        notes["income"] = (f"relief from royalty: revenue × {inputs['royalty_rate_bps']} bps × (1 − "
                           f"{inputs['tax_rate_bps']} bps tax), growing {inputs['growth_bps']} bps a year, "
                           f"discounted at {inputs['discount_rate_bps']} bps over "
                           f"{inputs['remaining_life_years']} years, cash at each year end")
    else:
        notes["income"] = "no annual_revenue given: the income approach is left out"

    market = await _market(session, assets, scores, today)
    notes["market"] = market.note

    cost_inputs = None
    cost = None
    if inputs["rd_cost"] is not None:
        cost_inputs = simulation.CostInputs(inputs["rd_cost"], _life_used(assets, today),
                                            inputs["functional_obsolescence_bps"])
        cost = approaches.cost_value(cost_inputs.rd_cost, cost_inputs.used, cost_inputs.functional_obsolescence_bps)
        used = cost_inputs.used
        notes["cost"] = (f"R&D cost × (1 − {used.numerator}/{used.denominator} of the legal life used up, "
                         f"straight line{', mean over the bundle' if len(assets) > 1 else ''}) × (1 − "
                         f"{inputs['functional_obsolescence_bps']} bps functional obsolescence)")
    else:
        notes["cost"] = "no rd_cost given: the cost approach is left out"

    method_values = {"income": income, "market": market.value, "cost": cost}
    if all(v is None for v in method_values.values()):
        raise ValidationFailed.at(["body", "inputs"], "no approach can value these assets: give annual_revenue "
                                  "(income approach) or rd_cost (cost approach); " + market.note)
    value, used_weights = approaches.reconcile(method_values, weights)
    seed = simulation.seed_for(body.asset_ids, body.scenario, inputs)
    low, high = simulation.value_range(seed, value, used_weights, income_inputs, market.prices, cost_inputs)

    # Per asset: the bundle value split by standalone score, then each kind's loan-to-value.
    split = split_largest_remainder(value, [s.total for s in scores] if any(s.total for s in scores)
                                    else [1] * len(scores))
    # Loan-to-value per kind in the bundle, echoed with the other inputs; a default is listed as applied.
    overrides = body.ltv_bps or {}
    ltv_used: dict[str, int] = {}
    for kind in dict.fromkeys(a.kind for a in assets):
        if kind in overrides:
            ltv_used[kind] = overrides[kind]
        else:
            ltv_used[kind] = config.default_ltv_bps(kind)
            resolved.defaults.append(f"ltv_bps.{kind}")
            resolved.basis[f"ltv_bps.{kind}"] = f"the data file's loan-to-value for {kind}"
    rows = []
    for pos, (asset, sc, part) in enumerate(zip(assets, scores, split, strict=True)):
        ltv = ltv_used[asset.kind]
        rows.append(ValuationAsset(valuation_id="", asset_id=asset.id, position=pos, kind=asset.kind, value=part,
                                   ltv_bps=ltv, borrowing_base=apply_bps(part, ltv), score_total=sc.total))
    n = len(scores)
    valuation = Valuation(
        scenario=body.scenario, asset_ids=list(body.asset_ids), bundle_key=_bundle_key(body.asset_ids),
        requested_by_org_id=actor.org_id, requested_by_user_id=actor.user_id, valuation_date=today,
        value=value, low=low, high=high, income_value=income, market_value=market.value, cost_value=cost,
        approach_weights=used_weights, approach_notes=notes,
        score_legal=half_up_div(sum(s.legal for s in scores), n),
        score_technical=half_up_div(sum(s.technical for s in scores), n),
        score_economic=half_up_div(sum(s.economic for s in scores), n),
        score_total=half_up_div(sum(s.total for s in scores), n),
        borrowing_base=sum(r.borrowing_base for r in rows), inputs={**inputs, "ltv_bps": ltv_used},
        defaults_applied=resolved.defaults, default_basis=resolved.basis,
        market_note=None if market.value is not None else market.note, comparable_ids=market.comparable_ids,
        seed=str(seed))
    previous = await _supersede_targets(session, actor, valuation)
    if previous:
        valuation.supersedes_id = previous[-1].id
    session.add(valuation)
    await session.flush()
    for row in rows:
        row.valuation_id = valuation.id
    session.add_all(rows)
    await session.flush()
    for old in previous:
        await _move(session, actor, old, "supersede", superseded_by_id=valuation.id)
    await audit.record(session, actor, "valuation.created", "valuation", valuation.id,
                       after={"asset_ids": valuation.asset_ids, "scenario": valuation.scenario, "value": value,
                              "low": low, "high": high, "borrowing_base": valuation.borrowing_base,
                              "supersedes_id": valuation.supersedes_id})
    return valuation


async def _supersede_targets(session: AsyncSession, actor: Actor, new: Valuation) -> list[Valuation]:
    """The requester's earlier live valuations of the same bundle and scenario, locked in id order.

    Scoped to the requester: a bank's exploratory valuation must not retire the owner's certified report.
    """
    stmt = (select(Valuation)
            .where(Valuation.bundle_key == new.bundle_key, Valuation.scenario == new.scenario,
                   Valuation.requested_by_org_id == actor.org_id,
                   col(Valuation.status).in_(VALUATION.sources("supersede")))
            .order_by(col(Valuation.id)).with_for_update().execution_options(populate_existing=True))
    return list((await session.exec(stmt)).all())


# --- reading -----------------------------------------------------------------------------------------


async def _per_asset(session: AsyncSession, valuation_id: str) -> list[ValuationAsset]:
    stmt = select(ValuationAsset).where(ValuationAsset.valuation_id == valuation_id).order_by(
        col(ValuationAsset.position))
    return list((await session.exec(stmt)).all())


async def get_valuation(session: AsyncSession, actor: Actor, valuation_id: str, *,
                        lock: bool = False) -> Valuation:
    return await get_or_404(session, Valuation, valuation_id, lock=lock, visible=visible_valuations(actor))


async def describe(session: AsyncSession, valuation: Valuation) -> ValuationOut:
    return ValuationOut.model_validate({
        **valuation.model_dump(include={"id", "status", "scenario", "asset_ids", "valuation_date", "value", "low",
                                        "high", "borrowing_base", "inputs", "defaults_applied", "default_basis",
                                        "market_note", "comparable_ids", "seed", "requested_by_org_id",
                                        "supersedes_id", "superseded_by_id", "certified_by", "certified_on",
                                        "valid_until", "stale_reason", "created_at"}),
        "method_values": {"income": valuation.income_value, "market": valuation.market_value,
                          "cost": valuation.cost_value},
        "method_weights_bps": valuation.approach_weights,
        "method_notes": valuation.approach_notes,
        "score": {"legal": valuation.score_legal, "technical": valuation.score_technical,
                  "economic": valuation.score_economic, "total": valuation.score_total},
        "per_asset": [{"asset_id": r.asset_id, "kind": r.kind, "value": r.value, "ltv_bps": r.ltv_bps,
                       "borrowing_base": r.borrowing_base, "score": r.score_total}
                      for r in await _per_asset(session, valuation.id)],
    })


# --- appraisal reports -------------------------------------------------------------------------------


async def certify(session: AsyncSession, actor: Actor, valuation_id: str, valid_days: int | None) -> Valuation:
    # Who may see it first (404 to everyone else, whatever the verb), then who may certify it.
    locked = await get_valuation(session, actor, valuation_id, lock=True)
    if not actor.is_kind(*CERTIFIER_KINDS):
        raise Forbidden("only an evaluator certifies a valuation")
    today = await business_date(session)
    return await _move(session, actor, locked, "certify", certified_by=actor.org_id,
                       certified_by_user_id=actor.user_id, certified_on=today,
                       valid_until=today + timedelta(days=valid_days or DEFAULT_VALID_DAYS))


async def current_certified(session: AsyncSession, valuation_id: str) -> Valuation | None:
    """The valuation if it is a certified report a loan can cite now: certified, not stale or superseded,
    and valid on the business date; otherwise None."""
    valuation = await session.get(Valuation, valuation_id)
    if valuation is None or valuation.status != "certified" or valuation.valid_until is None:
        return None
    if valuation.valid_until < await business_date(session):
        return None
    return valuation


# --- staleness ---------------------------------------------------------------------------------------


async def mark_stale(session: AsyncSession, asset_id: str, reason: str) -> list[Valuation]:
    """Every live valuation that includes the asset becomes stale; loans hear of it via VALUATION_STALE."""
    ids = select(ValuationAsset.valuation_id).where(ValuationAsset.asset_id == asset_id)
    # Live: what may still go stale (draft or certified).
    stmt = (select(Valuation).where(col(Valuation.id).in_(ids), col(Valuation.status).in_(VALUATION.sources("mark_stale")))
            .order_by(col(Valuation.id)).with_for_update().execution_options(populate_existing=True))
    affected = list((await session.exec(stmt)).all())
    today = await business_date(session)
    for valuation in affected:
        await _move(session, SYSTEM, valuation, "mark_stale", stale_reason=reason[:300], stale_on=today)
        await events.publish(session, events.VALUATION_STALE,
                             {"valuation_id": valuation.id, "asset_ids": list(valuation.asset_ids),
                              "reason": valuation.stale_reason})
    return affected


# --- comparables -------------------------------------------------------------------------------------


async def record_comparables(session: AsyncSession, payload: dict[str, Any]) -> list[ValuationComparable]:
    """Keep a recorded deal's price per asset (split over a bundle by score, largest remainder)."""
    asset_ids = list(payload["asset_ids"])
    recorded_on = payload["recorded_on"]
    if isinstance(recorded_on, str):
        recorded_on = date.fromisoformat(recorded_on)
    existing = set((await session.exec(select(ValuationComparable.asset_id).where(
        ValuationComparable.deal_id == payload["deal_id"]))).all())
    if existing:
        return []  # the same deal announced twice: keep the first
    rows_by_id = {a.id: a for a in (await session.exec(select(Asset).where(col(Asset.id).in_(asset_ids)))).all()}
    assets = [rows_by_id[a] for a in asset_ids if a in rows_by_id]
    if not assets:
        return []
    scores = await score_assets(session, assets, recorded_on, "financing")
    weights = [s.total for s in scores] if any(s.total for s in scores) else [1] * len(scores)
    amount = int(payload["amount"])
    rows = [ValuationComparable(deal_id=payload["deal_id"], asset_id=a.id, kind=a.kind, ipc_subclass=a.ipc_subclass,
                                amount=part, deal_amount=amount, recorded_on=recorded_on, mode=payload["mode"],
                                remaining_life_days=None if a.expiry_date is None
                                else max(0, (a.expiry_date - recorded_on).days),
                                score_total=s.total)
            for a, s, part in zip(assets, scores, split_largest_remainder(amount, weights), strict=True)]
    session.add_all(rows)
    await session.flush()
    return rows
