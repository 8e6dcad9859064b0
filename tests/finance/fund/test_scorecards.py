"""Partner scorecards on a small book computed by hand: two real loans priced against the LPR (bank A meets its
committed leverage exactly), a bank with no loans and one with a compensated and partly recovered loan (both
below their commitment, flagged), and that loan's guarantor; JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import openpyxl

from finance.fund import claims, cover, recovery
from kernel import i18n
from kernel.actor import SYSTEM
from tests.finance.fund.helpers import actor, agreement, claim_request, cover_request, in_tx, program
from tests.finance.loans.loan_flow import accepted_loan, advance_to, cast, register, schedule
from tests.helpers import assert_problem


async def _book(api, client, app):
    admin = await api.admin()
    r = await client.post("/lpr", json={"effective_on": "2026-01-20", "one_year_bps": 310, "five_year_bps": 360},
                          headers=admin.headers)
    assert r.status_code == 201, r.text
    fund = await api.org("fund")
    p = await program(api, fund, capital=100_000_000_00)
    a = await cast(api)
    await agreement(api, fund, p["id"], a.bank, deposit=10_000_000, leverage=10)  # quota 100,000,000
    for amount, rate in ((60_000_000, 435), (40_000_000, 400)):
        loan = await accepted_loan(api, a, amount=amount, annual_rate_bps=rate)
        r = await client.post(f"/loans/{loan['id']}/fund-cover", json={"program_id": p["id"]}, headers=a.bank.headers)
        assert r.status_code == 201, r.text
    idle = await api.org("bank", name="B idle bank")
    await agreement(api, fund, p["id"], idle, deposit=5_000_000, leverage=10)
    c, g, sme = await api.org("bank", name="C bank"), await api.org("guarantor"), await api.org("sme")
    await agreement(api, fund, p["id"], c, deposit=1_000_000, leverage=10)
    req = cover_request(c, sme, 8_000_000, guarantor=g)
    await in_tx(app, cover.request_cover, actor(c), p["id"], req)
    claim = await in_tx(app, claims.open_claim, actor(c), claim_request(req, 6_000_000))
    assert (await in_tx(app, claims.approve_claim, actor(fund), claim.id)).status == "paying"
    paid = await in_tx(app, claims.claim_for_loan, req.loan_id)  # after the payout landed
    assert paid is not None and paid.status == "paid" and paid.fund_amount == 3_000_000
    await in_tx(app, recovery.distribute_recovery, SYSTEM, req.loan_id, 2_000_000, sme.org_id, "auction:1")
    return fund, p, a.bank, idle, c, g


async def test_scorecards_by_hand(api, client, app):
    fund, p, a, idle, c, g = await _book(api, client, app)
    r = await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026}, headers=fund.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {(x["partner_kind"], x["org_id"]): x for x in body["data"]}
    assert set(rows) == {("bank", a.org_id), ("bank", idle.org_id), ("bank", c.org_id), ("guarantor", g.org_id)}
    ra = rows[("bank", a.org_id)]
    assert ra["loans_covered"] == 2 and ra["covered_amount"] == 100_000_000
    assert ra["leverage_achieved_bps"] == 100_000 and ra["committed_leverage"] == 10  # 100m ÷ 10m = 10×
    assert ra["below_committed_leverage"] is False
    assert (ra["quota"], ra["quota_used"], ra["quota_use_bps"]) == (100_000_000, 100_000_000, 10_000)  # full
    assert ra["average_rate_bps"] == 418 and ra["average_lpr_bps"] == 310  # (435 + 400) / 2 = 417.5
    assert ra["average_spread_bps"] == 108  # (125 + 90) / 2 = 107.5
    assert (ra["npl_ratio_bps"], ra["compensated"], ra["compensation_rate_bps"]) == (0, 0, 0)
    assert ra["avg_days_default_to_claim"] is None and ra["avg_days_claim_to_payment"] is None

    rb = rows[("bank", idle.org_id)]
    assert rb["loans_covered"] == 0 and rb["leverage_achieved_bps"] == 0 and rb["below_committed_leverage"] is True

    rc = rows[("bank", c.org_id)]
    assert rc["covered_amount"] == 8_000_000 and rc["leverage_achieved_bps"] == 80_000  # 8×, committed 10×
    assert rc["below_committed_leverage"] is True
    assert rc["npl_ratio_bps"] == 10_000  # the whole book claimed
    assert rc["compensated"] == 3_000_000 and rc["compensation_rate_bps"] == 3_750  # 3m ÷ 8m
    assert rc["recovered"] == 1_000_000 and rc["recovery_rate_bps"] == 3_333  # the fund bore half of the loss
    assert rc["avg_days_claim_to_payment"] == "0.0"
    rg = rows[("guarantor", g.org_id)]
    assert (rg["loans_covered"], rg["covered_amount"], rg["compensated"], rg["deposit"]) == (1, 8_000_000, 3_000_000,
                                                                                               None)
    assert sorted(body["below_committed_leverage"]) == sorted([idle.org_id, c.org_id])

    r = await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026, "format": "csv"},
                         headers={**fund.headers, "Accept-Language": "en"})
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    org, kind, lev = (i18n.column(k, "en") for k in ("org_id", "partner_kind", "leverage_achieved_bps"))
    assert {x[org]: x[lev] for x in table if x[kind] == "bank"} == {
        a.org_id: "100000", idle.org_id: "0", c.org_id: "80000"}
    compensated = i18n.column("compensated", "en") + i18n.MONEY_UNIT["en"]
    assert {x[org]: x[compensated] for x in table}[c.org_id] == "30000.00"  # files show money in 元
    r = await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026, "format": "xlsx"},
                         headers={**fund.headers, "Accept-Language": "en"})
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.iter_rows(values_only=True))
    header = list(values[2])
    by_org = {row[header.index(org)]: row for row in values[3:]}
    assert by_org[c.org_id][header.index(compensated)] == 30000
    assert by_org[idle.org_id][header.index(i18n.column("below_committed_leverage", "en"))] is True

    regulator = await api.org("regulator", role="member")
    r = await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026}, headers=regulator.headers)
    assert r.status_code == 200
    assert_problem(await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026},
                                    headers=a.headers), 403, "forbidden")
    other = await api.org("fund")
    assert_problem(await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026},
                                    headers=other.headers), 404, "not_found")
    assert_problem(await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2027},
                                    headers=fund.headers), 422, "validation_error")


async def test_days_from_default_to_claim_and_to_payment_on_a_real_loan(api, client):
    """A loan made, defaulted on day D, claimed on D+5 and paid on D+8: 5.0 and 3.0 days; the whole book is
    non-performing and the fund paid half of the ¥1,000,000 principal lost."""
    admin = await api.admin()
    r = await client.post("/lpr", json={"effective_on": "2026-01-20", "one_year_bps": 310, "five_year_bps": 360},
                          headers=admin.headers)
    assert r.status_code == 201, r.text
    fund = await api.org("fund")
    p = await program(api, fund, capital=100_000_000_00, default_days=1, npl_pause_bps=10000)
    c = await cast(api)
    await agreement(api, fund, p["id"], c.bank, deposit=10_000_000, leverage=10)  # quota ¥1,000,000
    made = await accepted_loan(api, c, amount=100_000_000, annual_rate_bps=435)
    r = await client.post(f"/loans/{made['id']}/fund-cover", json={"program_id": p["id"]}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    await register(api, c, made["id"])
    assert (await client.post(f"/loans/{made['id']}/disburse", headers=c.bank.headers)).status_code == 200
    first_due = date.fromisoformat((await schedule(api, c.sme, made["id"]))[0]["due_on"])
    await advance_to(api, first_due + timedelta(days=2))
    r = await client.post(f"/loans/{made['id']}/default", headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "defaulted", r.text
    await api.advance(5)
    r = await client.post(f"/loans/{made['id']}/compensation-claims", headers=c.bank.headers)
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["fund_amount"] == 50_000_000  # half of the principal outstanding at default
    await api.advance(3)
    r = await client.post(f"/compensation-claims/{claim['id']}/approve", headers=fund.headers)
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text

    r = await client.get(f"/fund/programs/{p['id']}/scorecards", params={"year": 2026}, headers=fund.headers)
    [row] = r.json()["data"]
    assert row["org_id"] == c.bank.org_id and row["loans_covered"] == 1 and row["covered_amount"] == 100_000_000
    assert (row["leverage_achieved_bps"], row["below_committed_leverage"]) == (100_000, False)  # 10× of 10×
    assert (row["quota"], row["quota_used"]) == (100_000_000, 0)  # the claimed loan left the quota
    assert (row["average_rate_bps"], row["average_lpr_bps"], row["average_spread_bps"]) == (435, 310, 125)
    assert row["npl_ratio_bps"] == 10_000
    assert (row["compensated"], row["compensation_rate_bps"]) == (50_000_000, 5_000)  # 0.5m ÷ 1m
    assert (row["recovered"], row["recovery_rate_bps"]) == (0, 0)
    assert (row["avg_days_default_to_claim"], row["avg_days_claim_to_payment"]) == ("5.0", "3.0")
