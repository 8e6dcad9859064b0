"""Documents of a valuation: the appraisal report a certified valuation carries. Whoever may see the
valuation reads them; its requester and its certifying evaluator attach them."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import Actor
from kernel.documents import Access, object_type
from kernel.errors import NotFound
from valuation.service import get_valuation


@object_type("valuation", kinds=("appraisal_report", "other"))
async def valuation_documents(session: AsyncSession, actor: Actor, valuation_id: str) -> Access:
    try:
        v = await get_valuation(session, actor, valuation_id)
    except NotFound:
        return Access(False, False)
    return Access(read=True, attach=actor.org_id in (v.requested_by_org_id, v.certified_by))
