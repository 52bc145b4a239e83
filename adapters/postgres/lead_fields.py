"""Custom field definitions of a tenant's leads in PostgreSQL (``lead_field``)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.leads import FieldType, LeadField
from domain.search import Page, PageRequest

_FIELDS_LOCK_SPACE = 0x6669_6C31  # "fil1"
_COLUMNS = "key, label, type, choices, required, position"


def _field(row: asyncpg.Record) -> LeadField:
    return LeadField(
        key=row["key"],
        label=row["label"],
        type=FieldType(row["type"]),
        choices=tuple(row["choices"]),
        required=row["required"],
        position=row["position"],
    )


class PostgresLeadFields:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lead_fields(self) -> list[LeadField]:
        rows = await self.conn.fetch(f"SELECT {_COLUMNS} FROM lead_field ORDER BY position, key")
        return [_field(row) for row in rows]

    async def page(self, page: PageRequest) -> Page:
        total = await self.conn.fetchval("SELECT count(*) FROM lead_field")
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM lead_field ORDER BY position, key OFFSET $1 LIMIT $2",
            page.offset,
            page.per_page,
        )
        return Page(
            items=tuple(_field(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=int(total),
        )

    async def get(self, key: str) -> LeadField | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM lead_field WHERE key = $1", key)
        return None if row is None else _field(row)

    async def lock(self) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(app_tenant()::text))", _FIELDS_LOCK_SPACE
        )

    async def add(self, field: LeadField) -> None:
        await self.conn.execute(
            "INSERT INTO lead_field (tenant_id, key, label, type, choices, required, position) "
            "VALUES (app_tenant(), $1, $2, $3, $4, $5, $6)",
            field.key,
            field.label,
            field.type.value,
            list(field.choices),
            field.required,
            field.position,
        )

    async def update(self, field: LeadField) -> None:
        await self.conn.execute(
            "UPDATE lead_field SET label = $2, choices = $3, required = $4 WHERE key = $1",
            field.key,
            field.label,
            list(field.choices),
            field.required,
        )

    async def set_positions(self, keys: Sequence[str]) -> None:
        await self.conn.execute(
            "UPDATE lead_field f SET position = o.position - 1 "
            "FROM unnest($1::text[]) WITH ORDINALITY AS o (key, position) "
            "WHERE f.key = o.key AND f.position <> o.position - 1",
            list(keys),
        )

    async def remove(self, key: str) -> None:
        await self.conn.execute("DELETE FROM lead_field WHERE key = $1", key)
