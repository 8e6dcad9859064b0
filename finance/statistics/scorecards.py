"""Partner scorecards: how each bank and guarantor of a fund programme did in a year (财金〔2020〕31号 style).

Per partner, for the year ``Y`` (1 January to 31 December, or to today in the current year):

- loans made: covers granted in the year — ``loans_covered``, ``covered_amount`` (principal), and for banks
  ``leverage_achieved_bps`` = covered amount ÷ deposit (10000 = 1×) against ``committed_leverage``;
  ``below_committed_leverage`` flags a bank whose covered amount is below deposit × committed leverage;
- ``quota_used`` (the covered outstanding principal now) and ``quota_use_bps`` of the quota (banks);
- ``average_rate_bps``, ``average_lpr_bps`` and ``average_spread_bps`` over the loans made in the year
  (the spread over those priced against a known LPR), each half-up;
- the book through the year's end — every cover granted up to then: ``covered_to_date`` (covered principal),
  ``npl_ratio_bps`` (the part now non-performing or claimed), ``compensated`` (the fund's compensation paid
  up to then), ``recovered`` (the fund's recoveries up to then), ``compensation_rate_bps`` = compensated ÷
  covered to date, ``recovery_rate_bps`` = recovered ÷ compensated;
- ``avg_days_default_to_claim`` over claims opened in the year, ``avg_days_claim_to_payment`` over claims paid
  in the year (days, one decimal, half-up; null when there are none).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund.models import (
    NON_PERFORMING,
    CompensationClaim,
    FundAgreement,
    FundCover,
    FundProgram,
    RecoveryRow,
)
from finance.loans.models import Loan
from finance.statistics.report import Report
from kernel.clock import business_date
from kernel.errors import ValidationFailed

COLUMNS = ["partner_kind", "org_id", "name", "deposit", "committed_leverage", "leverage_achieved_bps",
           "below_committed_leverage", "quota", "quota_used", "quota_use_bps", "loans_covered", "covered_amount",
           "average_rate_bps", "average_lpr_bps", "average_spread_bps", "covered_to_date", "npl_ratio_bps",
           "compensated", "compensation_rate_bps", "recovered", "recovery_rate_bps", "avg_days_default_to_claim",
           "avg_days_claim_to_payment"]


def _bps(part: int, whole: int) -> int | None:
    return None if whole <= 0 else (part * 20000 + whole) // (2 * whole)


def _mean(values: list[int]) -> int | None:
    return None if not values else int((Decimal(sum(values)) / len(values)).quantize(Decimal(1), ROUND_HALF_UP))


def _mean_days(values: list[int]) -> str | None:
    if not values:
        return None
    return str((Decimal(sum(values)) / len(values)).quantize(Decimal("0.1"), ROUND_HALF_UP))


@dataclass
class _Tally:
    made: list[FundCover] = field(default_factory=list)
    book: list[FundCover] = field(default_factory=list)


async def scorecards(session: AsyncSession, program: FundProgram, year: int) -> Report:
    today = await business_date(session)
    if not 2000 <= year <= today.year:
        raise ValidationFailed.at(["query", "year"], f"year must be between 2000 and {today.year}")
    start, end = date(year, 1, 1), min(date(year, 12, 31), today)
    covers = list((await session.exec(select(FundCover).where(FundCover.program_id == program.id,
                                                              col(FundCover.covered_on) <= end)
                                      .order_by(col(FundCover.id)))).all())
    loans = {x.id: x for x in (await session.exec(select(Loan).where(
        col(Loan.id).in_([c.loan_id for c in covers])))).all()} if covers else {}
    claims = {c.loan_id: c for c in (await session.exec(select(CompensationClaim).where(
        CompensationClaim.program_id == program.id))).all()}
    recoveries: dict[str, int] = defaultdict(int)
    for rec in (await session.exec(select(RecoveryRow).where(
            col(RecoveryRow.claim_id).in_([c.id for c in claims.values()]), RecoveryRow.party == "fund",
            RecoveryRow.status == "paid", col(RecoveryRow.recovered_on) <= end))).all():  # landed only
        recoveries[rec.loan_id] += rec.amount
    agreements = {a.bank_org_id: a for a in (await session.exec(select(FundAgreement).where(
        FundAgreement.program_id == program.id))).all()}

    partners: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for bank_id in agreements:  # a bank with an agreement is scored even without loans
        partners[("bank", bank_id)] = _Tally()
    for cover in covers:
        for key in [("bank", cover.bank_org_id)] + ([("guarantor", cover.guarantor_org_id)]
                                                     if cover.guarantor_org_id else []):
            partners[key].book.append(cover)
            if cover.covered_on >= start:
                partners[key].made.append(cover)
    names = dict((await session.exec(select(Org.id, Org.name).where(
        col(Org.id).in_([k[1] for k in partners])))).all()) if partners else {}

    rows: list[dict[str, Any]] = []
    for (kind, org_id), tally in sorted(partners.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], ""), kv[0][1])):
        made_loans = [loans[c.loan_id] for c in tally.made if c.loan_id in loans]
        covered_amount = sum(c.principal for c in tally.made)
        covered_to_date = sum(c.covered_principal for c in tally.book)
        bad = sum(c.covered_principal for c in tally.book
                  if c.classification in NON_PERFORMING or (c.claimed_on is not None and c.claimed_on <= end))
        book_claims = [claims[c.loan_id] for c in tally.book if c.loan_id in claims]
        paid = [k for k in book_claims if k.status == "paid" and k.paid_on is not None and k.paid_on <= end]
        compensated = sum(k.fund_amount for k in paid)
        recovered = sum(recoveries[k.loan_id] for k in book_claims)
        to_claim = [(k.opened_on - loans[k.loan_id].defaulted_on).days for k in book_claims  # type: ignore[operator]  # defaulted_on checked below
                    if start <= k.opened_on <= end and k.loan_id in loans and loans[k.loan_id].defaulted_on]
        to_pay = [(k.paid_on - k.opened_on).days for k in paid if k.paid_on and k.paid_on >= start]
        priced = [x for x in made_loans if x.lpr_bps is not None]
        row: dict[str, Any] = {
            "partner_kind": kind, "org_id": org_id, "name": names.get(org_id, ""),
            "deposit": None, "committed_leverage": None, "leverage_achieved_bps": None,
            "below_committed_leverage": None, "quota": None, "quota_used": None, "quota_use_bps": None,
            "loans_covered": len(tally.made), "covered_amount": covered_amount,
            "average_rate_bps": _mean([x.annual_rate_bps for x in made_loans]),
            "average_lpr_bps": _mean([x.lpr_bps for x in priced if x.lpr_bps is not None]),
            "average_spread_bps": _mean([x.annual_rate_bps - (x.lpr_bps or 0) for x in priced]),
            "covered_to_date": covered_to_date, "npl_ratio_bps": _bps(bad, covered_to_date) or 0,
            "compensated": compensated, "compensation_rate_bps": _bps(compensated, covered_to_date) or 0,
            "recovered": recovered, "recovery_rate_bps": _bps(recovered, compensated) or 0,
            "avg_days_default_to_claim": _mean_days(to_claim), "avg_days_claim_to_payment": _mean_days(to_pay),
        }
        agreement = agreements.get(org_id) if kind == "bank" else None
        if agreement is not None:
            used = sum(c.covered_outstanding for c in tally.book if c.status == "active")
            row.update(deposit=agreement.deposit, committed_leverage=agreement.leverage,
                       leverage_achieved_bps=_bps(covered_amount, agreement.deposit),
                       below_committed_leverage=covered_amount < agreement.deposit * agreement.leverage,
                       quota=agreement.quota, quota_used=used, quota_use_bps=_bps(used, agreement.quota))
        rows.append(row)
    flagged = [r["org_id"] for r in rows if r["below_committed_leverage"]]
    return Report(title="合作机构年度考核 Partner scorecards", filters={"program_id": program.id, "year": year},
                  columns=COLUMNS, rows=rows, extra={"as_of": end, "below_committed_leverage": flagged})
