"""Allocation of a repayment: penalty → interest → principal, oldest instalment first.

Each instalment is settled component by component before the next one is touched (the order of
Chinese bank contracts: 先罚息、再利息、后本金, and of Fineract's default strategy). What is left once
every instalment offered is settled is returned as ``unapplied``; the service treats it as an early
repayment of principal (see ``schedule.reamortise``).

Invariant kept by construction: for every instalment and component, paid + outstanding = due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

COMPONENTS = ("penalty", "interest", "principal")


@dataclass(frozen=True, slots=True)
class InstalmentDue:
    """What one instalment owes and what has been paid against it, per component (fen)."""

    n: int
    due_on: date
    principal_due: int
    interest_due: int
    penalty_due: int = 0
    principal_paid: int = 0
    interest_paid: int = 0
    penalty_paid: int = 0

    def __post_init__(self) -> None:
        for c in COMPONENTS:
            due, paid = getattr(self, f"{c}_due"), getattr(self, f"{c}_paid")
            if due < 0 or paid < 0 or paid > due:
                raise ValueError(f"instalment {self.n}: {c} paid {paid} of {due} is impossible")

    def outstanding_of(self, component: str) -> int:
        return getattr(self, f"{component}_due") - getattr(self, f"{component}_paid")

    @property
    def due(self) -> int:
        return self.principal_due + self.interest_due + self.penalty_due

    @property
    def paid(self) -> int:
        return self.principal_paid + self.interest_paid + self.penalty_paid

    @property
    def outstanding(self) -> int:
        return self.due - self.paid

    @property
    def settled(self) -> bool:
        return self.outstanding == 0

    def with_penalty(self, penalty_due: int) -> InstalmentDue:
        """The same instalment with its charged penalty raised to ``penalty_due``."""
        if penalty_due < self.penalty_due:
            raise ValueError("a charged penalty is never reduced here (waivers are their own entry)")
        return replace(self, penalty_due=penalty_due)


@dataclass(frozen=True, slots=True)
class Allocation:
    n: int
    penalty: int = 0
    interest: int = 0
    principal: int = 0

    @property
    def total(self) -> int:
        return self.penalty + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    unapplied: int

    @property
    def applied(self) -> int:
        return sum(a.total for a in self.allocations)

    def for_instalment(self, n: int) -> Allocation:
        return next((a for a in self.allocations if a.n == n), Allocation(n))


def _oldest_first(instalments: Iterable[InstalmentDue]) -> list[InstalmentDue]:
    return sorted(instalments, key=lambda i: (i.due_on, i.n))


def allocate(amount: int, instalments: Iterable[InstalmentDue], *, as_of: date | None = None) -> AllocationResult:
    """Spread ``amount`` fen over the instalments, oldest first, penalty → interest → principal.

    With ``as_of``, only instalments due on or before that date take money; anything beyond them is
    ``unapplied`` (an early repayment, for the caller to apply to principal). Without it, every
    instalment given is eligible.
    """
    if amount < 0:
        raise ValueError("a repayment must not be negative")
    left = amount
    allocations: list[Allocation] = []
    for item in _oldest_first(instalments):
        if left == 0:
            break
        if as_of is not None and item.due_on > as_of:
            continue
        parts: dict[str, int] = {}
        for component in COMPONENTS:
            take = min(left, item.outstanding_of(component))
            parts[component] = take
            left -= take
        if any(parts.values()):
            allocations.append(Allocation(item.n, **parts))
    return AllocationResult(tuple(allocations), left)


def apply(instalments: Sequence[InstalmentDue], result: AllocationResult) -> list[InstalmentDue]:
    """The instalments after the allocation is paid (same order as given)."""
    by_n = {a.n: a for a in result.allocations}
    updated = []
    for item in instalments:
        a = by_n.get(item.n)
        if a is None:
            updated.append(item)
            continue
        updated.append(replace(item, penalty_paid=item.penalty_paid + a.penalty,
                               interest_paid=item.interest_paid + a.interest,
                               principal_paid=item.principal_paid + a.principal))
    return updated


def outstanding_principal(instalments: Iterable[InstalmentDue]) -> int:
    return sum(i.outstanding_of("principal") for i in instalments)
