"""The province's IP rewards (002_… §2–4, §13): the seeds' numbers as defaults, worked per kind, each item's
verdict (qualifies, already rewarded, not the claimant's, not qualifying, not found), caps and budget."""

from __future__ import annotations

from itertools import count as counter
from typing import Any

import pytest

from finance.subsidies.models import SubsidyClaim, SubsidyRewardItem
from finance.subsidies.rewards import bonus_for_rank
from tests.finance.subsidies.helpers import approve, budget_balance
from tests.helpers import Api, Party, assert_problem, count, table_counts

YUAN = 100
_tm = counter(880_001)


async def reward_policy(api: Api, regulator: Party, kind: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"{kind} 奖励", "kind": kind, "budget": 5_000_000 * YUAN, "period": 2025, **fields}
    r = await api.client.post("/subsidy-policies", json=body, headers=regulator.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def claim(api: Api, party: Party, policy_id: str, asset_ids: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"policy_id": policy_id}
    if asset_ids is not None:
        body["items"] = [{"asset_id": i} for i in asset_ids]
    return await api.client.post("/subsidy-claims", json=body, headers=party.headers)


async def hv_patent(api: Api, owner: Party, granted: str = "2025-06-01", **fields: Any) -> dict[str, Any]:
    """A high-value invention patent (strategic emerging industry) granted on ``granted``."""
    return await api.asset(owner, grant_date=granted, strategic_emerging=True, **fields)


async def trademark(api: Api, owner: Party, countries: int, filed: str = "2025-04-01") -> dict[str, Any]:
    codes = ["US", "JP", "KR", "DE", "FR", "GB", "IT", "ES", "RU", "AU", "CA", "SG"][:countries]
    return await api.asset(owner, kind="trademark", number=str(next(_tm)), title="某品牌", ipc_codes=None,
                           claims_count=None, filing_date=filed, grant_date=None, expiry_date=None,
                           fees_paid_until=None, nice_classes=[30], family_countries=["CN", *codes])


def verdicts(body: dict[str, Any]) -> dict[str, tuple[str, int, int]]:
    return {i["asset_id"] or i["org_id"]: (i["verdict"], i["amount"], i["bonus"]) for i in body["items"]}


async def test_policy_defaults_are_the_seeds_numbers(api):
    regulator = await api.org("regulator")
    expected = {"high_value_patent": (5_000, {"bonus_threshold": 10, "bonus_per_item": 300_000,
                                              "bonus_cap": 30_000_000}),
                "foreign_patent": (20_000, {}), "gi_mark": (30_000, {}),
                "madrid_mark": (30_000, {"items_per_award": 2, "min_countries": 10}),
                "ip_management_certification": (200_000, {}),
                "patent_portfolio": (1_000_000, {"min_invention_patents": 50, "min_pct_applications": 10,
                                                 "max_awards": 10})}
    for kind, (yuan, terms) in expected.items():
        p = await reward_policy(api, regulator, kind)
        assert (p["amount_per_item"], p["terms"], p["basis"], p["rate_bps"]) == (yuan * YUAN, terms, "per_item", None)


@pytest.mark.parametrize("extra", [{"rate_bps": 2000}, {"terms": {"min_countries": 5}},
                                   {"basis": "fee"}, {"conditions": {"repaid_on_time": True}},
                                   {"amount_per_item": 0}, {"cap_per_loan": 100}])
async def test_bad_reward_policies_are_refused(api, app, extra):
    regulator = await api.org("regulator")
    before = await table_counts(app)
    body = {"name": "x", "kind": "high_value_patent", "budget": 100_000 * YUAN, **extra}
    assert_problem(await api.client.post("/subsidy-policies", json=body, headers=regulator.headers), 422,
                   "validation_error")
    assert await table_counts(app) == before
    # A loan subsidy still needs its share, basis and cap.
    assert_problem(await api.client.post("/subsidy-policies", json={**body, "kind": "interest"},
                                         headers=regulator.headers), 422, "validation_error")


def test_bonus_for_rank_stops_at_the_cap():
    per, cap = 3_000 * YUAN, 300_000 * YUAN
    assert [bonus_for_rank(r, 10, per, cap) for r in (1, 10, 11, 12)] == [0, 0, per, per]
    assert bonus_for_rank(110, 10, per, cap) == per and bonus_for_rank(111, 10, per, cap) == 0
    assert sum(bonus_for_rank(r, 10, per, cap) for r in range(1, 500)) == cap
    assert [bonus_for_rank(r, 1, per, 5_000 * YUAN) for r in (2, 3, 4)] == [per, 2_000 * YUAN, 0]


async def test_high_value_patents_worked(api, app, client):
    """12 high-value patents granted to one firm in 2025: 12 × ¥5,000 + 2 × ¥3,000 = ¥66,000 over two claims;
    an item already rewarded, another firm's, one that is not high-value and one that does not exist earn
    nothing and say why."""
    regulator, firm, other = await api.org("regulator"), await api.org("sme"), await api.org("sme")
    p = await reward_policy(api, regulator, "high_value_patent")
    patents = [await hv_patent(api, firm, granted=f"2025-{m:02d}-10") for m in range(1, 13)]
    first = await claim(api, firm, p["id"], [patents[0]["id"]])
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == 5_000 * YUAN and first.json()["loan_id"] is None
    assert (await approve(api, regulator, first.json()["id"])).status_code == 200
    theirs = await hv_patent(api, other)
    plain = await api.asset(firm, grant_date="2025-07-01")  # granted in 2025 but meets no criterion
    old = await hv_patent(api, firm, granted="2024-05-01")  # high-value, but not granted in 2025
    ids = [patents[0]["id"], *[x["id"] for x in patents[1:]], theirs["id"], plain["id"], old["id"], "ast_missing"]
    r = await claim(api, firm, p["id"], ids)
    assert r.status_code == 201, r.text
    body = r.json()
    v = verdicts(body)
    assert v[patents[0]["id"]] == ("already_rewarded", 0, 0)
    assert v[theirs["id"]][0] == "not_claimants" and v[plain["id"]][0] == "not_qualifying"
    assert v[old["id"]][0] == "not_qualifying" and v["ast_missing"][0] == "not_found"
    assert [v[x["id"]] for x in patents[1:10]] == [("qualifies", 5_000 * YUAN, 0)] * 9
    # The firm's 11th and 12th of the year earn the ¥3,000 bonus.
    assert [v[x["id"]] for x in patents[10:]] == [("qualifies", 5_000 * YUAN, 3_000 * YUAN)] * 2
    assert body["amount"] == 11 * 5_000 * YUAN + 2 * 3_000 * YUAN == 61_000 * YUAN
    assert first.json()["amount"] + body["amount"] == 66_000 * YUAN
    ok = await approve(api, regulator, body["id"])
    assert ok.status_code == 200 and ok.json()["amount_paid"] == 61_000 * YUAN
    assert await budget_balance(app, p["id"]) == 5_000_000 * YUAN - 66_000 * YUAN
    # Another firm cannot see the claim (404), and a claim of nothing but refused items writes nothing.
    assert_problem(await client.get(f"/subsidy-claims/{body['id']}", headers=other.headers), 404, "not_found")
    before = await table_counts(app)
    refused = assert_problem(await claim(api, firm, p["id"], [patents[3]["id"], theirs["id"]]), 409,
                             "invalid_state")
    assert await table_counts(app) == before
    assert {i["verdict"] for i in refused["items"]} == {"already_rewarded", "not_claimants"}


async def test_bonus_cap_holds_across_claims(api, app):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    p = await reward_policy(api, regulator, "high_value_patent",
                            terms={"bonus_threshold": 1, "bonus_per_item": 3_000 * YUAN, "bonus_cap": 5_000 * YUAN})
    patents = [await hv_patent(api, firm, granted=f"2025-0{m}-01") for m in range(1, 5)]
    a = (await claim(api, firm, p["id"], [patents[3]["id"], patents[2]["id"]])).json()
    assert sorted(verdicts(a).values()) == [("qualifies", 5_000 * YUAN, 0), ("qualifies", 5_000 * YUAN, 2_000 * YUAN)]
    b = (await claim(api, firm, p["id"], [patents[0]["id"], patents[1]["id"]])).json()
    # Rank 2 would carry ¥3,000, but ¥2,000 of the ¥5,000 cap is held by the first claim's 3rd patent.
    assert verdicts(b)[patents[1]["id"]] == ("qualifies", 5_000 * YUAN, 3_000 * YUAN)
    assert verdicts(b)[patents[0]["id"]] == ("qualifies", 5_000 * YUAN, 0)
    assert a["amount"] + b["amount"] == 4 * 5_000 * YUAN + 5_000 * YUAN


async def test_foreign_patent_and_gi_mark_worked(api, app):
    from tests.market.test_geographical_indications import gi
    regulator, firm = await api.org("regulator"), await api.org("sme", region="140728")
    fp = await reward_policy(api, regulator, "foreign_patent")
    abroad = await api.asset(firm, family_countries=["CN", "US", "EP"])
    pct_only = await api.asset(firm, family_countries=["CN", "WO"])
    r = (await claim(api, firm, fp["id"], [abroad["id"], pct_only["id"]])).json()
    assert verdicts(r) == {abroad["id"]: ("qualifies", 20_000 * YUAN, 0), pct_only["id"]: ("not_qualifying", 0, 0)}
    assert r["amount"] == 20_000 * YUAN
    gp = await reward_policy(api, regulator, "gi_mark")
    mark = await gi(api, firm, grant_date="2025-09-01")
    product = await gi(api, firm, gi_form="gi_product", number="2025年第7号", nice_classes=None,
                       grant_date="2025-09-01")
    older = await gi(api, firm, grant_date="2019-09-01")
    r = (await claim(api, firm, gp["id"], [mark["id"], product["id"], older["id"]])).json()
    v = verdicts(r)
    assert v[mark["id"]] == ("qualifies", 30_000 * YUAN, 0)
    assert v[product["id"]][0] == v[older["id"]][0] == "not_qualifying"
    assert r["amount"] == 30_000 * YUAN
    # The same mark under a second gi_mark policy: already rewarded (claimed), the index agrees.
    gp2 = await reward_policy(api, regulator, "gi_mark")
    body = assert_problem(await claim(api, firm, gp2["id"], [mark["id"]]), 409, "invalid_state")
    assert body["items"][0]["verdict"] == "already_rewarded"


async def test_madrid_marks_are_rewarded_per_pair(api):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    p = await reward_policy(api, regulator, "madrid_mark")
    t1, t2, t3 = [await trademark(api, firm, 10) for _ in range(3)]
    t9 = await trademark(api, firm, 9)
    r = (await claim(api, firm, p["id"], [t1["id"], t2["id"], t3["id"], t9["id"]])).json()
    v = verdicts(r)
    assert (v[t1["id"]], v[t2["id"]]) == (("qualifies", 15_000 * YUAN, 0),) * 2
    assert v[t3["id"]][0] == "incomplete_award" and v[t9["id"]][0] == "not_qualifying"
    assert r["amount"] == 30_000 * YUAN
    # The unpaired application is not used up: it pairs in a later claim.
    t4 = await trademark(api, firm, 12)
    r2 = (await claim(api, firm, p["id"], [t3["id"], t4["id"]])).json()
    assert r2["amount"] == 30_000 * YUAN


async def test_ip_management_certification_once_per_firm(api, app):
    regulator = await api.org("regulator")
    certified = await api.org("sme", ip_honours=["standard_certified"])
    plain = await api.org("sme")
    p = await reward_policy(api, regulator, "ip_management_certification")
    r = await claim(api, certified, p["id"])
    assert r.status_code == 201, r.text
    assert verdicts(r.json()) == {certified.org_id: ("qualifies", 200_000 * YUAN, 0)}
    assert (await approve(api, regulator, r.json()["id"])).json()["status"] in ("approved", "paid")
    again = assert_problem(await claim(api, certified, p["id"]), 409, "invalid_state")
    assert again["items"][0]["verdict"] == "already_rewarded"
    body = assert_problem(await claim(api, plain, p["id"]), 409, "invalid_state")
    assert body["items"][0]["verdict"] == "not_qualifying"
    assert_problem(await claim(api, certified, p["id"], ["ast_x"]), 409, "invalid_state")


async def test_rejected_claim_frees_its_items(api, app):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    p = await reward_policy(api, regulator, "foreign_patent")
    patent = await api.asset(firm, family_countries=["US"])
    c = (await claim(api, firm, p["id"], [patent["id"]])).json()
    assert await count(app, SubsidyRewardItem, SubsidyRewardItem.reward_key == f"foreign_patent:{patent['id']}") == 1
    r = await api.client.post(f"/subsidy-claims/{c['id']}/reject", json={"reason": "材料不全"},
                              headers=regulator.headers)
    assert r.status_code == 200, r.text
    again = await claim(api, firm, p["id"], [patent["id"]])
    assert again.status_code == 201, again.text


async def test_patent_portfolio_at_most_n_firms(api, app):
    regulator = await api.org("regulator")
    p = await reward_policy(api, regulator, "patent_portfolio",
                            terms={"min_invention_patents": 3, "min_pct_applications": 1, "max_awards": 1})
    firms = []
    for _ in range(2):
        firm = await api.org("sme")
        for countries in (["CN", "WO"], [], []):
            await api.asset(firm, family_countries=countries)
        firms.append(firm)
    small = await api.org("sme")
    await api.asset(small, family_countries=["WO"])
    body = assert_problem(await claim(api, small, p["id"]), 409, "invalid_state")
    assert "fewer than 3" in body["items"][0]["reasons"][0]
    c1, c2 = [(await claim(api, f, p["id"])).json() for f in firms]
    assert c1["amount"] == c2["amount"] == 1_000_000 * YUAN
    assert (await approve(api, regulator, c1["id"])).status_code == 200
    # The regulator chooses at most max_awards firms a year: the second approval is refused.
    assert_problem(await approve(api, regulator, c2["id"]), 409, "limit_exceeded")
    assert await count(app, SubsidyClaim, SubsidyClaim.id == c2["id"], SubsidyClaim.status == "pending") == 1


async def test_budget_and_who_may_claim(api, app):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    p = await reward_policy(api, regulator, "foreign_patent", budget=30_000 * YUAN)
    a1, a2 = [await api.asset(firm, family_countries=["JP"]) for _ in range(2)]
    # ¥40,000 against a ¥30,000 budget that refuses rather than pro-rates.
    assert_problem(await claim(api, firm, p["id"], [a1["id"], a2["id"]]), 409, "limit_exceeded")
    bank = await api.org("bank")
    assert_problem(await claim(api, bank, p["id"], [a1["id"]]), 403, "forbidden")
    uni = await api.org("university")
    ua = await api.asset(uni, family_countries=["DE"])
    assert (await claim(api, uni, p["id"], [ua["id"]])).status_code == 201
    r = await api.client.post("/subsidy-claims", json={"policy_id": p["id"], "loan_id": "loan_x"},
                              headers=firm.headers)
    assert_problem(r, 422, "validation_error")
