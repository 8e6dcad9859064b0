"""Licenses and royalties: granting (with the encumbrance the law attaches), royalty reports, overdue.

"Use first, pay later" (先使用后付费): sales before ``starts_on + free_months`` carry no royalty. A report
period straddling the end of the free period is prorated by days (both ends inclusive) and rounded
half-up once, at the end. A royalty falls due 30 days after the period it reports on ends
(``DUE_DAYS``). An open license's fixed fee is deferred likewise: it is added to the first report
whose period reaches past the free period.

Minimum annual royalty: license years run from ``starts_on`` (the last one cut short by ``ends_on``).
At the day-end of a year's last day, the year's minimum (prorated by the days outside the free period
and, for a short last year, by its length) less the running royalties reported for periods ending in
that year is charged as a ``minimum_shortfall`` report line (zero, already settled, when the minimum
was met). Sales reported late for a year already settled are credited against that shortfall, so a
year never costs more than max(minimum, royalties).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.dates import add_months
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.money import BPS, to_fen
from kernel.pagination import paginate
from market.assets import encumbrances
from market.assets.models import Asset
from market.assets.service import record_transaction, within_region
from market.licensing.models import LICENSE, ROYALTY_REPORT, License, RoyaltyReport
from market.licensing.schemas import LicenseOut, Royalty

DUE_DAYS = 30
# License kind -> the encumbrance action it needs (an open license is a non-exclusive one).
ACTION_FOR_KIND = {"exclusive": "exclusive_license", "sole": "sole_license", "nonexclusive": "nonexclusive_license",
                   "open": "nonexclusive_license"}
# Kinds that encumber the asset while in force.
ENCUMBERING = {"exclusive": "exclusive_license", "sole": "sole_license"}
KIND_FOR_MODE = {"exclusive_license": "exclusive", "sole_license": "sole", "nonexclusive_license": "nonexclusive"}


async def check_licensee_region(session: AsyncSession, assets: Sequence[Asset], licensee_org_id: str) -> None:
    """A geographical indication is licensed only to producers in its region of origin (its use by anyone
    else would mislead about where the product comes from, Trademark Law art. 16)."""
    gis = [a for a in assets if a.kind == "geographical_indication"]
    if not gis:
        return
    licensee = await session.get(Org, licensee_org_id)
    for gi in gis:
        if not within_region(licensee.region if licensee else None, gi.region):
            raise InvalidState(f"geographical indication {gi.id} is licensed only to producers in region "
                               f"{gi.region}; the licensee is in region {licensee.region if licensee else None}")


async def check_grantable(session: AsyncSession, assets: Sequence[Asset], kind: str, *,
                          consent_object: str | None = None, licensee_org_id: str | None = None) -> None:
    if licensee_org_id is not None:
        await check_licensee_region(session, assets, licensee_org_id)
    await encumbrances.ensure_allowed(session, assets, ACTION_FOR_KIND[kind], consent_object=consent_object)


async def grant_license(session: AsyncSession, actor: Actor, assets: Sequence[Asset], *, kind: str,
                        licensor_org_id: str, licensee_org_id: str, term_months: int,
                        fixed_fee: int | None = None, rate_bps: int | None = None, free_months: int | None = None,
                        minimum_annual: int | None = None, deal_id: str | None = None,
                        declaration_id: str | None = None, consent_object: str | None = None) -> License:
    """Create a license in force from today (assets locked by the caller) and encumber as the law says."""
    today = await business_date(session)
    ends_on = add_months(today, term_months) - timedelta(days=1)
    expiries = [a.expiry_date for a in assets if a.expiry_date is not None and a.expiry_date > today]
    if expiries:
        ends_on = min(ends_on, min(expiries))  # a license cannot outlive the right
    lic = License(kind=kind, asset_ids=[a.id for a in assets], licensor_org_id=licensor_org_id,
                  licensee_org_id=licensee_org_id, deal_id=deal_id, declaration_id=declaration_id,
                  fixed_fee=fixed_fee, rate_bps=rate_bps, free_months=free_months, minimum_annual=minimum_annual,
                  starts_on=today, ends_on=ends_on)
    if kind in ENCUMBERING:
        await check_grantable(session, assets, kind, consent_object=consent_object,
                              licensee_org_id=licensee_org_id)
        await encumbrances.encumber(session, actor, assets, ENCUMBERING[kind], lic.id,
                                    holder_org_id=licensee_org_id, check=False)
    else:
        await check_grantable(session, assets, kind, consent_object=consent_object,
                              licensee_org_id=licensee_org_id)
    session.add(lic)
    for asset in assets:
        await record_transaction(session, asset, actor)
    await session.flush()
    await audit.record(session, actor, "license.granted", "license", lic.id, after=lic.model_dump())
    return lic


def _visible(lic: License, actor: Actor) -> bool:
    return actor.org_id in (lic.licensor_org_id, lic.licensee_org_id) or actor.is_platform_admin


async def get_license(session: AsyncSession, actor: Actor, license_id: str, *, lock: bool = False) -> License:
    return await get_or_404(session, License, license_id, lock=lock, visible=lambda lic: _visible(lic, actor))


def _reports_visible(actor: Actor) -> Any:
    """The royalty reports of the licenses ``actor`` may see, as a SQL condition (None: all of them)."""
    if actor.is_platform_admin:
        return None
    return col(RoyaltyReport.license_id).in_(select(License.id).where(
        or_(License.licensor_org_id == actor.org_id, License.licensee_org_id == actor.org_id)))


async def list_licenses(session: AsyncSession, actor: Actor, *, status: str | None, kind: str | None,
                        limit: int, cursor: str | None) -> tuple[list[License], bool, str | None]:
    stmt = select(License).where(or_(License.licensor_org_id == actor.org_id,
                                     License.licensee_org_id == actor.org_id))
    if status:
        stmt = stmt.where(License.status == status)
    if kind:
        stmt = stmt.where(License.kind == kind)
    return await paginate(session, stmt, License.id, limit, cursor)


def license_years(lic: License) -> list[tuple[date, date, int]]:
    """(first day, last day, days of a full year) for each license year; the last may be cut short."""
    years, k = [], 0
    while (start := add_months(lic.starts_on, 12 * k)) <= lic.ends_on:
        full_end = add_months(lic.starts_on, 12 * (k + 1)) - timedelta(days=1)
        years.append((start, min(full_end, lic.ends_on), (full_end - start).days + 1))
        k += 1
    return years


def _year_of(lic: License, day: date) -> tuple[date, date, int] | None:
    return next((y for y in license_years(lic) if y[0] <= day <= y[1]), None)


def year_minimum(lic: License, year: tuple[date, date, int]) -> tuple[int, int]:
    """(chargeable days, minimum in fen) for a license year: no minimum for days in the free period."""
    start, end, full_days = year
    chargeable = max(0, (end - max(start, free_until(lic))).days + 1)
    if not lic.minimum_annual or not chargeable:
        return chargeable, 0
    return chargeable, to_fen(Decimal(lic.minimum_annual) * chargeable / full_days)


def _running_royalty(lic: License, reports: Sequence[RoyaltyReport], year: tuple[date, date, int]) -> int:
    """The running royalties (before any credit) of the sales reports whose period ends in ``year``."""
    return sum(royalty_for(lic, r.period_start, r.period_end, r.net_sales)[1] for r in reports
               if r.kind == "sales" and year[0] <= r.period_end <= year[1])


def free_until(lic: License) -> date:
    """The first day on which sales carry a royalty."""
    return add_months(lic.starts_on, lic.free_months or 0)


def royalty_for(lic: License, period_start: date, period_end: date, net_sales: int,
                include_fixed_fee: bool = False) -> tuple[int, int]:
    """(chargeable days, royalty due in fen) for net sales over an inclusive period."""
    total_days = (period_end - period_start).days + 1
    first_chargeable = max(period_start, free_until(lic))
    chargeable = max(0, (period_end - first_chargeable).days + 1)
    due = Decimal(0)
    if lic.rate_bps and chargeable:
        due = Decimal(net_sales) * chargeable * lic.rate_bps / (BPS * total_days)
    fee = lic.fixed_fee if include_fixed_fee and chargeable and lic.fixed_fee else 0
    return chargeable, to_fen(due) + fee


async def report_royalty(session: AsyncSession, actor: Actor, license_id: str, period_start: date,
                         period_end: date, net_sales: int) -> RoyaltyReport:
    lic = await get_license(session, actor, license_id, lock=True)
    if actor.org_id != lic.licensee_org_id:
        raise Forbidden("only the licensee reports sales")
    if lic.status != "active":
        raise InvalidState(f"the license is {lic.status}")
    today = await business_date(session)
    if period_end < period_start:
        raise ValidationFailed.at(["body", "period_end"], "period_end must not be before period_start")
    if period_start < lic.starts_on or period_end > lic.ends_on:
        raise ValidationFailed.at(["body", "period_start"],
                                  f"the period must lie within the license term {lic.starts_on}–{lic.ends_on}")
    if period_end > today:
        raise ValidationFailed.at(["body", "period_end"], "a period can be reported only once it has ended")
    every = list((await session.exec(select(RoyaltyReport).where(RoyaltyReport.license_id == lic.id))).all())
    earlier = [r for r in every if r.kind == "sales"]
    if any(r.period_start <= period_end and period_start <= r.period_end for r in earlier):
        raise InvalidState("sales for part of this period were already reported")
    # A deferred fixed fee (open licenses) rides on the first report that reaches past the free period.
    fee_pending = lic.declaration_id is not None and not any(r.chargeable_days for r in earlier)
    chargeable, running = royalty_for(lic, period_start, period_end, net_sales)
    fee = lic.fixed_fee if fee_pending and chargeable and lic.fixed_fee else 0
    year = _year_of(lic, period_end)
    if year is not None and any(r.kind == "minimum_shortfall" and r.period_start == year[0] for r in every):
        # Late sales for a year already settled at its minimum: only what lifts the year above it is due.
        minimum, before = year_minimum(lic, year)[1], _running_royalty(lic, earlier, year)
        running = max(minimum, before + running) - max(minimum, before)
    due = running + fee
    report = RoyaltyReport(license_id=lic.id, period_start=period_start, period_end=period_end,
                           net_sales=net_sales, chargeable_days=chargeable, royalty_due=due,
                           due_on=period_end + timedelta(days=DUE_DAYS), reported_on=today,
                           paid_on=None if due else today)
    ROYALTY_REPORT.start(report, "due" if due else "paid")
    session.add(report)
    await session.flush()
    await audit.record(session, actor, "royalty.reported", "royalty_report", report.id, after=report.model_dump())
    return report


async def mark_royalty_paid(session: AsyncSession, actor: Actor, report_id: str) -> RoyaltyReport:
    report = await get_or_404(session, RoyaltyReport, report_id, lock=True, visible=_reports_visible(actor))
    lic = await get_or_404(session, License, report.license_id)
    if actor.org_id != lic.licensor_org_id:
        raise Forbidden("only the licensor confirms receipt of a royalty")
    if report.status == "paid":
        raise InvalidState("this royalty is already paid")
    report.paid_on = await business_date(session)
    await ROYALTY_REPORT.apply(session, actor, report, "pay", paid_on=report.paid_on)
    return report


async def list_reports(session: AsyncSession, actor: Actor, license_id: str) -> list[RoyaltyReport]:
    lic = await get_license(session, actor, license_id)
    stmt = select(RoyaltyReport).where(RoyaltyReport.license_id == lic.id).order_by(col(RoyaltyReport.period_start))
    return list((await session.exec(stmt)).all())


async def flag_overdue(session: AsyncSession, actor: Actor, run_date: date) -> int:
    stmt = select(RoyaltyReport).where(RoyaltyReport.status == "due", col(RoyaltyReport.due_on) < run_date)
    rows = list((await session.exec(stmt)).all())
    for r in rows:
        await ROYALTY_REPORT.apply(session, actor, r, "fall_overdue", due_on=r.due_on)
    await session.flush()
    return len(rows)


async def charge_minimums(session: AsyncSession, actor: Actor, run_date: date) -> int:
    """Settle every license year ended by ``run_date`` against its minimum; returns the shortfalls charged."""
    stmt = (select(License).where(col(License.minimum_annual).is_not(None), col(License.minimum_annual) > 0,
                                  col(License.status).in_(("active", "ended")), License.starts_on <= run_date)
            .order_by(License.id).with_for_update())
    charged = 0
    for lic in (await session.exec(stmt)).all():
        reports = list((await session.exec(select(RoyaltyReport).where(RoyaltyReport.license_id == lic.id))).all())
        settled = {r.period_start for r in reports if r.kind == "minimum_shortfall"}
        for year in license_years(lic):
            if year[1] > run_date or year[0] in settled:
                continue
            chargeable, minimum = year_minimum(lic, year)
            shortfall = max(0, minimum - _running_royalty(lic, reports, year))
            line = RoyaltyReport(license_id=lic.id, kind="minimum_shortfall", period_start=year[0],
                                 period_end=year[1], net_sales=0, chargeable_days=chargeable, royalty_due=shortfall,
                                 due_on=year[1] + timedelta(days=DUE_DAYS), reported_on=run_date,
                                 paid_on=None if shortfall else run_date)
            ROYALTY_REPORT.start(line, "due" if shortfall else "paid")
            session.add(line)
            await session.flush()
            await audit.record(session, actor, "royalty.minimum_charged", "royalty_report", line.id,
                               after={**line.model_dump(), "minimum": minimum})
            charged += bool(shortfall)
    await session.flush()
    return charged


async def end_expired(session: AsyncSession, actor: Actor, run_date: date) -> int:
    """Licenses whose last day has passed end; their encumbrances are released."""
    rows = list((await session.exec(select(License).where(License.status == "active",
                                                          col(License.ends_on) <= run_date))).all())
    for lic in rows:
        await LICENSE.apply(session, actor, lic, "end")
        await encumbrances.release(session, actor, lic.id)
    await session.flush()
    return len(rows)


def license_out(lic: License) -> LicenseOut:
    data = lic.model_dump(exclude={"fixed_fee", "rate_bps", "free_months", "minimum_annual"})
    royalty = Royalty(fixed_fee=lic.fixed_fee, rate_bps=lic.rate_bps, free_months=lic.free_months,
                      minimum_annual=lic.minimum_annual)
    return LicenseOut.model_validate({**data, "royalty": royalty, "free_until": free_until(lic)})
