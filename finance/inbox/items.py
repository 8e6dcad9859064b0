"""What an organisation must act on now, by kind of organisation. Each source is one or two set-based
queries (never a query per item); an item leaves the inbox when the state that put it there changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.approvals import pending_for_inbox
from accounts.models import Org
from finance.fund import models as fund_models
from finance.fund.cover import npl_by_bank, ratio_bps
from finance.fund.lists import names_org
from finance.fund.models import CompensationClaim, FundAgreement, FundCover, FundProgram, FundProgramVersion
from finance.inbox.messages import title, yuan
from finance.loans.models import (
    Loan,
    LoanApplication,
    LoanCollateralAlert,
    LoanInstallment,
    LoanInvitation,
    LoanOffer,
)
from finance.subsidies.models import SubsidyClaim, SubsidyPolicy
from kernel.actor import Actor
from kernel.db import table_of
from market.licensing.models import License, RoyaltyReport
from valuation.models import Valuation

L, APP, OFF, INST = table_of(Loan), table_of(LoanApplication), table_of(LoanOffer), table_of(LoanInstallment)
ALERT, CLAIM = table_of(LoanCollateralAlert), table_of(CompensationClaim)
Borrower, BankOrg = aliased(Org, name="borrower"), aliased(Org, name="bank")
PER_SOURCE = 100
SOON = timedelta(days=7)
OFFER_WARNING = timedelta(days=3)
NEWLY_OVERDUE_DAYS = 30


class Action(BaseModel):
    method: str
    path: str


class InboxItem(BaseModel):
    id: str
    kind: str
    title: str
    object_type: str
    object_id: str
    due_on: date | None = None
    action: Action


class Ctx:
    def __init__(self, session: AsyncSession, actor: Actor, today: date, lang: str) -> None:
        self.session, self.actor, self.today, self.lang = session, actor, today, lang

    async def rows(self, stmt: Any) -> list[Any]:
        return list((await self.session.exec(stmt.limit(PER_SOURCE))).all())

    def item(self, kind: str, object_type: str, object_id: str, method: str, path: str, *,
             due_on: date | None = None, **params: Any) -> InboxItem:
        return InboxItem(id=f"{kind}:{object_id}", kind=kind, title=title(kind, self.lang, **params),
                         object_type=object_type, object_id=object_id, due_on=due_on,
                         action=Action(method=method, path=path))


Source = Callable[[Ctx], Awaitable[list[InboxItem]]]


def _short(object_id: str) -> str:
    return object_id.split("_", 1)[-1][-6:]


# --- banks ----------------------------------------------------------------------------------------------

async def applications_to_answer(x: Ctx) -> list[InboxItem]:
    answered = sa.select(OFF.c.application_id).where(OFF.c.bank_org_id == x.actor.org_id)
    rows = await x.rows(sa.select(APP.c.id, APP.c.amount, col(Borrower.name)).join(Borrower, col(Borrower.id) ==
                                                                               APP.c.applicant_org_id)
                        .where(APP.c.status == "submitted", APP.c.id.not_in(answered)).order_by(APP.c.id.desc()))
    return [x.item("application.to_answer", "loan_application", r.id, "POST", f"/loan-applications/{r.id}/offers",
                   borrower=r.name, amount=yuan(r.amount)) for r in rows]


async def offers_expiring(x: Ctx) -> list[InboxItem]:
    rows = await x.rows(sa.select(OFF.c.id, OFF.c.amount, OFF.c.expires_on, OFF.c.application_id)
                        .where(OFF.c.bank_org_id == x.actor.org_id, OFF.c.status == "pending",
                               OFF.c.expires_on >= x.today, OFF.c.expires_on <= x.today + OFFER_WARNING))
    return [x.item("offer.expiring", "loan_offer", r.id, "GET", f"/loan-applications/{r.application_id}/offers",
                   due_on=r.expires_on, amount=yuan(r.amount), due=r.expires_on) for r in rows]


def _bank_loans(x: Ctx) -> Any:
    return (sa.select(L.c.id, L.c.days_past_due, L.c.next_due_on, col(Borrower.name).label("borrower"))
            .join(Borrower, col(Borrower.id) == L.c.borrower_org_id).where(L.c.bank_org_id == x.actor.org_id))


async def bank_loans(x: Ctx) -> list[InboxItem]:
    out = []
    for r in await x.rows(_bank_loans(x).where(L.c.status == "pending_security")):
        out.append(x.item("loan.pledge_to_register", "loan", r.id, "POST", f"/loans/{r.id}/pledge-registration",
                          loan=_short(r.id), borrower=r.borrower))
    for r in await x.rows(_bank_loans(x).where(L.c.status == "secured")):
        out.append(x.item("loan.to_disburse", "loan", r.id, "POST", f"/loans/{r.id}/disburse", loan=_short(r.id),
                          borrower=r.borrower))
    for r in await x.rows(_bank_loans(x).where(L.c.status == "overdue", L.c.days_past_due <= NEWLY_OVERDUE_DAYS)
                          .order_by(L.c.days_past_due)):
        out.append(x.item("loan.newly_overdue", "loan", r.id, "GET", f"/loans/{r.id}", loan=_short(r.id),
                          borrower=r.borrower, days=r.days_past_due))
    return out


async def collateral_alerts(x: Ctx) -> list[InboxItem]:
    rows = await x.rows(sa.select(ALERT.c.id, ALERT.c.loan_id, ALERT.c.detail).join(L, L.c.id == ALERT.c.loan_id)
                        .where(L.c.bank_org_id == x.actor.org_id, ALERT.c.cleared_on.is_(None),
                               L.c.status.in_(("secured", "active", "overdue"))))
    return [x.item("collateral.alert", "loan", r.loan_id, "GET", f"/loans/{r.loan_id}",
                   loan=_short(r.loan_id), detail=r.detail).model_copy(update={"id": f"collateral.alert:{r.id}"})
            for r in rows]


# --- borrowers and licensors -------------------------------------------------------------------------------

async def offers_received(x: Ctx) -> list[InboxItem]:
    rows = await x.rows(sa.select(OFF.c.id, OFF.c.amount, OFF.c.annual_rate_bps, OFF.c.expires_on,
                                  col(BankOrg.name).label("bank"))
                        .join(APP, APP.c.id == OFF.c.application_id).join(BankOrg, col(BankOrg.id) == OFF.c.bank_org_id)
                        .where(APP.c.applicant_org_id == x.actor.org_id, APP.c.status == "submitted",
                               OFF.c.status == "pending", OFF.c.expires_on >= x.today).order_by(OFF.c.expires_on))
    return [x.item("offer.received", "loan_offer", r.id, "POST", f"/loan-offers/{r.id}/accept", due_on=r.expires_on,
                   bank=r.bank, amount=yuan(r.amount), rate=f"{r.annual_rate_bps / 100:.2f}", due=r.expires_on)
            for r in rows]


async def installments_due(x: Ctx) -> list[InboxItem]:
    owed = INST.c.principal - INST.c.paid_principal + INST.c.interest - INST.c.paid_interest
    rows = await x.rows(sa.select(INST.c.id, INST.c.loan_id, INST.c.n, INST.c.due_on, owed.label("owed"))
                        .join(L, L.c.id == INST.c.loan_id)
                        .where(L.c.borrower_org_id == x.actor.org_id, L.c.status.in_(("active", "overdue")),
                               INST.c.status != "paid", INST.c.due_on <= x.today + SOON, owed > 0)
                        .order_by(INST.c.due_on))
    return [x.item("installment.overdue" if r.due_on < x.today else "installment.due", "loan", r.loan_id, "POST",
                   f"/loans/{r.loan_id}/repayments", due_on=r.due_on, n=r.n, loan=_short(r.loan_id),
                   amount=yuan(r.owed), due=r.due_on).model_copy(update={"id": f"installment:{r.id}"})
            for r in rows]


async def royalties(x: Ctx) -> list[InboxItem]:
    R, LIC = table_of(RoyaltyReport), table_of(License)
    base = (sa.select(R.c.id, R.c.license_id, R.c.royalty_due, R.c.due_on).join(LIC, LIC.c.id == R.c.license_id)
            .where(R.c.status.in_(("due", "overdue")), R.c.royalty_due > 0).order_by(R.c.due_on))
    out = [x.item("royalty.to_pay", "royalty_report", r.id, "GET", f"/licenses/{r.license_id}/royalty-reports",
                  due_on=r.due_on, amount=yuan(r.royalty_due), due=r.due_on)
           for r in await x.rows(base.where(LIC.c.licensee_org_id == x.actor.org_id, R.c.due_on <= x.today + SOON))]
    out += [x.item("royalty.to_confirm", "royalty_report", r.id, "POST", f"/royalty-reports/{r.id}/mark-paid",
                   due_on=r.due_on, amount=yuan(r.royalty_due), due=r.due_on)
            for r in await x.rows(base.where(LIC.c.licensor_org_id == x.actor.org_id, R.c.due_on <= x.today))]
    return out


# --- guarantors, insurers, the fund ------------------------------------------------------------------------

async def claims_sharing(x: Ctx) -> list[InboxItem]:
    rows = await x.rows(sa.select(CLAIM.c.id, CLAIM.c.loan_id, CLAIM.c.shares)
                        .where(names_org(x.actor.org_id), CLAIM.c.status.not_in(("paid", "rejected"))))
    return [x.item("claim.share", "compensation_claim", r.id, "GET", f"/compensation-claims/{r.id}",
                   loan=_short(r.loan_id),
                   amount=yuan(sum(s["amount"] for s in r.shares if s.get("org_id") == x.actor.org_id)))
            for r in rows]


async def fund_claims(x: Ctx) -> list[InboxItem]:
    stmt = (sa.select(CLAIM.c.id, CLAIM.c.fund_amount, CLAIM.c.status, col(BankOrg.name).label("bank"))
            .join(BankOrg, col(BankOrg.id) == CLAIM.c.bank_org_id).where(CLAIM.c.fund_org_id == x.actor.org_id))
    out = [x.item("claim.to_approve", "compensation_claim", r.id, "POST", f"/compensation-claims/{r.id}/approve",
                  bank=r.bank, amount=yuan(r.fund_amount))
           for r in await x.rows(stmt.where(CLAIM.c.status == "pending"))]
    if "payout_failed" in fund_models.CLAIM_STATUSES:
        out += [x.item("claim.payout_failed", "compensation_claim", r.id, "POST",
                       f"/compensation-claims/{r.id}/retry-payout", claim=_short(r.id))
                for r in await x.rows(stmt.where(CLAIM.c.status == "payout_failed"))]
    return out


async def fund_banks(x: Ctx) -> list[InboxItem]:
    P, V, AG, CV = (table_of(FundProgram), table_of(FundProgramVersion), table_of(FundAgreement),
                    table_of(FundCover))
    used = (sa.select(CV.c.agreement_id, sa.func.sum(CV.c.covered_outstanding).label("used"))
            .where(CV.c.status == "active").group_by(CV.c.agreement_id).subquery())
    rows = await x.rows(sa.select(AG.c.id, AG.c.program_id, AG.c.bank_org_id, AG.c.deposit, AG.c.leverage,
                                  P.c.name.label("program"), col(BankOrg.name).label("bank"), V.c.npl_pause_bps,
                                  sa.func.coalesce(used.c.used, 0).label("used"))
                        .join(P, P.c.id == AG.c.program_id).join(BankOrg, col(BankOrg.id) == AG.c.bank_org_id)
                        .join(V, sa.and_(V.c.program_id == P.c.id, V.c.version == P.c.current_version))
                        .outerjoin(used, used.c.agreement_id == AG.c.id)
                        .where(P.c.fund_org_id == x.actor.org_id))
    out = []
    npl: dict[str, dict[str, tuple[int, int]]] = {}
    for r in rows:
        if r.program_id not in npl:  # one grouped query per programme (a fund runs a handful)
            npl[r.program_id] = await npl_by_bank(x.session, r.program_id, x.today)
        bad, whole = npl[r.program_id].get(r.bank_org_id, (0, 0))
        ratio = ratio_bps(bad, whole)
        if ratio > r.npl_pause_bps:
            out.append(x.item("bank.paused", "fund_agreement", r.id, "GET", f"/fund/programs/{r.program_id}/exposure",
                              bank=r.bank, program=r.program, ratio=f"{ratio / 100:.2f}"))
        quota = r.deposit * r.leverage
        if quota and r.used * 10 > quota * 9:
            out.append(x.item("quota.nearly_used", "fund_agreement", r.id, "GET",
                              f"/fund/programs/{r.program_id}/exposure", bank=r.bank, program=r.program,
                              ratio=f"{r.used * 100 / quota:.1f}"))
    return out


# --- regulators and evaluators -----------------------------------------------------------------------------

async def subsidy_claims(x: Ctx) -> list[InboxItem]:
    C, P = table_of(SubsidyClaim), table_of(SubsidyPolicy)
    rows = await x.rows(sa.select(C.c.id, C.c.amount, col(Org.name)).join(P, P.c.id == C.c.policy_id)
                        .join(Org, col(Org.id) == C.c.claimant_org_id)
                        .where(P.c.regulator_org_id == x.actor.org_id, C.c.status == "pending"))
    return [x.item("subsidy_claim.to_decide", "subsidy_claim", r.id, "POST", f"/subsidy-claims/{r.id}/approve",
                   claimant=r.name, amount=yuan(r.amount)) for r in rows]


async def valuations_to_certify(x: Ctx) -> list[InboxItem]:
    V = table_of(Valuation)
    # Drafts a loan application relies on come first: a bank is waiting for the report.
    cited = sa.select(APP.c.valuation_id).where(APP.c.status == "submitted", APP.c.valuation_id.is_not(None))
    rows = await x.rows(sa.select(V.c.id, V.c.value).where(V.c.status == "draft", V.c.scenario == "financing",
                                                           V.c.id.in_(cited)).order_by(V.c.id))
    return [x.item("valuation.to_certify", "valuation", r.id, "POST", f"/valuations/{r.id}/certify",
                   amount=yuan(r.value)) for r in rows]


async def invitations(x: Ctx) -> list[InboxItem]:
    inv = table_of(LoanInvitation)
    rows = await x.rows(sa.select(inv.c.loan_id, inv.c.kind, col(Borrower.name).label("borrower"))
                        .join(L, L.c.id == inv.c.loan_id).join(Borrower, col(Borrower.id) == L.c.borrower_org_id)
                        .where(inv.c.org_id == x.actor.org_id, inv.c.status == "pending").order_by(inv.c.id))
    return [x.item("invitation.open", "loan", r.loan_id, "POST", f"/loans/{r.loan_id}/{r.kind}",
                   loan=_short(r.loan_id), borrower=r.borrower, cover=r.kind) for r in rows]


async def approvals(x: Ctx) -> list[InboxItem]:
    """Four-eyes requests of the caller's organisation that someone else made and the caller may decide."""
    return [x.item("approval.to_decide", "approval_request", r["object_id"], "POST",
                   f"/approval-requests/{r['object_id']}/approve", due_on=r["due_on"], title=r["title"])
            for r in await pending_for_inbox(x.session, x.actor)]


SOURCES: dict[str, list[Source]] = {
    "bank": [applications_to_answer, offers_expiring, bank_loans, collateral_alerts],
    "sme": [offers_received, installments_due, royalties],
    "university": [royalties],
    "guarantor": [invitations, claims_sharing],
    "insurer": [invitations, claims_sharing],
    "fund": [fund_claims, fund_banks],
    "regulator": [subsidy_claims],
    "evaluator": [valuations_to_certify],
}


def register(org_kind: str, source: Source) -> None:
    """Another area adds what its organisations must act on (margin calls, invitations, approvals)."""
    SOURCES.setdefault(org_kind, []).append(source)


async def inbox(session: AsyncSession, actor: Actor, today: date, lang: str) -> list[InboxItem]:
    x = Ctx(session, actor, today, lang)
    sources = [*SOURCES.get(actor.org_kind, []), approvals]  # four-eyes requests exist in every kind of org
    items = [item for source in sources for item in await source(x)]
    # What falls due first comes first; undated items after, in the order their sources gave them.
    return sorted(items, key=lambda i: (i.due_on is None, i.due_on or today))
