"""The organisation directory, an organisation's users, disabling users and changing passwords."""

from __future__ import annotations

from tests.helpers import assert_problem


async def _login(client, email, password="s3cret-pass"):
    return await client.post("/auth/token", data={"username": email, "password": password})


async def test_directory_full_for_admin_and_regulator_public_institutions_for_others(api, client):
    bank = await api.org("bank", name="晋商银行", region="140100")
    sme = await api.org("sme", name="太原精密机械", region="140100", rd_spending_last_year=5_000_000)
    guarantor = await api.org("guarantor", region="140200")
    regulator = await api.org("regulator")
    rows = (await client.get("/orgs", params={"limit": 100}, headers=sme.headers)).json()["data"]
    assert {r["id"] for r in rows} == {bank.org_id, guarantor.org_id, regulator.org_id}
    assert all(set(r) == {"id", "name", "kind", "region"} for r in rows)
    assert (await client.get("/orgs", params={"kind": "sme"}, headers=bank.headers)).json()["data"] == []
    got = (await client.get("/orgs", params={"region": "140100"}, headers=sme.headers)).json()["data"]
    assert got == [{"id": bank.org_id, "name": "晋商银行", "kind": "bank", "region": "140100"}]
    for reader in (regulator, await api.admin()):
        rows = (await client.get("/orgs", params={"kind": "sme"}, headers=reader.headers)).json()["data"]
        assert [(r["id"], r["credit_code"] is not None, r["rd_spending_last_year"]) for r in rows] == [
            (sme.org_id, True, 5_000_000)]
        rows = (await client.get("/orgs", params={"region": "140100", "q": "精密"}, headers=reader.headers)).json()
        assert [r["id"] for r in rows["data"]] == [sme.org_id]
    assert_problem(await client.get("/orgs", params={"kind": "alien"}, headers=sme.headers), 422, "validation_error")


async def test_org_admin_manages_its_users_disabling_revokes_tokens(api, client):
    bank = await api.org("bank")
    clerk = await api.user(bank.org_id, "bank", role="member")
    other = await api.org("bank")
    rows = (await client.get(f"/orgs/{bank.org_id}/users", headers=bank.headers)).json()["data"]
    assert [(r["id"], r["role"], r["disabled"]) for r in rows] == [(clerk.user_id, "member", False),
                                                                   (bank.user_id, "org_admin", False)]
    assert_problem(await client.get(f"/orgs/{bank.org_id}/users", headers=clerk.headers), 403, "forbidden")
    assert_problem(await client.get(f"/orgs/{bank.org_id}/users", headers=other.headers), 404, "not_found")
    assert_problem(await client.patch(f"/users/{clerk.user_id}", json={"disabled": True}, headers=other.headers),
                   404, "not_found")
    assert_problem(await client.patch(f"/users/{bank.user_id}", json={"role": "member"}, headers=clerk.headers),
                   403, "forbidden")
    # The last active admin can be neither demoted nor disabled.
    assert_problem(await client.patch(f"/users/{bank.user_id}", json={"role": "member"}, headers=bank.headers),
                   409, "invalid_state")
    assert_problem(await client.patch(f"/users/{clerk.user_id}", json={"role": "admin"}, headers=bank.headers),
                   422, "validation_error")
    assert (await client.get("/me", headers=clerk.headers)).status_code == 200
    r = await client.patch(f"/users/{clerk.user_id}", json={"disabled": True}, headers=bank.headers)
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert_problem(await client.get("/me", headers=clerk.headers), 401, "not_authenticated")
    assert_problem(await _login(client, clerk.email), 401, "not_authenticated")
    r = await client.patch(f"/users/{clerk.user_id}", json={"disabled": False, "role": "org_admin"},
                           headers=(await api.admin()).headers)
    assert r.status_code == 200 and r.json()["role"] == "org_admin"
    assert_problem(await client.get("/me", headers=clerk.headers), 401, "not_authenticated")  # old token stays dead
    token = (await _login(client, clerk.email)).json()["access_token"]
    assert (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    # Now two admins: one may step down.
    r = await client.patch(f"/users/{bank.user_id}", json={"role": "member"}, headers=bank.headers)
    assert r.status_code == 200 and r.json()["role"] == "member"
    trail = (await client.get("/audit-events", params={"action": "user.updated"},
                              headers={"Authorization": f"Bearer {token}"})).json()["data"]
    assert (trail[0]["object_id"], trail[0]["after"]) == (bank.user_id, {"role": "member", "disabled": False})


async def test_password_change_revokes_tokens(api, client):
    sme = await api.org("sme")
    token = (await _login(client, sme.email)).json()["access_token"]
    fresh = {"Authorization": f"Bearer {token}"}
    body = {"current_password": "wrong-pass", "new_password": "n3w-s3cret-pass"}
    assert_problem(await client.post("/me/password", json=body, headers=fresh), 422, "validation_error")
    assert (await client.get("/me", headers=fresh)).status_code == 200
    r = await client.post("/me/password", json={**body, "current_password": "s3cret-pass"}, headers=fresh)
    assert r.status_code == 204, r.text
    assert_problem(await client.get("/me", headers=fresh), 401, "not_authenticated")
    assert_problem(await client.get("/me", headers=sme.headers), 401, "not_authenticated")
    assert_problem(await _login(client, sme.email), 401, "not_authenticated")
    assert (await _login(client, sme.email, "n3w-s3cret-pass")).status_code == 200
