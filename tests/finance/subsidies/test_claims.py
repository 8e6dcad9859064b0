"""Claims: fee subsidies, the budget (refuse and pro-rate), every refusal, and nothing written on failure."""

from tests.finance.loans.loan_flow import YUAN
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


async def test_fee_subsidies_appraisal_premium_and_guarantee_fee(api, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    guarantor, insurer = await api.org("guarantor"), await api.org("insurer")
    appraisal = await policy(api, regulator, kind="appraisal_fee", basis="fee", rate_bps=5000,
                             cap_per_loan=100_000 * YUAN, cap_per_org_year=100_000 * YUAN)
    premium = await policy(api, regulator, kind="insurance_premium", basis="fee", rate_bps=5000,
                           cap_per_loan=20_000 * YUAN, cap_per_org_year=1_000_000 * YUAN)
    gfee = await policy(api, regulator, kind="guarantee_fee", basis="fee", rate_bps=5000,
                        cap_per_org_year=1_000_000 * YUAN)
    lo = await loan(api, sme, bank, guarantor=guarantor, insurer=insurer, premium=50_000 * YUAN,
                    fee_rate_bps=200, valuation=True)

    # Appraisal: declared ¥300,000 with its evidence; 50% = 150,000, capped at ¥100,000 per loan.
    assert_problem(await claim(api, sme, appraisal["id"], lo["id"]), 422, "validation_error")
    c = await filed(api, sme, appraisal["id"], lo["id"], appraisal_fee=300_000 * YUAN,
                    evidence_ref="评估报告 晋评报字[2026]第018号")
    assert (c["basis_amount"], c["amount"]) == (300_000 * YUAN, 100_000 * YUAN)
    assert c["evidence_ref"].startswith("评估报告")
    # The premium is on the loan's insurance: ¥50,000 × 50% = 25,000, capped at ¥20,000; the insurer claims.
    assert_problem(await claim(api, guarantor, premium["id"], lo["id"]), 403, "forbidden")
    c = await filed(api, insurer, premium["id"], lo["id"])
    assert (c["basis_amount"], c["amount"], c["claimant_role"]) == (50_000 * YUAN, 20_000 * YUAN, "insurer")
    # One claim per loan under a policy: the borrower cannot claim the same premium again.
    assert_problem(await claim(api, sme, premium["id"], lo["id"]), 409, "invalid_state")
    # Guarantee fee 2% of ¥1m = ¥20,000; 50% = ¥10,000 to the guarantor.
    c = await filed(api, guarantor, gfee["id"], lo["id"])
    assert (c["basis_amount"], c["amount"]) == (20_000 * YUAN, 10_000 * YUAN)
    r = await approve(api, regulator, c["id"])
    assert r.status_code == 200 and r.json()["status"] == "paid"
    # Only appraisal claims declare a fee.
    plain = await loan(api, sme, bank)
    assert_problem(await claim(api, sme, gfee["id"], plain["id"], appraisal_fee=1), 422, "validation_error")
    # Neither insured nor guaranteed: the reason says so.
    body = assert_problem(await claim(api, sme, premium["id"], plain["id"]), 409, "invalid_state")
    assert any(x.startswith("insurance") for x in body["reasons"])


async def _two_claims(api, regulator, over_budget):
    await publish_lpr(api)
    bank = await api.org("bank")
    p = await policy(api, regulator, budget=10_000 * YUAN, over_budget=over_budget)
    out = []
    for _ in range(2):
        sme = await api.org("sme")
        out.append((sme, await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"])))
    return p, bank, out


async def test_budget_refuse_when_not_enough_left(api, client, app):
    regulator = await api.org("regulator")
    p, bank, [(_, c1), (_, c2)] = await _two_claims(api, regulator, "refuse")
    assert c1["amount"] == c2["amount"] == 6_000 * YUAN
    assert (await approve(api, regulator, c1["id"])).json()["amount_paid"] == 6_000 * YUAN
    body = assert_problem(await approve(api, regulator, c2["id"]), 409, "limit_exceeded")
    assert any(r.startswith("budget") for r in body["reasons"])
    assert (await client.get(f"/subsidy-claims/{c2['id']}", headers=regulator.headers)).json()["status"] == "pending"
    # A new claim of ¥6,000 cannot be filed against the ¥4,000 left.
    sme = await api.org("sme")
    body = assert_problem(await claim(api, sme, p["id"], (await loan(api, sme, bank))["id"]), 409, "limit_exceeded")
    assert body["working"]["budget_left"] == 4_000 * YUAN
    assert await budget_balance(app, p["id"]) == 4_000 * YUAN


async def test_budget_prorate_pays_what_is_left_then_refuses(api, client, app):
    regulator = await api.org("regulator")
    p, bank, [(_, c1), (sme2, c2)] = await _two_claims(api, regulator, "prorate")
    assert (await approve(api, regulator, c1["id"])).json()["amount_paid"] == 6_000 * YUAN
    r = await approve(api, regulator, c2["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["amount_paid"]) == (6_000 * YUAN, 4_000 * YUAN)
    assert any("pro-rated" in s for s in r.json()["approval_working"]["steps"])
    assert await budget_balance(app, p["id"]) == 0
    got = (await client.get(f"/subsidy-policies/{p['id']}", headers=sme2.headers)).json()
    assert (got["paid_total"], got["budget_remaining"]) == (10_000 * YUAN, 0)
    # The budget is gone: claims are refused, nothing written.
    sme = await api.org("sme")
    body = assert_problem(await claim(api, sme, p["id"], (await loan(api, sme, bank))["id"]), 409, "limit_exceeded")
    assert "budget: the policy's budget is used up" in body["reasons"]
    assert (await client.get("/subsidy-claims", headers=sme.headers)).json()["data"] == []


async def test_refusals(api, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    sme, stranger, bank = await api.org("sme"), await api.org("sme"), await api.org("bank")
    body = {"name": "x", "kind": "interest", "rate_bps": 2000, "basis": "lpr_principal",
            "cap_per_org_year": 100, "budget": 1000}
    assert_problem(await client.post("/subsidy-policies", json=body, headers=sme.headers), 403, "forbidden")
    for bad in ({"basis": "fee"}, {"rate_bps": 0}, {"budget": -1}, {"max_months": 13}, {"surprise": 1},
                {"over_budget": "spend"}, {"kind": "appraisal_fee"}, {"guaranteed_rate_bps": 1000},
                {"conditions": {"max_rate_lpr_multiple_bps": 0}}):
        assert_problem(await client.post("/subsidy-policies", json={**body, **bad}, headers=regulator.headers),
                       422, "validation_error")
    assert (await client.get("/subsidy-policies", headers=sme.headers)).json()["data"] == []
    p = await policy(api, regulator, conditions={"guaranteed_or_insured": True, "pledge_registered": True})
    assert_problem(await client.get("/subsidy-policies/nope", headers=sme.headers), 404, "not_found")

    lo = await loan(api, sme, bank)
    assert_problem(await claim(api, stranger, p["id"], lo["id"]), 404, "not_found")  # someone else's loan
    assert_problem(await claim(api, bank, p["id"], lo["id"]), 403, "forbidden")
    assert_problem(await claim(api, sme, "spol_missing", lo["id"]), 404, "not_found")
    body = assert_problem(await claim(api, sme, p["id"], lo["id"]), 409, "invalid_state")
    assert [r.split(":")[0] for r in body["reasons"]] == ["guaranteed_or_insured"]
    undisbursed = await loan(api, sme, bank, disburse=False)
    body = assert_problem(await claim(api, sme, p["id"], undisbursed["id"]), 409, "invalid_state")
    assert {r.split(":")[0] for r in body["reasons"]} == {"disbursed", "pledge_registered",
                                                          "guaranteed_or_insured"}

    open_policy = await policy(api, regulator)
    c = await filed(api, sme, open_policy["id"], lo["id"])
    assert_problem(await client.get(f"/subsidy-claims/{c['id']}", headers=stranger.headers), 404, "not_found")
    assert (await client.get(f"/subsidy-claims/{c['id']}", headers=sme.headers)).status_code == 200
    assert_problem(await approve(api, sme, c["id"]), 403, "forbidden")
    assert_problem(await client.post(f"/subsidy-claims/{c['id']}/reject", headers=bank.headers), 403, "forbidden")
    assert_problem(await approve(api, regulator, "scl_missing"), 404, "not_found")
    assert (await approve(api, regulator, c["id"])).json()["status"] == "paid"
    assert_problem(await approve(api, regulator, c["id"]), 409, "invalid_state")  # no double payment
    assert_problem(await client.post(f"/subsidy-claims/{c['id']}/reject", headers=regulator.headers), 409,
                   "invalid_state")
    assert_problem(await claim(api, sme, open_policy["id"], lo["id"]), 409, "invalid_state")  # one per loan
    payments = (await client.get("/payments", headers=sme.headers)).json()["data"]
    assert len([x for x in payments if x["purpose"] == "subsidy"]) == 1


async def test_reject_then_refile(api, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator)
    lo = await loan(api, sme, bank)
    c = await filed(api, sme, p["id"], lo["id"])
    r = await client.post(f"/subsidy-claims/{c['id']}/reject", json={"reason": "材料不全"},
                          headers=regulator.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reject_reason"] == "材料不全"
    assert_problem(await approve(api, regulator, c["id"]), 409, "invalid_state")
    again = await filed(api, sme, p["id"], lo["id"])  # a rejected claim does not block a new one
    r = await client.post("/subsidy-claims", json={"policy_id": p["id"], "loan_id": lo["id"]},
                          headers={**sme.headers, "Idempotency-Key": "k1"})
    assert_problem(r, 409, "invalid_state")
    assert again["amount"] == 6_000 * YUAN


async def test_approval_retried_with_idempotency_key_pays_once(api, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator)
    c = await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"])
    headers = {**regulator.headers, "Idempotency-Key": "approve-once"}
    first = await client.post(f"/subsidy-claims/{c['id']}/approve", headers=headers)
    again = await client.post(f"/subsidy-claims/{c['id']}/approve", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    payments = (await client.get("/payments", headers=sme.headers)).json()["data"]
    assert [x["amount"] for x in payments if x["purpose"] == "subsidy"] == [6_000 * YUAN]


async def test_only_the_policys_regulator_decides_its_claims(api, client, app):
    await publish_lpr(api)
    regulator, other_office = await api.org("regulator"), await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator)
    c = await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"])
    # Another IP office may read the claim but neither approve nor reject it: nothing changes.
    assert (await client.get(f"/subsidy-claims/{c['id']}", headers=other_office.headers)).status_code == 200
    assert_problem(await approve(api, other_office, c["id"]), 403, "forbidden")
    assert_problem(await client.post(f"/subsidy-claims/{c['id']}/reject", json={"reason": "x"},
                                     headers=other_office.headers), 403, "forbidden")
    got = (await client.get(f"/subsidy-claims/{c['id']}", headers=regulator.headers)).json()
    assert (got["status"], got["amount_paid"], got["payment_id"]) == ("pending", 0, None)
    assert await budget_balance(app, p["id"]) == 1_000_000 * YUAN
    assert (await approve(api, regulator, c["id"])).json()["status"] == "paid"


async def test_policy_fields_as_the_contract_names_them(api, client):
    """The contract's body, every optional condition absent, null or false: none is required."""
    regulator = await api.org("regulator")
    body = {"name": "北京市知识产权质押贷款贴息", "kind": "interest", "rate_bps": 4000, "basis": "interest_paid",
            "cap_per_org_year": 500_000 * YUAN, "cap_per_loan": None, "budget": 5_000_000 * YUAN,
            "conditions": {"repaid_on_time": None, "pledge_registered": False, "max_rate_lpr_multiple_bps": None,
                           "guaranteed_or_insured": None}}
    r = await client.post("/subsidy-policies", json=body, headers=regulator.headers)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["conditions"], got["cap_per_loan"], got["over_budget"]) == ({}, None, "refuse")
    for field in ("name", "kind", "rate_bps", "basis", "cap_per_org_year", "budget"):
        assert got[field] == body[field]
    body["conditions"] = {"repaid_on_time": True, "max_rate_lpr_multiple_bps": 14000}
    r = await client.post("/subsidy-policies", json={**body, "cap_per_loan": 100_000 * YUAN},
                          headers=regulator.headers)
    assert r.json()["conditions"] == {"repaid_on_time": True, "max_rate_lpr_multiple_bps": 14000}
    assert r.json()["cap_per_loan"] == 100_000 * YUAN
    for bad in ({"repaid_on_time": "perhaps"}, {"on_time": True}, {"max_rate_lpr_multiple_bps": 100001}):
        assert_problem(await client.post("/subsidy-policies", json={**body, "conditions": bad},
                                         headers=regulator.headers), 422, "validation_error")
    assert len((await client.get("/subsidy-policies", headers=regulator.headers)).json()["data"]) == 2
