"""Encumbrances: what a pledge or a license stops the owner from doing, as the law says.

A pledged asset may not be assigned, licensed in any way (exclusive, sole, non-exclusive, open) or
pledged again without the pledgee's consent (Civil Code art. 444; ``consents`` records those consents). An exclusive or sole license blocks any other
license; an open-license declaration blocks exclusive and sole licenses (Patent Law art. 51).
Other packages (finance, licensing) encumber and release through this module only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import InvalidState
from market.assets import consents
from market.assets.errors import AssetEncumbered
from market.assets.models import Asset, Encumbrance

ACTIONS = ("assign", "exclusive_license", "sole_license", "nonexclusive_license", "open_license", "pledge")

BLOCKS: dict[str, frozenset[str]] = {
    "pledge": frozenset({"assign", "exclusive_license", "sole_license", "nonexclusive_license", "open_license",
                         "pledge"}),
    "exclusive_license": frozenset({"exclusive_license", "sole_license", "nonexclusive_license", "open_license"}),
    "sole_license": frozenset({"exclusive_license", "sole_license", "nonexclusive_license", "open_license"}),
    "open_license": frozenset({"exclusive_license", "sole_license"}),
}
# Legal statuses in which an action is possible at all.
LIVE_STATUSES: dict[str, frozenset[str]] = {
    "pledge": frozenset({"valid"}),
    "open_license": frozenset({"valid"}),
}
DEFAULT_LIVE = frozenset({"valid", "pending"})


async def active_for(session: AsyncSession, asset_ids: Sequence[str]) -> list[Encumbrance]:
    stmt = select(Encumbrance).where(col(Encumbrance.asset_id).in_(list(asset_ids)),
                                     col(Encumbrance.released_on).is_(None)).order_by(Encumbrance.id)
    return list((await session.exec(stmt)).all())


def blocking(encumbrances: Sequence[Encumbrance], action: str,
             ignore_ref: str | None = None) -> list[Encumbrance]:
    return [e for e in encumbrances
            if action in BLOCKS[e.kind] and action not in e.consents and (ignore_ref is None or e.ref_id != ignore_ref)]


async def ensure_allowed(session: AsyncSession, assets: Sequence[Asset], action: str, *,
                         ignore_ref: str | None = None, consent_object: str | None = None) -> None:
    """Raise unless every asset may undergo ``action`` now (call with the assets locked).

    ``ignore_ref`` names one encumbrance that does not count: the pledge a pledgee is enforcing by
    selling the collateral (a disposal auction must not be blocked by the very pledge behind it).
    ``consent_object`` is the market object (listing, auction, declaration) the step belongs to: a pledge
    whose pledgee approved a consent bound to it does not block (``market.assets.consents``).
    """
    if action not in ACTIONS:
        raise ValueError(action)
    live = LIVE_STATUSES.get(action, DEFAULT_LIVE)
    for asset in assets:
        if asset.status not in live:
            raise InvalidState(f"asset {asset.id} is {asset.status}; it cannot be used for {action}")
    blockers = blocking(await active_for(session, [a.id for a in assets]), action, ignore_ref)
    if consent_object is not None:
        blockers = [e for e in blockers if e.kind != "pledge"
                    or await consents.covering(session, e.ref_id, e.asset_id, consent_object) is None]
    if blockers:
        first = blockers[0]
        detail = (f"asset {first.asset_id} is pledged under loan {first.ref_id}: {action.replace('_', ' ')} "
                  f"needs the pledgee bank's approved consent (POST /pledge-consents)" if first.kind == "pledge" else
                  f"asset {first.asset_id} carries a {first.kind.replace('_', ' ')} ({first.ref_id}) "
                  f"that forbids {action.replace('_', ' ')}")
        raise AssetEncumbered(
            detail,
            extra={"encumbrances": [{"asset_id": e.asset_id, "kind": e.kind, "ref_id": e.ref_id}
                                    for e in blockers],
                   **({"loan_id": first.ref_id, "consent_needed": True} if first.kind == "pledge" else {})})


async def pledges_on(session: AsyncSession, assets: Sequence[Asset]) -> list[tuple[str, str]]:
    """(asset id, pledge ref) of every active pledge on ``assets``."""
    return [(e.asset_id, e.ref_id) for e in await active_for(session, [a.id for a in assets]) if e.kind == "pledge"]


async def bind_consent(session: AsyncSession, actor: Actor, assets: Sequence[Asset], step: str,
                       object_id: str) -> None:
    """Before a market step on pledged assets: bind the pledgee's approved consent to its object."""
    await consents.bind(session, actor, await pledges_on(session, assets), step, object_id)


async def encumber(session: AsyncSession, actor: Actor, assets: Sequence[Asset], kind: str, ref_id: str, *,
                   holder_org_id: str | None = None, since: date | None = None,
                   check_action: str | None = None, check: bool = True) -> list[Encumbrance]:
    """Check then record ``kind`` on each asset (``check_action`` defaults to the same-named action;
    ``check=False`` when the caller has just checked, with the consent that applies)."""
    if check:
        await ensure_allowed(session, assets, check_action or kind)
    since = since or await business_date(session)
    rows = [Encumbrance(asset_id=a.id, kind=kind, ref_id=ref_id, holder_org_id=holder_org_id, since=since)
            for a in assets]
    session.add_all(rows)
    await session.flush()
    for row in rows:
        await audit.record(session, actor, "asset.encumbered", "asset", row.asset_id,
                           after={"kind": kind, "ref_id": ref_id, "holder_org_id": holder_org_id})
    return rows


async def release(session: AsyncSession, actor: Actor, ref_id: str, kind: str | None = None) -> int:
    """Release every active encumbrance that ``ref_id`` holds. Returns how many were released."""
    stmt = select(Encumbrance).where(Encumbrance.ref_id == ref_id, col(Encumbrance.released_on).is_(None))
    if kind:
        stmt = stmt.where(Encumbrance.kind == kind)
    rows = list((await session.exec(stmt)).all())
    today = await business_date(session)
    for row in rows:
        row.released_on = today
        session.add(row)
        await audit.record(session, actor, "asset.released", "asset", row.asset_id,
                           before={"kind": row.kind, "ref_id": ref_id}, after=None)
    await session.flush()
    return len(rows)


async def release_assets(session: AsyncSession, actor: Actor, ref_id: str, asset_ids: Sequence[str],
                         kind: str) -> list[str]:
    """End what ``ref_id`` holds on some of its assets only (a partial release of a pledge), one record per
    asset. Returns the assets released."""
    stmt = (select(Encumbrance).where(Encumbrance.ref_id == ref_id, Encumbrance.kind == kind,
                                      col(Encumbrance.asset_id).in_(list(asset_ids)),
                                      col(Encumbrance.released_on).is_(None)).order_by(Encumbrance.asset_id))
    rows = list((await session.exec(stmt)).all())
    today = await business_date(session)
    for row in rows:
        row.released_on = today
        session.add(row)
        await audit.record(session, actor, "asset.released", "asset", row.asset_id,
                           before={"kind": row.kind, "ref_id": ref_id}, after={"partial": True})
    await session.flush()
    return [r.asset_id for r in rows]


async def grant_consent(session: AsyncSession, actor: Actor, ref_id: str, action: str) -> None:
    """The pledgee (holder of ``ref_id``) consents to ``action`` despite its pledge."""
    if action not in ACTIONS:
        raise ValueError(action)
    stmt = select(Encumbrance).where(Encumbrance.ref_id == ref_id, col(Encumbrance.released_on).is_(None))
    for row in (await session.exec(stmt)).all():
        if action not in row.consents:
            row.consents = [*row.consents, action]
            session.add(row)
            await audit.record(session, actor, "encumbrance.consent", "asset", row.asset_id,
                               after={"ref_id": ref_id, "action": action})
    await session.flush()
