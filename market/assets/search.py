"""Full-text ``q`` over asset titles and abstracts, Chinese and English, indexed on both databases.

``search_text`` holds the normalised title and abstract, then every distinct CJK character bigram of
them between spaces (`` 碳化 化硅 ``). A query part matches when it occurs in the text
(``LIKE '%part%'``); a part that is exactly one CJK bigram is matched as `` '% 电池 %' `` instead, which
is the same test (the bigram occurs in the text if and only if it is in the list) but one a trigram
index can use, while ``'%电池%'`` has no trigram at all. Chinese queries are mostly two-character words.

The index: PostgreSQL a ``pg_trgm`` GIN index on ``search_text`` (the planner uses it for LIKE);
SQLite an FTS5 ``trigram`` table over ``search_text`` kept in step by triggers, queried with LIKE. Both
need at least three characters without wildcards in a pattern; shorter parts (a single character, a
two-letter word) are still answered correctly, by a scan. The DDL is ``models.SEARCH_DDL``: ``create_all``
runs it through table events (tests, benchmarks) and the Alembic migration runs the same statements.
Without the SQLite FTS table (an older database) search falls back to LIKE on ``assets``.
"""

from __future__ import annotations

import weakref
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.text import is_cjk, normalise, terms
from market.assets.models import Asset


def search_text(title: str, abstract: str | None) -> str:
    text = normalise(f"{title}\n{abstract or ''}")
    bigrams = dict.fromkeys(t for t in terms(text) if len(t) == 2 and is_cjk(t))
    return f"{text}\n {' '.join(bigrams)} " if bigrams else text


def _escape(part: str) -> str:
    return part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pattern(part: str) -> str:
    if len(part) == 2 and is_cjk(part):
        return f"% {part} %"
    return f"%{_escape(part)}%"


_fts_present: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


async def _sqlite_fts(session: AsyncSession) -> bool:
    bind = session.bind
    sync_engine = getattr(bind, "sync_engine", bind)
    if sync_engine not in _fts_present:
        found = (await session.exec(sa.text(  # type: ignore[call-overload]  # exec() is typed for sqlmodel.select; text() runs alike
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'assets_fts'"))).first()
        _fts_present[sync_engine] = found is not None
    return _fts_present[sync_engine]


# Past this many rows a query is common: scanning newest-first finds a page of matches sooner than the index.
_SELECTIVE = 1000


async def conditions(session: AsyncSession, parts: list[str]) -> list[Any]:
    """WHERE conditions that hold exactly for assets matching every query part.

    On PostgreSQL the LIKE conditions use the trigram index themselves. SQLite's planner cannot choose
    between the FTS index and a newest-first scan, so we do: one FTS query over every indexable part
    (FTS5 intersects their trigram lists) names the matching rows when there are at most
    ``_SELECTIVE`` of them, and the LIKEs then check only those rows; when more rows match, the
    newest-first scan fills a page quickly.
    """
    out = [col(Asset.search_text).like(_pattern(part), escape="\\") for part in parts]
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect != "sqlite" or not parts or not await _sqlite_fts(session):
        return out
    # FTS5 answers LIKE from its index only without an ESCAPE clause and with 3+ characters.
    indexable = [p for p in map(_pattern, parts) if "\\" not in p and len(p.strip("%")) >= 3]
    if not indexable:
        return out
    where = " AND ".join(f"search_text LIKE :p{i}" for i in range(len(indexable)))
    stmt = sa.text(f"SELECT rowid FROM assets_fts WHERE {where} LIMIT :n").bindparams(
        n=_SELECTIVE + 1, **{f"p{i}": p for i, p in enumerate(indexable)})
    rowids = list((await session.exec(stmt)).scalars())  # type: ignore[call-overload]  # text(), as above
    if len(rowids) <= _SELECTIVE:
        out.append(sa.literal_column("assets.rowid").in_(rowids))
    return out
