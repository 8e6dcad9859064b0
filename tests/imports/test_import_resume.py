"""A worker that dies mid-import: the chunk it was in rolls back, the import resumes there, nothing doubles."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import sys

import pytest
import sqlalchemy as sa

from kernel import imports, outbox
from kernel.audit import AuditEvent
from kernel.outbox import OutboxJob
from kernel.settings import get_settings
from market.assets.models import Asset
from tests.helpers import count
from tests.imports.helpers import ZH_HEADERS, good_row, to_csv


class Died(BaseException):
    """What a worker's death looks like to the code it was running: it never gets to commit."""


async def _upload(api, party, n_rows: int) -> str:
    rng = random.Random(11)
    data = to_csv(ZH_HEADERS, [good_row(i, rng) for i in range(1, n_rows + 1)])
    r = await api.client.post("/imports", files={"file": ("p.csv", data)}, data={"kind": "assets"},
                              headers=party.headers)
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def _assert_each_row_once(app, org_id: str, n_rows: int) -> None:
    assert await count(app, Asset, Asset.owner_org_id == org_id) == n_rows
    async with app.state.engine.connect() as conn:
        doubled = (await conn.execute(sa.select(AuditEvent.object_id).where(AuditEvent.action == "asset.registered")
                                      .group_by(AuditEvent.object_id).having(sa.func.count() > 1))).all()
    assert doubled == []


async def test_a_worker_dying_mid_chunk_resumes_from_the_last_committed_chunk(app, api, monkeypatch):
    monkeypatch.setattr(get_settings(), "import_chunk_rows", 50)
    monkeypatch.setattr(get_settings(), "outbox_lease_seconds", 0.3)
    uni = await api.org("university")
    import_id = await _upload(api, uni, 300)
    real = imports.importer_for("assets")
    entered: list[int] = []

    async def dies_in_the_fourth_chunk(session, actor, rows):
        result = await real.run_chunk(session, actor, rows)  # the rows are written, not committed
        entered.append(rows[0][0])
        if len(entered) == 4:
            raise Died
        return result

    imports.register(dataclasses.replace(real, run_chunk=dies_in_the_fourth_chunk))
    try:
        with pytest.raises(Died):
            await outbox.drain(app.state.session_factory)
        job = await api.client.get(f"/imports/{import_id}", headers=uni.headers)
        assert job.json()["processed_rows"] == 150 and job.json()["status"] == "running"
        assert await count(app, Asset, Asset.owner_org_id == uni.org_id) == 150  # the 4th chunk rolled back
        await asyncio.sleep(0.5)  # the dead worker's lease lapses; another takes the job over
        await outbox.drain(app.state.session_factory)
    finally:
        imports.register(real)
    job = (await api.client.get(f"/imports/{import_id}", headers=uni.headers)).json()
    assert (job["status"], job["processed_rows"], job["imported"], job["duplicates"]) == ("done", 300, 300, 0)
    assert entered.count(152) == 2  # the 4th chunk (rows 152–201) ran again; the first three did not
    assert entered.count(2) == 1
    await _assert_each_row_once(app, uni.org_id, 300)
    async with app.state.engine.connect() as conn:
        attempts = (await conn.execute(sa.select(OutboxJob.attempts).where(OutboxJob.kind == imports.RUN))).scalar()
    assert attempts == 2


@pytest.mark.postgres
async def test_kill_9_of_a_worker_process_mid_import(app, api):
    uni = await api.org("university")
    env = {**os.environ, "IPM_OUTBOX_LEASE_SECONDS": "2", "IPM_WORKER_POLL_SECONDS": "0.2",
           "IPM_OUTBOX_BACKOFF_SECONDS": "0", "IPM_IMPORT_CHUNK_ROWS": "40"}
    get_settings().import_chunk_rows = 40  # the job records its chunk size when it is created
    try:
        import_id = await _upload(api, uni, 400)
    finally:
        get_settings().import_chunk_rows = 500
    victim = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.imports.import_proc", env=env,
                                                  stdout=asyncio.subprocess.PIPE)
    survivor = None
    try:
        assert victim.stdout is not None
        await victim.stdout.readline()  # its worker id
        for _ in range(3):  # let it commit two chunks and enter a third
            line = (await asyncio.wait_for(victim.stdout.readline(), 120)).decode()
            assert line.startswith("chunk")
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        job = (await api.client.get(f"/imports/{import_id}", headers=uni.headers)).json()
        assert job["status"] == "running" and 0 < job["processed_rows"] < 400
        survivor = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.imports.import_proc",
                                                        env=env, stdout=asyncio.subprocess.DEVNULL)
        for _ in range(1200):
            job = (await api.client.get(f"/imports/{import_id}", headers=uni.headers)).json()
            if job["status"] == "done":
                break
            await asyncio.sleep(0.1)
        assert (job["status"], job["imported"], job["duplicates"], job["rejected"]) == ("done", 400, 0, 0)
        await _assert_each_row_once(app, uni.org_id, 400)
    finally:
        for p in (victim, survivor):
            if p is not None and p.returncode is None:
                p.send_signal(signal.SIGTERM)
                await p.wait()
