"""Statistics named by the seeds (domain §9), computed from the records, never stored separately."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org, Region
from finance.loans.models import Loan
from finance.statistics.report import Report
from finance.whitelists.models import Whitelist, WhitelistEntry
from kernel.clock import business_date
from kernel.errors import ValidationFailed
from market.assets.models import Asset
from market.assets.service import high_value
from market.trading.models import Deal

HONOUR_WEIGHTS = {  # enterprise IP index, 001_… task 6
    "national_demonstration": 3,
    "national_advantage": 2,
    "provincial_demonstration": 2,
    "standard_certified": 1,
    "provincial_advantage": 1,
}
NO_REGION = "unknown"
FEN_PER_100M_YUAN = 10_000_000_000


def _ratio(numerator: int, denominator: int, scale: int, places: str = "0.0001") -> float | None:
    """``numerator × scale / denominator`` half-up to ``places``; None when the denominator is 0."""
    if denominator <= 0:
        return None
    value = (Decimal(numerator) * scale / Decimal(denominator)).quantize(Decimal(places), rounding=ROUND_HALF_UP)
    return float(value)


async def _regions(session: AsyncSession) -> dict[str, Region]:
    return {r.code: r for r in (await session.exec(select(Region))).all()}


async def _org_regions(session: AsyncSession) -> dict[str, str]:
    rows = (await session.exec(select(Org.id, Org.region))).all()
    return {org_id: region or NO_REGION for org_id, region in rows}


async def high_value_patents(session: AsyncSession, region: str | None) -> Report:
    """High-value invention patents held in each region, and per 10,000 people."""
    today = await business_date(session)
    regions = await _regions(session)
    org_region = await _org_regions(session)
    counts: dict[str, int] = defaultdict(int)
    stmt = select(Asset).where(Asset.kind == "invention_patent", Asset.status == "valid")
    for asset in (await session.exec(stmt)).all():
        if high_value(asset, today):
            counts[org_region.get(asset.owner_org_id, NO_REGION)] += 1
    codes = [region] if region else sorted(set(regions) | set(counts))
    rows: list[dict[str, Any]] = []
    for code in codes:
        population = regions[code].population if code in regions else 0
        rows.append({"region": code, "region_name": regions[code].name if code in regions else code,
                     "count": counts.get(code, 0), "population": population,
                     "per_10k": _ratio(counts.get(code, 0), population, 10_000)})
    total_count = sum(r["count"] for r in rows)
    total_population = sum(r["population"] for r in rows)
    return Report(
        title="高价值发明专利拥有量", filters={"region": region, "as_of": today.isoformat()},
        columns=["region", "region_name", "count", "population", "per_10k"], rows=rows,
        totals={"count": total_count, "population": total_population,
                "per_10k": _ratio(total_count, total_population, 10_000)},
        chart_label="region_name", chart_value="per_10k", x_label="地区", y_label="每万人高价值发明专利（件）")


async def enterprise_ip_index(session: AsyncSession, region: str | None) -> Report:
    """National demonstration × 3 + (national advantage + provincial demonstration) × 2 + (standard-certified
    + provincial advantage) × 1, counting firms by the honours in their profiles."""
    regions = await _regions(session)
    tallies: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(HONOUR_WEIGHTS, 0))
    stmt = select(Org).where(col(Org.kind).in_(("sme", "university")))
    if region:
        stmt = stmt.where(Org.region == region)
    for org in (await session.exec(stmt)).all():
        for honour in set(org.ip_honours):
            if honour in HONOUR_WEIGHTS:
                tallies[org.region or NO_REGION][honour] += 1
    rows = []
    for code in ([region] if region else sorted(tallies)):
        tally = tallies[code]
        index = sum(HONOUR_WEIGHTS[h] * n for h, n in tally.items())
        rows.append({"region": code, "region_name": regions[code].name if code in regions else code, **tally,
                     "index": index})
    return Report(
        title="企业知识产权指数", filters={"region": region},
        columns=["region", "region_name", *HONOUR_WEIGHTS, "index"], rows=rows,
        totals={"index": sum(r["index"] for r in rows)},
        chart_label="region_name", chart_value="index", x_label="地区", y_label="指数")


async def innovation_efficiency(session: AsyncSession, year: int | None, region: str | None) -> Report:
    """Invention patents granted last year ÷ R&D spending last year, per ¥100m of R&D."""
    today = await business_date(session)
    year = year or today.year
    if not 1985 < year <= today.year + 1:
        raise ValidationFailed.at(["query", "year"], f"year must be between 1986 and {today.year + 1}")
    last = year - 1
    regions = await _regions(session)
    org_region = await _org_regions(session)
    granted: dict[str, int] = defaultdict(int)
    stmt = select(Asset.owner_org_id).where(Asset.kind == "invention_patent",
                                            col(Asset.grant_date) >= date(last, 1, 1),
                                            col(Asset.grant_date) <= date(last, 12, 31))
    for owner in (await session.exec(stmt)).all():
        granted[org_region.get(owner, NO_REGION)] += 1
    spending: dict[str, int] = defaultdict(int)
    for org_reg, rd in (await session.exec(select(Org.region, Org.rd_spending_last_year))).all():
        spending[org_reg or NO_REGION] += rd or 0
    codes = [region] if region else sorted(set(granted) | {k for k, v in spending.items() if v})
    rows: list[dict[str, Any]] = [
        {"region": c, "region_name": regions[c].name if c in regions else c,
         "invention_patents_granted": granted.get(c, 0), "rd_spending": spending.get(c, 0),
         "patents_per_100m_yuan": _ratio(granted.get(c, 0), spending.get(c, 0), FEN_PER_100M_YUAN)}
        for c in codes]
    total_granted = sum(r["invention_patents_granted"] for r in rows)
    total_rd = sum(r["rd_spending"] for r in rows)
    return Report(
        title="创新效率", filters={"year": year, "region": region, "counted_year": last},
        columns=["region", "region_name", "invention_patents_granted", "rd_spending", "patents_per_100m_yuan"],
        rows=rows, totals={"invention_patents_granted": total_granted, "rd_spending": total_rd,
                           "patents_per_100m_yuan": _ratio(total_granted, total_rd, FEN_PER_100M_YUAN)},
        chart_label="region_name", chart_value="patents_per_100m_yuan", x_label="地区",
        y_label="每亿元研发投入发明专利授权（件）")


# ---------------------------------------------------------------- periods


FEN_PER_WAN_YUAN = 1_000_000  # charts of money read in 万元
GROUPS = ("month", "region", "industry", "bank")
LICENSE_MODES = ("exclusive_license", "sole_license", "nonexclusive_license", "open_license")


async def period(session: AsyncSession, start: date | None, end: date | None) -> tuple[date, date]:
    """The inclusive range asked for; by default from 1 January of the business year to the business date."""
    today = await business_date(session)
    start = start or date(today.year, 1, 1)
    end = end or today
    if start > end:
        raise ValidationFailed.at(["query", "from"], f"from {start} is after to {end}")
    if (end - start).days > 366 * 20:
        raise ValidationFailed.at(["query", "from"], "a range of at most 20 years")
    return start, end


def months(start: date, end: date) -> list[str]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# ---------------------------------------------------------------- pledge financing


async def pledge_financing(session: AsyncSession, start: date | None, end: date | None,
                           group_by: str = "month") -> Report:
    """Registered pledge financing (质押融资登记金额): loans whose pledge was registered in the range,
    counted once each at its principal, grouped by registration month or the borrower's region or
    industry, or the lending bank."""
    if group_by not in GROUPS:
        raise ValidationFailed.at(["query", "group_by"], f"group_by must be one of {', '.join(GROUPS)}")
    start, end = await period(session, start, end)
    stmt = select(Loan.id, Loan.principal, Loan.pledge_registered_on,  # type: ignore[call-overload]  # sqlmodel.select is typed up to 4 columns
                  Loan.borrower_org_id, Loan.bank_org_id).where(
        col(Loan.pledge_registered_on).is_not(None), col(Loan.pledge_registered_on) >= start,
        col(Loan.pledge_registered_on) <= end)
    loans = (await session.exec(stmt)).all()
    org_ids = {r[3] for r in loans} | {r[4] for r in loans}
    orgs = {o.id: o for o in (await session.exec(select(Org).where(col(Org.id).in_(org_ids)))).all()}
    regions = await _regions(session)

    def key_of(row: tuple) -> str:
        _, _, on, borrower, bank = row
        if group_by == "month":
            return f"{on.year:04d}-{on.month:02d}"
        if group_by == "region":
            return orgs[borrower].region or NO_REGION
        if group_by == "industry":
            return orgs[borrower].industry or NO_REGION
        return bank

    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for loan in loans:
        t = tally[key_of(loan)]
        t[0] += 1
        t[1] += loan[1]
    keys = months(start, end) if group_by == "month" else sorted(tally)
    label_col = {"month": "month", "region": "region_name", "industry": "industry", "bank": "bank_name"}[group_by]
    rows = []
    for key in keys:
        count, amount = tally.get(key, (0, 0))
        row: dict[str, object] = {group_by if group_by != "bank" else "bank_org_id": key}
        if group_by == "region":
            row["region_name"] = regions[key].name if key in regions else key
        if group_by == "bank":
            row["bank_name"] = orgs[key].name if key in orgs else key
        rows.append({**row, "count": count, "amount": amount})
    key_cols = {"month": ["month"], "region": ["region", "region_name"], "industry": ["industry"],
                "bank": ["bank_org_id", "bank_name"]}[group_by]
    x_labels = {"month": "登记月份", "region": "地区", "industry": "行业", "bank": "贷款银行"}
    return Report(
        title="知识产权质押融资登记金额",
        filters={"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by},
        columns=[*key_cols, "count", "amount"], rows=rows,
        totals={"count": sum(r["count"] for r in rows), "amount": sum(r["amount"] for r in rows)},
        chart_label=label_col, chart_value="amount", chart_divisor=FEN_PER_WAN_YUAN,
        x_label=x_labels[group_by], y_label="登记金额（万元）",
        extra={"whitelisted": await _whitelisted(session, [(r[0], r[1], r[3]) for r in loans])})


async def _whitelisted(session: AsyncSession, loans: list[tuple[str, int, str]]) -> dict[str, int]:
    """Of these loans, those to firms on a published white list (count and principal)."""
    borrowers = {b for _, _, b in loans}
    listed = set((await session.exec(select(WhitelistEntry.org_id).join(
        Whitelist, col(Whitelist.id) == WhitelistEntry.whitelist_id).where(
        Whitelist.status == "published", col(WhitelistEntry.org_id).in_(borrowers)))).all()) if borrowers else set()
    mine = [amount for _, amount, b in loans if b in listed]
    return {"count": len(mine), "amount": sum(mine)}


# ---------------------------------------------------------------- licenses and transfers


def deal_kind(mode: str) -> str:
    """Licenses (exclusive, sole, non-exclusive, open) or transfers (assignments, sold auction lots)."""
    return "licenses" if mode in LICENSE_MODES else "transfers"


TRANSACTION_GROUPS = ("month", "region", "industry")


async def transactions(session: AsyncSession, start: date | None, end: date | None,
                       group_by: str = "month") -> Report:
    """Recorded (备案) licenses and transfers in the range: count and amount, by month, by the rights
    holder's region or by the assets' industry (both kept on the deal as they were when agreed), and by mode."""
    if group_by not in TRANSACTION_GROUPS:
        raise ValidationFailed.at(["query", "group_by"], f"group_by is one of {', '.join(TRANSACTION_GROUPS)}")
    start, end = await period(session, start, end)
    stmt = select(Deal.mode, Deal.amount, Deal.recorded_on,  # type: ignore[call-overload]  # sqlmodel.select is typed up to 4 columns
                  Deal.seller_region, Deal.industry).where(
        Deal.status == "recorded", col(Deal.recorded_on) >= start, col(Deal.recorded_on) <= end)
    groups: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        ("licenses_count", "licenses_amount", "transfers_count", "transfers_amount"), 0))
    by_mode: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "amount": 0})
    for mode, amount, on, region, industry in (await session.exec(stmt)).all():
        kind = deal_kind(mode)
        key = {"month": f"{on.year:04d}-{on.month:02d}", "region": region or NO_REGION,
               "industry": industry or "unknown"}[group_by]
        groups[key][f"{kind}_count"] += 1
        groups[key][f"{kind}_amount"] += amount
        by_mode[mode]["count"] += 1
        by_mode[mode]["amount"] += amount
    keys = months(start, end) if group_by == "month" else sorted(groups)
    rows: list[dict[str, Any]] = [{group_by: k, **groups[k]} for k in keys]
    if group_by == "region":
        names = await _regions(session)
        for row in rows:
            row["region_name"] = names[row["region"]].name if row["region"] in names else row["region"]
    for row in rows:
        row["total_count"] = row["licenses_count"] + row["transfers_count"]
        row["total_amount"] = row["licenses_amount"] + row["transfers_amount"]
    value_cols = ["licenses_count", "licenses_amount", "transfers_count", "transfers_amount", "total_count",
                  "total_amount"]
    label = "region_name" if group_by == "region" else group_by
    return Report(
        title="专利许可与转让", filters={"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by},
        columns=[group_by, *(["region_name"] if group_by == "region" else []), *value_cols], rows=rows,
        totals={c: sum(r[c] for r in rows) for c in value_cols},
        chart_label=label, chart_series=[("licenses_amount", "许可金额"), ("transfers_amount", "转让金额")],
        chart_divisor=FEN_PER_WAN_YUAN, x_label={"month": "备案月份", "region": "地区", "industry": "行业"}[group_by],
        y_label="金额（万元）",
        extra={"by_mode": [{"mode": m, "kind": deal_kind(m), **v} for m, v in sorted(by_mode.items())]})
