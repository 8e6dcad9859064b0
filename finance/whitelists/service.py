"""White lists: firms consent, the regulator publishes, banks read each firm's IP indicators.

The indicators are computed by the platform from the records when the list is published and kept with
the entry, so a bank sees what the regulator published: invention patents in force and how many of them
are high-value, the firm's enterprise IP index (its honours weighted as the zone's index), the total of
its certified valuations in force, and its past loans (repaid, repaid with no instalment late, overdue).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.loans.models import Loan, LoanInstallment
from finance.statistics.service import HONOUR_WEIGHTS
from finance.whitelists.models import (
    WHITELIST,
    WHITELIST_CONSENT,
    Whitelist,
    WhitelistConsent,
    WhitelistEntry,
)
from finance.whitelists.schemas import WhitelistEntryOut, WhitelistIn, WhitelistOut
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.event_log import Described, describer, kind
from kernel.pagination import paginate
from market.assets.models import Asset
from market.assets.service import high_value
from valuation.models import Valuation

REGULATOR = "regulator"
FIRM_KINDS = ("sme", "university")
READER_KINDS = ("bank", "regulator", "fund")
REPAID = ("repaid", "closed")
OVERDUE = ("overdue", "defaulted", "compensated", "disposing", "written_off")


# ---------------------------------------------------------------- consent


async def live_consent(session: AsyncSession, org_id: str) -> WhitelistConsent | None:
    return (await session.exec(select(WhitelistConsent).where(
        WhitelistConsent.org_id == org_id, WhitelistConsent.status == "given"))).first()


async def give_consent(session: AsyncSession, actor: Actor) -> tuple[WhitelistConsent, bool]:
    """The firm agrees to be recommended to banks with its IP indicators; (consent, newly given)."""
    if not actor.is_kind(*FIRM_KINDS):
        raise Forbidden("only firms and universities consent to be recommended")
    if (current := await live_consent(session, actor.org_id)) is not None:
        return current, False
    consent = WhitelistConsent(org_id=actor.org_id, given_on=await business_date(session),
                               given_by_user_id=actor.user_id)
    WHITELIST_CONSENT.start(consent)
    session.add(consent)
    await session.flush()
    await audit.record(session, actor, "whitelist_consent.given", "whitelist_consent", consent.id,
                       after=consent.model_dump(exclude={"created_at", "updated_at"}))
    return consent, True


async def withdraw_consent(session: AsyncSession, actor: Actor) -> WhitelistConsent:
    """No future list may name the firm; lists already published keep what they showed."""
    consent = await live_consent(session, actor.org_id) if actor.is_kind(*FIRM_KINDS) else None
    if consent is None:
        raise InvalidState("the organisation has no consent in force to withdraw")
    await WHITELIST_CONSENT.apply(session, actor, consent, "withdraw")
    await session.flush()
    return consent


# ---------------------------------------------------------------- indicators


async def indicators(session: AsyncSession, org: Org, today: date) -> dict[str, Any]:
    patents = (await session.exec(select(Asset).where(Asset.owner_org_id == org.id, Asset.kind == "invention_patent",
                                                      Asset.status == "valid"))).all()
    valuations = select(func.coalesce(func.sum(Valuation.value), 0)).where(
        Valuation.requested_by_org_id == org.id, Valuation.status == "certified")
    valuations = valuations.where((col(Valuation.valid_until).is_(None)) | (col(Valuation.valid_until) >= today))
    loans = (await session.exec(select(Loan.id, Loan.status).where(Loan.borrower_org_id == org.id))).all()
    repaid = [loan_id for loan_id, status in loans if status in REPAID]
    late = set()
    if repaid:
        late = set((await session.exec(select(LoanInstallment.loan_id).where(
            col(LoanInstallment.loan_id).in_(repaid),
            (col(LoanInstallment.paid_penalty) > 0) | (col(LoanInstallment.overdue_fen_days) > 0)
            | (col(LoanInstallment.paid_on) > col(LoanInstallment.due_on))))).all())
    honours = sorted(h for h in set(org.ip_honours) if h in HONOUR_WEIGHTS)
    return {
        "invention_patents": len(patents),
        "high_value_patents": sum(1 for p in patents if high_value(p, today)),
        "enterprise_ip_index": sum(HONOUR_WEIGHTS[h] for h in honours),
        "ip_honours": honours,
        "valuation_total": int((await session.exec(valuations)).one()),
        "loans_repaid": len(repaid),
        "loans_repaid_on_time": len([x for x in repaid if x not in late]),
        "loans_overdue": sum(1 for _, status in loans if status in OVERDUE),
        "as_of": today.isoformat(),
    }


# ---------------------------------------------------------------- lists


async def publish(session: AsyncSession, actor: Actor, data: WhitelistIn) -> Whitelist:
    if not actor.is_kind(REGULATOR):
        raise Forbidden("only the regulator publishes white lists")
    orgs = {o.id: o for o in (await session.exec(select(Org).where(col(Org.id).in_(data.org_ids)))).all()}
    unknown = [i for i in data.org_ids if i not in orgs or orgs[i].kind not in FIRM_KINDS]
    if unknown:
        raise ValidationFailed.at(["body", "org_ids"], f"not firms or universities: {', '.join(unknown)}")
    consents = {c.org_id: c for c in (await session.exec(select(WhitelistConsent).where(
        col(WhitelistConsent.org_id).in_(data.org_ids), WhitelistConsent.status == "given"))).all()}
    missing = [i for i in data.org_ids if i not in consents]
    if missing:
        raise InvalidState(f"these firms have not consented to be recommended: {', '.join(missing)}",
                           extra={"org_ids": missing})
    today = await business_date(session)
    wl = Whitelist(name=data.name, year=data.year, regulator_org_id=actor.org_id, published_on=today)
    WHITELIST.start(wl)
    session.add(wl)
    await session.flush()
    for org_id in data.org_ids:
        session.add(WhitelistEntry(whitelist_id=wl.id, org_id=org_id, consent_id=consents[org_id].id,
                                   indicators=await indicators(session, orgs[org_id], today)))
    await session.flush()
    await audit.record(session, actor, "whitelist.published", "whitelist", wl.id,
                       after={"name": wl.name, "year": wl.year, "org_ids": data.org_ids})
    return wl


def _visible(actor: Actor, wl: Whitelist) -> bool:
    if actor.is_platform_admin or actor.is_kind(REGULATOR):
        return True
    return actor.is_kind(*READER_KINDS) and wl.status == "published"


async def get_whitelist(session: AsyncSession, actor: Actor, whitelist_id: str, *, lock: bool = False) -> Whitelist:
    return await get_or_404(session, Whitelist, whitelist_id, lock=lock, label="white list",
                            visible=lambda wl: _visible(actor, wl))


async def withdraw(session: AsyncSession, actor: Actor, whitelist_id: str) -> Whitelist:
    wl = await get_whitelist(session, actor, whitelist_id, lock=True)
    if wl.regulator_org_id != actor.org_id:
        raise Forbidden("only the regulator that published the list withdraws it")
    await WHITELIST.apply(session, actor, wl, "withdraw")
    await session.flush()
    return wl


async def list_whitelists(session: AsyncSession, actor: Actor, year: int | None, limit: int, cursor: str | None
                          ) -> tuple[list[Whitelist], bool, str | None]:
    stmt = select(Whitelist)
    if not (actor.is_platform_admin or actor.is_kind(REGULATOR)):
        stmt = stmt.where(Whitelist.status == "published")
    if year:
        stmt = stmt.where(Whitelist.year == year)
    return await paginate(session, stmt, Whitelist.id, limit, cursor)


async def _counts(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    rows = (await session.exec(select(WhitelistEntry.whitelist_id, func.count()).where(
        col(WhitelistEntry.whitelist_id).in_(ids)).group_by(col(WhitelistEntry.whitelist_id)))).all()
    return {wl_id: int(n) for wl_id, n in rows}


async def describe(session: AsyncSession, lists: Sequence[Whitelist], *, entries: bool = False) -> list[WhitelistOut]:
    counts = await _counts(session, [wl.id for wl in lists])
    out = []
    for wl in lists:
        body = WhitelistOut.model_validate({**wl.model_dump(), "firms": counts.get(wl.id, 0)})
        if entries:
            rows = (await session.exec(select(WhitelistEntry, Org).join(Org, col(Org.id) == WhitelistEntry.org_id)
                                       .where(WhitelistEntry.whitelist_id == wl.id)
                                       .order_by(col(WhitelistEntry.id)))).all()
            body.entries = [WhitelistEntryOut.model_validate({"org_id": e.org_id, "org_name": o.name, "region": o.region,
                                                     "industry": o.industry, "indicators": e.indicators})
                            for e, o in rows]
        out.append(body)
    return out


async def listed_orgs(session: AsyncSession, org_ids: Sequence[str]) -> dict[str, list[str]]:
    """The published lists naming each of these firms."""
    if not org_ids:
        return {}
    rows = (await session.exec(select(WhitelistEntry.org_id, WhitelistEntry.whitelist_id)
                               .join(Whitelist, col(Whitelist.id) == WhitelistEntry.whitelist_id)
                               .where(col(WhitelistEntry.org_id).in_(org_ids), Whitelist.status == "published")
                               .order_by(col(WhitelistEntry.whitelist_id)))).all()
    found: dict[str, list[str]] = {}
    for org_id, wl_id in rows:
        found.setdefault(org_id, []).append(wl_id)
    return found


@describer("whitelist")
async def describe_events(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    lists = (await session.exec(select(Whitelist).where(col(Whitelist.id).in_(ids)))).all()
    return {wl.id: Described(wl.model_dump(), {wl.regulator_org_id, kind("bank"), kind("regulator")})
            for wl in lists}
