"""Tamper evidence: what each entry's hash covers, and ``verify``, which re-derives everything from the rows."""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger.core import (
    CREDIT,
    DEBIT,
    GENESIS_HASH,
    SIDES,
    available,
    chain_link,
    entry_digest,
    signed_balance,
    violates_limit,
)
from finance.ledger.models import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerPosting
from finance.ledger.reading import _pending_sums, _posted_sums, _postings_of

VERIFY_BATCH = 500
MAX_PROBLEMS_SHOWN = 100


def hashed_entry(entry: LedgerEntry) -> dict[str, Any]:
    return {"id": entry.id, "seq": entry.seq, "idempotency_key": entry.idempotency_key,
            "request_hash": entry.request_hash, "effective_date": entry.effective_date.isoformat(),
            "description": entry.description, "kind": entry.kind, "reverses_entry_id": entry.reverses_entry_id,
            "object_type": entry.object_type, "object_id": entry.object_id,
            "created_at": entry.created_at.astimezone(UTC).isoformat(),
            "created_by_org_id": entry.created_by_org_id, "created_by_user_id": entry.created_by_user_id,
            # Two-phase fields are hashed only when used, so every one-phase entry keeps its hash.
            **({"phase": entry.phase, "pending_entry_id": entry.pending_entry_id} if entry.phase != "posted"
               else {})}


def hashed_posting(p: LedgerPosting) -> dict[str, Any]:
    return hashed_posting_fields(p.id, p.line_no, p.account_id, p.side, p.amount, p.effective_date, p.pending)


def hashed_posting_fields(id: str, line_no: int, account_id: str, side: str, amount: int, effective_date: date,
                          pending: bool) -> dict[str, Any]:
    return {"id": id, "line_no": line_no, "account_id": account_id, "side": side, "amount": amount,
            "effective_date": effective_date.isoformat(), **({"pending": True} if pending else {})}


async def verify(session: AsyncSession) -> dict[str, Any]:
    """Re-derive everything: each entry balances, each cached balance equals its postings, the chain holds.

    The chain is proved over the sealed prefix (seq 1, 2, 3 …); the unsealed tail, which the sealer has not
    linked yet, is counted (``entries_unsealed``) and each of its entries is checked against the digest
    fixed when it was posted. Seal first (``sealing.seal``) to prove everything committed so far.
    Reads refresh the session's objects (``populate_existing``): the proof is about the rows, not a cache.
    """
    problems: list[dict[str, Any]] = []
    chain_ok = balanced = True
    prev_hash, expected_seq, sealed = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        batch = list((await session.exec(select(LedgerEntry).where(col(LedgerEntry.seq) > last_seq)
                                          .order_by(col(LedgerEntry.seq)).limit(VERIFY_BATCH)
                                          .execution_options(populate_existing=True))).all())
        if not batch:
            break
        postings = await _postings_of(session, [e.id for e in batch])
        for e in batch:
            assert e.seq is not None and e.hash is not None
            sealed += 1
            last_seq = e.seq
            ps = postings[e.id]
            if e.seq != expected_seq:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "sequence_gap", "expected_seq": expected_seq,
                                 "seq": e.seq})
            if e.prev_hash != prev_hash:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "chain_broken", "seq": e.seq})
            if chain_link(e.prev_hash or "", e.seq, _digest(e, ps)) != e.hash:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "hash_mismatch", "seq": e.seq})
            balanced = _balance_problem(e, ps, problems) and balanced
            prev_hash, expected_seq = e.hash, e.seq + 1
    unsealed, last_id = 0, ""
    while True:
        tail = list((await session.exec(select(LedgerEntry).where(col(LedgerEntry.seq).is_(None),
                                                                  col(LedgerEntry.id) > last_id)
                                         .order_by(col(LedgerEntry.id)).limit(VERIFY_BATCH)
                                         .execution_options(populate_existing=True))).all())
        if not tail:
            break
        postings = await _postings_of(session, [e.id for e in tail])
        for e in tail:
            unsealed += 1
            last_id = e.id
            if _digest(e, postings[e.id]) != e.digest:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "digest_mismatch", "seq": None})
            balanced = _balance_problem(e, postings[e.id], problems) and balanced
    head = await session.get(LedgerChainHead, 1, populate_existing=True)
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (last_seq, prev_hash):
        chain_ok = False
        problems.append({"problem": "head_mismatch", "head_seq": head_seq, "last_seq": last_seq})

    sums, pend = await _posted_sums(session, None), await _pending_sums(session, None)
    accounts = (await session.exec(select(LedgerAccount).order_by(col(LedgerAccount.id))
                                   .execution_options(populate_existing=True))).all()
    for a in accounts:
        d, c = sums.pop(a.id, (0, 0))
        if (a.debits_posted, a.credits_posted) != (d, c):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "cached_balance_mismatch",
                             "cached": [a.debits_posted, a.credits_posted], "postings": [d, c]})
        dp, cp = pend.pop(a.id, (0, 0))
        if (a.debits_pending, a.credits_pending) != (dp, cp):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "cached_pending_mismatch",
                             "cached": [a.debits_pending, a.credits_pending], "postings": [dp, cp]})
        if a.limit_rule == "no_negative" and available(a.normal_side, d, c, dp, cp) < 0:
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "overcommitted",
                             "available": available(a.normal_side, d, c, dp, cp)})
        if violates_limit(a.limit_rule, a.normal_side, d, c):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "limit_violated",
                             "balance": signed_balance(a.normal_side, d, c)})
    total_d = sum(a.debits_posted for a in accounts)
    total_c = sum(a.credits_posted for a in accounts)
    if total_d != total_c:
        balanced = False
        problems.append({"problem": "trial_balance_off", "debits": total_d, "credits": total_c})
    pending_d = sum(a.debits_pending for a in accounts)
    pending_c = sum(a.credits_pending for a in accounts)
    if pending_d != pending_c:
        balanced = False
        problems.append({"problem": "pending_trial_balance_off", "debits": pending_d, "credits": pending_c})
    problems.extend(await _resolution_problems(session))
    balanced = balanced and not any(p["problem"] == "resolution_mismatch" for p in problems)
    return {"balanced": balanced, "chain_intact": chain_ok, "entries_checked": sealed + unsealed,
            "entries_sealed": sealed, "entries_unsealed": unsealed,
            "pending_debits": pending_d, "pending_credits": pending_c,
            "accounts_checked": len(accounts), "problems_total": len(problems),
            "problems": problems[:MAX_PROBLEMS_SHOWN]}


def _digest(e: LedgerEntry, ps: list[LedgerPosting]) -> str:
    return entry_digest(hashed_entry(e), [hashed_posting(p) for p in ps])


def _balance_problem(e: LedgerEntry, ps: list[LedgerPosting], problems: list[dict[str, Any]]) -> bool:
    """False (and a problem noted) when the entry's postings do not balance."""
    debits = sum(p.amount for p in ps if p.side == DEBIT)
    credits = sum(p.amount for p in ps if p.side == CREDIT)
    if len(ps) < 2 or debits != credits or any(p.amount <= 0 or p.side not in SIDES for p in ps):
        problems.append({"entry_id": e.id, "problem": "unbalanced", "seq": e.seq, "debits": debits,
                         "credits": credits, "postings": len(ps)})
        return False
    return True


async def _resolution_problems(session: AsyncSession) -> list[dict[str, Any]]:
    """Every post or void names a pending entry and repeats its lines exactly."""
    out: list[dict[str, Any]] = []
    resolvers = list((await session.exec(select(LedgerEntry).where(
        col(LedgerEntry.pending_entry_id).is_not(None)))).all())
    if not resolvers:
        return out
    pending_ids = [r.pending_entry_id for r in resolvers if r.pending_entry_id]
    originals = {e.id: e for e in (await session.exec(select(LedgerEntry).where(
        col(LedgerEntry.id).in_(pending_ids)))).all()}
    postings = await _postings_of(session, [r.id for r in resolvers] + pending_ids)
    for r in resolvers:
        original = originals.get(r.pending_entry_id or "")
        lines = sorted((p.account_id, p.side, p.amount) for p in postings[r.id])
        if original is None or original.phase != "pending" or lines != sorted(
                (p.account_id, p.side, p.amount) for p in postings[original.id]):
            out.append({"entry_id": r.id, "problem": "resolution_mismatch", "pending_entry_id": r.pending_entry_id})
    return out
