"""Asset registry rules: registration, search, updates, ownership moves and the high-value verdict.

A little over 400 lines: registration is shared by ``POST /assets`` and the bulk import (``new_asset``
for the rules, ``insert_assets`` for the rows), and splitting it would put one rule in two files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from kernel import audit, events, outbox
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.dates import add_months
from kernel.db import RowReader, get_or_404, insert_unique, read_rows, table_of, utcnow
from kernel.errors import AlreadyExists, Forbidden, InvalidState, NotFound, ValidationFailed
from kernel.ids import new_id
from kernel.pagination import paginate
from kernel.settings import get_settings
from kernel.text import query_parts
from market.assets import search
from market.assets.models import ASSET, Asset, Encumbrance, OwnershipRecord
from market.assets.schemas import AssetIn, AssetOut, AssetPatch, AssetSummaryOut, HighValueOut
from market.numbers import PATENT_KINDS, display_number, normalise_number

ASSET_OWNER_KINDS = ("sme", "university")

HIGH_VALUE_AWARDS = {"national_sci_tech_award", "china_patent_award"}


# The outbox job that brings the matching index up to date after an asset's text changed (its handler is
# market.matching.index's, which this package cannot import). Run right after the commit by whoever
# commits, with the workers as the safety net: the match queries themselves only read.
MATCH_INDEX_JOB = "matching.refresh"


async def _reindex_after_commit(session: AsyncSession) -> None:
    await outbox.enqueue(session, MATCH_INDEX_JOB, now=True)


def _search_text(title: str, abstract: str | None) -> str:
    return search.search_text(title, abstract)


def _ipc_subclass(ipc_codes: Sequence[str]) -> str | None:
    return ipc_codes[0][:4] if ipc_codes else None


def _check_dates(asset: Asset, today: date) -> None:
    pairs = [("filing_date", "grant_date"), ("grant_date", "expiry_date"), ("filing_date", "expiry_date"),
             ("filing_date", "fees_paid_until")]
    for earlier, later in pairs:
        a, b = getattr(asset, earlier), getattr(asset, later)
        if a is not None and b is not None and b < a:
            raise ValidationFailed.at(["body", later], f"{later} must not be before {earlier}")
    # Filing and grant are facts of the past; expiry and paid-up fees may lie ahead.
    for past in ("filing_date", "grant_date"):
        value = getattr(asset, past)
        if value is not None and value > today:
            raise ValidationFailed.at(["body", past],
                                      f"{past} {value.isoformat()} is after the business date {today.isoformat()}")


_FACTORIES = {name: f.default_factory for name, f in Asset.model_fields.items() if f.default_factory is not None}


def _factory_defaults() -> dict[str, Any]:
    """The default factories' values, passed explicitly: pydantic inspects a factory's signature each
    time it calls one, which is most of the cost of building an asset in a bulk import."""
    return {name: factory() for name, factory in _FACTORIES.items()}  # type: ignore[call-arg]  # no-argument factories


async def new_asset(session: AsyncSession, actor: Actor, data: AssetIn, today: date) -> Asset:
    """The asset ``data`` registers for ``actor`` after every rule of registration, not stored yet."""
    if not actor.is_kind(*ASSET_OWNER_KINDS):
        raise Forbidden("only SMEs and universities register IP assets")
    try:  # the schema checked the number's form; the year in it is checked against the business date here
        normalise_number(data.kind, data.number, today)
    except ValueError as exc:
        raise ValidationFailed.at(["body", "number"], str(exc)) from exc
    fields = data.model_dump(exclude_none=True)
    asset = Asset(**{**_factory_defaults(), **fields}, owner_org_id=actor.org_id)
    if asset.kind == "geographical_indication" and asset.registrant is None:
        owner = await session.get(Org, actor.org_id)
        asset.registrant = owner.name if owner else None  # the registrant is the owner unless named
    asset.ipc_subclass = _ipc_subclass(asset.ipc_codes)
    asset.search_text = _search_text(asset.title, asset.abstract)
    ASSET.start(asset, "pending" if asset.kind in PATENT_KINDS and asset.grant_date is None else "valid")
    _check_dates(asset, today)
    return asset


async def create_asset(session: AsyncSession, actor: Actor, data: AssetIn) -> Asset:
    today = await business_date(session)
    asset = await new_asset(session, actor, data, today)
    await insert_unique(session, asset, AlreadyExists(f"{asset.kind} {asset.number} is already registered"))
    session.add(OwnershipRecord(asset_id=asset.id, owner_org_id=actor.org_id, from_date=today,
                                via="registration"))
    await audit.record(session, actor, "asset.registered", "asset", asset.id, after=_snapshot(asset))
    await _reindex_after_commit(session)
    return asset


async def insert_assets(session: AsyncSession, actor: Actor, assets: Sequence[Asset], today: date) -> set[str]:
    """Register many assets built by ``new_asset`` in a few statements (bulk imports): the rows, their
    ownership records and audit records. One whose kind and number got registered meanwhile is skipped
    (the unique index decides); answers the ids inserted."""
    table, owners = table_of(Asset), table_of(OwnershipRecord)
    inserted: set[str] = set()
    conn = await session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    if assets:  # one cached statement; SQLAlchemy batches the rows ("insertmanyvalues") with RETURNING
        stmt = insert(table).on_conflict_do_nothing(index_elements=["kind", "number"]).returning(table.c.id)
        rows = [{c.name: getattr(a, c.name) for c in table.columns} for a in assets]
        inserted = set((await conn.execute(stmt, rows)).scalars())
    kept = [a for a in assets if a.id in inserted]
    if not kept:
        return inserted
    await conn.execute(sa.insert(owners), [
        {"id": new_id("own"), "asset_id": a.id, "owner_org_id": a.owner_org_id, "from_date": today,
         "to_date": None, "via": "registration", "ref_id": None} for a in kept])
    at = utcnow()
    await audit.record_bulk(session, [
        {"id": new_id("aud"), "at": at, "business_date": today, "actor_user_id": actor.user_id,
         "actor_org_id": actor.org_id, "action": "asset.registered", "object_type": "asset", "object_id": a.id,
         "before": None, "after": a.model_dump(mode="json", exclude={"search_text", "created_at", "updated_at"})}
        for a in kept])
    await _reindex_after_commit(session)
    return inserted


def _snapshot(asset: Asset) -> dict[str, Any]:
    return asset.model_dump(exclude={"search_text", "created_at", "updated_at"})


async def get_asset(session: AsyncSession, asset_id: str) -> Asset:
    return await get_or_404(session, Asset, asset_id)


async def get_owned_asset(session: AsyncSession, actor: Actor, asset_id: str) -> Asset:
    asset = await get_asset(session, asset_id)
    if asset.owner_org_id != actor.org_id:
        raise Forbidden("only the owner may do this")
    return asset


async def lock_assets(session: AsyncSession, asset_ids: Sequence[str]) -> list[Asset]:
    """Load and lock assets in id order (the fixed order that keeps concurrent lockers from deadlocking)."""
    ids = sorted(set(asset_ids))
    if len(ids) != len(asset_ids):
        raise ValidationFailed.at(["body", "asset_ids"], "an asset is named twice")
    stmt = select(Asset).where(col(Asset.id).in_(ids)).order_by(Asset.id).with_for_update()
    assets = list((await session.exec(stmt)).all())
    if len(assets) != len(ids):
        raise NotFound("asset not found")
    by_id = {a.id: a for a in assets}
    return [by_id[i] for i in asset_ids]


@dataclass
class AssetFilters:
    q: str | None = None
    kind: str | None = None
    ipc: str | None = None
    owner_org_id: str | None = None
    dormant: bool | None = None
    status: str | None = None
    region: str | None = None  # a GI's region of origin, or any region inside it


def _like(part: str) -> str:
    return "%" + part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def dormant_condition(today: date) -> Any:
    """University-held granted patents with no assignment or license for ``dormant_years``."""
    cutoff = today - timedelta(days=365 * get_settings().dormant_years)
    university_ids = select(Org.id).where(Org.kind == "university")
    return sa.and_(
        col(Asset.kind).in_(PATENT_KINDS),
        col(Asset.status) == "valid",
        col(Asset.grant_date).is_not(None),
        col(Asset.grant_date) <= cutoff,
        or_(col(Asset.last_transaction_on).is_(None), col(Asset.last_transaction_on) <= cutoff),
        col(Asset.owner_org_id).in_(university_ids),
    )


async def list_assets(session: AsyncSession, filters: AssetFilters, limit: int,
                      cursor: str | None) -> tuple[list[Asset], bool, str | None]:
    stmt = select(Asset)
    for condition in await search.conditions(session, query_parts(filters.q or "")):
        stmt = stmt.where(condition)
    if filters.kind:
        stmt = stmt.where(Asset.kind == filters.kind)
    if filters.ipc:
        ipc = filters.ipc.strip().upper()
        if len(ipc) <= 4:
            stmt = stmt.where(Asset.ipc_subclass == ipc)
        else:
            stmt = stmt.where(sa.cast(Asset.ipc_codes, sa.Text).like(_like(ipc), escape="\\"))
    if filters.owner_org_id:
        stmt = stmt.where(Asset.owner_org_id == filters.owner_org_id)
    if filters.status:
        stmt = stmt.where(Asset.status == filters.status)
    if filters.region:
        stmt = stmt.where(col(Asset.region).like(f"{region_prefix(filters.region)}%"))
    if filters.dormant is not None:
        cond = dormant_condition(await business_date(session))
        stmt = stmt.where(cond if filters.dormant else sa.not_(cond))
    return await paginate(session, stmt, Asset.id, limit, cursor)


async def update_asset(session: AsyncSession, actor: Actor, asset_id: str, patch: AssetPatch) -> Asset:
    asset = (await lock_assets(session, [asset_id]))[0]
    if asset.owner_org_id != actor.org_id:
        raise Forbidden("only the owner may change an asset")
    before = _snapshot(asset)
    changes = patch.model_dump(exclude_unset=True)
    new_status = changes.pop("status", None)
    for field, value in changes.items():
        if field in ("product", "registrant") and asset.kind != "geographical_indication":
            raise ValidationFailed.at(["body", field], f"{field} belongs to geographical indications")
        if value is None and field in ("title", "product", "registrant"):
            raise ValidationFailed.at(["body", field], f"{field} cannot be empty")
        setattr(asset, field, value if value is not None else _empty(field))
    if new_status is not None and new_status != asset.status:
        # The owner names the status it records; the workflow knows the action that leads there.
        action = next((a for (s, a), to in ASSET.moves.items() if s == asset.status and to == new_status), None)
        if action is None:
            raise InvalidState(f"an asset cannot go from {asset.status} to {new_status}")
        await ASSET.apply(session, actor, asset, action)
    if asset.kind in PATENT_KINDS and asset.status == "valid" and asset.grant_date is None:
        # A patent is in force only once granted: record the grant with the status.
        raise ValidationFailed.at(["body", "grant_date"], "a valid patent needs its grant_date")
    _check_dates(asset, await business_date(session))
    asset.ipc_subclass = _ipc_subclass(asset.ipc_codes)
    asset.search_text = _search_text(asset.title, asset.abstract)
    asset.updated_at = utcnow()
    session.add(asset)
    await session.flush()
    after = _snapshot(asset)
    await audit.record(session, actor, "asset.updated", "asset", asset.id, before=before, after=after)
    if any(before[f] != after[f] for f in ("title", "abstract", "ipc_codes")):  # what the matching index holds
        await _reindex_after_commit(session)
    if before["status"] != asset.status:
        await events.publish(session, events.ASSET_STATUS_CHANGED,
                             {"asset_id": asset.id, "before": before["status"], "after": asset.status})
    return asset


async def expire_due(session: AsyncSession, actor: Actor, run_date: date) -> int:
    """Expire every asset whose term ended by ``run_date``; valuations and loans hear of it by event."""
    stmt = (select(Asset).where(col(Asset.expiry_date) <= run_date, col(Asset.status).in_(ASSET.sources("expire")))
            .order_by(Asset.id).with_for_update())
    expired = [(asset, asset.status) for asset in (await session.exec(stmt)).all()]
    for asset, _ in expired:
        await ASSET.apply(session, actor, asset, "expire")
    await session.flush()
    for asset, before in expired:
        await events.publish(session, events.ASSET_STATUS_CHANGED,
                             {"asset_id": asset.id, "before": before, "after": "expired"})
    return len(expired)


# Patent Law art. 44 and Implementing Rules: an annual fee may be paid up to 6 months late (with a
# surcharge); after that the patent terminates. 181 days is the shortest 6 months (a cheap SQL pre-filter).
FEE_GRACE_MONTHS = 6


async def lapse_unpaid(session: AsyncSession, actor: Actor, run_date: date) -> int:
    """Lapse every valid patent whose annual fees are more than 6 months overdue on ``run_date``;
    valuations and loans hear of it by event (a pledged patent lapsing is a collateral loss)."""
    stmt = (select(Asset).where(col(Asset.kind).in_(PATENT_KINDS), col(Asset.status).in_(ASSET.sources("lapse")),
                                col(Asset.fees_paid_until).is_not(None),
                                col(Asset.fees_paid_until) < run_date - timedelta(days=181))
            .order_by(Asset.id).with_for_update())
    lapsing = [a for a in (await session.exec(stmt)).all()
               if a.fees_paid_until is not None and run_date > add_months(a.fees_paid_until, FEE_GRACE_MONTHS)]
    for asset in lapsing:
        await ASSET.apply(session, actor, asset, "lapse", fees_paid_until=asset.fees_paid_until,
                          reason="annual fees more than 6 months overdue")
    await session.flush()
    for asset in lapsing:
        await events.publish(session, events.ASSET_STATUS_CHANGED,
                             {"asset_id": asset.id, "before": "valid", "after": "lapsed"})
    return len(lapsing)


def _empty(field: str) -> Any:
    return [] if field in ("ipc_codes", "nice_classes", "family_countries", "awards") else None


async def transfer_ownership(session: AsyncSession, actor: Actor, asset: Asset, new_owner_org_id: str, *,
                             via: str, ref_id: str) -> None:
    """Move an asset to a new owner, closing the current ownership record (history is never rewritten)."""
    today = await business_date(session)
    current = (await session.exec(
        select(OwnershipRecord).where(OwnershipRecord.asset_id == asset.id,
                                      col(OwnershipRecord.to_date).is_(None)))).first()
    if current is not None:
        current.to_date = today
        session.add(current)
    previous_owner = asset.owner_org_id
    asset.owner_org_id = new_owner_org_id
    asset.last_transaction_on = today
    asset.updated_at = utcnow()
    session.add(asset)
    session.add(OwnershipRecord(asset_id=asset.id, owner_org_id=new_owner_org_id, from_date=today, via=via,
                                ref_id=ref_id))
    await session.flush()
    await audit.record(session, actor, "asset.ownership_moved", "asset", asset.id,
                       before={"owner_org_id": previous_owner},
                       after={"owner_org_id": new_owner_org_id, "via": via, "ref_id": ref_id})
    await events.publish(session, events.ASSET_OWNER_CHANGED,
                         {"asset_id": asset.id, "before": previous_owner, "after": new_owner_org_id})


async def record_transaction(session: AsyncSession, asset: Asset, actor: Actor = SYSTEM) -> None:
    """A license was granted: the asset is not dormant any more."""
    before, asset.last_transaction_on = asset.last_transaction_on, await business_date(session)
    if before != asset.last_transaction_on:
        session.add(asset)
        await audit.record(session, actor, "asset.transacted", "asset", asset.id,
                           before={"last_transaction_on": before},
                           after={"last_transaction_on": asset.last_transaction_on})


async def record_pledge_amount(session: AsyncSession, asset_ids: Sequence[str], amount: int,
                               actor: Actor = SYSTEM) -> None:
    """Remember the largest pledge-financing amount each asset has backed (high-value criterion 4)."""
    stmt = select(Asset).where(col(Asset.id).in_(asset_ids)).order_by(Asset.id).with_for_update()
    for asset in (await session.exec(stmt)).all():
        if amount > asset.max_pledge_amount:
            await audit.record(session, actor, "asset.pledge_amount_recorded", "asset", asset.id,
                               before={"max_pledge_amount": asset.max_pledge_amount},
                               after={"max_pledge_amount": amount})
            asset.max_pledge_amount = amount
            session.add(asset)


async def ownership_history(session: AsyncSession, asset_id: str) -> list[OwnershipRecord]:
    stmt = select(OwnershipRecord).where(OwnershipRecord.asset_id == asset_id).order_by(
        col(OwnershipRecord.from_date), col(OwnershipRecord.id))
    return list((await session.exec(stmt)).all())


async def active_encumbrances(session: AsyncSession, asset_id: str) -> list[Encumbrance]:
    stmt = select(Encumbrance).where(Encumbrance.asset_id == asset_id,
                                     col(Encumbrance.released_on).is_(None)).order_by(Encumbrance.id)
    return list((await session.exec(stmt)).all())


def high_value(asset: Asset | sa.Row[Any], today: date, pledge_threshold: int | None = None) -> list[str]:
    """Which of the five high-value criteria (001_… note to table 1) an invention patent meets (of the
    asset or a Core row of its columns)."""
    if asset.kind != "invention_patent":
        return []
    threshold = get_settings().high_value_pledge_threshold if pledge_threshold is None else pledge_threshold
    criteria = []
    if asset.strategic_emerging:
        criteria.append("strategic_emerging_industry")
    if any(c not in ("CN",) for c in asset.family_countries):
        criteria.append("overseas_family")
    if (asset.filing_date is not None and asset.status == "valid"
            and today > _add_years(asset.filing_date, 10)):
        criteria.append("maintained_over_10_years")
    if asset.max_pledge_amount > 0 and asset.max_pledge_amount >= threshold:
        criteria.append("high_pledge_financing")
    if HIGH_VALUE_AWARDS & set(asset.awards):
        criteria.append("national_award")
    return criteria


def region_prefix(code: str) -> str:
    """The digits that name an administrative division: 140000 → 14, 140100 → 1401, 140105 → 140105."""
    code = code.strip()
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def within_region(org_region: str | None, gi_region: str | None) -> bool:
    """Whether an organisation's region lies inside a GI's region of origin (a district in its city too)."""
    if not gi_region:
        return True
    return bool(org_region) and str(org_region).startswith(region_prefix(gi_region))


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


# What the full view leaves out of an asset's columns (max_pledge_amount only feeds the high-value verdict).
_NOT_SHOWN = frozenset({"search_text", "max_pledge_amount", "ipc_subclass"})
_READ_COLUMNS = [c for c in table_of(Asset).c if c.name not in _NOT_SHOWN - {"max_pledge_amount"}]


async def describe(session: AsyncSession, asset: Asset) -> AssetOut:
    """The full view of an asset: facts, active encumbrances, ownership history, high-value verdict."""
    history = (await session.execute(_HISTORY_OF, {"asset_id": asset.id})).all()
    return await _full_view(session, asset, asset.model_dump(exclude=set(_NOT_SHOWN)), history)


async def read_asset(session: AsyncSession, asset_id: str, read: RowReader = read_rows) -> AssetOut:
    """``describe(get_asset(…))`` for a read, in one statement: the asset's columns as Core rows (no ORM
    object), one per entry of its history. ``read`` runs it (the API's checks the caller in it too)."""
    rows = await read(session, _READ_WITH_HISTORY, {"asset_id": asset_id})
    if not rows:
        raise NotFound(f"asset {asset_id} not found")
    facts = {name: getattr(rows[0], name) for name in _READ_NAMES if name != "max_pledge_amount"}
    history = [r for r in rows if r.src is not None]  # no history: the outer join's one empty row
    return await _full_view(session, rows[0], facts, history)


async def _full_view(session: AsyncSession, asset: Asset | sa.Row[Any], facts: dict[str, Any],
                     history: Sequence[sa.Row[Any]]) -> AssetOut:
    criteria = high_value(asset, await business_date(session))
    return AssetOut.model_validate({
        **facts,
        "display_number": display_number(asset.kind, asset.number),
        **_encumbrances_and_owners(history),
        "high_value": HighValueOut(is_high_value=bool(criteria), criteria=criteria),
    })


_enc, _own, _assets = table_of(Encumbrance), table_of(OwnershipRecord), table_of(Asset)
# An asset's active encumbrances and its ownership history, one row each; statements built once.
_HISTORY = sa.union_all(
    sa.select(_enc.c.asset_id, sa.literal("e").label("src"), _enc.c.id.label("entry_id"),
              _enc.c.kind.label("entry_kind"), _enc.c.ref_id, _enc.c.holder_org_id.label("org_id"),
              _enc.c.since.label("start"), sa.cast(sa.null(), sa.Date).label("end"))
    .where(_enc.c.asset_id == sa.bindparam("asset_id"), _enc.c.released_on.is_(None)),
    sa.select(_own.c.asset_id, sa.literal("o"), _own.c.id, _own.c.via, _own.c.ref_id, _own.c.owner_org_id,
              _own.c.from_date, _own.c.to_date)
    .where(_own.c.asset_id == sa.bindparam("asset_id"))).subquery("history")
_HISTORY_COLUMNS = [c for c in _HISTORY.c if c.name != "asset_id"]
_HISTORY_OF = sa.select(*_HISTORY_COLUMNS)
_READ_NAMES = [c.name for c in _READ_COLUMNS]
_READ_WITH_HISTORY = (sa.select(*_READ_COLUMNS, *_HISTORY_COLUMNS)
                      .select_from(_assets.outerjoin(_HISTORY, _HISTORY.c.asset_id == _assets.c.id))
                      .where(_assets.c.id == sa.bindparam("asset_id")))


def _encumbrances_and_owners(rows: Sequence[sa.Row[Any]]) -> dict[str, list[dict[str, Any]]]:
    encumbrances = sorted((r for r in rows if r.src == "e"), key=lambda r: r.entry_id)
    owners = sorted((r for r in rows if r.src == "o"), key=lambda r: (r.start, r.entry_id))
    return {
        "encumbrances": [{"kind": r.entry_kind, "ref_id": r.ref_id, "since": r.start, "holder_org_id": r.org_id}
                         for r in encumbrances],
        "ownership_history": [{"owner_org_id": r.org_id, "from_date": r.start, "to_date": r.end,
                               "via": r.entry_kind, "ref_id": r.ref_id} for r in owners],
    }


def summarise(asset: Asset) -> AssetSummaryOut:
    return AssetSummaryOut.model_validate({**asset.model_dump(), "display_number": display_number(asset.kind,
                                                                                                  asset.number)})
