"""Only the guarantor or insurer the lending bank invited may join a loan; anyone else finds no loan."""

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem, table_counts

GUARANTEE = {"share_bps": 3000, "fee_rate_bps": 100}
INSURANCE = {"share_bps": 2000, "premium": 1000}


async def test_an_uninvited_guarantor_or_insurer_gets_404_whatever_the_loans_state(api, client, app):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    url = f"/loans/{loan['id']}"
    intruder_g, intruder_i = await api.org("guarantor"), await api.org("insurer")
    before = await table_counts(app)
    assert_problem(await client.post(f"{url}/guarantee", json=GUARANTEE, headers=intruder_g.headers), 404, "not_found")
    assert_problem(await client.post(f"{url}/insurance", json=INSURANCE, headers=intruder_i.headers), 404, "not_found")
    assert_problem(await client.get(url, headers=intruder_g.headers), 404, "not_found")
    assert_problem(await client.get(f"{url}/invitations", headers=intruder_i.headers), 404, "not_found")
    assert await table_counts(app) == before
    # Once active, the answer is still 404 (not 409 "active"): the state does not leak.
    await lf.register(api, c, loan["id"])
    assert (await client.post(f"{url}/disburse", headers=c.bank.headers)).status_code == 200
    body = assert_problem(await client.post(f"{url}/guarantee", json=GUARANTEE, headers=intruder_g.headers),
                          404, "not_found")
    assert "active" not in body["detail"]
    assert_problem(await client.post(f"{url}/guarantee", json=GUARANTEE, headers=intruder_g.headers),
                   404, "not_found")
    assert_problem(await client.post("/loans/lon_nope/guarantee", json=GUARANTEE, headers=intruder_g.headers),
                   404, "not_found")


async def test_the_invited_join_and_nobody_else_takes_their_place(api, client, app):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    url = f"/loans/{loan['id']}"
    chosen, rival = await api.org("guarantor"), await api.org("guarantor")
    insurer = await api.org("insurer")
    invitation = await lf.invite(api, c.bank, loan["id"], chosen, "guarantee")
    assert (invitation["status"], invitation["kind"], invitation["org_id"]) == ("pending", "guarantee", chosen.org_id)
    # The invitation waits in the invitee's inbox (and only there) until it joins.
    def invited(r) -> list[str]:
        return [i["action"]["path"] for i in r.json()["data"] if i["kind"] == "invitation.open"]
    assert invited(await client.get("/inbox", headers=chosen.headers)) == [f"/loans/{loan['id']}/guarantee"]
    assert invited(await client.get("/inbox", headers=rival.headers)) == []
    # The invitee may read the loan's terms and its own invitation before joining.
    assert (await client.get(url, headers=chosen.headers)).status_code == 200
    mine = (await client.get(f"{url}/invitations", headers=chosen.headers)).json()["data"]
    assert [i["id"] for i in mine] == [invitation["id"]]
    # An insurer is not invited to guarantee, nor a guarantor to insure.
    await lf.invite(api, c.bank, loan["id"], insurer, "insurance")
    assert_problem(await client.post(f"{url}/insurance", json=INSURANCE, headers=chosen.headers), 403, "forbidden")
    assert_problem(await client.post(f"{url}/guarantee", json=GUARANTEE, headers=insurer.headers), 403, "forbidden")
    assert_problem(await client.post(f"{url}/guarantee", json=GUARANTEE, headers=rival.headers), 404, "not_found")
    r = await client.post(f"{url}/guarantee", json=GUARANTEE, headers=chosen.headers)
    assert r.status_code == 201 and r.json()["guarantee"]["guarantor_org_id"] == chosen.org_id
    assert_problem(await client.post(f"{url}/guarantee", json=GUARANTEE, headers=chosen.headers),
                   409, "invalid_state")
    assert invited(await client.get("/inbox", headers=chosen.headers)) == []
    everything = (await client.get(f"{url}/invitations", headers=c.sme.headers)).json()["data"]
    assert {(i["org_id"], i["status"]) for i in everything} == {(chosen.org_id, "accepted"),
                                                                (insurer.org_id, "pending")}
    # The rival, invited only now, is too late: the loan has its guarantee.
    assert_problem(await client.post(f"{url}/invitations", json={"org_id": rival.org_id, "kind": "guarantee"},
                                     headers=c.bank.headers), 409, "invalid_state")
    r = await client.post(f"{url}/insurance", json=INSURANCE, headers=insurer.headers)
    assert r.status_code == 201, r.text


async def test_only_the_lending_bank_invites_and_only_the_right_kind(api, client, app):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    url = f"/loans/{loan['id']}/invitations"
    guarantor, other_bank, other_sme = await api.org("guarantor"), await api.org("bank"), await api.org("sme")
    body = {"org_id": guarantor.org_id, "kind": "guarantee"}
    before = await table_counts(app)
    assert_problem(await client.post(url, json=body, headers=other_bank.headers), 404, "not_found")
    assert_problem(await client.post(url, json=body, headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.post(url, json=body, headers=guarantor.headers), 404, "not_found")
    assert_problem(await client.post(url, json=body, headers=c.sme.headers), 403, "forbidden")
    for bad in ({**body, "kind": "insurance"}, {**body, "org_id": other_bank.org_id}, {**body, "org_id": "org_x"},
                {**body, "kind": "loan"}, {"org_id": guarantor.org_id}):
        assert_problem(await client.post(url, json=bad, headers=c.bank.headers), 422, "validation_error")
    assert await table_counts(app) == before
    assert (await client.post(url, json=body, headers=c.bank.headers)).status_code == 201
    assert_problem(await client.post(url, json=body, headers=c.bank.headers), 409, "already_exists")


async def test_another_organisations_loan_is_404_for_every_verb(api, client):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    url = f"/loans/{loan['id']}"
    for party in (await api.org("sme"), await api.org("bank"), await api.org("guarantor")):
        for path, body in (("/disburse", None), ("/pledge-registration", {"registration_no": "Y", "registered_on":
                                                                           "2026-03-02"}),
                           ("/fund-cover", {"program_id": "fpg_x"}), ("/default", None),
                           ("/compensation-claims", None), ("/write-off", None), ("/repayments", {"amount": 100})):
            assert_problem(await client.post(url + path, json=body, headers=party.headers), 404, "not_found")
