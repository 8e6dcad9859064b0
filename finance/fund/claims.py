"""Compensation claims: the loss split among its bearers, approval, the cash queue and payment.

**Uncovered loans**: a claim is still recorded with the guarantor/insurer/bank split (fund share 0);
the lending bank settles it (``approve_claim`` by the bank), the fund never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import books, sharing
from finance.fund.cover import COVER, cover_for_loan, refresh, sharing_rules, sum_of
from finance.fund.models import CompensationClaim, FundCover, FundProgramVersion
from finance.fund.programmes import current_version, limit_exceeded, lock_program, year_start
from finance.fund.schemas import ClaimOut
from finance.payments import service as payments
from finance.payments.models import Payment
from kernel import audit, documents, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.day_end import day_end_handler
from kernel.db import get_or_404, insert_unique, utcnow
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.workflow import Workflow

# ``approved``: decided, the fund's cash reserved (a pending ledger entry); ``paying``: the payout asked
# of the provider; ``paid`` only when it lands. A failed payout voids the reservation (``payout_failed``)
# and the fund may ``retry``. A claim with nothing for the fund to pay is settled when approved. The fund
# may ``reject`` a claim it has not approved: nothing is paid and the loan stays defaulted.
CLAIM = Workflow("compensation_claim", {
    ("pending", "queue"): "queued",
    ("pending", "approve"): "approved",
    ("queued", "approve"): "approved",
    ("approved", "pay"): "paying",
    ("approved", "settle"): "paid",
    ("paying", "settle"): "paid",
    ("paying", "fail_payout"): "payout_failed",
    ("payout_failed", "retry"): "approved",
    ("pending", "reject"): "rejected",
    ("queued", "reject"): "rejected",
}, initial="pending")
# Claims whose approval is done (asking again returns them as they stand).
DECIDED = ("approved", "paying", "paid")


@dataclass
class Party:
    party: str
    org_id: str
    share_bps: int


@dataclass
class ClaimRequest:
    loan_id: str
    bank_org_id: str
    borrower_org_id: str
    principal: int
    loss: int
    parties: list[Party] = field(default_factory=list)


async def _caps_used(session: AsyncSession, program_id: str, borrower_org_id: str, today: date) -> sharing.CapsUsed:
    """The fund's compensation already claimed this year (every claim but a rejected one)."""
    this_year = (CompensationClaim.program_id == program_id, col(CompensationClaim.opened_on) >= year_start(today),
                 CompensationClaim.status != "rejected")
    borrower = await sum_of(session, CompensationClaim.fund_amount, *this_year,
                          CompensationClaim.borrower_org_id == borrower_org_id)
    total = await sum_of(session, CompensationClaim.fund_amount, *this_year)
    return sharing.CapsUsed(borrower_year=borrower, annual=total)


def _check_claim(req: ClaimRequest) -> None:
    if not 0 < req.principal <= 10**14:
        raise ValidationFailed.at(["principal"], "principal must be positive fen")
    if not 0 < req.loss <= req.principal:
        raise ValidationFailed.at(["loss"], "the loss must be positive and at most the principal")
    names = [p.party for p in req.parties]
    if len(set(names)) != len(names) or {"fund", "bank", "borrower"} & set(names):
        raise ValidationFailed.at(["parties"], "parties must be unique and other than fund, bank and borrower")
    if any(not 0 <= p.share_bps <= 10000 for p in req.parties) or sum(p.share_bps for p in req.parties) > 10000:
        raise ValidationFailed.at(["parties"], "party shares must be bps adding up to at most 10000")


async def open_claim(session: AsyncSession, actor: Actor, req: ClaimRequest) -> CompensationClaim:
    """Record a claim with the loss split among its bearers (parts sum to the loss exactly)."""
    if actor.org_id != req.bank_org_id and not actor.is_platform_admin:
        raise Forbidden("only the lending bank claims compensation")
    _check_claim(req)
    if await claim_for_loan(session, req.loan_id) is not None:
        raise InvalidState("a compensation claim for this loan already exists")
    today = await business_date(session)
    cover = await cover_for_loan(session, req.loan_id)
    org_of: dict[str, str | None] = {p.party: p.org_id for p in req.parties}
    if cover is None:
        rules = sharing.SharingRules(shares=tuple((p.party, p.share_bps) for p in req.parties), fund=None)
        split = sharing.split_loss(req.loss, rules)
        program_id = fund_org_id = None
    else:
        if cover.bank_org_id != req.bank_org_id:
            raise ValidationFailed.at(["bank_org_id"], "the cover belongs to another bank")
        program = await lock_program(session, cover.program_id)  # serialises the year caps
        version = await session.get(FundProgramVersion, cover.version_id)
        assert version is not None
        cover = await get_or_404(session, FundCover, cover.id, lock=True, label="fund cover")
        if cover.status != "active":
            raise InvalidState(f"the cover is {cover.status}")
        org_of.setdefault("guarantor", cover.guarantor_org_id)
        org_of.setdefault("insurer", cover.insurer_org_id)
        for p in version.extra_parties:
            org_of.setdefault(p["party"], p.get("org_id"))
        rules = sharing_rules(version)
        absent = [name for name, _ in rules.shares if name != "fund" and not org_of.get(name)]
        split = sharing.split_loss(req.loss, rules, loan_principal=cover.principal, absent=absent,
                                   used=await _caps_used(session, program.id, req.borrower_org_id, today))
        org_of["fund"] = program.fund_org_id
        program_id, fund_org_id = program.id, program.fund_org_id
    org_of["bank"] = req.bank_org_id
    shares = [{"party": name, "org_id": org_of.get(name), "amount": amount}
              for name, amount in split.parts.items() if amount or name in ("fund", "bank")]
    claim = CompensationClaim(loan_id=req.loan_id, program_id=program_id, cover_id=cover.id if cover else None,
                              fund_org_id=fund_org_id, bank_org_id=req.bank_org_id,
                              borrower_org_id=req.borrower_org_id, principal=req.principal, loss=req.loss,
                              shares=shares, fund_amount=split.parts.get("fund", 0) if cover else 0,
                              opened_on=today)
    CLAIM.start(claim)
    await insert_unique(session, claim, InvalidState("a compensation claim for this loan already exists"))
    if cover is not None:
        cover.claimed_on = today
        await COVER.apply(session, actor, cover, "claim", claimed_on=today)
        refresh(cover)
        await session.flush()
    await audit.record(session, actor, "compensation_claim.opened", "compensation_claim", claim.id,
                       after={"loan_id": claim.loan_id, "loss": claim.loss, "shares": shares,
                              "limited_by": list(split.limited_by)})
    return claim


async def claim_for_loan(session: AsyncSession, loan_id: str) -> CompensationClaim | None:
    return (await session.exec(select(CompensationClaim).where(CompensationClaim.loan_id == loan_id))).first()


async def get_claim(session: AsyncSession, actor: Actor, claim_id: str) -> CompensationClaim:
    """A claim, for its fund, the parties bearing a share, the platform admin and the regulator."""
    def visible(claim: CompensationClaim) -> bool:
        parties = {claim.fund_org_id, claim.bank_org_id, *(s.get("org_id") for s in claim.shares)}
        return actor.org_id in parties or actor.is_platform_admin or actor.is_kind("regulator")

    return await get_or_404(session, CompensationClaim, claim_id, visible=visible, label="compensation claim")


async def lock_claim(session: AsyncSession, claim_id: str) -> CompensationClaim:
    return await get_or_404(session, CompensationClaim, claim_id, lock=True, label="compensation claim")


async def approve_claim(session: AsyncSession, actor: Actor, claim_id: str) -> CompensationClaim:
    """Approve a claim and ask for its payout, once. The fund approves a covered claim; the lending bank
    settles an uncovered one.

    Short of cash (what is not reserved by payouts under way), the programme refuses (``LimitExceeded``,
    rule ``cash``) or queues the claim for the day-end, which pays queued claims oldest first as cash
    allows. The claim is ``paying`` until the payout lands (``paid``). Approving again returns the claim.
    """
    claim = await get_claim(session, actor, claim_id)
    if claim.program_id is None:
        if actor.org_id != claim.bank_org_id:
            raise Forbidden("an uncovered loan's claim is settled by the lending bank")
        claim = await lock_claim(session, claim_id)
        if claim.status not in DECIDED:
            await _approve(session, actor, claim)
        return claim
    if actor.org_id != claim.fund_org_id:
        raise Forbidden("only the programme's fund approves compensation")
    program = await lock_program(session, claim.program_id)  # one payer at a time per programme
    claim = await lock_claim(session, claim_id)
    if claim.status in DECIDED:
        return claim
    if claim.status == "payout_failed":
        raise InvalidState(f"the payout of claim {claim.id} failed; retry it with "
                           f"POST /compensation-claims/{claim.id}/retry-payout")
    if program.requires_claim_evidence and not await documents.has_document(
            session, "compensation_claim", claim.id, "claim_evidence"):
        raise InvalidState("the programme requires claim evidence before a claim is approved")
    cash = await books.available_cash(session, program.id)
    # Claims queued before this one are paid first: a later one never jumps the queue.
    queue = (await session.exec(select(CompensationClaim.id).where(
        CompensationClaim.program_id == program.id, CompensationClaim.status == "queued")
        .order_by(col(CompensationClaim.queued_at), col(CompensationClaim.id)))).all()
    waiting = (queue.index(claim.id) if claim.id in queue else len(queue)) > 0
    if cash < claim.fund_amount or waiting:
        version = await current_version(session, program)
        if version.insufficient_cash == "refuse" and cash < claim.fund_amount:
            raise limit_exceeded("cash", f"the fund's cash {cash} does not cover this claim's {claim.fund_amount}",
                         cash=cash, fund_amount=claim.fund_amount)
        if version.insufficient_cash == "queue":
            if claim.status == "pending":
                claim.queued_at = utcnow()
                await CLAIM.apply(session, actor, claim, "queue", queued_at=claim.queued_at)
                await session.flush()
            return claim
    await _approve(session, actor, claim)
    return claim


async def retry_payout(session: AsyncSession, actor: Actor, claim_id: str) -> CompensationClaim:
    """Pay a claim whose payout failed again: a new reservation and a new payout (new idempotency keys),
    so the failed attempt can never land twice. Only the programme's fund retries."""
    claim = await get_claim(session, actor, claim_id)
    if claim.program_id is None or actor.org_id != claim.fund_org_id:
        raise Forbidden("only the programme's fund retries a compensation payout")
    program = await lock_program(session, claim.program_id)
    claim = await lock_claim(session, claim_id)
    if claim.status in ("paying", "paid"):
        return claim  # a retry already under way, or landed
    if claim.status != "payout_failed":
        raise InvalidState(f"compensation claim {claim.id} is {claim.status}; only a failed payout is retried",
                           extra={"current_status": claim.status})
    cash = await books.available_cash(session, program.id)
    if cash < claim.fund_amount:
        raise limit_exceeded("cash", f"the fund's cash {cash} does not cover this claim's {claim.fund_amount}",
                             cash=cash, fund_amount=claim.fund_amount)
    await CLAIM.apply(session, actor, claim, "retry", attempt=claim.payout_attempts + 1)
    await session.flush()
    await _ask_payout(session, actor, claim)
    return claim


async def reject_claim(session: AsyncSession, actor: Actor, claim_id: str, reason: str) -> CompensationClaim:
    """Refuse a claim the fund has not approved (pending or queued), with the reason the bank will read.
    Nothing is reserved or paid; the claim stays on record (one per loan), the loan stays defaulted.
    Rejecting a rejected claim again returns it as it stands."""
    claim = await get_claim(session, actor, claim_id)
    if claim.program_id is None or actor.org_id != claim.fund_org_id:
        raise Forbidden("only the programme's fund rejects a compensation claim")
    await lock_program(session, claim.program_id)  # the same order as approval: no race with a payer
    claim = await lock_claim(session, claim_id)
    if claim.status == "rejected":
        return claim
    if claim.status not in ("pending", "queued"):
        raise InvalidState(f"compensation claim {claim.id} is {claim.status}; only a claim not yet approved "
                           "can be rejected", extra={"current_status": claim.status})
    claim.reject_reason, claim.rejected_on = reason, await business_date(session)
    await CLAIM.apply(session, actor, claim, "reject", reason=reason, rejected_on=claim.rejected_on)
    await session.flush()
    return claim


async def _approve(session: AsyncSession, actor: Actor, claim: CompensationClaim) -> None:
    await CLAIM.apply(session, actor, claim, "approve", fund_amount=claim.fund_amount)
    await session.flush()
    await _ask_payout(session, actor, claim)


async def _ask_payout(session: AsyncSession, actor: Actor, claim: CompensationClaim) -> None:
    """From ``approved``: reserve the fund's share and ask for the payout (``paying``), or, with nothing
    for the fund to pay, settle the claim now."""
    if claim.program_id is None or claim.fund_amount == 0:
        await _paid(session, actor, claim, today=await business_date(session))
        return
    assert claim.fund_org_id is not None
    claim.payout_attempts += 1
    claim.ledger_entry_id, claim.payment_id = await books.pay_compensation(
        session, actor, claim.program_id, claim.id, claim.fund_org_id, claim.bank_org_id, claim.fund_amount,
        attempt=claim.payout_attempts)
    await CLAIM.apply(session, actor, claim, "pay", ledger_entry_id=claim.ledger_entry_id,
                      payment_id=claim.payment_id, attempt=claim.payout_attempts)
    await session.flush()


async def _paid(session: AsyncSession, actor: Actor, claim: CompensationClaim, *, today: date) -> None:
    """The money landed (or there was none to move): mark the claim paid and tell loans."""
    claim.paid_on, claim.paid_at = today, utcnow()
    await CLAIM.apply(session, actor, claim, "settle", paid_on=today, paid_at=claim.paid_at,
                      ledger_entry_id=claim.ledger_entry_id, payment_id=claim.payment_id)
    await session.flush()
    await events.publish(session, events.COMPENSATION_PAID,
                         {"claim_id": claim.id, "loan_id": claim.loan_id, "loss": claim.loss,
                          "shares": [dict(s) for s in claim.shares]})


async def _claim_of(session: AsyncSession, payment: Payment) -> CompensationClaim | None:
    """The claim a payout callback is about, locked, if that payout is still its current attempt."""
    claim = await session.get(CompensationClaim, payment.object_id, with_for_update=True, populate_existing=True)
    if claim is None or claim.status != "paying" or claim.payment_id != payment.id:
        return None  # an earlier attempt's late news, or already handled
    return claim


@payments.on_settled("compensation_claim")
async def _payout_landed(session: AsyncSession, payment: Payment) -> None:
    claim = await _claim_of(session, payment)
    if claim is None:
        return
    if claim.ledger_entry_id:
        await books.settle_entry(session, SYSTEM, claim.ledger_entry_id, "the compensation payout landed")
    await _paid(session, SYSTEM, claim, today=await business_date(session))


@payments.on_failed("compensation_claim")
async def _payout_failed(session: AsyncSession, payment: Payment) -> None:
    """The money never left the fund: release the reservation; the loan stays defaulted."""
    claim = await _claim_of(session, payment)
    if claim is None:
        return
    if claim.ledger_entry_id:
        await books.void_entry(session, SYSTEM, claim.ledger_entry_id, "the compensation payout failed")
    await CLAIM.apply(session, SYSTEM, claim, "fail_payout", payment_id=payment.id,
                      failure_code=payment.failure_code, failure_message=payment.failure_message)
    await session.flush()


@day_end_handler("fund.pay_queued_claims", order=300)
async def pay_queued_claims(session: AsyncSession, run_date: date) -> None:
    """Approve queued claims oldest first while each programme's cash allows (the oldest is never skipped);
    their payouts run once this step has committed."""
    stmt = (select(CompensationClaim.program_id).where(CompensationClaim.status == "queued").distinct()
            .order_by(col(CompensationClaim.program_id)))
    for program_id in (await session.exec(stmt)).all():
        assert program_id is not None
        await pay_queued_for_program(session, program_id, run_date)


async def pay_queued_for_program(session: AsyncSession, program_id: str, run_date: date) -> int:
    program = await lock_program(session, program_id)
    stmt = (select(CompensationClaim).where(CompensationClaim.program_id == program_id,
                                            CompensationClaim.status == "queued")
            .order_by(col(CompensationClaim.queued_at), col(CompensationClaim.id))
            .with_for_update().execution_options(populate_existing=True))
    paid = 0
    cash = await books.available_cash(session, program.id)
    for claim in (await session.exec(stmt)).all():
        if claim.fund_amount > cash:
            break
        await _approve(session, SYSTEM, claim)  # its payout is asked after this day-end step commits
        cash -= claim.fund_amount
        paid += 1
    return paid


def describe_claim(claim: CompensationClaim) -> ClaimOut:
    return ClaimOut.model_validate({"id": claim.id, "loan_id": claim.loan_id, "program_id": claim.program_id,
            "bank_org_id": claim.bank_org_id, "loss": claim.loss, "shares": claim.shares,
            "fund_amount": claim.fund_amount, "status": claim.status, "opened_on": claim.opened_on,
            "paid_on": claim.paid_on, "ledger_entry_id": claim.ledger_entry_id, "payment_id": claim.payment_id,
            "reject_reason": claim.reject_reason, "rejected_on": claim.rejected_on})
