"""A Hypothesis state machine: random sequences of programmes, agreements, covers, loan updates, claims,
approvals, recoveries, capital top-ups and reversals, and day-ends, against a small in-memory model of
the fund's cash and claims. After every step the ledger must verify (every entry balances, cached
balances equal postings, the chain holds), cash must equal the model's and never be negative, and no
bank's covered outstanding principal may exceed its quota.

It runs on its own SQLite file with its own engine and event loop (the suite's loop is not re-entrant).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import col, select

from accounts.models import Org
from finance.fund import agreements as fund_agreements
from finance.fund import books
from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund import programmes as fund_programmes
from finance.fund import recovery as fund_recovery
from finance.fund.models import CompensationClaim, FundAgreement, FundCover
from finance.fund.schemas import AgreementIn, ProgramIn
from finance.ledger import service as ledger
from finance.ledger.models import LedgerEntry
from kernel import outbox
from kernel.db import make_engine, make_session_factory, metadata
from kernel.errors import AlreadyExists, LimitExceeded
from tests.finance.fund.helpers import WAN, actor, claim_request, cover_request
from tests.helpers import Party as OrgUser
from tests.helpers import credit_code

CLASSIFICATIONS = ("normal", "special_mention", "substandard", "doubtful", "loss")
tenths_of_wan = st.integers(1, 3000).map(lambda n: n * WAN // 10)


@dataclass
class ProgramModel:
    id: str
    cash: int
    queue: bool
    agreements: set[str] = field(default_factory=set)
    reversed: set[str] = field(default_factory=set)
    queued: list[str] = field(default_factory=list)  # claim ids, in the order they were queued


@dataclass
class ClaimModel:
    id: str
    program_id: str
    fund_amount: int
    paid: dict[str, int]
    status: str = "pending"
    recovered: dict[str, int] = field(default_factory=dict)


class FundMachine(RuleBasedStateMachine):
    programs = Bundle("programs")
    covers = Bundle("covers")
    claims = Bundle("claims")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory(prefix="ipm-fund-sm-")
        self.engine = make_engine(f"sqlite+aiosqlite:///{Path(self.dir.name) / 'sm.db'}")
        self.factory = make_session_factory(self.engine)
        self.model: dict[str, ProgramModel] = {}
        self.claim_model: dict[str, ClaimModel] = {}
        self.run(self._setup())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _setup(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with self.factory() as s:
            self.orgs: dict[str, OrgUser] = {}
            for name, kind in (("fund", "fund"), ("bank0", "bank"), ("bank1", "bank"), ("sme", "sme"),
                               ("guarantor", "guarantor")):
                org = Org(name=name, kind=kind, credit_code=credit_code())
                s.add(org)
                self.orgs[name] = OrgUser(org.id, f"usr_{name}", f"{name}@x.cn", "-", kind)
            await s.commit()

    async def tx(self, fn: Any, *args: Any, **kw: Any) -> Any:
        async with self.factory() as s:
            result = await fn(s, *args, **kw)
            await s.commit()
            if await outbox.run_now(self.factory, outbox.take_now(s)) and isinstance(result, CompensationClaim):
                await s.refresh(result)  # as it stands once the payouts it asked for have landed
            return result

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()
        self.dir.cleanup()

    # --- programmes and money in ---

    def _program(self, capital: int, fund_bps: int, guarantor_bps: int, queue: bool) -> str:
        data = ProgramIn(name="p", capital=capital, shares_bps={"fund": fund_bps, "guarantor": guarantor_bps},
                         leverage_max=10, npl_pause_bps=2000, insufficient_cash="queue" if queue else "refuse")
        program = self.run(self.tx(fund_programmes.create_program, actor(self.orgs["fund"]), data))
        self.model[program.id] = ProgramModel(program.id, capital, queue)
        return program.id

    @initialize(target=programs)
    def first_program(self) -> str:
        return self._program(500 * WAN, 5000, 0, False)

    @rule(target=programs, capital=tenths_of_wan, fund_bps=st.sampled_from([2000, 4000, 5000, 5400]),
          guarantor_bps=st.sampled_from([0, 2600]), queue=st.booleans())
    def create_program(self, capital: int, fund_bps: int, guarantor_bps: int, queue: bool) -> str:
        return self._program(capital, fund_bps, guarantor_bps, queue)

    @rule(program=programs, amount=tenths_of_wan)
    def top_up(self, program: str, amount: int) -> None:
        self.run(self.tx(fund_programmes.add_capital, actor(self.orgs["fund"]), program, amount))
        self.model[program].cash += amount

    @rule(program=programs, data=st.data())
    def reverse_capital(self, program: str, data: st.DataObject) -> None:
        m = self.model[program]

        async def entries() -> list[tuple[str, int]]:
            async with self.factory() as s:
                rows = (await s.exec(select(LedgerEntry.id).where(
                    LedgerEntry.kind == "fund.capital", LedgerEntry.object_id == program)
                    .order_by(col(LedgerEntry.created_at), col(LedgerEntry.id)))).all()
                return [(r, await books.capital_amount(s, program, r)) for r in rows]

        candidates = [(e, a) for e, a in self.run(entries()) if e not in m.reversed]
        if not candidates:
            return
        entry_id, amount = data.draw(st.sampled_from(candidates))
        try:
            self.run(self.tx(fund_programmes.reverse_capital, actor(self.orgs["fund"]), program, entry_id, "entered twice"))
        except LimitExceeded:
            assert m.cash < amount, "a reversal the cash could bear was refused"
            return
        assert m.cash >= amount, "a reversal overdrew the cash"
        m.cash -= amount
        m.reversed.add(entry_id)

    @rule(program=programs, bank=st.sampled_from(["bank0", "bank1"]), deposit=tenths_of_wan)
    def agree(self, program: str, bank: str, deposit: int) -> None:
        m = self.model[program]
        data = AgreementIn(bank_org_id=self.orgs[bank].org_id, deposit=deposit, leverage=5)
        try:
            self.run(self.tx(fund_agreements.create_agreement, actor(self.orgs["fund"]), program, data))
        except AlreadyExists:
            assert bank in m.agreements
            return
        except LimitExceeded as exc:
            assert exc.extra["rule"] == "cash" and deposit > m.cash and bank not in m.agreements
            return
        assert bank not in m.agreements and deposit <= m.cash
        m.agreements.add(bank)
        m.cash -= deposit

    # --- loans ---

    @rule(target=covers, program=programs, bank=st.sampled_from(["bank0", "bank1"]), principal=tenths_of_wan,
          guaranteed=st.booleans())
    def cover(self, program: str, bank: str, principal: int, guaranteed: bool) -> Any:
        req = cover_request(self.orgs[bank], self.orgs["sme"], principal,
                            guarantor=self.orgs["guarantor"] if guaranteed else None)
        try:
            self.run(self.tx(fund_cover.request_cover, actor(self.orgs[bank]), program, req))
        except LimitExceeded as exc:
            rule_name = exc.extra["rule"]
            assert rule_name in ("agreement", "quota", "npl_pause")
            assert (rule_name == "agreement") == (bank not in self.model[program].agreements)
            return multiple()
        assert bank in self.model[program].agreements
        return req

    @rule(req=covers, percent=st.integers(0, 100), classification=st.sampled_from(CLASSIFICATIONS))
    def update_loan(self, req: Any, percent: int, classification: str) -> None:
        self.run(self.tx(fund_cover.update_loan, req.loan_id, outstanding_principal=req.principal * percent // 100,
                         classification=classification,
                         status="active" if classification == "normal" else "overdue"))

    @rule(target=claims, req=consumes(covers), percent=st.integers(1, 100))
    def open_claim(self, req: Any, percent: int) -> str:
        loss = max(1, req.principal * percent // 100)
        claim = self.run(self.tx(fund_claims.open_claim, actor(self.orgs["bank0"] if req.bank_org_id ==
                                                           self.orgs["bank0"].org_id else self.orgs["bank1"]),
                                 claim_request(req, loss)))
        parts = {s["party"]: s["amount"] for s in claim.shares}
        assert sum(parts.values()) == loss and all(v >= 0 for v in parts.values())
        assert claim.fund_amount == parts["fund"]
        assert claim.program_id is not None
        self.claim_model[claim.id] = ClaimModel(claim.id, claim.program_id, claim.fund_amount, parts)
        return claim.id

    @rule(claim_id=claims)
    def approve(self, claim_id: str) -> None:
        c = self.claim_model[claim_id]
        m = self.model[c.program_id]
        try:
            claim = self.run(self.tx(fund_claims.approve_claim, actor(self.orgs["fund"]), claim_id))
        except LimitExceeded:
            assert not m.queue and c.status == "pending" and m.cash < c.fund_amount
            return
        if c.status == "paid":
            assert claim.status == "paid"
        elif m.queue and (m.cash < c.fund_amount or
                          (m.queued.index(claim_id) if claim_id in m.queued else len(m.queued)) > 0):
            assert claim.status == "queued"
            if c.status == "pending":
                m.queued.append(claim_id)
            c.status = "queued"
        else:
            assert claim.status == "paid", (claim.status, m.cash, c.fund_amount)
            m.cash -= c.fund_amount
            c.status = "paid"
            if claim_id in m.queued:
                m.queued.remove(claim_id)

    @rule(claim_id=claims, proceeds=tenths_of_wan)
    def recover(self, claim_id: str, proceeds: int) -> None:
        c = self.claim_model[claim_id]
        loan_id = self.run(self._loan_of(claim_id))
        rows = self.run(self.tx(fund_recovery.distribute_recovery, actor(self.orgs["bank0"]), loan_id, proceeds,
                                self.orgs["sme"].org_id, f"rec:{claim_id}:{len(c.recovered)}:{proceeds}"))
        assert sum(r.amount for r in rows) == proceeds
        if any(r.party == "borrower" for r in rows):
            to_bearers = sum(r.amount for r in rows if r.party != "borrower")
            assert sum(c.recovered.values()) + to_bearers == sum(c.paid.values()), \
                "a surplus went to the borrower before the bearers were whole"
        for r in rows:
            if r.party == "borrower":
                continue
            c.recovered[r.party] = c.recovered.get(r.party, 0) + r.amount
            assert c.recovered[r.party] <= c.paid[r.party]
            if r.party == "fund":
                self.model[c.program_id].cash += r.amount

    async def _loan_of(self, claim_id: str) -> str:
        async with self.factory() as s:
            claim = await s.get(CompensationClaim, claim_id)
            return claim.loan_id

    @precondition(lambda self: any(m.queued for m in self.model.values()))
    @rule()
    def day_end(self) -> None:
        self.run(self.tx(fund_claims.pay_queued_claims, self.run(self._today())))
        for m in self.model.values():
            while m.queued and self.claim_model[m.queued[0]].fund_amount <= m.cash:
                c = self.claim_model[m.queued.pop(0)]
                m.cash -= c.fund_amount
                c.status = "paid"

    async def _today(self) -> Any:
        from kernel.clock import business_date
        async with self.factory() as s:
            return await business_date(s)

    # --- invariants ---

    @invariant()
    def ledger_holds_and_cash_matches(self) -> None:
        async def check() -> None:
            async with self.factory() as s:
                report = await ledger.verify(s)
                assert report["balanced"] is True, report
                for m in self.model.values():
                    cash = await books.cash(s, m.id)
                    assert cash == m.cash >= 0, (cash, m.cash)
                for c in self.claim_model.values():
                    claim = await s.get(CompensationClaim, c.id)
                    assert claim.status == c.status, (claim.status, c.status)
                quota_use = (await s.exec(
                    select(FundAgreement.deposit * FundAgreement.leverage, sa.func.coalesce(sa.func.sum(
                        FundCover.covered_outstanding), 0))
                    .join(FundCover, sa.and_(col(FundCover.agreement_id) == col(FundAgreement.id),
                                             col(FundCover.status) == "active"), isouter=True)
                    .group_by(col(FundAgreement.id), col(FundAgreement.deposit), col(FundAgreement.leverage)))).all()
                assert all(used <= quota for quota, used in quota_use)

        if self.model:
            self.run(check())


def test_fund_state_machine() -> None:
    run_state_machine_as_test(FundMachine, settings=settings(
        max_examples=15, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
