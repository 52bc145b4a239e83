"""Row-level security as the application role: no tenant setting, no rows.

The API connects as a role that owns no table, so the policies apply to it
whatever the query says. These tests connect as that role, the way the API
does, and show that forgetting the tenant filter cannot leak a row.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.postgres.database import app_database_url
from domain.identity import Role
from tests.support.fixtures import APP_ROLE
from tests.support.identity import create_api_key, create_tenant, create_user_session

#: Tenant-owned tables this module fills with rows of two tenants.
POPULATED = (
    "tenant",
    "account",
    "auth_session",
    "refresh_token",
    "account_token",
    "api_key",
    "prelead",
    "lead",
    "audit_event",
)


async def tenant_tables(conn: asyncpg.Connection) -> list[str]:
    """Every table of the public schema that has a tenant_id column, plus tenant itself."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT c.table_name
        FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'
          AND t.table_type = 'BASE TABLE'
        ORDER BY 1
        """
    )
    return ["tenant", *(row["table_name"] for row in rows)]


@pytest.fixture
async def two_tenants(database_url: str) -> AsyncIterator[tuple[str, str]]:
    """Two tenants with a row in every tenant-owned table."""
    tenants = []
    for name in ("Isolamento A", "Isolamento B"):
        tenant_id = await create_tenant(database_url, name)
        account_id, session_id, _email = await create_user_session(
            database_url, tenant_id, Role.ADMIN
        )
        await create_api_key(database_url, tenant_id)

        conn = await asyncpg.connect(database_url)
        try:
            tenant = uuid.UUID(tenant_id)
            await conn.execute(
                "INSERT INTO refresh_token (token_hash, session_id, tenant_id, expires_at) "
                "VALUES ($1, $2, $3, now() + interval '1 day')",
                uuid.uuid4().hex,
                uuid.UUID(session_id),
                tenant,
            )
            await conn.execute(
                "INSERT INTO account_token (token_hash, account_id, tenant_id, purpose, expires_at) "
                "VALUES ($1, $2, $3, 'password_reset', now() + interval '1 hour')",
                uuid.uuid4().hex,
                uuid.UUID(account_id),
                tenant,
            )
            for table in ("prelead", "lead"):
                await conn.execute(
                    f"INSERT INTO {table} (tenant_id, cnpj) VALUES ($1, '11222333000181')", tenant
                )
            await conn.execute(
                "INSERT INTO audit_event (tenant_id, actor_type, action) VALUES ($1, 'system', 'test.row')",
                tenant,
            )
        finally:
            await conn.close()
        tenants.append(tenant_id)
    yield tenants[0], tenants[1]


@pytest.fixture
async def as_app(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(app_database_url(database_url, APP_ROLE))
    try:
        yield conn
    finally:
        await conn.close()


async def test_every_tenant_table_has_row_level_security(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await tenant_tables(conn)
        enabled = {
            row["relname"]: row["relrowsecurity"]
            for row in await conn.fetch(
                "SELECT relname, relrowsecurity FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            )
        }
    finally:
        await conn.close()

    assert set(POPULATED) <= set(tables)
    assert [table for table in tables if not enabled[table]] == []


async def test_plain_select_without_tenant_setting_returns_no_rows(
    database_url: str, as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    owner = await asyncpg.connect(database_url)
    try:
        tables = await tenant_tables(owner)
        owner_counts = {t: await owner.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
    finally:
        await owner.close()

    app_counts = {t: await as_app.fetchval(f"SELECT count(*) FROM {t}") for t in tables}

    assert all(owner_counts[t] > 0 for t in POPULATED), owner_counts
    assert app_counts == {t: 0 for t in tables}


async def test_tenant_setting_shows_only_that_tenant(
    as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    first, second = two_tenants
    tables = await tenant_tables(as_app)

    async with as_app.transaction():
        await as_app.execute("SELECT set_config('garimpo.tenant_id', $1, true)", first)
        for table in tables:
            column = "id" if table == "tenant" else "tenant_id"
            seen = {str(v) for (v,) in await as_app.fetch(f"SELECT {column} FROM {table}")}
            # Global opt-outs (no tenant) apply to every tenant, so each tenant reads them.
            shared = {"None"} if table == "opt_out" else set()
            assert seen <= {first} | shared, (table, seen)
        assert await as_app.fetchval("SELECT count(*) FROM api_key") >= 1

    # The setting was SET LOCAL: the next transaction on the connection sees nothing again.
    assert await as_app.fetchval("SELECT count(*) FROM api_key") == 0
    assert second not in {str(v) for (v,) in await as_app.fetch("SELECT id FROM tenant")}


async def test_writing_another_tenants_row_is_refused(
    as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    first, second = two_tenants

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_app.transaction():
            await as_app.execute("SELECT set_config('garimpo.tenant_id', $1, true)", first)
            await as_app.execute(
                "INSERT INTO prelead (tenant_id, cnpj) VALUES ($1, '11444777000161')",
                uuid.UUID(second),
            )

    async with as_app.transaction():
        await as_app.execute("SELECT set_config('garimpo.tenant_id', $1, true)", first)
        updated = await as_app.execute(
            "UPDATE api_key SET name = 'tomada' WHERE tenant_id = $1", uuid.UUID(second)
        )
        deleted = await as_app.execute("DELETE FROM lead WHERE tenant_id = $1", uuid.UUID(second))
    assert (updated, deleted) == ("UPDATE 0", "DELETE 0")


async def test_host_setting_sees_host_rows_but_no_tenant_rows(
    database_url: str, as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    host_key_id, _key = await create_api_key(database_url, None)

    async with as_app.transaction():
        await as_app.execute("SELECT set_config('garimpo.host', 'on', true)")
        keys = {str(v) for (v,) in await as_app.fetch("SELECT id FROM api_key")}
        tenant_keys = await as_app.fetchval(
            "SELECT count(*) FROM api_key WHERE tenant_id IS NOT NULL"
        )
        leads = await as_app.fetchval("SELECT count(*) FROM lead")

    assert host_key_id in keys
    assert (tenant_keys, leads) == (0, 0)


async def test_the_application_role_cannot_switch_security_off(
    as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    owners = await as_app.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = $1", APP_ROLE
    )
    assert owners == []

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_app.execute("ALTER TABLE lead DISABLE ROW LEVEL SECURITY")

    # row_security = off makes a query fail rather than skip a policy.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_app.transaction():
            await as_app.execute("SET LOCAL row_security = off")
            await as_app.fetch("SELECT * FROM lead")


async def test_audit_events_cannot_be_changed(
    as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    first, _second = two_tenants

    for statement in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with as_app.transaction():
                await as_app.execute("SELECT set_config('garimpo.tenant_id', $1, true)", first)
                await as_app.execute(statement)


async def test_opt_out_visibility_by_tenant(
    database_url: str, as_app: asyncpg.Connection, two_tenants: tuple[str, str]
) -> None:
    first, second = two_tenants
    marker = uuid.uuid4().bytes
    owner = await asyncpg.connect(database_url)
    try:
        await owner.execute(
            "INSERT INTO opt_out (tenant_id, kind, value_hash, source) VALUES "
            "(NULL, 'phone', $1, 'global'), ($2, 'phone', $1, 'first')",
            marker,
            uuid.UUID(first),
        )
    finally:
        await owner.close()

    async def sources(setting: str | None, value: str) -> set[str]:
        async with as_app.transaction():
            if setting is not None:
                await as_app.execute("SELECT set_config($1, $2, true)", setting, value)
            rows = await as_app.fetch("SELECT source FROM opt_out WHERE value_hash = $1", marker)
        return {row["source"] for row in rows}

    assert await sources(None, "") == set()
    assert await sources("garimpo.tenant_id", first) == {"global", "first"}
    assert await sources("garimpo.tenant_id", second) == {"global"}
    assert await sources("garimpo.host", "on") == {"global"}

    # A tenant may add a global row (an opt-out reply applies to everyone),
    # never a row of another tenant.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_app.transaction():
            await as_app.execute("SELECT set_config('garimpo.tenant_id', $1, true)", second)
            await as_app.execute(
                "INSERT INTO opt_out (tenant_id, kind, value_hash, source) "
                "VALUES ($1, 'email', $2, 'forged')",
                uuid.UUID(first),
                marker,
            )
