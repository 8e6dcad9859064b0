"""`python -m worker`: run one outbox worker against IPM_DATABASE_URL until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import signal

import api.registry  # noqa: F401 - every module that registers outbox handlers
from api.app import configure_logging
from kernel.db import make_engine, make_session_factory
from kernel.settings import get_settings
from worker.runner import Worker


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    worker = Worker(make_session_factory(engine), settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    print(f"worker {worker.worker_id} on {settings.database_url.split('@')[-1]}", flush=True)
    try:
        await worker.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
