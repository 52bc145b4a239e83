"""Host routes under /v1/host: plans, tenants, tenant settings and usage.

Handlers check the JSON types and shapes; the use cases in
``application.tenancy`` check the rules and audit every change.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from aiohttp import web

from application.tenancy import (
    UNSET,
    PlanChanges,
    PlanDraft,
    TenantChanges,
    TenantDraft,
    TenantQuery,
    Unset,
)
from domain.tenancy import DEFAULT_TIMEZONE, TenantStatus
from entrypoints.http.auth import actor_of
from entrypoints.http.context import (
    invalid_field,
    json_ok,
    json_page,
    page_from_query,
    page_meta,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    required_string,
    use_case,
)

#: Plan limits are stored as PostgreSQL integers (4 bytes).
MAX_STORED_INT = 2_147_483_647
MAX_QUERY_LENGTH = 200

_PLAN_LIMIT_FIELDS = (
    "monthly_credits",
    "price_cents",
    "max_users",
    "messages_per_day",
    "requests_per_minute",
)
_PLAN_FIELDS = frozenset(
    {"code", "name", "currency", "max_selection_size", "credit_validity_days", *_PLAN_LIMIT_FIELDS}
)
_TENANT_CREATE_FIELDS = frozenset({"name", "plan_id", "document", "contact_email", "settings"})
_TENANT_UPDATE_FIELDS = frozenset({"name", "plan_id", "document", "contact_email"})


def register_routes(app: web.Application) -> None:
    app.router.add_get("/v1/host/plans", handle_list_plans, allow_head=False)
    app.router.add_post("/v1/host/plans", handle_create_plan)
    app.router.add_get("/v1/host/plans/{plan_id}", handle_get_plan, allow_head=False)
    app.router.add_patch("/v1/host/plans/{plan_id}", handle_update_plan)
    app.router.add_delete("/v1/host/plans/{plan_id}", handle_archive_plan)

    app.router.add_get("/v1/host/tenants", handle_list_tenants, allow_head=False)
    app.router.add_post("/v1/host/tenants", handle_create_tenant)
    tenant = "/v1/host/tenants/{tenant_id}"
    app.router.add_get(tenant, handle_get_tenant, allow_head=False)
    app.router.add_patch(tenant, handle_update_tenant)
    app.router.add_delete(tenant, handle_delete_tenant)
    app.router.add_post(tenant + "/suspend", handle_suspend_tenant)
    app.router.add_post(tenant + "/reactivate", handle_reactivate_tenant)
    app.router.add_get(tenant + "/settings", handle_get_tenant_settings, allow_head=False)
    app.router.add_patch(tenant + "/settings", handle_update_tenant_settings)
    app.router.add_get(tenant + "/usage", handle_tenant_usage, allow_head=False)


# --- reading bodies and queries ------------------------------------------------------


def _int_field(body: dict[str, Any], field: str) -> int:
    value = body.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_field(field, f"O campo '{field}' é obrigatório e deve ser um número inteiro.")
    if abs(value) > MAX_STORED_INT:
        raise invalid_field(field, f"O campo '{field}' pode ser no máximo {MAX_STORED_INT}.")
    return value


def _optional_int_field(body: dict[str, Any], field: str) -> int | None:
    return _int_field(body, field) if field in body else None


def _nullable_int(body: dict[str, Any], field: str) -> int | None | Unset:
    """Read a whole number that may be cleared: UNSET when absent, None when sent as null."""
    if field not in body:
        return UNSET
    if body[field] is None:
        return None
    return _int_field(body, field)


def _optional_text(body: dict[str, Any], field: str, *, max_length: int) -> str | None:
    """Read a text that may be left out: None when absent, 400 when null or not a text."""
    if field not in body:
        return None
    return required_string(body, field, max_length=max_length)


def _nullable_text(body: dict[str, Any], field: str, *, max_length: int) -> str | None | Unset:
    """Read a text that PATCH may clear: UNSET when absent, None when sent as null."""
    if field not in body:
        return UNSET
    if body[field] is None:
        return None
    return required_string(body, field, max_length=max_length)


def _settings_object(body: dict[str, Any], field: str) -> dict[str, Any] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_field(field, f"O campo '{field}' deve ser um objeto JSON.")
    return value


def _plan_id(value: str) -> str:
    """Return a plan id from a body in canonical form when it is a UUID.

    Anything else goes through unchanged, and the use case reports it as an unknown plan.
    """
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def _query_bool(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in {"true", "false"}:
        raise invalid_field(name, f"O parâmetro '{name}' é true ou false.")
    return raw == "true"


def _query_instant(request: web.Request, name: str, *, end_of_day: bool) -> dt.datetime | None:
    """Read a date (AAAA-MM-DD, Brasília time) or a date and time with offset as an instant.

    ``end_of_day`` turns the value into the exclusive end of the period it
    names: the start of the next day for a date, the next microsecond for an
    instant, so that ``created_to`` includes what it names.
    """
    raw = request.query.get(name)
    if not raw:
        return None
    if len(raw) == 10:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            day = None
        if day is not None:
            if end_of_day:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(DEFAULT_TIMEZONE))
    try:
        instant = dt.datetime.fromisoformat(raw)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise invalid_field(
            name,
            f"O parâmetro '{name}' deve ser uma data AAAA-MM-DD ou data e hora ISO 8601 com "
            "fuso, como 2027-01-31T23:59:00-03:00.",
        )
    return instant + dt.timedelta(microseconds=1) if end_of_day else instant


def _tenant_query(request: web.Request) -> TenantQuery:
    status = request.query.get("status") or None
    if status is not None and status not in {s.value for s in TenantStatus}:
        raise invalid_field("status", "O parâmetro 'status' é active, suspended ou deleted.")

    plan_id = request.query.get("plan_id") or None
    if plan_id is not None:
        try:
            plan_id = str(uuid.UUID(plan_id))
        except ValueError:
            raise invalid_field("plan_id", "O parâmetro 'plan_id' deve ser um UUID.") from None

    name = " ".join(request.query.get("q", "").split()) or None
    if name is not None and len(name) > MAX_QUERY_LENGTH:
        raise invalid_field(
            "q", f"O parâmetro 'q' pode ter no máximo {MAX_QUERY_LENGTH} caracteres."
        )

    created_from = _query_instant(request, "created_from", end_of_day=False)
    created_before = _query_instant(request, "created_to", end_of_day=True)
    if created_from is not None and created_before is not None and created_before <= created_from:
        raise invalid_field("created_to", "O parâmetro 'created_to' vem antes de 'created_from'.")

    return TenantQuery(
        status=TenantStatus(status) if status is not None else None,
        plan_id=plan_id,
        name_contains=name,
        created_from=created_from,
        created_before=created_before,
    )


async def _optional_body(request: web.Request) -> dict[str, Any]:
    """Read the JSON object of a request whose body may be left out."""
    if not request.can_read_body:
        return {}
    return await read_json_object(request)


# --- plans ---------------------------------------------------------------------------


async def handle_list_plans(request: web.Request) -> web.Response:
    include_archived = _query_bool(request, "include_archived")
    plans = await use_case(request, "plans")
    return json_page(await plans.list(page_from_query(request), include_archived=include_archived))


async def handle_create_plan(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _PLAN_FIELDS)
    optional: dict[str, Any] = {}
    max_selection_size = _optional_int_field(body, "max_selection_size")
    if max_selection_size is not None:
        optional["max_selection_size"] = max_selection_size
    currency = _optional_text(body, "currency", max_length=3)
    if currency is not None:
        optional["currency"] = currency
    validity = _nullable_int(body, "credit_validity_days")
    if validity is not UNSET:
        optional["credit_validity_days"] = validity
    draft = PlanDraft(
        code=required_string(body, "code", max_length=40),
        name=required_string(body, "name", max_length=200),
        **{field: _int_field(body, field) for field in _PLAN_LIMIT_FIELDS},
        **optional,
    )
    plans = await use_case(request, "plans")
    plan = await plans.create(actor_of(request), draft)
    return json_ok(plan.to_json(), status=201)


async def handle_get_plan(request: web.Request) -> web.Response:
    plan_id = path_uuid(request, "plan_id", what="Plano")
    plans = await use_case(request, "plans")
    return json_ok((await plans.get(plan_id)).to_json())


async def handle_update_plan(request: web.Request) -> web.Response:
    plan_id = path_uuid(request, "plan_id", what="Plano")
    body = await read_json_object(request)
    reject_unknown_keys(body, _PLAN_FIELDS)
    if "code" in body:
        raise invalid_field(
            "code",
            "O código de um plano não muda, porque integrações o usam. Crie um plano novo "
            "e arquive este.",
        )
    changes = PlanChanges(
        name=_optional_text(body, "name", max_length=200),
        currency=_optional_text(body, "currency", max_length=3),
        max_selection_size=_optional_int_field(body, "max_selection_size"),
        credit_validity_days=_nullable_int(body, "credit_validity_days"),
        **{field: _optional_int_field(body, field) for field in _PLAN_LIMIT_FIELDS},
    )
    plans = await use_case(request, "plans")
    plan = await plans.update(actor_of(request), plan_id, changes)
    return json_ok(plan.to_json())


async def handle_archive_plan(request: web.Request) -> web.Response:
    plan_id = path_uuid(request, "plan_id", what="Plano")
    plans = await use_case(request, "plans")
    plan = await plans.archive(actor_of(request), plan_id)
    return json_ok(plan.to_json())


# --- tenants -------------------------------------------------------------------------


async def handle_list_tenants(request: web.Request) -> web.Response:
    query = _tenant_query(request)
    tenants = await use_case(request, "tenants")
    return json_page(await tenants.list(query, page_from_query(request)))


async def handle_create_tenant(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _TENANT_CREATE_FIELDS)
    document = body.get("document")
    contact_email = body.get("contact_email")
    draft = TenantDraft(
        name=required_string(body, "name", max_length=200),
        plan_id=_plan_id(required_string(body, "plan_id", max_length=100)),
        document=None if document is None else required_string(body, "document", max_length=30),
        contact_email=(
            None
            if contact_email is None
            else required_string(body, "contact_email", max_length=254)
        ),
        settings=_settings_object(body, "settings"),
    )
    tenants = await use_case(request, "tenants")
    view = await tenants.create(actor_of(request), draft)
    return json_ok(view.to_json(), status=201)


async def handle_get_tenant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    tenants = await use_case(request, "tenants")
    return json_ok((await tenants.get(tenant_id)).to_json())


async def handle_update_tenant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    body = await read_json_object(request)
    reject_unknown_keys(body, _TENANT_UPDATE_FIELDS)
    plan_id = _optional_text(body, "plan_id", max_length=100)
    changes = TenantChanges(
        name=_optional_text(body, "name", max_length=200),
        plan_id=_plan_id(plan_id) if plan_id is not None else None,
        document=_nullable_text(body, "document", max_length=30),
        contact_email=_nullable_text(body, "contact_email", max_length=254),
    )
    tenants = await use_case(request, "tenants")
    view = await tenants.update(actor_of(request), tenant_id, changes)
    return json_ok(view.to_json())


async def handle_suspend_tenant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    body = await read_json_object(request)
    reject_unknown_keys(body, {"reason"})
    reason = required_string(body, "reason", max_length=500)
    tenants = await use_case(request, "tenants")
    view = await tenants.suspend(actor_of(request), tenant_id, reason)
    return json_ok(view.to_json())


async def handle_reactivate_tenant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    reject_unknown_keys(await _optional_body(request), set())
    tenants = await use_case(request, "tenants")
    view = await tenants.reactivate(actor_of(request), tenant_id)
    return json_ok(view.to_json())


async def handle_delete_tenant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    body = await _optional_body(request)
    reject_unknown_keys(body, {"retention_days"})
    retention_days = _optional_int_field(body, "retention_days")
    tenants = await use_case(request, "tenants")
    view = await tenants.delete(actor_of(request), tenant_id, retention_days=retention_days)
    return json_ok(view.to_json())


async def handle_get_tenant_settings(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    settings = await use_case(request, "tenant_settings")
    return json_ok(await settings.read_as_host(tenant_id))


async def handle_update_tenant_settings(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    body = await read_json_object(request)
    settings = await use_case(request, "tenant_settings")
    return json_ok(await settings.update_as_host(actor_of(request), tenant_id, body))


async def handle_tenant_usage(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    page = page_from_query(request)
    tenants = await use_case(request, "tenants")
    usage = await tenants.usage(tenant_id, page)
    events = usage.recent_events
    return json_ok(
        {
            **usage.to_json(),
            "recent_events": {"meta": page_meta(events), "data": list(events.items)},
        }
    )
