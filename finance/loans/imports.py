"""A bank's existing pledge-loan book: ``POST /imports`` with ``kind=loans`` (run once the platform admin
approves), so exposure and statistics are complete from the day the bank joins.

Each row is one signed and disbursed loan: the borrower (an SME on the platform, by its credit code), the
pledged assets (registered to it), principal, rate, term, method, disbursement date, the pledge
registration, and how many instalments it has paid. The loan is built as the platform would have built
it: an accepted application and offer, the pledge recorded on the assets (encumbrance, high-value
amount), the workflow moves ``register_pledge`` and ``disburse`` (audited), the schedule from the
disbursement date, and the paid instalments with one repayment each (``source=import``). A contract
number the bank imported already is a duplicate.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.loans import position, states
from finance.loans.models import (
    REPAYMENT_METHODS,
    Loan,
    LoanApplication,
    LoanClassification,
    LoanInstallment,
    LoanOffer,
    LoanRepayment,
)
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import created_at_field
from kernel.errors import DomainError
from kernel.ids import new_id
from kernel.import_files import Column
from kernel.imports import ChunkResult, Importer, RowError, Rows, register
from market.assets import encumbrances
from market.assets.models import Asset
from market.assets.service import lock_assets, record_pledge_amount
from market.numbers import normalise_patent_number

COLUMNS = (
    Column("contract_no", "合同编号", "contract_no", ("贷款合同编号", "借款合同编号"), required=True),
    Column("borrower_credit_code", "借款人统一社会信用代码", "borrower_credit_code",
           ("借款人信用代码", "统一社会信用代码", "credit_code"), required=True),
    Column("pledged_numbers", "质押物编号", "pledged_numbers", ("质押专利号", "质押知识产权", "asset_numbers")),
    Column("principal", "贷款金额（元）", "principal", ("贷款金额", "贷款本金", "合同金额", "principal_yuan")),
    Column("annual_rate", "年利率", "annual_rate", ("执行利率", "利率")),
    Column("term_months", "期限（月）", "term_months", ("贷款期限", "期限")),
    Column("repayment_method", "还款方式", "repayment_method", ()),
    Column("disbursed_on", "放款日", "disbursed_on", ("放款日期", "起息日")),
    Column("pledge_registration_no", "质押登记号", "pledge_registration_no", ("登记号", "登记编号")),
    Column("pledge_registered_on", "质押登记日", "pledge_registered_on", ("登记日期",)),
    Column("installments_paid", "已还期数", "installments_paid", ("已还款期数",)),
)
METHODS = {"等额本息": "equal_installment", "等额本金": "equal_principal", "先息后本": "interest_only",
           "按月付息到期还本": "interest_only", **{m: m for m in REPAYMENT_METHODS}}
_DATE = (re.compile(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})$"), re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
         re.compile(r"^(\d{4})(\d{2})(\d{2})$"))


class ImportedLoan(SQLModel, table=True):
    """Which loan a bank's contract number became: a second import of it is a duplicate."""

    __tablename__ = "imported_loans"
    __table_args__ = (sa.UniqueConstraint("bank_org_id", "contract_no"),)
    id: str = Field(default_factory=lambda: new_id("iln"), primary_key=True, max_length=40)
    bank_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    contract_no: str = Field(max_length=64)
    loan_id: str = Field(foreign_key="loans.id", max_length=40)
    created_at: datetime = created_at_field()


class _Bad(Exception):
    def __init__(self, column: str, reason: str, value: str | None = None) -> None:
        super().__init__(reason)
        self.column, self.reason, self.value = column, reason, value


def _date(raw: dict[str, str], key: str) -> date:
    text = raw.get(key, "").strip()
    for pattern in _DATE:
        if m := pattern.match(text):
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise _Bad(key, f"{text} is not a date in the calendar", text) from None
    raise _Bad(key, "dates are written YYYY-MM-DD, YYYY.MM.DD or YYYY年M月D日", text or None)


def _fen(raw: dict[str, str], key: str) -> int:
    text = raw.get(key, "").replace(",", "").replace("，", "").replace("元", "").strip()
    try:
        value = (Decimal(text) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise _Bad(key, f"{key} must be an amount in yuan", raw.get(key)) from None
    if value <= 0:
        raise _Bad(key, f"{key} must be an amount in yuan", raw.get(key))
    return int(value)


def _bps(raw: dict[str, str]) -> int:
    text = raw.get("annual_rate", "").strip().rstrip("%％")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Bad("annual_rate", "annual_rate is a percentage like 4.35%", raw.get("annual_rate")) from None
    if value < 0 or value > 36:  # the judicial cap on private lending is far below; above it is a typo
        raise _Bad("annual_rate", "annual_rate is a percentage like 4.35%", raw.get("annual_rate"))
    return int((value * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _int(raw: dict[str, str], key: str, low: int, high: int, default: int | None = None) -> int:
    text = raw.get(key, "").strip()
    if not text and default is not None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise _Bad(key, f"{key} must be a whole number from {low} to {high}", text or None)
    return int(text)


def _number(text: str) -> str:
    try:
        return normalise_patent_number(text)
    except ValueError:
        return text.strip().upper()


async def _one(session: AsyncSession, actor: Actor, raw: dict[str, str], today: date,
               borrowers: dict[str, Org]) -> Loan:
    borrower = borrowers.get(raw["borrower_credit_code"].strip().upper())
    if borrower is None or borrower.kind != "sme":
        raise _Bad("borrower_credit_code", "no SME on the platform has this credit code",
                   raw.get("borrower_credit_code"))
    numbers = [_number(n) for n in re.split(r"[;；,，、\s]+", raw.get("pledged_numbers", "")) if n.strip()]
    if not numbers:
        raise _Bad("pledged_numbers", "pledged_numbers cannot be empty")
    found = (await session.exec(select(Asset).where(col(Asset.number).in_(numbers),
                                                    Asset.owner_org_id == borrower.id))).all()
    missing = sorted(set(numbers) - {a.number for a in found})
    if missing:
        raise _Bad("pledged_numbers", f"not registered to the borrower: {', '.join(missing)}",
                   raw.get("pledged_numbers"))
    principal, rate, term = _fen(raw, "principal"), _bps(raw), _int(raw, "term_months", 1, 360)
    method = METHODS.get(raw.get("repayment_method", "").strip())
    if method is None:
        raise _Bad("repayment_method", "repayment_method must be one of 等额本息, 等额本金, 先息后本",
                   raw.get("repayment_method"))
    disbursed = _date(raw, "disbursed_on")
    registered = _date(raw, "pledge_registered_on") if raw.get("pledge_registered_on") else disbursed
    for key, day in (("disbursed_on", disbursed), ("pledge_registered_on", registered)):
        if day > today:
            raise _Bad(key, f"{key} {day.isoformat()} is after the business date {today.isoformat()}", raw.get(key))
    paid = _int(raw, "installments_paid", 0, term, default=0)
    assets = await lock_assets(session, [a.id for a in found])
    await encumbrances.ensure_allowed(session, assets, "pledge")
    # History, not a new decision: the application and offer are recorded as accepted when the contract was.
    app = LoanApplication(applicant_org_id=borrower.id, asset_ids=[a.id for a in assets], amount=principal,
                          term_months=term, purpose=f"存量贷款导入 {raw['contract_no']}", repayment_method=method,
                          submitted_on=disbursed, status="accepted")
    offer = LoanOffer(application_id=app.id, bank_org_id=actor.org_id, amount=principal, annual_rate_bps=rate,
                      term_months=term, repayment_method=method, expires_on=disbursed, status="accepted")
    loan = Loan(application_id=app.id, offer_id=offer.id, borrower_org_id=borrower.id, bank_org_id=actor.org_id,
                asset_ids=app.asset_ids, principal=principal, outstanding_principal=principal,
                annual_rate_bps=rate, penalty_markup_bps=offer.penalty_markup_bps, term_months=term,
                repayment_method=method, signed_on=disbursed)
    app.loan_id = loan.id
    states.LOAN.start(loan)
    session.add_all([app, offer])
    await session.flush()
    session.add(loan)
    await session.flush()
    await audit.record(session, actor, "loan.imported", "loan", loan.id,
                       after={"contract_no": raw["contract_no"], "principal": principal, "annual_rate_bps": rate,
                              "disbursed_on": disbursed, "installments_paid": paid})
    await encumbrances.encumber(session, actor, assets, "pledge", loan.id, holder_org_id=actor.org_id,
                                since=registered)
    await record_pledge_amount(session, loan.asset_ids, principal, actor=actor)
    loan.pledge_registration_no = raw.get("pledge_registration_no") or None
    loan.pledge_registered_on = registered
    await states.LOAN.apply(session, actor, loan, "register_pledge", registration_no=loan.pledge_registration_no,
                            registered_on=registered, imported=True)
    rows = position.new_rows(loan, disbursed)
    installments = []
    for r in rows:  # the instalments the bank says are paid, paid on their due dates
        done = r.n <= paid
        installments.append(LoanInstallment(**{**r.model_dump(), "id": new_id("lin"),
                                               "paid_principal": r.principal if done else 0,
                                               "paid_interest": r.interest if done else 0,
                                               "status": "paid" if done else "pending",
                                               "paid_on": r.due_on if done else None}))
        if done:
            session.add(LoanRepayment(loan_id=loan.id, amount=r.principal + r.interest, status="succeeded",
                                      interest=r.interest, principal=r.principal, source="import",
                                      paid_on=r.due_on))
    session.add_all(installments)
    open_rows = [r for r in installments if r.n > paid]
    loan.disbursed_on, loan.maturity_on = disbursed, rows[-1].due_on
    loan.outstanding_principal = principal - sum(r.principal for r in installments if r.n <= paid)
    loan.next_due_on = open_rows[0].due_on if open_rows else None
    await states.LOAN.apply(session, actor, loan, "disburse", disbursed_on=disbursed, installments=len(rows),
                            imported=True)
    session.add(LoanClassification(loan_id=loan.id, business_date=today, from_classification=None,
                                   to_classification=loan.classification, days_past_due=0))
    await session.flush()
    return loan


async def run_chunk(session: AsyncSession, actor: Actor, rows: Rows) -> ChunkResult:
    result = ChunkResult()
    today = await business_date(session)
    contracts = [raw.get("contract_no", "").strip() for _, raw in rows]
    seen = set((await session.exec(select(ImportedLoan.contract_no).where(
        ImportedLoan.bank_org_id == actor.org_id, col(ImportedLoan.contract_no).in_(contracts)))).all())
    codes = {raw.get("borrower_credit_code", "").strip().upper() for _, raw in rows}
    borrowers = {o.credit_code: o for o in (await session.exec(select(Org).where(col(Org.credit_code).in_(codes)))).all()}
    for row, raw in rows:
        contract = raw.get("contract_no", "").strip()
        if contract in seen:
            result.duplicates += 1
            continue
        try:
            async with session.begin_nested():  # a refused row leaves nothing behind
                loan = await _one(session, actor, raw, today, borrowers)
                session.add(ImportedLoan(bank_org_id=actor.org_id, contract_no=contract[:64], loan_id=loan.id))
                await session.flush()
            seen.add(contract)
            result.imported += 1
        except _Bad as bad:
            result.errors.append(RowError(row, bad.column, bad.reason, bad.value))
        except DomainError as exc:
            result.errors.append(RowError(row, "pledged_numbers", exc.detail, raw.get("pledged_numbers")))
    return result


IMPORTER = register(Importer(kind="loans", columns=COLUMNS, may_import=lambda a: a.is_kind("bank"),
                             who="banks", run_chunk=run_chunk, needs_approval=True))
