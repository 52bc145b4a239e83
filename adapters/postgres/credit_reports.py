"""Aggregates over the credit ledger for the reports, computed by PostgreSQL.

Every query runs under the scope's row-level security: a tenant scope reads
its own entries only, and the host overview needs a host scope.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from application.credit_reports import CreditOverviewQuery, TenantCredits
from application.credits import DailyUsage, UserUsage
from domain.credits import CreditBalance
from domain.search import Page, PageRequest
from domain.tenancy import TenantStatus


class PostgresCreditReports:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def daily_usage(
        self, since: dt.datetime, until: dt.datetime, timezone: str
    ) -> list[DailyUsage]:
        rows = await self._conn.fetch(
            """
            SELECT (created_at AT TIME ZONE $3)::date AS day,
                   coalesce(sum(-amount) FILTER (WHERE kind = 'capture'), 0) AS captured,
                   coalesce(sum(held_change) FILTER (WHERE kind = 'hold'), 0) AS held,
                   coalesce(sum(-held_change) FILTER (WHERE kind = 'release'), 0) AS released
              FROM credit_entry
             WHERE created_at >= $1 AND created_at < $2
               AND kind IN ('capture', 'hold', 'release')
             GROUP BY 1
             ORDER BY 1
            """,
            since,
            until,
            timezone,
        )
        return [
            DailyUsage(
                day=row["day"],
                captured=row["captured"],
                held=row["held"],
                released=row["released"],
            )
            for row in rows
        ]

    async def usage_by_actor(self, since: dt.datetime, until: dt.datetime) -> list[UserUsage]:
        # A capture is attributed to the actor of the hold it settled: the
        # person who started that qualification, not the worker that charged it.
        rows = await self._conn.fetch(
            """
            WITH attributed AS (
                SELECT e.kind, e.amount, e.held_change, e.created_at,
                       coalesce(h.actor_type, e.actor_type) AS actor_type,
                       CASE WHEN h.id IS NULL THEN e.actor_id ELSE h.actor_id END AS actor_id,
                       CASE WHEN h.id IS NULL THEN e.actor_label ELSE h.actor_label END
                           AS actor_label
                  FROM credit_entry e
                  LEFT JOIN credit_hold ch
                         ON e.kind = 'capture' AND ch.settled_entry_id = e.id
                  LEFT JOIN credit_entry h ON h.id = ch.hold_entry_id
                 WHERE e.created_at >= $1 AND e.created_at < $2
                   AND e.kind IN ('capture', 'hold')
            )
            SELECT actor_type, actor_id,
                   (array_agg(actor_label ORDER BY created_at DESC))[1] AS actor_label,
                   coalesce(sum(-amount) FILTER (WHERE kind = 'capture'), 0) AS captured,
                   coalesce(sum(held_change) FILTER (WHERE kind = 'hold'), 0) AS held
              FROM attributed
             GROUP BY actor_type, actor_id
             ORDER BY captured DESC, held DESC, actor_label NULLS LAST
            """,
            since,
            until,
        )
        return [
            UserUsage(
                actor_type=row["actor_type"],
                actor_id=row["actor_id"],
                actor_label=row["actor_label"],
                captured=row["captured"],
                held=row["held"],
            )
            for row in rows
        ]

    async def overview(self, query: CreditOverviewQuery, page: PageRequest) -> Page:
        base = """
            FROM (
                SELECT t.id, t.name, t.status,
                       coalesce(a.balance, 0) AS balance, coalesce(a.held, 0) AS held,
                       credit_threshold(t.id) AS threshold
                  FROM tenant t
                  LEFT JOIN credit_account a ON a.tenant_id = t.id
                 WHERE t.status <> 'deleted'
            ) c
            WHERE NOT $1::boolean OR c.balance - c.held <= c.threshold
        """
        total = await self._conn.fetchval(f"SELECT count(*) {base}", query.below_threshold)
        rows = await self._conn.fetch(
            f"""
            SELECT c.*,
                   (SELECT count(*) FROM credit_pending p
                     WHERE p.tenant_id = c.id AND p.settled_entry_id IS NULL) AS pending
            {base}
            ORDER BY c.name, c.id
            OFFSET $2 LIMIT $3
            """,
            query.below_threshold,
            page.offset,
            page.per_page,
        )
        items = tuple(
            TenantCredits(
                tenant_id=str(row["id"]),
                tenant_name=row["name"],
                tenant_status=TenantStatus(row["status"]),
                balance=CreditBalance(
                    balance=row["balance"], held=row["held"], pending_captures=row["pending"]
                ),
                low_balance_threshold=row["threshold"],
            )
            for row in rows
        )
        return Page(items=items, page=page.page, per_page=page.per_page, total_items=total)
