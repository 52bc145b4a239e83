"""API keys in PostgreSQL: the repository the use cases work through.

Rows are filtered by row-level security: a tenant scope sees the tenant's
keys, a host scope sees the host keys, so ``get`` by id answers None for a
key of anyone else.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from adapters.postgres.ids import optional_text, optional_uuid, parse_uuid
from adapters.security.keys import digest, new_api_key
from application.api_keys import ApiKey, NewKeyMaterial
from domain.identity import Permission

_COLUMNS = (
    "id, tenant_id, name, prefix, scopes, created_at, expires_at, last_used_at, "
    "revoked_at, created_by, replaced_by"
)


def new_key_material() -> NewKeyMaterial:
    prefix, key = new_api_key()
    return NewKeyMaterial(prefix=prefix, key=key, key_hash=digest(key))


def _key(row: asyncpg.Record) -> ApiKey:
    known = {p.value for p in Permission}
    return ApiKey(
        id=str(row["id"]),
        tenant_id=optional_text(row["tenant_id"]),
        name=row["name"],
        prefix=row["prefix"],
        scopes=frozenset(Permission(s) for s in row["scopes"] if s in known),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        created_by=optional_text(row["created_by"]),
        replaced_by=optional_text(row["replaced_by"]),
    )


class PostgresApiKeyRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        tenant_id: str | None,
        name: str,
        material: NewKeyMaterial,
        scopes: frozenset[Permission],
        expires_at: dt.datetime | None,
        created_by: str | None,
    ) -> ApiKey:
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, scopes, expires_at, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            RETURNING {_COLUMNS}
            """,
            uuid.uuid4(),
            optional_uuid(tenant_id),
            name,
            material.prefix,
            material.key_hash,
            sorted(scopes),
            expires_at,
            optional_uuid(created_by),
        )
        return _key(row)

    async def get(self, key_id: str) -> ApiKey | None:
        key_uuid = parse_uuid(key_id)
        if key_uuid is None:
            return None
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM api_key WHERE id = $1", key_uuid)
        return _key(row) if row is not None else None

    async def list(
        self, *, include_inactive: bool, now: dt.datetime, offset: int, limit: int
    ) -> tuple[int, list[ApiKey]]:
        where = (
            ""
            if include_inactive
            else ("WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)")
        )
        values: list[object] = [] if include_inactive else [now]
        total = await self._conn.fetchval(f"SELECT count(*) FROM api_key {where}", *values)
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM api_key {where} ORDER BY created_at DESC, id "
            f"OFFSET ${len(values) + 1} LIMIT ${len(values) + 2}",
            *values,
            offset,
            limit,
        )
        return int(total), [_key(row) for row in rows]

    async def revoke(self, key_id: str, at: dt.datetime) -> ApiKey:
        row = await self._conn.fetchrow(
            f"UPDATE api_key SET revoked_at = $2 WHERE id = $1 RETURNING {_COLUMNS}",
            uuid.UUID(key_id),
            at,
        )
        return _key(row)

    async def retire(self, key_id: str, *, expires_at: dt.datetime, replaced_by: str) -> ApiKey:
        row = await self._conn.fetchrow(
            f"UPDATE api_key SET expires_at = $2, replaced_by = $3 WHERE id = $1 RETURNING {_COLUMNS}",
            uuid.UUID(key_id),
            expires_at,
            uuid.UUID(replaced_by),
        )
        return _key(row)
