"""Four-eyes approvals through HTTP, on the fund's manual ledger entries: policy, maker ≠ checker, replay of
the maker's key, reject, expiry, an approval whose action fails, and the inbox items."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from accounts import approvals
from finance.fund.models import FundProgram
from finance.ledger import service
from finance.ledger.core import Chart, Recipes
from kernel.actor import SYSTEM, Actor
from kernel.audit import AuditEvent
from tests.helpers import assert_problem

PROGRAM = "prg_4eyes"
CASH, COMP = Chart.cash(PROGRAM), Chart.compensation_expense(PROGRAM)
TODAY = date(2026, 3, 2)


@pytest.fixture
async def fund(api, client, app):
    """A fund with ¥10,000.00 capital, its org_admin (the maker), a checker and a plain member; four-eyes on."""
    async with app.state.session_factory() as s:
        await service.ensure_program_accounts(s, PROGRAM)
        await service.post(s, SYSTEM, idempotency_key="cap", lines=Recipes.capital_in(PROGRAM, 1_000_000),
                           description="capital", kind="capital_in", effective_date=TODAY - timedelta(days=3))
        await s.commit()
    maker = await api.org("fund")
    async with app.state.session_factory() as s:  # the ledger is scoped to the programmes a fund administers
        s.add(FundProgram(id=PROGRAM, fund_org_id=maker.org_id, name="四眼计划", capital=0))
        await s.commit()
    checker = await api.user(maker.org_id, "fund", role="checker")
    member = await api.user(maker.org_id, "fund", role="member")
    r = await client.patch(f"/orgs/{maker.org_id}", json={"approval_policy": {"ledger_entries": True}},
                           headers=maker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["approval_policy"] == {"ledger_entries": True}
    return {"maker": maker, "checker": checker, "member": member}


def _entry(amount: int = 500) -> dict:
    return {"lines": [{"account": COMP, "side": "debit", "amount": amount},
                      {"account": CASH, "side": "credit", "amount": amount}], "description": "write-down"}


async def _cash(client, party) -> int:
    r = await client.get("/fund/ledger/accounts", params={"limit": 100}, headers=party.headers)
    return {a["code"]: a["balance"] for a in r.json()["data"]}[CASH]


async def _request(client, maker, key: str, amount: int = 500) -> dict:
    r = await client.post("/fund/ledger/entries", json=_entry(amount), headers={**maker.headers, "Idempotency-Key": key})
    assert r.status_code == 202, r.text
    return r.json()["approval_request"]


async def test_policy_is_set_by_the_org_admin_and_must_fit_the_kind(api, client, fund):
    assert_problem(await client.patch(f"/orgs/{fund['maker'].org_id}", json={"approval_policy": {}},
                                      headers=fund["checker"].headers), 403, "forbidden")
    bank = await api.org("bank")
    r = await client.patch(f"/orgs/{bank.org_id}", json={"approval_policy": {"ledger_entries": True}},
                           headers=bank.headers)
    assert_problem(r, 422, "validation_error")
    r = await client.patch(f"/orgs/{bank.org_id}", json={"approval_policy": {"disbursement_over": -1}},
                           headers=bank.headers)
    assert_problem(r, 422, "validation_error")
    r = await client.patch(f"/orgs/{bank.org_id}", json={"approval_policy": {"disbursement_over": 100}},
                           headers=bank.headers)
    assert r.json()["approval_policy"] == {"disbursement_over": 100}
    # Another organisation does not see the policy.
    r = await client.get(f"/orgs/{bank.org_id}", headers=fund["maker"].headers)
    assert r.json()["approval_policy"] is None


async def test_maker_checker_runs_the_entry_once_as_the_maker(api, client, fund, app):
    maker, checker, member = fund["maker"], fund["checker"], fund["member"]
    req = await _request(client, maker, "adj-1")
    assert req["status"] == "pending" and req["action"] == "ledger_entry"
    assert req["requested_by"] == maker.user_id and req["expires_on"] == str(TODAY + timedelta(days=7))
    assert req["request"]["path"] == "/api/v1/fund/ledger/entries" and req["amount"] == 500
    assert await _cash(client, maker) == 1_000_000  # nothing posted yet
    # The maker's key replays the 202: still one request.
    again = await client.post("/fund/ledger/entries", json=_entry(), headers={**maker.headers, "Idempotency-Key": "adj-1"})
    assert again.status_code == 202 and again.json()["approval_request"]["id"] == req["id"]
    listed = await client.get("/approval-requests", params={"status": "pending"}, headers=member.headers)
    assert [x["id"] for x in listed.json()["data"]] == [req["id"]]
    events = (await client.get("/events", params={"type": "approval_request.created"}, headers=checker.headers)).json()
    assert [(e["data"]["object"]["id"], e["data"]["object"]["requested_by"]) for e in events["data"]] == [
        (req["id"], maker.user_id)]

    path = f"/approval-requests/{req['id']}/approve"
    assert_problem(await client.post(path, headers=maker.headers), 403, "forbidden")  # never one's own
    assert_problem(await client.post(path, headers=member.headers), 403, "forbidden")  # not a checker
    stranger = await api.org("fund")
    assert_problem(await client.post(path, headers=stranger.headers), 404, "not_found")
    assert_problem(await client.get(f"/approval-requests/{req['id']}", headers=stranger.headers), 404, "not_found")
    assert (await client.get("/events", params={"type": "approval_request.created"},
                             headers=stranger.headers)).json()["data"] == []

    r = await client.post(path, headers=checker.headers)
    assert r.status_code == 201, r.text
    assert r.headers["Approval-Request-Id"] == req["id"]
    entry = r.json()
    assert entry["kind"] == "manual_adjustment" and entry["created_by_user_id"] == maker.user_id
    assert await _cash(client, maker) == 1_000_000 - 500
    assert_problem(await client.post(path, headers=checker.headers), 409, "invalid_state")  # runs once
    assert await _cash(client, maker) == 1_000_000 - 500

    done = (await client.get(f"/approval-requests/{req['id']}", headers=maker.headers)).json()
    assert done["status"] == "approved" and done["decided_by"] == checker.user_id
    assert done["result_status"] == 201 and done["result"]["id"] == entry["id"]
    async with app.state.session_factory() as s:
        events = (await s.exec(select(AuditEvent).where(AuditEvent.object_id == req["id"])
                               .order_by(AuditEvent.at))).all()
        assert [e.action for e in events] == ["approval_request.created", "approval_request.approve"]
        assert events[1].actor_user_id == checker.user_id and events[1].after["maker"] == maker.user_id
        posted = (await s.exec(select(AuditEvent).where(AuditEvent.object_id == entry["id"]))).one()
        assert posted.actor_user_id == maker.user_id


async def test_the_maker_key_keeps_its_meaning_after_approval(client, fund):
    """The ledger's own idempotency (the maker's key) holds: a second request under a new key with the same
    ledger key cannot post twice, and the same HTTP key never opens a second request."""
    maker, checker = fund["maker"], fund["checker"]
    first = await _request(client, maker, "adj-2")
    assert (await client.post(f"/approval-requests/{first['id']}/approve", headers=checker.headers)).status_code == 201
    r = await client.post("/fund/ledger/entries", json=_entry(), headers={**maker.headers, "Idempotency-Key": "adj-2"})
    assert r.status_code == 202 and r.json()["approval_request"]["id"] == first["id"]
    r = await client.post("/fund/ledger/entries", json=_entry(999), headers={**maker.headers, "Idempotency-Key": "adj-2"})
    assert_problem(r, 409, "idempotency_conflict")
    assert await _cash(client, maker) == 1_000_000 - 500


async def test_reject_and_expiry_change_nothing(api, client, fund, app):
    maker, checker = fund["maker"], fund["checker"]
    one = await _request(client, maker, "r-1")
    assert_problem(await client.post(f"/approval-requests/{one['id']}/reject", headers=maker.headers), 403,
                   "forbidden")
    r = await client.post(f"/approval-requests/{one['id']}/reject", json={"reason": "wrong account"},
                          headers=checker.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reason"] == "wrong account"
    assert_problem(await client.post(f"/approval-requests/{one['id']}/approve", headers=checker.headers), 409,
                   "invalid_state")

    two = await _request(client, maker, "r-2")
    await api.advance(7)  # still approvable on its expires_on day …
    await api.advance(1)  # … and expired by that day's end
    got = (await client.get(f"/approval-requests/{two['id']}", headers=checker.headers)).json()
    assert got["status"] == "expired"
    assert_problem(await client.post(f"/approval-requests/{two['id']}/approve", headers=checker.headers), 409,
                   "invalid_state")
    assert await _cash(client, maker) == 1_000_000
    async with app.state.session_factory() as s:  # every decision is audited, the expiry by the day-end
        events = (await s.exec(select(AuditEvent).where(col(AuditEvent.object_id).in_([one["id"], two["id"]]))
                               .order_by(AuditEvent.at))).all()
        assert sorted((e.object_id, e.action, e.actor_user_id) for e in events) == sorted([
            (one["id"], "approval_request.created", maker.user_id),
            (one["id"], "approval_request.reject", checker.user_id),
            (two["id"], "approval_request.created", maker.user_id),
            (two["id"], "approval_request.expire", "system")])


async def test_a_reversal_waits_for_a_checker(client, fund):
    maker, checker = fund["maker"], fund["checker"]
    first = await _request(client, maker, "adj")
    entry = (await client.post(f"/approval-requests/{first['id']}/approve", headers=checker.headers)).json()
    assert await _cash(client, maker) == 1_000_000 - 500
    r = await client.post(f"/fund/ledger/entries/{entry['id']}/reverse", json={"reason": "written down twice"},
                          headers={**maker.headers, "Idempotency-Key": "rev"})
    assert r.status_code == 202, r.text
    req = r.json()["approval_request"]
    assert (req["action"], req["object_type"], req["object_id"]) == ("ledger_reversal", "ledger_entry", entry["id"])
    assert await _cash(client, maker) == 1_000_000 - 500
    path = f"/approval-requests/{req['id']}/approve"
    assert_problem(await client.post(path, headers=maker.headers), 403, "forbidden")
    r = await client.post(path, headers=checker.headers)
    assert r.status_code == 201, r.text
    assert r.json()["reverses_entry_id"] == entry["id"] and r.json()["created_by_user_id"] == maker.user_id
    assert await _cash(client, maker) == 1_000_000
    assert_problem(await client.post(path, headers=checker.headers), 409, "invalid_state")
    assert await _cash(client, maker) == 1_000_000


async def test_an_approval_whose_action_fails_changes_nothing(client, fund):
    maker, checker = fund["maker"], fund["checker"]
    req = await _request(client, maker, "big", amount=2_000_000)  # more than the cash
    r = await client.post(f"/approval-requests/{req['id']}/approve", headers=checker.headers)
    assert_problem(r, 409, "limit_exceeded")
    still = (await client.get(f"/approval-requests/{req['id']}", headers=checker.headers)).json()
    assert still["status"] == "pending" and still["result_status"] is None
    assert await _cash(client, maker) == 1_000_000


async def test_without_a_policy_the_action_runs_at_once_and_bad_input_opens_nothing(client, fund):
    maker = fund["maker"]
    bad = {**_entry(), "lines": _entry()["lines"][:1]}
    r = await client.post("/fund/ledger/entries", json=bad, headers={**maker.headers, "Idempotency-Key": "bad"})
    assert_problem(r, 422, "validation_error")
    r = await client.post("/fund/ledger/entries", json=_entry(), headers=maker.headers)  # no key: refused first
    assert_problem(r, 422, "validation_error")
    assert (await client.get("/approval-requests", headers=maker.headers)).json()["data"] == []
    await client.patch(f"/orgs/{maker.org_id}", json={"approval_policy": None}, headers=maker.headers)
    r = await client.post("/fund/ledger/entries", json=_entry(), headers={**maker.headers, "Idempotency-Key": "now"})
    assert r.status_code == 201, r.text


async def test_pending_requests_are_in_the_checkers_inbox(client, fund, app):
    maker, checker, member = fund["maker"], fund["checker"], fund["member"]
    req = await _request(client, maker, "inbox")
    async with app.state.session_factory() as s:
        def actor(p, role):
            return Actor(user_id=p.user_id, org_id=p.org_id, org_kind="fund", role=role)

        items = await approvals.pending_for_inbox(s, actor(checker, "checker"))
        assert [i["object_id"] for i in items] == [req["id"]]
        assert items[0]["action"] == {"method": "POST", "path": f"/api/v1/approval-requests/{req['id']}/approve"}
        assert items[0]["due_on"] == TODAY + timedelta(days=7)
        assert await approvals.pending_for_inbox(s, actor(maker, "org_admin")) == []  # not one's own
        assert await approvals.pending_for_inbox(s, actor(member, "member")) == []
    # Through GET /inbox: the checker sees it (in Chinese on request); approving clears it.
    r = await client.get("/inbox", headers={**checker.headers, "Accept-Language": "zh-CN"})
    mine = [i for i in r.json()["data"] if i["kind"] == "approval.to_decide"]
    assert [i["object_id"] for i in mine] == [req["id"]] and mine[0]["title"].startswith("待您复核")
    assert mine[0]["action"] == {"method": "POST", "path": f"/approval-requests/{req['id']}/approve"}
    r = await client.get("/inbox", headers=maker.headers)
    assert not [i for i in r.json()["data"] if i["kind"] == "approval.to_decide"]
    assert (await client.post(f"/approval-requests/{req['id']}/approve", headers=checker.headers)).status_code < 300
    r = await client.get("/inbox", headers=checker.headers)
    assert not [i for i in r.json()["data"] if i["kind"] == "approval.to_decide"]


@pytest.mark.postgres
async def test_concurrent_approvals_run_the_action_once(api, client, fund, app):
    import asyncio

    import httpx

    maker, checker = fund["maker"], fund["checker"]
    other = await api.user(maker.org_id, "fund", role="org_admin")
    req = await _request(client, maker, "race")
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1")
               for _ in range(10)]
    try:
        responses = await asyncio.gather(*(c.post(f"/approval-requests/{req['id']}/approve",
                                                  headers=(checker if i % 2 else other).headers)
                                           for i, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9, [r.text for r in responses]
    assert await _cash(client, maker) == 1_000_000 - 500
    r = await client.get("/fund/ledger/entries", params={"kind": "manual_adjustment"}, headers=maker.headers)
    assert len(r.json()["data"]) == 1
