"""What the fund administrator (and the regulator) watch: exposure by bank, guarantor, industry and
region, leverage, non-performing ratios and the pauses they cause, compensation and recovery rates,
and a Vasicek stress test over the covered loans.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.charts import grouped_bar_chart
from finance.fund import books, provisions, stress
from finance.fund.agreements import list_agreements
from finance.fund.cover import npl_by_bank, ratio_bps
from finance.fund.models import CompensationClaim, FundCover, FundProgram, RecoveryRow
from finance.fund.programmes import MONITOR_KINDS, current_version, get_program
from finance.fund.schemas import StressIn
from kernel import audit, i18n, tabular
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import NotFound, ValidationFailed

# A stress test holds loans × a chunk of scenarios in memory; keep one request well inside a worker.
MAX_STRESS_ELEMENTS = 200_000_000


async def monitored_program(session: AsyncSession, actor: Actor, program_id: str) -> FundProgram:
    """The programme's own fund, any regulator and the platform admin may watch it."""
    program = await get_program(session, program_id)
    own = actor.org_id == program.fund_org_id
    if not (own or actor.is_kind("regulator") or actor.is_platform_admin):
        raise NotFound("fund programme not found")
    return program


async def _grouped(session: AsyncSession, program_id: str, column: Any) -> list[dict[str, Any]]:
    stmt = (select(column, sa.func.sum(FundCover.covered_outstanding), sa.func.sum(FundCover.exposure),
                   sa.func.count())
            .where(FundCover.program_id == program_id, FundCover.status == "active")
            .group_by(column).order_by(sa.func.sum(FundCover.exposure).desc(), column))
    return [{"key": k, "covered_outstanding": int(o or 0), "fund_exposure": int(e or 0), "loans": int(n)}
            for k, o, e, n in (await session.exec(stmt)).all()]


async def exposure(session: AsyncSession, program: FundProgram) -> dict[str, Any]:
    today = await business_date(session)
    version = await current_version(session, program)
    agreements = {a.bank_org_id: a for a in await list_agreements(session, program.id)}
    npl = await npl_by_bank(session, program.id, today)
    per_bank = {row["key"]: row for row in await _grouped(session, program.id, col(FundCover.bank_org_id))}
    by_bank = []
    for bank_id in sorted(set(agreements) | set(per_bank)):
        row = per_bank.get(bank_id, {"covered_outstanding": 0, "fund_exposure": 0})
        agreement = agreements.get(bank_id)
        npl_bps = ratio_bps(*npl.get(bank_id, (0, 0)))
        by_bank.append({"bank_org_id": bank_id, "covered_outstanding": row["covered_outstanding"],
                        "fund_exposure": row["fund_exposure"], "quota": agreement.quota if agreement else 0,
                        "quota_available": max((agreement.quota if agreement else 0) - row["covered_outstanding"], 0),
                        "quota_use_bps": ratio_bps(row["covered_outstanding"], agreement.quota if agreement else 0),
                        "deposit": agreement.deposit if agreement else 0, "npl_ratio_bps": npl_bps,
                        "paused": npl_bps > version.npl_pause_bps})
    covered_outstanding = sum(b["covered_outstanding"] for b in by_bank)
    committed = sum(b["fund_exposure"] for b in by_bank)
    deposits = sum(a.deposit for a in agreements.values())
    ever_covered = int((await session.exec(select(sa.func.coalesce(sa.func.sum(FundCover.covered_principal), 0))
                                           .where(FundCover.program_id == program.id))).one())
    paid = int((await session.exec(select(sa.func.coalesce(sa.func.sum(CompensationClaim.fund_amount), 0)).where(
        CompensationClaim.program_id == program.id, CompensationClaim.status == "paid"))).one())
    recovered = int((await session.exec(
        select(sa.func.coalesce(sa.func.sum(RecoveryRow.amount), 0))
        .join(CompensationClaim, col(CompensationClaim.id) == col(RecoveryRow.claim_id))
        .where(CompensationClaim.program_id == program.id, RecoveryRow.party == "fund"))).one())
    leverage_bps = ratio_bps(covered_outstanding, deposits)
    return {
        "program_id": program.id, "as_of": today, "capital": program.capital,
        "cash": await books.cash(session, program.id), "committed_exposure": committed,
        "covered_outstanding": covered_outstanding, "deposits": deposits, "by_bank": by_bank,
        "by_guarantor": await _grouped(session, program.id, col(FundCover.guarantor_org_id)),
        "by_industry": await _grouped(session, program.id, col(FundCover.industry)),
        "by_region": await _grouped(session, program.id, col(FundCover.region)),
        "leverage_used": str((Decimal(leverage_bps) / 10000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
        "leverage_used_bps": leverage_bps,
        **await provisions.dashboard(session, program),
        "compensation_paid": paid, "recovered": recovered,
        "compensation_rate_bps": ratio_bps(paid, ever_covered), "recovery_rate_bps": ratio_bps(recovered, paid),
    }


EXPORT_COLUMNS = ("section", "key", "covered_outstanding", "fund_exposure", "quota", "deposit", "npl_ratio_bps",
                  "paused", "loans", "amount", "rate_bps")
TOTAL_AMOUNTS = ("capital", "cash", "committed_exposure", "covered_outstanding", "deposits", "compensation_paid",
                 "recovered")
TOTAL_RATES = ("leverage_used_bps", "compensation_rate_bps", "recovery_rate_bps")


def exposure_table(program: FundProgram, report: dict[str, Any]) -> tabular.Table:
    """One table: a row per bank, guarantor, industry and region, then the programme's totals (money in
    ``amount``, ratios in ``rate_bps``), for CSV and XLSX."""
    rows: list[dict[str, Any]] = [{"section": "bank", "key": b["bank_org_id"], **b} for b in report["by_bank"]]
    for section in ("guarantor", "industry", "region"):
        rows += [{"section": section, **row, "key": row["key"] or ""} for row in report[f"by_{section}"]]
    rows += [{"section": "total", "key": name, "amount": report[name]} for name in TOTAL_AMOUNTS]
    rows += [{"section": "total", "key": name, "rate_bps": report[name]} for name in TOTAL_RATES]
    as_of = str(report["as_of"])
    return tabular.Table(title=f"{program.name} 风险敞口", columns=EXPORT_COLUMNS, rows=rows, period=as_of,
                         filters={"program_id": program.id, "as_of": as_of}, filename=f"exposure-{program.id}")


async def exposure_chart(session: AsyncSession, program: FundProgram, report: dict[str, Any], fmt: str,
                         lang: str = i18n.ZH) -> bytes:
    """Per bank: covered outstanding, the fund's exposure and the quota, in 万元 (¥10,000)."""
    ids = [b["bank_org_id"] for b in report["by_bank"]]
    names = dict((await session.exec(select(Org.id, Org.name).where(col(Org.id).in_(ids)))).all())
    wan = 1_000_000  # fen in ¥10,000

    def series(key: str) -> list[float]:
        return [b[key] / wan for b in report["by_bank"]]

    t = i18n.text
    return grouped_bar_chart(
        f"{program.name} {t('风险敞口', lang)}（{report['as_of']}）", [names.get(i, i) for i in ids],
        [(t("在保贷款余额", lang), series("covered_outstanding")), (t("基金敞口", lang), series("fund_exposure")),
         (t("合作额度", lang), series("quota"))],
        x_label=t("合作银行", lang), y_label=t("金额（万元）", lang), fmt=fmt)


async def stress_test(session: AsyncSession, actor: Actor, program: FundProgram, data: StressIn) -> dict[str, Any]:
    """Vasicek simulation over the live covers: each loan's covered outstanding is its exposure at
    default and the fund bears its share of each loss; depletion is a fund loss above its cash."""
    rows = (await session.exec(select(FundCover.covered_outstanding, FundCover.fund_bps).where(
        FundCover.program_id == program.id, FundCover.status == "active", FundCover.covered_outstanding > 0)
        .order_by(col(FundCover.id)))).all()
    if len(rows) * data.scenarios > MAX_STRESS_ELEMENTS:
        raise ValidationFailed.at(["body", "scenarios"], f"{len(rows)} loans × {data.scenarios} scenarios is too "
                                  f"large; use at most {MAX_STRESS_ELEMENTS // max(len(rows), 1)} scenarios")
    cash = await books.cash(session, program.id)
    exposures = [r[0] for r in rows]
    shares = [r[1] for r in rows]
    n = len(rows)
    if n:
        result = stress.stress_test(exposures, [data.pd_bps] * n, [data.lgd_bps] * n, [data.correlation_bps] * n,
                                    shares, fund_cash=cash, scenarios=data.scenarios, seed=data.seed)
        figures = {
            "expected_loss": result.fund_expected_loss, "var_99": result.fund_var_99,
            "depleted_scenarios": result.depleted_scenarios,
            "portfolio_expected_loss": result.expected_loss,
            "portfolio_analytic_expected_loss": result.analytic_expected_loss,
            "portfolio_var_99": result.var_99, "portfolio_expected_shortfall_99": result.expected_shortfall_99,
            "portfolio_percentiles": {str(k): v for k, v in result.percentiles.items()},
        }
    else:
        figures = {"expected_loss": 0, "var_99": 0, "depleted_scenarios": 0, "portfolio_expected_loss": 0,
                   "portfolio_analytic_expected_loss": 0, "portfolio_var_99": 0,
                   "portfolio_expected_shortfall_99": 0, "portfolio_percentiles": {}}
    depleted = figures["depleted_scenarios"]
    assert isinstance(depleted, int)
    report = {
        "program_id": program.id, "as_of": await business_date(session), "loans": n, "scenarios": data.scenarios,
        "seed": data.seed, "pd_bps": data.pd_bps, "lgd_bps": data.lgd_bps, "correlation_bps": data.correlation_bps,
        "cash": cash, "exposure_at_default": sum(exposures), **figures,
        # A probability, not money: the share of scenarios in which the fund's loss exceeds its cash.
        "p_depletion": depleted / data.scenarios,
        "p_depletion_bps": ratio_bps(depleted, data.scenarios),
    }
    await audit.record(session, actor, "fund_program.stress_tested", "fund_program", program.id,
                       after={k: report[k] for k in ("loans", "scenarios", "seed", "expected_loss", "var_99",
                                                     "p_depletion_bps")})
    return report


__all__ = ["MONITOR_KINDS", "exposure", "exposure_table", "monitored_program", "stress_test"]
