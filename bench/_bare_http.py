"""The reference for bench/http_paths.py: a bare FastAPI + asyncpg app, no ORM, no middleware.

``GET /assets/{id}``: one primary-key read of the project's own ``assets`` table. ``POST /transfer``: the
bare transfer, five statements in one transaction (two balance updates in id order, the journal row,
BEGIN and COMMIT). Served with ``uvicorn bench._bare_http:app --workers 2``; the database comes from
``IPM_BENCH_BARE_DSN`` (a plain ``postgresql://`` DSN).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

DSN = os.environ.get("IPM_BENCH_BARE_DSN", "postgresql://postgres@127.0.0.1:5432/ipm_httpbench")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(DSN, min_size=16, max_size=16)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/assets/{asset_id}")
async def read(asset_id: str, request: Request) -> Any:
    row = await request.app.state.pool.fetchrow(
        "SELECT id, kind, number, title, abstract, status, owner_org_id, filing_date FROM assets WHERE id = $1",
        asset_id)
    if row is None:
        raise HTTPException(404)
    return dict(row)


class TransferIn(BaseModel):
    source: int
    target: int
    amount: int


@app.post("/transfer", status_code=201)
async def transfer(body: TransferIn, request: Request) -> Any:
    first, second = sorted((body.source, body.target))
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE bench_accounts SET balance = balance + $2 WHERE id = $1", first,
                           -body.amount if first == body.source else body.amount)
        await conn.execute("UPDATE bench_accounts SET balance = balance + $2 WHERE id = $1", second,
                           -body.amount if second == body.source else body.amount)
        tid = await conn.fetchval("INSERT INTO bench_transfers (source, target, amount) VALUES ($1, $2, $3) "
                                  "RETURNING id", body.source, body.target, body.amount)
    return {"id": tid}
