"""Audit events in PostgreSQL: appended in the caller's transaction, read by the host."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from adapters.postgres.ids import optional_uuid
from domain.audit import AuditEvent


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


class PostgresAuditLog:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, event: AuditEvent) -> None:
        actor = event.actor
        await self._conn.execute(
            """
            INSERT INTO audit_event (
                tenant_id, actor_type, actor_id, actor_label, acting_as_tenant, action,
                target_type, target_id, ip, user_agent, request_id, before, after, detail
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11, $12::jsonb, $13::jsonb, $14::jsonb)
            """,
            optional_uuid(event.tenant_id),
            actor.type.value,
            optional_uuid(actor.id),
            actor.label,
            optional_uuid(actor.acting_as_tenant),
            event.action,
            event.target_type,
            event.target_id,
            actor.ip,
            actor.user_agent,
            actor.request_id,
            _json_or_none(event.before),
            _json_or_none(event.after),
            _json_or_none(event.detail),
        )

    async def search(
        self,
        *,
        tenant_id: str | None = None,
        action_prefix: str | None = None,
        actor_id: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Return (total, one page of events), newest first, with the filters given."""
        clauses: list[str] = []
        values: list[Any] = []

        def bind(value: Any) -> str:
            values.append(value)
            return f"${len(values)}"

        if tenant_id is not None:
            clauses.append(
                f"(tenant_id = {bind(uuid.UUID(tenant_id))} OR acting_as_tenant = ${len(values)})"
            )
        if action_prefix:
            clauses.append(f"starts_with(action, {bind(action_prefix)})")
        if actor_id is not None:
            clauses.append(f"actor_id = {bind(uuid.UUID(actor_id))}")
        if since is not None:
            clauses.append(f"occurred_at >= {bind(since)}")
        if until is not None:
            clauses.append(f"occurred_at < {bind(until)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        total = await self._conn.fetchval(f"SELECT count(*) FROM audit_event {where}", *values)
        rows = await self._conn.fetch(
            f"""
            SELECT id, occurred_at, tenant_id, actor_type, actor_id, actor_label, acting_as_tenant,
                   action, target_type, target_id, host(ip) AS ip, user_agent, request_id,
                   before, after, detail
            FROM audit_event {where}
            ORDER BY occurred_at DESC, id DESC
            OFFSET {bind(offset)} LIMIT {bind(limit)}
            """,
            *values,
        )
        return int(total), [_event_row(row) for row in rows]


def _event_row(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(row)
    for key in ("tenant_id", "actor_id", "acting_as_tenant"):
        if item[key] is not None:
            item[key] = str(item[key])
    for key in ("before", "after", "detail"):
        # Pooled connections decode jsonb already; a plain asyncpg one gives text.
        if isinstance(item[key], str):
            item[key] = json.loads(item[key])
    item["occurred_at"] = item["occurred_at"].isoformat()
    return item
