"""The fund's monthly report as a PDF (风险补偿基金月度报告): the programme's exposure as of today, the
month's claims and recoveries, and the month's trial balance of the programme's ledger accounts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import monitoring
from finance.fund.models import CompensationClaim, RecoveryRow
from finance.ledger.periods import fund_accounts, parse_month, program_of, trial_balance
from kernel import pdf
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import ValidationFailed

CLAIM_STATUSES = {"pending": "待审核", "queued": "排队待付", "approved": "已批准", "paying": "支付中",
                  "paid": "已代偿", "rejected": "已拒绝", "payout_failed": "付款失败"}
PARTIES = {"fund": "基金", "guarantor": "担保机构", "insurer": "保险机构", "bank": "银行", "borrower": "借款人"}


async def _names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {o.id: o.name for o in (await session.exec(select(Org).where(col(Org.id).in_(ids)))).all()}


async def monthly_report(session: AsyncSession, actor: Actor, program_id: str, month: str) -> pdf.Document:
    program = await monitoring.monitored_program(session, actor, program_id)
    starts_on, ends_on = parse_month(month)
    today = await business_date(session)
    if starts_on > today:
        raise ValidationFailed.at(["path", "month"], f"{month} has not begun")
    report = await monitoring.exposure(session, program)
    claims = (await session.exec(select(CompensationClaim).where(
        CompensationClaim.program_id == program.id,
        sa.or_(sa.and_(col(CompensationClaim.opened_on) >= starts_on, col(CompensationClaim.opened_on) <= ends_on),
               sa.and_(col(CompensationClaim.paid_on) >= starts_on, col(CompensationClaim.paid_on) <= ends_on)))
        .order_by(col(CompensationClaim.opened_on), col(CompensationClaim.id)))).all()
    recoveries = (await session.exec(select(RecoveryRow).join(
        CompensationClaim, col(CompensationClaim.id) == col(RecoveryRow.claim_id)).where(
        CompensationClaim.program_id == program.id, col(RecoveryRow.recovered_on) >= starts_on,
        col(RecoveryRow.recovered_on) <= ends_on, RecoveryRow.status == "paid")  # landed only
        .order_by(col(RecoveryRow.recovered_on), col(RecoveryRow.id)))).all()
    accounts = [a for a in await fund_accounts(session, program.fund_org_id) if program_of(a.code) == program.id]
    balance = await trial_balance(session, accounts, starts_on, ends_on)
    names = await _names(session, {b["bank_org_id"] for b in report["by_bank"]} | {c.bank_org_id for c in claims})
    fund = await session.get(Org, program.fund_org_id)

    doc = pdf.Document(title="知识产权质押融资风险补偿基金月度报告",
                       subtitle=f"{program.name}（{fund.name if fund else program.fund_org_id}） · {month}",
                       generated_on=today)
    doc.heading("一、基金概况").pairs([
        ("统计期间", f"{starts_on.isoformat()} 至 {ends_on.isoformat()}"),
        ("敞口截至", str(report["as_of"])), ("实缴资本（元）", pdf.yuan(report["capital"])),
        ("现金（元）", pdf.yuan(report["cash"])), ("在保贷款余额（元）", pdf.yuan(report["covered_outstanding"])),
        ("基金承诺敞口（元）", pdf.yuan(report["committed_exposure"])),
        ("合作银行保证金（元）", pdf.yuan(report["deposits"])), ("已用放大倍数", report["leverage_used"]),
        ("累计代偿（元）", pdf.yuan(report["compensation_paid"])), ("累计追偿（元）", pdf.yuan(report["recovered"])),
        ("代偿率", pdf.bps(report["compensation_rate_bps"])), ("追偿率", pdf.bps(report["recovery_rate_bps"])),
    ])
    doc.heading("二、合作银行敞口").table(
        ["合作银行", "在保余额（元）", "基金敞口（元）", "额度（元）", "不良率", "暂停"],
        [[names.get(b["bank_org_id"], b["bank_org_id"]), pdf.yuan(b["covered_outstanding"]),
          pdf.yuan(b["fund_exposure"]), pdf.yuan(b["quota"]), pdf.bps(b["npl_ratio_bps"]),
          "是" if b["paused"] else "否"] for b in report["by_bank"]] or [["（无）", "", "", "", "", ""]],
        widths=(40, 28, 28, 28, 18, 14))
    doc.heading("三、本月代偿").table(
        ["申请编号", "银行", "损失（元）", "基金承担（元）", "申请日", "代偿日", "状态"],
        [[c.id, names.get(c.bank_org_id, c.bank_org_id), pdf.yuan(c.loss), pdf.yuan(c.fund_amount),
          c.opened_on.isoformat(), c.paid_on.isoformat() if c.paid_on else "", CLAIM_STATUSES.get(c.status, c.status)]
         for c in claims] or [["（无）", "", "", "", "", "", ""]], widths=(34, 30, 24, 24, 20, 20, 18))
    doc.heading("四、本月追偿").table(
        ["追偿日", "贷款编号", "承担方", "金额（元）"],
        [[r.recovered_on.isoformat(), r.loan_id, PARTIES.get(r.party, r.party), pdf.yuan(r.amount)]
         for r in recoveries] or [["（无）", "", "", ""]], widths=(30, 60, 40, 40))
    total_debits, total_credits = sum(r["debits"] for r in balance), sum(r["credits"] for r in balance)
    doc.heading("五、试算平衡表").table(
        ["科目代码", "科目名称", "期初（元）", "借方（元）", "贷方（元）", "期末（元）"],
        [[r["code"], r["name"], pdf.yuan(r["opening"]), pdf.yuan(r["debits"]), pdf.yuan(r["credits"]),
          pdf.yuan(r["closing"])] for r in balance] +
        [["合计", "", "", pdf.yuan(total_debits), pdf.yuan(total_credits), ""]],
        widths=(44, 36, 24, 24, 24, 24))
    doc.paragraph("借贷平衡" if total_debits == total_credits else "借贷不平衡，请核对分录")
    return doc
