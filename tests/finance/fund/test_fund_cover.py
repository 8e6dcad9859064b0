"""Cover: the rules a loan must pass to enter a programme, each refusal naming its rule."""

from __future__ import annotations

import pytest

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.models import FundCover
from kernel.errors import Forbidden, InvalidState, LimitExceeded, ValidationFailed
from tests.finance.fund.helpers import WAN, actor, agreement, claim_request, cover_request, in_tx, program
from tests.finance.loans.loan_flow import accepted_loan, cast
from tests.helpers import assert_problem


async def _cover(app, bank, program_id, req):
    return await in_tx(app, fund_cover.request_cover, actor(bank), program_id, req)


async def _refused(app, bank, program_id, req, rule):
    with pytest.raises(LimitExceeded) as info:
        await _cover(app, bank, program_id, req)
    assert info.value.extra["rule"] == rule, info.value.extra
    return info.value


async def _covers(app) -> int:
    async with app.state.session_factory() as s:
        from sqlmodel import func, select
        return (await s.exec(select(func.count()).select_from(FundCover))).one()


async def test_quota_caps_the_covered_principal_and_frees_on_repayment(api, app):
    """The contract's worked numbers: a ¥1m deposit at 10× leverage lets the bank carry ¥10m of covered loan
    principal under the programme, whatever share of it the fund bears (here 50%, ¥5m)."""
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, capital=1000 * WAN, shares_bps={"fund": 5000})
    a = await agreement(api, fund, p["id"], bank, deposit=100 * WAN, leverage=10)  # quota ¥10m of principal
    first = cover_request(bank, sme, 600 * WAN)
    c1 = await _cover(app, bank, p["id"], first)
    assert (c1.covered_principal, c1.fund_bps, c1.exposure, c1.agreement_id) == (600 * WAN, 5000, 300 * WAN, a["id"])
    await _cover(app, bank, p["id"], cover_request(bank, sme, 400 * WAN))  # ¥6m + ¥4m exactly fills the quota
    err = await _refused(app, bank, p["id"], cover_request(bank, sme, 2), "quota")
    assert err.extra["quota"] == 1000 * WAN and err.extra["covered_outstanding"] == 1000 * WAN
    assert err.extra["fund_exposure"] == 500 * WAN and err.extra["requested"] == 2  # the fund's share is half
    # Repaying half of the first loan frees ¥3m of the quota.
    await in_tx(app, fund_cover.update_loan, first.loan_id, outstanding_principal=300 * WAN, classification="normal",
                status="active")
    c3 = await _cover(app, bank, p["id"], cover_request(bank, sme, 300 * WAN))
    assert c3.exposure == 150 * WAN
    await _refused(app, bank, p["id"], cover_request(bank, sme, 2), "quota")
    # Repaid in full: the cover closes and its ¥3m are free again.
    await in_tx(app, fund_cover.update_loan, first.loan_id, outstanding_principal=0, classification="normal",
                status="repaid")
    await _cover(app, bank, p["id"], cover_request(bank, sme, 300 * WAN))
    assert await _covers(app) == 4
    r = await api.client.get(f"/fund/programs/{p['id']}/exposure", headers=fund.headers)
    [row] = r.json()["by_bank"]
    assert (row["covered_outstanding"], row["fund_exposure"], row["quota"], row["quota_available"],
            row["quota_use_bps"]) == (1000 * WAN, 500 * WAN, 1000 * WAN, 0, 10000)


async def test_quota_through_http_answers_limit_exceeded_quota(api, client):
    """POST /loans/{id}/fund-cover with the same worked numbers, one tenth the size: a ¥100,000 deposit at 10×
    lets the bank carry ¥1,000,000 of covered principal; ¥600,000 + ¥400,000 fill it, the next loan is refused
    naming the quota, and the exposure shows the principal carried and the fund's half of it."""
    fund, c = await api.org("fund"), await cast(api)
    p = await program(api, fund, capital=1000 * WAN, shares_bps={"fund": 5000})
    await agreement(api, fund, p["id"], c.bank, deposit=10 * WAN, leverage=10)
    for amount in (60 * WAN, 40 * WAN):
        made = await accepted_loan(api, c, amount=amount)
        r = await client.post(f"/loans/{made['id']}/fund-cover", json={"program_id": p["id"]},
                              headers=c.bank.headers)
        assert r.status_code == 201, r.text
    made = await accepted_loan(api, c, amount=1 * WAN)
    r = await client.post(f"/loans/{made['id']}/fund-cover", json={"program_id": p["id"]}, headers=c.bank.headers)
    body = assert_problem(r, 409, "limit_exceeded")
    assert (body["rule"], body["quota"], body["covered_outstanding"], body["fund_exposure"], body["requested"]) == (
        "quota", 100 * WAN, 100 * WAN, 50 * WAN, 1 * WAN)
    r = await client.get(f"/fund/programs/{p['id']}/exposure", headers=fund.headers)
    [row] = r.json()["by_bank"]
    assert (row["covered_outstanding"], row["fund_exposure"], row["quota"], row["quota_available"]) == (
        100 * WAN, 50 * WAN, 100 * WAN, 0)
    assert r.json()["committed_exposure"] == 50 * WAN and r.json()["covered_outstanding"] == 100 * WAN


async def test_refusals_agreement_actor_duplicate_and_bad_input(api, app):
    fund, bank, other_bank, sme = await api.org("fund"), await api.org("bank"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund)
    await agreement(api, fund, p["id"], bank)
    await _refused(app, other_bank, p["id"], cover_request(other_bank, sme, 100 * WAN), "agreement")
    with pytest.raises(Forbidden):
        await in_tx(app, fund_cover.request_cover, actor(other_bank), p["id"], cover_request(bank, sme, 100 * WAN))
    with pytest.raises(ValidationFailed):
        await _cover(app, bank, p["id"], cover_request(bank, sme, 100 * WAN, outstanding=101 * WAN))
    with pytest.raises(ValidationFailed):
        await _cover(app, bank, p["id"], cover_request(bank, sme, 100 * WAN, ip_value=10, total_value=5))
    req = cover_request(bank, sme, 100 * WAN)
    await _cover(app, bank, p["id"], req)
    with pytest.raises(InvalidState):
        await _cover(app, bank, p["id"], req)
    assert await _covers(app) == 1


async def test_min_ip_share_of_collateral_wuhan_50_percent(api, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, min_ip_share_bps=5000)
    await agreement(api, fund, p["id"], bank)
    err = await _refused(app, bank, p["id"], cover_request(bank, sme, 100 * WAN, ip_value=49 * WAN,
                                                          total_value=100 * WAN), "min_ip_share")
    assert err.extra["ip_share_bps"] == 4900
    await _refused(app, bank, p["id"], cover_request(bank, sme, 100 * WAN, ip_value=0, total_value=0),
                   "min_ip_share")
    await _cover(app, bank, p["id"], cover_request(bank, sme, 100 * WAN, ip_value=50 * WAN, total_value=100 * WAN))


async def test_guangzhou_2025_tiers_by_loan_size(api, app):
    """40% up to ¥5m, 30% for ¥5–15m, 20% for ¥15–30m, ineligible above."""
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    tiers = [{"max_principal": 500 * WAN, "fund_bps": 4000}, {"max_principal": 1500 * WAN, "fund_bps": 3000},
             {"max_principal": 3000 * WAN, "fund_bps": 2000}]
    p = await program(api, fund, shares_bps={"fund": 4000}, tiers=tiers)
    await agreement(api, fund, p["id"], bank)
    expected = {400 * WAN: (4000, 160 * WAN), 500 * WAN: (4000, 200 * WAN), 1000 * WAN: (3000, 300 * WAN),
                2000 * WAN: (2000, 400 * WAN), 3000 * WAN: (2000, 600 * WAN)}
    for principal, (bps, exposure) in expected.items():
        c = await _cover(app, bank, p["id"], cover_request(bank, sme, principal))
        assert (c.fund_bps, c.exposure) == (bps, exposure), principal
    err = await _refused(app, bank, p["id"], cover_request(bank, sme, 3000 * WAN + 1), "tiers")
    assert err.extra["max_principal"] == 3000 * WAN


async def test_guangzhou_2023_caps(api, app):
    """50%, counting at most ¥10m of each loan, ¥20m per borrower per year, ¥50m per year in total."""
    fund, bank = await api.org("fund"), await api.org("bank")
    a, b, c = await api.org("sme"), await api.org("sme"), await api.org("sme")
    p = await program(api, fund, capital=100_000 * WAN, per_loan_cap=1000 * WAN, per_borrower_year_cap=2000 * WAN,
                      annual_cap=5000 * WAN)
    # A quota of ¥200m of covered principal, so the caps are what refuses (the book reaches ¥100m).
    await agreement(api, fund, p["id"], bank, deposit=2000 * WAN)
    big = await _cover(app, bank, p["id"], cover_request(bank, a, 1500 * WAN))
    # A ¥15m loan counts ¥10m: the fund's exposure is 50% of it.
    assert (big.covered_principal, big.exposure, big.granted_exposure) == (1000 * WAN, 500 * WAN, 500 * WAN)
    for _ in range(3):
        await _cover(app, bank, p["id"], cover_request(bank, a, 1500 * WAN))
    err = await _refused(app, bank, p["id"], cover_request(bank, a, 2 * WAN), "per_borrower_year_cap")
    assert err.extra["used"] == 2000 * WAN
    for _ in range(4):
        await _cover(app, bank, p["id"], cover_request(bank, b, 1000 * WAN))
    await _cover(app, bank, p["id"], cover_request(bank, c, 1200 * WAN))
    await _cover(app, bank, p["id"], cover_request(bank, c, 1000 * WAN))  # ¥50m of exposure granted this year
    err = await _refused(app, bank, p["id"], cover_request(bank, c, 2), "annual_cap")
    assert err.extra["used"] == 5000 * WAN


async def test_npl_pause_three_percent_both_ways(api, app):
    """A bank whose NPL ratio for the year exceeds 3% gets no new covers until it falls back."""
    fund, bank, other_bank, sme = await api.org("fund"), await api.org("bank"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, capital=100_000 * WAN, npl_pause_bps=300)
    await agreement(api, fund, p["id"], bank, deposit=1000 * WAN)
    await agreement(api, fund, p["id"], other_bank, deposit=1000 * WAN)
    good = cover_request(bank, sme, 970 * WAN)
    bad = cover_request(bank, sme, 30 * WAN)
    await _cover(app, bank, p["id"], good)
    await _cover(app, bank, p["id"], bad)
    await in_tx(app, fund_cover.update_loan, bad.loan_id, outstanding_principal=30 * WAN, classification="substandard",
                status="overdue")
    # 30 / 1000 = exactly 3%: not above the threshold.
    await _cover(app, bank, p["id"], cover_request(bank, sme, 10 * WAN))  # book 1010, ratio 297 bps
    await in_tx(app, fund_cover.update_loan, good.loan_id, outstanding_principal=900 * WAN, classification="normal",
                status="active")  # book 940: 30/940 = 319 bps
    err = await _refused(app, bank, p["id"], cover_request(bank, sme, 10 * WAN), "npl_pause")
    assert err.extra["npl_ratio_bps"] == 319
    # Another bank is not affected.
    await _cover(app, other_bank, p["id"], cover_request(other_bank, sme, 10 * WAN))
    # The loan is cured: the ratio falls back and the pause lifts.
    await in_tx(app, fund_cover.update_loan, bad.loan_id, outstanding_principal=30 * WAN, classification="normal",
                status="active")
    await _cover(app, bank, p["id"], cover_request(bank, sme, 10 * WAN))
    # Worse again (doubtful), then repaid in full: out of the book, the pause lifts again.
    await in_tx(app, fund_cover.update_loan, bad.loan_id, outstanding_principal=30 * WAN, classification="doubtful",
                status="overdue")
    await _refused(app, bank, p["id"], cover_request(bank, sme, 10 * WAN), "npl_pause")
    await in_tx(app, fund_cover.update_loan, bad.loan_id, outstanding_principal=0, classification="normal",
                status="repaid")
    await _cover(app, bank, p["id"], cover_request(bank, sme, 10 * WAN))
    # A loan compensated this year stays in the year's non-performing book, even once loans report it closed.
    worst = cover_request(bank, sme, 100 * WAN)
    await _cover(app, bank, p["id"], worst)
    await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(worst, 60 * WAN))
    await in_tx(app, fund_cover.update_loan, worst.loan_id, outstanding_principal=0, classification="loss",
                status="closed")
    err = await _refused(app, bank, p["id"], cover_request(bank, sme, 10 * WAN), "npl_pause")
    assert err.extra["npl_ratio_bps"] == 971  # 100 of 900 + 3 × 10 + 100


async def test_cover_keeps_its_version_and_default_days(api, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, default_days=60)
    await agreement(api, fund, p["id"], bank)
    old = await _cover(app, bank, p["id"], cover_request(bank, sme, 100 * WAN))
    r = await api.client.post(f"/fund/programs/{p['id']}/versions",
                              json={"shares_bps": {"fund": 3000}, "leverage_max": 10, "npl_pause_bps": 300,
                                    "default_days": 120}, headers=fund.headers)
    assert r.status_code == 201, r.text
    new = await _cover(app, bank, p["id"], cover_request(bank, sme, 100 * WAN))
    assert (old.fund_bps, new.fund_bps) == (5000, 3000)
    assert await in_tx(app, fund_cover.default_days, old.loan_id) == 60
    assert await in_tx(app, fund_cover.default_days, new.loan_id) == 120
    assert await in_tx(app, fund_cover.default_days, "lon_uncovered") == 90
    # update_loan is a no-op for a loan the fund does not cover.
    await in_tx(app, fund_cover.update_loan, "lon_uncovered", outstanding_principal=1, classification="loss",
                status="overdue")
