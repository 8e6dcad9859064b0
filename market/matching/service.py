"""Technology needs, the candidate pool, matching both ways and feedback.

The candidate patents for a need are the dormant pool (``dormant_condition``) plus patents on the
market now (an open listing or an active open-license declaration), other than the need owner's own.
Term vectors are computed on the fly per request (see bench/matching.py for the cost).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import is_unique_violation, utcnow
from kernel.errors import Forbidden, NotFound
from kernel.pagination import paginate
from kernel.text import normalise, query_parts
from market.assets.models import Asset
from market.assets.service import dormant_condition, get_asset
from market.licensing.models import OpenLicenseDeclaration
from market.matching.engine import Doc, Feedback, rank, term_counts
from market.matching.models import MatchFeedback, TechNeed
from market.trading.models import Listing, ListingAsset
from market.trading.service import like


async def create_need(session: AsyncSession, actor: Actor, *, title: str, description: str,
                      ipc_codes: list[str], industry: str | None) -> TechNeed:
    if not actor.is_kind("sme"):
        raise Forbidden("technology needs are posted by SMEs")
    need = TechNeed(org_id=actor.org_id, title=title, description=description, ipc_codes=ipc_codes,
                    industry=industry, search_text=normalise(f"{title}\n{description}"))
    session.add(need)
    await session.flush()
    await audit.record(session, actor, "need.posted", "tech_need", need.id, after=need.model_dump(exclude={"search_text"}))
    return need


async def get_need(session: AsyncSession, need_id: str) -> TechNeed:
    need = await session.get(TechNeed, need_id)
    if need is None:
        raise NotFound("technology need not found")
    return need


async def list_needs(session: AsyncSession, *, q: str | None, org_id: str | None, limit: int,
                     cursor: str | None) -> tuple[list[TechNeed], bool, str | None]:
    stmt = select(TechNeed).where(TechNeed.status == "open")
    for part in query_parts(q or ""):
        stmt = stmt.where(col(TechNeed.search_text).like(like(part), escape="\\"))
    if org_id:
        stmt = stmt.where(TechNeed.org_id == org_id)
    return await paginate(session, stmt, TechNeed.id, limit, cursor)


def _market_condition() -> Any:
    listed = (select(ListingAsset.asset_id).join(Listing, col(Listing.id) == ListingAsset.listing_id)
              .where(Listing.status == "open"))
    declared = select(OpenLicenseDeclaration.asset_id).where(OpenLicenseDeclaration.status == "active")
    return or_(col(Asset.id).in_(listed), col(Asset.id).in_(declared))


async def candidate_docs(session: AsyncSession, exclude_owner: str) -> list[Doc]:
    """The candidate pool as term vectors (columns only: ORM objects for 100,000 rows cost seconds)."""
    dormant = dormant_condition(await business_date(session))
    stmt = (select(Asset.id, Asset.title, Asset.abstract, Asset.ipc_codes, Asset.industry, Asset.ipc_subclass,
                   sa.case((dormant, True), else_=False))
            .where(Asset.owner_org_id != exclude_owner, Asset.status == "valid", or_(dormant, _market_condition())))
    return [Doc(id=i, counts=term_counts(f"{t}\n{ab or ''}"), ipc_codes=list(ipc or []), industry=ind, subclass=sub,
                title=t, notes=["dormant university patent"] if is_dormant else ["on the market"])
            for i, t, ab, ipc, ind, sub, is_dormant in (await session.exec(stmt)).all()]


async def _feedback_for_need(session: AsyncSession, need_id: str) -> list[MatchFeedback]:
    return list((await session.exec(select(MatchFeedback).where(MatchFeedback.need_id == need_id))).all())


async def matches_for_need(session: AsyncSession, actor: Actor, need_id: str, limit: int) -> list[dict[str, Any]]:
    need = await get_need(session, need_id)
    if need.org_id != actor.org_id:
        raise Forbidden("only the need's owner sees its matches")
    docs = await candidate_docs(session, need.org_id)
    fb = Feedback()
    rows = await _feedback_for_need(session, need.id)
    fb.not_relevant = {f.asset_id for f in rows if f.verdict == "not_relevant"}
    fb.interested = {f.asset_id for f in rows if f.verdict == "interested"}
    if fb.interested:
        liked = (await session.exec(select(Asset.ipc_subclass).where(col(Asset.id).in_(fb.interested)))).all()
        fb.interested_subclasses = {s for s in liked if s}
    ranked = rank(f"{need.title}\n{need.description}", need.ipc_codes, need.industry, docs, fb, limit)
    titles = {d.id: d.title for d in docs}
    return [{"asset_id": r["id"], "title": titles[r["id"]], "score": r["score"], "reasons": r["reasons"]}
            for r in ranked]


async def matches_for_asset(session: AsyncSession, actor: Actor, asset_id: str, limit: int) -> list[dict[str, Any]]:
    asset = await get_asset(session, asset_id)
    if asset.owner_org_id != actor.org_id:
        raise Forbidden("only the asset's owner sees its matches")
    needs = list((await session.exec(select(TechNeed).where(TechNeed.status == "open",
                                                            TechNeed.org_id != actor.org_id))).all())
    verdicts = {f.need_id: f.verdict for f in (await session.exec(
        select(MatchFeedback).where(MatchFeedback.asset_id == asset.id))).all()}
    fb = Feedback(not_relevant={n for n, v in verdicts.items() if v == "not_relevant"},
                  interested={n for n, v in verdicts.items() if v == "interested"})
    docs = [Doc(id=n.id, counts=term_counts(f"{n.title}\n{n.description}"), ipc_codes=n.ipc_codes,
                industry=n.industry, title=n.title) for n in needs]
    ranked = rank(f"{asset.title}\n{asset.abstract or ''}", asset.ipc_codes, asset.industry, docs, fb, limit)
    titles = {d.id: d.title for d in docs}
    return [{"need_id": r["id"], "title": titles[r["id"]], "score": r["score"], "reasons": r["reasons"]}
            for r in ranked]


async def record_feedback(session: AsyncSession, actor: Actor, need_id: str, asset_id: str,
                          verdict: str) -> MatchFeedback:
    need = await get_need(session, need_id)
    if need.org_id != actor.org_id:
        raise Forbidden("only the need's owner gives feedback on its matches")
    await get_asset(session, asset_id)
    stmt = select(MatchFeedback).where(MatchFeedback.need_id == need_id, MatchFeedback.asset_id == asset_id)
    row = (await session.exec(stmt.with_for_update())).first()
    if row is None:
        row = MatchFeedback(need_id=need_id, asset_id=asset_id, org_id=actor.org_id, verdict=verdict)
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except sa.exc.IntegrityError as exc:  # a concurrent first verdict on the pair
            if not is_unique_violation(exc):
                raise
            row = (await session.exec(stmt.with_for_update().execution_options(populate_existing=True))).one()
    before = row.verdict
    row.verdict, row.updated_at = verdict, utcnow()
    session.add(row)
    await session.flush()
    await audit.record(session, actor, "match.feedback", "tech_need", need_id,
                       before={"asset_id": asset_id, "verdict": before}, after={"asset_id": asset_id, "verdict": verdict})
    return row
