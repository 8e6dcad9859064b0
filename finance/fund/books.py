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


async def pay_compensation(session: AsyncSession, actor: Actor, program_id: str, claim_id: str,
                           fund_org_id: str, bank_org_id: str, amount: int) -> tuple[str, str]:
    """The fund's share of a loss: ledger entry ``claim:{id}`` and a payout to the lending bank."""
    entry = await ledger.post(session, actor, idempotency_key=f"claim:{claim_id}",
                              lines=Recipes.compensation(program_id, amount),
                              description="Compensation of a defaulted covered loan", kind="fund.compensation",
                              object_type="compensation_claim", object_id=claim_id)
    payment = await payments.payout(session, actor, payee_org_id=bank_org_id, payer_org_id=fund_org_id,
                                    amount=amount, object_type="compensation_claim", object_id=claim_id,
                                    purpose="compensation", idempotency_key=f"claim:{claim_id}",
                                    description="Fund compensation")
    payments.require_success(payment)
    return entry.id, payment.id


async def recovery_in(session: AsyncSession, actor: Actor, program_id: str, loan_id: str, source_ref: str,
                      amount: int) -> str:
    entry = await ledger.post(session, actor, idempotency_key=f"recovery:{source_ref}",
                              lines=Recipes.recovery(program_id, amount),
                              description="Recovery after compensation", kind="fund.recovery",
                              object_type="loan", object_id=loan_id)
    return entry.id


async def recovery_payout(session: AsyncSession, actor: Actor, *, payer_org_id: str, payee_org_id: str,
                          amount: int, row_id: str, source_ref: str) -> str | None:
    """Pay one party its part of the proceeds (nothing when the payer is the payee itself)."""
    if payer_org_id == payee_org_id:
        return None
    payment = await payments.payout(session, actor, payee_org_id=payee_org_id, payer_org_id=payer_org_id,
                                    amount=amount, object_type="fund_recovery", object_id=row_id,
                                    purpose="recovery", idempotency_key=f"recovery:{source_ref}"[:100],
                                    description="Share of recovery proceeds")
    payments.require_success(payment)
    return payment.id
