"""GET /workflows: every workflow's table, for any signed-in user; each table agrees with its model."""

from __future__ import annotations

import pytest

from market.assets.models import ASSET, ASSET_STATUSES
from market.auctions.models import AUCTION, AUCTION_STATUSES
from market.licensing.models import (
    DECLARATION_STATUSES,
    LICENSE,
    LICENSE_STATUSES,
    OPEN_LICENSE,
    REPORT_STATUSES,
    ROYALTY_REPORT,
)
from market.trading.models import DEAL, DEAL_STATUSES, LISTING, LISTING_STATUSES, OFFER, OFFER_STATUSES
from tests.helpers import assert_problem
from valuation.models import VALUATION, VALUATION_STATUSES

MARKET_AND_VALUATION = {"asset", "auction", "deal", "license", "listing", "offer", "open_license",
                        "royalty_report", "valuation"}


async def test_every_workflow_is_listed_for_any_user(api, client):
    assert_problem(await client.get("/workflows"), 401, "not_authenticated")
    sme = await api.org("sme")
    r = await client.get("/workflows", headers=sme.headers)
    assert r.status_code == 200, r.text
    by_name = {w["name"]: w for w in r.json()}
    assert MARKET_AND_VALUATION <= by_name.keys()
    listing = by_name["listing"]
    assert listing["initial"] == ["open"] and listing["field"] == "status"
    assert {"from": "open", "action": "contract", "to": "under_contract"} in listing["transitions"]
    assert set(by_name["deal"]["terminal"]) == {"recorded", "cancelled"}
    # Each table is the one the service applies (one definition, nothing hand-copied).
    assert by_name["valuation"]["transitions"] == [{"from": s, "action": a, "to": t}
                                                   for (s, a), t in VALUATION.moves.items()]


@pytest.mark.parametrize(("workflow", "statuses"), [
    (ASSET, ASSET_STATUSES), (AUCTION, AUCTION_STATUSES), (LICENSE, LICENSE_STATUSES),
    (ROYALTY_REPORT, REPORT_STATUSES), (OPEN_LICENSE, DECLARATION_STATUSES), (LISTING, LISTING_STATUSES),
    (OFFER, OFFER_STATUSES), (DEAL, DEAL_STATUSES), (VALUATION, VALUATION_STATUSES)])
def test_each_table_covers_exactly_its_models_statuses(workflow, statuses):
    assert set(workflow.states) == set(statuses)
