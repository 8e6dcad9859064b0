"""Schedule versions: the schedule as it stood before a restructuring or a prepayment changed it.

Version 1 is the schedule fixed at disbursement; each change stores the rows it replaces and the current
schedule is the next number. ``GET /loans/{id}/schedule?version=`` reads any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans.models import LoanInstallment
from finance.servicing.models import LoanScheduleVersion
from kernel.errors import NotFound

ROW_FIELDS = ("n", "due_on", "payment", "principal", "interest", "balance_after", "paid_principal",
              "paid_interest", "paid_penalty", "carried_interest", "accrues_from", "status", "paid_on")


def rows_json(rows: Sequence[LoanInstallment]) -> list[dict[str, Any]]:
    out = []
    for r in sorted(rows, key=lambda r: r.n):
        item = {f: getattr(r, f) for f in ROW_FIELDS}
        for f in ("due_on", "accrues_from", "paid_on"):
            item[f] = item[f].isoformat() if item[f] else None
        out.append(item)
    return out


async def stored_count(session: AsyncSession, loan_id: str) -> int:
    return int((await session.exec(select(sa.func.count()).select_from(LoanScheduleVersion)
                                   .where(LoanScheduleVersion.loan_id == loan_id))).one())


async def keep(session: AsyncSession, loan_id: str, before: list[dict[str, Any]], *, superseded_by: str,
               ref_id: str, on: date) -> int:
    """Store ``before`` (``rows_json`` taken before the change) as the next version; returns its number."""
    number = await stored_count(session, loan_id) + 1
    session.add(LoanScheduleVersion(loan_id=loan_id, version=number, superseded_by=superseded_by, ref_id=ref_id,
                                    superseded_on=on, installments=before))
    await session.flush()
    return number


async def version(session: AsyncSession, loan_id: str, number: int) -> LoanScheduleVersion:
    row = (await session.exec(select(LoanScheduleVersion).where(LoanScheduleVersion.loan_id == loan_id,
                                                                LoanScheduleVersion.version == number))).first()
    if row is None:
        raise NotFound(f"the loan has no schedule version {number}")
    return row
