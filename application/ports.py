"""Ports shared by the use cases of the host platform: the unit of work and its scope.

A use case opens a scope for the tenant it works on (or for the host's own
rows), does its reads and writes through the scope's repositories, and the
scope commits when the block ends without an error. The PostgreSQL adapter
sets the row-level security setting at the start of each scope, so a query
cannot reach another tenant's rows even when it forgets to filter.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

import attrs

from domain.audit import AuditEvent

if TYPE_CHECKING:
    from application.accounts import AccountRepository
    from application.api_keys import ApiKeyRepository
    from application.billing import (
        StripeEventRepository,
        StripeIdRepository,
        SubscriptionRepository,
    )
    from application.credit_reports import CreditReportQueries
    from application.credits import CreditLedger
    from application.lead_fields import LeadFieldRepository
    from application.leads import LeadRepository
    from application.notifications import NotificationQueue
    from application.pipelines import PipelineRepository
    from application.qualification_ports import QualificationRepository
    from application.selections import OptOutRepository, SelectionRepository
    from application.tenancy import PlanRepository, TenantRepository
    from application.timeline import TimelineRepository
    from application.webhooks import WebhookRepository


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None: ...


class Scope(Protocol):
    """Repositories bound to one transaction of one tenant (or of the host)."""

    @property
    def tenant_id(self) -> str | None: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def tenants(self) -> TenantRepository: ...
    @property
    def plans(self) -> PlanRepository: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def credits(self) -> CreditLedger: ...
    @property
    def credit_reports(self) -> CreditReportQueries: ...
    @property
    def notifications(self) -> NotificationQueue: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def subscriptions(self) -> SubscriptionRepository: ...
    @property
    def stripe_events(self) -> StripeEventRepository: ...
    @property
    def stripe_ids(self) -> StripeIdRepository: ...
    @property
    def pipelines(self) -> PipelineRepository: ...
    @property
    def lead_fields(self) -> LeadFieldRepository: ...
    @property
    def timeline(self) -> TimelineRepository: ...
    @property
    def leads(self) -> LeadRepository: ...
    @property
    def selections(self) -> SelectionRepository: ...
    @property
    def opt_outs(self) -> OptOutRepository: ...
    @property
    def qualification(self) -> QualificationRepository: ...


class UnitOfWork(Protocol):
    def tenant(self, tenant_id: str) -> AbstractAsyncContextManager[Scope]:
        """A transaction that sees the rows of ``tenant_id`` only."""
        ...

    def host(self) -> AbstractAsyncContextManager[Scope]:
        """A transaction on the host's own rows (tenants, plans, host admins, host keys)."""
        ...

    def statements(self, tenant_id: str) -> AbstractAsyncContextManager[Scope]:
        """A connection where each call commits on its own, for calls that are one statement.

        Only the credit posting functions belong here: they set the tenant
        themselves and hold the tenant's account lock until the server's
        commit, which then does not wait on this process. Any other read or
        write made through this scope sees no tenant rows.
        """
        ...

    def unscoped(self) -> AbstractAsyncContextManager[Scope]:
        """A transaction with no tenant: it sees no tenant-owned row and can only append audit events."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Return whether the password matches; with no hash (unknown account), spend the same time and return False."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@attrs.frozen(kw_only=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    #: What the message is for (password_reset, invitation, low_balance...), for logs and tests.
    purpose: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...
