"""The living demo: seeded into a fresh database through the API, a loan in every state, every screen of
every role showing something, every demo login working, and a second run changing nothing."""

from collections import Counter

from sqlmodel import select

from demo.seed import read_data, seed
from demo.stories import END
from finance.fund.claims import CompensationClaim
from finance.loans.models import Loan, LoanApplication, LoanOffer
from finance.servicing.models import LoanRestructure
from finance.subsidies.models import SubsidyClaim
from market.auctions.models import Auction
from market.licensing.models import License
from market.trading.models import Deal
from tests.finance.loans.loan_flow import START
from tests.helpers import open_session, table_counts


async def _statuses(app, model, column="status") -> Counter:
    async with open_session(app) as session:
        return Counter((await session.exec(select(getattr(model, column)))).all())


async def _login(client, email, password):
    r = await client.post("/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, (email, r.text)
    headers = {"Authorization": f"Bearer {r.json()['access_token']}", "Accept-Language": "zh-CN"}
    me = await client.get("/me", headers=headers)
    assert me.status_code == 200, me.text
    return headers, me.json()


async def test_demo_world_has_every_state_and_every_login_works(app, client):
    seeded = await seed(app)
    assert seeded.loaded and seeded.lived
    assert (seeded.end - START).days == END
    clock = (await client.get("/clock", headers=(await _login(client, "fund@demo.ipm", "demo-pass-2026"))[0])).json()
    assert clock == {"business_date": str(seeded.end), "mode": "manual"}

    loans = await _statuses(app, Loan)
    assert {"active", "overdue", "repaid", "defaulted", "disposing", "closed", "written_off", "secured"} <= set(loans)
    assert loans["active"] == 2  # one paying on time, one restructured and cured
    assert {"normal", "special_mention", "substandard"} <= set(await _statuses(app, Loan, "classification"))
    assert set(await _statuses(app, LoanApplication)) == {"submitted", "accepted"}
    assert (await _statuses(app, LoanOffer))["pending"] == 2
    assert set(await _statuses(app, CompensationClaim)) == {"pending", "paid"}
    assert set(await _statuses(app, LoanRestructure)) == {"accepted"}
    assert set(await _statuses(app, SubsidyClaim)) == {"paid", "pending"}
    assert {"open", "sold", "unsold"} <= set(await _statuses(app, Auction))
    assert (await _statuses(app, Deal))["recorded"] >= 3
    assert {"open", "exclusive"} <= set(await _statuses(app, License, "kind"))

    # Every demo login works, with the role the README promises.
    data = read_data()
    who: dict[str, dict[str, str]] = {}
    for org in data["orgs"]:
        for u in org["users"]:
            headers, me = await _login(client, u["email"], data["password"])
            assert (me["org"]["kind"], me["user"]["role"]) == (org["kind"], u["role"])
            who[u["email"]] = headers
    settings = app.state.settings
    admin, _ = await _login(client, settings.admin_email, settings.admin_password)

    # Each role finds its work and its figures.
    async def inbox(email):
        r = await client.get("/inbox", headers=who[email])
        assert r.status_code == 200, r.text
        return {item["kind"] for item in r.json()["data"]}

    assert "approval.to_decide" in await inbox("bank1-checker@demo.ipm")
    assert "claim.to_approve" in await inbox("fund@demo.ipm")
    assert "application.to_answer" in await inbox("bank3@demo.ipm")
    assert "offer.received" in await inbox("sme1@demo.ipm")
    assert "subsidy_claim.to_decide" in await inbox("regulator@demo.ipm")
    fund = who["fund@demo.ipm"]
    [program] = (await client.get("/fund/programs", headers=fund)).json()["data"]
    exposure = (await client.get(f"/fund/programs/{program['id']}/exposure", headers=fund)).json()
    assert exposure
    proof = (await client.get("/fund/ledger/verify", headers=fund)).json()
    assert proof["balanced"] and proof["chain_intact"] and proof["problems"] == []
    stats = await client.get("/stats/pledge-financing", params={"from": "2025-01-01", "to": str(seeded.end)},
                             headers=who["regulator@demo.ipm"])
    assert stats.status_code == 200 and stats.json()["totals"]["count"] >= 8, stats.text
    assert len((await client.get("/lpr", headers=admin)).json()) == 4
    # The seeds' other tasks: IP rewards with each item's verdict, the white list, a GI and the indicators.
    regulator = who["regulator@demo.ipm"]
    rewards = (await client.get("/subsidy-claims", params={"limit": 100}, headers=regulator)).json()["data"]
    verdicts = sorted(i["verdict"] for c in rewards for i in c["items"])
    assert verdicts == ["not_qualifying", "qualifies", "qualifies", "qualifies"], verdicts
    hv = next(c for c in rewards if len(c["items"]) == 2)
    assert hv["amount_paid"] == 5_000 * 100 and hv["status"] == "paid"
    [wl] = (await client.get("/whitelists", headers=who["bank1@demo.ipm"])).json()["data"]
    entries = (await client.get(f"/whitelists/{wl['id']}", headers=who["bank1@demo.ipm"])).json()["entries"]
    assert sorted(e["org_name"] for e in entries) == ["太原锂能新材料科技有限公司", "长治光芯半导体材料有限公司"]
    apps = (await client.get("/loan-applications", params={"limit": 100}, headers=who["bank3@demo.ipm"])).json()
    assert all(a["whitelisted"] == bool(a["whitelist_ids"]) for a in apps["data"])
    gis = (await client.get("/assets", params={"kind": "geographical_indication"}, headers=admin)).json()["data"]
    assert [(g["title"], g["region"]) for g in gis] == [("运城黄芩", "140800")]
    ind = (await client.get("/stats/indicators", params={"year": 2025}, headers=regulator)).json()
    rows = {x["indicator"]: x for x in ind["data"]}
    assert rows["collective_marks"]["figure"] == 1 and rows["pledge_financing_amount"]["target"] == 5.0
    assert rows["enterprise_ip_index"]["figure"] == 1 + 2 + 3 and rows["whitelisted_loans_count"]["figure"] >= 0

    # A second run changes nothing.
    before = await table_counts(app)
    again = await seed(app)
    assert not again.loaded and not again.lived
    assert await table_counts(app) == before
