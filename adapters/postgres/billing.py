"""Billing in PostgreSQL: subscription copies, processed Stripe events, Stripe ids on plans and tenants.

``billing_subscription`` is under row-level security: a tenant scope reads
its own rows, a host scope every row. ``stripe_event`` belongs to no tenant
and the application role may only read and insert it. The Stripe ids of a
tenant sit on the ``tenant`` row, which only a host scope may change.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from adapters.postgres.ids import optional_text, optional_uuid, parse_uuid
from application.billing import PlanBilling
from domain.billing import BillingEvent, Subscription

_SUBSCRIPTION_COLUMNS = (
    "id, tenant_id, customer_id, price_id, plan_id, status, current_period_start, "
    "current_period_end, cancel_at_period_end, past_due_since, grace_until, canceled_at, "
    "created_at, updated_at"
)


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"],
        tenant_id=str(row["tenant_id"]),
        customer_id=row["customer_id"],
        price_id=row["price_id"],
        plan_id=optional_text(row["plan_id"]),
        status=row["status"],
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        cancel_at_period_end=row["cancel_at_period_end"],
        past_due_since=row["past_due_since"],
        grace_until=row["grace_until"],
        canceled_at=row["canceled_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PostgresSubscriptions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock(self, subscription_id: str) -> None:
        # An advisory lock covers the first event of a subscription too, when
        # there is no row yet to lock with FOR UPDATE.
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('billing_subscription:' || $1, 0))",
            subscription_id,
        )

    async def get(self, subscription_id: str) -> Subscription | None:
        row = await self._conn.fetchrow(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM billing_subscription WHERE id = $1",
            subscription_id,
        )
        return _subscription(row) if row else None

    async def save(self, subscription: Subscription) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO billing_subscription ({_SUBSCRIPTION_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (id) DO UPDATE SET
                customer_id = EXCLUDED.customer_id,
                price_id = EXCLUDED.price_id,
                plan_id = EXCLUDED.plan_id,
                status = EXCLUDED.status,
                current_period_start = EXCLUDED.current_period_start,
                current_period_end = EXCLUDED.current_period_end,
                cancel_at_period_end = EXCLUDED.cancel_at_period_end,
                past_due_since = EXCLUDED.past_due_since,
                grace_until = EXCLUDED.grace_until,
                canceled_at = EXCLUDED.canceled_at,
                updated_at = EXCLUDED.updated_at
            """,
            subscription.id,
            uuid.UUID(subscription.tenant_id),
            subscription.customer_id,
            subscription.price_id,
            optional_uuid(subscription.plan_id),
            subscription.status,
            subscription.current_period_start,
            subscription.current_period_end,
            subscription.cancel_at_period_end,
            subscription.past_due_since,
            subscription.grace_until,
            subscription.canceled_at,
            subscription.created_at,
            subscription.updated_at,
        )

    async def of_tenant(self, tenant_id: str) -> list[Subscription]:
        tenant_uuid = parse_uuid(tenant_id)
        if tenant_uuid is None:
            return []
        rows = await self._conn.fetch(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM billing_subscription "
            "WHERE tenant_id = $1 ORDER BY created_at DESC, id",
            tenant_uuid,
        )
        return [_subscription(row) for row in rows]

    async def grace_expired(self, now: dt.datetime) -> list[Subscription]:
        columns = ", ".join(f"s.{name}" for name in _SUBSCRIPTION_COLUMNS.split(", "))
        rows = await self._conn.fetch(
            f"SELECT {columns} FROM billing_subscription s JOIN tenant t ON t.id = s.tenant_id "
            "WHERE s.grace_until <= $1 AND t.status = 'active' ORDER BY s.grace_until, s.id",
            now,
        )
        return [_subscription(row) for row in rows]


class PostgresStripeEvents:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def seen(self, event_id: str) -> bool:
        return bool(await self._conn.fetchval("SELECT 1 FROM stripe_event WHERE id = $1", event_id))

    async def record(self, event: BillingEvent, outcome: str) -> bool:
        stored = await self._conn.fetchval(
            "INSERT INTO stripe_event (id, type, created, outcome) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (id) DO NOTHING RETURNING true",
            event.id,
            event.type,
            event.created,
            outcome,
        )
        return bool(stored)


class PostgresStripeIds:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def plan_billing(self, plan_id: str) -> PlanBilling | None:
        plan_uuid = parse_uuid(plan_id)
        if plan_uuid is None:
            return None
        row = await self._conn.fetchrow(
            "SELECT id, stripe_product_id, stripe_price_id, credit_validity_days "
            "FROM plan WHERE id = $1",
            plan_uuid,
        )
        if row is None:
            return None
        return PlanBilling(
            plan_id=str(row["id"]),
            stripe_product_id=row["stripe_product_id"],
            stripe_price_id=row["stripe_price_id"],
            credit_validity_days=row["credit_validity_days"],
        )

    async def set_plan_prices(self, plan_id: str, product_id: str, price_id: str) -> None:
        await self._conn.execute(
            "UPDATE plan SET stripe_product_id = $2, stripe_price_id = $3 WHERE id = $1",
            uuid.UUID(plan_id),
            product_id,
            price_id,
        )

    async def plan_of_price(self, price_id: str) -> str | None:
        return optional_text(
            await self._conn.fetchval("SELECT id FROM plan WHERE stripe_price_id = $1", price_id)
        )

    async def customer_of(self, tenant_id: str) -> str | None:
        tenant_uuid = parse_uuid(tenant_id)
        if tenant_uuid is None:
            return None
        customer: str | None = await self._conn.fetchval(
            "SELECT stripe_customer_id FROM tenant WHERE id = $1", tenant_uuid
        )
        return customer

    async def link_customer(self, tenant_id: str, customer_id: str) -> str:
        tenant_uuid = uuid.UUID(tenant_id)
        # The first customer stored wins, so two checkouts started at once
        # agree on one customer.
        await self._conn.execute(
            "UPDATE tenant SET stripe_customer_id = $2 "
            "WHERE id = $1 AND stripe_customer_id IS NULL",
            tenant_uuid,
            customer_id,
        )
        stored: str = await self._conn.fetchval(
            "SELECT stripe_customer_id FROM tenant WHERE id = $1", tenant_uuid
        )
        return stored

    async def tenant_of_customer(self, customer_id: str) -> str | None:
        return optional_text(
            await self._conn.fetchval(
                "SELECT id FROM tenant WHERE stripe_customer_id = $1", customer_id
            )
        )
