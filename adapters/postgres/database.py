"""PostgreSQL engine and migrations.

One SQLAlchemy async engine (asyncpg driver) per process. Code that needs the
raw asyncpg connection (COPY, the read-side queries) borrows it from the
engine's pool, so there is a single pool to size and close.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


def migrate(database_url: str, revision: str = "head", *, app_role: str | None = None) -> None:
    """Run Alembic migrations up to ``revision``, then grant ``app_role`` its privileges.

    Blocking; call it from a thread in async code. The grants need the
    tables of the latest revision, so they run only when migrating to head.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    command.upgrade(config, revision)
    if app_role is not None and revision == "head":
        asyncio.run(prepare_app_role(database_url, app_role))


#: Tables the API reads and writes inside a tenant or host scope.
APP_READ_WRITE_TABLES = (
    "tenant",
    "plan",
    "account",
    "auth_session",
    "refresh_token",
    "account_token",
    "api_key",
    "prelead",
    "lead",
    "credit_account",
    "credit_hold",
    "credit_lot",
    "credit_pending",
    "notification_outbox",
    "billing_subscription",
    "webhook_endpoint",
    "webhook_delivery",
    "external_company",
    "external_search",
    "selection",
    "selection_item",
    "pipeline",
    "pipeline_stage",
    "lead_contact",
    "interaction",
    "lead_note",
    "lead_task",
    "lead_field",
    "opt_out",
    "qualification_job",
    "qualification_flow",
    "message_send",
    "sender_number",
    "unmatched_reply",
)
#: Append-only for the API: audit events, credit entries, received Stripe
#: events and the lead's event history are never changed.
APP_APPEND_ONLY_TABLES = (
    "audit_event",
    "credit_entry",
    "stripe_event",
    "lead_event",
    "provider_event",
)


def app_role_grants(role: str) -> list[str]:
    """The statements that give the application role what it needs and nothing more.

    The role owns nothing, so every row-level security policy applies to it.
    The registry schema is granted again at each publish, because a month
    arrives as a new schema.
    """
    quoted = f'"{role}"'
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(APP_READ_WRITE_TABLES)} TO {quoted}",
        f"GRANT SELECT, INSERT ON {', '.join(APP_APPEND_ONLY_TABLES)} TO {quoted}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {quoted}",
    ]
    return statements + registry_grants(role)


def registry_grants(role: str) -> list[str]:
    quoted = f'"{role}"'
    return [
        f"GRANT USAGE ON SCHEMA registry TO {quoted}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA registry TO {quoted}",
    ]


async def app_role_exists(conn: asyncpg.Connection, role: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role))


async def prepare_app_role(database_url: str, role: str) -> None:
    """Create the application role when missing (and allowed), then grant it its privileges.

    Creating a role needs CREATEROLE; where the migrating user lacks it, the
    operator creates the role (with a password) and this only grants.
    """
    conn = await asyncpg.connect(asyncpg_url(database_url))
    try:
        if not await app_role_exists(conn, role):
            try:
                await conn.execute(f'CREATE ROLE "{role}" LOGIN')
            except asyncpg.DuplicateObjectError:
                pass  # another process created it in between
            except asyncpg.InsufficientPrivilegeError as error:
                raise RuntimeError(
                    f"the database role {role!r} does not exist and this user may not create it; "
                    f"create it with CREATE ROLE {role} LOGIN PASSWORD '...' and set APP_DATABASE_URL"
                ) from error
        async with conn.transaction():
            for statement in app_role_grants(role):
                await conn.execute(statement)
    finally:
        await conn.close()


def app_database_url(database_url: str, role: str) -> str:
    """``database_url`` with its user replaced by ``role`` and no password."""
    parts = urlsplit(asyncpg_url(database_url))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{role}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
