"""The pledgee's consent to a market step on a pledged asset (Civil Code art. 444).

After the pledge the pledgor may neither transfer nor license the pledged IP (exclusive, sole,
non-exclusive or open license alike) unless pledgor and pledgee agree, and the price or fee goes to early
repayment or into escrow (提存). A consent is a market fact: which pledge (``pledge_ref``: the loan), which
assets, which step, and where the proceeds go. Finance records and decides it (it knows the loan's
parties); market only reads it, so market never imports finance.

A consent approved for a step is bound to the first market object made with it (a listing, an auction,
an open-license declaration): the later steps of that object (accepting an offer, recording the deal,
granting the license) are covered by the same consent, and the deal's proceeds follow it
(``deal.proceeds_to = "pledge:<consent id>"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.db import TZDateTime, created_at_field, utcnow
from kernel.errors import InvalidState
from kernel.ids import new_id
from kernel.workflow import Workflow

CONSENT_ACTIONS = ("listing", "license", "open_license", "auction", "assignment")
PROCEEDS = ("prepay", "escrow")
PROCEEDS_KIND = "pledge"  # deal.proceeds_to = "pledge:<consent id>"

CONSENT = Workflow("pledge_consent", {
    ("pending", "approve"): "approved",
    ("pending", "reject"): "rejected",
    ("pending", "withdraw"): "withdrawn",
}, initial="pending")

# A market step -> the consent actions that allow it.
STEP_ACTIONS: dict[str, frozenset[str]] = {
    "listing_assignment": frozenset({"listing", "assignment"}),
    "listing_license": frozenset({"listing", "license"}),
    "auction": frozenset({"auction", "assignment"}),
    "open_license": frozenset({"open_license", "license"}),
}


class PledgeConsent(SQLModel, table=True):
    __tablename__ = "pledge_consents"
    __table_args__ = (
        sa.CheckConstraint(f"action IN {CONSENT_ACTIONS!r}", name="action"),
        sa.CheckConstraint(f"proceeds IN {PROCEEDS!r}", name="proceeds"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')", name="status"),
    )
    id: str = Field(default_factory=lambda: new_id("pcs"), primary_key=True, max_length=40)
    pledge_ref: str = Field(max_length=40, index=True)  # the loan whose pledge it lifts
    holder_org_id: str = Field(foreign_key="orgs.id", max_length=40)  # the pledgee bank
    owner_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)  # the pledgor
    action: str = Field(max_length=20)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # The market object it covers: named up front, or bound to the first one made with it.
    object_id: str | None = Field(default=None, max_length=40, index=True)
    proceeds: str = Field(max_length=10)
    note: str | None = Field(default=None, max_length=500)
    status: str = Field(default="pending", max_length=10)
    requested_on: date
    decided_on: date | None = None
    decision_note: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


async def covering(session: AsyncSession, pledge_ref: str, asset_id: str, object_id: str) -> PledgeConsent | None:
    """The approved consent of ``pledge_ref`` bound to ``object_id`` that covers ``asset_id``."""
    stmt = (select(PledgeConsent).where(PledgeConsent.pledge_ref == pledge_ref, PledgeConsent.object_id == object_id,
                                        PledgeConsent.status == "approved").order_by(PledgeConsent.id))
    return next((c for c in (await session.exec(stmt)).all() if asset_id in c.asset_ids), None)


async def bound_to(session: AsyncSession, object_id: str) -> PledgeConsent | None:
    stmt = (select(PledgeConsent).where(PledgeConsent.object_id == object_id, PledgeConsent.status == "approved")
            .order_by(PledgeConsent.id))
    return (await session.exec(stmt)).first()


async def bind(session: AsyncSession, actor: Actor, pledges: Sequence[tuple[str, str]], step: str,
               object_id: str) -> PledgeConsent | None:
    """Bind an approved consent to ``object_id`` for every (asset id, pledge ref) in ``pledges``.

    One consent must cover every pledged asset of the step (assets pledged under two loans need two
    separate steps). Without one nothing is bound and the encumbrance check answers 409 naming the loan.
    """
    refs = sorted({ref for _, ref in pledges})
    if not refs:
        return None
    if len(refs) > 1:
        raise InvalidState("these assets are pledged under more than one loan; put each loan's assets on the "
                           "market separately", extra={"loan_ids": refs})
    stmt = (select(PledgeConsent).where(PledgeConsent.pledge_ref == refs[0], PledgeConsent.status == "approved",
                                        col(PledgeConsent.action).in_(STEP_ACTIONS[step]),
                                        sa.or_(col(PledgeConsent.object_id).is_(None),
                                               col(PledgeConsent.object_id) == object_id))
            .order_by(PledgeConsent.id).with_for_update())
    wanted = {asset for asset, _ in pledges}
    for consent in (await session.exec(stmt)).all():
        if wanted <= set(consent.asset_ids):
            if consent.object_id != object_id:
                consent.object_id = object_id
                consent.updated_at = utcnow()
                session.add(consent)
                await audit.record(session, actor, "pledge_consent.bound", "pledge_consent", consent.id,
                                   after={"object_id": object_id, "step": step})
                await session.flush()
            return consent
    return None
