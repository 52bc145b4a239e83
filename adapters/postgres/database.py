"""PostgreSQL engine and migrations.

One SQLAlchemy async engine (asyncpg driver) per process. Code that needs the
raw asyncpg connection (COPY, the read-side queries) borrows it from the
engine's pool, so there is a single pool to size and close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """Return ``database_url`` with the asyncpg driver named, as SQLAlchemy wants it."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must start with postgresql://, got {database_url[:20]!r}")


def asyncpg_url(database_url: str) -> str:
    """Return ``database_url`` in the plain form asyncpg accepts."""
    return sqlalchemy_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """Borrow a pooled connection as a plain asyncpg connection."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        yield driver


def migrate(database_url: str, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` (blocking; call from a thread in async code)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    command.upgrade(config, revision)
