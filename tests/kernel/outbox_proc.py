"""A worker process for the kill -9 test: ``python -m tests.kernel.outbox_proc`` runs ``Worker`` with a slow
``test.slow`` handler that writes one audit row per job through the job's own transaction."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import api.registry  # noqa: F401
from kernel import audit, outbox
from kernel.actor import SYSTEM
from kernel.db import make_engine, make_session_factory
from kernel.settings import get_settings
from worker.runner import Worker


@outbox.handler("test.slow")
async def slow(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    await audit.record(ctx.session, SYSTEM, "test.slow", "job", str(payload["n"]))
    await ctx.session.flush()
    await asyncio.sleep(0.3)  # a kill -9 lands here, after the write, before the commit


async def main() -> None:
    settings = get_settings()
    engine = make_engine(settings.database_url)
    worker = Worker(make_session_factory(engine), settings)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
    print(worker.worker_id, flush=True)
    try:
        await worker.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
