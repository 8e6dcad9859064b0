"""Geographical indications (地理标志) as pledgeable IP: registration, licensing inside the region only,
valuation with their own default LTV, and a GI pledged in a bundle with a patent."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.settings import get_settings
from market.assets.models import Asset
from tests.finance.loans.loan_flow import Cast, active_loan
from tests.helpers import Api, Party, assert_problem, count, table_counts
from tests.market.helpers import listing

GI_MARK = {"kind": "geographical_indication", "gi_form": "collective_mark", "title": "平遥牛肉",
           "product": "牛肉", "region": "140700", "nice_classes": [29]}
_serial = iter(range(1000, 10**6))


async def region(api: Api, code: str, name: str, population: int = 1_000_000) -> None:
    r = await api.client.post("/regions", json={"code": code, "name": name, "population": population},
                              headers=(await api.admin()).headers)
    assert r.status_code in (200, 201), r.text


async def gi(api: Api, owner: Party, **fields: Any) -> dict[str, Any]:
    body = {**GI_MARK, "number": str(next(_serial) * 97), **fields}
    r = await api.client.post("/assets", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_register_gi_mark_and_gi_product(api):
    association = await api.org("sme", name="平遥县牛肉协会", region="140728")
    a = await gi(api, association, number="第 012345678 号")
    assert (a["kind"], a["number"], a["gi_form"], a["product"], a["region"]) == (
        "geographical_indication", "12345678", "collective_mark", "牛肉", "140700")
    assert a["registrant"] == "平遥县牛肉协会" and a["status"] == "valid" and a["nice_classes"] == [29]
    p = await gi(api, association, gi_form="gi_product", number="2008年第 0123 号公告", nice_classes=None,
                 registrant="平遥县人民政府")
    assert p["number"] == "2008年第123号" and p["registrant"] == "平遥县人民政府"
    # Listed by region: a city's GIs are found from the province, not from another city.
    r = await api.client.get("/assets", params={"kind": "geographical_indication", "region": "140000"},
                             headers=association.headers)
    assert {a["id"], p["id"]} <= {x["id"] for x in r.json()["data"]}
    r = await api.client.get("/assets", params={"region": "140100"}, headers=association.headers)
    assert {a["id"], p["id"]}.isdisjoint({x["id"] for x in r.json()["data"]})


BAD = {
    "no product": {"product": None},
    "no region": {"region": None},
    "region not a division code": {"region": "平遥"},
    "unknown form": {"gi_form": "brand"},
    "gi product numbered like a mark": {"gi_form": "gi_product", "nice_classes": None},
    "mark numbered like an announcement": {"number": "2008年第123号"},
    "announcement in the future": {"gi_form": "gi_product", "nice_classes": None, "number": "2031年第1号"},
    "ipc codes": {"ipc_codes": ["A23L 13/00"]},
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_gi_is_refused_and_writes_nothing(api, app, case):
    owner = await api.org("sme", region="140728")
    before = await table_counts(app)
    body = {**GI_MARK, "number": "7654321", **BAD[case]}
    r = await api.client.post("/assets", json={k: v for k, v in body.items() if v is not None},
                              headers=owner.headers)
    assert_problem(r, 422, "validation_error")
    assert await table_counts(app) == before


async def test_gi_fields_belong_to_gis_only(api):
    sme = await api.org("sme")
    r = await api.client.post("/assets", json={"kind": "trademark", "number": "556677", "title": "某商标",
                                               "region": "140100"}, headers=sme.headers)
    assert_problem(r, 422, "validation_error")
    tm = await api.asset(sme, kind="trademark", number="556678", title="某商标", ipc_codes=None, claims_count=None,
                         filing_date=None, grant_date=None, expiry_date=None, fees_paid_until=None)
    r = await api.client.patch(f"/assets/{tm['id']}", json={"product": "苹果"}, headers=sme.headers)
    assert_problem(r, 422, "validation_error")


async def test_gi_licensed_only_to_producers_in_its_region(api, app):
    association = await api.org("sme", region="140728")
    mark = await gi(api, association)
    lst = await listing(api, association, [mark["id"]], mode="nonexclusive_license", price=2_000_000)
    outsider = await api.org("sme", region="140100")  # Taiyuan, not in Jinzhong (1407xx)
    before = await table_counts(app)
    r = await api.client.post(f"/listings/{lst['id']}/offers", json={"amount": 2_000_000}, headers=outsider.headers)
    body = assert_problem(r, 409, "invalid_state")
    assert "140700" in body["detail"]
    assert await table_counts(app) == before
    nowhere = await api.org("sme")  # a producer that has not said where it is
    assert_problem(await api.client.post(f"/listings/{lst['id']}/offers", json={"amount": 2_000_000},
                                         headers=nowhere.headers), 409, "invalid_state")
    producer = await api.org("sme", region="140728")  # 平遥县, inside 晋中市
    r = await api.client.post(f"/listings/{lst['id']}/offers", json={"amount": 2_000_000}, headers=producer.headers)
    assert r.status_code == 201, r.text


async def test_gi_licensing_rule_holds_at_grant(api, app):
    """The service every license goes through refuses an out-of-region licensee too."""
    from kernel.actor import SYSTEM
    from market.assets.service import lock_assets
    from market.licensing.service import grant_license
    from tests.helpers import open_session
    association = await api.org("sme", region="140728")
    mark = await gi(api, association)
    outsider = await api.org("sme", region="110105")
    from kernel.errors import InvalidState
    async with open_session(app) as session:
        assets = await lock_assets(session, [mark["id"]])
        with pytest.raises(InvalidState):
            await grant_license(session, SYSTEM, assets, kind="nonexclusive", licensor_org_id=association.org_id,
                                licensee_org_id=outsider.org_id, term_months=12)
        await session.rollback()


async def _valuation(api: Api, owner: Party, asset_ids: list[str], **extra: Any) -> dict[str, Any]:
    r = await api.client.post("/valuations", json={"asset_ids": asset_ids, "scenario": "financing",
                                                   "inputs": {"rd_cost": 500_000_000},
                                                   **extra}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_gi_valued_with_its_own_default_ltv(api, monkeypatch):
    association = await api.org("sme", region="140728")
    mark = await gi(api, association)
    patent = await api.asset(association)
    v = await _valuation(api, association, [patent["id"], mark["id"]])
    per = {p["kind"]: p for p in v["per_asset"]}
    assert per["geographical_indication"]["ltv_bps"] == 3000 and per["invention_patent"]["ltv_bps"] == 2500
    gi_part = per["geographical_indication"]
    # Borrowing base = value × 30%, half-up, and the bundle's base is the sum of the parts.
    assert gi_part["borrowing_base"] == (gi_part["value"] * 3000 + 5000) // 10000
    assert v["borrowing_base"] == sum(p["borrowing_base"] for p in v["per_asset"])
    assert "ltv_bps.geographical_indication" in v["defaults_applied"]
    # The default is configurable (IPM_GI_LTV_BPS) ...
    monkeypatch.setenv("IPM_GI_LTV_BPS", "2000")
    get_settings.cache_clear()
    try:
        v2 = await _valuation(api, association, [mark["id"]])
    finally:
        monkeypatch.delenv("IPM_GI_LTV_BPS")
        get_settings.cache_clear()
    assert v2["per_asset"][0]["ltv_bps"] == 2000
    # ... and a valuation may still name its own.
    v3 = await _valuation(api, association, [mark["id"]], ltv_bps={"geographical_indication": 4000})
    assert v3["per_asset"][0]["ltv_bps"] == 4000


async def test_gi_pledged_in_a_bundle_with_a_patent(api, app):
    association = await api.org("sme", region="140728", industry="agriculture")
    bank = await api.org("bank")
    mark = await gi(api, association)
    patent = await api.asset(association)
    loan = await active_loan(api, Cast(association, bank, [patent, mark]))
    assert loan["status"] == "active"
    for asset_id in (patent["id"], mark["id"]):
        a = (await api.client.get(f"/assets/{asset_id}", headers=bank.headers)).json()
        assert [(e["kind"], e["ref_id"], e["holder_org_id"]) for e in a["encumbrances"]] == [
            ("pledge", loan["id"], bank.org_id)]
    # Pledged, the GI cannot be pledged again nor assigned (the law's encumbrance rules hold for it too).
    r = await api.client.post("/listings", json={"asset_ids": [mark["id"]], "mode": "assignment",
                                                 "price": 1_000_000}, headers=association.headers)
    assert r.status_code == 409, r.text
    assert await count(app, Asset, Asset.kind == "geographical_indication", Asset.id == mark["id"]) == 1
