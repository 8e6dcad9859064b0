"""Recovery: disposal proceeds returned to each loss bearer in proportion to what it bore."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import books, sharing
from finance.fund.claims import claim_for_loan, lock_claim
from finance.fund.models import RecoveryRow
from finance.fund.programmes import lock_program
from finance.fund.schemas import RecoveryOut
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import InvalidState, ValidationFailed


async def recoveries_for_loan(session: AsyncSession, loan_id: str) -> list[RecoveryRow]:
    stmt = select(RecoveryRow).where(RecoveryRow.loan_id == loan_id).order_by(col(RecoveryRow.created_at),
                                                                             col(RecoveryRow.line_no))
    return list((await session.exec(stmt)).all())


async def distribute_recovery(session: AsyncSession, actor: Actor, loan_id: str, proceeds: int,
                              borrower_org_id: str, source_ref: str) -> list[RecoveryRow]:
    """Return ``proceeds`` to each loss bearer in proportion to what it bore, any surplus to the borrower.

    The shares fixed when the claim was opened are what each party bears (the fund's part counts even
    before its payment lands). A repeated ``source_ref`` returns the rows it made the first time.
    """
    if not 0 < proceeds <= 10**14:
        raise ValidationFailed.at(["proceeds"], "proceeds must be positive fen")
    if not 1 <= len(source_ref) <= 100:
        raise ValidationFailed.at(["source_ref"], "source_ref must be 1 to 100 characters")
    claim = await claim_for_loan(session, loan_id)
    if claim is None:
        raise InvalidState("the loan has no compensation claim: there is no loss split to recover into")
    if claim.program_id is not None:
        await lock_program(session, claim.program_id)
    claim = await lock_claim(session, claim.id)  # one distribution at a time per loan
    done = list((await session.exec(select(RecoveryRow).where(RecoveryRow.source_ref == source_ref)
                                    .order_by(col(RecoveryRow.line_no)))).all())
    if done:
        if done[0].loan_id != loan_id or sum(r.amount for r in done) != proceeds:
            raise InvalidState("this source_ref was already distributed with other figures")
        return done
    today = await business_date(session)
    paid = {s["party"]: s["amount"] for s in claim.shares}
    org_of = {s["party"]: s["org_id"] for s in claim.shares}
    org_of["borrower"] = borrower_org_id
    recovered: dict[str, int] = {}
    for row in await recoveries_for_loan(session, loan_id):
        if row.party != "borrower":
            recovered[row.party] = recovered.get(row.party, 0) + row.amount
    parts = sharing.distribute_recovery(proceeds, paid, recovered)
    rows = [RecoveryRow(loan_id=loan_id, claim_id=claim.id, source_ref=source_ref, line_no=n, party=party,
                        org_id=org_of.get(party), amount=amount, recovered_on=today)
            for n, (party, amount) in enumerate(((p, a) for p, a in parts.items() if a > 0), start=1)]
    session.add_all(rows)
    await session.flush()
    for row in rows:
        if row.party == "fund" and claim.program_id is not None:
            row.ledger_entry_id = await books.recovery_in(session, actor, claim.program_id, loan_id, source_ref,
                                                          row.amount)
        if row.org_id is not None:
            row.payment_id = await books.recovery_payout(session, actor, payer_org_id=claim.bank_org_id,
                                                         payee_org_id=row.org_id, amount=row.amount, row_id=row.id,
                                                         source_ref=source_ref)
        session.add(row)
    await session.flush()
    await audit.record(session, actor, "fund_recovery.distributed", "loan", loan_id,
                       after={"source_ref": source_ref, "proceeds": proceeds,
                              "rows": [{"party": r.party, "org_id": r.org_id, "amount": r.amount} for r in rows]})
    return rows


def describe_recovery(row: RecoveryRow) -> RecoveryOut:
    return RecoveryOut.model_validate({"id": row.id, "loan_id": row.loan_id, "claim_id": row.claim_id, "source_ref": row.source_ref,
            "party": row.party, "org_id": row.org_id, "amount": row.amount, "recovered_on": row.recovered_on,
            "ledger_entry_id": row.ledger_entry_id, "payment_id": row.payment_id})
