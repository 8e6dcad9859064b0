"""The pilot zone's annual monitoring set (001_… table 1, tasks 5, 6 and 10) in one report: each figure
computed from the records, its target where the seeds give one, and whether it is met.

Flows (pledge financing, licenses and transfers, PCT applications, loans to white-listed firms) count the
calendar year asked for; holdings (high-value patents, trademarks, GI products, the IP index) are as of the
business date; innovation efficiency is as its own report defines it (the year before). Money indicators
read in 亿元 as the seeds' table does (``figure``), with the exact fen in ``amount``. A region names the
organisations whose profile gives that region code, as in the other statistics.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.loans.models import Loan
from finance.statistics import service
from finance.statistics.report import Report
from finance.whitelists.models import Whitelist, WhitelistEntry
from kernel.clock import business_date
from kernel.errors import ValidationFailed
from market.assets.models import Asset

FEN_PER_100M_YUAN = 10_000_000_000  # 亿元
# 001_… table 1: (2021 baseline, 2025 target), in the table's units.
TARGETS: dict[str, tuple[Decimal, Decimal]] = {
    "pledge_financing_amount": (Decimal("2.8"), Decimal("5")),
    "high_value_patents_per_10k": (Decimal("24"), Decimal("45")),
}
# Table 1's other rows: figures the platform's records do not hold (listed so the report says so).
NOT_FROM_RECORDS = [
    {"indicator": "patent_intensive_industry_value_added", "name": "专利密集型产业增加值", "unit": "亿元",
     "baseline": 75, "target": 150},
    {"indicator": "ip_protection_satisfaction", "name": "知识产权保护社会满意度", "unit": "分", "baseline": 80,
     "target": 85},
    {"indicator": "rd_spending_share_of_gdp", "name": "R&D经费支出占GDP比重", "unit": "%", "baseline": 2.6,
     "target": 3},
    {"indicator": "high_tech_enterprises", "name": "高新技术企业数", "unit": "家", "baseline": 1130, "target": 3000},
    {"indicator": "ip_budget_share", "name": "知识产权经费占园区财政一般预算公共支出比重", "unit": "%",
     "baseline": 0.1, "target": 0.2},
    {"indicator": "ip_service_agencies", "name": "知识产权服务机构数量", "unit": "家", "baseline": 27, "target": 57},
]


def _yi(fen: int) -> float:
    return float((Decimal(fen) / FEN_PER_100M_YUAN).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _row(key: str, name: str, unit: str, figure: float | int | None, amount: int | None = None) -> dict[str, Any]:
    baseline, target = TARGETS.get(key, (None, None))
    met = None if target is None or figure is None else Decimal(str(figure)) >= target
    return {"indicator": key, "name": name, "unit": unit, "figure": figure, "amount": amount,
            "baseline": float(baseline) if baseline is not None else None,
            "target": float(target) if target is not None else None, "met": met}


async def _org_ids(session: AsyncSession, region: str | None) -> set[str] | None:
    if region is None:
        return None
    return set((await session.exec(select(Org.id).where(Org.region == region))).all())


def _owned(stmt: Any, org_ids: set[str] | None) -> Any:
    return stmt if org_ids is None else stmt.where(col(Asset.owner_org_id).in_(org_ids))


async def _assets(session: AsyncSession, org_ids: set[str] | None, *where: Any) -> int:
    stmt = _owned(select(func.count()).select_from(Asset).where(Asset.status == "valid", *where), org_ids)
    return int((await session.exec(stmt)).one())


async def _whitelisted_loans(session: AsyncSession, start: date, end: date, org_ids: set[str] | None
                             ) -> tuple[int, int]:
    listed = (select(WhitelistEntry.org_id).join(Whitelist, col(Whitelist.id) == WhitelistEntry.whitelist_id)
              .where(Whitelist.status == "published"))
    stmt = select(func.count(), func.coalesce(func.sum(Loan.principal), 0)).where(
        col(Loan.pledge_registered_on) >= start, col(Loan.pledge_registered_on) <= end,
        col(Loan.borrower_org_id).in_(listed))
    if org_ids is not None:
        stmt = stmt.where(col(Loan.borrower_org_id).in_(org_ids))
    n, amount = (await session.exec(stmt)).one()
    return int(n), int(amount)


def _region_total(report: Report, region: str | None, cols: list[str]) -> dict[str, Any]:
    if region is None:
        return {c: report.totals.get(c, 0) for c in cols}
    row = next((r for r in report.rows if r.get("region") == region), {})
    return {c: row.get(c, 0) for c in cols}


async def indicators(session: AsyncSession, year: int | None, region: str | None) -> Report:
    today = await business_date(session)
    year = year or today.year
    if not 2000 <= year <= today.year:
        raise ValidationFailed.at(["query", "year"], f"year must be between 2000 and {today.year}")
    start, end = date(year, 1, 1), min(date(year, 12, 31), today)
    org_ids = await _org_ids(session, region)
    pledge = _region_total(await service.pledge_financing(session, start, end, "region"), region,
                           ["count", "amount"])
    deals = _region_total(await service.transactions(session, start, end, "region"), region,
                          ["licenses_count", "licenses_amount", "transfers_count", "transfers_amount"])
    hv = await service.high_value_patents(session, region)
    efficiency = await service.innovation_efficiency(session, year, region)
    index = await service.enterprise_ip_index(session, region)
    families = (await session.exec(_owned(select(Asset.family_countries).where(
        Asset.kind == "invention_patent", col(Asset.filing_date) >= start, col(Asset.filing_date) <= end),
        org_ids))).all()
    pct = sum(1 for countries in families if "WO" in countries)  # filed in the year, with a PCT application
    well_known = sum(1 for awards in (await session.exec(_owned(select(Asset.awards).where(
        Asset.kind == "trademark", Asset.status == "valid"), org_ids))).all() if "well_known_trademark" in awards)
    wl_count, wl_amount = await _whitelisted_loans(session, start, end, org_ids)
    gi = Asset.kind == "geographical_indication"
    rows = [
        _row("pledge_financing_amount", "知识产权质押融资登记金额", "亿元", _yi(pledge["amount"]), pledge["amount"]),
        _row("pledge_financing_count", "知识产权质押融资登记笔数", "笔", pledge["count"]),
        _row("high_value_patents", "高价值发明专利拥有量", "件", hv.totals["count"]),
        _row("high_value_patents_per_10k", "每万人口高价值发明专利拥有量", "件/万人", hv.totals["per_10k"]),
        _row("licenses_count", "知识产权许可笔数", "笔", deals["licenses_count"]),
        _row("licenses_amount", "知识产权许可金额", "亿元", _yi(deals["licenses_amount"]), deals["licenses_amount"]),
        _row("transfers_count", "知识产权转让笔数", "笔", deals["transfers_count"]),
        _row("transfers_amount", "知识产权转让金额", "亿元", _yi(deals["transfers_amount"]),
             deals["transfers_amount"]),
        _row("pct_applications", "PCT专利申请量", "件", pct),
        _row("well_known_trademarks", "驰名商标数量", "件", well_known),
        _row("collective_marks", "集体商标数量", "件", await _assets(session, org_ids, gi,
                                                                 Asset.gi_form == "collective_mark")),
        _row("certification_marks", "证明商标数量", "件", await _assets(session, org_ids, gi,
                                                                   Asset.gi_form == "certification_mark")),
        _row("gi_products", "地理标志产品数量", "件", await _assets(session, org_ids, gi, Asset.gi_form == "gi_product")),
        _row("innovation_efficiency", "创新效率（每亿元研发投入发明专利授权量）", "件/亿元",
             efficiency.totals["patents_per_100m_yuan"]),
        _row("enterprise_ip_index", "企业知识产权指数", "分", index.totals["index"]),
        _row("whitelisted_loans_count", "白名单企业质押融资笔数", "笔", wl_count),
        _row("whitelisted_loans_amount", "白名单企业质押融资金额", "亿元", _yi(wl_amount), wl_amount),
    ]
    return Report(
        title="试点园区知识产权发展主要指标", filters={"year": year, "region": region, "as_of": today.isoformat(),
                                                 "from": start.isoformat(), "to": end.isoformat()},
        columns=["indicator", "name", "unit", "figure", "baseline", "target", "met", "amount"], rows=rows,
        chart_label="name", chart_series=[("figure", "实际"), ("target", "目标")], x_label="指标", y_label="数值",
        extra={"not_from_records": NOT_FROM_RECORDS,
               "innovation_efficiency_counted_year": efficiency.filters.get("counted_year")})
