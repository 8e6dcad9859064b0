"""Listings and offers: publish, search, withdraw, expire; offer, accept (→ deal), reject, withdraw."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import RowReader, get_or_404, insert_absent, read_rows, table_of
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.pagination import cut_page, page_params, page_window_template, paginate, row_json_text
from kernel.text import index_lookup, index_terms, normalise, query_parts
from market.assets import encumbrances
from market.assets.models import Asset
from market.assets.service import ASSET_OWNER_KINDS, lock_assets
from market.licensing.service import check_licensee_region
from market.trading import inflight
from market.trading.deals import close_listing, create_deal
from market.trading.models import (
    LISTING,
    OFFER,
    Deal,
    Listing,
    ListingAsset,
    ListingsVersion,
    ListingTerm,
    ListingWord,
    Offer,
)
from market.trading.schemas import ListingIn, ListingOut

# Listing mode -> the encumbrance action it needs.
ACTION_FOR_MODE = {"assignment": "assign", "exclusive_license": "exclusive_license",
                   "sole_license": "sole_license", "nonexclusive_license": "nonexclusive_license"}
DEFAULT_LICENSE_TERM_MONTHS = 60


def like(part: str) -> str:
    return "%" + part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def ipc_text(codes: list[str]) -> str:
    """Codes and their subclasses joined, so `ipc=H01M` and `ipc=H01M 10/613` both match with LIKE."""
    parts = sorted({c.upper() for c in codes} | {c[:4].upper() for c in codes})
    return "|" + "|".join(parts) + "|"


async def ensure_market_ready(session: AsyncSession, assets: list[Asset], mode: str,
                              exclude: list[str] | None = None, *, listing_id: str | None = None) -> None:
    """The law's encumbrance rules and the in-flight rule for putting assets on the market in ``mode``
    (a pledge is lifted only by its pledgee's consent bound to ``listing_id``)."""
    await encumbrances.ensure_allowed(session, assets, ACTION_FOR_MODE[mode], consent_object=listing_id)
    await inflight.ensure_free(session, [a.id for a in assets], assignment_only=mode != "assignment",
                               exclude=exclude or [])


async def create_listing(session: AsyncSession, actor: Actor, data: ListingIn) -> Listing:
    if not actor.is_kind(*ASSET_OWNER_KINDS):
        raise Forbidden("only SMEs and universities list IP")
    assets = await lock_assets(session, data.asset_ids)
    for asset in assets:
        if asset.owner_org_id != actor.org_id:
            raise Forbidden(f"asset {asset.id} is not yours to list")
    today = await business_date(session)
    if data.expires_on is not None and data.expires_on <= today:
        raise ValidationFailed.at(["body", "expires_on"], "expires_on must be after the business date")
    is_license = data.mode != "assignment"
    codes = sorted({c for a in assets for c in a.ipc_codes})
    title = data.title or (assets[0].title if len(assets) == 1 else f"{assets[0].title} 等{len(assets)}项")
    listing = Listing(
        seller_org_id=actor.org_id, mode=data.mode, price=data.price, title=title, description=data.description,
        asset_ids=list(data.asset_ids), ipc_codes=codes, ipc_text=ipc_text(codes),
        search_text=normalise("\n".join([title, data.description or "",
                                          *(f"{a.title}\n{a.abstract or ''}" for a in assets)])),
        term_months=(data.term_months or DEFAULT_LICENSE_TERM_MONTHS) if is_license else None,
        rate_bps=data.rate_bps, free_months=data.free_months, minimum_annual=data.minimum_annual,
        listed_on=today, expires_on=data.expires_on)
    await encumbrances.bind_consent(session, actor, assets, "listing_license" if is_license else "listing_assignment",
                                    listing.id)
    await ensure_market_ready(session, assets, data.mode, listing_id=listing.id)
    session.add(listing)
    session.add_all([ListingAsset(listing_id=listing.id, asset_id=a.id) for a in assets])
    await session.flush()
    await index_listing(session, listing.id, listing.search_text)
    await audit.record(session, actor, "listing.opened", "listing", listing.id,
                       after=listing.model_dump(exclude={"search_text", "ipc_text"}))
    return listing


def listing_index_rows(listing_id: str, search_text: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows of ``listing_terms`` and of ``listing_words`` (sorted) for a listing's ``search_text``."""
    words, bigrams = index_terms(search_text)
    return ([{"term": t, "listing_id": listing_id} for t in (*words, *bigrams)],
            [{"term": w} for w in sorted(words)])


async def index_listing(session: AsyncSession, listing_id: str, search_text: str) -> None:
    """A new listing into search's inverted index (its search_text is written once, at creation)."""
    terms, words = listing_index_rows(listing_id, search_text)
    if terms:
        await (await session.connection()).execute(sa.insert(_terms), terms)
    await insert_absent(session, _words, words)  # sorted: concurrent listings never deadlock on a new word


@dataclass
class ListingFilters:
    q: str | None = None
    mode: str | None = None
    ipc: str | None = None
    status: str | None = "open"
    seller_org_id: str | None = None
    asset_id: str | None = None


_listings, _listing_assets = table_of(Listing), table_of(ListingAsset)
_terms, _words = table_of(ListingTerm), table_of(ListingWord)
# What a listing shows (schemas.ListingOut): a search reads these as Core rows, no ORM object per listing.
_SHOWN = [c for c in _listings.c if c.name in ListingOut.model_fields]
_JSON = [_listings.c.id, row_json_text([_listings.c[name] for name in ListingOut.model_fields]).label("row_json")]


_version = table_of(ListingsVersion)
# Always one row: 0 while no listing has changed since the version table was made.
_VERSION = sa.select(sa.func.coalesce(sa.select(_version.c.n).where(_version.c.id == 1).scalar_subquery(), 0)
                     .label("n"))


async def listings_version(session: AsyncSession, read: RowReader = read_rows) -> int:
    """The listings' current version (models.ListingsVersion): it changes with every committed change to
    a listing or its assets, so a search page read under it is still right while it stays."""
    return int((await read(session, _VERSION, {}))[0][0])


class SearchPages:
    """A worker's last search pages, each with the listings' version it was read under; a page is given
    back only for that same version, so it is never older than what the database holds (a newer page
    under an older version only costs a read). Least recently used first out."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()

    def get(self, key: tuple[Any, ...], version: int) -> bytes | None:
        found = self._pages.get(key)
        if found is None or found[0] != version:
            return None
        self._pages.move_to_end(key)
        return found[1]

    def put(self, key: tuple[Any, ...], version: int, page: bytes) -> None:
        self._pages[key] = (version, page)
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)


def search_pages(app: Any) -> SearchPages:
    """The app's SearchPages (one per app, so one per worker process)."""
    pages = getattr(app.state, "search_pages", None)
    if pages is None:
        pages = app.state.search_pages = SearchPages()
    return pages


async def list_listings(session: AsyncSession, f: ListingFilters, limit: int, cursor: str | None, *,
                        as_json: bool = False, read: RowReader = read_rows) -> tuple[list[Any], bool, str | None]:
    """A page of listings, newest first: rows with ListingOut's fields or, with ``as_json`` on PostgreSQL,
    rows of ``id`` and ``row_json`` (the listing as ListingOut's JSON, made by the database). ``read`` runs
    the one statement (the API's checks the caller in it too).

    ``q``: every part must occur in the listing's text (LIKE). On PostgreSQL a part the inverted index
    answers (kernel.text.index_lookup: a word, a CJK word) drives the search through ``listing_terms``:
    newest first per matching term, stopping after a page, where the trigram index would fetch and sort
    every match; the other parts and filters are checked on each listing it names. Other parts (mixed,
    one character) and searches with a selective filter go to the trigram index; SQLite scans newest
    first."""
    parts = query_parts(f.q or "")
    postgres = session.get_bind().dialect.name == "postgresql"
    # With an ipc, seller or asset filter the page may be sparse among a term's listings: the walk would
    # check most of them one by one, where the trigram index (and the filter's own) fetch them in bulk.
    lookup = _driving_lookup(parts) if postgres and not (f.ipc or f.seller_org_id or f.asset_id) else None
    drive = lookup[0] if lookup else None
    params: dict[str, Any]
    if lookup is None:
        params = {f"q{i}": like(part) for i, part in enumerate(parts)}
    else:  # the parts as they are, for strpos (see _conditions)
        params = {f"p{i}": part for i, part in enumerate(parts)}
        params["drive"] = like(lookup[1]) if drive == "word" else lookup[1]
    if f.mode:
        params["mode"] = f.mode
    if f.ipc:
        params["ipc"] = like(" ".join(f.ipc.upper().split()))
    if f.status:
        params["status"] = f.status
    if f.seller_org_id:
        params["seller_org_id"] = f.seller_org_id
    if f.asset_id:
        params["asset_id"] = f.asset_id
    params.update(page_params(limit, cursor))
    shown = _JSON if as_json and postgres else _SHOWN
    shape = (len(parts), *(name in params for name in _FILTERS), "page_last" in params, shown is _JSON, drive)
    stmt = _SEARCHES.get(shape)
    if stmt is None:
        stmt = _SEARCHES[shape] = _search_statement(shown, len(parts), frozenset(params), "page_last" in params,
                                                    drive)
    return cut_page(await read(session, stmt, params), limit)


def _driving_lookup(parts: list[str]) -> tuple[str, str] | None:
    """The index lookup of the part that drives a search: a word before a CJK one (a word is answered
    exactly, a CJK part longer than two characters only narrowed), the longest first (the rarest,
    as a rule). Any of them gives the same rows; the choice only sets how many the search walks."""
    lookups = [(lookup, part) for part in parts if (lookup := index_lookup(part)) is not None]
    if not lookups:
        return None
    return max(lookups, key=lambda lp: (lp[0][0] == "word", len(lp[1])))[0]


_FILTERS = ("mode", "ipc", "status", "seller_org_id", "asset_id")
# One statement per shape of search (how many words, which filters, a cursor or not, the JSON or the
# columns, how the index drives it), built once. The values are its parameters.
_SEARCHES: dict[tuple[Any, ...], sa.Select[Any]] = {}


def _conditions(t: Any, n_parts: int, given: frozenset[str], *, indexed: bool = True) -> list[Any]:
    """What a listing of table (or alias) ``t`` must satisfy: every query part and every filter given.
    Without ``indexed`` the parts are tested with ``strpos`` (PostgreSQL's, the same test as the LIKE
    of ``like``), which no index serves: the planner then cannot trade a search's walk of the inverted
    index, which stops after a page, for the trigram index, which fetches every match."""
    if indexed:
        out = [t.c.search_text.like(sa.bindparam(f"q{i}"), escape="\\") for i in range(n_parts)]
    else:
        out = [sa.func.strpos(t.c.search_text, sa.bindparam(f"p{i}", type_=sa.Text)) > 0 for i in range(n_parts)]
    if "mode" in given:
        out.append(t.c.mode == sa.bindparam("mode"))
    if "ipc" in given:
        out.append(t.c.ipc_text.like(sa.bindparam("ipc"), escape="\\"))
    if "status" in given:
        out.append(t.c.status == sa.bindparam("status"))
    if "seller_org_id" in given:
        out.append(t.c.seller_org_id == sa.bindparam("seller_org_id"))
    if "asset_id" in given:
        out.append(t.c.id.in_(sa.select(_listing_assets.c.listing_id)
                              .where(_listing_assets.c.asset_id == sa.bindparam("asset_id"))))
    return out


def _search_statement(shown: list[Any], n_parts: int, given: frozenset[str], after_cursor: bool,
                      drive: str | None) -> sa.Select[Any]:
    c = _listings.c
    if drive is None:
        return page_window_template(sa.select(*shown).where(*_conditions(_listings, n_parts, given)), c.id,
                                    after_cursor=after_cursor)
    # The terms of the driving part: the words containing it, or the one bigram.
    if drive == "word":
        matched = sa.select(_words.c.term).where(_words.c.term.like(sa.bindparam("drive"), escape="\\"))
    else:
        matched = sa.select(sa.bindparam("drive", type_=_terms.c.term.type).label("term"))
    found = matched.subquery("matched")
    # Per term, its newest listings that satisfy everything (a backward walk of listing_terms' primary
    # key from the cursor, each listing checked by its own key), a page of them at most; of those, the
    # newest page. A listing with two matching words comes once.
    listing = _listings.alias("listing")
    newest = (sa.select(_terms.c.listing_id)
              .join(listing, listing.c.id == _terms.c.listing_id)
              .where(_terms.c.term == found.c.term, *_conditions(listing, n_parts, given, indexed=False),
                     *([_terms.c.listing_id < sa.bindparam("page_last")] if after_cursor else []))
              .order_by(_terms.c.listing_id.desc())
              .limit(sa.bindparam("page_limit")).lateral("newest"))
    page = (sa.select(newest.c.listing_id).distinct().select_from(found).join(newest, sa.true())
            .order_by(newest.c.listing_id.desc()).limit(sa.bindparam("page_limit")).subquery("page"))
    return (sa.select(*shown).select_from(page.join(_listings, c.id == page.c.listing_id))
            .order_by(c.id.desc()))


async def get_listing(session: AsyncSession, listing_id: str) -> Listing:
    return await get_or_404(session, Listing, listing_id)


async def _lock_listing(session: AsyncSession, listing_id: str) -> Listing:
    return await get_or_404(session, Listing, listing_id, lock=True)


async def withdraw_listing(session: AsyncSession, actor: Actor, listing_id: str) -> Listing:
    listing = await _lock_listing(session, listing_id)
    if listing.seller_org_id != actor.org_id:
        raise Forbidden("only the seller may withdraw a listing")
    if listing.status != "open":
        raise InvalidState(f"a listing that is {listing.status.replace('_', ' ')} cannot be withdrawn"
                           + (" (cancel its deal first)" if listing.status == "under_contract" else ""))
    await close_listing(session, actor, listing, "withdraw", reason="withdrawn by the seller")
    await session.flush()
    return listing


async def make_offer(session: AsyncSession, actor: Actor, listing_id: str, amount: int,
                     message: str | None) -> Offer:
    if not actor.is_kind(*ASSET_OWNER_KINDS):
        raise Forbidden("only SMEs and universities buy or license IP")
    listing = await _lock_listing(session, listing_id)
    if listing.seller_org_id == actor.org_id:
        raise InvalidState("you cannot make an offer on your own listing")
    if listing.status != "open":
        raise InvalidState(f"the listing is {listing.status.replace('_', ' ')}; it takes no offers")
    if listing.expires_on is not None and listing.expires_on < await business_date(session):
        raise InvalidState("the listing has expired")
    mine = (await session.exec(select(Offer).where(Offer.listing_id == listing.id, Offer.buyer_org_id == actor.org_id,
                                                   Offer.status == "pending"))).first()
    if mine is not None:
        raise InvalidState(f"you already have a pending offer ({mine.id}) on this listing; withdraw it first")
    if listing.mode != "assignment":  # a GI's license goes to producers of its region only: say so now
        asset_ids = select(ListingAsset.asset_id).where(ListingAsset.listing_id == listing.id)
        assets = (await session.exec(select(Asset).where(col(Asset.id).in_(asset_ids)))).all()
        await check_licensee_region(session, list(assets), actor.org_id)
    offer = Offer(listing_id=listing.id, buyer_org_id=actor.org_id, seller_org_id=listing.seller_org_id,
                  amount=amount, message=message)
    session.add(offer)
    await session.flush()
    await audit.record(session, actor, "offer.made", "offer", offer.id, after=offer.model_dump())
    return offer


def _offer_visible(offer: Offer, actor: Actor) -> bool:
    return actor.org_id in (offer.buyer_org_id, offer.seller_org_id) or actor.is_platform_admin


async def get_offer(session: AsyncSession, actor: Actor, offer_id: str, *, lock: bool = False) -> Offer:
    return await get_or_404(session, Offer, offer_id, lock=lock, visible=lambda o: _offer_visible(o, actor))


async def accept_offer(session: AsyncSession, actor: Actor, offer_id: str) -> tuple[Offer, Deal]:
    """Accept: the listing goes under contract, the other pending offers are declined, a deal awaits payment.

    The listing row is locked first (then its offers), so of two concurrent accepts exactly one wins.
    """
    peek = await get_offer(session, actor, offer_id)
    if peek.seller_org_id != actor.org_id:
        raise Forbidden("only the seller accepts an offer")
    listing = await _lock_listing(session, peek.listing_id)
    offer = await get_offer(session, actor, offer_id, lock=True)
    if offer.status != "pending":
        raise InvalidState(f"the offer is {offer.status}")
    if listing.status != "open":
        raise InvalidState(f"the listing is {listing.status.replace('_', ' ')}")
    today = await business_date(session)
    if listing.expires_on is not None and listing.expires_on < today:
        raise InvalidState("the listing has expired")
    assets = await lock_assets(session, listing.asset_ids)
    if any(a.owner_org_id != listing.seller_org_id for a in assets):
        raise InvalidState("the seller no longer owns every asset of this listing")
    await ensure_market_ready(session, assets, listing.mode, exclude=[listing.id], listing_id=listing.id)
    deal = await create_deal(session, actor, source="listing", mode=listing.mode, asset_ids=listing.asset_ids,
                             seller_org_id=listing.seller_org_id, buyer_org_id=offer.buyer_org_id,
                             amount=offer.amount, listing=listing, offer=offer, term_months=listing.term_months,
                             rate_bps=listing.rate_bps, free_months=listing.free_months,
                             minimum_annual=listing.minimum_annual)
    offer.deal_id = deal.id
    await OFFER.apply(session, actor, offer, "accept", deal_id=deal.id)
    others = (await session.exec(select(Offer).where(Offer.listing_id == listing.id, Offer.status == "pending",
                                                     Offer.id != offer.id).order_by(Offer.id).with_for_update())).all()
    for other in others:
        await OFFER.apply(session, actor, other, "decline", reason=f"offer {offer.id} was accepted")
    listing.deal_id = deal.id
    await LISTING.apply(session, actor, listing, "contract", deal_id=deal.id)
    await session.flush()
    return offer, deal


async def reject_offer(session: AsyncSession, actor: Actor, offer_id: str) -> Offer:
    offer = await get_offer(session, actor, offer_id, lock=True)
    if offer.seller_org_id != actor.org_id:
        raise Forbidden("only the seller rejects an offer")
    await OFFER.apply(session, actor, offer, "reject")
    await session.flush()
    return offer


async def withdraw_offer(session: AsyncSession, actor: Actor, offer_id: str) -> Offer:
    offer = await get_offer(session, actor, offer_id, lock=True)
    if offer.buyer_org_id != actor.org_id:
        raise Forbidden("only the buyer withdraws an offer")
    await OFFER.apply(session, actor, offer, "withdraw")
    await session.flush()
    return offer


async def list_offers(session: AsyncSession, actor: Actor, *, listing_id: str | None, status: str | None,
                      limit: int, cursor: str | None) -> tuple[list[Offer], bool, str | None]:
    """The seller sees every offer on its listings; a buyer only its own."""
    stmt = select(Offer).where((Offer.buyer_org_id == actor.org_id) | (Offer.seller_org_id == actor.org_id))
    if listing_id:
        await get_listing(session, listing_id)
        stmt = stmt.where(Offer.listing_id == listing_id)
    if status:
        stmt = stmt.where(Offer.status == status)
    return await paginate(session, stmt, Offer.id, limit, cursor)


async def expire_listings(session: AsyncSession, actor: Actor, run_date: date) -> int:
    """Open listings whose last day has passed expire; their pending offers are declined."""
    stmt = (select(Listing).where(Listing.status == "open", col(Listing.expires_on) <= run_date)
            .order_by(Listing.id).with_for_update())
    rows = list((await session.exec(stmt)).all())
    for listing in rows:
        await close_listing(session, actor, listing, "expire", reason=f"expired on {listing.expires_on}")
    await session.flush()
    return len(rows)
