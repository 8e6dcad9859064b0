"""Provisions by classification, to the fen, on a book with loans in every class: live, posted to the ledger at
month-end (once), shown as of a past date, a programme's own rates, and a true-up that books only the
difference."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from finance.fund import cover, provisions
from finance.fund.models import FundProgram
from finance.ledger import service as ledger
from finance.ledger.models import LedgerEntry
from kernel.actor import SYSTEM
from kernel.audit import AuditEvent
from tests.finance.fund.helpers import actor, agreement, cover_request, in_tx, program, verify_ledger
from tests.helpers import assert_problem

# principal → the fund's 50% exposure, half-up to the fen
BOOK = [("normal", 1_000_001, 500_001), ("normal", 2_000_050, 1_000_025), ("special_mention", 3_333_333, 1_666_667),
        ("substandard", 1_234_567, 617_284), ("doubtful", 999_999, 500_000), ("loss", 777_777, 388_889)]
# exposure × rate, half-up: 1% of 1,500,026 = 15,000.26; 2% of 1,666,667 = 33,333.34; 25% of 617,284 = 154,321;
# 50% of 500,000 = 250,000; 100% of 388,889.
EXPECTED = {"normal": (2, 1_500_026, 100, 15_000), "special_mention": (1, 1_666_667, 200, 33_333),
            "substandard": (1, 617_284, 2500, 154_321), "doubtful": (1, 500_000, 5000, 250_000),
            "loss": (1, 388_889, 10000, 388_889)}
TOTAL = 841_543


async def _book(api, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, capital=100_000_000)
    await agreement(api, fund, p["id"], bank, deposit=10_000_000)
    requests = []
    for _, principal, exposure in BOOK:  # all covered first: a non-performing book would pause new covers
        req = cover_request(bank, sme, principal)
        granted = await in_tx(app, cover.request_cover, actor(bank), p["id"], req)
        assert granted.exposure == exposure
        requests.append(req)
    for (classification, principal, _), req in zip(BOOK, requests, strict=True):
        await in_tx(app, cover.update_loan, req.loan_id, outstanding_principal=principal,
                    classification=classification, status="active")
    return fund, p


def _rows(report: dict) -> dict:
    return {r["classification"]: (r["loans"], r["exposure"], r["rate_bps"], r["provision"]) for r in report["rows"]}


async def test_provisions_by_class_posted_at_month_end(api, client, app):
    fund, p = await _book(api, app)
    r = await client.get(f"/fund/programs/{p['id']}/provisions", headers=fund.headers)
    assert r.status_code == 200, r.text
    assert r.json()["basis"] == "current" and _rows(r.json()) == EXPECTED and r.json()["total"] == TOTAL
    assert r.json()["allowance"] == 0
    dashboard = (await client.get(f"/fund/programs/{p['id']}/exposure", headers=fund.headers)).json()
    assert (dashboard["provisions_required"], dashboard["provisions_allowance"]) == (TOTAL, 0)

    await api.advance(30)  # the day-end of 2026-03-31 books March's provisions; today is 2026-04-01
    allowance = provisions.allowance_account(p["id"], None).code
    expense = provisions.expense_account(p["id"], None).code
    assert (await in_tx(app, ledger.balance, allowance)).balance == TOTAL
    assert (await in_tx(app, ledger.balance, expense)).balance == TOTAL
    dashboard = (await client.get(f"/fund/programs/{p['id']}/exposure", headers=fund.headers)).json()
    assert (dashboard["provisions_required"], dashboard["provisions_allowance"]) == (TOTAL, TOTAL)
    async with app.state.session_factory() as s:
        entries = (await s.exec(select(LedgerEntry).where(LedgerEntry.kind == "fund.provision"))).all()
        assert [(e.effective_date, e.object_type) for e in entries] == [(date(2026, 3, 31), "fund_provision")]
        events = (await s.exec(select(AuditEvent).where(AuditEvent.action == "fund_provision.posted"))).all()
        assert len(events) == 1 and events[0].after["total"] == TOTAL and events[0].after["adjustment"] == TOTAL

    past = (await client.get(f"/fund/programs/{p['id']}/provisions", params={"as_of": "2026-03-31"},
                             headers=fund.headers)).json()
    assert past["basis"] == "month_end 2026-03-31" and _rows(past) == EXPECTED and past["total"] == TOTAL
    before = (await client.get(f"/fund/programs/{p['id']}/provisions", params={"as_of": "2026-03-15"},
                               headers=fund.headers)).json()
    assert before["basis"] == "none" and before["total"] == 0
    regulator = await api.org("regulator", role="member")
    assert (await client.get(f"/fund/programs/{p['id']}/provisions", headers=regulator.headers)).status_code == 200
    other_fund = await api.org("fund")
    assert_problem(await client.get(f"/fund/programs/{p['id']}/provisions", headers=other_fund.headers), 404,
                   "not_found")
    assert_problem(await client.get(f"/fund/programs/{p['id']}/provisions", params={"as_of": "2026-05-01"},
                                    headers=fund.headers), 422, "validation_error")

    # The programme's own rate for normal loans: 1.5% of 1,500,026 = 22,500.39 → 22,500; only the difference
    # (7,500) is booked, and booking the same date again does nothing.
    r = await client.patch(f"/fund/programs/{p['id']}/controls", json={"provision_rates_bps": {"normal": 150}},
                           headers=fund.headers)
    assert r.status_code == 200, r.text
    assert r.json()["provision_rates_bps"]["normal"] == 150 and r.json()["provision_rates_bps"]["loss"] == 10000
    assert_problem(await client.patch(f"/fund/programs/{p['id']}/controls",
                                      json={"provision_rates_bps": {"normal": 10001}}, headers=fund.headers),
                   422, "validation_error")
    assert_problem(await client.patch(f"/fund/programs/{p['id']}/controls",
                                      json={"provision_rates_bps": {"normal": 150}}, headers=other_fund.headers),
                   404, "not_found")
    async with app.state.session_factory() as s:
        program_row = await s.get(FundProgram, p["id"])
    for _ in range(2):
        run = await in_tx(app, provisions.post_month_end, SYSTEM, program_row, date(2026, 4, 1))
    assert run.total == TOTAL + 7_500 and run.previous_allowance == TOTAL
    assert (await in_tx(app, ledger.balance, allowance)).balance == TOTAL + 7_500
    await verify_ledger(app)
