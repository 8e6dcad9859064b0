"""In-process domain events, so a lower package can tell a higher one without importing it.

Market publishes (an asset lapsed, changed owner); valuation and finance subscribe at import time.
Subscribers run inside the publisher's transaction and only flush.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

Subscriber = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)

# payload: {"asset_id", "before", "after"}
ASSET_STATUS_CHANGED = "asset.status_changed"
# payload: {"asset_id", "before", "after"} (organisation ids)
ASSET_OWNER_CHANGED = "asset.owner_changed"
# A deal was recorded (合同备案). payload: {"deal_id", "mode" (assignment|exclusive_license|sole_license|
# nonexclusive_license|open_license|auction), "asset_ids", "amount" (fen, whole deal), "recorded_on" (date),
# "seller_org_id", "buyer_org_id"}. Valuation keeps comparables from it; statistics count it.
DEAL_RECORDED = "deal.recorded"
# A valuation no longer holds (its asset lapsed, was invalidated or changed owner). payload:
# {"valuation_id", "asset_ids", "reason"}. Loans watch it for collateral shortfall.
VALUATION_STALE = "valuation.stale"
# A compensation claim's payout landed (never before: the claim is `paying` until then). payload:
# {"claim_id", "loan_id", "loss", "shares": [{party, org_id, amount}]}. Loans move the loan to `compensated`.
COMPENSATION_PAID = "compensation.paid"
# A loan repayment was applied (its principal may have fallen). payload: {"loan_id", "repayment_id",
# "prepaid_principal", "principal_repaid" (fen, scheduled and prepaid), "status" (the loan's, after it),
# "outstanding_principal"}. Servicing re-checks the loan's margin call.
LOAN_REPAYMENT_APPLIED = "loan.repayment_applied"


def subscribe(event: str) -> Callable[[Subscriber], Subscriber]:
    def register(fn: Subscriber) -> Subscriber:
        if fn not in _subscribers[event]:
            _subscribers[event].append(fn)
        return fn

    return register


async def publish(session: AsyncSession, event: str, payload: dict[str, Any]) -> None:
    for fn in list(_subscribers[event]):
        await fn(session, payload)
