"""The Fujian and Beijing policies of the domain brief, each with its worked numbers, and the caps."""

from datetime import date, timedelta

from tests.finance.loans.loan_flow import YUAN, advance_to, schedule
from tests.finance.subsidies.helpers import (
    approve,
    budget_balance,
    claim,
    filed,
    loan,
    policy,
    publish_lpr,
)
from tests.helpers import assert_problem

FUJIAN = {"name": "福建省知识产权质押融资贴息", "kind": "interest", "basis": "lpr_principal", "rate_bps": 2000,
          "guaranteed_rate_bps": 5000, "max_months": 12, "cap_per_org_year": 200_000 * YUAN,
          "budget": 5_000_000 * YUAN, "conditions": {"pledge_registered": True}}
BEIJING = {"name": "北京市知识产权质押贷款贴息", "kind": "interest", "basis": "interest_paid", "rate_bps": 4000,
           "cap_per_org_year": 500_000 * YUAN, "budget": 5_000_000 * YUAN,
           "conditions": {"max_rate_lpr_multiple_bps": 14000, "repaid_on_time": True}}


async def test_fujian_lpr_principal_share_higher_when_guaranteed_and_capped_per_firm(api, client, app):
    await publish_lpr(api, one_year_bps=300)
    regulator = await api.org("regulator")
    sme, bank, guarantor = await api.org("sme"), await api.org("bank"), await api.org("guarantor")
    p = await policy(api, regulator, **FUJIAN)
    assert p["period"] == 2026 and p["budget_remaining"] == 5_000_000 * YUAN
    assert p["conditions"] == {"pledge_registered": True}
    assert await budget_balance(app, p["id"]) == 5_000_000 * YUAN

    # ¥1m, 1-year LPR 3.00%: 30,000 of LPR interest; 20% = ¥6,000.
    plain = await loan(api, sme, bank, amount=1_000_000 * YUAN)
    c1 = await filed(api, sme, p["id"], plain["id"])
    assert (c1["basis_amount"], c1["amount"]) == (30_000 * YUAN, 6_000 * YUAN)
    assert c1["claimant_role"] == "borrower"
    assert c1["working"]["lpr_one_year_bps"] == 300 and c1["working"]["months"] == 12

    # Guaranteed, 24 months: at most one year counts (30,000), and the guaranteed share 50% = ¥15,000.
    guaranteed = await loan(api, sme, bank, amount=1_000_000 * YUAN, term_months=24, guarantor=guarantor)
    c2 = await filed(api, sme, p["id"], guaranteed["id"])
    assert (c2["basis_amount"], c2["amount"], c2["working"]["rate_bps"]) == (30_000 * YUAN, 15_000 * YUAN, 5000)
    assert c2["working"]["months"] == 12 and c2["working"]["term_months"] == 24

    for c in (c1, c2):
        r = await approve(api, regulator, c["id"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid" and r.json()["amount_paid"] == c["amount"]
        assert r.json()["payment_id"] and r.json()["ledger_entry_id"]

    # ¥10m guaranteed: 300,000 × 50% = ¥150,000; the firm has now had ¥171,000 of its ¥200,000.
    big = await loan(api, sme, bank, amount=10_000_000 * YUAN, guarantor=guarantor)
    c3 = await filed(api, sme, p["id"], big["id"])
    assert c3["amount"] == 150_000 * YUAN
    assert (await approve(api, regulator, c3["id"])).json()["amount_paid"] == 150_000 * YUAN

    # Another ¥10m: 150,000 computed, but only 29,000 left of the firm's cap.
    big2 = await loan(api, sme, bank, amount=10_000_000 * YUAN, guarantor=guarantor)
    c4 = await filed(api, sme, p["id"], big2["id"])
    assert c4["working"]["before_caps"] == 150_000 * YUAN
    assert c4["amount"] == 29_000 * YUAN and c4["working"]["cap_per_org_year_left"] == 29_000 * YUAN
    assert (await approve(api, regulator, c4["id"])).json()["amount_paid"] == 29_000 * YUAN

    # The cap is used up: a further claim is refused with the reason, nothing written.
    last = await loan(api, sme, bank, amount=1_000_000 * YUAN)
    body = assert_problem(await claim(api, sme, p["id"], last["id"]), 409, "limit_exceeded")
    assert any(r.startswith("cap_per_org_year") for r in body["reasons"])
    listed = (await client.get(f"/subsidy-claims?policy_id={p['id']}", headers=regulator.headers)).json()
    assert len(listed["data"]) == 4 and {c["status"] for c in listed["data"]} == {"paid"}

    # Another firm has its own cap.
    other = await api.org("sme")
    c5 = await filed(api, other, p["id"], (await loan(api, other, bank, amount=1_000_000 * YUAN))["id"])
    assert c5["amount"] == 6_000 * YUAN

    paid = 200_000 * YUAN
    got = (await client.get(f"/subsidy-policies/{p['id']}", headers=sme.headers)).json()
    assert got["paid_total"] == paid and got["budget_remaining"] == 5_000_000 * YUAN - paid
    assert await budget_balance(app, p["id"]) == 5_000_000 * YUAN - paid
    verify = (await client.get("/fund/ledger/verify", headers=regulator.headers)).json()
    assert verify["balanced"] is True


async def test_beijing_share_of_interest_actually_paid_when_rate_within_1_4_lpr(api, client):
    await publish_lpr(api, one_year_bps=300)  # 1.4 × 3.00% = 4.20%
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator, **BEIJING)

    ok = await loan(api, sme, bank, amount=1_000_000 * YUAN, rate_bps=420)
    rows = await schedule(api, sme, ok["id"])
    for row in rows[:2]:
        await advance_to(api, date.fromisoformat(row["due_on"]))
        r = await client.post(f"/loans/{ok['id']}/repayments", json={"amount": row["payment"]}, headers=sme.headers)
        assert r.status_code == 201, r.text
    rows = await schedule(api, sme, ok["id"])
    # Month 1: ¥1,000,000 × 4.2% / 12 = ¥3,500.00 of interest.
    assert rows[0]["paid_interest"] == 3_500 * YUAN
    # Month 2: the balance ¥918,258.69 × 0.35% = ¥3,213.91; paid in all ¥6,713.91, 40% = ¥2,685.564 → ¥2,685.56.
    assert rows[1]["paid_interest"] == 321_391
    c = await filed(api, sme, p["id"], ok["id"])
    assert (c["basis_amount"], c["amount"]) == (671_391, 268_556)
    assert len(c["working"]["interest_paid"]) == 2
    assert c["working"]["rate_check"]["max_rate_bps"] == "420"
    r = await approve(api, regulator, c["id"])
    assert r.status_code == 200 and r.json()["status"] == "paid"

    # 4.35% > 4.20%, and an instalment paid late: both reasons, nothing written.
    late = await loan(api, sme, bank, amount=1_000_000 * YUAN, rate_bps=435)
    first = (await schedule(api, sme, late["id"]))[0]
    await advance_to(api, date.fromisoformat(first["due_on"]) +
                     timedelta(days=3))
    owed = (await client.get(f"/loans/{late['id']}", headers=sme.headers)).json()["payoff_amount"]
    assert owed > 0
    due = (await client.get(f"/loans/{late['id']}", headers=sme.headers)).json()
    r = await client.post(f"/loans/{late['id']}/repayments",
                          json={"amount": due["overdue_amount"] + due["penalty_outstanding"]}, headers=sme.headers)
    assert r.status_code == 201, r.text
    body = assert_problem(await claim(api, sme, p["id"], late["id"]), 409, "invalid_state")
    kinds = {reason.split(":")[0] for reason in body["reasons"]}
    assert kinds == {"max_rate_lpr_multiple_bps", "repaid_on_time"}, body["reasons"]
    assert body["working"]["basis_amount"] > 0
    mine = (await client.get("/subsidy-claims", headers=sme.headers)).json()["data"]
    assert [x["loan_id"] for x in mine] == [ok["id"]]


async def test_beijing_cap_per_firm_per_year(api, client):
    """¥500,000 a firm a year: what is left of it is paid, then nothing more."""
    await publish_lpr(api, one_year_bps=300)
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator, **BEIJING)
    small = await loan(api, sme, bank, amount=1_000_000 * YUAN, rate_bps=420)
    big = await loan(api, sme, bank, amount=200_000_000 * YUAN, rate_bps=420)
    third = await loan(api, sme, bank, amount=1_000_000 * YUAN, rate_bps=420)
    for row_small, row_big, row_third in zip(*[(await schedule(api, sme, lo["id"]))[:2]
                                               for lo in (small, big, third)], strict=True):
        await advance_to(api, date.fromisoformat(row_small["due_on"]))
        for lo, row in ((small, row_small), (big, row_big), (third, row_third)):
            r = await client.post(f"/loans/{lo['id']}/repayments", json={"amount": row["payment"]},
                                  headers=sme.headers)
            assert r.status_code == 201, r.text
    first = await filed(api, sme, p["id"], small["id"])
    assert first["amount"] == 268_556
    assert (await approve(api, regulator, first["id"])).json()["amount_paid"] == 268_556
    # ¥200m: ¥700,000.00 + ¥642,781.08 of interest paid, 40% = ¥537,112.43; ¥497,314.44 is left of the cap.
    c = await filed(api, sme, p["id"], big["id"])
    assert (c["basis_amount"], c["working"]["before_caps"]) == (134_278_108, 53_711_243)
    assert c["amount"] == c["working"]["cap_per_org_year_left"] == 500_000 * YUAN - 268_556
    assert (await approve(api, regulator, c["id"])).json()["amount_paid"] == 49_731_444
    body = assert_problem(await claim(api, sme, p["id"], third["id"]), 409, "limit_exceeded")
    assert any(r.startswith("cap_per_org_year") for r in body["reasons"])
    got = (await client.get(f"/subsidy-policies/{p['id']}", headers=regulator.headers)).json()
    assert got["paid_total"] == 500_000 * YUAN
