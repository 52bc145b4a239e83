"""The PostgreSQL unit of work: one transaction per scope, row-level security set first.

``set_config(name, value, true)`` is the function form of ``SET LOCAL``: the
setting ends with the transaction, so a pooled connection never carries one
tenant's setting into the next borrower's work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.accounts import PostgresAccounts
from adapters.postgres.api_keys import PostgresApiKeyRepository
from adapters.postgres.audit import PostgresAuditLog
from adapters.postgres.billing import (
    PostgresStripeEvents,
    PostgresStripeIds,
    PostgresSubscriptions,
)
from adapters.postgres.credit_reports import PostgresCreditReports
from adapters.postgres.credits import PostgresCreditLedger
from adapters.postgres.database import raw_connection
from adapters.postgres.lead_fields import PostgresLeadFields
from adapters.postgres.leads import PostgresLeads
from adapters.postgres.notifications import PostgresNotificationQueue
from adapters.postgres.pipelines import PostgresPipelines
from adapters.postgres.qualification import PostgresQualification
from adapters.postgres.selections import PostgresOptOuts, PostgresSelections
from adapters.postgres.tenancy import PostgresPlans, PostgresTenants
from adapters.postgres.timeline import PostgresTimeline
from adapters.postgres.webhooks import PostgresWebhooks


class PostgresScope:
    """Repositories over one connection inside one transaction."""

    def __init__(self, conn: asyncpg.Connection, tenant_id: str | None) -> None:
        self.conn = conn
        self._tenant_id = tenant_id

    @property
    def tenant_id(self) -> str | None:
        return self._tenant_id

    @cached_property
    def audit(self) -> PostgresAuditLog:
        return PostgresAuditLog(self.conn)

    @cached_property
    def tenants(self) -> PostgresTenants:
        return PostgresTenants(self.conn)

    @cached_property
    def plans(self) -> PostgresPlans:
        return PostgresPlans(self.conn)

    @cached_property
    def accounts(self) -> PostgresAccounts:
        return PostgresAccounts(self.conn)

    @cached_property
    def api_keys(self) -> PostgresApiKeyRepository:
        return PostgresApiKeyRepository(self.conn)

    @cached_property
    def credits(self) -> PostgresCreditLedger:
        return PostgresCreditLedger(self.conn)

    @cached_property
    def credit_reports(self) -> PostgresCreditReports:
        return PostgresCreditReports(self.conn)

    @cached_property
    def notifications(self) -> PostgresNotificationQueue:
        return PostgresNotificationQueue(self.conn)

    @cached_property
    def webhooks(self) -> PostgresWebhooks:
        return PostgresWebhooks(self.conn)

    @cached_property
    def subscriptions(self) -> PostgresSubscriptions:
        return PostgresSubscriptions(self.conn)

    @cached_property
    def stripe_events(self) -> PostgresStripeEvents:
        return PostgresStripeEvents(self.conn)

    @cached_property
    def stripe_ids(self) -> PostgresStripeIds:
        return PostgresStripeIds(self.conn)

    @cached_property
    def pipelines(self) -> PostgresPipelines:
        return PostgresPipelines(self.conn)

    @cached_property
    def lead_fields(self) -> PostgresLeadFields:
        return PostgresLeadFields(self.conn)

    @cached_property
    def timeline(self) -> PostgresTimeline:
        return PostgresTimeline(self.conn)

    @cached_property
    def leads(self) -> PostgresLeads:
        return PostgresLeads(self.conn)

    @cached_property
    def selections(self) -> PostgresSelections:
        return PostgresSelections(self.conn)

    @cached_property
    def opt_outs(self) -> PostgresOptOuts:
        return PostgresOptOuts(self.conn)

    @cached_property
    def qualification(self) -> PostgresQualification:
        return PostgresQualification(self.conn)


class PostgresUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def tenant(self, tenant_id: str) -> AsyncIterator[PostgresScope]:
        async with raw_connection(self._engine) as conn, conn.transaction():
            await conn.execute("SELECT set_config('garimpo.tenant_id', $1, true)", str(tenant_id))
            yield PostgresScope(conn, str(tenant_id))

    @asynccontextmanager
    async def host(self) -> AsyncIterator[PostgresScope]:
        async with raw_connection(self._engine) as conn, conn.transaction():
            await conn.execute("SELECT set_config('garimpo.host', 'on', true)")
            yield PostgresScope(conn, None)

    @asynccontextmanager
    async def statements(self, tenant_id: str) -> AsyncIterator[PostgresScope]:
        async with raw_connection(self._engine) as conn:
            yield PostgresScope(conn, str(tenant_id))

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[PostgresScope]:
        async with raw_connection(self._engine) as conn, conn.transaction():
            yield PostgresScope(conn, None)
