"""A Hypothesis state machine: random sequences of fund money movements against the real service and database.

Each step runs the async service on a dedicated event loop in a thread, with its own engine on the test
database (SQLite file or PostgreSQL), so every posting, lock, limit and replay goes through the real DB path.
A plain dict of balances is the model; after every step the ledger must agree with it and prove itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule
from sqlmodel import select

from finance.ledger import service
from finance.ledger.core import (
    AccountSpec,
    Chart,
    Line,
    Recipes,
    mirror,
    program_accounts,
    signed_balance,
)
from finance.ledger.models import LedgerEntry
from kernel.actor import SYSTEM
from kernel.db import make_engine, make_session_factory
from kernel.errors import IdempotencyConflict, InvalidState, LimitExceeded

PROGRAMS = ("pa", "pb")
BANKS = ("b1", "b2")
IS_POSTGRES = os.environ["IPM_DATABASE_URL"].startswith("postgresql")


class _Runner:
    """One event loop in a thread, with an engine of its own, for the machine's synchronous steps."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.engine = make_engine(os.environ["IPM_DATABASE_URL"])
        self.factory = make_session_factory(self.engine)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


_runner: _Runner | None = None


def runner() -> _Runner:
    global _runner
    if _runner is None:
        _runner = _Runner()
    return _runner


async def _reset() -> None:
    async with runner().engine.begin() as conn:
        if IS_POSTGRES:  # TRUNCATE fires no row triggers
            await conn.execute(sa.text("TRUNCATE ledger_postings, ledger_entries, ledger_chain_head, ledger_accounts"))
        else:
            for table in ("ledger_postings", "ledger_entries", "ledger_chain_head", "ledger_accounts"):
                await conn.execute(sa.text(f"DELETE FROM {table}"))


@dataclass(frozen=True)
class Posted:
    key: str
    entry_id: str
    lines: tuple[Line, ...]
    kind: str
    is_reversal: bool


amounts = st.integers(min_value=1, max_value=2_000_000)
programs = st.sampled_from(PROGRAMS)
banks = st.sampled_from(BANKS)


class LedgerMachine(RuleBasedStateMachine):
    posted = Bundle("posted")

    def __init__(self) -> None:
        super().__init__()
        self.keys = itertools.count(1)
        self.model: dict[str, int] = defaultdict(int)  # code -> balance on its normal side
        self.normal: dict[str, str] = {}
        self.limited: set[str] = set()
        self.reversed: set[str] = set()
        self.entries = 0

    @initialize()
    def open_accounts(self) -> None:
        specs: list[AccountSpec] = []
        for p in PROGRAMS:
            specs += program_accounts(p)
            # Deposit accounts without an owner org: the machine has no organisations.
            specs += [AccountSpec(Chart.bank_deposit(p, b), "Deposit", "asset", "no_negative") for b in BANKS]

        async def go() -> None:
            await _reset()
            async with runner().factory() as s:
                await service.ensure_accounts(s, specs)
                await s.commit()

        runner().run(go())
        for spec in specs:
            self.normal[spec.code] = spec.normal_side
            if spec.limit_rule == "no_negative":
                self.limited.add(spec.code)

    def teardown(self) -> None:
        runner().run(_reset())

    # --- the model ---

    def _delta(self, lines: tuple[Line, ...]) -> dict[str, int]:
        delta: dict[str, int] = defaultdict(int)
        for x in lines:
            d, c = (x.amount, 0) if x.side == "debit" else (0, x.amount)
            delta[x.account] += signed_balance(self.normal[x.account], d, c)
        return delta

    def _would_overdraw(self, lines: tuple[Line, ...]) -> bool:
        return any(code in self.limited and self.model[code] + d < 0 for code, d in self._delta(lines).items())

    def _apply(self, lines: tuple[Line, ...]) -> None:
        for code, d in self._delta(lines).items():
            self.model[code] += d
        self.entries += 1

    # --- driving the service ---

    def _post(self, lines: list[Line], kind: str) -> Posted | Any:
        key, frozen = f"k{next(self.keys)}", tuple(lines)

        async def go() -> str:
            async with runner().factory() as s:
                entry = await service.post(s, SYSTEM, idempotency_key=key, lines=lines, description=kind, kind=kind)
                await s.commit()
                return entry.id

        if self._would_overdraw(frozen):
            try:
                runner().run(go())
            except LimitExceeded:
                return multiple()
            raise AssertionError(f"{kind} should have been refused: it overdraws")
        entry_id = runner().run(go())
        self._apply(frozen)
        return Posted(key, entry_id, frozen, kind, False)

    @rule(target=posted, program=programs, amount=amounts)
    def capital_in(self, program: str, amount: int) -> Any:
        return self._post(Recipes.capital_in(program, amount), "capital_in")

    @rule(target=posted, program=programs, bank=banks, amount=amounts)
    def deposit_at_bank(self, program: str, bank: str, amount: int) -> Any:
        return self._post(Recipes.deposit_to_bank(program, bank, amount), "deposit")

    @rule(target=posted, program=programs, bank=banks, amount=amounts)
    def deposit_returned(self, program: str, bank: str, amount: int) -> Any:
        return self._post(Recipes.deposit_returned(program, bank, amount), "deposit_returned")

    @rule(target=posted, program=programs, amount=amounts, bank=st.none() | banks)
    def compensation(self, program: str, amount: int, bank: str | None) -> Any:
        return self._post(Recipes.compensation(program, amount, bank), "compensation")

    @rule(target=posted, program=programs, amount=amounts)
    def recovery(self, program: str, amount: int) -> Any:
        return self._post(Recipes.recovery(program, amount), "recovery")

    @rule(target=posted, program=programs, amount=amounts, pay=st.booleans())
    def subsidy(self, program: str, amount: int, pay: bool) -> Any:
        lines = Recipes.subsidy_payout(program, amount) if pay else Recipes.subsidy_funding(program, amount)
        return self._post(lines, "subsidy")

    @rule(target=posted, program=programs, amount=amounts, received=st.booleans())
    def fee(self, program: str, amount: int, received: bool) -> Any:
        return self._post(Recipes.fee_received(program, amount) if received else Recipes.fee_paid(program, amount),
                          "fee")

    @rule(program=programs, extra=st.integers(min_value=1, max_value=1000))
    def overdraw_cash(self, program: str, extra: int) -> None:
        """Compensation of more than the cash there is: always refused, nothing changes."""
        lines = Recipes.compensation(program, self.model[Chart.cash(program)] + extra)

        async def go() -> None:
            async with runner().factory() as s:
                await service.post(s, SYSTEM, idempotency_key=f"k{next(self.keys)}", lines=lines,
                                   description="overdraw", kind="compensation")

        try:
            runner().run(go())
        except LimitExceeded as exc:
            assert exc.extra["account_code"] == Chart.cash(program)
            return
        raise AssertionError("compensation beyond the cash was paid")

    @rule(target=posted, original=posted)
    def reverse(self, original: Posted) -> Any:
        key = f"k{next(self.keys)}"

        async def go() -> str:
            async with runner().factory() as s:
                entry = await service.reverse(s, SYSTEM, original.entry_id, key, "correction")
                await s.commit()
                return entry.id

        mirrored = tuple(mirror(original.lines))
        if original.is_reversal or original.entry_id in self.reversed:
            try:
                runner().run(go())
            except InvalidState:
                return multiple()
            raise AssertionError("a second reversal (or a reversal of a reversal) was accepted")
        if self._would_overdraw(mirrored):
            try:
                runner().run(go())
            except LimitExceeded:
                return multiple()
            raise AssertionError("a reversal that overdraws was accepted")
        entry_id = runner().run(go())
        self.reversed.add(original.entry_id)
        self._apply(mirrored)
        return Posted(key, entry_id, mirrored, "reversal", True)

    @rule(original=posted)
    def replay(self, original: Posted) -> None:
        """The same key and content again returns the original entry and changes nothing."""
        if original.is_reversal:
            return

        async def go() -> str:
            async with runner().factory() as s:
                entry = await service.post(s, SYSTEM, idempotency_key=original.key, lines=list(original.lines),
                                           description=original.kind, kind=original.kind)
                await s.commit()
                return entry.id

        assert runner().run(go()) == original.entry_id

    @rule(original=posted, more=st.integers(min_value=1, max_value=100))
    def reuse_key_for_something_else(self, original: Posted, more: int) -> None:
        lines = [Line(x.account, x.side, x.amount + more) for x in original.lines]

        async def go() -> None:
            async with runner().factory() as s:
                await service.post(s, SYSTEM, idempotency_key=original.key, lines=lines, description=original.kind,
                                   kind=original.kind)

        try:
            runner().run(go())
        except IdempotencyConflict:
            return
        raise AssertionError("a reused key with different lines was accepted")

    # --- after every step ---

    @invariant()
    def ledger_agrees_with_the_model_and_proves_itself(self) -> None:
        async def go() -> tuple[dict, list, list, int]:
            async with runner().factory() as s:
                report = await service.verify(s)
                cached = await service.balances(s)
                from_postings = await service.balances(s, as_of=date.max)
                count = (await s.exec(select(sa.func.count()).select_from(LedgerEntry))).one()
                return report, cached, from_postings, count

        if not self.normal:
            return
        report, cached, from_postings, count = runner().run(go())
        assert report["balanced"] and report["chain_intact"], report["problems"]
        assert report["entries_checked"] == count == self.entries
        assert {b.code: b.balance for b in cached} == {b.code: b.balance for b in from_postings}
        assert {b.code: b.balance for b in cached} == {code: self.model[code] for code in self.normal}
        assert all(b.balance >= 0 for b in cached if b.code in self.limited)
        assert sum(b.debits for b in cached) == sum(b.credits for b in cached)


LedgerMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=25, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])


class TestLedgerMachine(LedgerMachine.TestCase):  # type: ignore[misc, valid-type]
    pass
