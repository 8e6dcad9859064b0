"""Four-eyes (maker-checker) approvals: an organisation's policy, and the requests waiting for a checker.

A protected action by one user is not run at once: the HTTP layer (``api/approvals.py``) stores the request
exactly as it was made (method, path, body, Idempotency-Key, the maker) as an ``ApprovalRequest``; another
user of the same organisation with the ``checker`` or ``org_admin`` role approves it, and only then it runs,
once, as the maker. Rejected and expired requests change nothing else. This module knows nothing of HTTP
beyond storing the request's text; it decides who may decide, and keeps the state and the audit trail.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org, User
from kernel import audit
from kernel.actor import CHECKER, ORG_ADMIN, SYSTEM, Actor
from kernel.clock import business_date
from kernel.day_end import day_end_handler
from kernel.db import TZDateTime, created_at_field, get_or_404, money_field, table_of, utcnow
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.event_log import Described, describer
from kernel.ids import new_id
from kernel.pagination import paginate
from kernel.workflow import Workflow

DEFAULT_EXPIRY_DAYS = 7
# Each protected action → (the policy key that switches it on, the organisation kinds it applies to).
# ``disbursement_over`` is an amount in fen (approval above it); the others are booleans.
PROTECTED_ACTIONS: dict[str, str] = {
    "disbursement": "disbursement_over",
    "compensation_approval": "compensation_approval",
    "recovery_distribution": "recovery_distribution",
    "ledger_entry": "ledger_entries",
    "ledger_reversal": "ledger_entries",
    "subsidy_approval": "subsidy_approval",
    "period_close": "period_close",
}
POLICY_KINDS: dict[str, tuple[str, ...]] = {
    "disbursement_over": ("bank",),
    "compensation_approval": ("fund", "bank"),  # a bank settles the claim of a loan without fund cover
    "recovery_distribution": ("fund",),
    "ledger_entries": ("fund",),
    "subsidy_approval": ("regulator",),
    "period_close": ("fund",),
}
APPROVERS = (CHECKER, ORG_ADMIN)


class ApprovalRequest(SQLModel, table=True):
    __tablename__ = "approval_requests"
    __table_args__ = (sa.Index("ix_approval_requests_org_status", "org_id", "status"),)
    id: str = Field(default_factory=lambda: new_id("apr"), primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", max_length=40)
    action: str = Field(max_length=40)
    status: str = Field(default="pending", max_length=10)
    # The request as the maker made it, replayed on approval.
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    query: str = Field(default="", max_length=2000)
    body: str = Field(default="", sa_type=sa.Text)
    content_type: str | None = Field(default=None, max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=255)
    requested_by: str = Field(foreign_key="users.id", max_length=40)
    amount: int | None = money_field(default=None)
    object_type: str | None = Field(default=None, max_length=40)
    object_id: str | None = Field(default=None, max_length=40)
    expires_on: date
    decided_by: str | None = Field(default=None, max_length=40)
    decided_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    reason: str | None = Field(default=None, max_length=500)
    # What the action answered when it ran (status code and JSON body).
    result_status: int | None = None
    result_body: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


APPROVAL = Workflow("approval_request", {
    ("pending", "approve"): "approved",
    ("pending", "reject"): "rejected",
    ("pending", "expire"): "expired",
}, initial="pending")
_table: sa.Table = table_of(ApprovalRequest)


# --- the policy --------------------------------------------------------------------------------------


def check_policy(org_kind: str, policy: dict[str, Any]) -> dict[str, Any]:
    """The policy as stored: only the keys that mean something for this kind of organisation."""
    for key, value in policy.items():
        if key == "expiry_days" or value in (None, False):
            continue
        kinds = POLICY_KINDS.get(key)
        if kinds is not None and org_kind not in kinds:
            raise ValidationFailed.at(["body", "approval_policy", key],
                                      f"{key} applies to {' and '.join(kinds)} organisations, not a {org_kind}")
    return {k: v for k, v in policy.items() if v not in (None, False)}


def needs_approval(policy: dict[str, Any], action: str, amount: int | None = None) -> bool:
    key = PROTECTED_ACTIONS[action]
    setting = policy.get(key)
    if key == "disbursement_over":
        return setting is not None and amount is not None and amount > int(setting)
    return bool(setting)


def needs_amount(policy: dict[str, Any], action: str) -> bool:
    """Whether the decision depends on the action's amount (so the caller must look it up)."""
    return PROTECTED_ACTIONS[action] == "disbursement_over" and policy.get("disbursement_over") is not None


async def policy_of(session: AsyncSession, org_id: str) -> dict[str, Any]:
    org = await session.get(Org, org_id)
    return dict(org.approval_policy or {}) if org is not None else {}


# --- requests ------------------------------------------------------------------------------------------


async def open_request(session: AsyncSession, actor: Actor, *, action: str, method: str, path: str, query: str,
                       body: bytes, content_type: str | None, idempotency_key: str | None,
                       amount: int | None = None, object_type: str | None = None,
                       object_id: str | None = None) -> ApprovalRequest:
    policy = await policy_of(session, actor.org_id)
    today = await business_date(session)
    req = ApprovalRequest(org_id=actor.org_id, action=action, method=method, path=path, query=query,
                          body=body.decode(), content_type=content_type, idempotency_key=idempotency_key,
                          requested_by=actor.user_id, amount=amount, object_type=object_type,
                          object_id=object_id,
                          expires_on=today + timedelta(days=int(policy.get("expiry_days") or DEFAULT_EXPIRY_DAYS)))
    APPROVAL.start(req)
    session.add(req)
    await session.flush()
    await audit.record(session, actor, "approval_request.created", "approval_request", req.id,
                       after={"action": action, "method": method, "path": path, "amount": amount,
                              "object_type": object_type, "object_id": object_id, "expires_on": req.expires_on})
    return req


def _visible(actor: Actor) -> Any:
    return col(ApprovalRequest.org_id) == actor.org_id


async def get_request(session: AsyncSession, actor: Actor, request_id: str) -> ApprovalRequest:
    return await get_or_404(session, ApprovalRequest, request_id, visible=_visible(actor),
                            label="approval request")


async def list_requests(session: AsyncSession, actor: Actor, limit: int, cursor: str | None, *,
                        status: str | None = None,
                        action: str | None = None) -> tuple[list[ApprovalRequest], bool, str | None]:
    stmt = select(ApprovalRequest).where(_visible(actor))
    if status:
        stmt = stmt.where(ApprovalRequest.status == status)
    if action:
        stmt = stmt.where(ApprovalRequest.action == action)
    return await paginate(session, stmt, ApprovalRequest.id, limit, cursor)


async def lock_for_decision(session: AsyncSession, actor: Actor, request_id: str, decision: str) -> ApprovalRequest:
    """The pending request, locked, once the caller is shown to be a checker of its organisation other than
    the maker. A second concurrent decision waits on the lock and then finds it decided (409)."""
    req = await get_or_404(session, ApprovalRequest, request_id, lock=True, visible=_visible(actor),
                           label="approval request")
    if actor.role not in APPROVERS:
        raise Forbidden(f"only a checker or an organisation admin may {decision} a request")
    if actor.user_id == req.requested_by:
        raise Forbidden(f"the maker of a request cannot {decision} it; another user must")
    APPROVAL.ensure(req, decision)
    if await business_date(session) > req.expires_on:
        raise InvalidState(f"approval request {req.id} expired on {req.expires_on}",
                           extra={"current_status": "expired"})
    return req


async def maker_of(session: AsyncSession, req: ApprovalRequest) -> Actor:
    """The maker as they are now: the action runs with their current rights in their organisation."""
    user = await session.get(User, req.requested_by)
    org = await session.get(Org, req.org_id)
    if user is None or org is None or user.org_id != org.id or getattr(user, "disabled", False):
        raise InvalidState("the maker of this request can no longer act for the organisation; reject it")
    return Actor(user_id=user.id, org_id=org.id, org_kind=org.kind, role=user.role)


async def approve(session: AsyncSession, checker: Actor, req: ApprovalRequest) -> None:
    """Record the decision before the action runs: a money action commits its first phase on the way, and the
    decision must commit with it, so an approval waiting on this request's lock then finds it decided."""
    req.decided_by, req.decided_at = checker.user_id, utcnow()
    await APPROVAL.apply(session, checker, req, "approve", protected_action=req.action, maker=req.requested_by,
                         checker=checker.user_id, object_type=req.object_type, object_id=req.object_id)
    await session.flush()


def record_result(session: AsyncSession, req: ApprovalRequest, result_status: int, result_body: str) -> None:
    req.result_status, req.result_body = result_status, result_body
    session.add(req)


async def reject(session: AsyncSession, checker: Actor, request_id: str, reason: str | None) -> ApprovalRequest:
    req = await lock_for_decision(session, checker, request_id, "reject")
    req.decided_by, req.decided_at, req.reason = checker.user_id, utcnow(), reason
    await APPROVAL.apply(session, checker, req, "reject", protected_action=req.action, maker=req.requested_by,
                         checker=checker.user_id, reason=reason)
    return req


@day_end_handler("accounts.approvals.expire", order=900)
async def expire_requests(session: AsyncSession, run_date: date) -> None:
    """A request not decided by the end of its ``expires_on`` day expires; nothing it asked for happens."""
    rows = (await session.exec(select(ApprovalRequest.id, ApprovalRequest.status).where(
        ApprovalRequest.status == "pending", col(ApprovalRequest.expires_on) <= run_date)
        .order_by(col(ApprovalRequest.id)))).all()
    await APPROVAL.apply_bulk(session, SYSTEM, [(r[0], r[1]) for r in rows], "expire", table=_table,
                              business_date=run_date)


def describe(req: ApprovalRequest, emails: dict[str, str] | None = None) -> dict[str, Any]:
    def parsed(text: str | None) -> Any:
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    return {"id": req.id, "org_id": req.org_id, "action": req.action, "status": req.status,
            "requested_by": req.requested_by, "requested_by_email": (emails or {}).get(req.requested_by),
            "request": {"method": req.method, "path": req.path + (f"?{req.query}" if req.query else ""),
                        "body": parsed(req.body), "idempotency_key": req.idempotency_key},
            "amount": req.amount, "object_type": req.object_type, "object_id": req.object_id,
            "expires_on": req.expires_on, "decided_by": req.decided_by, "decided_at": req.decided_at,
            "reason": req.reason, "result_status": req.result_status, "result": parsed(req.result_body),
            "created_at": req.created_at}


@describer("approval_request")
async def describe_for_feed(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    """``approval_request.created`` in the event feed: the request, for its own organisation only."""
    rows = list((await session.exec(select(ApprovalRequest).where(col(ApprovalRequest.id).in_(ids)))).all())
    emails = await emails_of(session, rows)
    return {r.id: Described(describe(r, emails), {r.org_id}) for r in rows}


async def emails_of(session: AsyncSession, reqs: list[ApprovalRequest]) -> dict[str, str]:
    ids = {r.requested_by for r in reqs}
    if not ids:
        return {}
    rows = (await session.exec(select(User.id, User.email).where(col(User.id).in_(ids)))).all()
    return {r[0]: r[1] for r in rows}


async def pending_for_inbox(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    """What the caller must decide now: pending requests of their organisation made by someone else, if the
    caller may decide them. Items have the inbox's shape (``GET /inbox``)."""
    if actor.role not in APPROVERS:
        return []
    stmt = (select(ApprovalRequest).where(_visible(actor), ApprovalRequest.status == "pending",
                                          ApprovalRequest.requested_by != actor.user_id,
                                          col(ApprovalRequest.expires_on) >= await business_date(session))
            .order_by(col(ApprovalRequest.expires_on), col(ApprovalRequest.id)))
    return [{"id": f"approval:{r.id}", "kind": "approval_request",
             "title": f"Approve {r.action.replace('_', ' ')}: {r.method} {r.path}"
                      + (f" ({r.amount} fen)" if r.amount is not None else ""),
             "object_type": "approval_request", "object_id": r.id, "due_on": r.expires_on,
             "action": {"method": "POST", "path": f"/api/v1/approval-requests/{r.id}/approve"}}
            for r in (await session.exec(stmt)).all()]
