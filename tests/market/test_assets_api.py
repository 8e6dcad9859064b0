"""The asset registry over HTTP: registration, refusals that write nothing, search, pagination, PATCH."""

from datetime import date

import pytest
import sqlalchemy as sa

from kernel import events
from kernel.audit import AuditEvent
from market.assets.models import Asset, OwnershipRecord
from market.numbers import patent_check_character
from tests.helpers import assert_problem, count, open_session, patent_number, table_counts

BASE = {"kind": "invention_patent", "title": "一种锂电池热管理装置", "abstract": "battery thermal management",
        "ipc_codes": ["H01M 10/613"], "filing_date": "2019-05-10", "grant_date": "2021-08-20",
        "expiry_date": "2039-05-10", "fees_paid_until": "2026-05-10", "claims_count": 10}


def _wrong_check(number: str) -> str:
    body, check = number.split(".")
    return f"{body}.{'0' if check != '0' else '1'}"


async def test_register_records_ownership_and_audit(api, client, app):
    sme = await api.org("sme")
    number = patent_number()
    r = await client.post("/assets", json={**BASE, "number": f"ZL {number[:4]} {number[4:]}"}, headers=sme.headers)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["number"] == number and a["display_number"] == f"ZL{number}"
    assert a["status"] == "valid" and a["owner_org_id"] == sme.org_id and a["encumbrances"] == []
    assert a["ownership_history"] == [{"owner_org_id": sme.org_id, "from_date": "2026-03-02", "to_date": None,
                                       "via": "registration", "ref_id": None}]
    assert a["high_value"] == {"is_high_value": False, "criteria": []}
    async with app.state.engine.connect() as conn:
        row = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.object_id == a["id"]))).one()
    assert (row.action, row.actor_user_id, row.actor_org_id) == ("asset.registered", sme.user_id, sme.org_id)
    assert row.business_date == date(2026, 3, 2) and row.before is None and row.after["number"] == number
    # Without a grant date a patent is pending.
    r = await client.post("/assets", json={**BASE, "number": patent_number(), "grant_date": None}, headers=sme.headers)
    assert r.json()["status"] == "pending"


async def test_universities_register_and_other_kinds_may_not(api, client, app):
    uni = await api.org("university")
    assert (await client.post("/assets", json={**BASE, "number": patent_number()}, headers=uni.headers)).status_code == 201
    before = await table_counts(app)
    for kind in ("bank", "guarantor", "insurer", "evaluator", "fund", "regulator"):
        party = await api.org(kind)
        before = await table_counts(app)
        r = await client.post("/assets", json={**BASE, "number": patent_number()}, headers=party.headers)
        assert_problem(r, 403, "forbidden")
        assert await table_counts(app) == before
    admin = await api.admin()
    assert_problem(await client.post("/assets", json={**BASE, "number": patent_number()}, headers=admin.headers),
                   403, "forbidden")


BAD_BODIES = {
    "wrong check digit": lambda n: {**BASE, "number": _wrong_check(n)},
    "kind digit mismatch": lambda n: {**BASE, "kind": "utility_model", "number": n},
    "unknown kind": lambda n: {**BASE, "kind": "domain_name", "number": n},
    "no number": lambda n: {k: v for k, v in {**BASE}.items()},
    "negative claims": lambda n: {**BASE, "number": n, "claims_count": -1},
    "absurd claims": lambda n: {**BASE, "number": n, "claims_count": 1_000_000},
    "absurd citations": lambda n: {**BASE, "number": n, "forward_citations": 10**9},
    "negative citations": lambda n: {**BASE, "number": n, "forward_citations": -3},
    "grant before filing": lambda n: {**BASE, "number": n, "grant_date": "2018-01-01"},
    "expiry before grant": lambda n: {**BASE, "number": n, "expiry_date": "2020-01-01"},
    "fees before filing": lambda n: {**BASE, "number": n, "fees_paid_until": "2019-01-01"},
    "filing in year one": lambda n: {**BASE, "number": n, "filing_date": "0001-01-01", "grant_date": None},
    "expiry in 9999": lambda n: {**BASE, "number": n, "expiry_date": "9999-12-31"},
    "not a date": lambda n: {**BASE, "number": n, "filing_date": "2019-13-45"},
    "oversize title": lambda n: {**BASE, "number": n, "title": "专" * 301},
    "empty title": lambda n: {**BASE, "number": n, "title": "   "},
    "oversize abstract": lambda n: {**BASE, "number": n, "abstract": "a" * 10_001},
    "oversize industry": lambda n: {**BASE, "number": n, "industry": "x" * 81},
    "oversize number": lambda n: {**BASE, "number": "1" * 65},
    "bad ipc": lambda n: {**BASE, "number": n, "ipc_codes": ["Z99Q 1/00"]},
    "too many ipc": lambda n: {**BASE, "number": n, "ipc_codes": ["H01M 10/613"] * 51},
    "nice classes on a patent": lambda n: {**BASE, "number": n, "nice_classes": [9]},
    "nice class 46": lambda n: {**BASE, "kind": "trademark", "number": "123456", "ipc_codes": [], "nice_classes": [46]},
    "ipc on a trademark": lambda n: {**BASE, "kind": "trademark", "number": "123456"},
    "bad country": lambda n: {**BASE, "number": n, "family_countries": ["USA"]},
    "unknown award": lambda n: {**BASE, "number": n, "awards": ["nobel_prize"]},
    "unknown field": lambda n: {**BASE, "number": n, "owner_org_id": "org_someone_else"},
    "status on create": lambda n: {**BASE, "number": n, "status": "valid"},
    "wrong type": lambda n: {**BASE, "number": n, "claims_count": "ten"},
    "bad trademark": lambda n: {**BASE, "kind": "trademark", "number": "TM-12", "ipc_codes": []},
    "bad software copyright": lambda n: {**BASE, "kind": "software_copyright", "number": "2022SR12", "ipc_codes": []},
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bad_asset_input_is_422_and_writes_nothing(api, client, app, case):
    sme = await api.org("sme")
    before = await table_counts(app)
    r = await client.post("/assets", json=BAD_BODIES[case](patent_number()), headers=sme.headers)
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"] and all({"loc", "msg"} <= e.keys() for e in problem["errors"])
    assert await table_counts(app) == before


async def test_missing_auth_is_401_and_writes_nothing(client, app):
    before = await table_counts(app)
    assert_problem(await client.post("/assets", json={**BASE, "number": patent_number()}), 401, "not_authenticated")
    assert_problem(await client.get("/assets"), 401, "not_authenticated")
    assert_problem(await client.get("/assets/ast_x"), 401, "not_authenticated")
    assert_problem(await client.patch("/assets/ast_x", json={"claims_count": 3}), 401, "not_authenticated")
    assert await table_counts(app) == before


async def test_duplicate_kind_and_number_is_409_however_typed(api, client, app):
    sme = await api.org("sme")
    uni = await api.org("university")
    number = patent_number()
    await api.asset(sme, number=number)
    before = await table_counts(app)
    for typed in (number, f"ZL{number}", f"zl {number.replace('.', '')}", f"CN {number}"):
        for owner in (sme, uni):
            assert_problem(await client.post("/assets", json={**BASE, "number": typed}, headers=owner.headers),
                           409, "already_exists")
    tm = {"kind": "trademark", "number": "48213567", "title": "锂能", "nice_classes": [9]}
    assert (await client.post("/assets", json=tm, headers=sme.headers)).status_code == 201
    before = await table_counts(app)
    assert_problem(await client.post("/assets", json={**tm, "number": "第48213567号"}, headers=uni.headers),
                   409, "already_exists")
    assert await table_counts(app) == before
    # The same digits as another kind are another registration (a trademark number 48213567 vs a copyright).
    sw = {"kind": "software_copyright", "number": "2022SR0456789", "title": "BMS"}
    assert (await client.post("/assets", json=sw, headers=sme.headers)).status_code == 201


async def test_get_asset_unknown_is_404(api, client):
    sme = await api.org("sme")
    assert_problem(await client.get("/assets/ast_missing", headers=sme.headers), 404, "not_found")
    assert_problem(await client.patch("/assets/ast_missing", json={"claims_count": 3}, headers=sme.headers),
                   404, "not_found")


async def test_assets_are_public_registry_data(api, client):
    sme = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(sme)
    r = await client.get(f"/assets/{a['id']}", headers=bank.headers)
    assert r.status_code == 200 and r.json()["owner_org_id"] == sme.org_id


async def test_patch_by_owner_and_refusals(api, client, app):
    sme = await api.org("sme")
    other = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(sme)
    r = await client.patch(f"/assets/{a['id']}", json={"fees_paid_until": "2027-05-10", "claims_count": 12,
                                                       "family_countries": ["us", "EP"]}, headers=sme.headers)
    assert r.status_code == 200, r.text
    assert r.json()["fees_paid_until"] == "2027-05-10" and r.json()["family_countries"] == ["US", "EP"]
    assert r.json()["high_value"]["criteria"] == ["overseas_family"]
    before = await table_counts(app)
    for party in (other, bank, await api.admin()):
        assert_problem(await client.patch(f"/assets/{a['id']}", json={"claims_count": 1}, headers=party.headers),
                       403, "forbidden")
    for bad in ({"grant_date": "2018-01-01"}, {"claims_count": -2}, {"title": None}, {"title": "t" * 301},
                {"owner_org_id": other.org_id}, {"number": "201710601862.3"}, {"status": "stolen"},
                {"kind": "trademark"}):
        assert_problem(await client.patch(f"/assets/{a['id']}", json=bad, headers=sme.headers),
                       422, "validation_error")
    assert await table_counts(app) == before
    async with app.state.engine.connect() as conn:
        stored = (await conn.execute(sa.select(Asset).where(Asset.id == a["id"]))).one()
        assert stored.claims_count == 12 and stored.owner_org_id == sme.org_id
        audit = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.object_id == a["id"],
                                                                AuditEvent.action == "asset.updated"))).one()
    assert audit.before["claims_count"] == 10 and audit.after["claims_count"] == 12
    assert audit.actor_org_id == sme.org_id


async def test_status_transitions_and_event(api, client, app):
    sme = await api.org("sme")
    a = await api.asset(sme)
    seen = []

    async def listener(session, payload):
        seen.append(payload)

    events.subscribe(events.ASSET_STATUS_CHANGED)(listener)
    try:
        r = await client.patch(f"/assets/{a['id']}", json={"status": "lapsed"}, headers=sme.headers)
        assert r.status_code == 200 and r.json()["status"] == "lapsed"
        assert seen == [{"asset_id": a["id"], "before": "valid", "after": "lapsed"}]
        r = await client.patch(f"/assets/{a['id']}", json={"status": "valid"}, headers=sme.headers)
        assert r.status_code == 200 and r.json()["status"] == "valid"
        r = await client.patch(f"/assets/{a['id']}", json={"status": "expired"}, headers=sme.headers)
        assert r.json()["status"] == "expired" and len(seen) == 3
        before = await table_counts(app)
        for back in ("valid", "lapsed", "pending"):
            assert_problem(await client.patch(f"/assets/{a['id']}", json={"status": back}, headers=sme.headers),
                           409, "invalid_state")
        assert await table_counts(app) == before and len(seen) == 3
        # Patching other fields does not publish.
        assert (await client.patch(f"/assets/{a['id']}", json={"claims_count": 3}, headers=sme.headers)).status_code == 200
        assert len(seen) == 3
    finally:
        events._subscribers[events.ASSET_STATUS_CHANGED].remove(listener)


async def test_search_by_chinese_and_english_words(api, client):
    sme = await api.org("sme")
    await api.asset(sme, title="一种碳化硅单晶生长方法", abstract="物理气相传输法 PVT growth of SiC crystals",
                    ipc_codes=["C30B 29/36"])
    await api.asset(sme, title="锂离子电池热失控预警系统", abstract="Machine Learning 预测热失控",
                    ipc_codes=["H01M 10/48"])
    await api.asset(sme, title="黄芪饮片炮制方法", abstract="Astragalus 蜜炙", ipc_codes=["A61K 36/481"])

    async def titles(q):
        r = await client.get("/assets", params={"q": q}, headers=sme.headers)
        assert r.status_code == 200, r.text
        return sorted(x["title"] for x in r.json()["data"])

    assert await titles("碳化硅") == ["一种碳化硅单晶生长方法"]
    assert await titles("热失控") == ["锂离子电池热失控预警系统"]
    assert await titles("machine learning") == ["锂离子电池热失控预警系统"]
    assert await titles("MACHINE") == ["锂离子电池热失控预警系统"]
    assert await titles("ＳｉＣ") == ["一种碳化硅单晶生长方法"]  # full-width letters
    assert await titles("astragalus 蜜炙") == ["黄芪饮片炮制方法"]
    assert await titles("astragalus 碳化硅") == []  # every word must match
    assert await titles("%") == [] and await titles("_") == []  # LIKE wildcards are literal
    assert len(await titles("方法")) == 2
    assert len(await titles("")) == 3


async def test_filters(api, client, app):
    uni = await api.org("university")
    sme = await api.org("sme")
    old = await api.asset(uni, ipc_codes=["G06N 3/04"], filing_date="2015-01-10", grant_date="2017-06-01")
    recent = await api.asset(uni, filing_date="2022-01-10", grant_date="2024-06-01")
    firm_old = await api.asset(sme, filing_date="2015-01-10", grant_date="2017-06-01")
    tm = (await client.post("/assets", json={"kind": "trademark", "number": "7654321", "title": "晋味",
                                             "nice_classes": [30]}, headers=sme.headers)).json()

    async def ids(**params):
        r = await client.get("/assets", params={"limit": 100, **params}, headers=sme.headers)
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["data"]}

    assert await ids(kind="trademark") == {tm["id"]}
    assert await ids(ipc="G06N") == {old["id"]}
    assert await ids(ipc="h01m") == {recent["id"], firm_old["id"]}
    assert await ids(ipc="H01M 10/613") == {recent["id"], firm_old["id"]}
    assert await ids(owner_org_id=uni.org_id) == {old["id"], recent["id"]}
    assert await ids(dormant="true") == {old["id"]}
    assert old["id"] not in await ids(dormant="false")
    assert await ids(status="valid", kind="invention_patent") == {old["id"], recent["id"], firm_old["id"]}
    # A license or transfer wakes a dormant patent.
    async with open_session(app) as session:
        from market.assets import service
        asset = await session.get(Asset, old["id"])
        await service.record_transaction(session, asset)
        await session.commit()
    assert await ids(dormant="true") == set()
    assert_problem(await client.get("/assets", params={"kind": "domain_name"}, headers=sme.headers),
                   422, "validation_error")
    assert_problem(await client.get("/assets", params={"dormant": "maybe"}, headers=sme.headers),
                   422, "validation_error")
    assert_problem(await client.get("/assets", params={"q": "x" * 201}, headers=sme.headers),
                   422, "validation_error")


async def test_cursor_pagination_walks_every_row_once(api, client, app):
    sme = await api.org("sme")
    created = []
    for i in range(23):
        body = f"2020100{i:05d}"
        created.append((await api.asset(sme, number=f"{body}.{patent_check_character(body)}"))["id"])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/assets", params=params, headers=sme.headers)).json()
        seen += [x["id"] for x in page["data"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        assert len(page["data"]) == 5
    assert pages == 5 and len(seen) == 23 and set(seen) == set(created)
    assert seen == sorted(created, reverse=True)  # newest first, no duplicates, no gaps
    for limit in (0, 101, -1):
        assert_problem(await client.get("/assets", params={"limit": limit}, headers=sme.headers),
                       422, "validation_error")
    for bad in ("!!!", "bm90LWFuLWlk", "%%%", "x" * 201):
        assert_problem(await client.get("/assets", params={"cursor": bad}, headers=sme.headers),
                       422, "validation_error")
    assert await count(app, OwnershipRecord) == 23


async def test_search_index_follows_updates(api, client, app):
    from market.assets import search

    sme = await api.org("sme")
    a = await api.asset(sme, title="一种电池液冷板", abstract="液冷 cold plate for battery modules")

    async def ids(q):
        r = await client.get("/assets", params={"q": q}, headers=sme.headers)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["data"]]

    for q in ("电池", "液冷板", "电", "cold plate", "battery", "bat", "ry mod", "板 液冷", "一种电池液冷板"):
        assert await ids(q) == [a["id"]], q
    for q in ("池液冷板x", "冷电", "batteries", "液 冷x"):
        assert await ids(q) == [], q
    r = await client.patch(f"/assets/{a['id']}", json={"title": "一种储能变流器", "abstract": "inverter"},
                           headers=sme.headers)
    assert r.status_code == 200
    assert await ids("电池") == [] and await ids("battery") == []
    assert await ids("储能") == [a["id"]] and await ids("inverter") == [a["id"]]
    if not app.state.settings.is_sqlite:
        return
    async with open_session(app) as session:
        assert await search._sqlite_fts(session) is True  # the indexed path is the one tested here
        for pattern, n in (("% 储能 %", 1), ("%储能变流%", 1), ("% 电池 %", 0)):
            found = (await session.exec(sa.text("SELECT count(*) FROM assets_fts WHERE search_text LIKE :p")
                                        .bindparams(p=pattern))).one()
            assert found[0] == n, pattern


def test_search_text_lists_each_cjk_bigram_once():
    from market.assets.search import search_text

    text = search_text("碳化硅单晶", "SiC 碳化硅")
    assert text == "碳化硅单晶\nsic 碳化硅\n 碳化 化硅 硅单 单晶 "
    assert search_text("Battery", None) == "battery\n"


FUTURE_FACTS = {
    "filing after the business date": {"filing_date": "2026-03-03", "grant_date": None, "expiry_date": "2046-03-03",
                                       "fees_paid_until": "2027-03-03"},
    "grant after the business date": {"filing_date": "2021-01-05", "grant_date": "2026-03-03"},
}


@pytest.mark.parametrize("case", list(FUTURE_FACTS))
async def test_filing_and_grant_dates_may_not_be_after_the_business_date(api, client, app, case):
    sme = await api.org("sme")
    number = patent_number()
    before = await table_counts(app)
    r = await client.post("/assets", json={**BASE, "number": number, **FUTURE_FACTS[case]}, headers=sme.headers)
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"][0]["loc"][0] == "body" and "business date 2026-03-02" in problem["detail"]
    assert await table_counts(app) == before
    # The business date itself is fine, and so are expiry and paid-up fees in the future.
    a = await api.asset(sme, number=number, filing_date="2021-01-05", grant_date="2026-03-02",
                        expiry_date="2041-01-05", fees_paid_until="2027-01-05")
    before = await table_counts(app)
    for patch in ({"grant_date": "2026-03-03"}, {"filing_date": "2030-01-01"}):
        assert_problem(await client.patch(f"/assets/{a['id']}", json=patch, headers=sme.headers),
                       422, "validation_error")
    assert await table_counts(app) == before


async def test_the_year_in_a_number_is_bounded_by_the_business_date_not_the_calendar(api, client, app):
    from kernel.clock import ClockState
    from tests.helpers import execute

    sme = await api.org("sme")
    next_year = patent_number(year=2027)
    before = await table_counts(app)
    for body in ({**BASE, "number": next_year, "filing_date": None, "grant_date": None},
                 {"kind": "software_copyright", "number": "2027SR0456789", "title": "BMS"},
                 {"kind": "copyright", "number": "晋作登字-2027-F-00012345", "title": "晋祠"},
                 {"kind": "plant_variety", "number": "CNA20271234.5", "title": "晋谷21号"}):
        problem = assert_problem(await client.post("/assets", json=body, headers=sme.headers), 422,
                                 "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "number"] and "2027" in problem["detail"], problem
    assert await table_counts(app) == before
    this_year = await api.asset(sme, number=patent_number(year=2026), filing_date="2026-01-05", grant_date=None)
    assert this_year["status"] == "pending"
    # Once the business date reaches 2027 the same number registers.
    await execute(app, sa.update(ClockState).values(business_date=date(2027, 1, 4)))
    a = await api.asset(sme, number=next_year, filing_date="2027-01-04", grant_date=None,
                        fees_paid_until="2028-01-04", expiry_date="2047-01-04")
    assert a["number"] == next_year


async def test_get_asset_has_every_field_the_contract_names(api, client, app):
    from market.assets import encumbrances as enc
    from market.assets import service as asset_service
    from tests.market.test_assets_rules import _actor

    uni = await api.org("university")
    bank = await api.org("bank")
    a = await api.asset(uni, strategic_emerging=True)
    async with open_session(app) as session:
        assets = await asset_service.lock_assets(session, [a["id"]])
        await enc.encumber(session, _actor(uni), assets, "open_license", "olic_1")
        await enc.encumber(session, _actor(bank), assets, "pledge", "loan_1", holder_org_id=bank.org_id)
        await session.commit()
    r = await client.get(f"/assets/{a['id']}", headers=bank.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["owner_org_id"] == uni.org_id and body["status"] == "valid"
    assert sorted(({k: e[k] for k in ("kind", "ref_id", "since")} for e in body["encumbrances"]),
                  key=lambda e: e["kind"]) == [
        {"kind": "open_license", "ref_id": "olic_1", "since": "2026-03-02"},
        {"kind": "pledge", "ref_id": "loan_1", "since": "2026-03-02"},
    ]
    assert [(o["owner_org_id"], o["via"]) for o in body["ownership_history"]] == [(uni.org_id, "registration")]
    assert body["high_value"] == {"is_high_value": True, "criteria": ["strategic_emerging_industry"]}


async def test_a_pending_patent_becomes_valid_only_with_its_grant_date(api, client, app):
    sme = await api.org("sme")
    a = await api.asset(sme, grant_date=None)
    assert a["status"] == "pending"
    before = await table_counts(app)
    problem = assert_problem(await client.patch(f"/assets/{a['id']}", json={"status": "valid"}, headers=sme.headers),
                             422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "grant_date"]
    assert await table_counts(app) == before
    r = await client.patch(f"/assets/{a['id']}", json={"status": "valid", "grant_date": "2022-02-01"},
                           headers=sme.headers)
    assert r.status_code == 200 and r.json()["status"] == "valid" and r.json()["grant_date"] == "2022-02-01"
