"""Documents the platform writes itself, as PDF in Chinese: a certified valuation's appraisal report, a
loan's repayment schedule, the fund's monthly report."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from fastapi.responses import Response

from api.deps import CurrentActor, SessionDep, org_kinds
from api.routing import AreaRouter, TransactionalRoute
from finance.fund import programmes
from finance.fund.report_pdf import monthly_report
from finance.loans.schedule_pdf import schedule_report
from kernel import pdf
from kernel.actor import Actor
from kernel.uploads import download_headers
from valuation.report_pdf import appraisal_report

router = AreaRouter(tags=["documents"], route_class=TransactionalRoute)
Monitor = Annotated[Actor, Depends(org_kinds(*programmes.MONITOR_KINDS, admin=True))]
PDF_RESPONSE = {200: {"content": {pdf.PDF_MEDIA_TYPE: {}}, "description": "The PDF"}}


async def _pdf(session: SessionDep, doc: pdf.Document, filename: str) -> Response:
    await session.rollback()  # the data is read; render outside the transaction (CPU work, in a thread)
    body = await pdf.render_async(doc)
    headers = download_headers(pdf.PDF_MEDIA_TYPE, filename)
    headers.pop("Content-Type")
    return Response(body, media_type=pdf.PDF_MEDIA_TYPE, headers=headers)


@router.get("/valuations/{valuation_id}/report.pdf", response_class=Response, responses=PDF_RESPONSE,
            summary="A certified valuation's appraisal report (whoever may see the valuation)")
async def valuation_report(valuation_id: str, actor: CurrentActor, session: SessionDep) -> Response:
    doc = await appraisal_report(session, actor, valuation_id)
    return await _pdf(session, doc, f"评估报告-{valuation_id}.pdf")


@router.get("/loans/{loan_id}/schedule.pdf", response_class=Response, responses=PDF_RESPONSE,
            summary="The loan's repayment schedule (the loan's parties, the fund)")
async def loan_schedule(loan_id: str, actor: CurrentActor, session: SessionDep) -> Response:
    doc = await schedule_report(session, actor, loan_id)
    return await _pdf(session, doc, f"还款计划-{loan_id}.pdf")


@router.get("/fund/programs/{program_id}/reports/{month}.pdf", response_class=Response, responses=PDF_RESPONSE,
            summary="The fund's monthly report: exposure, claims, recoveries, trial balance (its fund, regulators)")
async def fund_monthly_report(program_id: str, actor: Monitor, session: SessionDep,
                              month: Annotated[str, Path(pattern=r"^\d{4}-\d{2}$")]) -> Response:
    doc = await monthly_report(session, actor, program_id, month)
    return await _pdf(session, doc, f"基金月报-{program_id}-{month}.pdf")
