"""Tenants with a ready API key, created over the owner connection.

The demo and the test suites need a tenant and a key in one call, before any
host admin exists to create them through the host API.
"""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import raw_connection
from adapters.security.keys import digest, new_api_key
from domain.identity import TENANT_PERMISSIONS


class PostgresProvisioning:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_tenant_with_key(self, name: str) -> tuple[str, str]:
        """Create a tenant and an API key holding every tenant scope; return (tenant id, key)."""
        tenant_id = uuid.uuid4()
        async with raw_connection(self._engine) as conn, conn.transaction():
            await conn.execute("INSERT INTO tenant (id, name) VALUES ($1, $2)", tenant_id, name)
            key = await _insert_key(conn, tenant_id)
        return str(tenant_id), key

    async def reissue_named_tenant_key(self, name: str) -> tuple[str, str]:
        """Give the tenant called ``name`` a new key and revoke its others, creating it if absent.

        Keys are stored as digests, so an old key cannot be shown again; the
        demo prints a new one on every start.
        """
        async with raw_connection(self._engine) as conn, conn.transaction():
            tenant_id = await conn.fetchval(
                "SELECT id FROM tenant WHERE name = $1 ORDER BY created_at LIMIT 1", name
            )
            if tenant_id is None:
                tenant_id = uuid.uuid4()
                await conn.execute("INSERT INTO tenant (id, name) VALUES ($1, $2)", tenant_id, name)
            await conn.execute(
                "UPDATE api_key SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL",
                tenant_id,
            )
            key = await _insert_key(conn, tenant_id)
        return str(tenant_id), key


async def _insert_key(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> str:
    prefix, key = new_api_key()
    await conn.execute(
        "INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, scopes) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.uuid4(),
        tenant_id,
        "chave inicial",
        prefix,
        digest(key),
        sorted(TENANT_PERMISSIONS),
    )
    return key
