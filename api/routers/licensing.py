"""Licenses, royalty reports and open-license declarations."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel.pagination import Page
from market.licensing import open_license, service
from market.licensing.schemas import (
    LicenseKind,
    LicenseOut,
    LicenseStatus,
    OpenLicenseIn,
    OpenLicenseOut,
    RoyaltyReportIn,
    RoyaltyReportOut,
)

router = AreaRouter(tags=["market"], route_class=TransactionalRoute)


@router.get("/licenses", response_model=Page[LicenseOut], summary="Licenses the caller granted or holds")
async def list_licenses(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                        status: LicenseStatus | None = None, kind: LicenseKind | None = None) -> Page[LicenseOut]:
    rows, has_more, nxt = await service.list_licenses(session, actor, status=status, kind=kind, limit=limit,
                                                      cursor=cursor)
    return Page[LicenseOut](data=[service.license_out(x) for x in rows], has_more=has_more, next_cursor=nxt)


@router.get("/licenses/{license_id}", response_model=LicenseOut, summary="One license (its parties)")
async def get_license(license_id: str, actor: CurrentActor, session: SessionDep) -> LicenseOut:
    return service.license_out(await service.get_license(session, actor, license_id))


@router.post("/licenses/{license_id}/royalty-reports", status_code=201, response_model=RoyaltyReportOut,
             summary="Report net sales for a period (licensee): royalty_due and due_on (period end + 30 days)")
async def report(license_id: str, body: RoyaltyReportIn, actor: CurrentActor,
                 session: SessionDep) -> RoyaltyReportOut:
    return RoyaltyReportOut.model_validate(await service.report_royalty(
        session, actor, license_id, body.period_start, body.period_end, body.net_sales))


@router.get("/licenses/{license_id}/royalty-reports", response_model=list[RoyaltyReportOut],
            summary="A license's royalty reports (its parties)")
async def reports(license_id: str, actor: CurrentActor, session: SessionDep) -> list[RoyaltyReportOut]:
    return [RoyaltyReportOut.model_validate(r) for r in await service.list_reports(session, actor, license_id)]


@router.post("/royalty-reports/{report_id}/mark-paid", response_model=RoyaltyReportOut,
             summary="Confirm a royalty was received (licensor)")
async def mark_paid(report_id: str, actor: CurrentActor, session: SessionDep) -> RoyaltyReportOut:
    return RoyaltyReportOut.model_validate(await service.mark_royalty_paid(session, actor, report_id))


@router.post("/assets/{asset_id}/open-license", status_code=201, response_model=OpenLicenseOut,
             summary="Declare an open license (patentee); 409 when the law forbids it; warnings for unusual terms")
async def declare(asset_id: str, body: OpenLicenseIn, actor: CurrentActor, session: SessionDep) -> OpenLicenseOut:
    decl = await open_license.declare(session, actor, asset_id, term_months=body.term_months, rate_bps=body.rate_bps,
                                      fixed_fee=body.fixed_fee, free_months=body.free_months,
                                      evaluation_report_ref=body.evaluation_report_ref)
    return open_license.declaration_out(decl)


@router.delete("/assets/{asset_id}/open-license", response_model=OpenLicenseOut,
               summary="Withdraw the declaration (patentee); licenses already granted stay")
async def withdraw(asset_id: str, actor: CurrentActor, session: SessionDep) -> OpenLicenseOut:
    return open_license.declaration_out(await open_license.withdraw(session, actor, asset_id))


@router.post("/assets/{asset_id}/open-license/accept", status_code=201, response_model=LicenseOut,
             summary="Take the open license by notice (another organisation): a license of kind open at once")
async def accept(asset_id: str, actor: CurrentActor, session: SessionDep) -> LicenseOut:
    return service.license_out(await open_license.accept(session, actor, asset_id))


@router.get("/open-licenses", response_model=Page[OpenLicenseOut], summary="Active open-license declarations (any user)")
async def list_open(_: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                    q: Annotated[str | None, Query(max_length=200)] = None) -> Page[OpenLicenseOut]:
    rows, has_more, nxt = await open_license.list_declarations(session, q=q, limit=limit, cursor=cursor)
    return Page[OpenLicenseOut](data=[open_license.declaration_out(d) for d in rows], has_more=has_more,
                           next_cursor=nxt)
