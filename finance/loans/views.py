"""Read-only views of a loan: its figures today, schedule, alerts, classification history, recoveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import recovery as fund_recovery
from finance.loans import payoff, position
from finance.loans.access import installments, left
from finance.loans.models import Loan, LoanClassification, LoanCollateralAlert
from finance.loans.schemas import ClassificationOut, CollateralAlertOut, LoanOut, RecoveriesOut, ScheduleOut
from finance.loans.security import security_of
from finance.loans.states import PERFORMING
from finance.servicing import collateral, versions
from finance.servicing.models import LoanCharge, LoanCollateralValuation
from kernel import event_log
from kernel.clock import business_date
from kernel.db import table_of
from kernel.errors import NotFound
from market.assets.models import Asset


def _rows_json(dialect: str, pairs: dict[str, Any], where: Any, order_by: Sequence[Any]) -> Any:
    """The rows ``where`` picks, as a JSON array of objects of ``pairs``, ordered by ``order_by``, built by
    the database (NULL on PostgreSQL when there are none)."""
    obj = event_log.json_object_sql(dialect, pairs)
    if dialect == "postgresql":
        return sa.select(sa.func.json_agg(aggregate_order_by(obj, *order_by), type_=sa.JSON)).where(where)
    ordered = sa.select(obj.label("o")).where(where).order_by(*order_by).subquery()
    return sa.select(sa.func.json_group_array(sa.func.json(ordered.c.o), type_=sa.JSON))


@dataclass
class Extras:
    """What the answer about a loan shows besides its own row and schedule: its alerts, the valuations
    recorded after it was made and its assets' statuses (its collateral), its classification history."""

    alerts: list[dict[str, Any]]
    later: list[SimpleNamespace]
    statuses: dict[str, str]
    history: list[dict[str, Any]]


def extras_columns(dialect: str, loan_id: Any, asset_ids: Any) -> list[Any]:
    """The columns that read ``Extras`` of a loan (each list as JSON the database builds), for any
    statement; ``loan_id`` and ``asset_ids`` are values or bind parameters (``asset_ids`` expanding)."""
    A, C, V, S = (table_of(m).c for m in (LoanCollateralAlert, LoanClassification,
                                          LoanCollateralValuation, Asset))
    return [
        _rows_json(dialect, {k: A[k] for k in ALERT_FIELDS}, A.loan_id == loan_id, [A.id]).scalar_subquery(),
        _rows_json(dialect, {k: V[k] for k in ("valuation_id", "source", "margin_bps")}, V.loan_id == loan_id,
                   [V.seq]).scalar_subquery(),
        _rows_json(dialect, {"id": S.id, "status": S.status}, S.id.in_(asset_ids), [S.id]).scalar_subquery(),
        _rows_json(dialect, {k: C[k] for k in HISTORY_FIELDS}, C.loan_id == loan_id,
                   [C.business_date, C.created_at, C.id]).scalar_subquery()]


def extras_params(loan: Loan) -> dict[str, Any]:
    """The parameters of ``extras_columns`` built over ``bindparam("loan_id")`` and ``"asset_ids"``."""
    return {"loan_id": loan.id, "asset_ids": list(loan.asset_ids)}


def extras_of(values: Sequence[Any]) -> Extras:
    """``Extras`` from the values of ``extras_columns``."""
    alerts, later, assets, history = values
    return Extras(alerts or [], [SimpleNamespace(**v) for v in later or []],
                  {a["id"]: a["status"] for a in assets or []}, history or [])


_EXTRAS: dict[str, Any] = {}  # the statement per dialect, built once


async def extras(session: AsyncSession, loan: Loan) -> Extras:
    """``Extras`` in one statement."""
    dialect = session.get_bind().dialect.name
    stmt = _EXTRAS.get(dialect)
    if stmt is None:
        stmt = _EXTRAS[dialect] = sa.select(*extras_columns(dialect, sa.bindparam("loan_id", type_=sa.String),
                                                            sa.bindparam("asset_ids", expanding=True)))
    return extras_of((await session.execute(stmt, extras_params(loan))).one())


ALERT_FIELDS = tuple(CollateralAlertOut.model_fields)
HISTORY_FIELDS = tuple(ClassificationOut.model_fields)


async def open_alerts(session: AsyncSession, loan_id: str) -> list[LoanCollateralAlert]:
    stmt = select(LoanCollateralAlert).where(LoanCollateralAlert.loan_id == loan_id).order_by(
        LoanCollateralAlert.id)
    return list((await session.exec(stmt)).all())


async def pledged_assets(session: AsyncSession, loan: Loan) -> Sequence[Asset]:
    return list((await session.exec(select(Asset).where(col(Asset.id).in_(loan.asset_ids))
                                    .order_by(Asset.id))).all())


async def _charges(session: AsyncSession, loan_id: str) -> list[LoanCharge]:
    return list((await session.exec(select(LoanCharge).where(LoanCharge.loan_id == loan_id)
                                    .order_by(LoanCharge.id))).all())


async def describe_loan(session: AsyncSession, loan: Loan) -> LoanOut:
    today = await business_date(session)
    kept = left(session, loan.id)  # the rows a repayment of this request just settled
    rows = kept[0] if kept is not None else await installments(session, loan.id)
    pos = position.position(loan, rows, today)
    # A guarantee or an insurance is joined with its party on the loan (finance.loans.security).
    guarantee, insurance = (await security_of(session, loan.id) if loan.guarantor_org_id or loan.insurer_org_id
                            else (None, None))
    more = kept[2] if kept is not None and kept[2] is not None else await extras(session, loan)
    out = loan.model_dump()
    out.update(
        next_due=({"n": pos.next_due.n, "due_on": pos.next_due.due_on, "amount": pos.next_due_amount}
                  if pos.next_due and loan.status in PERFORMING else None),
        overdue_amount=pos.overdue_amount, penalty_outstanding=pos.penalty_outstanding,
        payoff_amount=(payoff.payoff(loan, rows, kept[1] if kept is not None else await _charges(session, loan.id),
                                     today, today).total
                       if loan.status in PERFORMING else 0),
        pledge=({"registration_no": loan.pledge_registration_no, "registered_on": loan.pledge_registered_on}
                if loan.pledge_registration_no else None),
        guarantee=guarantee.model_dump(exclude={"created_at"}) if guarantee else None,
        insurance=insurance.model_dump(exclude={"created_at"}) if insurance else None,
        fund_cover=({"program_id": loan.fund_program_id, "cover_id": loan.fund_cover_id}
                    if loan.fund_cover_id else None),
        collateral_alerts=more.alerts,
        collateral=await collateral.position(session, loan, later=more.later, statuses=more.statuses),
        classification_history=more.history,
    )
    return LoanOut.model_validate(out)


async def classification_history(session: AsyncSession, loan_id: str) -> list[LoanClassification]:
    stmt = select(LoanClassification).where(LoanClassification.loan_id == loan_id).order_by(
        col(LoanClassification.business_date), col(LoanClassification.created_at), col(LoanClassification.id))
    return list((await session.exec(stmt)).all())


async def describe_schedule(session: AsyncSession, loan: Loan, version: int | None = None) -> ScheduleOut:
    """The current schedule, or an earlier version (``finance.servicing.versions``)."""
    current = await versions.stored_count(session, loan.id) + 1
    if version is not None and version < current:
        old = await versions.version(session, loan.id, version)
        return ScheduleOut.model_validate({"loan_id": loan.id, "version": version, "current_version": current,
                                           "superseded_by": old.superseded_by, "installments": [
            {**r, "penalty_accrued": r["paid_penalty"]} for r in old.installments]})
    if version is not None and version > current:
        raise NotFound(f"the loan has no schedule version {version}")
    rows = await installments(session, loan.id)
    return ScheduleOut.model_validate({"loan_id": loan.id, "version": current, "current_version": current,
                                       "installments": [
        {**r.model_dump(), "penalty_accrued": position.penalty_accrued(loan, r)} for r in rows]})


async def describe_recoveries(session: AsyncSession, loan: Loan) -> RecoveriesOut:
    rows = [fund_recovery.describe_recovery(r) for r in await fund_recovery.recoveries_for_loan(session, loan.id)]
    return RecoveriesOut(loan_id=loan.id, proceeds=sum(r.amount for r in rows), data=rows)
