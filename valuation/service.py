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

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from kernel.money import apply_bps, split_largest_remainder
from market.assets.models import Asset, OwnershipRecord
from market.assets.service import ASSET_OWNER_KINDS, get_asset, high_value
from valuation import approaches, config, simulation
from valuation.models import Valuation, ValuationAsset, ValuationComparable
from valuation.schemas import ValuationIn
from valuation.scoring import Facts, Population, Score, half_up_div
from valuation.scoring import score as score_facts

VALUER_KINDS = ("bank", "evaluator")
READER_KINDS = ("bank", "evaluator")
CERTIFIER_KINDS = ("evaluator",)
VALUABLE_STATUSES = ("valid", "pending")
STALE_ASSET_STATUSES = ("lapsed", "invalidated", "expired")
DEFAULT_VALID_DAYS = 365

# The valuation workflow: status -> statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"certified", "superseded", "stale"}),
    "certified": frozenset({"superseded", "stale"}),
    "stale": frozenset({"superseded"}),
    "superseded": frozenset(),
}
LIVE = ("draft", "certified")  # what a lapse or change of owner makes stale


async def transition(session: AsyncSession, actor: Actor, valuation: Valuation, to: str, action: str,
                     **changes: Any) -> Valuation:
    """Apply one status move (with its accompanying facts) and audit it, or refuse with 409."""
    if to not in TRANSITIONS[valuation.status]:
        raise InvalidState(f"a {valuation.status} valuation cannot become {to}")
    before = {"status": valuation.status}
    valuation.status = to
    for field, value in changes.items():
        setattr(valuation, field, value)
    session.add(valuation)
    await session.flush()
    await audit.record(session, actor, action, "valuation", valuation.id, before=before,
                       after={"status": to, **changes})
    return valuation


# --- facts and scores -------------------------------------------------------------------------------


def _facts(asset: Asset, transfers: int = 0) -> Facts:
    return Facts(kind=asset.kind, status=asset.status, ipc_subclass=asset.ipc_subclass,
                 filing_date=asset.filing_date, expiry_date=asset.expiry_date, claims_count=asset.claims_count,
                 forward_citations=asset.forward_citations, family_size=len(asset.family_countries or []),
                 awards=tuple(asset.awards or ()), industry=asset.industry,
                 strategic_emerging=asset.strategic_emerging, last_transaction_on=asset.last_transaction_on,
                 transfers=transfers)


async def _transfers(session: AsyncSession, asset_ids: Sequence[str]) -> dict[str, int]:
    """Recorded changes of owner per asset (ownership history entries other than the registration)."""
    stmt = (select(OwnershipRecord.asset_id, sa.func.count())
            .where(col(OwnershipRecord.asset_id).in_(list(asset_ids)), OwnershipRecord.via != "registration")
            .group_by(OwnershipRecord.asset_id))
    return {a: int(n) for a, n in (await session.exec(stmt)).all()}


async def _population(session: AsyncSession, kinds: set[str]) -> Population:
    """The peers each asset is ranked against: every registered asset of the same kinds."""
    stmt = select(Asset.kind, Asset.ipc_subclass, Asset.filing_date, Asset.claims_count,
                  Asset.forward_citations, Asset.family_countries).where(col(Asset.kind).in_(sorted(kinds)))
    peers = [Facts(kind=k, ipc_subclass=ipc, filing_date=fd, claims_count=cc, forward_citations=fc,
                   family_size=len(fam or [])) for k, ipc, fd, cc, fc, fam in (await session.exec(stmt)).all()]
    return Population.build(peers)


async def score_assets(session: AsyncSession, assets: Sequence[Asset], today: date,
                       scenario: str) -> list[Score]:
    transfers = await _transfers(session, [a.id for a in assets])
    population = await _population(session, {a.kind for a in assets})
    return [score_facts(_facts(a, transfers.get(a.id, 0)), population, today, scenario) for a in assets]


async def asset_score(session: AsyncSession, asset_id: str, scenario: str) -> dict[str, Any]:
    asset = await get_asset(session, asset_id)
    today = await business_date(session)
    result = (await score_assets(session, [asset], today, scenario))[0]
    criteria = high_value(asset, today)
    return {"asset_id": asset.id, "scenario": scenario, **result.as_dict(),
            "indicators": [vars(i) for i in result.indicators],
            "weights_bps": config.data()["scenarios"][scenario]["dimensions"],
            "high_value": {"is_high_value": bool(criteria), "criteria": criteria}}


# --- inputs and defaults ---------------------------------------------------------------------------


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
    total, prices, ids, shortfalls = 0, [], [], []
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
        await transition(session, actor, old, "superseded", "valuation.superseded", superseded_by_id=valuation.id)
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
                   col(Valuation.status).in_([s for s, nxt in TRANSITIONS.items() if "superseded" in nxt]))
            .order_by(col(Valuation.id)).with_for_update().execution_options(populate_existing=True))
    return list((await session.exec(stmt)).all())


# --- reading -----------------------------------------------------------------------------------------


async def _per_asset(session: AsyncSession, valuation_id: str) -> list[ValuationAsset]:
    stmt = select(ValuationAsset).where(ValuationAsset.valuation_id == valuation_id).order_by(
        col(ValuationAsset.position))
    return list((await session.exec(stmt)).all())


async def may_read(session: AsyncSession, actor: Actor, valuation: Valuation) -> bool:
    if actor.is_platform_admin or actor.is_kind(*READER_KINDS):
        return True
    if actor.org_id in (valuation.requested_by_org_id, valuation.certified_by):
        return True
    owners = (await session.exec(select(Asset.owner_org_id).where(col(Asset.id).in_(valuation.asset_ids)))).all()
    return actor.org_id in set(owners)


async def get_valuation(session: AsyncSession, actor: Actor, valuation_id: str) -> Valuation:
    valuation = await session.get(Valuation, valuation_id)
    if valuation is None or not await may_read(session, actor, valuation):
        raise NotFound("valuation not found")
    return valuation


async def describe(session: AsyncSession, valuation: Valuation) -> dict[str, Any]:
    return {
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
    }


# --- appraisal reports -------------------------------------------------------------------------------


async def certify(session: AsyncSession, actor: Actor, valuation_id: str, valid_days: int | None) -> Valuation:
    # Who may see it first (404 to everyone else, whatever the verb), then who may certify it.
    valuation = await get_valuation(session, actor, valuation_id)
    if not actor.is_kind(*CERTIFIER_KINDS):
        raise Forbidden("only an evaluator certifies a valuation")
    # populate_existing: the row read above sits in the identity map; the locked read must refresh it, or
    # a concurrent certification would be judged on the status seen before the lock was granted.
    locked = (await session.exec(select(Valuation).where(Valuation.id == valuation.id).with_for_update()
                                 .execution_options(populate_existing=True))).one()
    today = await business_date(session)
    return await transition(session, actor, locked, "certified", "valuation.certified",
                            certified_by=actor.org_id, certified_by_user_id=actor.user_id, certified_on=today,
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
    stmt = (select(Valuation).where(col(Valuation.id).in_(ids), col(Valuation.status).in_(LIVE))
            .order_by(col(Valuation.id)).with_for_update().execution_options(populate_existing=True))
    affected = list((await session.exec(stmt)).all())
    today = await business_date(session)
    for valuation in affected:
        await transition(session, SYSTEM, valuation, "stale", "valuation.stale", stale_reason=reason[:300],
                         stale_on=today)
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
