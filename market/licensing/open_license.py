"""Open licensing (专利开放许可, Patent Law arts. 50–52; Implementing Regulations arts. 85–86).

The patentee declares royalty and term publicly; anyone obtains a non-exclusive license at once by
notice on those terms; withdrawing the declaration leaves licenses already granted in force. While a
declaration stands no exclusive or sole license may be granted (an ``open_license`` encumbrance). It
cannot be declared while an exclusive/sole license is in force, while pledged without the pledgee's
consent, with annual fees unpaid, or (utility models, designs) without an evaluation report.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from kernel.pagination import paginate
from kernel.text import normalise, query_parts
from market.assets import encumbrances
from market.assets.service import ASSET_OWNER_KINDS, lock_assets
from market.licensing.models import OPEN_LICENSE, License, OpenLicenseDeclaration
from market.licensing.schemas import OpenLicenseOut
from market.licensing.service import grant_license
from market.numbers import PATENT_KINDS
from market.trading.deals import create_deal, publish_recorded
from market.trading.models import DEAL
from market.trading.service import like

ANNUAL_FEE_REDUCTION_BPS = 1500  # the annual fee is reduced by 15% while the declaration stands
WARN_FIXED_FEE = 2_000_000_000  # ¥20m (CNIPA guidance: unusual above this)
WARN_RATE_BPS = 2000  # 20% of net sales
NEEDS_EVALUATION_REPORT = ("utility_model", "design_patent")


async def declare(session: AsyncSession, actor: Actor, asset_id: str, *, term_months: int, rate_bps: int | None,
                  fixed_fee: int | None, free_months: int | None,
                  evaluation_report_ref: str | None) -> OpenLicenseDeclaration:
    asset = (await lock_assets(session, [asset_id]))[0]
    if asset.owner_org_id != actor.org_id:
        raise Forbidden("only the patentee declares an open license")
    if asset.kind not in PATENT_KINDS:
        raise InvalidState("only patents can be open-licensed")
    if asset.kind in NEEDS_EVALUATION_REPORT and not evaluation_report_ref:
        raise ValidationFailed.at(["body", "evaluation_report_ref"],
                                  "a utility model or design needs a patent evaluation report first")
    today = await business_date(session)
    if asset.fees_paid_until is None or asset.fees_paid_until < today:
        raise InvalidState("annual fees are unpaid; pay them before declaring an open license")
    active = (await session.exec(select(OpenLicenseDeclaration).where(
        OpenLicenseDeclaration.asset_id == asset.id, OpenLicenseDeclaration.status == "active"))).first()
    if active is not None:
        raise InvalidState(f"an open license is already declared ({active.id})")
    warnings = []
    if fixed_fee is not None and fixed_fee > WARN_FIXED_FEE:
        warnings.append("fixed fee above ¥20,000,000 is unusual (CNIPA guidance)")
    if rate_bps is not None and rate_bps > WARN_RATE_BPS:
        warnings.append("royalty above 20% of net sales is unusual (CNIPA guidance)")
    decl = OpenLicenseDeclaration(asset_id=asset.id, owner_org_id=actor.org_id, rate_bps=rate_bps,
                                  fixed_fee=fixed_fee, term_months=term_months, free_months=free_months,
                                  evaluation_report_ref=evaluation_report_ref, warnings=warnings, declared_on=today,
                                  search_text=normalise(f"{asset.title}\n{asset.abstract or ''}"))
    # Status (valid only), exclusive/sole licenses in force, pledge without consent: the encumbrance rules.
    await encumbrances.bind_consent(session, actor, [asset], "open_license", decl.id)
    await encumbrances.ensure_allowed(session, [asset], "open_license", consent_object=decl.id)
    session.add(decl)
    await session.flush()
    await encumbrances.encumber(session, actor, [asset], "open_license", decl.id, check=False)
    await audit.record(session, actor, "open_license.declared", "open_license", decl.id,
                       after=decl.model_dump(exclude={"search_text"}))
    return decl


async def _active_for(session: AsyncSession, asset_id: str) -> OpenLicenseDeclaration:
    stmt = (select(OpenLicenseDeclaration).where(OpenLicenseDeclaration.asset_id == asset_id,
                                                 OpenLicenseDeclaration.status == "active")
            .with_for_update().execution_options(populate_existing=True))
    decl = (await session.exec(stmt)).first()
    if decl is None:
        raise NotFound("no open license is declared for this asset")
    return decl


async def withdraw(session: AsyncSession, actor: Actor, asset_id: str) -> OpenLicenseDeclaration:
    (await lock_assets(session, [asset_id]))[0]
    decl = await _active_for(session, asset_id)
    if decl.owner_org_id != actor.org_id:
        raise Forbidden("only the patentee withdraws its declaration")
    decl.withdrawn_on = await business_date(session)
    await OPEN_LICENSE.apply(session, actor, decl, "withdraw")
    await encumbrances.release(session, actor, decl.id, "open_license")
    return decl


async def accept(session: AsyncSession, actor: Actor, asset_id: str) -> License:
    """A license by notice, at once, on the declared terms; recorded as a deal for the statistics."""
    if not actor.is_kind(*ASSET_OWNER_KINDS):
        raise Forbidden("only SMEs and universities take licenses")
    asset = (await lock_assets(session, [asset_id]))[0]
    decl = await _active_for(session, asset_id)
    if decl.owner_org_id == actor.org_id or asset.owner_org_id == actor.org_id:
        raise InvalidState("you cannot take an open license of your own patent")
    held = (await session.exec(select(License).where(
        License.declaration_id == decl.id, License.licensee_org_id == actor.org_id,
        License.status == "active"))).first()
    if held is not None:
        raise InvalidState(f"you already hold license {held.id} under this declaration")
    deal = await create_deal(session, actor, source="open_license", mode="open_license", asset_ids=[asset.id],
                             seller_org_id=asset.owner_org_id, buyer_org_id=actor.org_id,
                             amount=decl.fixed_fee or 0, term_months=decl.term_months, rate_bps=decl.rate_bps,
                             free_months=decl.free_months)
    lic = await grant_license(session, actor, [asset], kind="open", licensor_org_id=asset.owner_org_id,
                              licensee_org_id=actor.org_id, term_months=decl.term_months, fixed_fee=decl.fixed_fee,
                              rate_bps=decl.rate_bps, free_months=decl.free_months, deal_id=deal.id,
                              declaration_id=decl.id, consent_object=decl.id)
    today = await business_date(session)
    deal.license_id, deal.recorded_on = lic.id, today
    # Granted by notice: nothing to escrow up front (the fee follows the royalty reports).
    await DEAL.apply(session, actor, deal, "record_by_notice", license_id=lic.id)
    await session.flush()
    await publish_recorded(session, deal)
    return lic


async def list_declarations(session: AsyncSession, *, q: str | None, limit: int,
                            cursor: str | None) -> tuple[list[OpenLicenseDeclaration], bool, str | None]:
    stmt = select(OpenLicenseDeclaration).where(OpenLicenseDeclaration.status == "active")
    for part in query_parts(q or ""):
        stmt = stmt.where(col(OpenLicenseDeclaration.search_text).like(like(part), escape="\\"))
    return await paginate(session, stmt, OpenLicenseDeclaration.id, limit, cursor)


def declaration_out(decl: OpenLicenseDeclaration) -> OpenLicenseOut:
    return OpenLicenseOut.model_validate({**decl.model_dump(exclude={"search_text"}),
                                          "annual_fee_reduction_bps": ANNUAL_FEE_REDUCTION_BPS})


