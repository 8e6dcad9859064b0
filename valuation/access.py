"""Who may read a valuation, as one SQL condition (used by the lookup and by the list): the requester, the
certifying evaluator, the current owners of its assets; banks, evaluators and the admin read them all."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kernel.actor import Actor
from kernel.db import table_of
from market.assets.models import Asset
from valuation.models import Valuation, ValuationAsset

READER_KINDS = ("bank", "evaluator")


def visible_valuations(actor: Actor) -> Any:
    if actor.is_platform_admin or actor.is_kind(*READER_KINDS):
        return sa.true()
    V, VA, A = table_of(Valuation), table_of(ValuationAsset), table_of(Asset)
    owned = sa.select(VA.c.valuation_id).join(A, A.c.id == VA.c.asset_id).where(A.c.owner_org_id == actor.org_id)
    return sa.or_(V.c.requested_by_org_id == actor.org_id, V.c.certified_by == actor.org_id, V.c.id.in_(owned))
