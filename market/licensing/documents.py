"""Documents of a license (the contract): its licensor and licensee."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import Actor
from kernel.documents import Access, object_type
from kernel.errors import NotFound
from market.licensing.service import get_license


@object_type("license", kinds=("license_contract", "other"))
async def license_documents(session: AsyncSession, actor: Actor, license_id: str) -> Access:
    try:
        lic = await get_license(session, actor, license_id)
    except NotFound:
        return Access(False, False)
    return Access(read=True, attach=actor.org_id in (lic.licensor_org_id, lic.licensee_org_id))
