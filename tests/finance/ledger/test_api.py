"""The ledger over HTTP: who may read and post, filters, pagination, and every refusal."""

from datetime import date, timedelta

import pytest

from finance.fund.models import FundProgram
from finance.ledger import service
from finance.ledger.core import Chart, Recipes
from kernel.actor import SYSTEM
from tests.finance.ledger.conftest import PROGRAM
from tests.helpers import assert_problem

CASH, CAPITAL, COMP = Chart.cash(PROGRAM), Chart.capital(PROGRAM), Chart.compensation_expense(PROGRAM)
TODAY = date(2026, 3, 2)


@pytest.fixture
async def ledger(app):
    """Capital ¥10,000.00 ten days ago, a ¥3,000.00 compensation five days ago."""
    async with app.state.session_factory() as s:
        await service.ensure_program_accounts(s, PROGRAM)
        cap = await service.post(s, SYSTEM, idempotency_key="cap", lines=Recipes.capital_in(PROGRAM, 1_000_000),
                                 description="capital", kind="capital_in", effective_date=TODAY - timedelta(days=10))
        comp = await service.post(s, SYSTEM, idempotency_key="comp", lines=Recipes.compensation(PROGRAM, 300_000),
                                  description="claim", kind="compensation", object_type="claim", object_id="clm_1",
                                  effective_date=TODAY - timedelta(days=5))
        await s.commit()
        return {"capital": cap.id, "compensation": comp.id}


async def _fund(api, app):
    """A fund that administers the test programme (the ledger is scoped to its programmes)."""
    fund = await api.org("fund")
    async with app.state.session_factory() as s:
        s.add(FundProgram(id=PROGRAM, fund_org_id=fund.org_id, name="测试计划", capital=0))
        await s.commit()
    return fund


def _manual(amount: int = 500, **kw) -> dict:
    return {"lines": [{"account": COMP, "side": "debit", "amount": amount},
                      {"account": CASH, "side": "credit", "amount": amount}],
            "description": "correct a rounding difference", **kw}


async def test_fund_and_regulator_read_the_ledger(api, client, ledger, app):
    for party in (await _fund(api, app), await api.org("regulator", role="member")):
        r = await client.get("/fund/ledger/accounts", params={"limit": 100}, headers=party.headers)
        assert r.status_code == 200, r.text
        by_code = {a["code"]: a for a in r.json()["data"]}
        assert by_code[CASH]["balance"] == 700_000 and by_code[CASH]["limit_rule"] == "no_negative"
        r = await client.get("/fund/ledger/verify", headers=party.headers)
        assert r.json()["balanced"] is True and r.json()["chain_intact"] is True
        assert r.json()["entries_checked"] == 2


async def test_others_are_forbidden(api, client, ledger):
    for party in (await api.org("bank"), await api.org("sme"), await api.admin()):
        for path in ("/fund/ledger/accounts", "/fund/ledger/entries", "/fund/ledger/balances",
                     "/fund/ledger/verify", f"/fund/ledger/entries/{ledger['capital']}"):
            assert_problem(await client.get(path, headers=party.headers), 403, "forbidden")
        r = await client.post("/fund/ledger/entries", json=_manual(), headers={**party.headers, "Idempotency-Key": "k"})
        assert_problem(r, 403, "forbidden")
    assert_problem(await client.get("/fund/ledger/verify"), 401, "not_authenticated")


async def test_entries_with_postings_filters_and_pages(api, client, ledger, app):
    fund = await _fund(api, app)
    async with app.state.session_factory() as s:
        comp_account = await service.get_account(s, COMP)
    r = await client.get("/fund/ledger/entries", params={"account_id": comp_account.id}, headers=fund.headers)
    body = r.json()
    assert [e["id"] for e in body["data"]] == [ledger["compensation"]]
    entry = body["data"][0]
    assert entry["object_id"] == "clm_1" and entry["reversed_by_entry_id"] is None
    assert [(p["account_code"], p["side"], p["amount"]) for p in entry["postings"]] == [
        (COMP, "debit", 300_000), (CASH, "credit", 300_000)]
    assert "request_hash" not in entry

    r = await client.get("/fund/ledger/entries", headers=fund.headers,
                         params={"from": str(TODAY - timedelta(days=10)), "to": str(TODAY - timedelta(days=6))})
    assert [e["id"] for e in r.json()["data"]] == [ledger["capital"]]

    page1 = (await client.get("/fund/ledger/entries", params={"limit": 1}, headers=fund.headers)).json()
    assert page1["has_more"] is True
    page2 = (await client.get("/fund/ledger/entries", params={"limit": 1, "cursor": page1["next_cursor"]},
                              headers=fund.headers)).json()
    assert page2["has_more"] is False
    assert {page1["data"][0]["id"], page2["data"][0]["id"]} == set(ledger.values())

    assert_problem(await client.get("/fund/ledger/entries", params={"from": "2026-03-02", "to": "2026-03-01"},
                                    headers=fund.headers), 422, "validation_error")
    assert_problem(await client.get("/fund/ledger/entries", params={"limit": 101}, headers=fund.headers),
                   422, "validation_error")
    assert_problem(await client.get("/fund/ledger/entries/lje_nope", headers=fund.headers), 404, "not_found")


async def test_balances_as_of(api, client, ledger, app):
    fund = await _fund(api, app)
    r = await client.get("/fund/ledger/balances", params={"as_of": str(TODAY - timedelta(days=7))},
                         headers=fund.headers)
    body = r.json()
    rows = {a["code"]: a for a in body["accounts"]}
    assert rows[CASH]["balance"] == 1_000_000 and rows[COMP]["balance"] == 0
    assert body["total_debits"] == body["total_credits"] == 1_000_000 and body["balanced"] is True
    now = (await client.get("/fund/ledger/balances", headers=fund.headers)).json()
    assert {a["code"]: a["balance"] for a in now["accounts"]}[CASH] == 700_000 and now["as_of"] is None
    assert_problem(await client.get("/fund/ledger/balances", params={"as_of": "yesterday"}, headers=fund.headers),
                   422, "validation_error")


async def test_fund_admin_posts_a_manual_adjustment_once(api, client, ledger, app):
    fund = await _fund(api, app)
    headers = {**fund.headers, "Idempotency-Key": "adj-1"}
    r = await client.post("/fund/ledger/entries", json=_manual(object_type="claim", object_id="clm_1"),
                          headers=headers)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["kind"] == "manual_adjustment" and entry["seq"] is None and entry["created_by_org_id"] == fund.org_id
    again = await client.post("/fund/ledger/entries", json=_manual(object_type="claim", object_id="clm_1"),
                              headers=headers)
    assert again.status_code == 201 and again.json()["id"] == entry["id"]
    assert_problem(await client.post("/fund/ledger/entries", json=_manual(600), headers=headers),
                   409, "idempotency_conflict")
    r = await client.get("/fund/ledger/entries", params={"kind": "manual_adjustment"}, headers=fund.headers)
    assert len(r.json()["data"]) == 1
    cash = {a["code"]: a for a in (await client.get("/fund/ledger/balances", headers=fund.headers)).json()["accounts"]}
    assert cash[CASH]["balance"] == 700_000 - 500


@pytest.mark.parametrize("body", [
    {"lines": [{"account": COMP, "side": "debit", "amount": 5}, {"account": CASH, "side": "credit", "amount": 4}],
     "description": "unbalanced"},
    {"lines": [{"account": COMP, "side": "debit", "amount": 5}], "description": "one line"},
    {"lines": [{"account": COMP, "side": "debit", "amount": 0}, {"account": CASH, "side": "credit", "amount": 0}],
     "description": "zero"},
    {"lines": [{"account": "fund:none:cash", "side": "debit", "amount": 5},
               {"account": CASH, "side": "credit", "amount": 5}], "description": "unknown account"},
    {**_manual(), "surprise": 1},
    {**_manual(), "description": ""},
    {**_manual(), "effective_date": str(TODAY + timedelta(days=1))},
    {"lines": [{"account": COMP, "side": "debit", "amount": 1.5}, {"account": CASH, "side": "credit", "amount": 1.5}],
     "description": "fractional fen"},
])
async def test_bad_manual_entries_answer_422_and_write_nothing(api, client, ledger, body, app):
    fund = await _fund(api, app)
    r = await client.post("/fund/ledger/entries", json=body, headers={**fund.headers, "Idempotency-Key": "bad"})
    assert_problem(r, 422, "validation_error")
    assert (await client.get("/fund/ledger/verify", headers=fund.headers)).json()["entries_checked"] == 2


async def test_manual_posting_refusals(api, client, ledger, app):
    fund = await _fund(api, app)
    member = await api.user(fund.org_id, "fund", role="member")
    regulator = await api.org("regulator")
    assert_problem(await client.post("/fund/ledger/entries", json=_manual(), headers=fund.headers),
                   422, "validation_error")  # no Idempotency-Key
    assert_problem(await client.post("/fund/ledger/entries", json=_manual(),
                                     headers={**member.headers, "Idempotency-Key": "m"}), 403, "forbidden")
    assert_problem(await client.post("/fund/ledger/entries", json=_manual(),
                                     headers={**regulator.headers, "Idempotency-Key": "r"}), 403, "forbidden")
    r = await client.post("/fund/ledger/entries", json=_manual(700_001), headers={**fund.headers, "Idempotency-Key": "o"})
    body = assert_problem(r, 409, "limit_exceeded")
    assert body["account_code"] == CASH and CASH in body["detail"]
    assert (await client.get("/fund/ledger/verify", headers=fund.headers)).json()["entries_checked"] == 2


async def test_reverse_over_http_once(api, client, ledger, app):
    fund = await _fund(api, app)
    # A workflow's entry is corrected by that workflow, never by a manual reversal.
    assert_problem(await client.post(f"/fund/ledger/entries/{ledger['compensation']}/reverse",
                                     json={"reason": "claim withdrawn"},
                                     headers={**fund.headers, "Idempotency-Key": "rv0"}), 409, "invalid_state")
    manual = (await client.post("/fund/ledger/entries", json=_manual(),
                                headers={**fund.headers, "Idempotency-Key": "adj"})).json()["id"]
    path = f"/fund/ledger/entries/{manual}/reverse"
    r = await client.post(path, json={"reason": "posted twice"}, headers={**fund.headers, "Idempotency-Key": "rv"})
    assert r.status_code == 201, r.text
    assert r.json()["reverses_entry_id"] == manual
    original = (await client.get(f"/fund/ledger/entries/{manual}", headers=fund.headers)).json()
    assert original["reversed_by_entry_id"] == r.json()["id"]
    assert_problem(await client.post(path, json={"reason": "again"}, headers={**fund.headers, "Idempotency-Key": "rv2"}),
                   409, "invalid_state")
    assert_problem(await client.post("/fund/ledger/entries/lje_nope/reverse", json={"reason": "x"},
                                     headers={**fund.headers, "Idempotency-Key": "rv3"}), 404, "not_found")
    assert_problem(await client.post(path, json={"reason": ""}, headers={**fund.headers, "Idempotency-Key": "rv4"}),
                   422, "validation_error")
    r = await client.get("/fund/ledger/verify", headers=fund.headers)
    assert r.json()["entries_checked"] == 4 and r.json()["balanced"] is True
