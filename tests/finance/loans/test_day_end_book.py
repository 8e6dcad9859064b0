"""The set-based day-end over a mixed book, loan by loan, against the rules applied one loan at a time
(``finance.loans.accrual``): penalty, instalment and loan status, days past due, classification, and the
audit records and events it writes — none for a loan or instalment that does not change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from accounts.models import Org
from finance import feed
from finance.loans import accrual, day_end
from finance.loans.models import Loan, LoanApplication, LoanClassification, LoanInstallment, LoanOffer
from kernel import event_log
from kernel.audit import AuditEvent
from kernel.db import table_of
from kernel.event_log import AUDIENCES, Event, jsonable
from kernel.outbox import OutboxJob
from kernel.webhooks import DELIVERIES, WebhookEndpoint, ordering_key
from tests.helpers import open_session

D = date(2026, 4, 2)  # the day closed
NEXT = D + timedelta(days=1)
UNPAID = 1_000_000  # principal + interest of each instalment

# name: (status, classification, floor, days past due, [(due_on, status, paid principal, fen-days)])
BOOK: dict[str, tuple[str, str, str | None, int, list[tuple[date, str, int, int]]]] = {
    "on_time": ("active", "normal", None, 0, [(D, "paid", 900_000, 0), (D + timedelta(30), "pending", 0, 0)]),
    "unpaid_today": ("active", "normal", None, 0, [(D, "pending", 0, 0), (D + timedelta(30), "pending", 0, 0)]),
    "partial_today": ("active", "normal", None, 0, [(D, "partial", 400_000, 0)]),
    "long_overdue": ("overdue", "substandard", None, 100, [(D - timedelta(99), "overdue", 0, UNPAID * 99),
                                                           (D, "pending", 0, 0)]),
    "still_overdue": ("overdue", "special_mention", None, 5, [(D - timedelta(5), "overdue", 0, UNPAID * 5)]),
    "crossing_90": ("overdue", "special_mention", None, 90, [(D - timedelta(90), "overdue", 0, UNPAID * 90)]),
    "cured": ("overdue", "special_mention", None, 5, [(D - timedelta(4), "paid", 900_000, UNPAID * 4)]),
    "floored_on_time": ("active", "substandard", "substandard", 0, [(D, "paid", 900_000, 0)]),
    "floored_unpaid": ("active", "normal", "doubtful", 0, [(D, "pending", 0, 0)]),
    "nothing_due": ("active", "normal", None, 0, [(D + timedelta(1), "pending", 0, 0)]),
    "defaulted": ("defaulted", "loss", None, 400, [(D - timedelta(399), "overdue", 0, UNPAID * 399)]),
}


async def _make_book(app: Any) -> None:
    async with open_session(app) as session:
        session.add(Org(id="org_book_sme", name="book sme", kind="sme", credit_code="BOOKSME00000000001"))
        session.add(Org(id="org_book_bank", name="book bank", kind="bank", credit_code="BOOKBANK0000000001"))
        await session.flush()
        for name, (status, classification, floor, dpd, rows) in BOOK.items():
            session.add(LoanApplication(id=f"lap_{name}", applicant_org_id="org_book_sme", amount=10_000_000,
                                        term_months=12, purpose="book", repayment_method="equal_installment",
                                        status="accepted", submitted_on=D - timedelta(500)))
            await session.flush()
            session.add(LoanOffer(id=f"lof_{name}", application_id=f"lap_{name}", bank_org_id="org_book_bank",
                                  amount=10_000_000, annual_rate_bps=435, term_months=12,
                                  repayment_method="equal_installment", expires_on=D - timedelta(490),
                                  status="accepted"))
            await session.flush()
            # As the bench's book: the next due date stays on today's until a repayment moves it on.
            unpaid_dues = [due for due, st, _, _ in rows if st != "paid"]
            # One loan has a guarantor, and its bank insures it too: each party sees its events once.
            extra = {"guarantor_org_id": "org_book_guarantor", "insurer_org_id": "org_book_bank"} \
                if name == "unpaid_today" else {}
            session.add(Loan(id=f"loan_{name}", application_id=f"lap_{name}", offer_id=f"lof_{name}", **extra,
                             borrower_org_id="org_book_sme", bank_org_id="org_book_bank", principal=10_000_000,
                             outstanding_principal=10_000_000, annual_rate_bps=435, penalty_markup_bps=5000,
                             term_months=12, repayment_method="equal_installment", status=status,
                             classification=classification, classification_floor=floor, days_past_due=dpd,
                             next_due_on=min(unpaid_dues, default=D), disbursed_on=D - timedelta(480)))
            await session.flush()
            for n, (due, st, paid_principal, fen_days) in enumerate(rows, 1):
                session.add(LoanInstallment(
                    id=f"lin_{name}_{n}", loan_id=f"loan_{name}", n=n, due_on=due, payment=UNPAID,
                    principal=900_000, interest=100_000, balance_after=0, paid_principal=paid_principal,
                    paid_interest=100_000 if st == "paid" else 0, overdue_fen_days=fen_days, status=st))
        await session.commit()


def _expected() -> tuple[dict[str, tuple[str, str, int]], dict[str, tuple[str, int]]]:
    """Each loan's (status, classification, days past due) and each instalment's (status, fen-days) after
    the day-end of D, one loan at a time."""
    loans, instalments = {}, {}
    for name, (status, classification, floor, dpd, rows) in BOOK.items():
        performing = status in ("active", "overdue")
        owing = []
        for n, (due, st, paid_principal, fen_days) in enumerate(rows, 1):
            unpaid = 0 if st == "paid" else UNPAID - paid_principal
            late = performing and due <= D and unpaid > 0
            instalments[f"lin_{name}_{n}"] = ("overdue" if late else st,
                                              accrual.accrue_penalty(fen_days, unpaid) if late else fen_days)
            owing.append(type("Due", (), {"due_on": due, "outstanding": unpaid}))
        if performing:
            dpd = accrual.days_past_due(owing, NEXT)
            classification = accrual.classify(dpd, floor).value
            status = "overdue" if dpd else "active"
        loans[f"loan_{name}"] = (status, classification, dpd)
    return loans, instalments


async def test_day_end_over_a_mixed_book_matches_the_rules_loan_by_loan(app):
    await _make_book(app)
    async with open_session(app) as session:
        before = {x.id: x.model_dump() for x in (await session.exec(select(Loan))).all()}
    async with open_session(app) as session:
        moved = await day_end.accrue_and_age(session, D)
        await session.commit()
    want_loans, want_instalments = _expected()
    async with open_session(app) as session:
        after = {x.id: x for x in (await session.exec(select(Loan))).all()}
        instalments = {x.id: (x.status, x.overdue_fen_days) for x in (await session.exec(select(LoanInstallment))).all()}
        audits = [(a.action, a.object_id, a.before, a.after) for a in
                  (await session.exec(select(AuditEvent).where(sa.column("object_type").in_(("loan", "loan_installment")))
                                             .order_by(sa.column("action"), sa.column("object_id")))).all()]
        events = {(e.type, e.object_id): e.data for e in (await session.exec(select(Event))).all()}
        history = {h.loan_id: (h.from_classification, h.to_classification, h.days_past_due, h.business_date)
                   for h in (await session.exec(select(LoanClassification))).all()}
    assert {k: (x.status, x.classification, x.days_past_due) for k, x in after.items()} == want_loans
    assert instalments == want_instalments

    changed = {k for k in after if (before[k]["status"], before[k]["classification"]) != want_loans[k][:2]}
    assert moved == len(changed) == 5
    class_moves = {k for k in after if before[k]["classification"] != want_loans[k][1]}
    status_moves = {k for k in after if before[k]["status"] != want_loans[k][0]}
    was = {f"lin_{name}_{n}": st for name, book in BOOK.items() for n, (_, st, _, _) in enumerate(book[4], 1)}
    late = [k for k, (st, _) in want_instalments.items() if st != was[k]]
    assert audits == sorted(
        [("loan.classification_changed", k, {"classification": before[k]["classification"]},
          {"classification": want_loans[k][1], "days_past_due": want_loans[k][2]}) for k in class_moves]
        + [("loan.cure" if before[k]["status"] == "overdue" else "loan.fall_overdue", k,
            {"status": before[k]["status"]}, {"status": want_loans[k][0]}) for k in status_moves]
        + [("loan_installment.fall_overdue", k, {"status": was[k]}, {"status": "overdue"}) for k in late])
    assert history == {k: (before[k]["classification"], want_loans[k][1], want_loans[k][2], NEXT)
                       for k in class_moves}
    # A loan the day-end does not move is not written: the same row, the same updated_at.
    for k in set(after) - status_moves:
        assert after[k].updated_at == before[k]["updated_at"]
    # Events: the loan as it is after the day-end; the classification event sees it before its status moves.
    assert {key for key in events} == ({("loan.classification_changed", k) for k in class_moves}
                                       | {("loan.overdue", k) for k in status_moves if want_loans[k][0] == "overdue"})
    for (kind, k), data in events.items():
        final = jsonable(after[k].model_dump())
        if kind == "loan.overdue":
            assert data == {"object": final, "previous_attributes": {"status": "active"}}
        else:
            assert data["object"] == {**final, "status": before[k]["status"],
                                      "updated_at": jsonable(before[k]["updated_at"])}
            assert data["previous_attributes"] == {"classification": before[k]["classification"]}


async def test_the_database_snapshots_a_loan_as_the_describer_does(app):
    """The day-end's events are built by the database: every kind of value as ``jsonable`` renders the
    describer's row (booleans, JSON lists, dates, NULLs, timestamps with and without a fraction)."""
    await _make_book(app)
    loans = table_of(Loan)
    async with open_session(app) as session:
        conn = await session.connection()
        await conn.execute(sa.update(loans).where(loans.c.id == "loan_on_time").values(
            requires_guarantee=True, asset_ids=["ast_1", "ast_2"], signed_on=D, lpr_bps=345,
            updated_at=datetime(2026, 4, 2, 10, 0, 0, tzinfo=UTC)))
        await conn.execute(sa.update(loans).where(loans.c.id == "loan_cured").values(
            updated_at=datetime(2026, 4, 2, 10, 0, 0, 120000, tzinfo=UTC)))
        described = await feed.describe_loans(session, [f"loan_{name}" for name in BOOK])
        got = dict((await conn.execute(sa.select(loans.c.id, event_log.row_json_sql(conn.dialect.name, loans)))).all())
    assert len(got) == len(BOOK)
    assert got == {k: jsonable(v.data) for k, v in described.items()}
    assert got["loan_on_time"]["updated_at"] == "2026-04-02T10:00:00+00:00"
    assert got["loan_cured"]["updated_at"] == "2026-04-02T10:00:00.120000+00:00"


async def test_day_end_events_reach_their_parties_and_webhooks_as_the_per_loan_path_sent_them(app):
    await _make_book(app)
    async with open_session(app) as session:
        session.add(WebhookEndpoint(id="whe_book_bank", org_id="org_book_bank", org_kind="bank",
                                    url="https://bank.example/hooks", event_types=["*"], secret="s"))
        await session.commit()
    async with open_session(app) as session:
        await day_end.accrue_and_age(session, D)
        await session.commit()
    async with open_session(app) as session:
        conn = await session.connection()
        events = (await conn.execute(sa.select(Event.id, Event.type, Event.object_id, Event.data)
                                     .order_by(Event.id))).all()
        audiences: dict[str, set[str]] = {}
        for event_id, audience in await conn.execute(sa.select(AUDIENCES.c.event_id, AUDIENCES.c.audience)):
            audiences.setdefault(event_id, set()).add(audience)
        deliveries = {d.event_id: d for d in await conn.execute(sa.select(DELIVERIES))}
        jobs = {j.payload["delivery_id"]: j for j in (await session.exec(select(OutboxJob))).all()}
        described = await feed.describe_loans(session, [e.object_id for e in events])
    assert len(events) == 8  # 5 classification moves, 3 falling overdue (the first test checks which)
    for e in events:
        # The parties, as the describer gives them: the guarantor too, the bank once.
        assert audiences[e.id] == {a for a in described[e.object_id].audience if a}
        if e.type == "loan.overdue":
            assert e.data["object"] == jsonable(described[e.object_id].data)
        delivery = deliveries[e.id]
        assert (delivery.endpoint_id, delivery.event_type, delivery.status) == ("whe_book_bank", e.type, "pending")
        assert jobs[delivery.id].ordering_key == ordering_key("whe_book_bank", "loan", e.object_id)
    assert audiences[next(e.id for e in events if e.object_id == "loan_unpaid_today")] == {
        "org_book_sme", "org_book_bank", "org_book_guarantor"}
    # A loan's classification event comes before its status event, in the feed and to the endpoint.
    for k in {e.object_id for e in events if e.type == "loan.overdue"}:
        first, then = [e for e in events if e.object_id == k]
        assert (first.type, then.type) == ("loan.classification_changed", "loan.overdue")
        assert jobs[deliveries[first.id].id].id < jobs[deliveries[then.id].id].id


async def test_a_day_that_moves_no_loan_still_ages_the_overdue_ones(app):
    await _make_book(app)
    async with open_session(app) as session:
        await day_end.accrue_and_age(session, D)
        # The one instalment due the next day is paid on time: that day no loan changes class or status.
        await (await session.connection()).execute(
            sa.update(LoanInstallment).where(sa.column("id") == "lin_nothing_due_1")
            .values(status="paid", paid_principal=900_000, paid_interest=100_000))
        await session.commit()
    async with open_session(app) as session:
        assert await day_end.accrue_and_age(session, NEXT) == 0
        await session.commit()
    async with open_session(app) as session:
        dpd = {x.id: x.days_past_due for x in (await session.exec(select(Loan))).all()}
    assert (dpd["loan_still_overdue"], dpd["loan_long_overdue"], dpd["loan_unpaid_today"]) == (7, 101, 2)


def test_a_row_snapshot_refuses_the_column_types_it_cannot_render_alike():
    # Floats and naive timestamps would read differently from the database and from jsonable: refused up front.
    table = sa.Table("snapshot_probe", sa.MetaData(), sa.Column("id", sa.String, primary_key=True),
                     sa.Column("weight", sa.Float))
    for dialect in ("postgresql", "sqlite"):
        with pytest.raises(TypeError, match="weight"):
            event_log.row_json_sql(dialect, table)
    assert event_log.row_json_sql("sqlite", sa.Table("plain", sa.MetaData(), sa.Column("id", sa.String))) is not None

