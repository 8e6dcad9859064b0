"""Indicator scores (GB/T 42748-2023) of registered assets, ranked against their peers of the same kind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.clock import business_date
from market.assets.models import Asset, OwnershipRecord
from market.assets.service import get_asset, high_value
from valuation import config
from valuation.schemas import AssetScoreOut
from valuation.scoring import Facts, Population, Score
from valuation.scoring import score as score_facts


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
    stmt = select(Asset.kind, Asset.ipc_subclass, Asset.filing_date, Asset.claims_count,  # type: ignore[call-overload]  # sqlmodel.select is typed up to 4 columns
                  Asset.forward_citations, Asset.family_countries).where(col(Asset.kind).in_(sorted(kinds)))
    peers = [Facts(kind=k, ipc_subclass=ipc, filing_date=fd, claims_count=cc, forward_citations=fc,
                   family_size=len(fam or [])) for k, ipc, fd, cc, fc, fam in (await session.exec(stmt)).all()]
    return Population.build(peers)


async def score_assets(session: AsyncSession, assets: Sequence[Asset], today: date,
                       scenario: str) -> list[Score]:
    transfers = await _transfers(session, [a.id for a in assets])
    population = await _population(session, {a.kind for a in assets})
    return [score_facts(_facts(a, transfers.get(a.id, 0)), population, today, scenario) for a in assets]


async def asset_score(session: AsyncSession, asset_id: str, scenario: str) -> AssetScoreOut:
    asset = await get_asset(session, asset_id)
    today = await business_date(session)
    result = (await score_assets(session, [asset], today, scenario))[0]
    criteria = high_value(asset, today)
    return AssetScoreOut.model_validate({
        "asset_id": asset.id, "scenario": scenario, **result.as_dict(),
        "indicators": [vars(i) for i in result.indicators],
        "weights_bps": config.data()["scenarios"][scenario]["dimensions"],
        "high_value": {"is_high_value": bool(criteria), "criteria": criteria}})
