"""Sealing: linking committed entries into the hash chain after their commit, in batches.

Posters write entries unsealed (``seq``, ``prev_hash`` and ``hash`` NULL, ``digest`` set), so the chain is
off the commit path. ``seal`` locks the chain head (only sealers touch it, so a second sealer waits there and
then reads the first one's work), reads the unsealed entries that its statement sees, oldest first by
(created_at, id), and gives each the next ``seq`` and ``core.chain_link(prev_hash, seq, digest)``.

Why entries committing out of order cannot break the chain: the queue is "``seq IS NULL``", not "above the
last sealed id", and ``seq`` is given at sealing. An entry that commits late, with an earlier created_at or a
lower id than entries already sealed, is simply linked by a later batch with a later ``seq``: nothing is
skipped and nothing sealed moves. Only committed entries are visible to the sealer, and an entry that rests
on another (a reversal, the post of a pending entry) is written after that one committed, with a later
created_at, so it is never linked before it.

The workers run ``ledger.seal`` periodically (one transaction per batch, so the head lock is short); verify
from the operator's CLI and a period close seal synchronously first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger.core import GENESIS_HASH, chain_link
from finance.ledger.models import LedgerChainHead, LedgerEntry
from kernel import outbox
from kernel.db import table_of, utcnow

SEAL_BATCH = 500
SEAL_JOB = "ledger.seal"
_entries = table_of(LedgerEntry)
_head = table_of(LedgerChainHead)
_LOCK_HEAD = sa.select(_head.c.last_seq, _head.c.last_hash).where(_head.c.id == 1).with_for_update()
_UNSEALED = (sa.select(_entries.c.id, _entries.c.digest).where(_entries.c.seq.is_(None))
             .order_by(_entries.c.created_at, _entries.c.id).limit(sa.bindparam("n")))
# ``seq IS NULL`` again: the append-only trigger allows this update once, and only this one.
_SEAL = (sa.update(_entries).where(_entries.c.id == sa.bindparam("b_id"), _entries.c.seq.is_(None))
         .values(seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")))


async def seal(session: AsyncSession, *, limit: int | None = None) -> int:
    """Link the unsealed entries this transaction sees (at most ``limit``) into the chain; returns how many.

    The chain head stays locked until the caller commits (or rolls back, sealing nothing)."""
    conn = await session.connection()
    seq, last = await _lock_head(conn)
    done: list[dict[str, Any]] = []
    while limit is None or len(done) < limit:
        n = SEAL_BATCH if limit is None else min(SEAL_BATCH, limit - len(done))
        rows = (await conn.execute(_UNSEALED, {"n": n})).all()
        batch = []
        for entry_id, digest in rows:
            seq += 1
            link = chain_link(last, seq, digest)
            batch.append({"b_id": entry_id, "b_seq": seq, "b_prev": last, "b_hash": link})
            last = link
        if batch:
            await conn.execute(_SEAL, batch)
            done += batch
        if len(rows) < n:
            break
    if done:
        await conn.execute(sa.update(_head).where(_head.c.id == 1).values(
            last_seq=seq, last_hash=last, prev_hash=done[-1]["b_prev"], updated_at=utcnow()))
        _refresh_loaded(session, done)
    return len(done)


async def _lock_head(conn: AsyncConnection) -> tuple[int, str]:
    row = (await conn.execute(_LOCK_HEAD)).first()
    if row is None:  # the very first seal: make the head, then lock it (a racing sealer made it: same)
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(_head).values(id=1, last_seq=0, last_hash=GENESIS_HASH, prev_hash=GENESIS_HASH,
                                                updated_at=utcnow()).on_conflict_do_nothing(index_elements=["id"]))
        row = (await conn.execute(_LOCK_HEAD)).one()
    return int(row[0]), str(row[1])


def _refresh_loaded(session: AsyncSession, sealed: list[dict[str, Any]]) -> None:
    """Entries the session holds get their link (unflagged: the row has it)."""
    identity_map = session.sync_session.identity_map
    for s in sealed:
        obj = identity_map.get(identity_key(LedgerEntry, s["b_id"]))
        if obj is not None:
            set_committed_value(obj, "seq", s["b_seq"])
            set_committed_value(obj, "prev_hash", s["b_prev"])
            set_committed_value(obj, "hash", s["b_hash"])


@outbox.periodic(SEAL_JOB, every=lambda s: s.ledger_seal_every_seconds)
async def seal_job(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    # One transaction per batch: each batch is durable at once and the head is locked only briefly.
    while True:
        async with ctx.session_factory() as session:
            n = await seal(session, limit=SEAL_BATCH)
            await session.commit()
        if n < SEAL_BATCH:
            return
