"""A worker process for ``bench.outbox_throughput``: ``Worker`` plus the ``bench.noop`` handler."""

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


@outbox.handler("bench.noop")
async def noop(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    await audit.record(ctx.session, SYSTEM, "bench.noop", "job", str(payload["n"]))


async def main() -> None:
    settings = get_settings()
    engine = make_engine(settings.database_url)
    worker = Worker(make_session_factory(engine), settings)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
    try:
        await worker.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
