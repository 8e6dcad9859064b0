"""Servicing items in GET /inbox: margin calls for the borrower and the lending bank, added collateral
to register and release requests to decide for the bank."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from finance.inbox.items import Ctx, InboxItem, register
from finance.inbox.messages import yuan
from finance.loans.models import Loan
from finance.servicing.models import CollateralAddition, CollateralRelease, MarginCall
from kernel.db import table_of

L, MC = table_of(Loan), table_of(MarginCall)
ADD, REL = table_of(CollateralAddition), table_of(CollateralRelease)


def _short(object_id: str) -> str:
    return object_id.split("_", 1)[-1][-6:]


def _calls(party: Any, x: Ctx) -> Any:
    return (sa.select(MC.c.id, MC.c.loan_id, MC.c.shortfall, MC.c.cure_by, MC.c.status).join(L, L.c.id == MC.c.loan_id)
            .where(party == x.actor.org_id, MC.c.status.in_(("open", "expired")),
                   L.c.status.in_(("active", "overdue"))).order_by(MC.c.cure_by))


def _call_items(x: Ctx, rows: list[Any], path: str) -> list[InboxItem]:
    return [x.item("margin_call.open" if r.status == "open" else "margin_call.expired", "margin_call", r.id, "POST",
                   path.format(loan=r.loan_id), due_on=r.cure_by, loan=_short(r.loan_id), amount=yuan(r.shortfall),
                   due=r.cure_by) for r in rows]


async def borrower_calls(x: Ctx) -> list[InboxItem]:
    return _call_items(x, await x.rows(_calls(L.c.borrower_org_id, x)), "/loans/{loan}/collateral")


async def bank_items(x: Ctx) -> list[InboxItem]:
    out = _call_items(x, await x.rows(_calls(L.c.bank_org_id, x)), "/loans/{loan}/revaluations")
    mine = L.c.bank_org_id == x.actor.org_id
    for r in await x.rows(sa.select(ADD.c.id, ADD.c.loan_id).join(L, L.c.id == ADD.c.loan_id)
                          .where(mine, ADD.c.status == "requested").order_by(ADD.c.id)):
        out.append(x.item("collateral.to_register", "collateral_addition", r.id, "POST",
                          f"/loans/{r.loan_id}/pledge-registration", loan=_short(r.loan_id)))
    for r in await x.rows(sa.select(REL.c.id, REL.c.loan_id).join(L, L.c.id == REL.c.loan_id)
                          .where(mine, REL.c.status == "requested").order_by(REL.c.id)):
        out.append(x.item("collateral_release.to_decide", "collateral_release", r.id, "POST",
                          f"/collateral-releases/{r.id}/approve", loan=_short(r.loan_id)))
    return out


register("sme", borrower_calls)
register("bank", bank_items)
