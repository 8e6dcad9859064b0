"""The worker loop: claim due outbox jobs, run them, beat, enqueue the periodic jobs, purge old ones.

Any number of workers, in any number of processes or machines, share one database safely: claims skip
rows another worker has locked (PostgreSQL) or wait for the write lock (SQLite), and a job whose worker
died is taken over when its lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import outbox
from kernel.settings import Settings

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, factory: async_sessionmaker[AsyncSession], settings: Settings,
                 worker_id: str | None = None) -> None:
        self.factory = factory
        self.settings = settings
        self.worker_id = worker_id or outbox.new_worker_id()
        self.jobs_done = 0
        self.stopping = asyncio.Event()
        self._next_beat = 0.0
        self._next_purge = 0.0

    def stop(self) -> None:
        self.stopping.set()
        outbox.wakeup.set()

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + self.settings.worker_heartbeat_seconds
        await outbox.beat(self.factory, self.worker_id, self.jobs_done)
        await outbox.enqueue_periodic(self.factory, self.settings)
        if now >= self._next_purge:
            self._next_purge = now + 3600
            async with self.factory() as session:
                await outbox.purge_finished(session, timedelta(hours=self.settings.outbox_retention_hours))
                await session.commit()

    async def run_once(self) -> int:
        """One round: housekeeping when due, then claim and run a batch. Returns how many jobs ran."""
        await self._housekeeping()
        batch = await outbox.claim(self.factory, self.worker_id, limit=self.settings.worker_batch)
        if batch:
            # Jobs of one batch never share an ordering key (a later one waits), so they may run together.
            await asyncio.gather(*(outbox.execute(self.factory, job) for job in batch))
            self.jobs_done += len(batch)
        return len(batch)

    async def run(self) -> None:
        log.info("worker %s started", self.worker_id)
        try:
            while not self.stopping.is_set():
                try:
                    ran = await self.run_once()
                except Exception:  # the database went away for a moment: wait and go on
                    log.exception("worker round failed")
                    ran = 0
                if ran == 0 and not self.stopping.is_set():
                    outbox.wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(outbox.wakeup.wait(), self.settings.worker_poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await outbox.stop_beating(self.factory, self.worker_id)
            log.info("worker %s stopped after %s jobs", self.worker_id, self.jobs_done)
