"""Loss sharing and recovery distribution among the parties of a covered loan.

A loss is split over named parties by shares in basis points (the fund, a guarantor, an insurer, an
evaluator, a re-guarantor, the government…); one *residual* party — the bank — bears whatever the
others do not: the rest of 100%, the share of any party that is absent from the loan, and anything the
fund cannot take because of its programme's tiers and caps. Parts are rounded with largest remainders
(``kernel.money.split_largest_remainder``), so they always sum to the loss exactly; ties in rounding go
to the party listed first, then the residual.

The fund's own rules, applied in this order:

1. **tiers by loan size** (Guangzhou 2025): the loan's principal picks one tier whose share replaces
   the fund's share for the whole loss; a loan above every tier is ineligible (the fund takes 0);
2. **per-loan cap** (Guangzhou 2023, "counting at most ¥10m of each loan"): the fund's part is at most
   its share of ``min(loss, loan_cap)``;
3. **per borrower per year** and **per year in total**: the fund pays at most what is left of each cap
   given the amounts already used (``CapsUsed``).

Recoveries (disposal proceeds, later collections) go back to each party in proportion to what it paid,
never beyond it; any surplus beyond the total loss goes to the borrower.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from kernel.money import split_largest_remainder

FULL = 10_000  # 100% in basis points


@dataclass(frozen=True, slots=True)
class Tier:
    """The fund's share for loans whose principal is at most ``up_to`` fen (``None``: no bound)."""

    up_to: int | None
    share_bps: int


@dataclass(frozen=True)
class SharingRules:
    """A programme's sharing rules, with the parties of one loan.

    ``shares`` lists every party except the residual one, in bps. ``fund`` names the party the tiers
    and caps apply to (``None`` when no party is capped, as in the "4321" guarantee model).
    """

    shares: tuple[tuple[str, int], ...]
    residual: str = "bank"
    fund: str | None = "fund"
    tiers: tuple[Tier, ...] = ()
    loan_cap: int | None = None
    borrower_year_cap: int | None = None
    annual_cap: int | None = None
    min_residual_bps: int = 0

    def __post_init__(self) -> None:
        names = [name for name, _ in self.shares]
        if len(set(names)) != len(names) or self.residual in names:
            raise ValueError("party names must be unique and the residual party must not have a share")
        if any(not 0 <= bps <= FULL for _, bps in self.shares):
            raise ValueError("shares must be between 0 and 10000 bps")
        if self.fund is not None and self.fund not in names:
            raise ValueError(f"the fund party {self.fund!r} has no share")
        if self.tiers and self.fund is None:
            raise ValueError("tiers need a fund party")
        bounds = [t.up_to for t in self.tiers]
        if None in bounds[:-1] or any(a >= b for a, b in pairwise(bounds)
                                      if a is not None and b is not None):
            raise ValueError("tiers must rise by loan size, an unbounded tier last")
        if any(not 0 <= t.share_bps <= FULL for t in self.tiers):
            raise ValueError("tier shares must be between 0 and 10000 bps")
        for cap in (self.loan_cap, self.borrower_year_cap, self.annual_cap):
            if cap is not None and cap < 0:
                raise ValueError("caps must not be negative")
        if not 0 <= self.min_residual_bps <= FULL:
            raise ValueError("the residual minimum must be between 0 and 10000 bps")
        most_fund = max([t.share_bps for t in self.tiers] + [self.share_of(self.fund)]) if self.fund else 0
        others = sum(bps for name, bps in self.shares if name != self.fund)
        if FULL - others - most_fund < self.min_residual_bps:
            raise ValueError(f"the {self.residual} must keep at least {self.min_residual_bps} bps")

    def share_of(self, party: str | None) -> int:
        return next((bps for name, bps in self.shares if name == party), 0)

    def fund_share_bps(self, loan_principal: int | None) -> int | None:
        """The fund's share for a loan of this size; ``None`` when the loan is ineligible."""
        if not self.tiers:
            return self.share_of(self.fund)
        if loan_principal is None:
            raise ValueError("tiers by loan size need the loan's principal")
        for tier in self.tiers:
            if tier.up_to is None or loan_principal <= tier.up_to:
                return tier.share_bps
        return None

    @property
    def parties(self) -> tuple[str, ...]:
        return (*(name for name, _ in self.shares), self.residual)


@dataclass(frozen=True, slots=True)
class CapsUsed:
    """Compensation the fund already paid this year: to this borrower, and in total."""

    borrower_year: int = 0
    annual: int = 0


@dataclass(frozen=True)
class LossSplit:
    loss: int
    parts: dict[str, int]
    fund_uncapped: int = 0  # the fund's part before its caps (after tiers)
    limited_by: tuple[str, ...] = field(default=())  # rules that moved part of the fund's share to the bank

    def __post_init__(self) -> None:
        if sum(self.parts.values()) != self.loss:  # the one invariant every caller relies on
            raise AssertionError(f"parts {self.parts} do not sum to the loss {self.loss}")


def split_loss(loss: int, rules: SharingRules, *, loan_principal: int | None = None,
               absent: Collection[str] = (), used: CapsUsed = CapsUsed()) -> LossSplit:
    """Split ``loss`` fen among the parties of ``rules`` (see the module docstring for the order)."""
    if loss < 0:
        raise ValueError("a loss must not be negative")
    unknown = set(absent) - {name for name, _ in rules.shares}
    if unknown:
        raise ValueError(f"unknown absent parties: {sorted(unknown)}")
    limited: list[str] = []
    weights: dict[str, int] = {name: (0 if name in absent else bps) for name, bps in rules.shares}
    fund = rules.fund if rules.fund is not None and rules.fund not in absent else None
    if fund is not None:
        tier_share = rules.fund_share_bps(loan_principal)
        if tier_share is None:
            limited.append("tier_ineligible")
        weights[fund] = tier_share or 0
    weights[rules.residual] = FULL - sum(weights.values())

    names = list(weights)
    parts = dict(zip(names, split_largest_remainder(loss, list(weights.values())), strict=True))
    if fund is None:
        return LossSplit(loss, parts, 0, tuple(limited))

    uncapped = parts[fund]
    take = uncapped
    if rules.loan_cap is not None and loss > rules.loan_cap:
        # The same rounding as the split itself, applied to the loss the fund counts.
        counted = split_largest_remainder(rules.loan_cap, list(weights.values()))[names.index(fund)]
        if counted < take:
            take, limited = counted, [*limited, "loan_cap"]
    for rule, cap, already in (("borrower_year_cap", rules.borrower_year_cap, used.borrower_year),
                               ("annual_cap", rules.annual_cap, used.annual)):
        if cap is not None and take > max(cap - already, 0):
            take, limited = max(cap - already, 0), [*limited, rule]
    parts[fund] = take
    parts[rules.residual] += uncapped - take
    return LossSplit(loss, parts, uncapped, tuple(limited))


def distribute_recovery(proceeds: int, paid: Mapping[str, int], recovered: Mapping[str, int] | None = None,
                        *, surplus_to: str = "borrower") -> dict[str, int]:
    """Share ``proceeds`` back to the parties that paid the loss.

    Each party's weight is what it paid less what it has already recovered: on the first recovery
    that is exactly in proportion to what it paid, and later recoveries correct earlier rounding
    while no party ever gets back more than it paid. What exceeds the total still unrecovered goes to
    ``surplus_to`` (the borrower). The result sums to ``proceeds`` exactly.
    """
    if proceeds < 0:
        raise ValueError("proceeds must not be negative")
    recovered = recovered or {}
    if surplus_to in paid:
        raise ValueError("the surplus party cannot also be a loss bearer")
    remaining: dict[str, int] = {}
    for name, amount in paid.items():
        back = recovered.get(name, 0)
        if amount < 0 or not 0 <= back <= amount:
            raise ValueError(f"{name}: recovered {back} of {amount} paid is impossible")
        remaining[name] = amount - back
    to_parties = min(proceeds, sum(remaining.values()))
    shares = split_largest_remainder(to_parties, list(remaining.values()))
    result = dict(zip(remaining, shares, strict=True))
    if proceeds > to_parties:
        result[surplus_to] = proceeds - to_parties
    return result


def final_loss(paid: Mapping[str, int], recovered: Mapping[str, int]) -> dict[str, int]:
    """Each party's loss after recoveries (for a write-off)."""
    return {name: amount - recovered.get(name, 0) for name, amount in paid.items()}

