"""What an operator does without the API: ``python -m ipm …`` (typer). Every command exits non-zero on failure.

    python -m ipm admin ensure|reset-password       the platform admin (IPM_ADMIN_EMAIL / IPM_ADMIN_PASSWORD)
    python -m ipm day-end run|replay --date D       the day-end of a business date
    python -m ipm ledger verify                     seal, then prove the ledger (posted and pending); 1 if it does not hold
    python -m ipm outbox list|retry|run             outbox jobs: list stuck/dead ones, retry one, run due ones
    python -m ipm payments stuck|redrive            payments left processing; ask the provider again
    python -m ipm report trial-balance --out F.csv  export the trial balance (posted and pending)
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

import api.registry  # noqa: F401 - every table, day-end handler and outbox handler
from accounts.models import User
from accounts.passwords import hash_password
from accounts.service import ensure_platform_admin
from finance.ledger import service as ledger
from finance.payments import driver
from finance.payments.models import Payment
from kernel import day_end, outbox
from kernel.db import make_engine, make_session_factory
from kernel.settings import get_settings

app = typer.Typer(help="IP Pledge Market operator's CLI (settings from IPM_* like the server).",
                  no_args_is_help=True)
admin_app = typer.Typer(help="The platform admin.", no_args_is_help=True)
day_end_app = typer.Typer(help="Day-end runs.", no_args_is_help=True)
ledger_app = typer.Typer(help="The fund ledger.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outbox jobs (work after commit).", no_args_is_help=True)
payments_app = typer.Typer(help="Payments the provider has not settled.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
for sub, name in ((admin_app, "admin"), (day_end_app, "day-end"), (ledger_app, "ledger"),
                  (outbox_app, "outbox"), (payments_app, "payments"), (report_app, "report")):
    app.add_typer(sub, name=name)

T = TypeVar("T")
Factory = async_sessionmaker[AsyncSession]


def run(work: Callable[[Factory], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database; any error is printed and exits 1."""

    async def main() -> T:
        engine = make_engine(get_settings().database_url)
        try:
            return await work(make_session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except typer.Exit:
        raise
    except Exception as exc:
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


# --- admin ---------------------------------------------------------------------------------------------

@admin_app.command("ensure")
def admin_ensure() -> None:
    """Create the platform organisation and admin (IPM_ADMIN_EMAIL / IPM_ADMIN_PASSWORD) if absent."""

    async def work(f: Factory) -> str:
        async with f() as s:
            user = await ensure_platform_admin(s, get_settings())
            await s.commit()
            return user.email

    typer.echo(f"platform admin: {run(work)}")


@admin_app.command("reset-password")
def admin_reset(password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                                      help="the new password (12+ characters)")],
                email: Annotated[str | None, typer.Option(help="default IPM_ADMIN_EMAIL")] = None) -> None:
    """Set the platform admin's password."""
    if len(password) < 12:
        typer.echo("error: the password must have at least 12 characters", err=True)
        raise typer.Exit(2)
    address = (email or get_settings().admin_email).lower()

    async def work(f: Factory) -> None:
        async with f() as s:
            user = (await s.exec(select(User).where(User.email == address))).first()
            if user is None or user.role != "admin":
                raise LookupError(f"no platform admin {address}")
            user.password_hash = await hash_password(password)
            s.add(user)
            await s.commit()

    run(work)
    typer.echo(f"password of {address} reset")


# --- day-end -------------------------------------------------------------------------------------------

@day_end_app.command("run")
def day_end_run(on: Annotated[str, typer.Option("--date", help="business date, YYYY-MM-DD")]) -> None:
    """Run every day-end handler not yet run for the date (each once, also across processes)."""
    day = _day(on)
    typer.echo(f"{run(lambda f: day_end.run_day_end(f, day))} handler(s) ran for {day}")


@day_end_app.command("replay")
def day_end_replay(on: Annotated[str, typer.Option("--date", help="business date, YYYY-MM-DD")],
                   handler: Annotated[list[str] | None, typer.Option(help="only these handlers")] = None) -> None:
    """Forget that the date's handlers ran, then run them again (handlers are idempotent per date)."""
    day = _day(on)

    async def work(f: Factory) -> int:
        async with f() as s:
            stmt = delete(day_end.DayEndRun).where(col(day_end.DayEndRun.run_date) == day)
            if handler:
                stmt = stmt.where(col(day_end.DayEndRun.handler).in_(handler))
            await s.exec(stmt)
            await s.commit()
        return await day_end.run_day_end(f, day)

    typer.echo(f"{run(work)} handler(s) re-ran for {day}")


# --- ledger --------------------------------------------------------------------------------------------

@ledger_app.command("verify")
def ledger_verify() -> None:
    """Seal what is committed, then re-derive every balance (posted and pending) and the hash chain; exit 1
    if anything is off."""

    async def work(f: Factory) -> dict[str, Any]:
        async with f() as s:
            await ledger.seal(s)
            await s.commit()
        async with f() as s:
            return await ledger.verify(s)

    report = run(work)
    emit(report)
    if not (report["balanced"] and report["chain_intact"]):
        raise typer.Exit(1)


# --- outbox --------------------------------------------------------------------------------------------

@outbox_app.command("list")
def outbox_list(status: Annotated[str, typer.Option(help="queued, running, dead")] = "dead",
                limit: int = 50) -> None:
    """Jobs in a status (default: dead ones, which need an operator), oldest first; and the queue depth."""

    async def work(f: Factory) -> dict[str, Any]:
        async with f() as s:
            rows = (await s.execute(sa.select(outbox.jobs).where(outbox.jobs.c.status == status)
                                    .order_by(outbox.jobs.c.id).limit(limit))).mappings().all()
            d = await outbox.depth(s)
        return {"depth": d.by_status, "oldest_due_seconds": round(d.oldest_due_seconds, 1),
                "jobs": [{k: r[k] for k in ("id", "kind", "payload", "attempts", "max_attempts", "run_after",
                                            "ordering_key", "last_error")} for r in rows]}

    emit(run(work))


@outbox_app.command("retry")
def outbox_retry(job_id: int) -> None:
    """Queue a dead (or stuck) job again with a fresh set of attempts."""

    async def work(f: Factory) -> bool:
        async with f() as s:
            found = await outbox.retry(s, job_id)
            await s.commit()
            return found

    if not run(work):
        typer.echo(f"error: no unfinished job {job_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"job {job_id} queued")


@outbox_app.command("run")
def outbox_run(max_jobs: int = 1000) -> None:
    """Run due jobs in this process until none is left (when no worker is running)."""
    emit(run(lambda f: outbox.drain(f, max_jobs=max_jobs, worker_id="cli")))


# --- payments ------------------------------------------------------------------------------------------

@payments_app.command("stuck")
def payments_stuck(older_than: Annotated[float | None, typer.Option(help="seconds (default: "
                                                                     "IPM_PAYMENT_RECONCILE_AFTER_SECONDS)")] = None
                   ) -> None:
    """Payments left processing, or escrow releases and refunds never answered, longer than the age."""
    settings = get_settings()
    if older_than is not None:
        settings = settings.model_copy(update={"payment_reconcile_after_seconds": older_than})

    async def work(f: Factory) -> list[dict[str, Any]]:
        async with f() as s:
            return [{"id": p.id, "purpose": p.purpose, "method": p.method, "status": p.status,
                     "amount": p.amount, "object": f"{p.object_type}:{p.object_id}", "next": driver.next_op(p),
                     "updated_at": p.updated_at} for p in await driver.stuck(s, settings)]

    emit(run(work))


@payments_app.command("redrive")
def payments_redrive(payment_id: str) -> None:
    """Ask the provider again about one payment (same idempotency key), now, in this process."""

    async def work(f: Factory) -> str:
        async with f() as s:
            payment = await s.get(Payment, payment_id)
            if payment is None:
                raise LookupError(f"payment {payment_id} not found")
            if not await driver.redrive(s, payment, "cli" + str(int(asyncio.get_running_loop().time()))):
                return "a provider call for this payment is already queued or running"
            await s.commit()
            await outbox.run_now(f, outbox.take_now(s))
        async with f() as s:
            again = await s.get(Payment, payment_id)
            return f"payment {payment_id} is {again.status if again else '?'}"

    typer.echo(run(work))


# --- reports -------------------------------------------------------------------------------------------

@report_app.command("trial-balance")
def report_trial_balance(out: Annotated[str, typer.Option(help="CSV file, or - for stdout")] = "-",
                         as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: now)")] = None
                         ) -> None:
    """Every ledger account's posted and pending balance, as CSV."""
    day = _day(as_of) if as_of else None

    async def work(f: Factory) -> list[ledger.Balance]:
        async with f() as s:
            return await ledger.balances(s, day)

    rows = run(work)
    fields = ["code", "name", "type", "normal_side", "debits", "credits", "balance", "debits_pending",
              "credits_pending", "pending", "available"]
    handle = sys.stdout if out == "-" else open(out, "w", newline="", encoding="utf-8")
    try:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for b in rows:
            writer.writerow(b.as_dict())
    finally:
        if handle is not sys.stdout:
            handle.close()
    if out != "-":
        typer.echo(f"{len(rows)} accounts written to {out}", err=True)


