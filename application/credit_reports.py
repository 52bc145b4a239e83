"""Credit reports: the balance, the statement's filters, usage per day and per user, the host's overview.

Periods are typed by people: an end may be a date, meaning a whole day in the
tenant's timezone, or an instant with its offset. ``Period`` keeps what was
typed, and the use cases turn it into instants once they know the tenant's
timezone. Days in the usage report are days of that timezone too.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Collection
from typing import Any, Protocol

import attrs

from application.credits import CreditUsage, DailyUsage, LedgerFilter, UserUsage
from application.ports import Scope, UnitOfWork
from domain.credits import CreditBalance, EntryKind
from domain.errors import InvalidSearch, NotFound
from domain.search import Page, PageRequest
from domain.tenancy import Tenant, TenantDeleted, TenantStatus

#: The usage report covers this many days, today included, unless asked otherwise.
DEFAULT_USAGE_DAYS = 30
#: Maximum days in a usage period: one row per day, so a year.
MAX_USAGE_DAYS = 366


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class Period:
    """A period as typed: each end a date (a whole day in the tenant's timezone) or an instant.

    ``until`` names the end of the period: a date includes that whole day,
    an instant is the first moment left out.
    """

    since: dt.date | dt.datetime | None = None
    until: dt.date | dt.datetime | None = None


def period_bounds(period: Period, timezone: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Turn ``period`` into instants: [since, until) in UTC-aware datetimes."""
    zone = zoneinfo.ZoneInfo(timezone)

    def start_of(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone)

    since = period.since
    until = period.until
    since_at = since if isinstance(since, dt.datetime) or since is None else start_of(since)
    if isinstance(until, dt.datetime) or until is None:
        until_at = until
    else:
        until_at = start_of(until + dt.timedelta(days=1))
    return since_at, until_at


@attrs.frozen(kw_only=True)
class LedgerView:
    """The filter of a statement request and the timezone its dates are shown in."""

    filters: LedgerFilter
    timezone: str
    #: First and last day of the period in the tenant's timezone, for file names.
    first_day: dt.date | None
    last_day: dt.date


@attrs.frozen(kw_only=True)
class BalanceReport:
    balance: CreditBalance
    low_balance_threshold: int

    def to_json(self) -> dict[str, Any]:
        return {**self.balance.to_json(), "low_balance_threshold": self.low_balance_threshold}


@attrs.frozen(kw_only=True)
class TenantCredits:
    """One tenant's credits in the host's overview."""

    tenant_id: str
    tenant_name: str
    tenant_status: TenantStatus
    balance: CreditBalance
    low_balance_threshold: int

    @property
    def below_threshold(self) -> bool:
        return self.balance.available <= self.low_balance_threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": {
                "id": self.tenant_id,
                "name": self.tenant_name,
                "status": self.tenant_status.value,
            },
            **self.balance.to_json(),
            "low_balance_threshold": self.low_balance_threshold,
            "below_threshold": self.below_threshold,
        }


@attrs.frozen(kw_only=True)
class CreditOverviewQuery:
    #: Only tenants whose available credits are at their alert threshold or below.
    below_threshold: bool = False


class CreditReportQueries(Protocol):
    """Aggregates over the ledger of the scope's tenant; ``overview`` needs a host scope."""

    async def daily_usage(
        self, since: dt.datetime, until: dt.datetime, timezone: str
    ) -> list[DailyUsage]:
        """Credits captured, held and released per day of ``timezone``; days without entries left out."""
        ...

    async def usage_by_actor(self, since: dt.datetime, until: dt.datetime) -> list[UserUsage]:
        """Credits held and captured per user or key.

        A capture counts for the actor of the hold it settled, who started that
        qualification. A capture without a hold counts for its own actor.
        """
        ...

    async def overview(self, query: CreditOverviewQuery, page: PageRequest) -> Page:
        """Return every tenant but the deleted ones, by name, as ``TenantCredits``."""
        ...


def fill_days(
    rows: Collection[DailyUsage], first: dt.date, last: dt.date
) -> tuple[DailyUsage, ...]:
    """Return one row per day from ``first`` to ``last``, with zeros where nothing happened."""
    by_day = {row.day: row for row in rows}
    days = []
    day = first
    while day <= last:
        days.append(by_day.get(day) or DailyUsage(day=day, captured=0, held=0, released=0))
        day += dt.timedelta(days=1)
    return tuple(days)


class CreditReports:
    """Reads for the tenant's billing pages and the host's credit pages."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], dt.datetime] = _now) -> None:
        self._uow = uow
        self._clock = clock

    async def balance(self, tenant_id: str) -> BalanceReport:
        async with self._uow.tenant(tenant_id) as scope:
            tenant = await _tenant_in_scope(scope, tenant_id)
            balance = await scope.credits.balance(tenant_id)
        return BalanceReport(
            balance=balance, low_balance_threshold=tenant.settings.low_balance_threshold
        )

    async def ledger_view(
        self, tenant_id: str, period: Period, kinds: Collection[EntryKind]
    ) -> LedgerView:
        """Build the statement filter of ``period`` in the tenant's timezone."""
        async with self._uow.tenant(tenant_id) as scope:
            tenant = await _tenant_in_scope(scope, tenant_id)
        return self._ledger_view(tenant, period, kinds)

    async def usage(self, tenant_id: str, period: Period) -> CreditUsage:
        """Return usage per day and per user, for the last DEFAULT_USAGE_DAYS days by default."""
        async with self._uow.tenant(tenant_id) as scope:
            tenant = await _tenant_in_scope(scope, tenant_id)
            return await self._usage(scope, tenant, period)

    async def host_overview(self, query: CreditOverviewQuery, page: PageRequest) -> Page:
        async with self._uow.host() as scope:
            return await scope.credit_reports.overview(query, page)

    async def host_tenant(
        self, tenant_id: str, period: Period
    ) -> tuple[TenantCredits, CreditUsage]:
        """Return a tenant's balance, threshold and usage for the host, deleted tenants included."""
        tenant = await self.host_tenant_record(tenant_id)
        async with self._uow.tenant(tenant.id) as scope:
            balance = await scope.credits.balance(tenant.id)
            usage = await self._usage(scope, tenant, period)
        credits = TenantCredits(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            tenant_status=tenant.status,
            balance=balance,
            low_balance_threshold=tenant.settings.low_balance_threshold,
        )
        return credits, usage

    async def host_ledger_view(
        self, tenant_id: str, period: Period, kinds: Collection[EntryKind]
    ) -> LedgerView:
        tenant = await self.host_tenant_record(tenant_id)
        return self._ledger_view(tenant, period, kinds)

    async def host_tenant_record(self, tenant_id: str, *, for_change: bool = False) -> Tenant:
        """Return the tenant a host credit route names.

        Raises NotFound when it is unknown, and TenantDeleted when
        ``for_change`` is set and the tenant is deleted.
        """
        async with self._uow.host() as scope:
            tenant = await scope.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound(f"Tenant não encontrado: '{tenant_id}'.", code="tenant_not_found")
        if for_change and tenant.status is TenantStatus.DELETED:
            raise TenantDeleted(
                f"O tenant '{tenant.name}' foi excluído; os créditos dele não mudam mais."
            )
        return tenant

    def _ledger_view(
        self, tenant: Tenant, period: Period, kinds: Collection[EntryKind]
    ) -> LedgerView:
        timezone = tenant.settings.timezone
        since, until = period_bounds(period, timezone)
        filters = LedgerFilter(since=since, until=until, kinds=frozenset(kinds))
        zone = zoneinfo.ZoneInfo(timezone)
        last_moment = (until - dt.timedelta(microseconds=1)) if until else self._clock()
        return LedgerView(
            filters=filters,
            timezone=timezone,
            first_day=since.astimezone(zone).date() if since else None,
            last_day=last_moment.astimezone(zone).date(),
        )

    async def _usage(self, scope: Scope, tenant: Tenant, period: Period) -> CreditUsage:
        timezone = tenant.settings.timezone
        zone = zoneinfo.ZoneInfo(timezone)
        since, until = period_bounds(period, timezone)
        now = self._clock()
        if until is None:
            until = now
        if since is None:
            first_day = until.astimezone(zone).date() - dt.timedelta(days=DEFAULT_USAGE_DAYS - 1)
            since = dt.datetime.combine(first_day, dt.time(), zone)
        if since >= until:
            raise InvalidSearch(
                "O início do período deve ser anterior ao fim.",
                field="since",
                code="invalid_period",
            )

        first = since.astimezone(zone).date()
        last = (until - dt.timedelta(microseconds=1)).astimezone(zone).date()
        if (last - first).days + 1 > MAX_USAGE_DAYS:
            raise InvalidSearch(
                f"O período do consumo pode ter no máximo {MAX_USAGE_DAYS} dias.",
                field="since",
                code="invalid_period",
            )

        by_day = await scope.credit_reports.daily_usage(since, until, timezone)
        by_user = await scope.credit_reports.usage_by_actor(since, until)
        return CreditUsage(
            since=since,
            until=until,
            timezone=timezone,
            by_day=fill_days(by_day, first, last),
            by_user=tuple(by_user),
        )


async def _tenant_in_scope(scope: Scope, tenant_id: str) -> Tenant:
    tenant = await scope.tenants.get(tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant não encontrado: '{tenant_id}'.", code="tenant_not_found")
    return tenant
