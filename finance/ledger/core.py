"""The pure core of the ledger: validation, balance maths, limits, the hash chain and the chart of accounts.

No database here, so the rules can be reasoned about (and property-tested) on their own; ``service.py``
applies them to rows under locks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kernel.errors import ValidationFailed

DEBIT, CREDIT = "debit", "credit"
SIDES = (DEBIT, CREDIT)
ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
# The side on which each type's balance grows (a contra account may override it).
NORMAL_SIDE_OF_TYPE = {"asset": DEBIT, "expense": DEBIT, "liability": CREDIT, "equity": CREDIT,
                       "income": CREDIT}
# ``no_negative``: the balance on the account's normal side may never fall below zero (cash, budgets).
LIMIT_RULES = ("none", "no_negative")
CURRENCY = "CNY"
# One posting may move at most ¥10 trillion; keeps every sum far inside BIGINT.
MAX_AMOUNT = 10**15
MAX_LINES = 200
GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class Line:
    """One leg of an entry. ``account`` is an account code or id until the service resolves it."""

    account: str
    side: str
    amount: int


def validate_lines(lines: Iterable[Line | tuple[str, str, int]]) -> list[Line]:
    """At least two legs, whole positive fen, known sides, Σ debits = Σ credits, no account on both sides."""
    out: list[Line] = []
    for i, raw in enumerate(lines):
        line = raw if isinstance(raw, Line) else Line(*raw)
        if not isinstance(line.account, str) or not line.account:
            raise ValidationFailed.at(["lines", i, "account"], "an account code or id is required")
        if line.side not in SIDES:
            raise ValidationFailed.at(["lines", i, "side"], "side must be debit or credit")
        # bool is an int in Python; money never is.
        if isinstance(line.amount, bool) or not isinstance(line.amount, int):
            raise ValidationFailed.at(["lines", i, "amount"], "amount must be whole fen (an integer)")
        if not 0 < line.amount <= MAX_AMOUNT:
            raise ValidationFailed.at(["lines", i, "amount"], f"amount must be between 1 and {MAX_AMOUNT} fen")
        out.append(line)
    if len(out) < 2:
        raise ValidationFailed.at(["lines"], "an entry needs at least two lines")
    if len(out) > MAX_LINES:
        raise ValidationFailed.at(["lines"], f"an entry has at most {MAX_LINES} lines")
    debits = sum(x.amount for x in out if x.side == DEBIT)
    credits = sum(x.amount for x in out if x.side == CREDIT)
    if debits != credits:
        raise ValidationFailed.at(["lines"], f"the entry does not balance: debits {debits} ≠ credits {credits}")
    both = {x.account for x in out if x.side == DEBIT} & {x.account for x in out if x.side == CREDIT}
    if both:
        raise ValidationFailed.at(["lines"], f"account {sorted(both)[0]} is on both sides of the entry")
    return out


def signed_balance(normal_side: str, debits: int, credits: int) -> int:
    """The balance as the account's owner reads it: positive on its normal side."""
    return debits - credits if normal_side == DEBIT else credits - debits


def violates_limit(limit_rule: str, normal_side: str, debits: int, credits: int) -> bool:
    return limit_rule == "no_negative" and signed_balance(normal_side, debits, credits) < 0


PHASES = ("posted", "pending", "post_pending", "void_pending")


def available(normal_side: str, debits: int, credits: int, debits_pending: int, credits_pending: int) -> int:
    """What may still be spent: the posted balance less pending amounts against the normal side (reserved
    outflows); pending inflows do not count until posted."""
    if normal_side == DEBIT:
        return signed_balance(normal_side, debits, credits + credits_pending)
    return signed_balance(normal_side, debits + debits_pending, credits)


def mirror(lines: Sequence[Line]) -> list[Line]:
    """The lines that undo ``lines``: same accounts and amounts, sides swapped."""
    return [Line(x.account, CREDIT if x.side == DEBIT else DEBIT, x.amount) for x in lines]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def entry_digest(entry: dict[str, Any], postings: Sequence[dict[str, Any]]) -> str:
    """sha256 over the canonical JSON of the entry (without its seq) and its postings (in line order)."""
    body = {k: v for k, v in entry.items() if k != "seq"}
    return fingerprint({"entry": body, "postings": sorted(postings, key=lambda p: p["line_no"])})


def chain_link(prev_hash: str, seq: int, digest: str) -> str:
    """The entry's hash: sha256 of ``{prev_hash}:{seq}:{digest}``. Simple on purpose, so PostgreSQL computes the
    same link inside the append statement (``encode(sha256(...), 'hex')``) while it holds the chain head."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{digest}".encode()).hexdigest()


def entry_hash(entry: dict[str, Any], postings: Sequence[dict[str, Any]], prev_hash: str) -> str:
    """The link over the entry, its postings and the previous hash (``entry["seq"]`` is its place)."""
    return chain_link(prev_hash, int(entry["seq"]), entry_digest(entry, postings))


# --- The chart of accounts other packages post through -------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    name: str
    type: str
    limit_rule: str = "none"
    owner_org_id: str | None = None

    @property
    def normal_side(self) -> str:
        return NORMAL_SIDE_OF_TYPE[self.type]


class Chart:
    """Account codes of a fund programme. Codes are stable strings, so callers never store account ids."""

    @staticmethod
    def cash(program_id: str) -> str:
        return f"fund:{program_id}:cash"

    @staticmethod
    def capital(program_id: str) -> str:
        return f"fund:{program_id}:capital"

    @staticmethod
    def bank_deposit(program_id: str, bank_org_id: str) -> str:
        return f"bank:{bank_org_id}:deposit:{program_id}"

    @staticmethod
    def compensation_expense(program_id: str) -> str:
        return f"fund:{program_id}:compensation_expense"

    @staticmethod
    def recoveries(program_id: str) -> str:
        return f"fund:{program_id}:recoveries"

    @staticmethod
    def subsidy_budget(program_id: str) -> str:
        return f"fund:{program_id}:subsidy_budget"

    @staticmethod
    def subsidy_expense(program_id: str) -> str:
        return f"fund:{program_id}:subsidy_expense"

    @staticmethod
    def fee_income(program_id: str) -> str:
        return f"fund:{program_id}:fee_income"

    @staticmethod
    def fee_expense(program_id: str) -> str:
        return f"fund:{program_id}:fee_expense"


def program_accounts(program_id: str, owner_org_id: str | None = None) -> list[AccountSpec]:
    """The standard accounts of one programme (bank deposits are added per agreement)."""
    c = Chart
    return [
        AccountSpec(c.cash(program_id), "Fund cash", "asset", "no_negative", owner_org_id),
        AccountSpec(c.capital(program_id), "Fund capital", "equity", "none", owner_org_id),
        AccountSpec(c.compensation_expense(program_id), "Compensation paid", "expense", "none", owner_org_id),
        AccountSpec(c.recoveries(program_id), "Recoveries received", "income", "none", owner_org_id),
        AccountSpec(c.subsidy_budget(program_id), "Subsidy budget (earmarked cash)", "asset", "no_negative",
                    owner_org_id),
        AccountSpec(c.subsidy_expense(program_id), "Subsidies paid", "expense", "none", owner_org_id),
        AccountSpec(c.fee_income(program_id), "Fee income", "income", "none", owner_org_id),
        AccountSpec(c.fee_expense(program_id), "Fees paid", "expense", "none", owner_org_id),
    ]


def bank_deposit_account(program_id: str, bank_org_id: str) -> AccountSpec:
    """The fund's money placed at a cooperating bank under an agreement (the base of its quota)."""
    return AccountSpec(Chart.bank_deposit(program_id, bank_org_id), "Deposit at cooperating bank", "asset",
                       "no_negative", bank_org_id)


class Recipes:
    """The lines of each money movement of the fund. Pass them to ``service.post``."""

    @staticmethod
    def capital_in(program_id: str, amount: int) -> list[Line]:
        return [Line(Chart.cash(program_id), DEBIT, amount), Line(Chart.capital(program_id), CREDIT, amount)]

    @staticmethod
    def deposit_to_bank(program_id: str, bank_org_id: str, amount: int) -> list[Line]:
        return [Line(Chart.bank_deposit(program_id, bank_org_id), DEBIT, amount),
                Line(Chart.cash(program_id), CREDIT, amount)]

    @staticmethod
    def deposit_returned(program_id: str, bank_org_id: str, amount: int) -> list[Line]:
        return mirror(Recipes.deposit_to_bank(program_id, bank_org_id, amount))

    @staticmethod
    def compensation(program_id: str, amount: int, from_bank_org_id: str | None = None) -> list[Line]:
        """Compensation paid out of the fund's cash, or out of its deposit at the lending bank."""
        source = Chart.bank_deposit(program_id, from_bank_org_id) if from_bank_org_id else Chart.cash(program_id)
        return [Line(Chart.compensation_expense(program_id), DEBIT, amount), Line(source, CREDIT, amount)]

    @staticmethod
    def recovery(program_id: str, amount: int) -> list[Line]:
        return [Line(Chart.cash(program_id), DEBIT, amount), Line(Chart.recoveries(program_id), CREDIT, amount)]

    @staticmethod
    def subsidy_funding(program_id: str, amount: int) -> list[Line]:
        """Earmark cash for subsidies."""
        return [Line(Chart.subsidy_budget(program_id), DEBIT, amount), Line(Chart.cash(program_id), CREDIT, amount)]

    @staticmethod
    def subsidy_payout(program_id: str, amount: int) -> list[Line]:
        return [Line(Chart.subsidy_expense(program_id), DEBIT, amount),
                Line(Chart.subsidy_budget(program_id), CREDIT, amount)]

    @staticmethod
    def fee_received(program_id: str, amount: int) -> list[Line]:
        return [Line(Chart.cash(program_id), DEBIT, amount), Line(Chart.fee_income(program_id), CREDIT, amount)]

    @staticmethod
    def fee_paid(program_id: str, amount: int) -> list[Line]:
        return [Line(Chart.fee_expense(program_id), DEBIT, amount), Line(Chart.cash(program_id), CREDIT, amount)]
