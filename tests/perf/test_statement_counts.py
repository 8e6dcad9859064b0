"""Hot HTTP paths stay within their SQL statement budgets (issue #21), and a GET takes no write lock.

Statement counts are deterministic, so they are asserted exactly against a bound; no timings here.
"""

from __future__ import annotations

from typing import Any

import pytest

import tests.finance.loans.loan_flow as lf
from tests.conftest import IS_POSTGRES
from tests.helpers import statements

READ_BUDGET = 3
ASSET_READ_TODAY = 1  # the caller's check rides in the asset's statement (api.deps.Caller)
REPAYMENT_BUDGET = 15
# Lower these as statements go. PostgreSQL writes each phase in one statement (kernel.db.flush_as_one:
# data-modifying CTEs), which SQLite has no form of; SQLite reads each phase's loan with its rows instead
# (repayments.loan_and_rows: its write lock is the database's, taken at BEGIN IMMEDIATE).
REPAYMENT_TODAY = 13 if IS_POSTGRES else 15


def _real(seen: list[str]) -> list[str]:
    """Statements that do work: not the transaction bracket SQLite's driver sends as SQL."""
    return [s for s in seen if s.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}]


async def test_asset_read_within_budget(api, client, app):
    sme = await api.org("sme")
    asset = await api.asset(sme)
    r = await client.get(f"/assets/{asset['id']}", headers=sme.headers)  # warm: the clock, the caches
    assert r.status_code == 200
    with statements(app) as seen:
        r = await client.get(f"/assets/{asset['id']}", headers=sme.headers)
    assert r.status_code == 200 and r.json()["id"] == asset["id"]
    assert len(_real(seen)) <= min(READ_BUDGET, ASSET_READ_TODAY), "\n".join(seen)


async def test_listing_search_within_budget(api, client, app):
    sme = await api.org("sme")
    for _ in range(3):
        asset = await api.asset(sme)
        r = await client.post("/listings", json={"asset_ids": [asset["id"]], "mode": "assignment",
                                                 "price": 100_000_00, "title": "储能电池专利 battery"},
                              headers=sme.headers)
        assert r.status_code == 201, r.text
    with statements(app) as seen:
        r = await client.get("/listings", params={"q": "battery"}, headers=sme.headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 3
    assert len(_real(seen)) <= READ_BUDGET, "\n".join(seen)


async def _repayment_statements(api: Any, app: Any) -> list[str]:
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    await lf.repay(api, c.sme, loan["id"], 100_00)  # warm
    with statements(app) as seen:
        out = await lf.repay(api, c.sme, loan["id"], 200_00, **{"Idempotency-Key": "budget-1"})
    assert out["loan"]["id"] == loan["id"] and out["amount"] == 200_00
    return _real(seen)


async def test_repayment_reads_the_caller_once(api, app):
    seen = await _repayment_statements(api, app)
    assert len([s for s in seen if "FROM users JOIN orgs" in s]) == 1, "\n".join(seen)


async def test_repayment_reads_the_clock_once_and_takes_no_savepoint(api, app):
    """The business date comes with the caller and holds for the whole request, the provider's settlement
    included; the payment, its event and the claim of its outbox job need no savepoint."""
    seen = await _repayment_statements(api, app)
    assert not [s for s in seen if "FROM clock_state" in s and "FROM users JOIN orgs" not in s], "\n".join(seen)
    assert not [s for s in seen if s.split(None, 1)[0].upper() in {"SAVEPOINT", "RELEASE"}], "\n".join(seen)
    # The job goes in already claimed by the request that makes the call; its "done" mark lands with the
    # settlement, in the request's own session.
    assert len([s for s in seen if "outbox_jobs" in s]) == 2, "\n".join(seen)  # enqueue (claimed), done


async def test_repayment_settles_in_the_request_and_answers_without_reading_again(api, app):
    """The provider's answer is settled in the request's own session: the payment is never read (the
    provider call uses the request's copy; the settlement moves it in one UPDATE … RETURNING), and the
    loan's instalments with its charges once per phase (locked each time: no lock is held over the
    provider call), not again for the answer."""
    seen = await _repayment_statements(api, app)
    reads = [s for s in seen if s.split(None, 1)[0].upper() == "SELECT"]
    assert not [s for s in reads if "\nFROM payments" in s], "\n".join(seen)
    assert len([s for s in seen if s.startswith("UPDATE payments")]) == 1, "\n".join(seen)
    assert len([s for s in reads if "loan_installments.n, " in s]) == 2, "\n".join(seen)
    assert len([s for s in reads if "loan_charges" in s]) == 2, "\n".join(seen)
    assert not [s for s in reads if "\nFROM loan_charges" in s], "\n".join(seen)  # with the instalments


async def test_repayment_no_worse_than_today(api, app):
    """The ratchet on the way to the budget below: 54 statements before issue #21's first pass, 34 before
    the settlement moved into the request's session, 25 before each phase read the instalments with the
    charges, the settlement wrote its audit rows in one INSERT and moved the payment in one UPDATE, and
    the loan's alerts, collateral and history came with the settlement's read; 17 before each phase's
    writes went in one statement on PostgreSQL, and on SQLite before each phase read its loan with the rows."""
    seen = await _repayment_statements(api, app)
    assert len(seen) <= REPAYMENT_TODAY, "\n".join(seen)


async def test_repayment_within_budget(api, app):
    seen = await _repayment_statements(api, app)
    assert len(seen) <= REPAYMENT_BUDGET, "\n".join(seen)


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's BEGIN IMMEDIATE is the write lock under test")
async def test_get_opens_no_write_transaction(api, client, app):
    sme = await api.org("sme")
    asset = await api.asset(sme)
    with statements(app) as seen:
        r = await client.get(f"/assets/{asset['id']}", headers=sme.headers)
        r2 = await client.get("/listings", headers=sme.headers)
    assert r.status_code == 200 and r2.status_code == 200
    assert not [s for s in seen if "IMMEDIATE" in s.upper()], seen
    assert not [s for s in seen if s.split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}], seen


def _count_begins(monkeypatch: Any) -> list[str]:
    """A list that gets one "BEGIN" for each transaction asyncpg starts from now on."""
    import asyncpg

    started: list[str] = []
    start = asyncpg.transaction.Transaction.start

    async def counting_start(self: Any) -> None:
        started.append("BEGIN")
        await start(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counting_start)
    return started


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's reads run in autocommit; SQLite's begin deferred (above)")
async def test_get_sends_no_transaction_bracket(api, client, app, monkeypatch):
    """A read's statements run in autocommit: no BEGIN, no COMMIT, while a write still has its transaction."""
    started = _count_begins(monkeypatch)
    sme = await api.org("sme")
    asset = await api.asset(sme)
    assert started, "a write begins a transaction"
    started.clear()
    with statements(app) as seen:
        r = await client.get(f"/assets/{asset['id']}", headers=sme.headers)
        r2 = await client.get("/listings", params={"q": "battery"}, headers=sme.headers)
    assert r.status_code == 200 and r2.status_code == 200
    # The caller with the asset and its history; the caller with the listings' version, then the page (a
    # first search: none is cached yet, see tests/market/test_search_pages.py).
    assert len(seen) == 3, "\n".join(seen)
    assert started == []


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL: the answer's store is a statement in autocommit")
async def test_repayment_stores_its_answer_without_a_transaction_of_its_own(api, app, monkeypatch):
    """The two phases are a transaction each; the answer kept for the Idempotency-Key is one UPDATE that
    is its own transaction (no BEGIN/COMMIT around it), and a retry with the key replays it."""
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    await lf.repay(api, c.sme, loan["id"], 100_00)  # warm
    started = _count_begins(monkeypatch)
    with statements(app) as seen:
        out = await lf.repay(api, c.sme, loan["id"], 200_00, **{"Idempotency-Key": "stored-alone"})
    assert len(started) == 2, "\n".join(seen)
    assert seen[-1].startswith("UPDATE idempotency_keys"), "\n".join(seen)
    again = await api.client.post(f"/loans/{loan['id']}/repayments", json={"amount": 200_00},
                                  headers={**c.sme.headers, "Idempotency-Key": "stored-alone"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == out
