"""Valuations through HTTP: every endpoint, every refusal, comparables and staleness."""

from __future__ import annotations

import pytest

from kernel.audit import AuditEvent
from tests.helpers import assert_problem, audit_count, count, open_session, patent_number
from tests.valuation.helpers import VECTOR_INPUTS, record_deal, value
from valuation.models import Valuation, ValuationComparable


async def _parties(api):
    return await api.org("sme"), await api.org("bank"), await api.org("evaluator")


async def test_valuation_shows_its_working(api, client):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    assert v["status"] == "draft"
    # Only the income approach is present, so the value is the golden vector to the fen.
    assert v["method_values"] == {"income": 135179108, "market": None, "cost": None}
    assert v["value"] == 135179108
    assert v["low"] <= v["value"] <= v["high"] and v["low"] < v["high"]
    assert v["score"].keys() == {"legal", "technical", "economic", "total"}
    assert v["inputs"] == {**VECTOR_INPUTS, "rd_cost": None, "functional_obsolescence_bps": 1000,
                           "ltv_bps": {"invention_patent": 2500}}
    assert v["defaults_applied"] == ["functional_obsolescence_bps", "ltv_bps.invention_patent"]
    assert set(v["default_basis"]) == set(v["defaults_applied"])
    assert "too few comparables" in v["market_note"]
    assert v["per_asset"] == [{"asset_id": a["id"], "kind": "invention_patent", "value": 135179108, "ltv_bps": 2500,
                               "borrowing_base": 33794777, "score": v["score"]["total"]}]
    assert v["borrowing_base"] == 33794777  # 135,179,108 × 25% = 33,794,777 half-up
    r = await client.get(f"/valuations/{v['id']}", headers=sme.headers)
    assert r.status_code == 200 and r.json() == v


async def test_defaults_are_filled_in_and_echoed(api):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme, industry="new_energy")  # expires 2039-05-10: 13 whole years after 2026-03-02
    v = await value(api, sme, [a["id"]], inputs={"annual_revenue": 500_000_000})
    assert set(v["defaults_applied"]) == {"royalty_rate_bps", "growth_bps", "discount_rate_bps", "tax_rate_bps",
                                          "remaining_life_years", "functional_obsolescence_bps",
                                          "ltv_bps.invention_patent"}
    assert v["inputs"]["tax_rate_bps"] == 2500 and v["inputs"]["discount_rate_bps"] == 1200
    assert v["inputs"]["growth_bps"] == 0 and v["inputs"]["remaining_life_years"] == 13
    assert v["inputs"]["royalty_rate_bps"] == 400  # the data file's rate for new_energy
    assert "industry new_energy" in v["default_basis"]["royalty_rate_bps"]


async def test_same_request_same_answer(api):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme)
    body = {"inputs": {**VECTOR_INPUTS, "growth_bps": 300, "rd_cost": 80_000_000}}
    first = await value(api, sme, [a["id"]], **body)
    second = await value(api, sme, [a["id"]], **body)
    assert (first["value"], first["low"], first["high"], first["seed"]) == \
        (second["value"], second["low"], second["high"], second["seed"])
    other = await value(api, sme, [a["id"]], inputs={**body["inputs"], "annual_revenue": 1_100_000_000})
    assert other["seed"] != first["seed"]


async def test_cost_only_and_reconciliation_weights(api):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme, filing_date="2016-03-02", expiry_date="2036-03-02")
    v = await value(api, sme, [a["id"]], inputs={"rd_cost": 100_000_000})
    # 3,652 of 7,305 days used up; then 10% functional obsolescence: 1e8 × 3653/7305 × 0.9, half-up.
    cost = (2 * 100_000_000 * 3653 * 9 + 73050) // (2 * 73050)
    assert cost == 45_006_160
    assert v["method_values"] == {"income": None, "market": None, "cost": cost}
    assert v["value"] == cost and v["method_weights_bps"] == {"cost": 10000}
    both = await value(api, sme, [a["id"]], scenario="transfer",
                       inputs={"rd_cost": 100_000_000, "annual_revenue": 1_000_000_000, "royalty_rate_bps": 500,
                               "remaining_life_years": 5})
    # transfer weights income 4000 / cost 2000 → 2/3 and 1/3.
    assert both["value"] == round((2 * 135179108 + cost) / 3)
    assert both["method_weights_bps"] == {"income": 6667, "cost": 3333}


async def test_bundle_split_ltv_and_overrides(api):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme, forward_citations=20, family_countries=["US", "EP"], strategic_emerging=True)
    b = await api.asset(sme, kind="utility_model", number=patent_number(kind_digit="2"),
                        expiry_date="2029-05-10")
    t = await api.asset(sme, kind="trademark", number="88776655", ipc_codes=[], expiry_date="2034-01-01",
                        claims_count=None)
    ids = [a["id"], b["id"], t["id"]]
    v = await value(api, sme, ids, inputs=VECTOR_INPUTS, ltv_bps={"trademark": 4000})
    rows = v["per_asset"]
    assert [r["asset_id"] for r in rows] == ids
    assert sum(r["value"] for r in rows) == v["value"]
    assert [r["ltv_bps"] for r in rows] == [2500, 1500, 4000]
    # Every loan-to-value used is echoed; the override is an input given, the others defaults applied.
    assert v["inputs"]["ltv_bps"] == {"invention_patent": 2500, "utility_model": 1500, "trademark": 4000}
    ltv_defaults = [d for d in v["defaults_applied"] if d.startswith("ltv_bps.")]
    assert ltv_defaults == ["ltv_bps.invention_patent", "ltv_bps.utility_model"]
    for r in rows:
        assert r["borrowing_base"] == (r["value"] * r["ltv_bps"] * 2 + 10000) // 20000
    assert v["borrowing_base"] == sum(r["borrowing_base"] for r in rows)
    # The split follows the standalone scores (largest remainder).
    scores = [r["score"] for r in rows]
    assert rows[0]["value"] == max(r["value"] for r in rows) and scores[0] == max(scores)


async def test_bank_and_evaluator_may_value_any_asset(api):
    sme, bank, evaluator = await _parties(api)
    a = await api.asset(sme)
    assert (await value(api, bank, [a["id"]], inputs=VECTOR_INPUTS))["requested_by_org_id"] == bank.org_id
    assert (await value(api, evaluator, [a["id"]], inputs=VECTOR_INPUTS))["status"] == "draft"


async def test_certify_and_immutability(api, client):
    sme, bank, evaluator = await _parties(api)
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    assert_problem(await client.post(f"/valuations/{v['id']}/certify", headers=bank.headers), 403, "forbidden")
    assert_problem(await client.post(f"/valuations/{v['id']}/certify", headers=sme.headers), 403, "forbidden")
    r = await client.post(f"/valuations/{v['id']}/certify", headers=evaluator.headers)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "certified" and c["certified_by"] == evaluator.org_id
    assert c["certified_on"] == "2026-03-02" and c["valid_until"] == "2027-03-02"
    assert c["value"] == v["value"]
    again = await client.post(f"/valuations/{v['id']}/certify", json={"valid_days": 30}, headers=evaluator.headers)
    assert_problem(again, 409, "invalid_state")
    assert (await client.get(f"/valuations/{v['id']}", headers=sme.headers)).json()["valid_until"] == "2027-03-02"
    v2 = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    r = await client.post(f"/valuations/{v2['id']}/certify", json={"valid_days": 90}, headers=evaluator.headers)
    assert r.json()["valid_until"] == "2026-05-31"


async def test_current_certified(api, app):
    from valuation.service import current_certified

    sme, _, evaluator = await _parties(api)
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    async with open_session(app) as session:
        assert await current_certified(session, v["id"]) is None  # a draft
    await api.client.post(f"/valuations/{v['id']}/certify", json={"valid_days": 2}, headers=evaluator.headers)
    async with open_session(app) as session:
        assert (await current_certified(session, v["id"])).id == v["id"]
        assert await current_certified(session, "val_missing") is None
    await api.advance(3)
    async with open_session(app) as session:
        assert await current_certified(session, v["id"]) is None  # no longer valid


async def test_new_valuation_supersedes(api, client):
    sme, bank, evaluator = await _parties(api)
    a = await api.asset(sme)
    first = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    await client.post(f"/valuations/{first['id']}/certify", headers=evaluator.headers)
    banks = await value(api, bank, [a["id"]], inputs=VECTOR_INPUTS)
    assert banks["supersedes_id"] is None  # another requester's valuation leaves the owner's report alone
    second = await value(api, sme, [a["id"]], inputs={**VECTOR_INPUTS, "annual_revenue": 2_000_000_000})
    assert second["supersedes_id"] == first["id"]
    old = (await client.get(f"/valuations/{first['id']}", headers=sme.headers)).json()
    assert old["status"] == "superseded" and old["superseded_by_id"] == second["id"]
    assert old["value"] == first["value"]  # never edited
    other_scenario = await value(api, sme, [a["id"]], scenario="transfer", inputs=VECTOR_INPUTS)
    assert other_scenario["supersedes_id"] is None
    assert_problem(await client.post(f"/valuations/{first['id']}/certify", headers=evaluator.headers),
                   409, "invalid_state")


async def test_who_may_read(api, client):
    sme, bank, evaluator = await _parties(api)
    other_sme, guarantor = await api.org("sme"), await api.org("guarantor")
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    for party in (sme, bank, evaluator, await api.admin()):
        assert (await client.get(f"/valuations/{v['id']}", headers=party.headers)).status_code == 200
    for party in (other_sme, guarantor):
        assert_problem(await client.get(f"/valuations/{v['id']}", headers=party.headers), 404, "not_found")
    assert_problem(await client.get("/valuations/val_nope", headers=sme.headers), 404, "not_found")
    assert_problem(await client.get(f"/valuations/{v['id']}"), 401, "not_authenticated")


async def test_who_may_value(api, client):
    sme, _, _ = await _parties(api)
    other_sme, guarantor = await api.org("sme"), await api.org("guarantor")
    a = await api.asset(sme)
    assert_problem(await client.post("/valuations", json={"asset_ids": [a["id"]], "scenario": "financing",
                                                          "inputs": VECTOR_INPUTS}, headers=other_sme.headers),
                   403, "forbidden")
    mine = await api.asset(other_sme)
    assert_problem(await client.post("/valuations", json={"asset_ids": [mine["id"], a["id"]],
                                                          "scenario": "financing", "inputs": VECTOR_INPUTS},
                                     headers=other_sme.headers), 403, "forbidden")
    assert_problem(await client.post("/valuations", json={"asset_ids": [a["id"]], "scenario": "financing",
                                                          "inputs": VECTOR_INPUTS}, headers=guarantor.headers),
                   403, "forbidden")
    assert await count(api.app, Valuation) == 0


BAD_INPUTS = [
    {"discount_rate_bps": 500, "growth_bps": 500},
    {"discount_rate_bps": 300, "growth_bps": 800},
    {"growth_bps": 1500},  # above the default discount rate of 1200
    {"remaining_life_years": 0},
    {"remaining_life_years": 31},
    {"royalty_rate_bps": 10001},
    {"tax_rate_bps": -1},
    {"discount_rate_bps": 20000},
    {"growth_bps": -5001},  # a decline steeper than −50% a year is not an income stream to value
    {"growth_bps": 10001},
    {"discount_rate_bps": -1},
    {"discount_rate_bps": 10001},  # rates over 100%
    {"tax_rate_bps": 10001},
    {"remaining_life_years": -3},
    {"growth_bps": "-1%"},
    {"annual_revenue": -1},
    {"rd_cost": -5},
    {"annual_revenue": 1.5},
    {"surprise": 1},
]


@pytest.mark.parametrize("bad", BAD_INPUTS)
async def test_bad_inputs_are_refused_and_nothing_written(api, client, bad):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme)
    before = await count(api.app, AuditEvent)
    r = await client.post("/valuations", json={"asset_ids": [a["id"]], "scenario": "financing",
                                               "inputs": {**VECTOR_INPUTS, **bad}}, headers=sme.headers)
    assert_problem(r, 422, "validation_error")
    assert await count(api.app, Valuation) == 0
    assert await count(api.app, AuditEvent) == before


@pytest.mark.parametrize("body", [
    {"asset_ids": [], "scenario": "financing"},
    {"asset_ids": ["ast_unknown"], "scenario": "financing"},
    {"asset_ids": ["A", "A"], "scenario": "financing"},
    {"asset_ids": ["A"], "scenario": "fire_sale"},
    {"asset_ids": ["A"], "scenario": "financing", "ltv_bps": {"trademark": 10001}},
    {"asset_ids": ["A"], "scenario": "financing", "ltv_bps": {"spaceship": 100}},
    {"asset_ids": ["A"], "scenario": "financing", "inputs": {}},  # no revenue, no R&D cost, no comparables
])
async def test_bad_requests(api, client, body):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme)
    body = {**body, "asset_ids": [a["id"] if x == "A" else x for x in body["asset_ids"]]}
    assert_problem(await client.post("/valuations", json=body, headers=sme.headers), 422, "validation_error")
    assert await count(api.app, Valuation) == 0


async def test_lapsed_asset_cannot_be_valued(api, client):
    sme, bank, _ = await _parties(api)
    a = await api.asset(sme)
    await client.patch(f"/assets/{a['id']}", json={"status": "lapsed"}, headers=sme.headers)
    r = await client.post("/valuations", json={"asset_ids": [a["id"]], "scenario": "financing",
                                               "inputs": VECTOR_INPUTS}, headers=bank.headers)
    assert_problem(r, 409, "invalid_state")


async def test_certify_refusals(api, client):
    sme, _, evaluator = await _parties(api)
    assert_problem(await client.post("/valuations/val_nope/certify", headers=evaluator.headers), 404, "not_found")
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    for days in (0, 2000, "x"):
        assert_problem(await client.post(f"/valuations/{v['id']}/certify", json={"valid_days": days},
                                         headers=evaluator.headers), 422, "validation_error")
    got = (await client.get(f"/valuations/{v['id']}", headers=sme.headers)).json()
    assert got["status"] == "draft"


async def test_certify_is_idempotent_with_a_key(api, client):
    sme, _, evaluator = await _parties(api)
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    headers = {**evaluator.headers, "Idempotency-Key": "cert-1"}
    first = await client.post(f"/valuations/{v['id']}/certify", headers=headers)
    again = await client.post(f"/valuations/{v['id']}/certify", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()


async def test_asset_score_endpoint(api, client):
    sme, bank, _ = await _parties(api)
    a = await api.asset(sme, strategic_emerging=True, family_countries=["US"], awards=["china_patent_award"])
    r = await client.get(f"/assets/{a['id']}/score", headers=bank.headers)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["high_value"] == {"is_high_value": True,
                               "criteria": ["strategic_emerging_industry", "overseas_family", "national_award"]}
    by_name = {i["name"]: i for i in s["indicators"]}
    assert by_name["awards"]["score"] == 100 and by_name["industry"]["score"] == 100
    assert by_name["legal_status"]["score"] == 100
    assert 0 <= s["total"] <= 100
    t = (await client.get(f"/assets/{a['id']}/score?scenario=transfer", headers=bank.headers)).json()
    assert t["weights_bps"] != s["weights_bps"]
    assert_problem(await client.get(f"/assets/{a['id']}/score?scenario=x", headers=bank.headers),
                   422, "validation_error")
    assert_problem(await client.get("/assets/ast_nope/score", headers=bank.headers), 404, "not_found")


async def test_cohort_normalisation(api, client):
    sme, _, _ = await _parties(api)
    # Five H01M 2019 patents with 0..40 citations: the cohort is big enough to rank within.
    ids = [(await api.asset(sme, forward_citations=c))["id"] for c in (0, 10, 20, 30, 40)]
    # A G06F 2019 patent alone in its cohort falls back to all invention patents.
    lone = (await api.asset(sme, ipc_codes=["G06F 16/30"], forward_citations=40))["id"]
    top = (await client.get(f"/assets/{ids[-1]}/score", headers=sme.headers)).json()
    cites = next(i for i in top["indicators"] if i["name"] == "forward_citations")
    assert cites["score"] == 90 and "cohort H01M×2019 (n=5)" in cites["basis"]
    lone_score = (await client.get(f"/assets/{lone}/score", headers=sme.headers)).json()
    cites = next(i for i in lone_score["indicators"] if i["name"] == "forward_citations")
    assert "among invention_patent (n=6)" in cites["basis"] and cites["score"] == 83  # (4 + 1) / 6


async def test_comparables_from_recorded_deals(api, app, client):
    sme, bank, _ = await _parties(api)
    peers = [await api.asset(sme) for _ in range(4)]
    subject = await api.asset(sme)
    await record_deal(app, "deal_1", [peers[0]["id"]], 100_000_000)
    await record_deal(app, "deal_2", [peers[1]["id"]], 200_000_000)
    v = await value(api, bank, [subject["id"]], inputs=VECTOR_INPUTS)
    assert v["method_values"]["market"] is None and "2 recorded" in v["market_note"]
    await record_deal(app, "deal_3", [peers[2]["id"], peers[3]["id"]], 600_000_001)  # a bundle, split
    await record_deal(app, "deal_3", [peers[2]["id"], peers[3]["id"]], 600_000_001)  # announced twice: kept once
    await record_deal(app, "deal_4", [peers[0]["id"]], 9_000_000_000, mode="nonexclusive_license")  # not used
    assert await count(app, ValuationComparable) == 5
    v = await value(api, bank, [subject["id"]], inputs=VECTOR_INPUTS)
    assert v["market_note"] is None and len(v["comparable_ids"]) == 4
    market = v["method_values"]["market"]
    assert market is not None and 100_000_000 * 0.5 <= market <= 300_000_001 * 2
    assert v["value"] == round((5000 * 135179108 + 2500 * market) / 7500)
    assert v["method_weights_bps"] == {"income": 6667, "market": 3333}
    assert v["low"] <= v["value"] <= v["high"]


async def test_bundle_deal_split_sums_to_the_whole(api, app):
    from sqlmodel import select

    from valuation.models import ValuationComparable

    sme, _, _ = await _parties(api)
    a, b, c = [await api.asset(sme) for _ in range(3)]
    await record_deal(app, "deal_b", [a["id"], b["id"], c["id"]], 100_000_001)
    async with open_session(app) as session:
        rows = (await session.exec(select(ValuationComparable))).all()
    assert sum(r.amount for r in rows) == 100_000_001 and {r.deal_amount for r in rows} == {100_000_001}
    assert {r.ipc_subclass for r in rows} == {"H01M"} and all(r.remaining_life_days > 0 for r in rows)


async def test_lapse_makes_valuations_stale(api, app, client):
    from kernel import events

    heard: list[dict] = []

    @events.subscribe(events.VALUATION_STALE)
    async def listen(session, payload):
        heard.append(payload)

    try:
        sme, bank, evaluator = await _parties(api)
        a, b = await api.asset(sme), await api.asset(sme)
        draft = await value(api, bank, [a["id"], b["id"]], inputs=VECTOR_INPUTS)
        cert = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
        await client.post(f"/valuations/{cert['id']}/certify", headers=evaluator.headers)
        untouched = await value(api, sme, [b["id"]], inputs=VECTOR_INPUTS)
        r = await client.patch(f"/assets/{a['id']}", json={"status": "lapsed"}, headers=sme.headers)
        assert r.status_code == 200, r.text
        for vid in (draft["id"], cert["id"]):
            got = (await client.get(f"/valuations/{vid}", headers=sme.headers)).json()
            assert got["status"] == "stale" and "lapsed" in got["stale_reason"]
        assert (await client.get(f"/valuations/{untouched['id']}", headers=sme.headers)).json()["status"] == "draft"
        assert sorted(p["valuation_id"] for p in heard) == sorted([draft["id"], cert["id"]])
        assert all(p["reason"] and a["id"] in p["asset_ids"] for p in heard)
        async with open_session(app) as session:
            from valuation.service import current_certified
            assert await current_certified(session, cert["id"]) is None
        assert_problem(await client.post(f"/valuations/{draft['id']}/certify", headers=evaluator.headers),
                       409, "invalid_state")
        # Restoring the patent does not revive an old valuation: a new one is needed.
        await client.patch(f"/assets/{a['id']}", json={"status": "valid"}, headers=sme.headers)
        fresh = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
        assert fresh["supersedes_id"] == cert["id"]
    finally:
        events._subscribers[events.VALUATION_STALE].remove(listen)


async def test_owner_change_makes_valuations_stale(api, app, client):
    from kernel import events

    sme, bank, _ = await _parties(api)
    a = await api.asset(sme)
    v = await value(api, bank, [a["id"]], inputs=VECTOR_INPUTS)
    async with open_session(app) as session:
        await events.publish(session, events.ASSET_OWNER_CHANGED,
                             {"asset_id": a["id"], "before": sme.org_id, "after": bank.org_id})
        await session.commit()
    got = (await client.get(f"/valuations/{v['id']}", headers=bank.headers)).json()
    assert got["status"] == "stale" and "changed owner" in got["stale_reason"]


async def test_batch_scores_match_the_service_for_registered_assets(api, app, client):
    from datetime import date

    from valuation import batch

    sme = await api.org("sme")
    ids = []
    for i in range(8):
        ids.append((await api.asset(sme, forward_citations=i * 3, claims_count=5 + i % 3,
                                    family_countries=["US"] * (i % 2), strategic_emerging=i % 3 == 0,
                                    industry="new_energy" if i % 2 else None))["id"])
    ids.append((await api.asset(sme, kind="trademark", number="5566778", ipc_codes=[], claims_count=None))["id"])
    async with open_session(app) as session:
        order, arrays = await batch.load_registry(session, date(2026, 3, 2))
    for scenario in ("financing", "transfer"):
        got = batch.scores(arrays, scenario)
        for asset_id in ids:
            s = (await client.get(f"/assets/{asset_id}/score?scenario={scenario}", headers=sme.headers)).json()
            i = order.index(asset_id)
            assert [int(got[k][i]) for k in ("legal", "technical", "economic", "total")] == \
                [s["legal"], s["technical"], s["economic"], s["total"]]


@pytest.mark.postgres
async def test_concurrent_certification_happens_once(api, app):
    import asyncio

    import httpx

    sme, _, evaluator = await _parties(api)
    other_evaluator = await api.org("evaluator")
    a = await api.asset(sme)
    v = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)

    async def certify(party):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1") as c:
            return await c.post(f"/valuations/{v['id']}/certify", headers=party.headers)

    results = await asyncio.gather(certify(evaluator), certify(other_evaluator))
    assert sorted(r.status_code for r in results) == [200, 409]
    assert await audit_count(app, "valuation.certify") == 1


async def test_expiry_at_day_end_makes_valuations_stale(api, client):
    sme, bank, _ = await _parties(api)
    asset = await api.asset(sme, filing_date="2006-03-03", grant_date="2009-08-20", expiry_date="2026-03-03",
                            fees_paid_until="2026-03-03")
    valuation = await value(api, bank, [asset["id"]], inputs=VECTOR_INPUTS)
    await api.advance(1)  # closes 2026-03-02: still in force
    assert (await client.get(f"/assets/{asset['id']}", headers=sme.headers)).json()["status"] == "valid"
    await api.advance(1)  # closes 2026-03-03, the last day of the term
    assert (await client.get(f"/assets/{asset['id']}", headers=sme.headers)).json()["status"] == "expired"
    got = (await client.get(f"/valuations/{valuation['id']}", headers=bank.headers)).json()
    assert got["status"] == "stale" and "expired" in got["stale_reason"]


def _rfr_exact(revenue: int, royalty: int, tax: int, growth: int, discount: int, years: int) -> int:
    """The income approach computed independently in exact fractions, half-up to the fen."""
    from fractions import Fraction

    cash = Fraction(revenue * royalty * (10000 - tax), 10000 * 10000)
    total = sum(cash * Fraction(10000 + growth, 10000) ** (t - 1) / Fraction(10000 + discount, 10000) ** t
                for t in range(1, years + 1))
    return int(total * 2 + 1) // 2  # half-up for a non-negative amount


async def test_declining_revenue_is_valued(api):
    sme, _, _ = await _parties(api)
    a = await api.asset(sme)
    flat = await value(api, sme, [a["id"]], inputs=VECTOR_INPUTS)
    falling = await value(api, sme, [a["id"]], inputs={**VECTOR_INPUTS, "growth_bps": -1000})
    expected = _rfr_exact(1_000_000_000, 500, 2500, -1000, 1200, 5)
    assert falling["method_values"]["income"] == falling["value"] == expected
    assert expected < flat["value"]
    assert falling["inputs"]["growth_bps"] == -1000 and "growth_bps" not in falling["defaults_applied"]
    assert falling["low"] <= falling["value"] <= falling["high"]
    # The bound itself is accepted, and a zero discount rate is above a falling growth rate.
    steep = await value(api, sme, [a["id"]], inputs={**VECTOR_INPUTS, "growth_bps": -5000, "discount_rate_bps": 0})
    assert steep["value"] == _rfr_exact(1_000_000_000, 500, 2500, -5000, 0, 5)
    assert steep["low"] <= steep["value"] <= steep["high"]


async def test_no_inputs_values_by_the_market_with_every_default_echoed(api, app):
    sme, bank, _ = await _parties(api)
    peers = [await api.asset(sme) for _ in range(3)]
    subject = await api.asset(sme)
    for i, p in enumerate(peers):
        await record_deal(app, f"deal_m{i}", [p["id"]], (i + 1) * 100_000_000)
    r = await api.client.post("/valuations", json={"asset_ids": [subject["id"]], "scenario": "transfer"},
                              headers=bank.headers)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["method_values"]["income"] is None and v["method_values"]["cost"] is None
    assert v["method_values"]["market"] == v["value"] and v["method_weights_bps"] == {"market": 10000}
    assert set(v["defaults_applied"]) == {"royalty_rate_bps", "growth_bps", "discount_rate_bps", "tax_rate_bps",
                                          "remaining_life_years", "functional_obsolescence_bps",
                                          "ltv_bps.invention_patent"}
    assert set(v["default_basis"]) == set(v["defaults_applied"])
    assert v["inputs"]["annual_revenue"] is None and v["inputs"]["rd_cost"] is None
    assert "left out" in v["method_notes"]["income"] and "left out" in v["method_notes"]["cost"]
    assert len(v["comparable_ids"]) == 3 and v["low"] <= v["value"] <= v["high"]


async def test_queries_do_not_grow_with_the_bundle(api, app):
    """Peers, ownership history and comparables are each loaded once per request, not once per asset."""
    import sqlalchemy as sa

    sme, bank, _ = await _parties(api)
    assets = [await api.asset(sme) for _ in range(5)]
    for i, p in enumerate(assets[:3]):
        await record_deal(app, f"deal_q{i}", [p["id"]], (i + 1) * 100_000_000)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
    try:
        one = await value(api, bank, [assets[3]["id"]], inputs=VECTOR_INPUTS)
        n_one = len(statements)
        statements.clear()
        five = await value(api, bank, [a["id"] for a in assets], inputs=VECTOR_INPUTS)
        n_five = len(statements)
    finally:
        sa.event.remove(app.state.engine.sync_engine, "before_cursor_execute", count)
    assert one["method_values"]["market"] is not None and five["method_values"]["market"] is not None
    assert n_five == n_one
    assert sum("valuation_comparables" in s and s.lstrip().upper().startswith("SELECT") for s in statements) == 1


@pytest.mark.parametrize("status", ["invalidated", "lapsed"])
async def test_invalidation_makes_valuations_stale(api, client, status):
    sme, bank, evaluator = await _parties(api)
    a = await api.asset(sme)
    v = await value(api, bank, [a["id"]], inputs=VECTOR_INPUTS)
    await client.post(f"/valuations/{v['id']}/certify", headers=evaluator.headers)
    r = await client.patch(f"/assets/{a['id']}", json={"status": status}, headers=sme.headers)
    assert r.status_code == 200, r.text
    got = (await client.get(f"/valuations/{v['id']}", headers=bank.headers)).json()
    assert got["status"] == "stale" and status in got["stale_reason"]
    assert got["value"] == v["value"] and got["certified_by"] == evaluator.org_id  # nothing else edited
