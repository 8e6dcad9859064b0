"""The fund's money movements: ledger entries (finance.ledger) and payouts (finance.payments).

One place that knows which ledger recipe and which payment purpose each fund action uses, so the
service reads as rules and the two integrations can be followed from here.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger import service as ledger
from finance.ledger.core import Chart, Recipes, bank_deposit_account
from finance.ledger.models import LedgerEntry, LedgerPosting
from finance.payments import service as payments
from kernel.actor import Actor
from kernel.errors import NotFound


async def open_program_books(session: AsyncSession, actor: Actor, program_id: str, fund_org_id: str) -> None:
    await ledger.ensure_program_accounts(session, program_id, fund_org_id, actor=actor)


async def cash(session: AsyncSession, program_id: str) -> int:
    return (await ledger.balance(session, Chart.cash(program_id))).balance


async def capital_in(session: AsyncSession, actor: Actor, program_id: str, amount: int, key: str) -> str:
    entry = await ledger.post(session, actor, idempotency_key=key, lines=Recipes.capital_in(program_id, amount),
                              description="Capital paid into the programme", kind="fund.capital",
                              object_type="fund_program", object_id=program_id)
    return entry.id


async def capital_amount(session: AsyncSession, program_id: str, entry_id: str) -> int:
    """What a capital entry of this programme paid in (NotFound for any other entry)."""
    entry = await session.get(LedgerEntry, entry_id)
    if entry is None or entry.kind != "fund.capital" or entry.object_id != program_id:
        raise NotFound("capital entry not found")
    postings = await session.exec(select(LedgerPosting).where(LedgerPosting.entry_id == entry_id,
                                                              LedgerPosting.side == "debit"))
    return sum(p.amount for p in postings.all())


async def reverse(session: AsyncSession, actor: Actor, entry_id: str, reason: str) -> str:
    return (await ledger.reverse(session, actor, entry_id, f"reversal:{entry_id}", reason)).id


async def deposit_to_bank(session: AsyncSession, actor: Actor, program_id: str, agreement_id: str,
                          bank_org_id: str, amount: int) -> str:
    spec = bank_deposit_account(program_id, bank_org_id)
    await ledger.ensure_account(session, spec.code, spec.name, spec.type, spec.normal_side, spec.limit_rule,
                                spec.owner_org_id, actor=actor)
    entry = await ledger.post(session, actor, idempotency_key=f"agreement:{agreement_id}:deposit",
                              lines=Recipes.deposit_to_bank(program_id, bank_org_id, amount),
                              description="Deposit placed with a cooperating bank", kind="fund.deposit",
                              object_type="fund_agreement", object_id=agreement_id)
    return entry.id


async def available_cash(session: AsyncSession, program_id: str) -> int:
    """The cash not yet reserved: posted cash less the pending entries of payouts still under way."""
    return (await ledger.balance(session, Chart.cash(program_id))).available


def _attempt_key(base: str, attempt: int) -> str:
    """The first attempt keeps the plain key; a retry (a new payout after a failed one) gets its own."""
    return base if attempt <= 1 else f"{base}:retry{attempt}"


async def pay_compensation(session: AsyncSession, actor: Actor, program_id: str, claim_id: str,
                           fund_org_id: str, bank_org_id: str, amount: int, attempt: int = 1) -> tuple[str, str]:
    """The fund's share of a loss: a *pending* ledger entry that reserves the cash, and a payout to the
    lending bank asked of the provider after commit. ``settle_entry`` or ``void_entry`` resolves the entry
    when the payout lands or fails."""
    key = _attempt_key(f"claim:{claim_id}", attempt)
    entry = await ledger.post(session, actor, idempotency_key=key, lines=Recipes.compensation(program_id, amount),
                              description="Compensation of a defaulted covered loan", kind="fund.compensation",
                              object_type="compensation_claim", object_id=claim_id, pending=True)
    payment = await payments.payout(session, actor, payee_org_id=bank_org_id, payer_org_id=fund_org_id,
                                    amount=amount, object_type="compensation_claim", object_id=claim_id,
                                    purpose="compensation", idempotency_key=key, description="Fund compensation")
    return entry.id, payment.id


async def settle_entry(session: AsyncSession, actor: Actor, entry_id: str, why: str) -> None:
    """The payout landed: post the pending entry (once)."""
    await ledger.post_pending(session, actor, entry_id, f"{entry_id}:posted", why)


async def void_entry(session: AsyncSession, actor: Actor, entry_id: str, why: str) -> None:
    """The payout failed: release the reservation; nothing is posted."""
    await ledger.void_pending(session, actor, entry_id, f"{entry_id}:voided", why)


async def recovery_in(session: AsyncSession, actor: Actor, program_id: str, loan_id: str, source_ref: str,
                      amount: int, attempt: int = 1) -> str:
    """The fund's part of a recovery: pending until the bank's payment of it reaches the fund."""
    entry = await ledger.post(session, actor, idempotency_key=_attempt_key(f"recovery:{source_ref}", attempt),
                              lines=Recipes.recovery(program_id, amount),
                              description="Recovery after compensation", kind="fund.recovery",
                              object_type="loan", object_id=loan_id, pending=True)
    return entry.id


async def recovery_payout(session: AsyncSession, actor: Actor, *, payer_org_id: str, payee_org_id: str,
                          amount: int, row_id: str, source_ref: str, attempt: int = 1) -> str | None:
    """Pay one party its part of the proceeds (nothing when the payer is the payee itself); the outcome
    arrives through the ``fund_recovery`` payment callbacks."""
    if payer_org_id == payee_org_id:
        return None
    payment = await payments.payout(session, actor, payee_org_id=payee_org_id, payer_org_id=payer_org_id,
                                    amount=amount, object_type="fund_recovery", object_id=row_id,
                                    purpose="recovery",
                                    idempotency_key=_attempt_key(f"recovery:{source_ref}"[:88], attempt),
                                    description="Share of recovery proceeds")
    return payment.id
