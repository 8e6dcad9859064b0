"""Four-eyes at the HTTP layer, once for every protected action.

A protected endpoint asks ``await gate.check(actor, "disbursement", amount=...)`` before it changes
anything. When the organisation's policy wants a second person, the gate stores the request as the maker
made it (method, path, query, body, Idempotency-Key, who) and raises ``ApprovalPending``; the route class
answers 202 ``{"approval_request": {...}}`` and commits (the maker's Idempotency-Key then replays that 202).

``POST /approval-requests/{id}/approve`` locks the request and ``replay``s it through the application
itself — same routing, validation, dependencies and service code — inside the approver's transaction,
with the maker as the actor and the maker's Idempotency-Key header. The decision is recorded before the
replay (a money action commits its first phase, and the decision with it, before the provider call), and
the gate lets a replay through, so the action runs exactly once, and its answer becomes the approval's
answer. If the action fails before committing anything, the approval fails with it and nothing changes
(the request stays pending until rejected or expired); if it failed after its first phase committed (a
declined payment), the request stays approved with that answer, as the action's own retry path expects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import Message

from accounts import approvals
from accounts.approvals import ApprovalRequest
from accounts.schemas import ApprovalPendingOut
from kernel.actor import Actor

REPLAY_SCOPE_KEY = "ipm.approval_replay"
APPROVAL_HEADER = "Approval-Request-Id"


@dataclass(frozen=True)
class Replay:
    """Put into the ASGI scope of a replayed request: the approver's session and the maker as actor."""

    session: AsyncSession
    maker: Actor
    approval_request_id: str


class ApprovalPending(Exception):
    """Not an error: the route class answers 202 with the stored request and commits."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("approval pending")
        self.body = body


def replay_of(request: Request) -> Replay | None:
    found = request.scope.get(REPLAY_SCOPE_KEY)
    return found if isinstance(found, Replay) else None


Amount = int | Callable[[], Awaitable[int]] | None


class Gate:
    def __init__(self, request: Request, session: AsyncSession) -> None:
        self.request = request
        self.session = session

    async def check(self, actor: Actor, action: str, *, amount: Amount = None, object_type: str | None = None,
                    object_id: str | None = None) -> None:
        """Return if ``action`` may run now; raise ``ApprovalPending`` after storing the request otherwise.

        ``amount`` may be a coroutine function, called only when the policy's decision depends on it."""
        if replay_of(self.request) is not None:
            return  # approved by a checker: run as the maker asked
        policy = await approvals.policy_of(self.session, actor.org_id)
        value = await amount() if callable(amount) and approvals.needs_amount(policy, action) else amount
        if not approvals.needs_approval(policy, action, value if isinstance(value, int) else None):
            return
        req = await approvals.open_request(
            self.session, actor, action=action, method=self.request.method, path=self.request.url.path,
            query=self.request.url.query, body=await self.request.body(),
            content_type=self.request.headers.get("content-type"),
            idempotency_key=self.request.headers.get("idempotency-key"),
            amount=value if isinstance(value, int) else None, object_type=object_type, object_id=object_id)
        raise ApprovalPending({"approval_request": jsonable_encoder(
            approvals.describe(req, await approvals.emails_of(self.session, [req])))})


async def _gate(request: Request) -> Gate:  # async: no thread-pool hop per request
    return Gate(request, request.state.session)


FourEyes = Annotated[Gate, Depends(_gate)]
# For a protected endpoint's ``responses=``, so the OpenAPI shows the 202.
PENDING_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {"model": ApprovalPendingOut, "description": "Held for a second person's approval (four-eyes)"}}


@dataclass
class Replayed:
    status_code: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    committed: bool = False  # whether the action committed a first phase (a money action, api/routing.py)

    @property
    def media_type(self) -> str:
        return dict(self.headers).get(b"content-type", b"application/json").decode()


async def replay(request: Request, session: AsyncSession, req: ApprovalRequest, maker: Actor) -> Replayed:
    """Run the stored request through the application inside ``session`` (the caller's transaction)."""
    outer = request.scope
    headers: list[tuple[bytes, bytes]] = [(b"host", dict(outer.get("headers") or []).get(b"host", b"local"))]
    body = req.body.encode()
    if req.content_type:
        headers.append((b"content-type", req.content_type.encode()))
    if req.idempotency_key:
        headers.append((b"idempotency-key", req.idempotency_key.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": outer.get("asgi", {"version": "3.0"}), "http_version": "1.1",
        "method": req.method, "scheme": outer.get("scheme", "http"), "server": outer.get("server"),
        "client": outer.get("client"), "root_path": outer.get("root_path", ""), "path": req.path,
        "raw_path": req.path.encode(), "query_string": req.query.encode(), "headers": headers,
        "state": dict(outer.get("state") or {}),
        REPLAY_SCOPE_KEY: Replay(session=session, maker=maker, approval_request_id=req.id),
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    out = Replayed(status_code=500, headers=[], body=b"")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            out.status_code = message["status"]
            out.headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    await request.app(scope, receive, send)
    out.committed = bool(scope["state"].get("phase_one_committed"))
    return out
