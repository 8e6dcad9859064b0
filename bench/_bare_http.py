"""The reference for bench/http_paths.py: a bare FastAPI + asyncpg app, no ORM, no middleware.

``GET /assets/{id}``: one primary-key read of the project's own ``assets`` table. ``POST /transfer``: the
bare transfer, five statements in one transaction (two balance updates in id order, the journal row,
BEGIN and COMMIT). ``POST /repay/{loan_id}``: the database work of the project's repayment written by hand,
the same rows in the same statements and transactions (13 + 4), with the caller's token verified and the
least Python between them: the floor a repayment with these guarantees reaches through FastAPI and asyncpg
(see ``repay``). Served with ``uvicorn bench._bare_http:app --workers 2``; the database comes from
``IPM_BENCH_BARE_DSN`` (a plain ``postgresql://`` DSN).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

DSN = os.environ.get("IPM_BENCH_BARE_DSN", "postgresql://postgres@127.0.0.1:5432/ipm_httpbench")
JWT_SECRET = os.environ.get("IPM_BENCH_BARE_JWT_SECRET", "")


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


class RepayIn(BaseModel):
    amount: int


_CLAIM = ("INSERT INTO idempotency_keys (id, scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4, $5) "
          "ON CONFLICT DO NOTHING RETURNING id")
_CALLER = ("SELECT u.org_id, u.role, u.token_version, u.disabled, o.kind, "
           "(SELECT business_date FROM clock_state WHERE id = 1) AS today "
           "FROM users AS u JOIN orgs AS o ON o.id = u.org_id WHERE u.id = $1")
_LOAN = ("SELECT id, borrower_org_id, bank_org_id, status, (SELECT coalesce(sum(amount), 0) FROM loan_repayments "
         "WHERE loan_id = $1 AND status = 'processing') AS in_flight FROM loans WHERE id = $1 FOR UPDATE")
_ROWS = ("SELECT id, n, principal, interest, paid_principal, paid_interest FROM loan_installments "
         "WHERE loan_id = $1 ORDER BY n FOR UPDATE")
_AUDIT = ("INSERT INTO audit_events (id, at, business_date, actor_user_id, actor_org_id, action, object_type, "
          "object_id, after) SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::date[], $4::text[], $5::text[], "
          "$6::text[], $7::text[], $8::text[], $9::json[])")
_OPEN = (f"WITH payment AS (INSERT INTO payments (id, method, purpose, payer_org_id, payee_org_id, object_type, "
         f"object_id, idempotency_key, amount, currency, provider, provider_key, status, escrow, platform_fee, "
         f"description, created_by, created_at, updated_at, refund_attempts) VALUES ($10, 'charge', 'repayment', "
         f"$11, $12, 'loan', $13, $14, $15, 'CNY', 'local', $16, 'processing', false, 0, $17, $18, $19, $19, 0)), "
         f"repayment AS (INSERT INTO loan_repayments (id, loan_id, amount, status, penalty, charges, interest, "
         f"principal, prepaid_principal, prepayment, source, paid_on, payment_id, created_at) VALUES ($14, $13, $15, "
         f"'processing', 0, 0, 0, 0, 0, 'reduce_payment', 'borrower', $20, $10, $19)) {_AUDIT}")
_JOB = ("INSERT INTO outbox_jobs (kind, payload, key, ordering_key, status, attempts, max_attempts, run_after, "
        "locked_by, lease_token, locked_until, created_at) VALUES ('payments.call', $1, $2, $3, 'running', 1, 8, $4, "
        "'bare', $5, $6, $4) ON CONFLICT (key) DO NOTHING RETURNING id")
_SUCCEED = ("UPDATE payments SET provider_reference = $2, status = 'succeeded', updated_at = $3, settled_at = $3 "
            "WHERE id = $1 AND status = 'processing' RETURNING object_id, idempotency_key, amount")
_HELD = ("SELECT l.id, l.status, r.status AS repayment_status FROM loans AS l JOIN loan_repayments AS r "
         "ON r.loan_id = l.id WHERE l.id = $1 AND r.id = $2 FOR UPDATE OF l")
_APPLY = ("WITH repayment AS (UPDATE loan_repayments SET status = 'succeeded', interest = $10, principal = $11 "
          "WHERE id = $12), rows AS (UPDATE loan_installments AS t SET paid_interest = v.paid_interest, "
          "paid_principal = v.paid_principal, status = v.status FROM unnest($13::text[], $14::bigint[], $15::bigint[], "
          f"$16::text[]) AS v (id, paid_interest, paid_principal, status) WHERE t.id = v.id) {_AUDIT}")
_EVENT = ("INSERT INTO payment_events (id, event_id, type, source, provider_object_id, payment_id, outcome, payload, "
          "received_at) VALUES ($1, $2, 'payment_intent.succeeded', 'local', $3, $4, 'applied', $5, $6) "
          "ON CONFLICT DO NOTHING")
_DONE = "UPDATE outbox_jobs SET status = 'done', locked_by = NULL, lease_token = NULL, finished_at = $2 WHERE id = $1"
_ANSWER = ("UPDATE idempotency_keys SET response_status = 201, response_body = $2, response_headers = $3 "
           "WHERE id = $1 RETURNING id")


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _audit(rows: list[tuple[str, str, str, dict[str, Any]]], at: datetime, today: Any, user: str,
           org: str) -> list[Any]:
    """The audit rows' columns as arrays (action, object type, object id, after)."""
    n = len(rows)
    return [[_id("aud") for _ in rows], [at] * n, [today] * n, [user] * n, [org] * n, [r[0] for r in rows],
            [r[1] for r in rows], [r[2] for r in rows], [json.dumps(r[3]) for r in rows]]


@app.post("/repay/{loan_id}", status_code=201)
async def repay(loan_id: str, body: RepayIn, request: Request) -> Any:
    """The project's repayment, by hand: phase one (the key claimed, the caller and the loan read, the rows
    locked, the payment, the repayment and the audit row written, the provider call queued) commits before
    the provider is asked; the local provider succeeds at once, and phase two settles it (the payment
    succeeded, the loan and its rows locked again, the amount allocated interest then principal, oldest
    first, the audit rows, the provider's event, the call done); the answer is kept for the key."""
    try:
        claims = jwt.decode(request.headers["authorization"].removeprefix("Bearer "), JWT_SECRET,
                            algorithms=["HS256"], options={"require": ["exp", "sub", "org", "ver"]})
        key = request.headers["idempotency-key"]
    except (KeyError, jwt.PyJWTError) as exc:
        raise HTTPException(401) from exc
    user = claims["sub"]
    fingerprint = hashlib.sha256(f"POST {request.url.path} {body.amount}".encode()).hexdigest()
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn:
        async with conn.transaction():
            claim = await conn.fetchval(_CLAIM, _id("idk"), claims["org"], key, fingerprint, now)
            if claim is None:
                raise HTTPException(409)
            caller = await conn.fetchrow(_CALLER, user)
            if caller is None or caller["disabled"] or caller["token_version"] != claims["ver"]:
                raise HTTPException(401)
            loan = await conn.fetchrow(_LOAN, loan_id)
            if loan is None:
                raise HTTPException(404)
            if loan["borrower_org_id"] != caller["org_id"] or loan["status"] not in ("active", "overdue"):
                raise HTTPException(403)
            rows = await conn.fetch(_ROWS, loan_id)
            owed = sum(r["principal"] + r["interest"] - r["paid_principal"] - r["paid_interest"] for r in rows)
            if body.amount + loan["in_flight"] > owed:
                raise HTTPException(422)
            today, payment_id, repayment_id = caller["today"], _id("pay"), _id("lrp")
            await conn.execute(_OPEN, *_audit([("payment.created", "payment", payment_id, {"status": "processing"})],
                                              now, today, user, caller["org_id"]),
                               payment_id, caller["org_id"], loan["bank_org_id"], loan_id, repayment_id, body.amount,
                               "ipm_" + hashlib.sha256(repayment_id.encode()).hexdigest()[:40],
                               f"repayment of loan {loan_id}", user, now, today)
            job = await conn.fetchval(_JOB, json.dumps({"payment_id": payment_id, "op": "charge"}),
                                      f"payment:{payment_id}:charge", f"payment:{payment_id}", now, secrets.token_hex(8),
                                      now + timedelta(seconds=30))
        reference = _id("pi_local")
        async with conn.transaction():
            paid = await conn.fetchrow(_SUCCEED, payment_id, reference, now)
            if paid is None:  # settled meanwhile by someone else
                raise HTTPException(409)
            held = await conn.fetchrow(_HELD, paid["object_id"], paid["idempotency_key"])
            if held["repayment_status"] != "processing" or held["status"] not in ("active", "overdue"):
                raise HTTPException(409)
            rows = await conn.fetch(_ROWS, loan_id)
            left, interest, principal, moved = paid["amount"], 0, 0, []
            for r in rows:  # interest, then principal, oldest instalment first
                i = min(left, r["interest"] - r["paid_interest"])
                p = min(left - i, r["principal"] - r["paid_principal"])
                if i or p:
                    done = r["paid_interest"] + i == r["interest"] and r["paid_principal"] + p == r["principal"]
                    moved.append((r["id"], r["paid_interest"] + i, r["paid_principal"] + p, "paid" if done else "partial"))
                    interest, principal, left = interest + i, principal + p, left - i - p
                if not left:
                    break
            audit = _audit([("payment.succeed", "payment", payment_id, {"status": "succeeded"}),
                            ("loan_repayment.apply", "loan_repayment", repayment_id, {"amount": paid["amount"]}),
                            ("loan.repaid", "loan", held["id"], {"interest": interest, "principal": principal})],
                           now, today, user, caller["org_id"])
            await conn.execute(_APPLY, *audit, interest, principal, repayment_id, *(list(c) for c in zip(*moved, strict=True)))
            await conn.execute(_EVENT, _id("pev"), _id("evt_local"), reference, payment_id,
                               json.dumps({"type": "payment_intent.succeeded", "id": reference}), now)
            await conn.execute(_DONE, job, now)
        answer = json.dumps({"id": repayment_id, "amount": paid["amount"], "status": "succeeded",
                             "allocation": {"penalty": 0, "charges": 0, "interest": interest, "principal": principal,
                                            "prepaid_principal": 0}, "loan": {"id": loan_id, "status": held["status"]}})
        await conn.fetchval(_ANSWER, claim, answer, json.dumps({"content-type": "application/json"}))
    return Response(answer, status_code=201, media_type="application/json")
