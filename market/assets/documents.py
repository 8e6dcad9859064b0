"""Documents of an asset (e.g. the certificate, an assignment record): its owner's, private to it."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import Actor
from kernel.documents import Access, object_type
from market.assets.models import Asset


@object_type("asset", kinds=("appraisal_report", "pledge_registration", "license_contract", "other"))
async def asset_documents(session: AsyncSession, actor: Actor, asset_id: str) -> Access:
    asset = await session.get(Asset, asset_id)
    if asset is None:
        return Access(False, False)
    owner = asset.owner_org_id == actor.org_id
    return Access(read=owner or actor.is_platform_admin, attach=owner)
