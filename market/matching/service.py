"""Technology needs, the candidate pool, matching both ways and feedback.

The candidate patents for a need are the dormant pool (``dormant_condition``) plus patents on the
market now (an open listing or an active open-license declaration), other than the need owner's own.
Ranking is two passes: candidates from the inverted index (``retrieval``), then the exact engine score
with reasons on those few hundred (``engine.rank``). See ``index`` for how the index stays current.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404, is_unique_violation, utcnow
from kernel.errors import Forbidden
from kernel.pagination import paginate
from kernel.text import normalise, query_parts
from market.assets.models import Asset
from market.assets.service import dormant_condition, get_asset
from market.licensing.models import OpenLicenseDeclaration
from market.matching import index
from market.matching.engine import Doc, Feedback, rank
from market.matching.models import MatchDoc, MatchFeedback, TechNeed
from market.matching.retrieval import Query, Retrieved, Target, retrieve
from market.matching.schemas import AssetMatchOut, NeedMatchOut
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
    await index.index_documents(session, "need", [index.need_source(need)])
    await audit.record(session, actor, "need.posted", "tech_need", need.id, after=need.model_dump(exclude={"search_text"}))
    return need


async def get_need(session: AsyncSession, need_id: str) -> TechNeed:
    return await get_or_404(session, TechNeed, need_id, label="technology need")


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


def pool_condition(today: date) -> Any:
    """Patents a need may be matched with: the dormant pool and whatever is on the market now."""
    return sa.and_(col(Asset.status) == "valid", or_(dormant_condition(today), _market_condition()))


async def _feedback_for_need(session: AsyncSession, need_id: str) -> list[MatchFeedback]:
    return list((await session.exec(select(MatchFeedback).where(MatchFeedback.need_id == need_id))).all())


async def _corpus(session: AsyncSession, doc_type: str, found: Retrieved,
                  counts: dict[str, dict[str, int]]) -> tuple[int, dict[str, int]]:
    """Document count and the frequencies of every term the query or the candidates hold."""
    missing = {t for c in counts.values() for t in c} - found.df.keys()
    return found.n, {**found.df, **await index.document_frequencies(session, doc_type, missing)}


async def _counts(session: AsyncSession, doc_type: str, ids: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(ids), index.IN_CHUNK):
        rows = await session.exec(select(MatchDoc.doc_id, MatchDoc.counts).where(
            MatchDoc.doc_type == doc_type, col(MatchDoc.doc_id).in_(ids[start : start + index.IN_CHUNK])))
        out.update({i: dict(c or {}) for i, c in rows.all()})
    return out


async def matches_for_need(session: AsyncSession, actor: Actor, need_id: str, limit: int) -> list[AssetMatchOut]:
    need = await get_need(session, need_id)
    if need.org_id != actor.org_id:
        raise Forbidden("only the need's owner sees its matches")
    today = await business_date(session)
    rows = await _feedback_for_need(session, need.id)
    query = Query(text=f"{need.title}\n{need.description}", ipc_codes=need.ipc_codes, industry=need.industry,
                  not_relevant={f.asset_id for f in rows if f.verdict == "not_relevant"},
                  interested={f.asset_id for f in rows if f.verdict == "interested"})
    if query.interested:
        liked = (await session.exec(select(Asset.ipc_subclass).where(col(Asset.id).in_(query.interested)))).all()
        query.liked_subclasses = {s for s in liked if s}
    target = Target("asset", Asset.id, [pool_condition(today), Asset.owner_org_id != need.org_id],
                    Asset.industry, Asset.ipc_subclass)
    found = await retrieve(session, target, query, limit)
    counts = await _counts(session, "asset", found.ids)
    dormant = dormant_condition(today)
    stmt = (select(Asset.id, Asset.title, Asset.ipc_codes, Asset.industry,  # type: ignore[call-overload]  # sqlmodel.select is typed up to 4 columns
                   Asset.ipc_subclass, sa.case((dormant, True), else_=False))
            .where(col(Asset.id).in_(found.ids)))
    docs = [Doc(id=i, counts=Counter(counts.get(i, {})), ipc_codes=list(ipc or []), industry=ind, subclass=sub,
                title=t, notes=["dormant university patent"] if is_dormant else ["on the market"])
            for i, t, ipc, ind, sub, is_dormant in (await session.exec(stmt)).all()] if found.ids else []
    fb = Feedback(not_relevant=query.not_relevant, interested=query.interested,
                  interested_subclasses=query.liked_subclasses)
    ranked = rank(query.text, need.ipc_codes, need.industry, docs, fb, limit,
                  corpus=await _corpus(session, "asset", found, counts))
    titles = {d.id: d.title for d in docs}
    return [AssetMatchOut(asset_id=r["id"], title=titles[r["id"]], score=r["score"], reasons=r["reasons"])
            for r in ranked]


async def matches_for_asset(session: AsyncSession, actor: Actor, asset_id: str, limit: int) -> list[NeedMatchOut]:
    asset = await get_asset(session, asset_id)
    if asset.owner_org_id != actor.org_id:
        raise Forbidden("only the asset's owner sees its matches")
    verdicts = {f.need_id: f.verdict for f in (await session.exec(
        select(MatchFeedback).where(MatchFeedback.asset_id == asset.id))).all()}
    query = Query(text=f"{asset.title}\n{asset.abstract or ''}", ipc_codes=asset.ipc_codes, industry=asset.industry,
                  not_relevant={n for n, v in verdicts.items() if v == "not_relevant"},
                  interested={n for n, v in verdicts.items() if v == "interested"})
    target = Target("need", TechNeed.id, [TechNeed.status == "open", TechNeed.org_id != actor.org_id],
                    TechNeed.industry)
    found = await retrieve(session, target, query, limit)
    counts = await _counts(session, "need", found.ids)
    stmt = select(TechNeed.id, TechNeed.title, TechNeed.ipc_codes, TechNeed.industry).where(
        col(TechNeed.id).in_(found.ids))
    docs = [Doc(id=i, counts=Counter(counts.get(i, {})), ipc_codes=list(ipc or []), industry=ind, title=t)
            for i, t, ipc, ind in (await session.exec(stmt)).all()] if found.ids else []
    fb = Feedback(not_relevant=query.not_relevant, interested=query.interested)
    ranked = rank(query.text, asset.ipc_codes, asset.industry, docs, fb, limit,
                  corpus=await _corpus(session, "need", found, counts))
    titles = {d.id: d.title for d in docs}
    return [NeedMatchOut(need_id=r["id"], title=titles[r["id"]], score=r["score"], reasons=r["reasons"])
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
