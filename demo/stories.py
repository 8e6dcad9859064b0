"""The demo's stories by area (see ``demo/world.py`` for how they run). Dates are days after the world's
first day; ``END`` is the business date the demo stops on, where every screen shows something current.

Add an area: write one more ``async def story(w)`` generator and list it in ``STORIES``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

from demo import loans
from demo.loans import BANK1, BANK2, BANK3, FUND, GUARANTOR, SME1, SME2, SME3, SME4, UNI1, UNI2
from demo.world import WAN, YUAN, Story, World

END = 190  # days after the first day
REGULATOR, UNI3 = "regulator@demo.ipm", "university3@demo.ipm"
# The LPR as published (1-year, 5-year), newest last.
LPR = [("2024-02-20", 345, 395), ("2024-07-22", 335, 385), ("2024-10-21", 310, 360), ("2025-05-20", 300, 350)]


async def rates(w: World) -> AsyncIterator[int | date]:
    """The LPR table the subsidy caps and the fund's rate checks read."""
    for effective_on, one, five in LPR:
        await w.post("/lpr", w.admin, {"effective_on": effective_on, "one_year_bps": one, "five_year_bps": five})
    return
    yield


async def bank_controls(w: World) -> AsyncIterator[int | date]:
    """bank1 works four-eyes: a disbursement above ¥1,000,000 by its officer waits for its checker."""
    await w.call("PATCH", f"/orgs/{w.org(BANK1)}", w.admin,
                 json={"approval_policy": {"disbursement_over": loans.BANK1_DISBURSEMENT_OVER}})
    return
    yield


async def fund(w: World) -> AsyncIterator[int | date]:
    """The province's risk-compensation fund: ¥50m capital, 40% fund / 30% guarantor / 10% insurer of a
    loss (the bank the rest), default at 90 days, bank agreements with deposits and 10× leverage."""
    program = await w.post("/fund/programs", FUND, {
        "name": "山西省知识产权质押融资风险补偿基金（2025—2027年）", "capital": 5_000 * WAN,
        "shares_bps": {"fund": 4000, "guarantor": 3000, "insurer": 1000}, "leverage_max": 10,
        "npl_pause_bps": 800, "per_loan_cap": 1_000 * WAN, "default_days": 90, "min_ip_share_bps": 5000})
    w.made["program"] = program["id"]
    for bank, deposit in ((BANK1, 300 * WAN), (BANK2, 200 * WAN), (BANK3, 200 * WAN)):
        await w.post(f"/fund/programs/{program['id']}/agreements", FUND,
                     {"bank_org_id": w.org(bank), "deposit": deposit, "leverage": 10})
    yield 100
    await w.post(f"/fund/programs/{program['id']}/capital", FUND, {"amount": 1_000 * WAN})


async def subsidies(w: World) -> AsyncIterator[int | date]:
    """The regulator's 2026 subsidies: half the interest of loans repaid on time at most 1.4× the LPR, and
    half the guarantee fee; the borrower of the repaid loan and the guarantor claim."""
    interest = await w.post("/subsidy-policies", REGULATOR, {
        "name": "知识产权质押贷款贴息（50%）", "kind": "interest", "rate_bps": 5000, "basis": "interest_paid",
        "cap_per_org_year": 30 * WAN, "budget": 500 * WAN,
        "conditions": {"repaid_on_time": True, "pledge_registered": True, "max_rate_lpr_multiple_bps": 14000}})
    fee = await w.post("/subsidy-policies", REGULATOR, {
        "name": "知识产权质押融资担保费补贴（50%）", "kind": "guarantee_fee", "rate_bps": 5000, "basis": "fee",
        "cap_per_org_year": 20 * WAN, "budget": 200 * WAN})
    yield 30
    paid = await w.post("/subsidy-claims", GUARANTOR, {"policy_id": fee["id"], "loan_id": w.made["loan:repaid"]})
    yield 40
    await w.post(f"/subsidy-claims/{paid['id']}/approve", REGULATOR)
    yield END - 4  # the repaid loan's last instalment is behind it: the borrower claims its interest subsidy
    await w.post("/subsidy-claims", SME1, {"policy_id": interest["id"], "loan_id": w.made["loan:repaid"]})


async def market_sale(w: World) -> AsyncIterator[int | date]:
    """A university's dormant magnesium-alloy patent sold to an SME: listing, two offers, a recorded deal."""
    yield 6
    lst = await w.post("/listings", UNI1, {
        "asset_ids": [w.made["assets"]["201410345678.3"]], "mode": "assignment", "price": 80 * WAN,
        "title": "高强韧镁合金专利转让", "description": "校企转化：轨道交通与汽车轻量化用稀土镁合金，含工艺包。"})
    yield 9
    await w.post(f"/listings/{lst['id']}/offers", SME4, {"amount": 60 * WAN})
    mine = await w.post(f"/listings/{lst['id']}/offers", SME2, {"amount": 75 * WAN, "message": "尽快签约，一次性付款"})
    yield 11
    deal = (await w.post(f"/offers/{mine['id']}/accept", UNI1))["deal"]
    yield 13
    await w.post(f"/deals/{deal['id']}/pay", SME2)


async def market_license(w: World) -> AsyncIterator[int | date]:
    """An exclusive licence of a quantum-optics patent, paid; and a listing with an offer to answer."""
    yield 20
    lst = await w.post("/listings", UNI2, {
        "asset_ids": [w.made["assets"]["201510876543.4"]], "mode": "exclusive_license", "price": 50 * WAN,
        "title": "量子纠缠光源专利独占许可", "term_months": 60, "rate_bps": 200})
    o = await w.post(f"/listings/{lst['id']}/offers", SME3, {"amount": 50 * WAN, "message": "用于量子通信模块"})
    deal = (await w.post(f"/offers/{o['id']}/accept", UNI2))["deal"]
    await w.post(f"/deals/{deal['id']}/pay", SME3)
    yield END - 8
    open_listing = await w.post("/listings", UNI3, {
        "asset_ids": [w.made["assets"]["201710345672.X"]], "mode": "nonexclusive_license", "price": 30 * WAN,
        "title": "苹果采后保鲜涂膜剂专利普通许可", "term_months": 36, "rate_bps": 300, "free_months": 6})
    yield END - 5
    await w.post(f"/listings/{open_listing['id']}/offers", SME4, {"amount": 25 * WAN, "message": "拟用于运城苹果基地"})


async def open_license(w: World) -> AsyncIterator[int | date]:
    """Open licence, use first pay later: three free months, then 3% of net sales; a royalty to confirm."""
    yield 10
    asset = w.made["assets"]["202011567890.6"]
    await w.post(f"/assets/{asset}/open-license", UNI3, {"rate_bps": 300, "term_months": 36, "free_months": 3})
    lic = await w.post(f"/assets/{asset}/open-license/accept", SME4)
    yield END - 10  # the first report, due 30 days after its period: the licensor confirms it when paid
    start = date.fromisoformat(lic["starts_on"])
    await w.post(f"/licenses/{lic['id']}/royalty-reports", SME4, {
        "period_start": str(start), "period_end": str(start + timedelta(days=164)), "net_sales": 180 * WAN})


async def auction(w: World) -> AsyncIterator[int | date]:
    """A live auction of a hydrogen-purification patent: two bidders, ends after the demo's last day."""
    yield END - 20
    lot = await w.post("/auctions", UNI1, {
        "asset_ids": [w.made["assets"]["201811098765.8"]], "title": "焦炉煤气制氢PSA提纯专利拍卖",
        "start_price": 40 * WAN, "reserve_price": 55 * WAN, "min_increment": 1 * WAN,
        "ends_on": str(w.day(END) + timedelta(days=10)), "extension_days": 1})
    yield END - 15
    await w.post(f"/auctions/{lot['id']}/bids", SME1, {"amount": 40 * WAN})
    yield END - 7
    await w.post(f"/auctions/{lot['id']}/bids", SME3, {"amount": 45 * WAN})


async def tech_needs(w: World) -> AsyncIterator[int | date]:
    """SMEs' technology needs, matched against the registry."""
    yield 3
    await w.post("/tech-needs", SME3, {"title": "碳化硅外延片缺陷检测技术", "description": "需要基于光学或深度学习的碳化硅外延缺陷在线检测方法",
                                      "ipc_codes": ["G01N 21/95", "G06N 3/08"], "industry": "新材料"})
    await w.post("/tech-needs", SME2, {"title": "矿井瓦斯浓度智能预警", "description": "寻求基于神经网络的瓦斯浓度预测与预警专利，用于智能矿山改造",
                                      "ipc_codes": ["E21F 17/18"], "industry": "高端装备制造"})


async def ip_rewards(w: World) -> AsyncIterator[int | date]:
    """The province's IP rewards (002_…): ¥5,000 per high-value invention patent granted in 2024 (and
    ¥3,000 more beyond 10), ¥30,000 for a new GI mark, ¥200,000 for passing the 贯标 certification."""
    yield 2
    hv = await w.post("/subsidy-policies", REGULATOR, {"name": "2024年度高价值发明专利资助", "kind": "high_value_patent",
                                                       "budget": 100 * WAN, "period": 2024})
    gi = await w.post("/subsidy-policies", REGULATOR, {"name": "2025年度地理标志商标注册奖励", "kind": "gi_mark",
                                                       "budget": 60 * WAN, "period": 2025})
    cert = await w.post("/subsidy-policies", REGULATOR, {"name": "企业知识产权管理规范贯标奖励",
                                                         "kind": "ip_management_certification", "budget": 100 * WAN})
    yield 3
    assets = w.made["assets"]
    # The 2024 grant qualifies; the 2020 one is refused item by item on the claim.
    claim = await w.post("/subsidy-claims", SME3, {"policy_id": hv["id"], "items": [
        {"asset_id": assets["202210123456.1"]}, {"asset_id": assets["201810456789.X"]}]})
    certified = await w.post("/subsidy-claims", SME3, {"policy_id": cert["id"]})
    await w.post("/subsidy-claims", SME4, {"policy_id": gi["id"], "items": [{"asset_id": assets["52863417"]}]})
    yield 6
    await w.post(f"/subsidy-claims/{claim['id']}/approve", REGULATOR)
    await w.post(f"/subsidy-claims/{certified['id']}/approve", REGULATOR)


async def whitelist(w: World) -> AsyncIterator[int | date]:
    """The regulator's white list pushed to the banks: two firms that consented, with their IP indicators."""
    yield 8
    for firm in (SME1, SME3):
        await w.post("/whitelist-consents", firm)
    wl = await w.post("/whitelists", REGULATOR, {"name": "2025年度知识产权质押融资推荐企业白名单", "year": 2025,
                                                 "org_ids": [w.org(SME1), w.org(SME3)]})
    w.made["whitelist"] = wl["id"]


async def geographical_indication(w: World) -> AsyncIterator[int | date]:
    """A GI collective mark licensed to producers of its region only (运城黄芩, 140800)."""
    yield 12
    await w.post("/listings", SME4, {
        "asset_ids": [w.made["assets"]["52863417"]], "mode": "nonexclusive_license", "price": 2 * WAN,
        "title": "“运城黄芩”地理标志集体商标使用许可（限运城市内生产者）", "term_months": 36})


STORIES: list[Story] = [rates, bank_controls, fund, *loans.LOAN_STORIES, subsidies, market_sale, market_license,
                        open_license, auction, tech_needs, ip_rewards, whitelist, geographical_indication]
__all__ = ["BANK2", "BANK3", "END", "STORIES", "YUAN"]
