"""Alembic migrations against a real, empty database: up to head, down to base, up again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from adapters.postgres.database import MIGRATIONS_DIR, migrate, sqlalchemy_url


@pytest.fixture
def empty_database_url(database_url: str) -> Iterator[str]:
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"garimpo_migrations_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    yield database_url.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, statement: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(statement)
    finally:
        await conn.close()


def test_migrations_round_trip(empty_database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(empty_database_url))

    migrate(empty_database_url)
    assert (
        asyncio.run(_execute(empty_database_url, "SELECT version_num FROM alembic_version"))
        == ScriptDirectory.from_config(config).get_current_head()
    )

    command.downgrade(config, "base")
    assert asyncio.run(_execute(empty_database_url, "SELECT to_regnamespace('registry')")) is None

    migrate(empty_database_url)
    assert (
        asyncio.run(_execute(empty_database_url, "SELECT to_regnamespace('registry')")) is not None
    )
