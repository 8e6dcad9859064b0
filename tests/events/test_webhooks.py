"""Webhooks end to end against a real receiver on 127.0.0.1: signed, retried after a 500, in order per
object, disabled after persistent failure, secrets rotated; and the event feed each party sees."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kernel import outbox
from kernel.db import utcnow
from kernel.settings import get_settings
from kernel.webhooks import DELIVERIES, verify
from tests.events.receiver import receiver
from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem, execute


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(get_settings(), "webhook_backoff_seconds", 0.0)


async def _endpoint(client, party, url, types=("*",)):
    r = await client.post("/webhook-endpoints", json={"url": url, "event_types": list(types),
                                                      "description": "core banking"}, headers=party.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _drain(app):
    return await outbox.drain(app.state.session_factory, kinds=["webhook.deliver"])


async def test_bank_system_hears_its_loan_signed_in_order_and_a_500_is_retried(api, client, app, fast_retries):
    c = await lf.cast(api)
    rival = await api.org("bank")
    with receiver() as bank_rx, receiver() as rival_rx:
        ep = await _endpoint(client, c.bank, bank_rx.url)
        assert ep["status"] == "enabled" and ep["secret"].startswith("whsec_")
        listed = (await client.get("/webhook-endpoints", headers=c.bank.headers)).json()["data"]
        assert [e["id"] for e in listed] == [ep["id"]] and "secret" not in listed[0]
        await _endpoint(client, rival, rival_rx.url)
        bank_rx.script = [500]  # the first delivery fails once
        application = await lf.apply(api, c)
        o = await lf.offer(api, c.bank, application["id"])
        await lf.offer(api, rival, application["id"], annual_rate_bps=500)
        loan = (await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)).json()
        await lf.register(api, c, loan["id"])
        assert (await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)).status_code == 200
        await _drain(app)

        got = [(r.event["type"], r.event["data"]["object"]["id"]) for r in bank_rx.received]
        # The 500 was retried; other objects' events need not wait for it, one object's keep their order.
        assert got.count(("loan_application.submitted", application["id"])) == 2
        assert sorted(set(got)) == sorted({("loan_application.submitted", application["id"]),
                                           ("loan_offer.created", o["id"]), ("loan_offer.accepted", o["id"]),
                                           ("loan.secured", loan["id"]), ("loan.disbursed", loan["id"])})
        assert [t for t, i in got if i == o["id"]] == ["loan_offer.created", "loan_offer.accepted"]
        assert [t for t, i in got if i == loan["id"]] == ["loan.secured", "loan.disbursed"]
        for r in bank_rx.received:
            assert verify(r.headers["ipm-signature"], r.body, ep["secret"])
            assert not verify(r.headers["ipm-signature"], r.body, "whsec_wrong")
            assert r.headers["ipm-event-id"] == r.event["id"] and r.path == "/hooks/ipm"
        # The losing bank hears of the application and of its own offer declined, never of the winner's.
        rival_types = [r.event["type"] for r in rival_rx.received]
        assert rival_types == ["loan_application.submitted", "loan_offer.created", "loan_offer.declined"]
        assert all(r.event["data"]["object"].get("bank_org_id") in (None, rival.org_id) for r in rival_rx.received)

    r = await client.get(f"/webhook-endpoints/{ep['id']}/deliveries", headers=c.bank.headers)
    deliveries = r.json()["data"]
    assert [d["status"] for d in deliveries] == ["delivered"] * 5
    first = deliveries[-1]
    assert first["event_type"] == "loan_application.submitted" and first["attempts"] == 2
    assert [a["status_code"] for a in first["attempt_log"]] == [500, 200]
    # Exactly once per endpoint and event, retries aside.
    assert len({d["event_id"] for d in deliveries}) == 5

    # The feed: each party sees what it may.
    async def feed(party, **params):
        r = await client.get("/events", params=params, headers=party.headers)
        assert r.status_code == 200, r.text
        return [e["type"] for e in r.json()["data"]]

    assert await feed(c.bank, order="oldest") == ["loan_application.submitted", "loan_offer.created",
                                                  "loan_offer.accepted", "loan.secured", "loan.disbursed"]
    assert await feed(c.sme, type="loan.*") == ["loan.disbursed", "loan.secured"]
    assert await feed(rival) == ["loan_offer.declined", "loan_offer.created", "loan_application.submitted"]
    assert await feed(await api.org("sme")) == []
    assert await feed(await api.org("bank")) == ["loan_application.submitted"]
    everything = (await client.get("/events", params={"limit": 100}, headers=(await api.admin()).headers)).json()
    first_id = everything["data"][-1]["id"]
    after = (await client.get("/events", params={"after": first_id}, headers=c.sme.headers)).json()["data"]
    assert after[0]["id"] > first_id and [e["type"] for e in after][-1] == "loan.disbursed"


async def test_events_for_one_object_wait_behind_a_failing_one(api, client, app, monkeypatch):
    monkeypatch.setattr(get_settings(), "webhook_backoff_seconds", 3600.0)
    c = await lf.cast(api)
    with receiver() as rx:
        await _endpoint(client, c.sme, rx.url, ["loan.secured", "loan.disbursed"])
        rx.script = [503]
        loan = await lf.accepted_loan(api, c)
        await lf.register(api, c, loan["id"])
        await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
        await _drain(app)
        # loan.secured failed and waits an hour; loan.disbursed may not overtake it.
        assert [r.event["type"] for r in rx.received] == ["loan.secured"]
        await execute(app, sa.update(outbox.jobs).where(outbox.jobs.c.status == "queued")
                      .values(run_after=utcnow() - timedelta(seconds=1)))
        await _drain(app)
        assert [r.event["type"] for r in rx.received] == ["loan.secured", "loan.secured", "loan.disbursed"]


async def test_persistent_failure_disables_the_endpoint_events_stay_in_the_feed(api, client, app, monkeypatch):
    monkeypatch.setattr(get_settings(), "webhook_backoff_seconds", 60.0)
    c = await lf.cast(api)
    with receiver() as rx:
        rx.status_for = lambda _event: 500
        ep = await _endpoint(client, c.sme, rx.url, ["loan.secured"])
        loan = await lf.accepted_loan(api, c)
        await lf.register(api, c, loan["id"])
        await _drain(app)
        assert len(rx.received) == 1
        # Three days of failures later (the delivery's clock moved back, the retry due now):
        await execute(app, sa.update(DELIVERIES).values(created_at=utcnow() - timedelta(hours=72, minutes=1)))
        await execute(app, sa.update(outbox.jobs).where(outbox.jobs.c.status == "queued")
                      .values(run_after=utcnow() - timedelta(seconds=1)))
        await _drain(app)
        assert len(rx.received) == 2
        got = (await client.get("/webhook-endpoints", headers=c.sme.headers)).json()["data"][0]
        assert got["status"] == "disabled" and "failed" in got["disabled_reason"]
        d = (await client.get(f"/webhook-endpoints/{ep['id']}/deliveries", headers=c.sme.headers)).json()["data"][0]
        assert d["status"] == "failed" and [a["status_code"] for a in d["attempt_log"]] == [500, 500]
        # Nothing more is sent to a disabled endpoint; the feed still has the event.
        assert (await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)).status_code == 200
        await _drain(app)
        assert len(rx.received) == 2
        types = [e["type"] for e in (await client.get("/events", headers=c.sme.headers)).json()["data"]]
        assert types[:2] == ["loan.disbursed", "loan.secured"]
        # Retrying needs the endpoint enabled again; then the failed delivery goes through.
        assert_problem(await client.post(f"/webhook-deliveries/{d['id']}/retry", headers=c.sme.headers),
                       409, "invalid_state")
        r = await client.patch(f"/webhook-endpoints/{ep['id']}", json={"status": "enabled"}, headers=c.sme.headers)
        assert r.status_code == 200 and r.json()["status"] == "enabled" and r.json()["disabled_reason"] is None
        rx.status_for = None
        r = await client.post(f"/webhook-deliveries/{d['id']}/retry", headers=c.sme.headers)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        await _drain(app)
        assert len(rx.received) == 3 and rx.received[-1].event["id"] == d["event_id"]
        d = (await client.get(f"/webhook-endpoints/{ep['id']}/deliveries", headers=c.sme.headers)).json()["data"][0]
        assert d["status"] == "delivered"
        other = await api.org("sme")
        assert_problem(await client.post(f"/webhook-deliveries/{d['id']}/retry", headers=other.headers),
                       404, "not_found")


async def test_rotation_signs_with_both_secrets_for_a_day(api, client, app, fast_retries):
    c = await lf.cast(api)
    with receiver() as rx:
        ep = await _endpoint(client, c.sme, rx.url, ["loan.secured", "loan.disbursed"])
        loan = await lf.accepted_loan(api, c)
        r = await client.post(f"/webhook-endpoints/{ep['id']}/rotate-secret", headers=c.sme.headers)
        assert r.status_code == 200, r.text
        new = r.json()["secret"]
        assert new != ep["secret"] and r.json()["previous_secret_until"]
        await lf.register(api, c, loan["id"])
        await _drain(app)
        sig, body = rx.received[0].headers["ipm-signature"], rx.received[0].body
        assert verify(sig, body, new) and verify(sig, body, ep["secret"])
        # A day later the old secret no longer signs.
        await execute(app, sa.text("UPDATE webhook_endpoints SET previous_secret_until = :t").bindparams(
            t=utcnow() - timedelta(seconds=1)))
        await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
        await _drain(app)
        sig, body = rx.received[1].headers["ipm-signature"], rx.received[1].body
        assert verify(sig, body, new) and not verify(sig, body, ep["secret"])


async def test_endpoint_management_refusals(api, client, monkeypatch):
    bank = await api.org("bank")
    member = await api.user(bank.org_id, "bank", role="member")
    body = {"url": "http://127.0.0.1:9/x", "event_types": ["loan.secured"]}
    assert_problem(await client.post("/webhook-endpoints", json=body, headers=member.headers), 403, "forbidden")
    assert_problem(await client.post("/webhook-endpoints", json={**body, "event_types": ["loan.exploded"]},
                                     headers=bank.headers), 422, "validation_error")
    assert_problem(await client.post("/webhook-endpoints", json={**body, "url": "ftp://example.com/x"},
                                     headers=bank.headers), 422, "validation_error")
    monkeypatch.setattr(get_settings(), "env", "production")
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.0.0.5/hook",
                "https://169.254.169.254/latest"):
        assert_problem(await client.post("/webhook-endpoints", json={**body, "url": url}, headers=bank.headers),
                       422, "validation_error")
    monkeypatch.setattr(get_settings(), "env", "test")
    ep = (await client.post("/webhook-endpoints", json=body, headers=bank.headers)).json()
    other = await api.org("bank")
    for method, path in (("DELETE", f"/webhook-endpoints/{ep['id']}"),
                         ("POST", f"/webhook-endpoints/{ep['id']}/rotate-secret"),
                         ("GET", f"/webhook-endpoints/{ep['id']}/deliveries")):
        assert_problem(await client.request(method, path, headers=other.headers), 404, "not_found")
    assert (await client.delete(f"/webhook-endpoints/{ep['id']}", headers=bank.headers)).status_code == 204
    assert (await client.get("/webhook-endpoints", headers=bank.headers)).json()["data"] == []
    assert_problem(await client.delete(f"/webhook-endpoints/{ep['id']}", headers=bank.headers), 404, "not_found")


@pytest.mark.postgres
async def test_two_workers_deliver_every_event_once_per_endpoint(api, client, app, fast_retries):
    """Two workers claim concurrently (SKIP LOCKED); some first attempts fail and are retried: every event
    still reaches each endpoint that may see it exactly once with a 2xx, and per object in order."""
    import asyncio

    casts = [await lf.cast(api, n_assets=1) for _ in range(3)]
    with receiver() as bank_rx, receiver() as admin_rx:
        seen: dict[str, int] = {}

        def flaky(event):  # every event's first delivery to the bank fails
            seen[event["id"]] = seen.get(event["id"], 0) + 1
            return 500 if seen[event["id"]] == 1 else 200

        bank_rx.status_for = flaky
        bank = casts[0].bank
        for c in casts:
            c.bank = bank
        await _endpoint(client, bank, bank_rx.url)
        await _endpoint(client, await api.admin(), admin_rx.url)
        for c in casts:
            loan = await lf.accepted_loan(api, c)
            await lf.register(api, c, loan["id"])
            assert (await client.post(f"/loans/{loan['id']}/disburse", headers=bank.headers)).status_code == 200
        await asyncio.gather(outbox.drain(app.state.session_factory, kinds=["webhook.deliver"], worker_id="w1"),
                             outbox.drain(app.state.session_factory, kinds=["webhook.deliver"], worker_id="w2"))
        events = (await client.get("/events", params={"limit": 100, "order": "oldest"},
                                   headers=bank.headers)).json()["data"]
        assert len(events) == 15  # per loan: application, offer created and accepted, secured, disbursed
        ok = [r.event["id"] for r in bank_rx.received if seen.get(r.event["id"]) and r is not None]
        assert sorted(set(ok)) == sorted(e["id"] for e in events)
        assert all(n == 2 for n in seen.values())  # one 500, then one 200: never a duplicate success
        assert sorted(r.event["id"] for r in admin_rx.received) == sorted(e["id"] for e in events)
        by_object: dict[str, list[str]] = {}
        for r in bank_rx.received:
            if seen[r.event["id"]] == 2 and by_object.get(r.event["data"]["object"]["id"], [None])[-1] != r.event["id"]:
                by_object.setdefault(r.event["data"]["object"]["id"], []).append(r.event["id"])
        for e in events:  # the feed's order (creation) is each object's delivery order
            assert e["id"] in by_object[e["data"]["object"]["id"]]
        for ids in by_object.values():
            assert ids == sorted(ids)
