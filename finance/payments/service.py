# Over 400 lines on purpose: charge, payout, escrow, refund and provider events all drive one lifecycle through the private record-once and advance helpers; splitting would export them.
"""The payment service: the only way domain packages move money. See the package docstring for the API."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.payments import gateway as gw
from finance.payments import providers
from finance.payments.models import ACTION_TO, ESCROW, PAYMENT, PURPOSES, Payment, PaymentEvent
from kernel import audit, outbox
from kernel.actor import SYSTEM, Actor
from kernel.db import get_or_404, insert_if_absent, insert_unique, table_of, utcnow
from kernel.errors import DomainError, IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from kernel.pagination import paginate

Callback = Callable[[AsyncSession, Payment], Awaitable[None]]
CALL = "payments.call"  # the outbox job that asks the provider (finance.payments.driver)
MAX_AMOUNT = 10**13  # fen: ¥100bn, far above any deal or loan here; guards against unit mistakes


class PaymentFailed(DomainError):
    """The provider declined the payment (card-style decline, insufficient funds)."""

    status, code, title = 402, "payment_failed", "The payment was declined"


class _Duplicate(Exception):
    """A row with the same unique key already exists (an earlier or concurrent request made it)."""


class InvalidPayload(DomainError):
    status, code, title = 400, "invalid_payload", "The event is not a valid provider event"


# --- what happens when a payment of an object type settles, fails or is refunded -------------------------

_callbacks: dict[str, dict[str, list[Callback]]] = {"succeeded": defaultdict(list), "failed": defaultdict(list),
                                                    "refunded": defaultdict(list), "released": defaultdict(list)}


def _register(outcome: str, object_type: str) -> Callable[[Callback], Callback]:
    def register(fn: Callback) -> Callback:
        if fn not in _callbacks[outcome][object_type]:
            _callbacks[outcome][object_type].append(fn)
        return fn

    return register


# Object types whose settled callbacks write the payment's move with their own rows (one flush).
_flushes_on_settled: set[str] = set()


def on_settled(object_type: str, *, flushes: bool = False) -> Callable[[Callback], Callback]:
    """``@on_settled("deal")``: ``fn(session, payment)`` runs when a payment for a deal reaches succeeded.
    ``flushes``: the callback flushes the session before it returns and reads nothing that needs the
    payment's move flushed first, so the move (and its audit row) is written with the callback's rows."""
    if flushes:
        _flushes_on_settled.add(object_type)
    return _register("succeeded", object_type)


def on_failed(object_type: str) -> Callable[[Callback], Callback]:
    """Runs when a payment for ``object_type`` is declined, fails or is canceled."""
    return _register("failed", object_type)


def on_released(object_type: str) -> Callable[[Callback], Callback]:
    """Runs when the provider has released a payment's escrow to the payee (after ``release_escrow``)."""
    return _register("released", object_type)


def on_refunded(object_type: str) -> Callable[[Callback], Callback]:
    """Runs when a payment for ``object_type`` is refunded (by us, or reported by the provider)."""
    return _register("refunded", object_type)


def drives_a_workflow(object_type: str) -> bool:
    """Whether payments of ``object_type`` move a domain object on (a callback is registered for it)."""
    return any(fns.get(object_type) for fns in _callbacks.values())


async def _notify(session: AsyncSession, payment: Payment) -> None:
    outcome = "failed" if payment.status in ("failed", "canceled") else payment.status
    for fn in list(_callbacks.get(outcome, {}).get(payment.object_type, ())):
        await fn(session, payment)


# --- state machine -------------------------------------------------------------------------------------


def snapshot(payment: Payment) -> dict[str, Any]:
    return payment.model_dump(exclude={"created_at", "updated_at"})


async def _transition(session: AsyncSession, payment: Payment, target: str, actor: Actor, *,
                      failure: tuple[str | None, str | None] = (None, None)) -> None:
    """Apply one allowed status change, with its escrow consequence, audit and the domain callbacks."""
    action = ACTION_TO[target]
    PAYMENT.ensure(payment, action)
    details: dict[str, Any] = {}
    if target == "succeeded":
        payment.settled_at = details["settled_at"] = utcnow()
    elif target in ("failed", "canceled"):
        payment.failure_code, payment.failure_message = failure[0], failure[1][:300] if failure[1] else failure[1]
        details.update(failure_code=payment.failure_code, failure_message=payment.failure_message)
    elif target == "refunded":
        payment.refunded_at = details["refunded_at"] = utcnow()
    await PAYMENT.apply(session, actor, payment, action, **details)
    await _moved(session, payment, target, actor)


async def _moved(session: AsyncSession, payment: Payment, target: str, actor: Actor) -> None:
    """What follows a status change: its escrow consequence, the flush and the domain callbacks."""
    if target == "succeeded" and payment.escrow:
        ESCROW.start(payment)
    elif target == "refunded" and payment.escrow_state == "held":
        await ESCROW.apply(session, actor, payment, "refund")
    if target != "succeeded" or payment.object_type not in _flushes_on_settled:
        await session.flush()
    await _notify(session, payment)


async def _advance(session: AsyncSession, payment: Payment, target: str, actor: Actor, *,
                   failure: tuple[str | None, str | None] = (None, None)) -> str:
    """Move towards ``target`` as far as the lifecycle allows; never backwards.

    A refund reported before the success it implies (events out of order) applies the success first.
    Returns the event outcome: applied, stale (already there or beyond) or conflict (contradiction).
    """
    if target == payment.status:
        return "stale"
    if target == "refunded" and payment.status == "processing":
        await _transition(session, payment, "succeeded", actor)
    if target in ACTION_TO and PAYMENT.can(payment.status, ACTION_TO[target]):
        await _transition(session, payment, target, actor, failure=failure)
        return "applied"
    if target == "succeeded" and payment.status in ("failed", "canceled"):
        # The provider says money moved on a payment we had closed as failed: keep ours, flag it for people.
        await audit.record(session, actor, "payment.conflicting_event", "payment", payment.id,
                           before=snapshot(payment), after={"reported_status": target})
        return "conflict"
    return "stale"


# --- finding payments ---------------------------------------------------------------------------------


async def _by_key(session: AsyncSession, purpose: str, object_type: str, object_id: str,
                  idempotency_key: str) -> Payment | None:
    stmt = select(Payment).where(Payment.purpose == purpose, Payment.object_type == object_type,
                                 Payment.object_id == object_id, Payment.idempotency_key == idempotency_key)
    return (await session.exec(stmt)).first()


async def find(session: AsyncSession, *, purpose: str, object_type: str, object_id: str,
               idempotency_key: str = "default") -> Payment | None:
    """The payment of one domain action, if it was made."""
    return await _by_key(session, purpose, object_type, object_id, idempotency_key)


async def payments_for(session: AsyncSession, object_type: str, object_id: str) -> list[Payment]:
    stmt = select(Payment).where(Payment.object_type == object_type, Payment.object_id == object_id)
    return list((await session.exec(stmt.order_by(Payment.id))).all())


async def lock(session: AsyncSession, payment_id: str) -> Payment:
    """Load a payment row locked for update, with fresh values."""
    return await get_or_404(session, Payment, payment_id, lock=True)


async def get_for_party(session: AsyncSession, actor: Actor, payment_id: str) -> Payment:
    return await get_or_404(session, Payment, payment_id,
                            visible=lambda p: actor.org_id in (p.payer_org_id, p.payee_org_id))


@dataclass
class PaymentFilters:
    object_id: str | None = None
    object_type: str | None = None
    purpose: str | None = None
    status: str | None = None


async def list_for_party(session: AsyncSession, actor: Actor, filters: PaymentFilters, limit: int,
                         cursor: str | None) -> tuple[list[Payment], bool, str | None]:
    stmt = select(Payment).where(or_(Payment.payer_org_id == actor.org_id, Payment.payee_org_id == actor.org_id))
    for name in ("object_id", "object_type", "purpose", "status"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(Payment, name) == value)
    return await paginate(session, stmt, col(Payment.id), limit, cursor)


# --- moving money ---------------------------------------------------------------------------------------


def _check_request(purpose: str, amount: int, payer_org_id: str, payee_org_id: str, object_type: str,
                   object_id: str, idempotency_key: str) -> None:
    if purpose not in PURPOSES:
        raise ValidationFailed.at(["purpose"], f"purpose must be one of {', '.join(PURPOSES)}")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise ValidationFailed.at(["amount"], f"amount must be whole fen between 1 and {MAX_AMOUNT}")
    if payer_org_id == payee_org_id:
        raise ValidationFailed.at(["payee_org_id"], "payer and payee must be different organisations")
    for name, value, size in (("object_type", object_type, 40), ("object_id", object_id, 40),
                              ("idempotency_key", idempotency_key, 100)):
        if not value or len(value) > size:
            raise ValidationFailed.at([name], f"{name} must be 1 to {size} characters")


async def _ensure_orgs(session: AsyncSession, *org_ids: str) -> None:
    orgs = table_of(Org)
    found = set((await session.exec(sa.select(orgs.c.id).where(orgs.c.id.in_(set(org_ids))))).scalars())  # type: ignore[call-overload]  # exec() is typed for select() of models
    for org_id in org_ids:
        if org_id not in found:
            raise NotFound(f"organisation {org_id} not found")


def _same_request(existing: Payment, wanted: Payment) -> Payment:
    fields = ("method", "amount", "payer_org_id", "payee_org_id", "escrow")
    if any(getattr(existing, f) != getattr(wanted, f) for f in fields):
        raise IdempotencyConflict("this payment was already made with different terms")
    return existing


async def _insert_once(session: AsyncSession, payment: Payment) -> tuple[Payment, bool]:
    """Insert, or return the row a concurrent or earlier request made for the same domain action."""
    key = (payment.purpose, payment.object_type, payment.object_id, payment.idempotency_key)
    existing = await _by_key(session, *key)
    if existing is not None:
        return _same_request(existing, payment), False
    try:
        await insert_unique(session, payment, _Duplicate())
    except _Duplicate as exc:
        # PostgreSQL made us wait on the unique index until the other request committed; its row is visible.
        existing = await _by_key(session, *key)
        if existing is None:
            raise InvalidState("a payment for this object is being made by another request") from exc
        return _same_request(existing, payment), False
    return payment, True


async def _open(session: AsyncSession, actor: Actor, *, method: str, purpose: str, payer_org_id: str,
                payee_org_id: str, amount: int, object_type: str, object_id: str, escrow: bool,
                idempotency_key: str, description: str | None, platform_fee: int = 0,
                fresh_key: bool = False) -> tuple[Payment, bool, gw.PaymentGateway]:
    """Validate and record a payment once per domain action: (payment, newly created?, the gateway).
    ``fresh_key``: the caller made the key for this call (a row id it is inserting) from a row that names
    both parties, so no payment can hold the key yet and both organisations exist: no reads first."""
    _check_request(purpose, amount, payer_org_id, payee_org_id, object_type, object_id, idempotency_key)
    if not fresh_key:
        await _ensure_orgs(session, payer_org_id, payee_org_id)
    gateway = providers.get_gateway()
    wanted = Payment(method=method, purpose=purpose, payer_org_id=payer_org_id, payee_org_id=payee_org_id,
                     object_type=object_type, object_id=object_id, idempotency_key=idempotency_key,
                     amount=amount, escrow=escrow, provider=gateway.name, description=description,
                     platform_fee=platform_fee,
                     provider_key=gw.provider_key(purpose, object_type, object_id, idempotency_key),
                     created_by=actor.user_id)
    PAYMENT.start(wanted)
    if fresh_key:
        session.add(wanted)  # inserted with the caller's next flush; the unique index still guards the key
        payment, created = wanted, True
    else:
        payment, created = await _insert_once(session, wanted)
    if created:
        await audit.record(session, actor, "payment.created", "payment", payment.id, after=snapshot(payment))
    return payment, created, gateway


async def charge(session: AsyncSession, actor: Actor, *, purpose: str, payer_org_id: str, payee_org_id: str,
                 amount: int, object_type: str, object_id: str, escrow: bool = False,
                 idempotency_key: str = "default", description: str | None = None,
                 platform_fee: int = 0, fresh_key: bool = False) -> Payment:
    """Take ``amount`` fen from the payer for the payee (or into escrow), once per domain action.

    Records the payment ``processing`` with an outbox job that asks the provider after commit (never
    inside this transaction); the outcome arrives through the callbacks. The same (purpose, object_type, object_id, idempotency_key) returns the payment already made, or 409
    ``idempotency_conflict`` if its amount or parties differ. A decline returns a ``failed`` payment (and
    runs the ``on_failed`` callbacks); use ``require_success`` to answer 402 instead. ``platform_fee`` (of an
    escrowed charge) stays with the platform when the escrow is paid on: the payee receives the rest.
    """
    payment, created, _ = await _open(
        session, actor, method="charge", purpose=purpose, payer_org_id=payer_org_id, payee_org_id=payee_org_id,
        amount=amount, object_type=object_type, object_id=object_id, escrow=escrow,
        idempotency_key=idempotency_key, description=description, platform_fee=platform_fee,
        fresh_key=fresh_key)
    if created:
        await ask_provider(session, payment, "charge", first=True)
    return payment


async def payout(session: AsyncSession, actor: Actor, *, payee_org_id: str, amount: int, object_type: str,
                 object_id: str, purpose: str = "payout", payer_org_id: str | None = None,
                 idempotency_key: str = "default", description: str | None = None) -> Payment:
    """Pay ``amount`` fen from the platform's balance to an organisation's account (compensation,
    subsidies, recoveries). The payer defaults to the acting organisation. Once per domain action."""
    payer_org_id = payer_org_id or actor.org_id
    payment, created, _ = await _open(
        session, actor, method="payout", purpose=purpose, payer_org_id=payer_org_id, payee_org_id=payee_org_id,
        amount=amount, object_type=object_type, object_id=object_id, escrow=False,
        idempotency_key=idempotency_key, description=description)
    if created:
        await ask_provider(session, payment, "payout", first=True)
    return payment


async def manual_payout(session: AsyncSession, actor: Actor, *, object_type: str, **kw: Any) -> Payment:
    """A payout the platform admin makes by hand. It may not name an object whose payments drive a
    workflow (a deal, a loan, a subsidy claim): those are paid only by their own step, or a hand-made
    payout could mark them paid, or pay them twice, outside their rules and ledger."""
    if drives_a_workflow(object_type):
        raise ValidationFailed.at(["body", "object_type"], f"payments of a {object_type} are made only by its "
                                  "own workflow")
    return await payout(session, actor, object_type=object_type, **kw)


async def release_escrow(session: AsyncSession, payment: Payment, actor: Actor = SYSTEM) -> Payment:
    """Pay the held money on to the payee (a deal was recorded): asked of the provider after commit,
    ``released`` when it answers. Repeating it changes nothing."""
    payment = await lock(session, payment.id)
    if payment.escrow_state == "released" or payment.release_requested_at is not None:
        return payment
    if payment.escrow_state != "held" or payment.status != "succeeded":
        raise InvalidState(f"nothing is held in escrow for this payment (status {payment.status})")
    if payment.refund_reference or payment.refund_requested_at:
        raise InvalidState("a refund of this payment is in progress")
    await _request(session, actor, payment, "release", "release_requested_at", "payment.escrow_release_requested")
    return payment


async def refund(session: AsyncSession, payment: Payment, actor: Actor = SYSTEM) -> Payment:
    """Give a charge back to the payer in full (a cancelled deal). Escrow still held is refunded; money
    already released to the payee is not. Asked of the provider after commit; ``refunded`` when it lands
    (a refusal is audited and the payment may be refunded again). Repeating it changes nothing."""
    payment = await lock(session, payment.id)
    if payment.status == "refunded" or payment.refund_reference or payment.refund_requested_at:
        return payment
    if payment.method != "charge" or payment.status != "succeeded":
        raise InvalidState(f"a {payment.status} {payment.method} cannot be refunded")
    if payment.escrow_state == "released" or payment.release_requested_at is not None:
        raise InvalidState("the escrow was already released to the payee")
    payment.refund_attempts += 1
    await _request(session, actor, payment, "refund", "refund_requested_at", "payment.refund_requested")
    return payment


async def _request(session: AsyncSession, actor: Actor, payment: Payment, op: str, stamp: str,
                   action: str) -> None:
    before = snapshot(payment)
    setattr(payment, stamp, utcnow())
    payment.updated_at = utcnow()
    session.add(payment)
    await audit.record(session, actor, action, "payment", payment.id, before=before, after=snapshot(payment))
    await session.flush()
    await ask_provider(session, payment, op)


_HELD = "payments.held"


def hold(session: AsyncSession, payment: Payment) -> None:
    """Keep ``payment`` with ``session`` (the session's identity map holds its objects only weakly): the
    request that recorded it calls the provider with it, and the one that settled it answers with it."""
    session.sync_session.info.setdefault(_HELD, {})[payment.id] = payment


def held(session: AsyncSession, payment_id: str) -> Payment | None:
    """The payment ``hold`` kept with ``session`` (and forgets it), if its loaded state is whole."""
    payment = session.sync_session.info.get(_HELD, {}).pop(payment_id, None)
    if payment is None or not sa.inspect(payment).persistent or sa.inspect(payment).expired_attributes:
        return None
    return payment


async def ask_provider(session: AsyncSession, payment: Payment, op: str, *, attempt: str = "",
                       first: bool = False) -> None:
    """Queue the provider call ``op`` for after commit, in order per payment (charge before release).
    ``first``: the payment is being created, so no call of it can be queued yet."""
    hold(session, payment)
    await outbox.enqueue(session, CALL, {"payment_id": payment.id, "op": op},
                         key=f"payment:{payment.id}:{_op_key(payment, op)}{attempt}",
                         ordering_key=_calls_of(payment.id), now=True, first_of_its_order=first)


def _op_key(payment: Payment, op: str) -> str:
    """``op`` as named in its keys: a refund asked again after a refusal is a new call, not a repeat."""
    return f"{op}{payment.refund_attempts}" if op == "refund" and payment.refund_attempts > 1 else op


def _calls_of(payment_id: str) -> str:
    return f"payment:{payment_id}"


async def provider_call_in_flight(session: AsyncSession, payment_id: str) -> bool:
    """Whether a call to the provider for this payment is queued or running (in any process)."""
    return await outbox.in_flight(session, _calls_of(payment_id))


# --- the provider call (no transaction open) and its settlement (a new one) --------------------------------


def needs_call(payment: Payment, op: str) -> bool:
    """Whether ``op`` still has anything to ask (a webhook or an earlier attempt may have settled it)."""
    if op in ("charge", "payout"):
        return payment.status == "processing" and payment.provider_reference is None
    if op == "sync":
        return payment.status == "processing" and payment.provider_reference is not None
    if op == "release":
        return payment.escrow_state == "held" and payment.release_requested_at is not None
    return payment.refund_requested_at is not None and payment.refund_reference is None and \
        payment.status == "succeeded"


async def call_gateway(payment: Payment, op: str) -> gw.GatewayResult:
    """Ask the provider; the key derives from the payment, so a repeat reaches the provider's first answer."""
    gateway, meta, key = providers.get_gateway(), _metadata(payment), payment.provider_key
    if op == "charge":
        return await gateway.create_intent(gw.IntentRequest(
            key=f"{key}_charge", amount=payment.amount, payer_org_id=payment.payer_org_id,
            payee_org_id=payment.payee_org_id, escrow=payment.escrow, description=payment.description,
            metadata=meta))
    if op == "payout":
        return await gateway.create_payout(gw.PayoutRequest(
            key=f"{key}_payout", amount=payment.amount, destination_org_id=payment.payee_org_id, metadata=meta))
    assert payment.provider_reference is not None
    if op == "release":
        return await gateway.transfer(gw.TransferRequest(
            key=f"{key}_release", amount=payment.amount - payment.platform_fee,
            destination_org_id=payment.payee_org_id,
            source_payment_intent=payment.provider_reference, metadata=meta))
    if op == "refund":
        return await gateway.refund(gw.RefundRequest(
            key=f"{key}_{_op_key(payment, op)}", payment_intent=payment.provider_reference, amount=payment.amount, metadata=meta))
    if payment.method == "payout":
        return gw.GatewayResult(await gateway.retrieve_payout(payment.provider_reference))
    return gw.GatewayResult(await gateway.retrieve_intent(payment.provider_reference))


async def settle_call(session: AsyncSession, payment_id: str, op: str, result: gw.GatewayResult) -> Payment:
    """Apply the provider's answer to ``op`` under the payment's lock (callbacks run here)."""
    moved = await _succeeded_at_once(session, payment_id, op, result) if op in ("charge", "payout") else None
    if moved is not None:
        return moved
    payment = await lock(session, payment_id)
    was = payment.status
    obj = result.object
    if op in ("charge", "payout", "sync"):
        status = gw.payout_status(obj) if payment.method == "payout" else gw.intent_status(obj)
        if payment.provider_reference is None and obj.get("id"):
            payment.provider_reference = obj.get("id")  # written with the status change that follows
            session.add(payment)
        await _advance(session, payment, status, SYSTEM, failure=gw.failure_of(obj))
    elif op == "release" and payment.escrow_state == "held":
        payment.transfer_reference = obj.get("id")
        payment.released_at = utcnow()
        await ESCROW.apply(session, SYSTEM, payment, "release", transfer_reference=payment.transfer_reference,
                           released_at=payment.released_at)
        await session.flush()
        for fn in list(_callbacks["released"].get(payment.object_type, ())):
            await fn(session, payment)
    elif op == "refund" and payment.refund_reference is None and payment.status == "succeeded":
        await _refund_answered(session, payment, obj)
    await _handle_local_events(session, result, payment)
    if payment.status != was:  # moved here, its callbacks ran here: what they loaded is current
        hold(session, payment)
    return payment


def _moves_to_success(event: Any, reference: str | None) -> bool:
    """Whether a provider event reports the success of the object ``reference``."""
    try:
        _, kind, obj = _parse_event(event)
    except InvalidPayload:
        return False
    return bool(reference) and kind != "refund.updated" and EVENT_TARGETS.get(kind) == "succeeded" and \
        _event_reference(obj) == reference


@functools.cache
def _succeed_shape(payout: bool, referenced: bool, moving: bool) -> tuple[Any, dict[str, Any]]:
    """``_succeeded_at_once``'s guard and written expressions, the provider's reference bound as
    ``reference``: a payout or a charge; the reference kept when the payment has one already, and when an
    event moves it, the payment must have none or that one."""
    table = table_of(Payment)
    where = table.c.method == "payout" if payout else table.c.method != "payout"
    if not referenced:
        return where, {}
    reference = sa.bindparam("reference", type_=table.c.provider_reference.type)
    if moving:
        where = sa.and_(where, sa.or_(table.c.provider_reference.is_(None),
                                      table.c.provider_reference == reference))
    return where, {"provider_reference": sa.func.coalesce(table.c.provider_reference, reference)}


async def _succeeded_at_once(session: AsyncSession, payment_id: str, op: str,
                             result: gw.GatewayResult) -> Payment | None:
    """A charge or payout the provider says succeeded (in its answer, or in the first event it hands back,
    as the local provider does), moved on from processing by one UPDATE … RETURNING (its lock and its
    write), audited and followed as ``_transition`` does, its events recorded as ``handle_event`` would;
    None when it is no such answer or the payment is not processing under that reference (nothing
    written: the caller locks and judges it)."""
    obj, events = result.object, list(result.events)
    reference = obj.get("id")
    status = gw.payout_status(obj) if op == "payout" else gw.intent_status(obj)
    moving = None
    if status == "processing" and events and _moves_to_success(events[0], reference):
        moving = events.pop(0)
    elif status != "succeeded":
        return None
    settled_at = utcnow()
    shape = (op == "payout", bool(reference), moving is not None)
    where, exprs = _succeed_shape(*shape)
    payment: Payment | None = await PAYMENT.apply_returning(
        session, SYSTEM, Payment, payment_id, "succeed", where=where, values={"settled_at": settled_at, **exprs},
        params={"reference": reference} if reference else None, shape=shape, settled_at=settled_at)
    if payment is None:
        return None
    await _moved(session, payment, "succeeded", SYSTEM)
    if moving is not None:  # as handle_event records an event that moved the payment it holds locked
        event_id, kind, _ = _parse_event(moving)
        await insert_if_absent(session, PaymentEvent(event_id=event_id, type=kind, source="local",
                                                     provider_object_id=reference, payload=moving,
                                                     payment_id=payment.id, outcome="applied"))
    for event in events:
        await handle_event(session, event, source="local", locked=payment)
    hold(session, payment)  # moved here, its callbacks ran here: what they loaded is current
    return payment


async def _refund_answered(session: AsyncSession, payment: Payment, obj: dict[str, Any]) -> None:
    before = snapshot(payment)
    status = obj.get("status")
    if status in ("failed", "canceled"):
        payment.refund_requested_at = None  # the money stays paid; it may be refunded again
        payment.updated_at = utcnow()
        session.add(payment)
        await audit.record(session, SYSTEM, "payment.refund_failed", "payment", payment.id, before=before,
                           after={**snapshot(payment), "reason": obj.get("failure_reason") or status})
        await session.flush()
        return
    payment.refund_reference = obj.get("id")
    payment.updated_at = utcnow()
    session.add(payment)
    await audit.record(session, SYSTEM, "payment.refund_accepted", "payment", payment.id, before=before,
                       after=snapshot(payment))
    await session.flush()
    if status == "succeeded":
        await _advance(session, payment, "refunded", SYSTEM)


def require_success(payment: Payment) -> Payment:
    """Raise 402 ``payment_failed`` for a declined, failed or canceled payment; otherwise return it."""
    if payment.status in ("failed", "canceled"):
        reason = payment.failure_message or payment.failure_code or payment.status
        raise PaymentFailed(f"the payment was {payment.status}: {reason}",
                            extra={"payment_id": payment.id, "failure_code": payment.failure_code})
    return payment


def _metadata(payment: Payment) -> dict[str, str]:
    return {"payment_id": payment.id, "purpose": payment.purpose, "object_type": payment.object_type,
            "object_id": payment.object_id}


# --- provider events (webhook, and the local provider's own) ---------------------------------------------

# Event type -> the status it reports. Types not named here are acknowledged and recorded without effect.
EVENT_TARGETS: dict[str, str] = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "canceled",
    "payment_intent.processing": "processing",
    "charge.refunded": "refunded",
    "refund.updated": "refunded",  # only when the refund's status is succeeded (see handle_event)
    "payout.paid": "succeeded",
    "payout.failed": "failed",
    "payout.canceled": "canceled",
}


def _event_reference(obj: dict[str, Any]) -> str | None:
    """The provider id our payment row is known by: the intent (charges, refunds name theirs) or payout."""
    ref = obj.get("payment_intent") if obj.get("object") in ("charge", "refund") else obj.get("id")
    return ref if isinstance(ref, str) and 0 < len(ref) <= 80 else None


def _parse_event(event: Any) -> tuple[str, str, dict[str, Any]]:
    if not isinstance(event, dict):
        raise InvalidPayload("the event must be a JSON object")
    event_id, kind, data = event.get("id"), event.get("type"), event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 100:
        raise InvalidPayload("the event has no valid id")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 60:
        raise InvalidPayload("the event has no valid type")
    if not isinstance(obj, dict):
        raise InvalidPayload("the event has no data.object")
    return event_id, kind, obj


async def handle_event(session: AsyncSession, event: Any, *, source: str = "webhook",
                       locked: Payment | None = None) -> str:
    """Apply a provider event once per event id. Returns the outcome: applied, ignored, stale,
    unknown_object, conflict, or duplicate (seen before: nothing recorded or done again). ``locked``: a
    payment this transaction already holds under its lock, used as is when the event names it."""
    event_id, kind, obj = _parse_event(event)
    ref = _event_reference(obj)
    row = PaymentEvent(event_id=event_id, type=kind, source=source, provider_object_id=ref, payload=event)
    target = EVENT_TARGETS.get(kind)
    if locked is not None and ref and locked.provider_reference == ref and kind != "refund.updated" and \
            target in ACTION_TO and PAYMENT.can(locked.status, ACTION_TO[target]):
        # An event that moves the payment this transaction holds locked cannot have been recorded before
        # (it would have moved it then), so it is applied first and recorded with its outcome in one INSERT.
        row.payment_id = locked.id
        row.outcome = await _advance(session, locked, target, SYSTEM, failure=gw.failure_of(obj))
        return row.outcome if await insert_if_absent(session, row) else "duplicate"
    # ON CONFLICT DO NOTHING on the event id: a repeat, or a concurrent delivery (waited for at the unique
    # index), inserts nothing, and no savepoint is needed around it.
    if not await insert_if_absent(session, row):
        return "duplicate"
    make_transient_to_detached(row)  # the row exists now: its outcome below is an UPDATE
    session.add(row)
    if kind == "refund.updated" and obj.get("status") != "succeeded":
        target = None
        if obj.get("status") in ("failed", "canceled") and ref:
            await _refund_failed(session, ref, obj, row)
    if target is not None:
        payment = locked if locked is not None and ref and locked.provider_reference == ref else None
        if payment is None and ref:
            stmt = (select(Payment).where(Payment.provider_reference == ref).with_for_update()
                    .execution_options(populate_existing=True))
            payment = (await session.exec(stmt)).first()
        if payment is None:
            row.outcome = "unknown_object"
        else:
            outcome = await _advance(session, payment, target, SYSTEM, failure=gw.failure_of(obj))
            row.payment_id, row.outcome = payment.id, outcome  # one UPDATE of the event row
    session.add(row)
    await session.flush()
    return row.outcome


async def _refund_failed(session: AsyncSession, ref: str, obj: dict[str, Any], row: PaymentEvent) -> None:
    """A pending refund failed at the provider: the payment is still paid, and may be refunded again."""
    stmt = select(Payment).where(Payment.provider_reference == ref).with_for_update()
    payment = (await session.exec(stmt.execution_options(populate_existing=True))).first()
    if payment is None or payment.refund_reference != obj.get("id"):
        row.outcome = "unknown_object" if payment is None else "stale"
        row.payment_id = payment.id if payment else None
        return
    before = snapshot(payment)
    payment.refund_reference = payment.refund_requested_at = None
    payment.updated_at = utcnow()
    session.add(payment)
    await audit.record(session, SYSTEM, "payment.refund_failed", "payment", payment.id, before=before,
                       after=snapshot(payment))
    row.payment_id, row.outcome = payment.id, "applied"


async def _handle_local_events(session: AsyncSession, result: gw.GatewayResult, payment: Payment) -> None:
    for event in result.events:
        await handle_event(session, event, source="local", locked=payment)
