"""A worker process for the kill -9 import test: ``python -m tests.imports.import_proc`` runs ``Worker`` with
the asset importer slowed down inside each chunk's transaction (after the rows are written, before the
commit), so a kill lands mid-chunk. It prints its worker id, then the number of each chunk it enters."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from typing import Any

import api.registry  # noqa: F401
from kernel import imports
from kernel.db import make_engine, make_session_factory
from kernel.settings import get_settings
from worker.runner import Worker

_real = imports.importer_for("assets")


async def _slow(session: Any, actor: Any, rows: Any) -> imports.ChunkResult:
    result = await _real.run_chunk(session, actor, rows)
    print(f"chunk {rows[0][0]}", flush=True)
    await asyncio.sleep(0.4)  # a kill -9 here loses this chunk's transaction, nothing else
    return result


imports.register(dataclasses.replace(_real, run_chunk=_slow))


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
