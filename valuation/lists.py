"""The list of valuations a caller may read (``valuation.access``), with the assets'
titles and the organisations' names: one query for the page, one ``IN (…)`` for the titles."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from kernel.actor import Actor
from kernel.db import table_of
from kernel.errors import ValidationFailed
from kernel.pagination import cut_page, page_window
from market.assets.models import Asset
from valuation.access import visible_valuations
from valuation.models import VALUATION_STATUSES, Valuation, ValuationAsset

V, VA, A = table_of(Valuation), table_of(ValuationAsset), table_of(Asset)
Requester, Certifier = table_of(Org).alias("requester"), table_of(Org).alias("certifier")


class ValuedAsset(BaseModel):
    asset_id: str
    title: str
    value: int
    borrowing_base: int


class ValuationSummary(BaseModel):
    id: str
    status: str
    scenario: str
    valuation_date: date
    value: int
    low: int
    high: int
    borrowing_base: int
    assets: list[ValuedAsset]
    requested_by_org_id: str
    requested_by_name: str
    certified_by: str | None
    certified_by_name: str | None
    certified_on: date | None
    valid_until: date | None
    created_at: datetime


async def list_valuations(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                          oldest_first: bool = False, asset_id: str | None = None, status: str | None = None,
                          ) -> tuple[list[ValuationSummary], bool, str | None]:
    if status is not None and status not in VALUATION_STATUSES:
        raise ValidationFailed.at(["query", "status"], f"status must be one of {', '.join(VALUATION_STATUSES)}")
    stmt = (sa.select(V.c.id, V.c.status, V.c.scenario, V.c.valuation_date, V.c.value, V.c.low, V.c.high,
                      V.c.borrowing_base, V.c.requested_by_org_id, Requester.c.name.label("requested_by_name"),
                      V.c.certified_by, Certifier.c.name.label("certified_by_name"), V.c.certified_on,
                      V.c.valid_until, V.c.created_at)
            .join(Requester, Requester.c.id == V.c.requested_by_org_id)
            .outerjoin(Certifier, Certifier.c.id == V.c.certified_by).where(visible_valuations(actor)))
    if status is not None:
        stmt = stmt.where(V.c.status == status)
    if asset_id is not None:
        stmt = stmt.where(V.c.id.in_(sa.select(VA.c.valuation_id).where(VA.c.asset_id == asset_id)))
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, V.c.id, limit, cursor,
                                                                       oldest_first=oldest_first))).all()), limit)
    per_asset: dict[str, list[ValuedAsset]] = {r.id: [] for r in rows}
    if rows:
        parts = await session.exec(  # type: ignore[call-overload]  # exec() is typed for sqlmodel.select; Core runs alike
            sa.select(VA.c.valuation_id, VA.c.asset_id, A.c.title, VA.c.value, VA.c.borrowing_base)
            .join(A, A.c.id == VA.c.asset_id).where(VA.c.valuation_id.in_(list(per_asset)))
            .order_by(VA.c.valuation_id, VA.c.position))
        for p in parts:
            per_asset[p.valuation_id].append(ValuedAsset(asset_id=p.asset_id, title=p.title, value=p.value,
                                                         borrowing_base=p.borrowing_base))
    return [ValuationSummary(**r._mapping, assets=per_asset[r.id]) for r in rows], more, nxt
