"""The ledger is scoped to the programmes a fund administers; system entries are not reversed by hand."""

from finance.ledger.core import Chart
from tests.finance.fund.helpers import agreement, program
from tests.helpers import assert_problem, table_counts


async def _entries(client, party, **params):
    r = await client.get("/fund/ledger/entries", params={"limit": 100, **params}, headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_one_fund_can_neither_read_nor_write_anothers_ledger(api, client, app):
    fund_a, fund_b, bank = await api.org("fund"), await api.org("fund"), await api.org("bank")
    regulator = await api.org("regulator", role="member")
    pa, pb = await program(api, fund_a), await program(api, fund_b)
    await agreement(api, fund_a, pa["id"], bank)
    a_entries = await _entries(client, fund_a)
    deposit = next(e for e in a_entries if e["kind"] == "fund.deposit")
    assert {e["kind"] for e in a_entries} == {"fund.capital", "fund.deposit"}

    # Reads: B sees only its own programme, never A's accounts, entries or balances.
    b_entries = await _entries(client, fund_b)
    assert [e["kind"] for e in b_entries] == ["fund.capital"]
    assert all(p["account_code"].startswith(f"fund:{pb['id']}:") for e in b_entries for p in e["postings"])
    codes = [a["code"] for a in (await client.get("/fund/ledger/accounts", params={"limit": 100},
                                                  headers=fund_b.headers)).json()["data"]]
    assert codes and all(c.startswith(f"fund:{pb['id']}:") for c in codes)
    balances = (await client.get("/fund/ledger/balances", headers=fund_b.headers)).json()
    assert {b["code"].split(":")[1] for b in balances["accounts"]} == {pb["id"]} and balances["balanced"]
    assert_problem(await client.get(f"/fund/ledger/entries/{deposit['id']}", headers=fund_b.headers),
                   404, "not_found")
    a_cash = next(a for a in (await client.get("/fund/ledger/accounts", params={"limit": 100},
                                               headers=fund_a.headers)).json()["data"]
                  if a["code"] == Chart.cash(pa["id"]))
    assert await _entries(client, fund_b, account_id=a_cash["id"]) == []

    # Writes: B posts to A's accounts, by code or id, or reverses A's entries: refused, nothing written.
    before = await table_counts(app)
    for account in (Chart.cash(pa["id"]), a_cash["id"]):
        body = {"lines": [{"account": Chart.compensation_expense(pb["id"]), "side": "debit", "amount": 100},
                          {"account": account, "side": "credit", "amount": 100}], "description": "steal"}
        r = await client.post("/fund/ledger/entries", json=body, headers={**fund_b.headers, "Idempotency-Key": account})
        assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == ["body", "lines", 1, "account"]
    assert_problem(await client.post(f"/fund/ledger/entries/{deposit['id']}/reverse", json={"reason": "x"},
                                     headers={**fund_b.headers, "Idempotency-Key": "rv"}), 404, "not_found")
    # A's own system entry (the deposit) is corrected only by its workflow, not by a manual reversal.
    assert_problem(await client.post(f"/fund/ledger/entries/{deposit['id']}/reverse", json={"reason": "x"},
                                     headers={**fund_a.headers, "Idempotency-Key": "rv"}), 409, "invalid_state")
    assert await table_counts(app) == before

    # The regulator reads everything.
    assert {e["kind"] for e in await _entries(client, regulator)} == {"fund.capital", "fund.deposit"}
    assert len(await _entries(client, regulator)) == 3
    r = await client.get(f"/fund/ledger/entries/{deposit['id']}", headers=regulator.headers)
    assert r.status_code == 200
    # A fund without a programme sees an empty ledger.
    fund_c = await api.org("fund")
    assert await _entries(client, fund_c) == []
    assert (await client.get("/fund/ledger/accounts", headers=fund_c.headers)).json()["data"] == []
