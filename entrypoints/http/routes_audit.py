"""Audit log routes: the host's whole log and a tenant admin's view of its tenant."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from application.audit import AuditFilter
from entrypoints.http.auth import tenant_of
from entrypoints.http.context import (
    invalid_field,
    json_page,
    page_from_query,
    query_uuid,
    use_case,
)


def register_routes(app: web.Application) -> None:
    app.router.add_get("/v1/audit", handle_tenant_audit, allow_head=False)
    app.router.add_get("/v1/host/audit", handle_host_audit, allow_head=False)


def _query_datetime(request: web.Request, name: str) -> dt.datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise invalid_field(name, f"O parâmetro '{name}' deve ser data e hora ISO 8601 com fuso.")
    return value


def _filters(request: web.Request, *, tenant_id: str | None) -> AuditFilter:
    return AuditFilter(
        tenant_id=tenant_id,
        action_prefix=request.query.get("action") or None,
        actor_id=query_uuid(request, "actor_id"),
        since=_query_datetime(request, "since"),
        until=_query_datetime(request, "until"),
    )


async def handle_host_audit(request: web.Request) -> web.Response:
    reader = await use_case(request, "read_audit")
    filters = _filters(request, tenant_id=query_uuid(request, "tenant_id"))
    return json_page(await reader.for_host(filters, page_from_query(request)))


async def handle_tenant_audit(request: web.Request) -> web.Response:
    reader = await use_case(request, "read_audit")
    tenant_id = tenant_of(request)
    filters = _filters(request, tenant_id=tenant_id)
    return json_page(await reader.for_tenant(tenant_id, filters, page_from_query(request)))
