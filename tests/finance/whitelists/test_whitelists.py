"""The white list: consent, publication with each firm's IP indicators, what banks see, and the mark on a
listed firm's loan application."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from finance.loans.models import Loan, LoanInstallment
from finance.whitelists.models import Whitelist, WhitelistEntry
from tests.finance.loans.loan_flow import Cast, active_loan, apply
from tests.helpers import Api, Party, assert_problem, count, execute, table_counts
from valuation.models import Valuation


async def consent(api: Api, firm: Party) -> dict[str, Any]:
    r = await api.client.post("/whitelist-consents", headers=firm.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def publish(api: Api, regulator: Party, org_ids: list[str], **extra: Any) -> Any:
    return await api.client.post("/whitelists", json={"name": "2026年度推荐白名单", "year": 2026,
                                                      "org_ids": org_ids, **extra}, headers=regulator.headers)


async def test_publish_needs_every_firms_consent(api, app):
    regulator, a, b = await api.org("regulator"), await api.org("sme"), await api.org("sme")
    first = await consent(api, a)
    assert first["status"] == "given"
    again = await api.client.post("/whitelist-consents", headers=a.headers)
    assert again.status_code == 200 and again.json()["id"] == first["id"]  # given once
    bank = await api.org("bank")
    before = await table_counts(app)
    body = assert_problem(await publish(api, regulator, [a.org_id, b.org_id]), 409, "invalid_state")
    assert body["org_ids"] == [b.org_id]
    assert_problem(await publish(api, bank, [a.org_id]), 403, "forbidden")
    assert_problem(await publish(api, regulator, [a.org_id, bank.org_id]), 422, "validation_error")
    assert_problem(await publish(api, regulator, [a.org_id, a.org_id]), 422, "validation_error")
    assert await table_counts(app) == before
    # Withdrawn, the consent no longer lets a list name the firm.
    r = await api.client.post("/whitelist-consents/withdraw", headers=a.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert_problem(await publish(api, regulator, [a.org_id]), 409, "invalid_state")
    assert (await api.client.get("/whitelist-consents/mine", headers=a.headers)).json() is None


async def test_indicators_and_what_banks_see(api, app):
    regulator, bank = await api.org("regulator"), await api.org("bank")
    firm = await api.org("sme", name="晋中锂电科技", region="140700", industry="新能源",
                         ip_honours=["national_demonstration", "standard_certified"])
    hv = await api.asset(firm, strategic_emerging=True)
    plain = [await api.asset(firm) for _ in range(2)]
    # Two past loans repaid, one of them with an instalment paid late; one loan active.
    loans = [await active_loan(api, Cast(firm, bank, [a])) for a in (hv, *plain)]
    await execute(app, sa.update(Loan).where(Loan.id.in_([loans[0]["id"], loans[1]["id"]])).values(status="repaid"))
    await execute(app, sa.update(LoanInstallment).where(LoanInstallment.loan_id == loans[1]["id"],
                                                        LoanInstallment.n == 1).values(paid_penalty=1234))
    r = await api.client.post("/valuations", json={"asset_ids": [hv["id"]], "scenario": "financing",
                                                   "inputs": {"rd_cost": 300_000_000}}, headers=firm.headers)
    assert r.status_code == 201, r.text
    valued = r.json()["value"]
    await execute(app, sa.update(Valuation).where(Valuation.id == r.json()["id"]).values(status="certified"))
    await consent(api, firm)
    r = await publish(api, regulator, [firm.org_id])
    assert r.status_code == 201, r.text
    wl = r.json()
    assert (wl["status"], wl["firms"], wl["year"]) == ("published", 1, 2026)
    got = await api.client.get(f"/whitelists/{wl['id']}", headers=bank.headers)
    assert got.status_code == 200, got.text
    entry = got.json()["entries"][0]
    assert (entry["org_id"], entry["org_name"], entry["region"]) == (firm.org_id, "晋中锂电科技", "140700")
    ind = entry["indicators"]
    assert (ind["invention_patents"], ind["high_value_patents"]) == (3, 1)
    assert ind["enterprise_ip_index"] == 3 + 1 and ind["ip_honours"] == ["national_demonstration",
                                                                          "standard_certified"]
    assert ind["valuation_total"] == valued > 0
    assert (ind["loans_repaid"], ind["loans_repaid_on_time"], ind["loans_overdue"]) == (2, 1, 0)
    assert ind["as_of"] == "2026-03-02"
    page = (await api.client.get("/whitelists", params={"year": 2026}, headers=bank.headers)).json()
    assert wl["id"] in [x["id"] for x in page["data"]]
    # Firms do not read the lists; a withdrawn list is gone for banks, kept for the regulator.
    assert_problem(await api.client.get(f"/whitelists/{wl['id']}", headers=firm.headers), 403, "forbidden")
    other_regulator = await api.org("regulator")
    assert_problem(await api.client.post(f"/whitelists/{wl['id']}/withdraw", headers=other_regulator.headers),
                   403, "forbidden")
    r = await api.client.post(f"/whitelists/{wl['id']}/withdraw", headers=regulator.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert_problem(await api.client.get(f"/whitelists/{wl['id']}", headers=bank.headers), 404, "not_found")
    assert (await api.client.get(f"/whitelists/{wl['id']}", headers=regulator.headers)).status_code == 200
    assert await count(app, WhitelistEntry, WhitelistEntry.whitelist_id == wl["id"]) == 1
    assert await count(app, Whitelist, Whitelist.id == wl["id"], Whitelist.status == "withdrawn") == 1


async def test_listed_firms_application_is_marked_for_banks(api, app):
    regulator, bank = await api.org("regulator"), await api.org("bank")
    listed, unlisted = await api.org("sme"), await api.org("sme")
    await consent(api, listed)
    wl = (await publish(api, regulator, [listed.org_id])).json()
    mine = await apply(api, Cast(listed, bank, [await api.asset(listed)]))
    theirs = await apply(api, Cast(unlisted, bank, [await api.asset(unlisted)]))
    rows = {x["id"]: x for x in (await api.client.get("/loan-applications", params={"limit": 100},
                                                      headers=bank.headers)).json()["data"]}
    assert (rows[mine["id"]]["whitelisted"], rows[mine["id"]]["whitelist_ids"]) == (True, [wl["id"]])
    assert (rows[theirs["id"]]["whitelisted"], rows[theirs["id"]]["whitelist_ids"]) == (False, [])
    assert mine["whitelisted"] is True
