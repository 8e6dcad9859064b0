"""A loan's repayment schedule as a PDF (还款计划表): the terms, then each instalment with what is paid."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.loans.access import get_loan, installments
from kernel import pdf
from kernel.actor import Actor
from kernel.clock import business_date

METHODS = {"equal_installment": "等额本息", "equal_principal": "等额本金", "interest_only": "先息后本"}
STATUSES = {"pending": "未到期", "partial": "部分还款", "paid": "已还清", "overdue": "逾期"}


async def schedule_report(session: AsyncSession, actor: Actor, loan_id: str) -> pdf.Document:
    loan = await get_loan(session, actor, loan_id)
    rows = await installments(session, loan.id)
    borrower, bank = await session.get(Org, loan.borrower_org_id), await session.get(Org, loan.bank_org_id)
    doc = pdf.Document(title="知识产权质押贷款还款计划表", subtitle=f"贷款编号 {loan.id}",
                       generated_on=await business_date(session))
    doc.heading("贷款要素").pairs([
        ("借款人", borrower.name if borrower else loan.borrower_org_id),
        ("贷款银行", bank.name if bank else loan.bank_org_id),
        ("贷款本金（元）", pdf.yuan(loan.principal)), ("剩余本金（元）", pdf.yuan(loan.outstanding_principal)),
        ("年利率", pdf.bps(loan.annual_rate_bps)), ("期限（月）", loan.term_months),
        ("还款方式", METHODS.get(loan.repayment_method, loan.repayment_method)),
        ("放款日", loan.disbursed_on.isoformat() if loan.disbursed_on else "未放款"),
        ("到期日", loan.maturity_on.isoformat() if loan.maturity_on else ""),
        ("质押登记号", loan.pledge_registration_no or ""), ("状态", loan.status),
    ])
    table = [[r.n, r.due_on.isoformat(), pdf.yuan(r.payment), pdf.yuan(r.principal), pdf.yuan(r.interest),
              pdf.yuan(r.balance_after), pdf.yuan(r.paid_principal + r.paid_interest + r.paid_penalty),
              STATUSES.get(r.status, r.status)] for r in rows]
    totals = ["合计", "", pdf.yuan(sum(r.payment for r in rows)), pdf.yuan(sum(r.principal for r in rows)),
              pdf.yuan(sum(r.interest for r in rows)), "",
              pdf.yuan(sum(r.paid_principal + r.paid_interest + r.paid_penalty for r in rows)), ""]
    doc.heading("还款计划").table(["期次", "还款日", "应还金额（元）", "本金（元）", "利息（元）", "剩余本金（元）",
                               "已还（元）", "状态"], [*table, totals] if rows else [["—"] * 8],
                              widths=(10, 22, 26, 24, 22, 26, 24, 16))
    return doc
