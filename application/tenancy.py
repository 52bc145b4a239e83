"""Host use cases: plans, tenants, tenant settings and usage.

Every use case opens its own scope of the unit of work. The host's work runs
in a host scope, which sees every tenant row; what the host reads inside a
tenant's own tables (its users and keys) runs in that tenant's scope, so
row-level security still bounds it. Each change is audited in the same
transaction, with the changed fields before and after. A change that must
stop (or restore) credentials at once (suspension, reactivation, deletion, a
new plan and so a new rate limit) tells ``AuthStateChanges`` after commit.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
import zoneinfo
from collections.abc import Callable, Collection
from typing import Any, Protocol

import attrs

from application.audit import AuditFilter, ReadAudit
from application.authentication import AuthStateChanges
from application.credit_reports import fill_days
from application.credits import DailyUsage
from application.ports import Scope, UnitOfWork
from domain.audit import Actor, AuditEvent, changed_fields
from domain.credits import CreditBalance
from domain.errors import Conflict, DomainError, NotFound
from domain.search import Page, PageRequest
from domain.tenancy import (
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TIMEZONE,
    InvalidPlan,
    InvalidTenant,
    Plan,
    PlanLimits,
    Tenant,
    TenantSettings,
    TenantStatus,
    check_contact_email,
    check_currency,
    check_document,
    check_name,
    check_plan_code,
    retention_end,
)

#: Days of captured credits in a tenant's usage, today included.
USAGE_DAYS = 30

# --- inputs and read models ----------------------------------------------------


class Unset(enum.Enum):
    """Marks a PATCH field that was not sent, as opposed to one sent as null."""

    UNSET = "unset"


UNSET = Unset.UNSET


@attrs.frozen(kw_only=True)
class PlanDraft:
    code: str
    name: str
    monthly_credits: int
    price_cents: int
    max_users: int
    messages_per_day: int
    requests_per_minute: int
    max_selection_size: int = 5000
    credit_validity_days: int | None = None
    currency: str = "BRL"


@attrs.frozen(kw_only=True)
class PlanChanges:
    """A partial update of a plan; None leaves a field as it is. The code never changes."""

    name: str | None = None
    monthly_credits: int | None = None
    price_cents: int | None = None
    max_users: int | None = None
    messages_per_day: int | None = None
    requests_per_minute: int | None = None
    max_selection_size: int | None = None
    #: UNSET leaves it; None makes the plan's credits never expire.
    credit_validity_days: int | None | Unset = UNSET
    currency: str | None = None


@attrs.frozen(kw_only=True)
class TenantDraft:
    name: str
    plan_id: str
    document: str | None = None
    contact_email: str | None = None
    #: Partial settings; what is left out takes the defaults.
    settings: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TenantChanges:
    """A partial update of a tenant's profile; UNSET leaves a field, None clears it."""

    name: str | None = None
    plan_id: str | None = None
    document: str | None | Unset = UNSET
    contact_email: str | None | Unset = UNSET


@attrs.frozen(kw_only=True)
class TenantQuery:
    #: None lists active and suspended tenants; deleted ones only when asked by name.
    status: TenantStatus | None = None
    plan_id: str | None = None
    #: Part of the name, compared without case and accents.
    name_contains: str | None = None
    created_from: dt.datetime | None = None
    #: Exclusive upper bound.
    created_before: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class MemberCounts:
    active_users: int
    invited_users: int
    disabled_users: int
    active_api_keys: int


@attrs.frozen(kw_only=True)
class TenantView:
    """A tenant with the summary of its plan, as the host API shows it."""

    tenant: Tenant
    plan: Plan | None

    def to_json(self) -> dict[str, Any]:
        return {**self.tenant.to_json(), "plan": self.plan.summary() if self.plan else None}


@attrs.frozen(kw_only=True)
class TenantUsage:
    tenant: Tenant
    plan: Plan | None
    members: MemberCounts
    #: That tenant's audit events, newest first.
    recent_events: Page
    credits: CreditBalance
    #: Credits captured on each of the last USAGE_DAYS days, in the tenant's timezone.
    captured_by_day: tuple[DailyUsage, ...]

    def to_json(self) -> dict[str, Any]:
        """Everything but ``recent_events``, which the caller renders as a list with its meta."""
        return {
            "tenant": {
                "id": self.tenant.id,
                "name": self.tenant.name,
                "status": self.tenant.status.value,
                "status_reason": self.tenant.status_reason,
            },
            "plan": self.plan.to_json() if self.plan else None,
            "users": {
                "active": self.members.active_users,
                "invited": self.members.invited_users,
                "disabled": self.members.disabled_users,
                "max": self.plan.limits.max_users if self.plan else None,
            },
            "api_keys": {"active": self.members.active_api_keys},
            "credits": {
                **self.credits.to_json(),
                "used_by_day": [
                    {"date": day.day.isoformat(), "credits": day.captured}
                    for day in self.captured_by_day
                ],
            },
        }


# --- ports -----------------------------------------------------------------------


class PlanRepository(Protocol):
    async def add(self, plan: Plan) -> Plan:
        """Insert a plan; raise Conflict ``plan_code_taken`` when its code is used."""
        ...

    async def get(self, plan_id: str, *, for_update: bool = False) -> Plan | None:
        """Return the plan, or None when it does not exist or ``plan_id`` is not a UUID.

        ``for_update`` locks the row until the scope ends, so two changes of one
        plan cannot overwrite each other.
        """
        ...

    async def get_by_code(self, code: str) -> Plan | None: ...

    async def get_many(self, plan_ids: Collection[str]) -> dict[str, Plan]: ...

    async def list(
        self, *, include_archived: bool, offset: int, limit: int
    ) -> tuple[int, list[Plan]]:
        """Return (total, one page of plans), oldest first."""
        ...

    async def save(self, plan: Plan) -> Plan: ...


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> Tenant:
        """Insert a tenant; raise Conflict ``tenant_document_taken`` for a CNPJ in use."""
        ...

    async def get(self, tenant_id: str, *, for_update: bool = False) -> Tenant | None:
        """Return the tenant if this scope may see it; None for unknown ids and non-UUIDs.

        ``for_update`` locks the row until the scope ends: ``save`` writes every
        field, so a concurrent suspension must not be undone by a rename read before it.
        """
        ...

    async def find_by_document(self, document: str) -> Tenant | None:
        """Return the tenant, not deleted, whose CNPJ is ``document``."""
        ...

    async def list(
        self, query: TenantQuery, *, offset: int, limit: int
    ) -> tuple[int, list[Tenant]]:
        """Return (total, one page of tenants), in order of creation."""
        ...

    async def save(self, tenant: Tenant) -> Tenant:
        """Write every field of the tenant (host scopes only)."""
        ...

    async def save_settings(self, tenant: Tenant) -> Tenant:
        """Write the settings alone, which is all a tenant may change of its own row."""
        ...

    async def member_counts(self, tenant_id: str, now: dt.datetime) -> MemberCounts:
        """Count the tenant's users and usable keys; run it in that tenant's scope."""
        ...


# --- helpers ---------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


def _plan_name(value: str) -> str:
    try:
        return check_name(value, what="O nome do plano")
    except InvalidTenant as error:
        raise InvalidPlan(error.detail, field="name") from None


def _audit_diff(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the changed fields, leaving out ``updated_at``, which changes with every write."""
    before = {key: value for key, value in before.items() if key != "updated_at"}
    after = {key: value for key, value in after.items() if key != "updated_at"}
    return changed_fields(before, after)


def _tenant_not_found(tenant_id: str) -> NotFound:
    return NotFound(f"Tenant não encontrado: '{tenant_id}'.", code="tenant_not_found")


async def _existing_tenant(scope: Scope, tenant_id: str, *, for_update: bool = False) -> Tenant:
    tenant = await scope.tenants.get(tenant_id, for_update=for_update)
    if tenant is None:
        raise _tenant_not_found(tenant_id)
    return tenant


async def _assignable_plan(scope: Scope, plan_id: str) -> Plan:
    """The plan a tenant is being put on: it must exist and not be archived."""
    plan = await scope.plans.get(plan_id)
    if plan is None:
        raise DomainError(
            f"Plano não encontrado: '{plan_id}'.", field="plan_id", code="unknown_plan"
        )
    if plan.archived:
        raise Conflict(
            f"O plano '{plan.name}' ({plan.code}) está arquivado e não pode ser dado a um "
            "tenant. Escolha um plano ativo.",
            field="plan_id",
            code="plan_archived",
        )
    return plan


async def _check_document_free(scope: Scope, document: str, tenant_id: str | None) -> None:
    holder = await scope.tenants.find_by_document(document)
    if holder is not None and holder.id != tenant_id:
        raise Conflict(
            f"O CNPJ {document} já é de outro tenant: '{holder.name}'.",
            field="document",
            code="tenant_document_taken",
        )


async def _view(scope: Scope, tenant: Tenant) -> TenantView:
    plan = await scope.plans.get(tenant.plan_id) if tenant.plan_id else None
    return TenantView(tenant=tenant, plan=plan)


# --- plans -----------------------------------------------------------------------


class Plans:
    """The host's catalogue of plans. Archiving keeps a plan for its tenants but offers it no more."""

    def __init__(
        self,
        uow: UnitOfWork,
        changes: AuthStateChanges,
        clock: Callable[[], dt.datetime] = _now,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._uow = uow
        self._changes = changes
        self._clock = clock
        self._new_id = new_id

    async def create(self, actor: Actor, draft: PlanDraft) -> Plan:
        code = check_plan_code(draft.code)
        name = _plan_name(draft.name)
        currency = check_currency(draft.currency)
        limits = PlanLimits(
            monthly_credits=draft.monthly_credits,
            price_cents=draft.price_cents,
            max_users=draft.max_users,
            messages_per_day=draft.messages_per_day,
            requests_per_minute=draft.requests_per_minute,
            max_selection_size=draft.max_selection_size,
            credit_validity_days=draft.credit_validity_days,
        )
        now = self._clock()
        plan = Plan(
            id=self._new_id(),
            code=code,
            name=name,
            limits=limits,
            currency=currency,
            created_at=now,
            updated_at=now,
        )

        async with self._uow.host() as scope:
            if await scope.plans.get_by_code(code) is not None:
                raise Conflict(
                    f"Já existe um plano com o código '{code}'.",
                    field="code",
                    code="plan_code_taken",
                )
            plan = await scope.plans.add(plan)
            await scope.audit.record(
                AuditEvent(
                    action="plan.created",
                    actor=actor,
                    target_type="plan",
                    target_id=plan.id,
                    after=plan.to_json(),
                )
            )
        return plan

    async def list(self, page: PageRequest, *, include_archived: bool) -> Page:
        async with self._uow.host() as scope:
            total, plans = await scope.plans.list(
                include_archived=include_archived, offset=page.offset, limit=page.per_page
            )
        return Page(
            items=tuple(plan.to_json() for plan in plans),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def get(self, plan_id: str) -> Plan:
        async with self._uow.host() as scope:
            return await self._existing(scope, plan_id)

    async def update(self, actor: Actor, plan_id: str, changes: PlanChanges) -> Plan:
        limit_changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("monthly_credits", changes.monthly_credits),
                ("price_cents", changes.price_cents),
                ("max_users", changes.max_users),
                ("messages_per_day", changes.messages_per_day),
                ("requests_per_minute", changes.requests_per_minute),
                ("max_selection_size", changes.max_selection_size),
            )
            if value is not None
        }
        if changes.credit_validity_days is not UNSET:
            limit_changes["credit_validity_days"] = changes.credit_validity_days
        name = _plan_name(changes.name) if changes.name is not None else None
        currency = check_currency(changes.currency) if changes.currency is not None else None

        async with self._uow.host() as scope:
            plan = await self._existing(scope, plan_id, for_update=True)
            # evolve runs PlanLimits' checks on the merged values.
            updated = attrs.evolve(
                plan,
                name=name if name is not None else plan.name,
                currency=currency if currency is not None else plan.currency,
                limits=attrs.evolve(plan.limits, **limit_changes),
            )
            before, after = _audit_diff(plan.to_json(), updated.to_json())
            if not after:
                return plan
            updated = await scope.plans.save(attrs.evolve(updated, updated_at=self._clock()))
            await scope.audit.record(
                AuditEvent(
                    action="plan.updated",
                    actor=actor,
                    target_type="plan",
                    target_id=plan.id,
                    before=before,
                    after=after,
                )
            )

        if "requests_per_minute" in after:
            # The rate limit of every tenant on the plan follows at once.
            await self._changes.changed()
        return updated

    async def archive(self, actor: Actor, plan_id: str) -> Plan:
        """Stop offering the plan; tenants already on it keep it. Archiving twice changes nothing."""
        async with self._uow.host() as scope:
            plan = await self._existing(scope, plan_id, for_update=True)
            if plan.archived:
                return plan
            now = self._clock()
            archived = await scope.plans.save(attrs.evolve(plan, archived_at=now, updated_at=now))
            before, after = _audit_diff(plan.to_json(), archived.to_json())
            await scope.audit.record(
                AuditEvent(
                    action="plan.archived",
                    actor=actor,
                    target_type="plan",
                    target_id=plan.id,
                    before=before,
                    after=after,
                )
            )
        return archived

    async def _existing(self, scope: Scope, plan_id: str, *, for_update: bool = False) -> Plan:
        plan = await scope.plans.get(plan_id, for_update=for_update)
        if plan is None:
            raise NotFound(f"Plano não encontrado: '{plan_id}'.", code="plan_not_found")
        return plan


# --- tenants ---------------------------------------------------------------------


class Tenants:
    """The host's tenants: create, list, change, suspend, reactivate, delete, and their usage."""

    def __init__(
        self,
        uow: UnitOfWork,
        changes: AuthStateChanges,
        audit: ReadAudit,
        clock: Callable[[], dt.datetime] = _now,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._uow = uow
        self._changes = changes
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    async def create(self, actor: Actor, draft: TenantDraft) -> TenantView:
        """Create the tenant alone: its users are invited afterwards, from inside it."""
        name = check_name(draft.name, what="O nome do tenant")
        document = check_document(draft.document) if draft.document is not None else None
        contact_email = (
            check_contact_email(draft.contact_email) if draft.contact_email is not None else None
        )
        settings = TenantSettings().merge(draft.settings or {})
        now = self._clock()

        async with self._uow.host() as scope:
            plan = await _assignable_plan(scope, draft.plan_id)
            if document is not None:
                await _check_document_free(scope, document, None)
            tenant = await scope.tenants.add(
                Tenant(
                    id=self._new_id(),
                    name=name,
                    plan_id=plan.id,
                    document=document,
                    contact_email=contact_email,
                    settings=settings,
                    created_at=now,
                    updated_at=now,
                )
            )
            view = TenantView(tenant=tenant, plan=plan)
            await scope.audit.record(
                AuditEvent(
                    action="tenant.created",
                    actor=actor,
                    tenant_id=tenant.id,
                    target_type="tenant",
                    target_id=tenant.id,
                    after=view.to_json(),
                )
            )
        return view

    async def list(self, query: TenantQuery, page: PageRequest) -> Page:
        async with self._uow.host() as scope:
            total, tenants = await scope.tenants.list(
                query, offset=page.offset, limit=page.per_page
            )
            plans = await scope.plans.get_many(
                {tenant.plan_id for tenant in tenants if tenant.plan_id}
            )
        items = tuple(
            TenantView(
                tenant=tenant, plan=plans.get(tenant.plan_id) if tenant.plan_id else None
            ).to_json()
            for tenant in tenants
        )
        return Page(items=items, page=page.page, per_page=page.per_page, total_items=total)

    async def get(self, tenant_id: str) -> TenantView:
        async with self._uow.host() as scope:
            return await _view(scope, await _existing_tenant(scope, tenant_id))

    async def update(self, actor: Actor, tenant_id: str, changes: TenantChanges) -> TenantView:
        profile: dict[str, Any] = {}
        if changes.name is not None:
            profile["name"] = check_name(changes.name, what="O nome do tenant")
        if not isinstance(changes.document, Unset):
            profile["document"] = (
                check_document(changes.document) if changes.document is not None else None
            )
        if not isinstance(changes.contact_email, Unset):
            profile["contact_email"] = (
                check_contact_email(changes.contact_email)
                if changes.contact_email is not None
                else None
            )

        async with self._uow.host() as scope:
            tenant = await _existing_tenant(scope, tenant_id, for_update=True)
            updated = tenant.changed(self._clock(), **profile)
            if changes.plan_id is not None and changes.plan_id != tenant.plan_id:
                plan = await _assignable_plan(scope, changes.plan_id)
                updated = attrs.evolve(updated, plan_id=plan.id)
            plan_changed = updated.plan_id != tenant.plan_id
            if updated.document is not None and updated.document != tenant.document:
                await _check_document_free(scope, updated.document, tenant.id)

            before, after = _audit_diff(tenant.to_json(), updated.to_json())
            if not after:
                return await _view(scope, tenant)
            updated = await scope.tenants.save(updated)
            await scope.audit.record(
                AuditEvent(
                    action="tenant.updated",
                    actor=actor,
                    tenant_id=tenant.id,
                    target_type="tenant",
                    target_id=tenant.id,
                    before=before,
                    after=after,
                )
            )
            view = await _view(scope, updated)

        if plan_changed:
            # The new plan's rate limit applies from the next request.
            await self._changes.changed()
        return view

    async def suspend(self, actor: Actor, tenant_id: str, reason: str) -> TenantView:
        """Refuse every user and key of the tenant, with ``reason`` in the 403 they receive."""
        async with self._uow.host() as scope:
            tenant = await _existing_tenant(scope, tenant_id, for_update=True)
            suspended = tenant.suspend(reason, self._clock())
            view = await self._record_transition(
                scope, actor, "tenant.suspended", tenant, suspended
            )
        await self._changes.changed()
        return view

    async def reactivate(self, actor: Actor, tenant_id: str) -> TenantView:
        """End a suspension; reactivating an active tenant changes nothing."""
        async with self._uow.host() as scope:
            tenant = await _existing_tenant(scope, tenant_id, for_update=True)
            if tenant.status is TenantStatus.ACTIVE:
                return await _view(scope, tenant)
            active = tenant.reactivate(self._clock())
            view = await self._record_transition(scope, actor, "tenant.reactivated", tenant, active)
        await self._changes.changed()
        return view

    async def delete(
        self, actor: Actor, tenant_id: str, *, retention_days: int | None = None
    ) -> TenantView:
        """Soft-delete the tenant, keeping its data ``retention_days`` (default 90) from today.

        Deleting a deleted tenant changes nothing, so its retention date cannot
        be moved by accident.
        """
        days = DEFAULT_RETENTION_DAYS if retention_days is None else retention_days
        now = self._clock()
        # Dates of the operator's calendar: the deployment runs on Brasília time.
        today = now.astimezone(zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)).date()
        until = retention_end(today, days)

        async with self._uow.host() as scope:
            tenant = await _existing_tenant(scope, tenant_id, for_update=True)
            if tenant.status is TenantStatus.DELETED:
                return await _view(scope, tenant)
            deleted = tenant.delete(until, now)
            view = await self._record_transition(
                scope, actor, "tenant.deleted", tenant, deleted, detail={"retention_days": days}
            )
        await self._changes.changed()
        return view

    async def usage(self, tenant_id: str, events_page: PageRequest) -> TenantUsage:
        """Plan, users, keys, credits and recent audit events of a tenant, whatever its status."""
        async with self._uow.host() as scope:
            tenant = await _existing_tenant(scope, tenant_id)
            plan = await scope.plans.get(tenant.plan_id) if tenant.plan_id else None

        # Users, keys and credits live in the tenant's own tables: read them as that tenant.
        now = self._clock()
        zone = zoneinfo.ZoneInfo(tenant.settings.timezone)
        last_day = now.astimezone(zone).date()
        first_day = last_day - dt.timedelta(days=USAGE_DAYS - 1)
        async with self._uow.tenant(tenant.id) as tenant_scope:
            members = await tenant_scope.tenants.member_counts(tenant.id, now)
            credits = await tenant_scope.credits.balance(tenant.id)
            by_day = await tenant_scope.credit_reports.daily_usage(
                dt.datetime.combine(first_day, dt.time(), zone), now, tenant.settings.timezone
            )

        events = await self._audit.for_host(AuditFilter(tenant_id=tenant.id), events_page)
        return TenantUsage(
            tenant=tenant,
            plan=plan,
            members=members,
            recent_events=events,
            credits=credits,
            captured_by_day=fill_days(by_day, first_day, last_day),
        )

    async def _record_transition(
        self,
        scope: Scope,
        actor: Actor,
        action: str,
        tenant: Tenant,
        changed: Tenant,
        *,
        detail: dict[str, Any] | None = None,
    ) -> TenantView:
        saved = await scope.tenants.save(changed)
        before, after = _audit_diff(tenant.to_json(), saved.to_json())
        await scope.audit.record(
            AuditEvent(
                action=action,
                actor=actor,
                tenant_id=tenant.id,
                target_type="tenant",
                target_id=tenant.id,
                before=before,
                after=after,
                detail=detail,
            )
        )
        return await _view(scope, saved)


# --- settings --------------------------------------------------------------------


#: Settings that decide when a qualification message may go out.
_SENDING_SETTINGS = frozenset({"qualification", "quiet_hours", "timezone"})


class TenantSettingsAccess:
    """A tenant's settings, read and changed by the host or by the tenant's own admins.

    The host works in a host scope. A tenant works in its own scope, where
    row-level security lets it read its row and change nothing but the settings.
    """

    def __init__(self, uow: UnitOfWork, clock: Callable[[], dt.datetime] = _now) -> None:
        self._uow = uow
        self._clock = clock

    async def read_as_host(self, tenant_id: str) -> dict[str, Any]:
        async with self._uow.host() as scope:
            tenant = await _existing_tenant(scope, tenant_id)
        return tenant.settings.to_json()

    async def update_as_host(
        self, actor: Actor, tenant_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._uow.host() as scope:
            saved = await self._update(scope, actor, tenant_id, changes)
        await self._recheck_sends(tenant_id, changes)
        return saved

    async def read_own(self, tenant_id: str) -> dict[str, Any]:
        async with self._uow.tenant(tenant_id) as scope:
            tenant = await _existing_tenant(scope, tenant_id)
        return tenant.settings.to_json()

    async def update_own(
        self, actor: Actor, tenant_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._uow.tenant(tenant_id) as scope:
            saved = await self._update(scope, actor, tenant_id, changes)
        await self._recheck_sends(tenant_id, changes)
        return saved

    async def _recheck_sends(self, tenant_id: str, changes: dict[str, Any]) -> None:
        """Have every waiting send checked again against hours that just changed.

        A send parked until the sending hours open would otherwise wait for
        the old opening even when the new hours allow it now.
        """
        if not _SENDING_SETTINGS & set(changes):
            return
        async with self._uow.tenant(tenant_id) as scope:
            await scope.qualification.wake_waiting_sends(self._clock(), job_id=None)

    async def _update(
        self, scope: Scope, actor: Actor, tenant_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        tenant = await _existing_tenant(scope, tenant_id, for_update=True)
        updated = tenant.changed(self._clock(), settings=tenant.settings.merge(changes))
        before, after = changed_fields(tenant.settings.to_json(), updated.settings.to_json())
        if not after:
            return tenant.settings.to_json()

        saved = await scope.tenants.save_settings(updated)
        await scope.audit.record(
            AuditEvent(
                action="tenant.settings_updated",
                actor=actor,
                tenant_id=tenant.id,
                target_type="tenant",
                target_id=tenant.id,
                before=before,
                after=after,
            )
        )
        return saved.settings.to_json()
