"""The fund ledger over HTTP: read by the fund and the regulator; manual adjustments by fund admins."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Header, Query
from sqlmodel import select

from api.approvals import PENDING_RESPONSE, FourEyes
from api.deps import Cursor, Limit, SessionDep, org_kinds
from api.routing import AreaRouter, TransactionalRoute
from finance.fund.models import FundProgram
from finance.ledger import scope as ledger_scopes
from finance.ledger import service
from finance.ledger.models import LedgerAccount, LedgerEntry
from finance.ledger.schemas import AccountOut, BalancesOut, EntryOut, ManualEntryIn, ReverseIn, VerifyOut
from finance.ledger.scope import Scope
from kernel.actor import ORG_ADMIN, Actor
from kernel.errors import Forbidden, ValidationFailed
from kernel.pagination import Page

router = AreaRouter(prefix="/fund/ledger", tags=["fund ledger"], route_class=TransactionalRoute)
LedgerReader = Annotated[Actor, Depends(org_kinds("fund", "regulator"))]
FundActor = Annotated[Actor, Depends(org_kinds("fund"))]


async def ledger_scope(session: SessionDep, actor: LedgerReader) -> Scope:
    """The regulator reads the whole ledger; a fund only the accounts of the programmes it administers."""
    if actor.is_kind("regulator"):
        return None
    ids = (await session.exec(select(FundProgram.id).where(FundProgram.fund_org_id == actor.org_id))).all()
    return frozenset(ids)


ScopeDep = Annotated[Scope, Depends(ledger_scope)]
Key = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
Ref = Annotated[str | None, Query(max_length=40)]


def _admin_with_key(actor: Actor, key: str | None) -> str:
    if actor.role != ORG_ADMIN:
        raise Forbidden("only a fund administrator may post to the ledger")
    if not key:
        raise ValidationFailed.at(["header", "Idempotency-Key"], "ledger postings require an Idempotency-Key")
    # Scoped to the organisation, like the HTTP key, so two funds' keys never collide.
    return f"manual:{actor.org_id}:{key}"


@router.get("/accounts", response_model=Page[AccountOut], summary="Ledger accounts with balances (fund, regulator)")
async def list_accounts(session: SessionDep, scope: ScopeDep, limit: Limit = 20, cursor: Cursor = None,
                        code_prefix: Annotated[str | None, Query(max_length=160)] = None,
                        owner_org_id: Ref = None) -> Page[AccountOut]:
    rows, has_more, nxt = await service.list_accounts(session, limit, cursor, code_prefix=code_prefix,
                                                      owner_org_id=owner_org_id, scope=scope)
    return Page[AccountOut](data=[service.describe_account(a) for a in rows], has_more=has_more, next_cursor=nxt)


@router.get("/entries", response_model=Page[EntryOut], summary="Journal entries with postings (fund, regulator)")
async def list_entries(session: SessionDep, scope: ScopeDep, limit: Limit = 20, cursor: Cursor = None,
                       account_id: Ref = None,
                       date_from: Annotated[date | None, Query(alias="from")] = None,
                       date_to: Annotated[date | None, Query(alias="to")] = None,
                       kind: Annotated[str | None, Query(max_length=40)] = None,
                       object_type: Ref = None, object_id: Ref = None) -> Page[EntryOut]:
    rows, has_more, nxt = await service.list_entries(session, limit, cursor, account_id=account_id,
                                                     date_from=date_from, date_to=date_to, kind=kind,
                                                     object_type=object_type, object_id=object_id, scope=scope)
    return Page[EntryOut](data=await service.describe_entries(session, rows), has_more=has_more, next_cursor=nxt)


@router.get("/entries/{entry_id}", response_model=EntryOut, summary="One entry (fund, regulator)")
async def get_entry(entry_id: str, session: SessionDep, scope: ScopeDep) -> EntryOut:
    return (await service.describe_entries(session, [await ledger_scopes.entry_in_scope(session, entry_id, scope)]))[0]


@router.get("/balances", response_model=BalancesOut,
            summary="Trial balance now, or as of the end of a business date (fund, regulator)")
async def get_balances(session: SessionDep, scope: ScopeDep, as_of: date | None = None) -> BalancesOut:
    rows = [b for b in await service.balances(session, as_of)
            if scope is None or ledger_scopes.program_of(b.code) in scope]
    debits, credits = sum(b.debits for b in rows), sum(b.credits for b in rows)
    return BalancesOut(as_of=as_of, accounts=[b.as_dict() for b in rows], total_debits=debits,
                       total_credits=credits, balanced=debits == credits)


@router.get("/verify", response_model=VerifyOut,
            summary="Prove every entry balances, every balance equals its postings, the chain is intact")
async def verify(session: SessionDep, scope: ScopeDep) -> dict[str, Any]:
    # The chain is one for the whole ledger, so it is always proved whole; a fund sees the problems of
    # its own accounts and entries only.
    result = await service.verify(session)
    if scope is not None:
        own = {a.id for a in (await session.exec(select(LedgerAccount)
                                                  .where(ledger_scopes.accounts_condition(scope)))).all()}
        own_entries = set((await session.exec(select(LedgerEntry.id)
                                              .where(ledger_scopes.entries_condition(scope)))).all())
        result["problems"] = [p for p in result["problems"]
                              if p.get("account_id") in own or p.get("entry_id") in own_entries]
    return result


@router.post("/entries", status_code=201, response_model=EntryOut, responses=PENDING_RESPONSE,
             summary="Post a manual adjustment (fund administrator; Idempotency-Key required; four-eyes "
                     "when the fund's policy says so)")
async def post_entry(body: ManualEntryIn, session: SessionDep, actor: FundActor, gate: FourEyes,
                     scope: ScopeDep,
                     idempotency_key: Key = None) -> EntryOut:
    key = _admin_with_key(actor, idempotency_key)
    await ledger_scopes.check_lines(session, [x.account for x in body.lines], scope)
    await gate.check(actor, "ledger_entry", amount=sum(x.amount for x in body.lines if x.side == "debit"))
    entry = await service.post(session, actor, idempotency_key=key,
                               lines=[(x.account, x.side, x.amount) for x in body.lines],
                               description=body.description, kind="manual_adjustment",
                               effective_date=body.effective_date, object_type=body.object_type,
                               object_id=body.object_id)
    return (await service.describe_entries(session, [entry]))[0]


@router.post("/entries/{entry_id}/reverse", status_code=201, response_model=EntryOut, responses=PENDING_RESPONSE,
             summary="Reverse an entry with its mirror, once (fund administrator; Idempotency-Key required; "
                     "four-eyes when the fund's policy says so)")
async def reverse_entry(entry_id: str, body: ReverseIn, session: SessionDep, actor: FundActor, gate: FourEyes,
                        scope: ScopeDep,
                        idempotency_key: Key = None) -> EntryOut:
    await ledger_scopes.check_reversal(session, entry_id, scope)
    key = _admin_with_key(actor, idempotency_key)
    await service.get_entry(session, entry_id)  # a missing entry is 404 now, not after approval
    await gate.check(actor, "ledger_reversal", object_type="ledger_entry", object_id=entry_id)
    entry = await service.reverse(session, actor, entry_id, key, body.reason)
    return (await service.describe_entries(session, [entry]))[0]
