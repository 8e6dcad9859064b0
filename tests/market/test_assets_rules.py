"""Encumbrance rules, the high-value verdict, ownership moves: the services other packages call."""

from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from kernel import events
from kernel.actor import Actor
from kernel.audit import AuditEvent
from kernel.errors import InvalidState
from market.assets import encumbrances as enc
from market.assets import service
from market.assets.errors import AssetEncumbered
from market.assets.models import Asset, Encumbrance
from tests.helpers import open_session

TODAY = date(2026, 3, 2)


def _actor(party) -> Actor:
    return Actor(user_id=party.user_id, org_id=party.org_id, org_kind=party.kind, role="org_admin")


async def _allowed(app, asset_id: str) -> dict[str, bool]:
    """For each action: may the asset undergo it now?"""
    out = {}
    async with open_session(app) as session:
        assets = await service.lock_assets(session, [asset_id])
        for action in enc.ACTIONS:
            try:
                await enc.ensure_allowed(session, assets, action)
                out[action] = True
            except AssetEncumbered:
                out[action] = False
    return out


async def _encumber(app, actor, asset_id, kind, ref_id, holder=None):
    async with open_session(app) as session:
        assets = await service.lock_assets(session, [asset_id])
        rows = await enc.encumber(session, actor, assets, kind, ref_id, holder_org_id=holder)
        await session.commit()
        return rows


async def _release(app, actor, ref_id):
    async with open_session(app) as session:
        n = await enc.release(session, actor, ref_id)
        await session.commit()
        return n


FREE = dict.fromkeys(enc.ACTIONS, True)


async def test_pledge_blocks_and_consent_lifts_one_action(api, client, app):
    sme = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(sme)
    assert await _allowed(app, a["id"]) == FREE
    await _encumber(app, _actor(bank), a["id"], "pledge", "loan_1", holder=bank.org_id)
    # Civil Code art. 444 (corrected brief §3): no license of any kind without the pledgee's consent.
    assert await _allowed(app, a["id"]) == {**FREE, "assign": False, "exclusive_license": False,
                                            "sole_license": False, "nonexclusive_license": False,
                                            "open_license": False, "pledge": False}
    with pytest.raises(AssetEncumbered) as info:
        await _encumber(app, _actor(bank), a["id"], "pledge", "loan_2")
    assert info.value.extra["encumbrances"] == [{"asset_id": a["id"], "kind": "pledge", "ref_id": "loan_1"}]
    # The pledgee consents to an assignment: only that action is freed.
    async with open_session(app) as session:
        await enc.grant_consent(session, _actor(bank), "loan_1", "assign")
        await session.commit()
    assert await _allowed(app, a["id"]) == {**FREE, "exclusive_license": False, "sole_license": False,
                                            "nonexclusive_license": False, "open_license": False, "pledge": False}
    # GET /assets/{id} shows the encumbrance.
    body = (await client.get(f"/assets/{a['id']}", headers=sme.headers)).json()
    assert body["encumbrances"] == [{"kind": "pledge", "ref_id": "loan_1", "since": "2026-03-02",
                                     "holder_org_id": bank.org_id}]
    assert await _release(app, _actor(bank), "loan_1") == 1
    assert await _release(app, _actor(bank), "loan_1") == 0  # releasing twice is harmless
    assert await _allowed(app, a["id"]) == FREE
    assert (await client.get(f"/assets/{a['id']}", headers=sme.headers)).json()["encumbrances"] == []
    async with app.state.engine.connect() as conn:
        actions = (await conn.execute(sa.select(AuditEvent.action).where(AuditEvent.object_id == a["id"])
                                      .order_by(AuditEvent.at))).scalars().all()
    assert actions == ["asset.registered", "asset.encumbered", "encumbrance.consent", "asset.released"]


@pytest.mark.parametrize(("kind", "blocked"), [
    ("exclusive_license", {"exclusive_license", "sole_license", "nonexclusive_license", "open_license"}),
    ("sole_license", {"exclusive_license", "sole_license", "nonexclusive_license", "open_license"}),
    ("open_license", {"exclusive_license", "sole_license"}),
])
async def test_licenses_block_as_the_law_says(api, app, kind, blocked):
    uni = await api.org("university")
    a = await api.asset(uni)
    await _encumber(app, _actor(uni), a["id"], kind, f"lic_{kind}")
    assert await _allowed(app, a["id"]) == {action: action not in blocked for action in enc.ACTIONS}
    await _release(app, _actor(uni), f"lic_{kind}")
    assert await _allowed(app, a["id"]) == FREE


async def test_bundles_and_status(api, client, app):
    sme = await api.org("sme")
    a, b = await api.asset(sme), await api.asset(sme)
    async with open_session(app) as session:
        assets = await service.lock_assets(session, [b["id"], a["id"]])
        assert [x.id for x in assets] == [b["id"], a["id"]]  # caller's order, locked in id order
        await enc.encumber(session, _actor(sme), assets, "pledge", "loan_b")
        await session.commit()
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(Encumbrance))).scalar_one() == 2
    assert await _release(app, _actor(sme), "loan_b") == 2
    # A lapsed patent cannot be pledged or opened for licensing; an expired one cannot be assigned.
    await client.patch(f"/assets/{a['id']}", json={"status": "lapsed"}, headers=sme.headers)
    async with open_session(app) as session:
        assets = await service.lock_assets(session, [a["id"]])
        for action in ("pledge", "open_license", "assign"):
            with pytest.raises(InvalidState):
                await enc.ensure_allowed(session, assets, action)
        with pytest.raises(ValueError):
            await enc.ensure_allowed(session, assets, "sell_twice")


def _asset(**kw) -> Asset:
    base = {"kind": "invention_patent", "number": "201710601862.3", "title": "t", "owner_org_id": "org_x",
            "filing_date": date(2019, 1, 1), "grant_date": date(2021, 1, 1), "status": "valid"}
    return Asset(**{**base, **kw})


@pytest.mark.parametrize(("facts", "criteria"), [
    ({}, []),
    ({"strategic_emerging": True}, ["strategic_emerging_industry"]),
    ({"family_countries": ["CN"]}, []),
    ({"family_countries": ["CN", "US"]}, ["overseas_family"]),
    ({"family_countries": ["WO"]}, ["overseas_family"]),
    ({"filing_date": date(2015, 1, 1)}, ["maintained_over_10_years"]),
    ({"filing_date": date(2016, 3, 2)}, []),  # exactly ten years is not more than ten
    ({"filing_date": date(2016, 3, 1)}, ["maintained_over_10_years"]),
    ({"filing_date": date(2015, 1, 1), "status": "lapsed"}, []),
    ({"max_pledge_amount": 500}, ["high_pledge_financing"]),
    ({"max_pledge_amount": 499}, []),
    ({"awards": ["national_sci_tech_award"]}, ["national_award"]),
    ({"awards": ["china_patent_award"]}, ["national_award"]),
    ({"awards": ["china_patent_excellence_award", "provincial_sci_tech_award"]}, []),
    ({"strategic_emerging": True, "family_countries": ["US"], "filing_date": date(2014, 5, 1),
      "max_pledge_amount": 10**9, "awards": ["china_patent_award"]},
     ["strategic_emerging_industry", "overseas_family", "maintained_over_10_years", "high_pledge_financing",
      "national_award"]),
])
def test_high_value_criteria(facts, criteria):
    assert service.high_value(_asset(**facts), TODAY, pledge_threshold=500) == criteria


@pytest.mark.parametrize("kind", ["utility_model", "design_patent", "trademark", "software_copyright"])
def test_only_invention_patents_are_high_value(kind):
    asset = _asset(kind=kind, strategic_emerging=True, family_countries=["US"], filing_date=date(2010, 1, 1),
                   max_pledge_amount=10**12, awards=["china_patent_award"])
    assert service.high_value(asset, TODAY, pledge_threshold=1) == []


async def test_pledge_threshold_comes_from_settings(api, client, app):
    sme = await api.org("sme")
    a = await api.asset(sme)
    threshold = app.state.settings.high_value_pledge_threshold
    async with open_session(app) as session:
        await service.record_pledge_amount(session, [a["id"]], threshold - 1)
        await session.commit()
    assert (await client.get(f"/assets/{a['id']}", headers=sme.headers)).json()["high_value"]["is_high_value"] is False
    async with open_session(app) as session:
        await service.record_pledge_amount(session, [a["id"]], threshold)
        await service.record_pledge_amount(session, [a["id"]], 1)  # a smaller later pledge keeps the maximum
        await session.commit()
    hv = (await client.get(f"/assets/{a['id']}", headers=sme.headers)).json()["high_value"]
    assert hv == {"is_high_value": True, "criteria": ["high_pledge_financing"]}


async def test_transfer_ownership_keeps_history_and_publishes(api, client, app):
    uni = await api.org("university")
    sme = await api.org("sme")
    a = await api.asset(uni)
    seen = []

    async def listener(session, payload):
        seen.append(payload)

    events.subscribe(events.ASSET_OWNER_CHANGED)(listener)
    try:
        await api.advance(3)
        async with open_session(app) as session:
            asset = (await service.lock_assets(session, [a["id"]]))[0]
            await service.transfer_ownership(session, _actor(sme), asset, sme.org_id, via="deal", ref_id="deal_1")
            await session.commit()
    finally:
        events._subscribers[events.ASSET_OWNER_CHANGED].remove(listener)
    assert seen == [{"asset_id": a["id"], "before": uni.org_id, "after": sme.org_id}]
    body = (await client.get(f"/assets/{a['id']}", headers=sme.headers)).json()
    assert body["owner_org_id"] == sme.org_id and body["last_transaction_on"] == "2026-03-05"
    assert body["ownership_history"] == [
        {"owner_org_id": uni.org_id, "from_date": "2026-03-02", "to_date": "2026-03-05", "via": "registration",
         "ref_id": None},
        {"owner_org_id": sme.org_id, "from_date": "2026-03-05", "to_date": None, "via": "deal", "ref_id": "deal_1"},
    ]
    # The old owner may no longer patch it; the new one may.
    r = await client.patch(f"/assets/{a['id']}", json={"claims_count": 2}, headers=uni.headers)
    assert r.status_code == 403
    assert (await client.patch(f"/assets/{a['id']}", json={"claims_count": 2}, headers=sme.headers)).status_code == 200
    async with open_session(app) as session:
        moved = (await session.exec(select(AuditEvent).where(AuditEvent.action == "asset.ownership_moved"))).one()
    assert moved.before == {"owner_org_id": uni.org_id} and moved.business_date == date(2026, 3, 5)


async def test_pledge_amount_and_transactions_are_audited(api, app):
    sme = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(sme)
    async with open_session(app) as session:
        await service.record_pledge_amount(session, [a["id"]], 5_000_000_00, actor=_actor(bank))
        await service.record_pledge_amount(session, [a["id"]], 1_000_00, actor=_actor(bank))  # no change, no event
        asset = await session.get(Asset, a["id"])
        await service.record_transaction(session, asset)
        await service.record_transaction(session, asset)  # same day again: nothing changes
        await session.commit()
    async with open_session(app) as session:
        rows = (await session.exec(select(AuditEvent).where(AuditEvent.object_id == a["id"],
                                                            AuditEvent.action != "asset.registered")
                                   .order_by(AuditEvent.at, AuditEvent.id))).all()
    assert [(r.action, r.actor_org_id, r.before, r.after) for r in rows] == [
        ("asset.pledge_amount_recorded", bank.org_id, {"max_pledge_amount": 0}, {"max_pledge_amount": 5_000_000_00}),
        ("asset.transacted", "platform", {"last_transaction_on": None}, {"last_transaction_on": "2026-03-02"}),
    ]
