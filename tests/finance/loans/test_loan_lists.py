"""GET /loans, /guarantees, /insurance-policies as each party sees them, and a page of 100 in a fixed
number of queries."""

from __future__ import annotations

import sqlalchemy as sa

from accounts.models import Org
from bench.loan_lists import book, insert_book
from tests.finance.fund import helpers as fh
from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def _ids(client, party, path="/loans", **params):
    r = await client.get(path, params=params, headers=party.headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["data"]]


async def test_each_party_sees_its_loans_and_nobody_elses(api, client):
    c = await lf.cast(api)
    fund = await api.org("fund")
    program = await fh.program(api, fund)
    await fh.agreement(api, fund, program["id"], c.bank)
    covered = await lf.accepted_loan(api, c)
    r = await client.post(f"/loans/{covered['id']}/fund-cover", json={"program_id": program["id"]},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    guarantor = await api.org("guarantor")
    await lf.invite(api, c.bank, covered["id"], guarantor, "guarantee")
    r = await client.post(f"/loans/{covered['id']}/guarantee", json={"share_bps": 3000, "fee_rate_bps": 100},
                          headers=guarantor.headers)
    assert r.status_code == 201, r.text
    # A second borrower with another bank, uncovered.
    c2 = await lf.cast(api)
    other = await lf.active_loan(api, c2)
    other_fund = await api.org("fund")
    outsider = await api.org("sme")

    assert await _ids(client, c.sme) == [covered["id"]]
    assert await _ids(client, c.bank) == [covered["id"]]
    assert await _ids(client, guarantor) == [covered["id"]]
    assert await _ids(client, fund) == [covered["id"]]
    assert await _ids(client, c2.bank) == [other["id"]]
    assert await _ids(client, other_fund) == []
    assert await _ids(client, outsider) == []
    assert await _ids(client, await api.admin()) == [other["id"], covered["id"]]  # newest first
    assert await _ids(client, await api.admin(), order="oldest") == [covered["id"], other["id"]]

    row = (await client.get("/loans", headers=c.bank.headers)).json()["data"][0]
    borrower = (await client.get(f"/orgs/{c.sme.org_id}", headers=c.bank.headers)).json()
    assert row["borrower_name"] == borrower["name"] and row["bank_org_id"] == c.bank.org_id
    assert row["bank_name"] and row["program_id"] == program["id"] and row["guarantor_org_id"] == guarantor.org_id
    assert [a["title"] for a in row["assets"]] == [a["title"] for a in c.assets]
    assert row["status"] == "pending_security" and row["principal"] == covered["principal"]

    admin = await api.admin()
    assert await _ids(client, admin, status="active") == [other["id"]]
    assert await _ids(client, admin, bank_org_id=c.bank.org_id) == [covered["id"]]
    assert await _ids(client, admin, borrower_org_id=c2.sme.org_id) == [other["id"]]
    assert await _ids(client, admin, program_id=program["id"]) == [covered["id"]]
    assert await _ids(client, admin, classification="normal", overdue="false") == [other["id"], covered["id"]]
    assert await _ids(client, admin, overdue="true") == []
    assert_problem(await client.get("/loans", params={"status": "nonsense"}, headers=admin.headers),
                   422, "validation_error")
    assert_problem(await client.get("/loans", params={"limit": 101}, headers=admin.headers), 422, "validation_error")

    # Guarantees: the guarantor's own; the loan's bank and borrower see it too; others do not.
    for party in (guarantor, c.bank, c.sme, fund):
        rows = (await client.get("/guarantees", headers=party.headers)).json()["data"]
        assert [(g["loan_id"], g["share_bps"], g["borrower_name"]) for g in rows] == [
            (covered["id"], 3000, borrower["name"])]
    assert await _ids(client, c2.bank, "/guarantees") == []
    assert await _ids(client, outsider, "/insurance-policies") == []


async def test_overdue_filter_and_paging(api, client):
    c = await lf.cast(api, n_assets=1)
    first = await lf.active_loan(api, c)
    c.assets = [await api.asset(c.sme)]
    second = await lf.active_loan(api, c)
    await lf.advance_to(api, lf.START.replace(month=4, day=10))
    assert await _ids(client, c.bank, overdue="true") == [second["id"], first["id"]]
    assert await _ids(client, c.bank, status="overdue", classification="special_mention") == [second["id"],
                                                                                              first["id"]]
    page = (await client.get("/loans", params={"limit": 1}, headers=c.bank.headers)).json()
    assert [x["id"] for x in page["data"]] == [second["id"]] and page["has_more"]
    page = (await client.get("/loans", params={"limit": 1, "cursor": page["next_cursor"]},
                             headers=c.bank.headers)).json()
    assert [x["id"] for x in page["data"]] == [first["id"]] and not page["has_more"] and page["next_cursor"] is None
    row = page["data"][0]
    assert row["days_past_due"] > 0 and row["next_due_on"] is not None


class QueryCounter:
    def __init__(self, engine):
        self.engine, self.count = engine.sync_engine, 0

    def _on(self, *args):
        self.count += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._on)


async def test_a_page_of_100_loans_takes_the_same_few_queries_as_a_page_of_5(api, client, app):
    bank = await api.org("bank")
    smes = [Org(name=f"企业 {i}", kind="sme", credit_code=f"TESTSME{i:011d}") for i in range(7)]
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.insert(Org.__table__), [o.model_dump() for o in smes])
        await insert_book(conn, book(bank.org_id, [s.id for s in smes], 130))
    counts = {}
    for limit in (5, 100):
        with QueryCounter(app.state.engine) as qc:
            r = await client.get("/loans", params={"limit": limit}, headers=bank.headers)
        assert r.status_code == 200 and len(r.json()["data"]) == limit
        counts[limit] = qc.count
    assert counts[100] == counts[5] <= 8, counts
    data = r.json()["data"]
    assert all(x["borrower_name"].startswith("企业") and x["assets"][0]["title"].startswith("专利") for x in data)
