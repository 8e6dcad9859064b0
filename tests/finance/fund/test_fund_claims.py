"""Compensation: the real schemes' splits with worked numbers, paying once, refusing or queueing when
cash is short, uncovered loans."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import select

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.claims import Party
from finance.ledger.models import LedgerEntry
from finance.payments.models import Payment
from kernel import events
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from tests.finance.fund.helpers import (
    WAN,
    actor,
    agreement,
    cash,
    claim_request,
    cover_request,
    in_tx,
    program,
    shares_of,
    verify_ledger,
)
from tests.helpers import assert_problem

paid_events: list[dict[str, Any]] = []


@events.subscribe(events.COMPENSATION_PAID)
async def _record_paid(_session, payload: dict[str, Any]) -> None:
    paid_events.append(payload)


async def _covered_claim(api, app, fund, bank, p, principal, loss, **cover_kw) -> dict[str, Any]:
    sme = await api.org("sme")
    req = cover_request(bank, sme, principal, **cover_kw)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, loss))
    r = await api.client.get(f"/compensation-claims/{claim.id}", headers=fund.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _entries(app, key: str) -> list[LedgerEntry]:
    async with app.state.session_factory() as s:
        return list((await s.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == key))).all())


async def test_zhongshan_54_26_16_4(api, app):
    """Fund 54 / bank 26 / insurer 16 / evaluator 4; largest remainder gives the odd fen to the fund."""
    fund, bank, insurer, evaluator = (await api.org("fund"), await api.org("bank"), await api.org("insurer"),
                                      await api.org("evaluator"))
    p = await program(api, fund, shares_bps={"fund": 5400, "insurer": 1600},
                      extra_parties=[{"party": "evaluator", "share_bps": 400, "org_id": evaluator.org_id}])
    await agreement(api, fund, p["id"], bank)
    before = await cash(app, p["id"])
    claim = await _covered_claim(api, app, fund, bank, p, 200 * WAN, 100_000_001, insurer=insurer)
    assert shares_of(claim) == {"fund": 54_000_001, "insurer": 16_000_000, "evaluator": 4_000_000,
                                "bank": 26_000_000}
    assert sum(shares_of(claim).values()) == claim["loss"] == 100_000_001
    assert claim["status"] == "pending" and claim["fund_amount"] == 54_000_001
    orgs = {s["party"]: s["org_id"] for s in claim["shares"]}
    assert orgs == {"fund": fund.org_id, "insurer": insurer.org_id, "evaluator": evaluator.org_id,
                    "bank": bank.org_id}

    r = await api.client.post(f"/compensation-claims/{claim['id']}/approve", headers=fund.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid" and r.json()["paid_on"] == "2026-03-02"
    assert await cash(app, p["id"]) == before - 54_000_001
    [entry] = await _entries(app, f"claim:{claim['id']}")
    assert r.json()["ledger_entry_id"] == entry.id
    async with app.state.session_factory() as s:
        payment = await s.get(Payment, r.json()["payment_id"])
    assert (payment.amount, payment.payer_org_id, payment.payee_org_id, payment.status) == (
        54_000_001, fund.org_id, bank.org_id, "succeeded")
    [event] = [e for e in paid_events if e["claim_id"] == claim["id"]]
    assert event["loss"] == 100_000_001 and event["loan_id"] == claim["loan_id"]
    # Approving again pays nothing more.
    again = await api.client.post(f"/compensation-claims/{claim['id']}/approve", headers=fund.headers)
    assert again.status_code == 200 and again.json()["status"] == "paid"
    assert await cash(app, p["id"]) == before - 54_000_001
    assert len([e for e in paid_events if e["claim_id"] == claim["id"]]) == 1
    await verify_ledger(app)


async def test_zhongshan_without_insurer_the_bank_bears_its_share(api, app):
    fund, bank, evaluator = await api.org("fund"), await api.org("bank"), await api.org("evaluator")
    p = await program(api, fund, shares_bps={"fund": 5400, "insurer": 1600},
                      extra_parties=[{"party": "evaluator", "share_bps": 400, "org_id": evaluator.org_id}])
    await agreement(api, fund, p["id"], bank)
    claim = await _covered_claim(api, app, fund, bank, p, 200 * WAN, 100_000_001)
    assert shares_of(claim) == {"fund": 54_000_001, "evaluator": 4_000_000, "bank": 42_000_000}


@pytest.mark.parametrize(("fund_bps", "loss", "fund_part", "bank_part"), [
    (4000, 500 * WAN, 200 * WAN, 300 * WAN),  # Zhuhai 40/60
    (4000, 333, 133, 200),  # Zhuhai, an odd loss: 133.2 / 199.8
    (5000, 800 * WAN, 400 * WAN, 400 * WAN),  # Shenzhen 50/50
    (5000, 1001, 501, 500),  # Shenzhen, a tie: the earlier party (fund) gets the odd fen
])
async def test_zhuhai_and_shenzhen(api, app, fund_bps, loss, fund_part, bank_part):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, shares_bps={"fund": fund_bps})
    await agreement(api, fund, p["id"], bank)
    claim = await _covered_claim(api, app, fund, bank, p, 1000 * WAN, loss)
    assert shares_of(claim) == {"fund": fund_part, "bank": bank_part}


async def test_guangzhou_2023_counts_at_most_10m_of_a_loan(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=100_000 * WAN, per_loan_cap=1000 * WAN, per_borrower_year_cap=2000 * WAN,
                      annual_cap=5000 * WAN, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=1000 * WAN)
    big = await _covered_claim(api, app, fund, bank, p, 1500 * WAN, 1200 * WAN)  # ¥12m lost of ¥15m
    assert shares_of(big) == {"fund": 500 * WAN, "bank": 700 * WAN}
    small = await _covered_claim(api, app, fund, bank, p, 1500 * WAN, 800 * WAN)  # under the cap: 50%
    assert shares_of(small) == {"fund": 400 * WAN, "bank": 400 * WAN}


async def test_guangzhou_2025_tier_applies_to_the_claim(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    tiers = [{"max_principal": 500 * WAN, "fund_bps": 4000}, {"max_principal": 1500 * WAN, "fund_bps": 3000},
             {"max_principal": 3000 * WAN, "fund_bps": 2000}]
    p = await program(api, fund, shares_bps={"fund": 4000}, tiers=tiers, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank)
    for principal, fund_part in ((400 * WAN, 160 * WAN), (1000 * WAN, 300 * WAN), (2000 * WAN, 400 * WAN)):
        claim = await _covered_claim(api, app, fund, bank, p, principal, principal)
        assert shares_of(claim) == {"fund": fund_part, "bank": principal - fund_part}


async def test_short_of_cash_refuses_and_changes_nothing(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)  # cash left: ¥1m
    claim = await _covered_claim(api, app, fund, bank, p, 500 * WAN, 500 * WAN)  # fund part ¥2.5m
    r = await api.client.post(f"/compensation-claims/{claim['id']}/approve", headers=fund.headers)
    body = assert_problem(r, 409, "limit_exceeded")
    assert body["rule"] == "cash" and body["cash"] == 100 * WAN
    assert (await api.client.get(f"/compensation-claims/{claim['id']}", headers=fund.headers)).json()["status"] == \
        "pending"
    assert await cash(app, p["id"]) == 100 * WAN
    assert await _entries(app, f"claim:{claim['id']}") == []


async def test_short_of_cash_queues_and_day_end_pays_oldest_first(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN, insufficient_cash="queue", npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)  # cash left: ¥1m
    older = await _covered_claim(api, app, fund, bank, p, 500 * WAN, 500 * WAN)  # fund ¥2.5m
    newer = await _covered_claim(api, app, fund, bank, p, 100 * WAN, 100 * WAN)  # fund ¥0.5m
    for c in (older, newer):
        r = await api.client.post(f"/compensation-claims/{c['id']}/approve", headers=fund.headers)
        assert r.status_code == 200 and r.json()["status"] == "queued"
    # The newer one would fit, but the older waits first: nothing is paid out of turn.
    await api.advance(1)
    status = {c["id"]: (await api.client.get(f"/compensation-claims/{c['id']}", headers=fund.headers)).json()["status"]
              for c in (older, newer)}
    assert status == {older["id"]: "queued", newer["id"]: "queued"}
    r = await api.client.post(f"/fund/programs/{p['id']}/capital", json={"amount": 200 * WAN}, headers=fund.headers)
    assert r.status_code == 200
    await api.advance(1)  # cash ¥3m: the older (¥2.5m) is paid, the newer (¥0.5m) then fits too
    got = {c["id"]: (await api.client.get(f"/compensation-claims/{c['id']}", headers=fund.headers)).json()
           for c in (older, newer)}
    assert [got[c["id"]]["status"] for c in (older, newer)] == ["paid", "paid"]
    assert got[older["id"]]["paid_on"] == "2026-03-03"
    assert await cash(app, p["id"]) == 0
    await verify_ledger(app)


async def test_queue_stops_at_the_first_claim_cash_cannot_cover(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN, insufficient_cash="queue", npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)
    first = await _covered_claim(api, app, fund, bank, p, 500 * WAN, 500 * WAN)  # ¥2.5m
    second = await _covered_claim(api, app, fund, bank, p, 500 * WAN, 500 * WAN)  # ¥2.5m
    for c in (first, second):
        await api.client.post(f"/compensation-claims/{c['id']}/approve", headers=fund.headers)
    await api.client.post(f"/fund/programs/{p['id']}/capital", json={"amount": 200 * WAN}, headers=fund.headers)
    await api.advance(1)
    statuses = [(await api.client.get(f"/compensation-claims/{c['id']}", headers=fund.headers)).json()["status"]
                for c in (first, second)]
    assert statuses == ["paid", "queued"]
    assert await cash(app, p["id"]) == 50 * WAN


async def test_claim_access_and_refusals(api, app):
    fund, other_fund, bank, stranger = (await api.org("fund"), await api.org("fund"), await api.org("bank"),
                                        await api.org("sme"))
    p = await program(api, fund, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank)
    claim = await _covered_claim(api, app, fund, bank, p, 100 * WAN, 50 * WAN)
    url = f"/compensation-claims/{claim['id']}"
    assert (await api.client.get(url, headers=bank.headers)).status_code == 200
    assert_problem(await api.client.get(url, headers=stranger.headers), 404, "not_found")
    assert_problem(await api.client.get(url, headers=other_fund.headers), 404, "not_found")
    assert_problem(await api.client.get("/compensation-claims/clm_nope", headers=fund.headers), 404, "not_found")
    assert_problem(await api.client.post(f"{url}/approve", headers=bank.headers), 403, "forbidden")
    assert_problem(await api.client.post(f"{url}/approve", headers=other_fund.headers), 404, "not_found")
    assert (await api.client.get(url, headers=fund.headers)).json()["status"] == "pending"
    # One claim per loan; the loss is positive and at most the principal.
    cover = await in_tx(app, fund_cover.cover_for_loan, claim["loan_id"])
    dup = fund_claims.ClaimRequest(claim["loan_id"], bank.org_id, cover.borrower_org_id, 100 * WAN, 10)
    with pytest.raises(InvalidState):
        await in_tx(app, fund_claims.open_claim, actor(bank), dup)
    sme = await api.org("sme")
    req = cover_request(bank, sme, 100 * WAN)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    with pytest.raises(ValidationFailed):
        await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 100 * WAN + 1))
    with pytest.raises(Forbidden):
        await in_tx(app, fund_claims.open_claim, actor(fund), claim_request(req, 10))


async def test_uncovered_loan_claim_is_split_and_settled_by_the_bank(api, app):
    """The "4321"-style split without the fund: guarantor 40, re-guarantor 30, the bank the rest."""
    fund, bank, guarantor, reguarantor = (await api.org("fund"), await api.org("bank"), await api.org("guarantor"),
                                          await api.org("guarantor"))
    sme = await api.org("sme")
    req = cover_request(bank, sme, 100 * WAN)
    parties = [Party("guarantor", guarantor.org_id, 4000), Party("reguarantor", reguarantor.org_id, 3000)]
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 1_000_001, parties))
    assert claim.program_id is None and claim.fund_amount == 0
    assert {s["party"]: s["amount"] for s in claim.shares} == {"guarantor": 400_001, "reguarantor": 300_000,
                                                               "bank": 300_000}
    url = f"/compensation-claims/{claim.id}"
    assert_problem(await api.client.post(f"{url}/approve", headers=fund.headers), 404, "not_found")
    assert_problem(await api.client.post(f"{url}/approve", headers=guarantor.headers), 403, "forbidden")
    r = await api.client.post(f"{url}/approve", headers=bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "paid"
    assert r.json()["ledger_entry_id"] is None
    assert [e["claim_id"] for e in paid_events].count(claim.id) == 1


async def test_approving_again_pays_the_head_of_the_queue_only(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN, insufficient_cash="queue", npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)  # cash ¥1m
    head = await _covered_claim(api, app, fund, bank, p, 500 * WAN, 500 * WAN)  # ¥2.5m
    behind = await _covered_claim(api, app, fund, bank, p, 100 * WAN, 100 * WAN)  # ¥0.5m
    for c in (head, behind):
        await api.client.post(f"/compensation-claims/{c['id']}/approve", headers=fund.headers)
    await api.client.post(f"/fund/programs/{p['id']}/capital", json={"amount": 200 * WAN}, headers=fund.headers)
    r = await api.client.post(f"/compensation-claims/{behind['id']}/approve", headers=fund.headers)
    assert r.json()["status"] == "queued"  # the head is still waiting
    r = await api.client.post(f"/compensation-claims/{head['id']}/approve", headers=fund.headers)
    assert r.json()["status"] == "paid"
    r = await api.client.post(f"/compensation-claims/{behind['id']}/approve", headers=fund.headers)
    assert r.json()["status"] == "paid"
    assert await cash(app, p["id"]) == 0


async def test_fund_rejects_a_pending_claim_and_nothing_moves(api, app):
    fund, other_fund, bank = await api.org("fund"), await api.org("fund"), await api.org("bank")
    p = await program(api, fund, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)
    before = await cash(app, p["id"])
    claim = await _covered_claim(api, app, fund, bank, p, 100 * WAN, 50 * WAN)
    url = f"/compensation-claims/{claim['id']}"
    reason = {"reason": "贷后管理未按协议执行"}
    assert_problem(await api.client.post(f"{url}/reject", json=reason, headers=bank.headers), 403, "forbidden")
    assert_problem(await api.client.post(f"{url}/reject", json=reason, headers=other_fund.headers), 404, "not_found")
    assert_problem(await api.client.post(f"{url}/reject", json={"reason": " "}, headers=fund.headers), 422,
                   "validation_error")
    async def claimed_this_year() -> int:
        return (await in_tx(app, fund_claims._caps_used, p["id"], "org_nobody", date(2026, 3, 2))).annual

    assert await claimed_this_year() == claim["fund_amount"] > 0
    r = await api.client.post(f"{url}/reject", json=reason, headers=fund.headers)
    assert r.status_code == 200, r.text
    assert await claimed_this_year() == 0  # a rejected claim no longer uses the year's caps
    assert (r.json()["status"], r.json()["reject_reason"], r.json()["rejected_on"]) == \
        ("rejected", "贷后管理未按协议执行", "2026-03-02")
    again = await api.client.post(f"{url}/reject", json={"reason": "another"}, headers=fund.headers)
    assert again.json()["reject_reason"] == "贷后管理未按协议执行"  # the first decision stands
    assert (await api.client.get(url, headers=bank.headers)).json()["status"] == "rejected"
    # A rejected claim is never paid afterwards.
    assert_problem(await api.client.post(f"{url}/approve", headers=fund.headers), 409, "invalid_state")
    assert await cash(app, p["id"]) == before
    assert await _entries(app, f"claim:{claim['id']}") == []
    r = await api.client.get("/compensation-claims?status=rejected", headers=fund.headers)
    assert [c["id"] for c in r.json()["data"]] == [claim["id"]]
    await verify_ledger(app)


async def test_a_paid_claim_cannot_be_rejected(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank)
    claim = await _covered_claim(api, app, fund, bank, p, 100 * WAN, 50 * WAN)
    url = f"/compensation-claims/{claim['id']}"
    assert (await api.client.post(f"{url}/approve", headers=fund.headers)).json()["status"] == "paid"
    r = await api.client.post(f"{url}/reject", json={"reason": "too late"},
                              headers={**fund.headers, "Accept-Language": "zh-CN"})
    body = assert_problem(r, 409, "invalid_state")
    assert "只有尚未批准的申请可以拒绝" in body["detail"]
    assert (await api.client.get(url, headers=fund.headers)).json()["status"] == "paid"


async def test_rejecting_the_head_of_the_queue_lets_the_next_be_paid(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN, insufficient_cash="queue", npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)  # cash ¥1m
    head = await _covered_claim(api, app, fund, bank, p, 500 * WAN, 500 * WAN)  # ¥2.5m: waits
    behind = await _covered_claim(api, app, fund, bank, p, 100 * WAN, 100 * WAN)  # ¥0.5m
    for c in (head, behind):
        r = await api.client.post(f"/compensation-claims/{c['id']}/approve", headers=fund.headers)
        assert r.json()["status"] == "queued"
    r = await api.client.post(f"/compensation-claims/{head['id']}/reject", json={"reason": "材料不全"},
                              headers=fund.headers)
    assert r.json()["status"] == "rejected"
    await api.advance(1)
    r = await api.client.get(f"/compensation-claims/{behind['id']}", headers=fund.headers)
    assert r.json()["status"] == "paid"
    assert await cash(app, p["id"]) == 50 * WAN
