"""Reading the audit log: the host sees every event, a tenant admin its tenant's."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import attrs

from application.ports import UnitOfWork
from domain.search import Page, PageRequest


@attrs.frozen(kw_only=True)
class AuditFilter:
    tenant_id: str | None = None
    action_prefix: str | None = None
    actor_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AuditReader(Protocol):
    async def search(
        self,
        *,
        tenant_id: str | None,
        action_prefix: str | None,
        actor_id: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[dict[str, Any]]]: ...


class ReadAudit:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def for_host(self, filters: AuditFilter, page: PageRequest) -> Page:
        async with self._uow.host() as scope:
            return await self._search(scope.audit, filters, page)

    async def for_tenant(self, tenant_id: str, filters: AuditFilter, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await self._search(scope.audit, attrs.evolve(filters, tenant_id=tenant_id), page)

    async def _search(self, reader: Any, filters: AuditFilter, page: PageRequest) -> Page:
        audit: AuditReader = reader
        total, items = await audit.search(
            tenant_id=filters.tenant_id,
            action_prefix=filters.action_prefix,
            actor_id=filters.actor_id,
            since=filters.since,
            until=filters.until,
            offset=page.offset,
            limit=page.per_page,
        )
        return Page(items=tuple(items), page=page.page, per_page=page.per_page, total_items=total)
