"""What a loan's pledged bundle is worth to the bank now: each pledged asset at its part in the latest
certified valuation that values it, times its loan-to-value.

The valuations in play are the loan's own (the one its application cited) and, in the order they came,
every later one recorded in ``loan_collateral_valuations``: a revaluation by the bank, the valuation of
assets the borrower added or substituted. An asset that is no longer valid (lapsed, expired, invalidated)
counts nothing; one that no valuation values counts nothing either (the bank revalues the bundle).

The borrowing base must cover the outstanding principal plus a margin on it: the bank's (named with its
latest revaluation, 0 unless it named one) or the covering programme's ``collateral_margin_bps``,
whichever is more; below that a margin call is due (``margin``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import outbound
from finance.loans.models import Loan
from finance.loans.schemas import CollateralAssetOut, CollateralOut
from finance.servicing.models import LoanCollateralValuation
from kernel.actor import Actor
from kernel.db import get_or_404
from kernel.errors import InvalidState, ValidationFailed
from kernel.money import apply_bps
from market.assets.models import Asset
from valuation import service as valuation_service
from valuation.access import visible_valuations
from valuation.models import Valuation, ValuationAsset


@dataclass(frozen=True, slots=True)
class Part:
    asset_id: str
    valuation_id: str | None
    value: int
    ltv_bps: int
    status: str

    @property
    def borrowing_base(self) -> int:
        return apply_bps(self.value, self.ltv_bps) if self.status == "valid" else 0


@dataclass
class Cover:
    parts: list[Part]
    outstanding_principal: int
    margin_bps: int  # the margin that applies (the bank's or the programme's, whichever is more)
    valuation_id: str | None  # the latest valuation in play
    valuation_ids: list[str] = field(default_factory=list)
    bank_margin_bps: int = 0

    @property
    def security_value(self) -> int:
        return sum(p.value for p in self.parts if p.status == "valid")

    @property
    def borrowing_base(self) -> int:
        return sum(p.borrowing_base for p in self.parts)

    @property
    def required(self) -> int:
        """What the borrowing base must reach: the outstanding principal plus the margin on it."""
        return self.outstanding_principal + apply_bps(self.outstanding_principal, self.margin_bps)

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.borrowing_base)

    @property
    def lost_assets(self) -> list[str]:
        return [p.asset_id for p in self.parts if p.status != "valid"]


async def later_valuations(session: AsyncSession, loan_id: str) -> list[LoanCollateralValuation]:
    stmt = (select(LoanCollateralValuation).where(LoanCollateralValuation.loan_id == loan_id)
            .order_by(col(LoanCollateralValuation.seq)))
    return list((await session.exec(stmt)).all())


async def next_seq(session: AsyncSession, loan_id: str) -> int:
    rows = await later_valuations(session, loan_id)
    return (rows[-1].seq + 1) if rows else 1


async def valuation_parts(session: AsyncSession, valuation_ids: Sequence[str]) -> list[ValuationAsset]:
    if not valuation_ids:
        return []
    return list((await session.exec(select(ValuationAsset).where(
        col(ValuationAsset.valuation_id).in_(list(valuation_ids))))).all())


async def cover(session: AsyncSession, loan: Loan, *, drop: Iterable[str] = (),
                add: Sequence[ValuationAsset] = (), later: Sequence[Any] | None = None,
                statuses: Mapping[str, str] | None = None) -> Cover:
    """The loan's cover now; ``drop`` and ``add`` ask what it would be with those assets released or
    those valued assets pledged (a release or substitution before it is approved). ``later`` (the
    loan's later valuations, by seq: their valuation_id, source, margin_bps) and ``statuses`` (of the
    loan's assets) when the caller has read them already."""
    if later is None:
        later = await later_valuations(session, loan.id)
    order = [v for v in [loan.valuation_id, *(r.valuation_id for r in later)] if v]
    rank = {v: i for i, v in enumerate(order)}  # a valuation cited twice ranks at its latest citation
    dropped = set(drop)
    asset_ids = [a for a in loan.asset_ids if a not in dropped]
    asset_ids += [p.asset_id for p in add if p.asset_id not in asset_ids]
    best: dict[str, ValuationAsset] = {}
    for part in await valuation_parts(session, list(rank)):
        held = best.get(part.asset_id)
        if held is None or rank[part.valuation_id] > rank[held.valuation_id]:
            best[part.asset_id] = part
    best.update({p.asset_id: p for p in add})
    if statuses is None or not set(asset_ids) <= set(statuses):
        statuses = dict((await session.exec(select(Asset.id, Asset.status).where(
            col(Asset.id).in_(asset_ids)))).all())
    parts = [Part(a, best[a].valuation_id if a in best else None, best[a].value if a in best else 0,
                  best[a].ltv_bps if a in best else 0, statuses.get(a, "unknown")) for a in asset_ids]
    # The bank's margin (its latest revaluation's) or the covering programme's, whichever is more.
    bank_margin = next((r.margin_bps for r in reversed(later) if r.source == "revaluation"), 0)
    rules = await outbound.programme_rules(session, loan)
    margin = max(bank_margin, rules.collateral_margin_bps) if rules is not None else bank_margin
    latest: str | None = next(iter([p.valuation_id for p in add][-1:] or order[-1:]), None)
    return Cover(parts, loan.outstanding_principal, margin, latest, order, bank_margin)


async def position(session: AsyncSession, loan: Loan, *, later: Sequence[Any] | None = None,
                   statuses: Mapping[str, str] | None = None) -> CollateralOut | None:
    """The loan's collateral as ``GET /loans/{id}`` shows it; None while no valuation values it
    (``later``, ``statuses``: as ``cover`` takes them)."""
    c = await cover(session, loan, later=later, statuses=statuses)
    if c.valuation_id is None:
        return None
    valuation = await session.get(Valuation, c.valuation_id)
    return CollateralOut(valuation_id=c.valuation_id, valuation_status=valuation.status if valuation else "unknown",
                         security_value=c.security_value, borrowing_base=c.borrowing_base,
                         outstanding_principal=c.outstanding_principal, shortfall=c.shortfall,
                         lost_assets=c.lost_assets, margin_bps=c.margin_bps, required=c.required,
                         valuation_ids=c.valuation_ids,
                         assets=[CollateralAssetOut(asset_id=p.asset_id, valuation_id=p.valuation_id, value=p.value,
                                                    ltv_bps=p.ltv_bps, borrowing_base=p.borrowing_base,
                                                    status=p.status) for p in c.parts])


async def certified_of(session: AsyncSession, actor: Actor | None, valuation_id: str,
                       asset_ids: Sequence[str] | None,
                       field_: str = "valuation_id") -> tuple[Valuation, list[ValuationAsset]]:
    """A certified valuation current today (of exactly ``asset_ids`` when given) and its parts; one the
    caller may not see is not found."""
    await get_or_404(session, Valuation, valuation_id, label="valuation",
                     visible=visible_valuations(actor) if actor is not None else None)
    valuation = await valuation_service.current_certified(session, valuation_id)
    if valuation is None:
        raise InvalidState(f"valuation {valuation_id} is not a certified appraisal report valid today")
    if asset_ids is not None and set(valuation.asset_ids) != set(asset_ids):
        raise ValidationFailed.at(["body", field_], "the valuation is not of exactly these assets")
    return valuation, await valuation_parts(session, [valuation.id])
