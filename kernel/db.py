"""Database: one async engine per app, SQLite (WAL, foreign keys) by default, PostgreSQL via asyncpg.

Alembic migrations make the schema; ``create_all`` is used only by the tests.
"""

from __future__ import annotations

import zlib
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # no stubs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ColumnProperty, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.util import greenlet_spawn
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import rows

# Stable constraint names, so migrations on SQLite and PostgreSQL agree and never drift.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata
rows.install()  # before any model is mapped: each models module imports this one first


def utcnow() -> datetime:
    return datetime.now(UTC)


class TZDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC timestamps on both databases (SQLite stores naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def money_field(**kw: Any) -> Any:
    """An integer fen column (BIGINT)."""
    return Field(sa_type=sa.BigInteger, **kw)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=TZDateTime, nullable=False)


def json_field(**kw: Any) -> Any:
    return Field(default_factory=list, sa_type=sa.JSON, **kw)


# An execution option on the engine a read-only session is bound to (``read_only_factory``): on SQLite
# its transactions begin deferred (``BEGIN``), taking no write lock; writers still ``BEGIN IMMEDIATE``.
READ_ONLY = "ipm_read_only"


def make_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10, **kw: Any) -> AsyncEngine:
    """The engine. PostgreSQL: a pool sized to one process's concurrent requests (kept open, so a busy
    process does not connect afresh per request), no pre-ping on every checkout (a round trip each);
    ``pool_recycle`` retires old connections and ``TransactionalRoute`` retries a request once when its
    connection turns out dead before anything committed."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kw)
        _configure_sqlite(engine)
        return engine
    kw.setdefault("pool_pre_ping", False)
    kw.setdefault("pool_recycle", 1800)
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, **kw)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, begin transactions (see the "begin" hook below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite has no row locks: take the write lock at the start, so two requests that read then
        # write are serialised instead of failing on lock upgrade. This is our stand-in for FOR UPDATE.
        # A read-only session (GET) begins deferred and never waits for, nor blocks, a writer (WAL).
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def make_session_factory(engine: AsyncEngine, info: dict[str, Any] | None = None) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=True, info=info)


# In the ``info`` of a session whose statements take effect as they run (a read on PostgreSQL).
AUTOCOMMITS = "ipm_autocommits"


def read_only_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read (GET, HEAD): no write transaction on SQLite; on PostgreSQL no
    transaction at all (autocommit), so a read sends no BEGIN and COMMIT around its statements. Under READ
    COMMITTED each statement takes its own snapshot either way, so the reads see the same thing."""
    options: dict[str, Any] = {READ_ONLY: True}
    autocommit = engine.dialect.name == "postgresql"
    if autocommit:
        options["isolation_level"] = "AUTOCOMMIT"
    return make_session_factory(engine.execution_options(**options), {AUTOCOMMITS: True} if autocommit else None)


# --- hot reads at driver level (PostgreSQL) --------------------------------------------------------

class _DriverStatement:
    """A Core select compiled once for asyncpg: its SQL, its parameters in order (with the values the
    statement carries itself), the bind and result processors SQLAlchemy would apply, and a row type
    with the same attribute names as SQLAlchemy's rows."""

    __slots__ = ("binds", "fixed", "names", "results", "row", "sql")

    def __init__(self, stmt: Any, dialect: sa.Dialect, compiled: Any = None) -> None:
        compiled = compiled if compiled is not None else stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        # The values the statement carries itself (a literal, a column's value set to None); the caller binds
        # the rest by name.
        self.fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        self.binds: dict[str, Any] = dict(compiled._bind_processors)
        self.results = [col[3]._cached_result_processor(dialect, None) for col in compiled._result_columns]
        names = list(stmt.selected_columns.keys()) if isinstance(stmt, sa.Select) else \
            [col[0] for col in compiled._result_columns]  # a DML statement's RETURNING
        self.row: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]  # one per statement

    def args(self, params: dict[str, Any]) -> list[Any]:
        values = {**self.fixed, **params}
        out = []
        for name in self.names:
            value, process = values[name], self.binds.get(name)
            out.append(process(value) if process is not None else value)
        return out

    def rows(self, records: Sequence[Any]) -> list[Any]:
        results, row = self.results, self.row
        if not any(results):
            return [row._make(r) for r in records]
        return [row._make([v if p is None else p(v) for p, v in zip(results, r, strict=True)]) for r in records]


_DRIVER: dict[sa.Select[Any], _DriverStatement] = {}
# ``read_rows`` or a function of its signature that runs the statement in its own way (api.deps.Caller.read).
RowReader = Callable[[AsyncSession, sa.Select[Any], dict[str, Any]], Awaitable[list[Any]]]


async def read_rows(session: AsyncSession, stmt: sa.Select[Any], params: dict[str, Any]) -> list[Any]:
    """``(await session.execute(stmt, params)).all()`` for a hot read. In a read-only session on
    PostgreSQL (autocommit: no transaction for the statement to join) the statement runs on an asyncpg
    connection itself, prepared once per connection by asyncpg's statement cache, without SQLAlchemy's
    execution and result machinery (a third of a read's CPU); the rows carry the same names and values.
    While the session holds no connection of its own, the connection is checked out of the pool for this
    statement alone, without a session transaction or a ``Connection`` around it (together another
    quarter of a read's CPU). Elsewhere (SQLite, a write session) it is the ordinary execute."""
    if not session.info.get(AUTOCOMMITS):
        return list((await session.execute(stmt, params)).all())
    bind = session.bind
    assert isinstance(bind, AsyncEngine)  # a read-only session is bound to its engine
    if session.in_transaction():  # the session already has its connection: use it
        conn = await session.connection()
        return await _fetch(await conn.get_raw_connection(), stmt, params, bind.sync_engine, conn.invalidate)
    async with _pooled(bind) as fairy:
        return await _fetch(fairy, stmt, params, bind.sync_engine, lambda exc: greenlet_spawn(fairy.invalidate, exc))


@asynccontextmanager
async def _pooled(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A connection of ``engine``'s pool, bare (no ``Connection``, no transaction), given back on exit."""
    fairy = await engine.raw_connection()
    try:
        yield fairy
    except BaseException as exc:
        if not isinstance(exc, Exception):  # cancelled mid-statement: not fit to go back to the pool
            fairy.invalidate(exc)  # outside a greenlet this terminates the connection at once
        raise
    finally:
        # Back to the pool (no transaction was begun, so its reset sends nothing); in a greenlet, because a
        # pool already full closes an overflow connection instead, and that close awaits the driver.
        await greenlet_spawn(fairy.close)


async def _fetch(fairy: Any, stmt: sa.Select[Any], params: dict[str, Any], engine: sa.Engine,
                 invalidate: Callable[[BaseException], Awaitable[Any]]) -> list[Any]:
    prepared = _DRIVER.get(stmt)
    if prepared is None:
        prepared = _DRIVER[stmt] = _DriverStatement(stmt, engine.dialect)
    args = prepared.args(params)
    records = await _on_driver(engine, fairy, invalidate, prepared.sql, args,
                               lambda driver: driver.fetch(prepared.sql, *args))
    return prepared.rows(records)


async def _on_driver(engine: sa.Engine, fairy: Any, invalidate: Callable[[BaseException], Awaitable[Any]],
                     sql: str, args: Sequence[Any], run: Callable[[Any], Awaitable[Any]]) -> Any:
    """``run(driver)``, one statement on the asyncpg connection, observable as SQLAlchemy's statements are
    (``before_cursor_execute``, with no connection object) and failing with its errors."""
    if engine.dispatch.before_cursor_execute:
        engine.dispatch.before_cursor_execute(None, None, sql, args, None, False)
    driver: Any = fairy.driver_connection
    try:
        return await run(driver)
    except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncpg.InternalClientError) as exc:
        # asyncpg can also report a backend that died between statements as an InternalClientError (its
        # protocol still in the state of the statement it was preparing); only a closed connection is dead.
        if isinstance(exc, asyncpg.InternalClientError) and not driver.is_closed():
            raise
        # As SQLAlchemy does on a disconnect: every pooled connection as old as this one is replaced, this
        # one is dropped, and the error says so (TransactionalRoute retries the request).
        engine.pool._invalidate(fairy, exc, _checkin=False)
        await invalidate(exc)
        raise sa.exc.DBAPIError(sql, args, exc, connection_invalidated=True) from exc
    except asyncpg.IntegrityConstraintViolationError as exc:  # SQLAlchemy's class for it (a unique key)
        raise sa.exc.IntegrityError(sql, args, exc) from exc
    except asyncpg.PostgresError as exc:
        raise sa.exc.DBAPIError(sql, args, exc) from exc


class Driver:
    """A pooled asyncpg connection (``driver_connection``) for statements that are each their own
    transaction: asyncpg sends no BEGIN unless asked, so each commits as it runs. They skip SQLAlchemy's
    execution machinery but stay observable as its statements are (``before_cursor_execute``, with no
    connection object), raise its errors and retire a dead connection as it does (as ``_fetch``)."""

    __slots__ = ("_engine", "_fairy")

    def __init__(self, engine: sa.Engine, fairy: Any) -> None:
        self._engine = engine
        self._fairy = fairy

    async def fetchval(self, sql: str, args: Sequence[Any]) -> Any:
        """The first column of the first row; prepared once per connection by asyncpg's statement cache."""
        return await _on_driver(self._engine, self._fairy, lambda exc: greenlet_spawn(self._fairy.invalidate, exc),
                                sql, args, lambda driver: driver.fetchval(sql, *args))


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Driver]:
    """A connection of ``engine``'s pool at driver level (PostgreSQL), given back on exit."""
    async with _pooled(engine) as fairy:
        yield Driver(engine.sync_engine, fairy)


class CoreResult:
    """What ``execute_core`` returns: the rows a statement returned (none without RETURNING) and how many
    rows it wrote or read, as ``CursorResult`` gives them."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise sa.exc.NoResultFound("no row") if not self.rows else sa.exc.MultipleResultsFound("rows")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


def _driver_write(stmt: Any, names: tuple[str, ...], dialect: sa.Dialect) -> _DriverStatement | None:
    """A Core statement compiled once for asyncpg inside a transaction, for one set of parameter names (an
    INSERT's columns come from them); None where only SQLAlchemy's execution gets it right (defaults it
    computes in Python, expanding IN lists)."""
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    if compiled.insert_prefetch or compiled.update_prefetch or "POSTCOMPILE" in compiled.string:
        return None
    return _DriverStatement(stmt, dialect, compiled)


# Keyed by the statement object: ``execute_core`` is for statements built once (a module's constant, a
# cache by shape); the bound keeps one built per call from growing it without end.
_DRIVER_WRITES: dict[tuple[Any, tuple[str, ...]], _DriverStatement | None] = {}
_DRIVER_WRITES_MAX = 4096


async def execute_core(session: AsyncSession, stmt: Any, params: dict[str, Any] | None = None) -> CoreResult:
    """A Core statement (built once by the caller, its values bound by name) in ``session``'s transaction.
    On PostgreSQL, once the transaction has begun, it runs on the asyncpg connection itself, prepared once
    per connection by asyncpg's statement cache, without SQLAlchemy's execution and result machinery (about
    half a statement's client CPU); it stays observable and fails as SQLAlchemy's statements do
    (``_on_driver``). The statement that begins the transaction, and everything on SQLite, is the ordinary
    execute: SQLAlchemy sends the BEGIN and handles its failure."""
    params = params or {}
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    # SQLAlchemy's asyncpg adapter (sqlalchemy.dialects.postgresql.asyncpg): the transaction it began,
    # and the lock it takes around each of its statements.
    prepared = None
    if conn.dialect.name == "postgresql" and getattr(adapted, "_transaction", None) is not None:
        key = (stmt, tuple(params))
        if key in _DRIVER_WRITES:
            prepared = _DRIVER_WRITES[key]
        else:
            if len(_DRIVER_WRITES) >= _DRIVER_WRITES_MAX:  # a caller that builds its statement per call
                _DRIVER_WRITES.clear()
            prepared = _DRIVER_WRITES[key] = _driver_write(stmt, key[1], conn.dialect)
    if prepared is None:
        result = await conn.execute(stmt, params)
        return CoreResult(list(result.all()) if result.returns_rows else [], result.rowcount)
    args = prepared.args(params)
    sql = prepared.sql
    async with adapted._execute_mutex:
        if prepared.results:  # it returns rows (a SELECT, or RETURNING)
            records = await _on_driver(conn.sync_engine, fairy, conn.invalidate, sql, args,
                                       lambda driver: driver.fetch(sql, *args))
            return CoreResult(prepared.rows(records), len(records))
        status = await _on_driver(conn.sync_engine, fairy, conn.invalidate, sql, args,
                                  lambda driver: driver.execute(sql, *args))
    return CoreResult([], int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else -1)


def locks_database(session: AsyncSession) -> bool:
    """Whether ``session`` holds the whole database's write lock from its first statement (SQLite's
    writing sessions begin IMMEDIATE): a locking read then needs no statement of its own before the read."""
    bind = session.get_bind()
    return bind.dialect.name == "sqlite" and not bind.get_execution_options().get(READ_ONLY)


def is_dead_connection(exc: BaseException) -> bool:
    """The database dropped the connection under us (restart, idle timeout): safe to retry on a new one
    when nothing of the request has committed."""
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def is_unique_violation(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text


async def insert_unique(session: AsyncSession, obj: Any, on_duplicate: Exception) -> None:
    """Insert ``obj`` inside a savepoint; a unique violation raises ``on_duplicate`` (typically a 409)
    and leaves the transaction usable. Concurrent duplicates meet at the unique index, not in Python."""
    try:
        async with session.begin_nested():
            session.add(obj)
            await session.flush()
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise on_duplicate from exc
        raise


def table_of(model: type[SQLModel] | SQLModel) -> sa.Table:
    """The Core table of a table model (or of one of its rows), typed: SQLModel sets ``__table__`` in
    its metaclass for ``table=True`` classes but does not declare it."""
    table = model.__table__  # type: ignore[union-attr]  # undeclared by SQLModel; present on table models
    assert isinstance(table, sa.Table), f"{model!r} is not a table model"
    return table


def attach_ddl(table: sa.Table, created: dict[str, list[str]], dropped: dict[str, list[str]]) -> None:
    """Run each dialect's ``created`` statements after create_all makes ``table`` and its ``dropped`` ones
    before drop_all drops it: the objects a model cannot express (triggers, functions, special indexes),
    which the migrations make with the same SQL."""
    for when, by_dialect in (("after_create", created), ("before_drop", dropped)):
        for dialect, statements in by_dialect.items():
            for stmt in statements:
                event.listen(table, when, sa.DDL(stmt).execute_if(dialect=dialect))


_INSERT_IF_ABSENT: dict[tuple[str, str], Any] = {}  # (table, dialect) -> its statement, built once


def _insert_if_absent_statement(table: sa.Table, dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` of ``table``, its values bound at execution: one statement
    object per table, so neither building it nor its compiled-cache key is paid per row."""
    stmt = _INSERT_IF_ABSENT.get((table.name, dialect))
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).on_conflict_do_nothing()
        _INSERT_IF_ABSENT[(table.name, dialect)] = stmt
    return stmt


async def insert_if_absent(session: AsyncSession, obj: SQLModel) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING`` of ``obj``'s row (both dialects); True if it was inserted.

    For rows many requests or processes may create at once (a counter, a singleton): none of them
    fails and none needs a savepoint. ``obj`` itself is not added to the session.
    """
    table = table_of(obj)
    values = {c.name: getattr(obj, c.name) for c in table.columns}
    # On the session's connection: a Core statement that needs no autoflush of the ORM's pending changes.
    stmt = _insert_if_absent_statement(table, session.get_bind().dialect.name)
    return bool((await execute_core(session, stmt, values)).rowcount)


async def flush_as_one(session: AsyncSession) -> None:
    """``session.flush()``; on PostgreSQL in one statement when all the session holds is new rows and
    changed columns of loaded rows (nothing deleted, no value left for a default or the database to
    fill in): its INSERTs and UPDATEs as data-modifying CTEs, so a write that touches several tables is
    one round trip, without the unit of work's per-object bookkeeping. Foreign keys hold: PostgreSQL
    checks them at the end of the statement. The rows end as a flush leaves them (persistent, clean),
    and an UPDATE that matched no row raises ``StaleDataError`` as the flush does."""
    sync = session.sync_session
    if session.get_bind().dialect.name != "postgresql" or not (sync.new or sync.dirty or sync.deleted):
        await session.flush()
        return
    # As the flush does, before it looks at what is pending. On the fallback below the flush dispatches it
    # again: before_flush listeners must bear running twice (the project's one, kernel.clock's, forgets a
    # cached date).
    sync.dispatch.before_flush(sync, None, None)
    plan = _one_statement(sync)
    if plan is None:
        await session.flush()
        return
    inserts, updates = plan
    if not inserts and not updates:
        return
    params: dict[str, Any] = {}
    for i, (_, row) in enumerate(inserts):
        params.update((f"i{i}_{k}", v) for k, v in row.items())
    for i, (_, _, key, changes) in enumerate(updates):
        params.update((f"u{i}_{k}", v) for k, v in changes.items())
        params.update((f"u{i}_pk{n}", v) for n, v in enumerate(key))
    stmt = _one_statement_sql(tuple(inserts), tuple(updates))
    matched = (await execute_core(session, stmt, params)).one()
    if updates and any(n != 1 for n in matched):
        raise sa.orm.exc.StaleDataError("an UPDATE of the one-statement flush matched no row")
    for obj, _ in inserts:
        sync.expunge(obj)
        make_transient_to_detached(obj)  # the row exists now: as a flush leaves it, persistent and clean
        sync.add(obj)
    for obj, _, _, _ in updates:
        state = sa.inspect(obj)
        for attr in list(state.committed_state):
            set_committed_value(obj, attr, state.dict.get(attr))


_ONE_STATEMENT: dict[tuple[Any, ...], Any] = {}  # the shape of a one-statement flush -> its statement


def _one_statement_sql(inserts: tuple[tuple[Any, dict[str, Any]], ...],
                       updates: tuple[tuple[Any, sa.Table, tuple[Any, ...], dict[str, Any]], ...]) -> Any:
    """The statement of a flush of this shape (which tables take rows, which columns change), built
    once, its values bound by name (``i<n>_<column>``, ``u<n>_<column>``, ``u<n>_pk<k>``)."""
    shape = (tuple(sa.inspect(obj).mapper.local_table.name for obj, _ in inserts),
             tuple((table.name, tuple(changes)) for _, table, _, changes in updates))
    stmt = _ONE_STATEMENT.get(shape)
    if stmt is not None:
        return stmt
    ctes: list[Any] = []
    for i, (obj, row) in enumerate(inserts):
        table = sa.inspect(obj).mapper.local_table
        ctes.append(sa.insert(table).values({k: sa.bindparam(f"i{i}_{k}", type_=table.c[k].type) for k in row})
                    .cte(f"ins_{i}"))
    counts: list[Any] = []
    for i, (obj, table, _, changes) in enumerate(updates):
        keys = sa.inspect(obj).mapper.primary_key
        cte = (sa.update(table).where(*(c == sa.bindparam(f"u{i}_pk{n}", type_=c.type) for n, c in enumerate(keys)))
               .values({k: sa.bindparam(f"u{i}_{k}", type_=table.c[k].type) for k in changes})
               .returning(sa.literal(1)).cte(f"upd_{i}"))
        ctes.append(cte)
        counts.append(sa.select(sa.func.count()).select_from(cte).scalar_subquery())
    stmt = _ONE_STATEMENT[shape] = (sa.select(*counts) if counts else sa.select(sa.literal(1))).add_cte(*ctes)
    return stmt


_Plan = tuple[list[tuple[Any, dict[str, Any]]], list[tuple[Any, sa.Table, tuple[Any, ...], dict[str, Any]]]]


def _one_statement(sync: Session) -> _Plan | None:
    """What ``flush_as_one`` writes: the new rows (in the order they were added, every column), and each
    changed row's table, key and changed columns; None when a flush must do it."""
    if sync.deleted:
        return None
    inserts: list[tuple[Any, dict[str, Any]]] = []
    for state in sorted((sa.inspect(o) for o in sync.new), key=lambda st: st.insert_order):
        mapper = state.mapper
        if len(mapper.tables) != 1:
            return None
        row = {}
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            value = state.dict.get(prop.key)
            if value is None and (column.primary_key or column.default is not None
                                  or column.server_default is not None):
                return None
            row[column.key] = value
        inserts.append((state.obj(), row))
    updates: list[tuple[Any, sa.Table, tuple[Any, ...], dict[str, Any]]] = []
    for obj in sync.dirty:
        state = sa.inspect(obj)
        mapper = state.mapper
        if len(mapper.tables) != 1 or mapper.version_id_col is not None or state.key is None:
            return None
        changes: dict[str, Any] = {}
        for attr, old in state.committed_state.items():
            prop = mapper.attrs.get(attr)
            if not isinstance(prop, ColumnProperty) or prop.columns[0].primary_key:
                return None
            value = state.dict.get(attr)
            if old is NO_VALUE or old != value:
                changes[prop.columns[0].key] = value
        if not changes:
            continue
        table = mapper.local_table
        if any(c.onupdate is not None or c.server_onupdate is not None for c in table.c):
            return None
        updates.append((obj, table, tuple(state.key[1]), changes))
    return inserts, updates


async def insert_absent(session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """``INSERT … ON CONFLICT DO NOTHING`` of many rows of ``table`` (both dialects), in the order given:
    rows that writers may insert at once should come sorted, so that two of them never wait on each
    other's rows in opposite orders (a deadlock)."""
    if rows:
        conn = await session.connection()
        await conn.execute(_insert_if_absent_statement(table, conn.dialect.name), rows)


async def serialise(session: AsyncSession, name: str) -> None:
    """Hold a database-wide lock named ``name`` until the session's transaction ends, so work that
    every process does at start-up runs one process at a time. PostgreSQL: an advisory transaction lock;
    SQLite: the first statement's ``BEGIN IMMEDIATE`` already holds the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(name.encode())  # a stable 32-bit key, fits the bigint the function takes
        await session.exec(sa.text("SELECT pg_advisory_xact_lock(:key)"), params={"key": key})  # type: ignore[call-overload]  # exec() is typed for select()s only
    else:
        await session.exec(sa.text("SELECT 1"))  # type: ignore[call-overload]  # text(): see above


M = TypeVar("M", bound=SQLModel)


async def get_or_404(session: AsyncSession, model: type[M], obj_id: str, *, lock: bool = False,
                     visible: Callable[[M], bool] | Any | None = None, label: str | None = None) -> M:
    """The row of ``model`` with ``obj_id``, or ``NotFound``. ``lock`` takes ``FOR UPDATE`` (SQLite: the
    write lock is already held) and refreshes a copy already in the session. ``visible`` is either a
    predicate on the row or a SQL condition; a row the caller may not see is ``NotFound`` too, so another
    organisation's object is invisible for every verb."""
    from kernel.errors import NotFound  # kernel.errors imports nothing of ours; kept local for clarity

    if visible is None or callable(visible):
        stmt = _BY_ID.get((model, lock))
        if stmt is None:
            stmt = _BY_ID[(model, lock)] = _by_id(model, lock, None)
    else:
        stmt = _by_id(model, lock, visible)
    row = (await session.execute(stmt, {"row_id": obj_id})).scalars().one_or_none()
    if row is None or (callable(visible) and not visible(row)):
        raise NotFound(_not_found(model, obj_id, label))
    return row


_BY_ID: dict[tuple[type[SQLModel], bool], Any] = {}  # get_or_404's statements without a SQL condition


def _by_id(model: type[SQLModel], lock: bool, visible: Any) -> Any:
    pk = table_of(model).c.id  # every table's key is ``id``
    stmt = select(model).where(pk == sa.bindparam("row_id", type_=pk.type))
    if visible is not None:
        stmt = stmt.where(visible)
    if lock:
        # populate_existing: a row already in the session is refreshed by the locked read, so the caller
        # judges the row as it is now, not as it was before the lock was granted.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return stmt


def _not_found(model: type[SQLModel], obj_id: str, label: str | None) -> str:
    return f"{label or table_of(model).name.rstrip('s').replace('_', ' ')} {obj_id} not found"


