"""An organisation keeps its profile (honours, R&D spending) up to date; the statistics read it."""

from accounts.models import Org
from kernel.audit import AuditEvent
from tests.helpers import assert_problem, open_session, table_counts


async def test_org_admin_updates_its_profile_and_the_index_follows(api, client, app):
    sme = await api.org("sme", region="140100")
    regulator = await api.org("regulator")
    body = {"ip_honours": ["national_demonstration", "provincial_advantage"], "rd_spending_last_year": 3_000_000_000,
            "industry": "新材料"}
    r = await client.patch(f"/orgs/{sme.org_id}", json=body, headers=sme.headers)
    assert r.status_code == 200, r.text
    assert r.json()["ip_honours"] == body["ip_honours"] and r.json()["rd_spending_last_year"] == 3_000_000_000
    index = (await client.get("/stats/enterprise-ip-index?region=140100", headers=regulator.headers)).json()
    assert index["data"][0]["index"] == 4  # 1×3 + 1×1
    async with open_session(app) as session:
        from sqlmodel import select

        events = (await session.exec(select(AuditEvent).where(AuditEvent.action == "org.updated"))).all()
    assert len(events) == 1 and events[0].before["ip_honours"] == [] and events[0].actor_org_id == sme.org_id


async def test_profile_refusals_change_nothing(api, client, app):
    sme = await api.org("sme")
    member = await api.user(sme.org_id, "sme", role="member")
    other = await api.org("sme")
    before = await table_counts(app)
    assert_problem(await client.patch(f"/orgs/{sme.org_id}", json={"industry": "x"}, headers=other.headers),
                   404, "not_found")
    assert_problem(await client.patch(f"/orgs/{sme.org_id}", json={"industry": "x"}, headers=member.headers),
                   403, "forbidden")
    for bad in ({"rd_spending_last_year": -1}, {"ip_honours": ["made_up"]}, {"credit_code": "x"},
                {"kind": "bank"}, {"name": None}, {"name": "x" * 201}):
        assert_problem(await client.patch(f"/orgs/{sme.org_id}", json=bad, headers=sme.headers), 422,
                       "validation_error")
    assert await table_counts(app) == before
    async with open_session(app) as session:
        assert (await session.get(Org, sme.org_id)).industry is None


async def test_rd_spending_is_private_to_the_org_regulators_and_admin(api, client):
    sme = await api.org("sme", rd_spending_last_year=123_00)
    regulator, bank = await api.org("regulator"), await api.org("bank")
    admin = await api.admin()
    for party, visible in ((sme, True), (regulator, True), (admin, True), (bank, False)):
        got = (await client.get(f"/orgs/{sme.org_id}", headers=party.headers)).json()
        assert (got["rd_spending_last_year"] == 123_00) is visible, party.kind
