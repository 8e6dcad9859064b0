"""Recovery: disposal proceeds returned to each loss bearer in proportion to what it bore."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import books, sharing
from finance.fund.claims import claim_for_loan, lock_claim
from finance.fund.models import CompensationClaim, RecoveryRow
from finance.fund.programmes import lock_program
from finance.fund.schemas import RecoveryOut
from finance.payments import service as payments
from finance.payments.models import Payment
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import InvalidState, NotFound, ValidationFailed
from kernel.workflow import Workflow

# Each party's part of a recovery: ``paid`` only once its payment from the lending bank has landed.
RECOVERY = Workflow("fund_recovery", {
    ("paying", "settle"): "paid",
    ("paying", "fail_payout"): "payout_failed",
    ("payout_failed", "retry"): "paying",
}, initial="paying")


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
    for row in rows:
        RECOVERY.start(row)
    session.add_all(rows)
    await session.flush()
    for row in rows:
        await _ask_payout(session, actor, claim.program_id, claim.bank_org_id, row)
    await audit.record(session, actor, "fund_recovery.distributed", "loan", loan_id,
                       after={"source_ref": source_ref, "proceeds": proceeds,
                              "rows": [{"party": r.party, "org_id": r.org_id, "amount": r.amount} for r in rows]})
    return rows


async def _ask_payout(session: AsyncSession, actor: Actor, program_id: str | None, bank_org_id: str,
                      row: RecoveryRow) -> None:
    """Ask for the payment of one row's part (the bank holds the proceeds), with the fund's inflow pending
    in its ledger until that payment lands. A row with nothing to move is paid at once."""
    row.payout_attempts += 1
    if row.party == "fund" and program_id is not None:
        row.ledger_entry_id = await books.recovery_in(session, actor, program_id, row.loan_id, row.source_ref,
                                                      row.amount, attempt=row.payout_attempts)
    row.payment_id = None
    if row.org_id is not None:
        row.payment_id = await books.recovery_payout(session, actor, payer_org_id=bank_org_id,
                                                     payee_org_id=row.org_id, amount=row.amount, row_id=row.id,
                                                     source_ref=row.source_ref, attempt=row.payout_attempts)
    session.add(row)
    await session.flush()
    if row.payment_id is None:
        await _landed(session, actor, row)


async def _landed(session: AsyncSession, actor: Actor, row: RecoveryRow) -> None:
    if row.ledger_entry_id:
        await books.settle_entry(session, actor, row.ledger_entry_id, "the recovery reached the fund")
    await RECOVERY.apply(session, actor, row, "settle", payment_id=row.payment_id)
    await session.flush()


async def _row_of(session: AsyncSession, payment: Payment) -> RecoveryRow | None:
    """The row a payout callback is about, locked, if that payout is still its current attempt."""
    row = await get_or_404(session, RecoveryRow, payment.object_id, lock=True, label="recovery")
    return row if row.status == "paying" and row.payment_id == payment.id else None


@payments.on_settled("fund_recovery")
async def _payout_landed(session: AsyncSession, payment: Payment) -> None:
    row = await _row_of(session, payment)
    if row is not None:
        await _landed(session, SYSTEM, row)


@payments.on_failed("fund_recovery")
async def _payout_failed(session: AsyncSession, payment: Payment) -> None:
    """The party was not paid: the fund's pending inflow is voided; the row waits for a retry."""
    row = await _row_of(session, payment)
    if row is None:
        return
    if row.ledger_entry_id:
        await books.void_entry(session, SYSTEM, row.ledger_entry_id, "the recovery payment failed")
    await RECOVERY.apply(session, SYSTEM, row, "fail_payout", payment_id=payment.id,
                         failure_code=payment.failure_code, failure_message=payment.failure_message)
    await session.flush()


async def retry_payout(session: AsyncSession, actor: Actor, row_id: str) -> RecoveryRow:
    """Pay a recovery row whose payment failed again (new keys). The claim's fund or its lending bank."""
    found = await get_or_404(session, RecoveryRow, row_id, label="recovery")
    claim = await session.get(CompensationClaim, found.claim_id)
    assert claim is not None
    if actor.org_id not in (claim.fund_org_id, claim.bank_org_id):
        raise NotFound("recovery not found")
    if claim.program_id is not None:
        await lock_program(session, claim.program_id)
    await lock_claim(session, claim.id)
    row = await get_or_404(session, RecoveryRow, row_id, lock=True, label="recovery")
    if row.status in ("paying", "paid"):
        return row
    await RECOVERY.apply(session, actor, row, "retry", attempt=row.payout_attempts + 1)
    await session.flush()
    await _ask_payout(session, actor, claim.program_id, claim.bank_org_id, row)
    return row


def describe_recovery(row: RecoveryRow) -> RecoveryOut:
    return RecoveryOut.model_validate({"id": row.id, "loan_id": row.loan_id, "claim_id": row.claim_id, "source_ref": row.source_ref,
            "party": row.party, "org_id": row.org_id, "amount": row.amount, "recovered_on": row.recovered_on,
            "status": row.status, "ledger_entry_id": row.ledger_entry_id, "payment_id": row.payment_id})
