"""What a field's name says about its values, so the OpenAPI document and file exports agree.

The platform names fields by convention: money is integer fen (``amount``, ``principal``, ``*_price``,
``*_fee``, …) and rates and shares are integer basis points (``*_bps``). ``kind_of`` classifies an integer
field by its name; the OpenAPI test fails on an integer field it cannot classify, so a new field is
added here (to ``MONEY`` or ``NOT_MONEY``) once, and both the docs and the CSV/XLSX columns follow.
"""

from __future__ import annotations

from typing import Literal

FieldKind = Literal["money", "bps", "plain", "unknown"]

MONEY = frozenset({
    "amount", "amount_paid", "annual_cap", "annual_revenue", "appraisal_fee", "balance", "balance_after",
    "basis_amount", "borrowing_base", "budget", "budget_remaining", "cap_per_loan", "cap_per_org_year",
    "capital", "cash", "charges", "committed_exposure", "compensation_paid", "cost", "covered_outstanding",
    "credits", "credits_posted", "debits", "debits_posted", "deposit", "deposits", "eligible_amount",
    "fixed_fee", "fund_amount", "fund_exposure", "high", "highest_bid", "income", "interest", "loss",
    "loss_at_default", "low", "market", "max_principal", "min_increment", "minimum_annual", "minimum_next_bid",
    "net_sales", "outstanding_principal", "overdue_amount", "paid", "paid_interest", "paid_penalty",
    "paid_principal", "paid_total", "payment", "payoff_amount", "penalty", "penalty_accrued",
    "penalty_outstanding", "per_borrower_year_cap", "per_loan_cap", "premium", "price", "principal",
    "proceeds", "quota", "rd_cost", "rd_spending", "rd_spending_last_year", "recovered", "reserve_price",
    "royalty_due", "security_value", "shortfall", "start_price", "total", "total_credits", "total_debits",
    "total_loss", "value", "amount_per_item", "disbursement_over", "surplus", "capital_remaining",
    "exposure", "provision", "fee", "required", "remaining_borrowing_base", "borrowing_base_before",
    "seller_proceeds",
    "opening", "closing", "allowance", "previous_allowance", "quota_used", "covered_to_date", "compensated",
    "debits_pending", "credits_pending", "available", "pending", "pending_debits", "pending_credits",
    "quota_available", "provisions_required", "provisions_allowance", "carried_interest",
    "bonus", "bonus_per_item", "valuation_total",
})
MONEY_SUFFIXES = ("_fen", "_amount", "_price", "_fee", "_fees", "_cap", "_principal", "_outstanding",
                  "_exposure", "_paid", "_premium", "_balance", "_proceeds", "_loss", "_due")
NOT_MONEY = frozenset({
    "accounts_checked", "bid_count", "chargeable_days", "claims_count", "count", "current_version", "days",
    "days_past_due", "default_days", "entries_checked", "entries_sealed", "entries_unsealed", "expires_in",
    "extension_days", "forward_citations",
    "free_months", "leverage", "leverage_max", "line_no", "loans", "max_months", "n", "period", "population",
    "processed_days", "remaining_life_years", "scenarios", "seed", "seq", "term_months", "valid_days",
    "version", "year", "legal", "technical", "economic", "score", "index", "total_rows", "processed_rows",
    "imported", "duplicates", "rejected", "row", "size", "attempts", "status_code", "limit",
    "invention_patents_granted", "duration_ms", "last_status_code", "licenses_count", "transfers_count", "total_count",
    "result_status", "loans_covered", "committed_leverage",
    "rank_in_year", "bonus_threshold", "items_per_award", "min_countries", "min_invention_patents",
    "min_pct_applications", "max_awards", "invention_patents", "high_value_patents", "enterprise_ip_index",
    "loans_repaid", "loans_repaid_on_time", "loans_overdue", "firms",
})
NOT_MONEY_SUFFIXES = ("_count", "_days", "_months", "_years", "_no", "_version")
# Same name, other meaning in one schema: a score's ``total`` is points, not fen.
OVERRIDES: dict[tuple[str, str], FieldKind] = {
    ("ScoreOut", "total"): "plain", ("AssetScoreOut", "total"): "plain", ("Problem", "status"): "plain",
}
# Schemas whose every integer member is a share in basis points (``shares_bps: {fund, guarantor, insurer}``).
BPS_SCHEMAS = frozenset({"Shares", "SharesBps", "SharesIn", "SharesOut"})


def kind_of(name: str, schema: str = "") -> FieldKind:
    """Classify an integer field by its name (and, for the few ambiguous names, its schema)."""
    if (schema, name) in OVERRIDES:
        return OVERRIDES[(schema, name)]
    if name.endswith("_bps") or schema in BPS_SCHEMAS:
        return "bps"
    if name in NOT_MONEY or name.endswith(NOT_MONEY_SUFFIXES):
        return "plain"
    if name in MONEY or name.endswith(MONEY_SUFFIXES):
        return "money"
    return "unknown"


def is_money(name: str, schema: str = "") -> bool:
    return kind_of(name, schema) == "money"
