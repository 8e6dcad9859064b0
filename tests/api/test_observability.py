"""Request ids (accepted or generated, echoed, in problem+json), /metrics in Prometheus text, /ready."""

from __future__ import annotations

import httpx

from tests.helpers import assert_problem


async def test_request_id_is_echoed_or_generated_and_in_problems(client):
    r = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/health")).headers["x-request-id"]
    assert len(generated) == 32
    r = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    r = await client.get("/loans/loan_x", headers={"X-Request-ID": "req-404"})
    body = assert_problem(r, 401, "not_authenticated")
    assert body["request_id"] == "req-404" and r.headers["x-request-id"] == "req-404"


async def test_metrics_by_route_template_and_database_gauges(app, api, client):
    sme = await api.org("sme")
    for loan in ("loan_a", "loan_b"):
        await client.get(f"/loans/{loan}", headers=sme.headers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as root:
        r = await root.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    lines = text.splitlines()
    assert any(x.startswith('ipm_http_requests_total{method="GET",route="')
               and '/loans/{loan_id}",status="404"} ' in x for x in lines)
    assert "loan_a" not in text  # one series per route template, not per id
    assert any(x.startswith("ipm_http_request_duration_seconds_bucket") and "/loans/{loan_id}" in x for x in lines)
    assert 'ipm_outbox_jobs{status="dead"} 0.0' in text and "ipm_outbox_oldest_due_seconds" in text
    assert "ipm_day_end_handler_seconds" in text and "ipm_ledger_postings_total" in text
