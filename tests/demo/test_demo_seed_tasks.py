"""The demo's stories of the seeds' other tasks (IP rewards, the white list, a GI) on the demo data alone,
checked by hand: they need no loan, so they are told here without the loan stories."""

from demo import stories
from demo.seed import load
from demo.world import World, client_for, people_of, run
from kernel.clock import business_date
from tests.helpers import open_session


async def test_rewards_whitelist_and_gi_stories(app, client, api):
    assert (await load(app.state.session_factory)).loaded
    async with open_session(app) as session:
        start = await business_date(session)
        from sqlmodel import select

        from market.assets.models import Asset
        assets = {a.number: a.id for a in (await session.exec(select(Asset))).all()}
    async with client_for(app) as demo_client:
        world = World(app, demo_client, await people_of(app), start)
        world.made.update(assets=assets)
        await run(world, [stories.ip_rewards, stories.whitelist, stories.geographical_indication], 14)
    regulator = world.headers(stories.REGULATOR)
    claims = (await client.get("/subsidy-claims", params={"limit": 100}, headers=regulator)).json()["data"]
    by_kind = {}
    for c in claims:
        policy = (await client.get(f"/subsidy-policies/{c['policy_id']}", headers=regulator)).json()
        by_kind[policy["kind"]] = c
    hv = by_kind["high_value_patent"]
    # 202210123456.1 (granted 2024-03-08, strategic emerging) qualifies; 201810456789.X (granted 2020) does not.
    assert [i["verdict"] for i in hv["items"]] == ["qualifies", "not_qualifying"]
    assert (hv["amount"], hv["status"]) == (5_000 * 100, "paid")
    assert (by_kind["ip_management_certification"]["amount_paid"], by_kind["ip_management_certification"]["status"]) \
        == (200_000 * 100, "paid")
    assert (by_kind["gi_mark"]["amount"], by_kind["gi_mark"]["status"]) == (30_000 * 100, "pending")
    bank = world.headers("bank1@demo.ipm")
    [wl] = (await client.get("/whitelists", headers=bank)).json()["data"]
    entries = {e["org_name"]: e["indicators"]
               for e in (await client.get(f"/whitelists/{wl['id']}", headers=bank)).json()["entries"]}
    # 长治光芯: invention patents 201810456789.X and 202210123456.1 in force (202310654321.2 is pending), both
    # strategic emerging, so high-value; national advantage × 2 + 贯标 × 1 = 3.
    sme3 = entries["长治光芯半导体材料有限公司"]
    assert (sme3["invention_patents"], sme3["high_value_patents"], sme3["enterprise_ip_index"]) == (2, 2, 3)
    # 太原锂能: 202110345678.3 and 201910602214.9, both strategic emerging; provincial advantage × 1.
    sme1 = entries["太原锂能新材料科技有限公司"]
    assert (sme1["invention_patents"], sme1["high_value_patents"], sme1["enterprise_ip_index"]) == (2, 2, 1)
    listings = (await client.get("/listings", params={"limit": 100}, headers=bank)).json()["data"]
    assert any("运城黄芩" in x["title"] for x in listings)
    ind = (await client.get("/stats/indicators", params={"year": 2025}, headers=regulator)).json()
    rows = {x["indicator"]: x for x in ind["data"]}
    # The demo's honours: sme1 provincial advantage 1, sme2 provincial demonstration 2, sme3 national
    # advantage 2 + 贯标 1 = 6; one GI collective mark; no pledge registered yet (the loan stories did not run).
    assert rows["enterprise_ip_index"]["figure"] == 6
    assert (rows["collective_marks"]["figure"], rows["gi_products"]["figure"]) == (1, 0)
    assert (rows["pledge_financing_amount"]["figure"], rows["pledge_financing_amount"]["met"]) == (0.0, False)
