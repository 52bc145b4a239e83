"""Selections, their items and the pre-leads they register, in PostgreSQL.

A selection of 5,000 CNPJs is a handful of statements: the pre-leads are
upserted from two arrays, and the items inserted from the ids that come back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from adapters.postgres.ids import optional_uuid, parse_uuid
from domain.audit import Actor
from domain.search import Page, PageRequest
from domain.selections import (
    DEFAULT_MAX_SELECTION_SIZE,
    NewItem,
    PreleadStatus,
    Selection,
    SelectionFlag,
    SelectionItem,
    SelectionOrigin,
)

_COLUMNS = """
    s.id, s.name, s.origin, s.criteria, s.item_count, s.created_by_label, s.created_at,
    s.updated_at
"""


def _selection(
    row: asyncpg.Record, flags: Mapping[str, int], statuses: Mapping[str, int]
) -> Selection:
    criteria = row["criteria"]
    return Selection(
        id=str(row["id"]),
        name=row["name"],
        origin=SelectionOrigin(row["origin"]),
        item_count=row["item_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by_label=row["created_by_label"],
        criteria=json.loads(criteria) if isinstance(criteria, str) else criteria,
        flag_counts=dict(flags),
        status_counts=dict(statuses),
    )


class PostgresSelections:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def max_selection_size(self) -> int:
        size = await self.conn.fetchval(
            "SELECT p.max_selection_size FROM tenant t JOIN plan p ON p.id = t.plan_id "
            "WHERE t.id = app_tenant()"
        )
        return int(size) if size is not None else DEFAULT_MAX_SELECTION_SIZE

    async def add(
        self,
        *,
        name: str,
        origin: SelectionOrigin,
        criteria: Mapping[str, Any] | None,
        items: Sequence[NewItem],
        actor: Actor,
        at: dt.datetime,
    ) -> str:
        cnpjs = [item.cnpj for item in items]
        rows = await self.conn.fetch(
            """
            INSERT INTO prelead (tenant_id, cnpj, source, created_at, updated_at)
            SELECT app_tenant(), cnpj, source, $3, $3
              FROM unnest($1::text[], $2::text[]) AS i (cnpj, source)
            ON CONFLICT (tenant_id, cnpj) DO UPDATE SET updated_at = excluded.updated_at
            RETURNING cnpj, id
            """,
            cnpjs,
            [item.source for item in items],
            at,
        )
        prelead_of = {row["cnpj"]: row["id"] for row in rows}

        selection_id = await self.conn.fetchval(
            "INSERT INTO selection (tenant_id, name, origin, criteria, item_count, created_by, "
            "created_by_label, created_at, updated_at) "
            "VALUES (app_tenant(), $1, $2, $3::jsonb, $4, $5, $6, $7, $7) RETURNING id",
            name,
            str(origin),
            None if criteria is None else json.dumps(dict(criteria), ensure_ascii=False),
            len(items),
            optional_uuid(actor.id),
            actor.label,
            at,
        )
        await self.conn.execute(
            """
            INSERT INTO selection_item (tenant_id, selection_id, prelead_id, position, flags)
            SELECT app_tenant(), $1, prelead_id, position, string_to_array(flags, ',')
              FROM unnest($2::uuid[], $3::int[], $4::text[]) AS i (prelead_id, position, flags)
            """,
            selection_id,
            [prelead_of[cnpj] for cnpj in cnpjs],
            list(range(1, len(items) + 1)),
            # An empty string becomes an empty array through string_to_array.
            [",".join(item.flags) for item in items],
        )
        return str(selection_id)

    async def qualifying(self, cnpjs: Sequence[str]) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT cnpj FROM prelead WHERE cnpj = ANY($1::text[]) AND status = 'qualifying'",
            list(cnpjs),
        )
        return {row["cnpj"] for row in rows}

    async def get(self, selection_id: str, *, for_update: bool = False) -> Selection | None:
        key = parse_uuid(selection_id)
        if key is None:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM selection s WHERE s.id = $1{lock}", key
        )
        if row is None:
            return None
        flags = await self.conn.fetch(
            "SELECT flag, count(*) AS n FROM selection_item, unnest(flags) AS flag "
            "WHERE selection_id = $1 GROUP BY flag",
            key,
        )
        statuses = await self.conn.fetch(
            "SELECT p.status, count(*) AS n FROM selection_item i JOIN prelead p ON p.id = i.prelead_id "
            "WHERE i.selection_id = $1 GROUP BY p.status",
            key,
        )
        return _selection(
            row,
            {r["flag"]: r["n"] for r in flags},
            {r["status"]: r["n"] for r in statuses},
        )

    async def list(self, page: PageRequest) -> Page:
        total = await self.conn.fetchval("SELECT count(*) FROM selection")
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM selection s ORDER BY s.created_at DESC, s.id DESC "
            "LIMIT $1 OFFSET $2",
            page.per_page,
            page.offset,
        )
        return Page(
            items=tuple(_selection(row, {}, {}) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def items(self, selection_id: str, page: PageRequest, flag: SelectionFlag | None) -> Page:
        key = uuid.UUID(selection_id)
        condition = "" if flag is None else " AND $4 = ANY (i.flags)"
        args: list[Any] = [key, page.per_page, page.offset]
        if flag is not None:
            args.append(str(flag))
        total = await self.conn.fetchval(
            "SELECT count(*) FROM selection_item i WHERE i.selection_id = $1"
            + condition.replace("$4", "$2"),
            *([key] if flag is None else [key, str(flag)]),
        )
        rows = await self.conn.fetch(
            f"""
            SELECT i.prelead_id, p.cnpj, i.position, p.status, i.flags, l.id AS lead_id
              FROM selection_item i
              JOIN prelead p ON p.id = i.prelead_id
              LEFT JOIN lead l ON l.cnpj = p.cnpj AND l.merged_into IS NULL
             WHERE i.selection_id = $1{condition}
             ORDER BY i.position
             LIMIT $2 OFFSET $3
            """,
            *args,
        )
        items = tuple(
            SelectionItem(
                prelead_id=str(row["prelead_id"]),
                cnpj=row["cnpj"],
                position=row["position"],
                status=PreleadStatus(row["status"]),
                flags=tuple(SelectionFlag(value) for value in row["flags"]),
                lead_id=None if row["lead_id"] is None else str(row["lead_id"]),
            )
            for row in rows
        )
        return Page(items=items, page=page.page, per_page=page.per_page, total_items=total)

    async def rename(self, selection_id: str, name: str, at: dt.datetime) -> None:
        await self.conn.execute(
            "UPDATE selection SET name = $2, updated_at = $3 WHERE id = $1",
            uuid.UUID(selection_id),
            name,
            at,
        )

    async def delete(self, selection_id: str) -> None:
        await self.conn.execute("DELETE FROM selection WHERE id = $1", uuid.UUID(selection_id))


class PostgresOptOuts:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def matching(self, hashes: Sequence[tuple[str, bytes]]) -> set[tuple[str, bytes]]:
        if not hashes:
            return set()
        # Row-level security shows the tenant's rows and the global ones only.
        rows = await self.conn.fetch(
            "SELECT DISTINCT o.kind, o.value_hash FROM opt_out o "
            "JOIN unnest($1::text[], $2::bytea[]) AS h (kind, value_hash) "
            "ON o.kind = h.kind AND o.value_hash = h.value_hash",
            [kind for kind, _ in hashes],
            [value for _, value in hashes],
        )
        return {(row["kind"], bytes(row["value_hash"])) for row in rows}
