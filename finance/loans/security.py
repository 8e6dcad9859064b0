"""A loan's security before disbursement: guarantee, insurance, fund cover and the pledge registration."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.loans import access, outbound, states
from finance.loans.access import lending_bank_loan, lock_loan
from finance.loans.models import Loan, LoanGuarantee, LoanInsurance, LoanInvitation
from finance.loans.schemas import GuaranteeIn, InsuranceIn, InvitationIn, PledgeRegistrationIn
from finance.loans.states import BEFORE_DISBURSEMENT
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import insert_unique
from kernel.errors import AlreadyExists, Forbidden, InvalidState, NotFound, ValidationFailed
from kernel.money import apply_bps
from market.assets import encumbrances
from market.assets.service import lock_assets, record_pledge_amount


def _check_shares(loan: Loan, guarantee: LoanGuarantee | None, insurance: LoanInsurance | None,
                  field: str, share_bps: int) -> None:
    others = (guarantee.share_bps if guarantee else 0) + (insurance.share_bps if insurance else 0)
    if others + share_bps > 10000:
        raise ValidationFailed.at(["body", field], f"guarantor and insurer shares would exceed 10000 bps "
                                                   f"(already {others})")


async def security_of(session: AsyncSession, loan_id: str) -> tuple[LoanGuarantee | None, LoanInsurance | None]:
    # One of each at most per loan (unique loan_id): both in one read, outer-joined to the loan.
    stmt = (select(Loan.id, LoanGuarantee, LoanInsurance).select_from(Loan)
            .outerjoin(LoanGuarantee, col(LoanGuarantee.loan_id) == Loan.id)
            .outerjoin(LoanInsurance, col(LoanInsurance.loan_id) == Loan.id).where(Loan.id == loan_id))
    row = (await session.exec(stmt)).first()
    return (row[1], row[2]) if row is not None else (None, None)


async def _joinable_loan(session: AsyncSession, actor: Actor, loan_id: str,
                         kind: str) -> tuple[Loan, LoanInvitation]:
    """The loan, locked, and the caller's pending invitation of ``kind`` to it.

    Who may act is checked before what the state allows: without an invitation the loan does not
    exist for the caller (404), so its status cannot leak; a party that sees the loan but is not the
    right kind of organisation gets 403.
    """
    loan = await lock_loan(session, loan_id)
    invited = await access.invitation(session, loan.id, actor, kind)
    if not access.may_see_loan(actor, loan) and await access.invitation(session, loan.id, actor) is None:
        raise NotFound(f"loan {loan_id} not found")
    joiner = access.JOINERS[kind]
    if not actor.is_kind(joiner):
        raise Forbidden(f"only an invited {joiner} may do this")
    if invited is None:
        raise NotFound(f"loan {loan_id} not found")
    if invited.status != "pending":
        raise InvalidState(f"your {kind} of loan {loan.id} is already in place")
    if loan.status not in BEFORE_DISBURSEMENT:
        raise InvalidState(f"loan {loan.id} is {loan.status}; security is arranged before disbursement")
    return loan, invited


async def join_guarantee(session: AsyncSession, actor: Actor, loan_id: str, data: GuaranteeIn) -> LoanGuarantee:
    loan, invited = await _joinable_loan(session, actor, loan_id, "guarantee")
    guarantee, insurance = await security_of(session, loan.id)
    if guarantee is not None:
        raise InvalidState(f"loan {loan.id} already has a guarantee")
    _check_shares(loan, guarantee, insurance, "share_bps", data.share_bps)
    row = LoanGuarantee(loan_id=loan.id, guarantor_org_id=actor.org_id, share_bps=data.share_bps,
                        fee_rate_bps=data.fee_rate_bps, fee=apply_bps(loan.principal, data.fee_rate_bps),
                        joined_on=await business_date(session))
    loan.guarantor_org_id = actor.org_id
    session.add_all([row, loan])
    await session.flush()
    await states.INVITATION.apply(session, actor, invited, "accept", loan_id=loan.id)
    await audit.record(session, actor, "loan.guarantee_joined", "loan", loan.id,
                       after={"guarantor_org_id": actor.org_id, "share_bps": row.share_bps,
                              "fee_rate_bps": row.fee_rate_bps, "fee": row.fee})
    return row


async def join_insurance(session: AsyncSession, actor: Actor, loan_id: str, data: InsuranceIn) -> LoanInsurance:
    loan, invited = await _joinable_loan(session, actor, loan_id, "insurance")
    guarantee, insurance = await security_of(session, loan.id)
    if insurance is not None:
        raise InvalidState(f"loan {loan.id} is already insured")
    _check_shares(loan, guarantee, insurance, "share_bps", data.share_bps)
    row = LoanInsurance(loan_id=loan.id, insurer_org_id=actor.org_id, share_bps=data.share_bps,
                        premium=data.premium, joined_on=await business_date(session))
    loan.insurer_org_id = actor.org_id
    session.add_all([row, loan])
    await session.flush()
    await states.INVITATION.apply(session, actor, invited, "accept", loan_id=loan.id)
    await audit.record(session, actor, "loan.insurance_joined", "loan", loan.id,
                       after={"insurer_org_id": actor.org_id, "share_bps": row.share_bps, "premium": row.premium})
    return row


async def invite(session: AsyncSession, actor: Actor, loan_id: str, data: InvitationIn) -> LoanInvitation:
    """The lending bank names the guarantor or insurer that may join the loan."""
    loan = await lending_bank_loan(session, actor, loan_id)
    if loan.status not in BEFORE_DISBURSEMENT:
        raise InvalidState(f"loan {loan.id} is {loan.status}; security is arranged before disbursement")
    joiner = access.JOINERS[data.kind]
    org = await session.get(Org, data.org_id)
    if org is None or org.kind != joiner:
        raise ValidationFailed.at(["body", "org_id"], f"{data.org_id} is not a {joiner}")
    if (loan.guarantor_org_id if data.kind == "guarantee" else loan.insurer_org_id) is not None:
        raise InvalidState(f"loan {loan.id} already has its {data.kind}")
    row = LoanInvitation(loan_id=loan.id, org_id=org.id, kind=data.kind, invited_by_user_id=actor.user_id)
    states.INVITATION.start(row)
    await insert_unique(session, row, AlreadyExists(f"{org.id} is already invited to the {data.kind} of {loan.id}"))
    await audit.record(session, actor, "loan.invited", "loan", loan.id,
                       after={"invitation_id": row.id, "org_id": org.id, "kind": data.kind})
    return row


async def invitations(session: AsyncSession, actor: Actor, loan_id: str) -> list[LoanInvitation]:
    """The bank, the borrower, the fund and the admin see every invitation; an invitee its own."""
    loan = await access.get_loan(session, actor, loan_id)
    stmt = select(LoanInvitation).where(LoanInvitation.loan_id == loan.id).order_by(col(LoanInvitation.created_at),
                                                                                     col(LoanInvitation.id))
    if not (actor.is_platform_admin or actor.is_kind("fund") or actor.org_id in (loan.bank_org_id,
                                                                                  loan.borrower_org_id)):
        stmt = stmt.where(LoanInvitation.org_id == actor.org_id)
    return list((await session.exec(stmt)).all())


async def require_guarantee(session: AsyncSession, loan: Loan, step: str) -> None:
    if loan.requires_guarantee and loan.guarantor_org_id is None:
        raise InvalidState(f"the offer requires a guarantee before {step}")


async def request_fund_cover(session: AsyncSession, actor: Actor, loan_id: str, program_id: str) -> Loan:
    loan = await lending_bank_loan(session, actor, loan_id)
    if loan.status not in BEFORE_DISBURSEMENT:
        raise InvalidState(f"loan {loan.id} is {loan.status}; fund cover is requested before disbursement")
    if loan.fund_cover_id is not None:
        raise InvalidState(f"loan {loan.id} is already covered by programme {loan.fund_program_id}")
    borrower = await session.get(Org, loan.borrower_org_id)
    assert borrower is not None
    ip_value = await outbound.collateral_value(session, loan)
    cover_id = await outbound.request_cover(session, actor, program_id, loan, borrower, ip_value)
    loan.fund_program_id, loan.fund_cover_id = program_id, cover_id
    session.add(loan)
    await session.flush()
    await audit.record(session, actor, "loan.fund_covered", "loan", loan.id,
                       after={"program_id": program_id, "cover_id": cover_id})
    return loan


async def register_pledge(session: AsyncSession, actor: Actor, loan_id: str, data: PledgeRegistrationIn) -> Loan:
    loan = await lending_bank_loan(session, actor, loan_id)
    states.LOAN.ensure(loan, "register_pledge")
    today = await business_date(session)
    if data.registered_on > today:
        raise ValidationFailed.at(["body", "registered_on"], f"a registration cannot be dated after today ({today})")
    await require_guarantee(session, loan, "pledge registration")
    assets = await lock_assets(session, loan.asset_ids)
    if any(a.owner_org_id != loan.borrower_org_id for a in assets):
        raise InvalidState("an asset of the bundle no longer belongs to the borrower")
    await encumbrances.encumber(session, actor, assets, "pledge", loan.id, holder_org_id=loan.bank_org_id,
                                since=data.registered_on)
    await record_pledge_amount(session, loan.asset_ids, loan.principal, actor=actor)
    loan.pledge_registration_no, loan.pledge_registered_on = data.registration_no, data.registered_on
    await states.LOAN.apply(session, actor, loan, "register_pledge", registration_no=data.registration_no,
                            registered_on=data.registered_on)
    await session.flush()
    return loan
