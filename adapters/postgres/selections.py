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

#: Items with their flags as of now. ``already_lead`` follows the lead table,
#: so a pre-lead that became a lead after the selection was made shows it; the
#: other flags are what was found when the selection was made.
_LIVE_ITEMS = """
    SELECT i.selection_id, i.prelead_id, i.position, p.cnpj, p.status,
           coalesce(l.merged_into, l.id) AS lead_id,
           CASE WHEN l.id IS NULL THEN '{}'::text[] ELSE ARRAY['already_lead'] END
               || array_remove(i.flags, 'already_lead') AS flags
      FROM selection_item i
      JOIN prelead p ON p.id = i.prelead_id
      LEFT JOIN lead l ON l.cnpj = p.cnpj
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
        flags, statuses = await self._counts([key])
        return _selection(row, flags.get(key, {}), statuses.get(key, {}))

    async def _counts(
        self, keys: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, dict[str, int]], dict[uuid.UUID, dict[str, int]]]:
        """Items per flag and per pre-lead status, for each selection."""
        rows = await self.conn.fetch(
            f"""
            WITH items AS ({_LIVE_ITEMS} WHERE i.selection_id = ANY($1::uuid[]))
            SELECT selection_id, 'flag' AS what, flag AS value, count(*) AS n
              FROM items, unnest(flags) AS flag GROUP BY selection_id, flag
            UNION ALL
            SELECT selection_id, 'status', status, count(*) FROM items
             GROUP BY selection_id, status
            """,
            keys,
        )
        flags: dict[uuid.UUID, dict[str, int]] = {}
        statuses: dict[uuid.UUID, dict[str, int]] = {}
        for row in rows:
            target = flags if row["what"] == "flag" else statuses
            target.setdefault(row["selection_id"], {})[row["value"]] = row["n"]
        return flags, statuses

    async def list(self, page: PageRequest) -> Page:
        total = await self.conn.fetchval("SELECT count(*) FROM selection")
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM selection s ORDER BY s.created_at DESC, s.id DESC "
            "LIMIT $1 OFFSET $2",
            page.per_page,
            page.offset,
        )
        flags, statuses = await self._counts([row["id"] for row in rows])
        return Page(
            items=tuple(
                _selection(row, flags.get(row["id"], {}), statuses.get(row["id"], {}))
                for row in rows
            ),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def items(self, selection_id: str, page: PageRequest, flag: SelectionFlag | None) -> Page:
        key = uuid.UUID(selection_id)
        condition = "" if flag is None else " AND $2 = ANY (flags)"
        filters: list[Any] = [key] if flag is None else [key, str(flag)]
        live = f"{_LIVE_ITEMS} WHERE i.selection_id = $1"
        total = await self.conn.fetchval(
            f"SELECT count(*) FROM ({live}) items WHERE true{condition}", *filters
        )
        limit, offset = len(filters) + 1, len(filters) + 2
        rows = await self.conn.fetch(
            f"SELECT * FROM ({live}) items WHERE true{condition} "
            f"ORDER BY position LIMIT ${limit} OFFSET ${offset}",
            *filters,
            page.per_page,
            page.offset,
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
