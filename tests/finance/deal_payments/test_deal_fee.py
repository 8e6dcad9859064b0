"""The platform's service fee on market deals (IPM_DEAL_FEE_BPS, seller side, default 0): shown in the
deal, kept by the platform when the escrow is paid on at settlement; the seller receives the rest."""

from __future__ import annotations

from finance.payments.local import LocalGateway
from kernel.settings import get_settings
from tests.helpers import audit_count
from tests.market.helpers import listing, offer

PRICE = 45_000_100  # ¥450,001.00: 1.5% is 675,001.5 fen, a tie: half-up to 675,002


async def _pay(api, client):
    seller, buyer = await api.org("university"), await api.org("sme")
    asset = await api.asset(seller)
    lst = await listing(api, seller, [asset["id"]])
    o = await offer(api, buyer, lst["id"], amount=PRICE)
    r = await client.post(f"/offers/{o['id']}/accept", headers=seller.headers)
    assert r.status_code == 200, r.text
    deal = r.json()["deal"]
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    return seller, deal, r.json()


async def test_fee_shown_in_the_deal_and_kept_at_settlement(api, app, client, monkeypatch):
    monkeypatch.setattr(get_settings(), "deal_fee_bps", 150)  # IPM_DEAL_FEE_BPS=150 (settings are cached)
    transfers = []
    real = LocalGateway.transfer

    async def spy(self, request):
        transfers.append((request.destination_org_id, request.amount))
        return await real(self, request)

    monkeypatch.setattr(LocalGateway, "transfer", spy)
    seller, deal, out = await _pay(api, client)
    fee = (PRICE * 150 + 5000) // 10000  # half-up to the fen
    assert fee == 675_002 and PRICE * 150 % 10000 == 5000  # the half fen rounds up
    assert (deal["platform_fee"], deal["seller_proceeds"]) == (fee, PRICE - fee)
    assert out["payment"]["amount"] == PRICE and out["payment"]["platform_fee"] == fee
    assert out["deal"]["status"] == "recorded" and out["payment"]["escrow_state"] == "released"
    assert transfers == [(seller.org_id, PRICE - fee)]
    assert await audit_count(app, "deal.platform_fee_collected", deal["id"]) == 1
    got = (await client.get(f"/deals/{deal['id']}", headers=seller.headers)).json()
    assert got["platform_fee"] + got["seller_proceeds"] == got["amount"] == PRICE


async def test_no_fee_by_default(api, app, client):
    _seller, deal, out = await _pay(api, client)
    assert (deal["platform_fee"], deal["seller_proceeds"]) == (0, PRICE)
    assert out["payment"]["platform_fee"] == 0
    assert await audit_count(app, "deal.platform_fee_collected", deal["id"]) == 0
