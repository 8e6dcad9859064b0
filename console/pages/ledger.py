"""The fund's books: journal entries with filters and cursor pages, balances as of a date, the ledger's
proof (verify) and the closed months with their frozen trial balances — all as the API gives them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import PREFIX, Ctx, context, not_found, render

router = APIRouter()
FILTERS = ("from", "to", "kind", "account_id")


async def _ledger(ctx: Ctx, verify: bool) -> Response:
    q = ctx.request.query_params
    filters = {k: q.get(k, "").strip() for k in FILTERS}
    as_of = q.get("as_of", "").strip()
    entries = await ctx.api.get("/fund/ledger/entries", limit=25, cursor=q.get("cursor") or None, **filters)
    if entries.status in (401, 403):
        return not_found(ctx, entries)
    accounts = await ctx.api.get("/fund/ledger/accounts", limit=100)
    balances = await ctx.api.get("/fund/ledger/balances", as_of=as_of or None)
    proof = await ctx.api.get("/fund/ledger/verify") if verify else None
    codes = {a["id"]: a["code"] for a in accounts.data}
    nxt = entries.body.get("next_cursor") if entries.ok else None
    more = f"{PREFIX}/ledger?{urlencode({**filters, 'as_of': as_of, 'cursor': nxt})}" if nxt else None
    errors = [a.problem() for a in (entries, balances) if not a.ok]
    return render(ctx, "ledger.html", status_code=422 if errors else 200, entries=entries.data,
                  accounts=accounts.data, codes=codes, balances=balances.body if balances.ok else None,
                  proof=proof.body if proof is not None and proof.ok else None, values={**filters, "as_of": as_of},
                  more=more, first=f"{PREFIX}/ledger?{urlencode({**filters, 'as_of': as_of})}",
                  paged=bool(q.get("cursor")), errors=errors)


@router.get("/ledger")
async def ledger(request: Request) -> Response:
    return await _ledger(await context(request), verify=False)


@router.get("/ledger/verify")
async def verify(request: Request) -> Response:
    """The same page with the API's proof of the books on top (a read: a link, not a form)."""
    return await _ledger(await context(request), verify=True)


@router.get("/ledger/periods")
async def periods(request: Request) -> Response:
    ctx = await context(request)
    answer = await ctx.api.get("/fund/ledger/periods")
    if not answer.ok:
        return not_found(ctx, answer)
    rows: list[dict[str, Any]] = answer.body if isinstance(answer.body, list) else []
    return render(ctx, "periods.html", periods=sorted(rows, key=lambda p: p["month"], reverse=True))
