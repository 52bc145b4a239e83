"""The notification outbox for its dispatcher: claims with a lease, progress and outcome."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence

import asyncpg

from adapters.postgres.ids import optional_uuid
from application.notifications import QueuedNotification


class PostgresNotificationQueue:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def claim_due(
        self,
        now: dt.datetime,
        limit: int,
        lease_until: dt.datetime,
        kinds: Sequence[str],
        *,
        tenant_id: str | None = None,
    ) -> list[QueuedNotification]:
        rows = await self._conn.fetch(
            """
            WITH due AS (
                SELECT id FROM notification_outbox
                 WHERE sent_at IS NULL AND abandoned_at IS NULL
                   AND next_attempt_at <= $1 AND kind = ANY ($2::text[])
                   AND ($3::uuid IS NULL OR tenant_id = $3)
                 ORDER BY next_attempt_at
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED
            )
            UPDATE notification_outbox o
               SET attempts = o.attempts + 1, next_attempt_at = $5
              FROM due
             WHERE o.id = due.id
            RETURNING o.id, o.tenant_id, o.kind, o.payload, o.created_at, o.attempts, o.emailed
            """,
            now,
            list(kinds),
            optional_uuid(tenant_id),
            limit,
            lease_until,
        )
        return [
            QueuedNotification(
                id=str(row["id"]),
                tenant_id=str(row["tenant_id"]),
                kind=row["kind"],
                payload=_json_object(row["payload"]),
                created_at=row["created_at"],
                attempts=row["attempts"],
                emailed=frozenset(row["emailed"]),
            )
            for row in rows
        ]

    async def record_email(self, notification_id: str, recipient: str) -> None:
        await self._conn.execute(
            "UPDATE notification_outbox SET emailed = array_append(emailed, $2) "
            "WHERE id = $1 AND NOT ($2 = ANY (emailed))",
            uuid.UUID(notification_id),
            recipient,
        )

    async def mark_sent(self, notification_id: str, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE notification_outbox SET sent_at = $2, last_error = NULL WHERE id = $1",
            uuid.UUID(notification_id),
            now,
        )

    async def mark_failed(
        self, notification_id: str, error: str, next_attempt_at: dt.datetime
    ) -> None:
        await self._conn.execute(
            "UPDATE notification_outbox SET last_error = $2, next_attempt_at = $3 WHERE id = $1",
            uuid.UUID(notification_id),
            error,
            next_attempt_at,
        )

    async def abandon(self, notification_id: str, error: str, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE notification_outbox SET last_error = $2, abandoned_at = $3 WHERE id = $1",
            uuid.UUID(notification_id),
            error,
            now,
        )


def _json_object(value: str | dict[str, object]) -> dict[str, object]:
    # asyncpg returns jsonb as text unless a codec is registered on the connection.
    return json.loads(value) if isinstance(value, str) else dict(value)
