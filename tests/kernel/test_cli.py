"""The operator's CLI (typer): each command against the test database, non-zero exit on failure."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from ipm.cli import app as cli

runner = CliRunner()


@pytest.fixture
def invoke(app):
    """Run a command in a worker thread (it has its own event loop and engine, like a real invocation)."""

    async def call(*args: str):
        return await asyncio.to_thread(runner.invoke, cli, list(args))

    return call


async def test_help_lists_every_command(invoke):
    r = await invoke("--help")
    assert r.exit_code == 0
    for name in ("admin", "day-end", "ledger", "outbox", "payments", "report"):
        assert name in r.output


async def test_ledger_verify_and_report(invoke):
    r = await invoke("ledger", "verify")
    assert r.exit_code == 0 and '"balanced": true' in r.output
    r = await invoke("report", "trial-balance")
    assert r.exit_code == 0 and r.output.startswith("code,name,type")


async def test_failures_exit_non_zero(invoke):
    assert (await invoke("outbox", "retry", "424242")).exit_code == 1
    assert (await invoke("payments", "redrive", "pay_missing")).exit_code == 1
    assert (await invoke("day-end", "run", "--date", "yesterday")).exit_code == 2
    assert (await invoke("admin", "reset-password", "--password", "short")).exit_code == 2


async def test_admin_reset_password_and_outbox_list(api, client, invoke):
    r = await invoke("admin", "reset-password", "--password", "a-new-long-password")
    assert r.exit_code == 0, r.output
    from kernel.settings import get_settings

    login = await client.post("/auth/token", data={"username": get_settings().admin_email,
                                                   "password": "a-new-long-password"})
    assert login.status_code == 200
    r = await invoke("outbox", "list", "--status", "queued")
    assert r.exit_code == 0 and '"jobs": []' in r.output
    r = await invoke("day-end", "replay", "--date", "2026-03-01")
    assert r.exit_code == 0 and "re-ran for 2026-03-01" in r.output
