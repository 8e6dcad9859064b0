"""Disposal of a defaulted loan's collateral (质物处置), the recoveries, and the write-off.

**When.** The lending bank disposes once the loss split is fixed: the loan is ``compensated``, or
``defaulted`` with its compensation claim already opened (e.g. queued while the fund is short of cash —
the bank need not wait for the fund's budget while the collateral's value wastes; the fund's share counts
as borne from the claim, see ``finance.fund.recovery.distribute_recovery``). A defaulted loan without a
claim is refused (409): without a split there is nobody to share the proceeds with.

**How.** ``POST /loans/{id}/disposal`` opens a market auction of the pledged bundle, the borrower as
seller, the bank as organiser under its pledge (``allow_pledged_by=loan.id``, so the pledge it enforces
does not block the sale) and ``proceeds_to="loan:<id>"``. Defaults: reserve = the value of the current
certified valuation, else the outstanding principal; start price = 80% of the reserve; minimum
increment = 1% of the start price; ``ends_on`` = business date + 30 days. An unsold lot may be put up
again, either through the market (``POST /auctions/{id}/relist``) or by calling the disposal endpoint
again (default reserve 80% of the last one); each lot gets a ``loan_disposals`` row.

**The money, fen by fen.** The winner pays the deal (``finance.deal_payments``): the charge names the
lending bank as payee and is held in escrow. Once market records the deal (ownership moves to the buyer):

1. the escrow is released to the bank — the whole price, ``P``;
2. the pledge is released (enforced by the sale);
3. ``distribute_recovery(P)`` splits ``P`` among the loss bearers in proportion to what each bore in the
   claim (largest remainder), any surplus over the loss to the borrower; the fund's part is booked in its
   ledger (``recovery:deal:<id>``), and every part except the bank's own is paid out *by the bank* through
   the gateway (purpose ``recovery``). So: released ``P`` = Σ payouts + the bank's own part, exactly;
4. the loan is ``closed`` (``disposing → close``).

**Write-off.** A loan whose last lot is unsold may be written off (``POST /loans/{id}/write-off``): each
bearer's final loss = what it bore in the claim − what it has recovered, one ``loan_write_offs`` row each.
The pledge is released: the collateral was offered and found no buyer (the bank keeps its claim on the
borrower off balance sheet — 账销案存 — but no longer blocks the IP).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import claims as fund_claims
from finance.fund import recovery as fund_recovery
from finance.fund import sharing
from finance.loans import access, outbound, states
from finance.loans.models import Loan, LoanDisposal, LoanWriteOff
from finance.loans.schemas import DisposalIn, DisposalOut, DisposalsOut, WriteOffOut, WriteOffRowOut
from finance.payments.models import Payment
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.errors import InvalidState, NotFound
from kernel.money import apply_bps
from market.assets import encumbrances
from market.auctions import service as auctions
from market.auctions.models import Auction
from market.trading.models import Deal
from valuation import service as valuation_service

PROCEEDS_KIND = "loan"
START_BPS = 8000  # start price = 80% of the reserve
RELIST_RESERVE_BPS = 8000  # a re-listed lot's default reserve = 80% of the last one
INCREMENT_BPS = 100  # minimum increment = 1% of the start price
DEFAULT_DAYS = 30


def proceeds_ref(loan_id: str) -> str:
    return f"{PROCEEDS_KIND}:{loan_id}"


async def proceeds_payee(session: AsyncSession, loan_id: str) -> str:
    """The lending bank receives a disposal's proceeds, to share them out."""
    loan = await session.get(Loan, loan_id)
    if loan is None:
        raise InvalidState(f"the proceeds route names loan {loan_id}, which does not exist")
    return loan.bank_org_id


async def disposals_of(session: AsyncSession, loan_id: str) -> list[LoanDisposal]:
    stmt = select(LoanDisposal).where(LoanDisposal.loan_id == loan_id).order_by(col(LoanDisposal.created_at),
                                                                               col(LoanDisposal.id))
    return list((await session.exec(stmt)).all())


async def _latest_lot(session: AsyncSession, loan_id: str) -> Auction | None:
    """The loan's current lot: the last disposal's auction, following market re-listings."""
    rows = await disposals_of(session, loan_id)
    if not rows:
        return None
    auction = await session.get(Auction, rows[-1].auction_id)
    while auction is not None and auction.relisted_as:
        auction = await session.get(Auction, auction.relisted_as)
    return auction


async def _default_reserve(session: AsyncSession, loan: Loan) -> int:
    if loan.valuation_id:
        current = await valuation_service.current_certified(session, loan.valuation_id)
        if current is not None and current.value:
            return int(current.value)
    return loan.outstanding_principal


async def start_disposal(session: AsyncSession, actor: Actor, loan_id: str,
                         data: DisposalIn) -> tuple[Loan, LoanDisposal, Auction]:
    """Auction the pledged bundle (lending bank), or put an unsold lot up again."""
    loan = await access.lending_bank_loan(session, actor, loan_id)
    states.LOAN.ensure(loan, "dispose")
    today = await business_date(session)
    ends_on = data.ends_on or today + timedelta(days=DEFAULT_DAYS)
    last = await _latest_lot(session, loan.id)
    if loan.status == "disposing":
        if last is None or last.status != "unsold":
            raise InvalidState(f"the collateral of loan {loan.id} is already at auction",
                               extra={"auction_id": last.id if last else None})
        reserve = data.reserve_price or max(1, apply_bps(last.reserve_price, RELIST_RESERVE_BPS))
        for d in await disposals_of(session, loan.id):
            if d.status == "open":
                await states.DISPOSAL.apply(session, actor, d, "go_unsold")
        auction = await auctions.relist(session, actor, last.id, reserve_price=reserve,
                                        start_price=data.start_price or max(1, apply_bps(reserve, START_BPS)),
                                        ends_on=ends_on)
    else:
        if loan.status == "defaulted" and await fund_claims.claim_for_loan(session, loan.id) is None:
            raise InvalidState(f"loan {loan.id} has no compensation claim yet: claim first, so the proceeds "
                               "have a loss split to go back to")
        reserve = data.reserve_price or await _default_reserve(session, loan)
        start = data.start_price or max(1, apply_bps(reserve, START_BPS))
        auction = await auctions.create_auction(
            session, actor, loan.asset_ids, start_price=start, reserve_price=reserve,
            min_increment=data.min_increment or max(1, apply_bps(start, INCREMENT_BPS)), ends_on=ends_on,
            seller_org_id=loan.borrower_org_id, on_behalf_of=proceeds_ref(loan.id), allow_pledged_by=loan.id)
    row = LoanDisposal(loan_id=loan.id, auction_id=auction.id, reserve_price=auction.reserve_price,
                       start_price=auction.start_price, ends_on=auction.ends_on)
    states.DISPOSAL.start(row)
    session.add(row)
    await session.flush()
    await states.LOAN.apply(session, actor, loan, "dispose", auction_id=auction.id,
                            reserve_price=auction.reserve_price, start_price=auction.start_price,
                            ends_on=auction.ends_on, relisted_from=auction.relisted_from)
    await session.flush()
    return loan, row, auction


async def proceeds_received(session: AsyncSession, loan_id: str, deal: Deal, payment: Payment) -> None:
    """The disposal deal is recorded and its escrow released to the bank: enforce and release the pledge,
    share the proceeds among the loss bearers, close the loan. Safe to call again."""
    loan = await access.lock_loan(session, loan_id)
    if loan.status == "closed":
        return
    if payment.escrow_state != "released" or payment.payee_org_id != loan.bank_org_id:
        raise InvalidState(f"the proceeds of deal {deal.id} have not reached the lending bank")
    if loan.status != "disposing":
        raise InvalidState(f"loan {loan.id} is {loan.status}; disposal proceeds cannot be applied")
    row = (await session.exec(select(LoanDisposal).where(LoanDisposal.loan_id == loan.id,
                                                         LoanDisposal.auction_id == deal.auction_id))).first()
    if row is None:  # a lot the bank re-listed through the market
        auction = await session.get(Auction, deal.auction_id)
        if auction is None:
            raise NotFound("auction not found")
        row = LoanDisposal(loan_id=loan.id, auction_id=auction.id, reserve_price=auction.reserve_price,
                           start_price=auction.start_price, ends_on=auction.ends_on)
        states.DISPOSAL.start(row)
    proceeds = deal.amount - deal.platform_fee  # what reached the bank: the seller's side bears the fee
    row.deal_id, row.proceeds = deal.id, proceeds
    await states.DISPOSAL.apply(session, SYSTEM, row, "settle", deal_id=deal.id, proceeds=proceeds)
    await encumbrances.release(session, SYSTEM, loan.id, "pledge")
    rows = await fund_recovery.distribute_recovery(session, SYSTEM, loan.id, proceeds, loan.borrower_org_id,
                                                   source_ref=f"deal:{deal.id}")
    loan.closed_on = await business_date(session)
    await states.LOAN.apply(session, SYSTEM, loan, "close", deal_id=deal.id, proceeds=proceeds,
                            recoveries={r.party: r.amount for r in rows})
    await session.flush()
    await outbound.update_fund(session, loan)


async def losses(session: AsyncSession, loan_id: str) -> list[WriteOffRowOut]:
    """Each bearer's loss now: what it bore in the claim less what it has recovered."""
    claim = await fund_claims.claim_for_loan(session, loan_id)
    if claim is None:
        return []
    paid = {s["party"]: s["amount"] for s in claim.shares}
    recovered: dict[str, int] = {}
    for r in await fund_recovery.recoveries_for_loan(session, loan_id):
        if r.party in paid:
            recovered[r.party] = recovered.get(r.party, 0) + r.amount
    final = sharing.final_loss(paid, recovered)
    return [WriteOffRowOut(party=s["party"], org_id=s["org_id"], paid=s["amount"],
                           recovered=recovered.get(s["party"], 0), loss=final[s["party"]]) for s in claim.shares]


async def write_off(session: AsyncSession, actor: Actor, loan_id: str) -> tuple[Loan, list[LoanWriteOff]]:
    """Write off a loan whose collateral found no buyer (lending bank), recording each party's final loss."""
    loan = await access.lending_bank_loan(session, actor, loan_id)
    if loan.status != "disposing":
        raise InvalidState(f"loan {loan.id} is {loan.status}; only a loan whose collateral went unsold at "
                           "auction is written off", extra={"current_status": loan.status})
    lot = await _latest_lot(session, loan.id)
    if lot is None or lot.status != "unsold":
        raise InvalidState(f"the collateral of loan {loan.id} is still at auction or sold",
                           extra={"auction_id": lot.id if lot else None, "auction_status": lot.status if lot else None})
    today = await business_date(session)
    rows = [LoanWriteOff(loan_id=loan.id, party=x.party, org_id=x.org_id, loss=x.loss, written_off_on=today)
            for x in await losses(session, loan.id)]
    session.add_all(rows)
    for d in await disposals_of(session, loan.id):
        if d.status == "open":
            await states.DISPOSAL.apply(session, actor, d, "go_unsold")
    await encumbrances.release(session, actor, loan.id, "pledge")
    loan.closed_on = today
    await states.LOAN.apply(session, actor, loan, "write_off",
                            losses={r.party: r.loss for r in rows}, total_loss=sum(r.loss for r in rows))
    await session.flush()
    await outbound.update_fund(session, loan)
    return loan, rows


async def write_offs(session: AsyncSession, loan_id: str) -> list[LoanWriteOff]:
    stmt = select(LoanWriteOff).where(LoanWriteOff.loan_id == loan_id).order_by(col(LoanWriteOff.id))
    return list((await session.exec(stmt)).all())


async def describe_write_off(session: AsyncSession, loan: Loan) -> WriteOffOut:
    """The final loss per party of a written-off loan (empty before the write-off)."""
    rows = {r.party: r for r in await write_offs(session, loan.id)}
    data = [x.model_copy(update={"loss": rows[x.party].loss}) for x in await losses(session, loan.id)
            if x.party in rows]
    return WriteOffOut(loan_id=loan.id, status=loan.status,
                       written_off_on=next(iter(rows.values())).written_off_on if rows else None,
                       total_loss=sum(r.loss for r in rows.values()), data=data)


def describe_disposal(loan: Loan, row: LoanDisposal, auction: Auction) -> DisposalOut:
    return DisposalOut(id=row.id, loan_id=loan.id, auction_id=auction.id, reserve_price=auction.reserve_price,
                       start_price=auction.start_price, min_increment=auction.min_increment,
                       ends_on=auction.ends_on, relisted_from=auction.relisted_from, status=auction.status,
                       loan_status=loan.status)


async def describe_disposals(session: AsyncSession, loan_id: str) -> DisposalsOut:
    out = []
    for d in await disposals_of(session, loan_id):
        auction = await session.get(Auction, d.auction_id)
        # A lot's fate is the auction's; the row only adds what the loan made of it (settled).
        status = d.status if d.status == "settled" or auction is None else auction.status
        out.append({**d.model_dump(exclude={"created_at"}), "status": status,
                    "auction_status": auction.status if auction else None,
                    "highest_bid": auction.highest_bid if auction else None,
                    "auction_deal_id": auction.deal_id if auction else None})
    return DisposalsOut.model_validate({"loan_id": loan_id, "data": out})
