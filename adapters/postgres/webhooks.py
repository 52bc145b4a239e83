"""Tenant webhook endpoints and deliveries in PostgreSQL.

Endpoints are removed by setting ``disabled_at``: their deliveries stay in
the log, and everywhere else a removed endpoint reads as unknown.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from adapters.postgres.ids import optional_uuid, parse_uuid
from application.webhooks import AttemptOutcome, ClaimedDelivery
from domain.search import Page, PageRequest
from domain.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint

_ENDPOINT_COLUMNS = "id, tenant_id, url, events, description, created_at, disabled_at"
_DELIVERY_COLUMNS = """
    d.id, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.status,
    d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at,
    d.delivered_at
"""
#: Key space of the advisory lock that serialises a tenant's endpoint registrations.
_ENDPOINT_LOCK_SPACE = 0x7768_6B31  # "whk1"


def _endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        url=row["url"],
        events=tuple(row["events"]),
        description=row["description"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def _delivery(row: asyncpg.Record) -> WebhookDelivery:
    payload = row["payload"]
    return WebhookDelivery(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        endpoint_id=str(row["endpoint_id"]),
        event_id=str(row["event_id"]),
        event_type=row["event_type"],
        payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )


class PostgresWebhooks:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    # --- endpoints ---

    async def add_endpoint(
        self,
        tenant_id: str,
        *,
        url: str,
        events: tuple[str, ...],
        secret: str,
        description: str | None,
    ) -> WebhookEndpoint:
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO webhook_endpoint (tenant_id, url, events, secret, description)
            VALUES ($1, $2, $3, $4, $5)
            RETURNING {_ENDPOINT_COLUMNS}
            """,
            uuid.UUID(tenant_id),
            url,
            list(events),
            secret,
            description,
        )
        assert row is not None
        return _endpoint(row)

    async def count_active_endpoints(self) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM webhook_endpoint "
            "WHERE tenant_id = app_tenant() AND disabled_at IS NULL"
        )
        return int(count)

    async def lock_endpoints(self) -> None:
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(app_tenant()::text))",
            _ENDPOINT_LOCK_SPACE,
        )

    async def endpoints(self, page: PageRequest) -> Page:
        where = "WHERE tenant_id = app_tenant() AND disabled_at IS NULL"
        total = await self._conn.fetchval(f"SELECT count(*) FROM webhook_endpoint {where}")
        rows = await self._conn.fetch(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoint {where} "
            "ORDER BY created_at, id OFFSET $1 LIMIT $2",
            page.offset,
            page.per_page,
        )
        return Page(
            items=tuple(_endpoint(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=int(total),
        )

    async def endpoint(
        self, endpoint_id: str, *, include_removed: bool = False
    ) -> WebhookEndpoint | None:
        key = parse_uuid(endpoint_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoint "
            "WHERE id = $1 AND tenant_id = app_tenant() AND ($2 OR disabled_at IS NULL)",
            key,
            include_removed,
        )
        return _endpoint(row) if row else None

    async def disable_endpoint(self, endpoint_id: str, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE webhook_endpoint SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL",
            uuid.UUID(endpoint_id),
            now,
        )

    async def subscribed_endpoints(self, event_type: str) -> list[WebhookEndpoint]:
        rows = await self._conn.fetch(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoint "
            "WHERE tenant_id = app_tenant() AND disabled_at IS NULL AND $1 = ANY (events) "
            "ORDER BY created_at, id",
            event_type,
        )
        return [_endpoint(row) for row in rows]

    # --- deliveries ---

    async def enqueue(
        self,
        tenant_id: str,
        endpoint_id: str,
        *,
        event_id: str,
        event_type: str,
        payload: dict[str, Any],
    ) -> bool:
        status = await self._conn.execute(
            """
            INSERT INTO webhook_delivery (tenant_id, endpoint_id, event_id, event_type, payload)
            VALUES ($1, $2, $3, $4, $5::jsonb)
            ON CONFLICT (endpoint_id, event_id) DO NOTHING
            """,
            uuid.UUID(tenant_id),
            uuid.UUID(endpoint_id),
            uuid.UUID(event_id),
            event_type,
            json.dumps(payload, ensure_ascii=False),
        )
        return bool(status == "INSERT 0 1")

    async def deliveries(self, endpoint_id: str, page: PageRequest) -> Page:
        key = uuid.UUID(endpoint_id)
        total = await self._conn.fetchval(
            "SELECT count(*) FROM webhook_delivery WHERE endpoint_id = $1", key
        )
        rows = await self._conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_delivery d WHERE d.endpoint_id = $1 "
            "ORDER BY d.created_at DESC, d.id OFFSET $2 LIMIT $3",
            key,
            page.offset,
            page.per_page,
        )
        return Page(
            items=tuple(_delivery(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=int(total),
        )

    async def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        key = parse_uuid(delivery_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"""
            SELECT {_DELIVERY_COLUMNS}
              FROM webhook_delivery d
              JOIN webhook_endpoint e ON e.id = d.endpoint_id
             WHERE d.id = $1 AND d.tenant_id = app_tenant() AND e.disabled_at IS NULL
            """,
            key,
        )
        return _delivery(row) if row else None

    async def make_due(self, delivery_id: str, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE webhook_delivery SET status = 'pending', next_attempt_at = $2 WHERE id = $1",
            uuid.UUID(delivery_id),
            now,
        )

    async def claim_due(
        self,
        now: dt.datetime,
        limit: int,
        lease_until: dt.datetime,
        *,
        tenant_id: str | None = None,
        delivery_id: str | None = None,
    ) -> list[ClaimedDelivery]:
        rows = await self._conn.fetch(
            f"""
            WITH due AS (
                SELECT id FROM webhook_delivery
                 WHERE status = 'pending' AND next_attempt_at <= $1
                   AND ($3::uuid IS NULL OR tenant_id = $3)
                   AND ($4::uuid IS NULL OR id = $4)
                 ORDER BY next_attempt_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE webhook_delivery w SET next_attempt_at = $5
                  FROM due WHERE w.id = due.id
                RETURNING w.*
            )
            SELECT {_DELIVERY_COLUMNS}, e.url, e.secret, e.disabled_at IS NOT NULL AS removed
              FROM claimed d
              JOIN webhook_endpoint e ON e.id = d.endpoint_id
            """,
            now,
            limit,
            optional_uuid(tenant_id),
            optional_uuid(delivery_id),
            lease_until,
        )
        return [
            ClaimedDelivery(
                delivery=_delivery(row),
                url=row["url"],
                secret=row["secret"],
                endpoint_removed=row["removed"],
            )
            for row in rows
        ]

    async def record_attempt(self, delivery_id: str, outcome: AttemptOutcome) -> None:
        await self._conn.execute(
            """
            UPDATE webhook_delivery
               SET attempts = attempts + 1,
                   status = $2,
                   last_status_code = $3,
                   last_error = $4,
                   next_attempt_at = coalesce($5, next_attempt_at),
                   delivered_at = coalesce($6, delivered_at)
             WHERE id = $1
            """,
            uuid.UUID(delivery_id),
            outcome.status.value,
            outcome.status_code,
            outcome.error,
            outcome.next_attempt_at,
            outcome.delivered_at,
        )
