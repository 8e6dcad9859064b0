"""Alembic runs on the app's own engine settings (IPM_DATABASE_URL), SQLite or PostgreSQL."""

import asyncio
from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context
from kernel.db import make_engine, metadata
from kernel.discovery import import_all
from kernel.settings import get_settings
from market.assets.models import SEARCH_OBJECT_PREFIXES

import_all()  # every table
config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.attributes.get("url") or get_settings().database_url


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Search indexes made by hand in 0002 (and FTS5's shadow tables) are not in the models.
    return not (name or "").startswith(SEARCH_OBJECT_PREFIXES)


def _configure(connection: Connection | None = None, **kw: object) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=_url().startswith("sqlite"), include_name=_include_name, **kw)


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = make_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
