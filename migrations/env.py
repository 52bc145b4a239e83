"""Alembic environment: runs migrations over SQLAlchemy's asyncpg driver.

The URL comes from the ``sqlalchemy.url`` option that
``adapters.postgres.migrate`` sets, never from a file, so the embedded
database and a real server migrate the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config

#: Bounds each migration's waits so a long-running query cannot block a deploy
#: indefinitely: it fails fast and can be retried.
LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "10min"


def _run(connection: Connection) -> None:
    connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
    connection.execute(text(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'"))
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
