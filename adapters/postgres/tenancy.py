"""Tenants and plans in PostgreSQL.

The ``tenant`` table is under row-level security: a host scope sees and
changes every row, a tenant scope reads its own row and may change only its
settings (migration 0004 enforces both). ``plan`` has no row-level security,
because plans are the same for everyone and hold nothing private.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
import uuid
from collections.abc import Collection
from typing import Any

import asyncpg

from adapters.postgres.ids import optional_text, optional_uuid, parse_uuid
from application.tenancy import MemberCounts, TenantQuery
from domain.errors import Conflict, NotFound
from domain.tenancy import Plan, PlanLimits, Tenant, TenantSettings, TenantStatus

_PLAN_COLUMNS = (
    "id, code, name, monthly_credits, price_cents, currency, max_users, messages_per_day, "
    "requests_per_minute, max_selection_size, credit_validity_days, archived_at, created_at, "
    "updated_at"
)
_TENANT_COLUMNS = (
    "id, name, plan_id, status, status_reason, document, contact_email, settings, "
    "suspended_at, deleted_at, retention_until, created_at, updated_at"
)

#: Accented letters of Portuguese (and neighbours), both cases, and the plain
#: lower-case letter each folds to. ``lower()`` alone is not enough: under the
#: C locale PostgreSQL lower-cases ASCII letters only.
_ACCENTED = "áàâãäåéèêëíìîïóòôõöúùûüçñýÿ"
_ACCENTED += _ACCENTED.upper()
_FOLDED = "".join(unicodedata.normalize("NFD", char)[0].lower() for char in _ACCENTED)


def _plan(row: asyncpg.Record) -> Plan:
    return Plan(
        id=str(row["id"]),
        code=row["code"],
        name=row["name"],
        limits=PlanLimits(
            monthly_credits=row["monthly_credits"],
            price_cents=row["price_cents"],
            max_users=row["max_users"],
            messages_per_day=row["messages_per_day"],
            requests_per_minute=row["requests_per_minute"],
            max_selection_size=row["max_selection_size"],
            credit_validity_days=row["credit_validity_days"],
        ),
        currency=row["currency"],
        archived_at=row["archived_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(
        id=str(row["id"]),
        name=row["name"],
        plan_id=optional_text(row["plan_id"]),
        status=TenantStatus(row["status"]),
        status_reason=row["status_reason"],
        document=row["document"],
        contact_email=row["contact_email"],
        settings=TenantSettings.from_json(_json_object(row["settings"])),
        suspended_at=row["suspended_at"],
        deleted_at=row["deleted_at"],
        retention_until=row["retention_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _json_object(value: str | dict[str, Any]) -> dict[str, Any]:
    """A jsonb value as a dict: connections from the SQLAlchemy engine decode jsonb
    themselves, plain asyncpg connections return its text."""
    return json.loads(value) if isinstance(value, str) else value


def _stored_fields(tenant: Tenant) -> tuple[Any, ...]:
    """Return the columns from name to retention_until, in the order INSERT and UPDATE bind them."""
    return (
        tenant.name,
        optional_uuid(tenant.plan_id),
        tenant.status.value,
        tenant.status_reason,
        tenant.document,
        tenant.contact_email,
        _settings_json(tenant),
        tenant.suspended_at,
        tenant.deleted_at,
        tenant.retention_until,
    )


def _settings_json(tenant: Tenant) -> str:
    return json.dumps(tenant.settings.to_json(), ensure_ascii=False)


class PostgresPlans:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, plan: Plan) -> Plan:
        limits = plan.limits
        try:
            row = await self._conn.fetchrow(
                f"""
                INSERT INTO plan (
                    id, code, name, monthly_credits, price_cents, currency, max_users,
                    messages_per_day, requests_per_minute, max_selection_size, archived_at,
                    created_at, updated_at, credit_validity_days
                ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                RETURNING {_PLAN_COLUMNS}
                """,
                uuid.UUID(plan.id),
                plan.code,
                plan.name,
                limits.monthly_credits,
                limits.price_cents,
                plan.currency,
                limits.max_users,
                limits.messages_per_day,
                limits.requests_per_minute,
                limits.max_selection_size,
                plan.archived_at,
                plan.created_at,
                plan.updated_at,
                limits.credit_validity_days,
            )
        except asyncpg.UniqueViolationError:
            # Another request took the code between the check and this insert.
            raise Conflict(
                f"Já existe um plano com o código '{plan.code}'.",
                field="code",
                code="plan_code_taken",
            ) from None
        return _plan(row)

    async def get(self, plan_id: str, *, for_update: bool = False) -> Plan | None:
        plan_uuid = parse_uuid(plan_id)
        if plan_uuid is None:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_PLAN_COLUMNS} FROM plan WHERE id = $1{lock}", plan_uuid
        )
        return _plan(row) if row is not None else None

    async def get_by_code(self, code: str) -> Plan | None:
        row = await self._conn.fetchrow(f"SELECT {_PLAN_COLUMNS} FROM plan WHERE code = $1", code)
        return _plan(row) if row is not None else None

    async def get_many(self, plan_ids: Collection[str]) -> dict[str, Plan]:
        ids = [plan_uuid for plan_uuid in map(parse_uuid, plan_ids) if plan_uuid is not None]
        if not ids:
            return {}
        rows = await self._conn.fetch(
            f"SELECT {_PLAN_COLUMNS} FROM plan WHERE id = ANY($1::uuid[])", ids
        )
        return {str(row["id"]): _plan(row) for row in rows}

    async def list(
        self, *, include_archived: bool, offset: int, limit: int
    ) -> tuple[int, list[Plan]]:
        where = "" if include_archived else "WHERE archived_at IS NULL"
        total = await self._conn.fetchval(f"SELECT count(*) FROM plan {where}")
        rows = await self._conn.fetch(
            f"SELECT {_PLAN_COLUMNS} FROM plan {where} ORDER BY created_at, id OFFSET $1 LIMIT $2",
            offset,
            limit,
        )
        return int(total), [_plan(row) for row in rows]

    async def save(self, plan: Plan) -> Plan:
        limits = plan.limits
        row = await self._conn.fetchrow(
            f"""
            UPDATE plan SET
                name = $2, monthly_credits = $3, price_cents = $4, currency = $5,
                max_users = $6, messages_per_day = $7, requests_per_minute = $8,
                max_selection_size = $9, archived_at = $10, updated_at = $11,
                credit_validity_days = $12
            WHERE id = $1
            RETURNING {_PLAN_COLUMNS}
            """,
            uuid.UUID(plan.id),
            plan.name,
            limits.monthly_credits,
            limits.price_cents,
            plan.currency,
            limits.max_users,
            limits.messages_per_day,
            limits.requests_per_minute,
            limits.max_selection_size,
            plan.archived_at,
            plan.updated_at,
            limits.credit_validity_days,
        )
        if row is None:
            raise NotFound(f"Plano não encontrado: '{plan.id}'.", code="plan_not_found")
        return _plan(row)


def _document_taken(document: str | None) -> Conflict:
    return Conflict(
        f"O CNPJ {document} já é de outro tenant.",
        field="document",
        code="tenant_document_taken",
    )


class PostgresTenants:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, tenant: Tenant) -> Tenant:
        try:
            row = await self._conn.fetchrow(
                f"""
                INSERT INTO tenant (
                    id, name, plan_id, status, status_reason, document, contact_email, settings,
                    suspended_at, deleted_at, retention_until, created_at, updated_at
                ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13)
                RETURNING {_TENANT_COLUMNS}
                """,
                uuid.UUID(tenant.id),
                *_stored_fields(tenant),
                tenant.created_at,
                tenant.updated_at,
            )
        except asyncpg.UniqueViolationError:
            # The partial unique index on document, hit by a concurrent request.
            raise _document_taken(tenant.document) from None
        return _tenant(row)

    async def get(self, tenant_id: str, *, for_update: bool = False) -> Tenant | None:
        tenant_uuid = parse_uuid(tenant_id)
        if tenant_uuid is None:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_TENANT_COLUMNS} FROM tenant WHERE id = $1{lock}", tenant_uuid
        )
        return _tenant(row) if row is not None else None

    async def find_by_document(self, document: str) -> Tenant | None:
        row = await self._conn.fetchrow(
            f"SELECT {_TENANT_COLUMNS} FROM tenant WHERE document = $1 AND status <> 'deleted' "
            "ORDER BY created_at LIMIT 1",
            document,
        )
        return _tenant(row) if row is not None else None

    async def list(
        self, query: TenantQuery, *, offset: int, limit: int
    ) -> tuple[int, list[Tenant]]:
        clauses: list[str] = []
        values: list[Any] = []

        def bind(value: Any) -> str:
            values.append(value)
            return f"${len(values)}"

        if query.status is None:
            clauses.append("status <> 'deleted'")
        else:
            clauses.append(f"status = {bind(query.status.value)}")
        if query.plan_id is not None:
            plan_uuid = parse_uuid(query.plan_id)
            if plan_uuid is None:
                return 0, []
            clauses.append(f"plan_id = {bind(plan_uuid)}")
        if query.name_contains:
            accented, folded = bind(_ACCENTED), bind(_FOLDED)
            clauses.append(
                f"strpos(lower(translate(name, {accented}, {folded})), "
                f"lower(translate({bind(query.name_contains)}, {accented}, {folded}))) > 0"
            )
        if query.created_from is not None:
            clauses.append(f"created_at >= {bind(query.created_from)}")
        if query.created_before is not None:
            clauses.append(f"created_at < {bind(query.created_before)}")
        where = "WHERE " + " AND ".join(clauses)

        total = await self._conn.fetchval(f"SELECT count(*) FROM tenant {where}", *values)
        rows = await self._conn.fetch(
            f"SELECT {_TENANT_COLUMNS} FROM tenant {where} ORDER BY created_at, id "
            f"OFFSET {bind(offset)} LIMIT {bind(limit)}",
            *values,
        )
        return int(total), [_tenant(row) for row in rows]

    async def save(self, tenant: Tenant) -> Tenant:
        try:
            row = await self._conn.fetchrow(
                f"""
                UPDATE tenant SET
                    name = $2, plan_id = $3, status = $4, status_reason = $5, document = $6,
                    contact_email = $7, settings = $8::jsonb, suspended_at = $9, deleted_at = $10,
                    retention_until = $11, updated_at = $12
                WHERE id = $1
                RETURNING {_TENANT_COLUMNS}
                """,
                uuid.UUID(tenant.id),
                *_stored_fields(tenant),
                tenant.updated_at,
            )
        except asyncpg.UniqueViolationError:
            raise _document_taken(tenant.document) from None
        if row is None:
            raise NotFound(f"Tenant não encontrado: '{tenant.id}'.", code="tenant_not_found")
        return _tenant(row)

    async def save_settings(self, tenant: Tenant) -> Tenant:
        row = await self._conn.fetchrow(
            f"""
            UPDATE tenant SET settings = $2::jsonb, updated_at = $3
            WHERE id = $1
            RETURNING {_TENANT_COLUMNS}
            """,
            uuid.UUID(tenant.id),
            _settings_json(tenant),
            tenant.updated_at,
        )
        if row is None:
            raise NotFound(f"Tenant não encontrado: '{tenant.id}'.", code="tenant_not_found")
        return _tenant(row)

    async def member_counts(self, tenant_id: str, now: dt.datetime) -> MemberCounts:
        tenant_uuid = uuid.UUID(tenant_id)
        users = await self._conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE status = 'active') AS active,
                   count(*) FILTER (WHERE status = 'invited') AS invited,
                   count(*) FILTER (WHERE status = 'disabled') AS disabled
            FROM account WHERE tenant_id = $1
            """,
            tenant_uuid,
        )
        keys = await self._conn.fetchval(
            """
            SELECT count(*) FROM api_key
            WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
            """,
            tenant_uuid,
            now,
        )
        return MemberCounts(
            active_users=int(users["active"]),
            invited_users=int(users["invited"]),
            disabled_users=int(users["disabled"]),
            active_api_keys=int(keys),
        )
