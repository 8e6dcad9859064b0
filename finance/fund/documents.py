"""Documents of a compensation claim (its evidence): read by whoever sees the claim (the fund, the parties
bearing a share, the regulator, the admin), attached by the claiming bank and the fund."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund.claims import get_claim
from kernel.actor import Actor
from kernel.documents import Access, object_type
from kernel.errors import NotFound


@object_type("compensation_claim", kinds=("claim_evidence", "other"))
async def claim_documents(session: AsyncSession, actor: Actor, claim_id: str) -> Access:
    try:
        claim = await get_claim(session, actor, claim_id)
    except NotFound:
        return Access(False, False)
    return Access(read=True, attach=actor.org_id in (claim.bank_org_id, claim.fund_org_id))
