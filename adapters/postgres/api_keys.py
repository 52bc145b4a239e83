"""Tenant API keys: created once, shown once, stored as a SHA-256 digest.

A key reads ``gar_<prefix>_<secret>``. The prefix is stored in clear, so a
lookup is one index probe. The secret is 32 random bytes, which no brute force
can guess, so a fast digest is enough (passwords need a slow one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import raw_connection

_KEY_PREFIX = "gar_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class PostgresApiKeys:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def resolve(self, key: str) -> str | None:
        """Return the tenant id of an active key, or None for an unknown or revoked one."""
        parts = key.split("_")
        if len(parts) != 3 or f"{parts[0]}_" != _KEY_PREFIX:
            return None
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow(
                "SELECT tenant_id, key_hash FROM api_key WHERE prefix = $1 AND revoked_at IS NULL",
                parts[1],
            )
        if row is None or not hmac.compare_digest(row["key_hash"], _digest(key)):
            return None
        return str(row["tenant_id"])

    async def create_tenant_with_key(self, name: str) -> tuple[str, str]:
        """Create a tenant and its first API key; return (tenant id, key in clear)."""
        tenant_id = uuid.uuid4()
        async with raw_connection(self._engine) as conn, conn.transaction():
            await conn.execute("INSERT INTO tenant (id, name) VALUES ($1, $2)", tenant_id, name)
            key = await _insert_key(conn, tenant_id)
        return str(tenant_id), key

    async def reissue_named_tenant_key(self, name: str) -> tuple[str, str]:
        """Give the tenant called ``name`` a new key and revoke its others, creating it if absent.

        The demo runs this on every start: keys are stored as digests, so an old
        key cannot be shown again, and a new one replaces it.
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
    prefix = secrets.token_hex(4)
    # token_urlsafe may contain "_", the separator of the key's parts.
    key = f"{_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32).replace('_', '-')}"
    await conn.execute(
        "INSERT INTO api_key (id, tenant_id, prefix, key_hash) VALUES ($1, $2, $3, $4)",
        uuid.uuid4(),
        tenant_id,
        prefix,
        _digest(key),
    )
    return key
