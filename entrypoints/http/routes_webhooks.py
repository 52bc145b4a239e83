"""Tenant webhook routes: endpoints, their delivery log, and redelivery."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import (
    json_ok,
    json_page,
    page_from_query,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    use_case,
)

_ENDPOINT_FIELDS = frozenset({"url", "events", "description"})


def register_routes(app: web.Application) -> None:
    base = "/v1/webhooks/endpoints"
    app.router.add_get(base, handle_list_endpoints, allow_head=False)
    app.router.add_post(base, handle_create_endpoint)
    app.router.add_get(base + "/{endpoint_id}", handle_get_endpoint, allow_head=False)
    app.router.add_delete(base + "/{endpoint_id}", handle_remove_endpoint)
    app.router.add_get(base + "/{endpoint_id}/deliveries", handle_deliveries, allow_head=False)
    app.router.add_post("/v1/webhooks/deliveries/{delivery_id}/redeliver", handle_redeliver)


def _to_json(item: Any) -> Any:
    return item.to_json()


async def handle_list_endpoints(request: web.Request) -> web.Response:
    endpoints = await use_case(request, "webhook_endpoints")
    page = await endpoints.list(tenant_of(request), page_from_query(request))
    return json_page(page, _to_json)


async def handle_create_endpoint(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _ENDPOINT_FIELDS)

    endpoints = await use_case(request, "webhook_endpoints")
    endpoint, secret = await endpoints.create(
        actor_of(request),
        tenant_of(request),
        url=body.get("url"),
        events=body.get("events"),
        description=body.get("description"),
    )
    return json_ok({**endpoint.to_json(), "secret": secret}, status=201)


async def handle_get_endpoint(request: web.Request) -> web.Response:
    endpoint_id = path_uuid(request, "endpoint_id", what="Endpoint de webhook")
    endpoints = await use_case(request, "webhook_endpoints")
    endpoint = await endpoints.get(tenant_of(request), endpoint_id)
    return json_ok(endpoint.to_json())


async def handle_remove_endpoint(request: web.Request) -> web.Response:
    endpoint_id = path_uuid(request, "endpoint_id", what="Endpoint de webhook")
    endpoints = await use_case(request, "webhook_endpoints")
    endpoint = await endpoints.remove(actor_of(request), tenant_of(request), endpoint_id)
    return json_ok(endpoint.to_json())


async def handle_deliveries(request: web.Request) -> web.Response:
    endpoint_id = path_uuid(request, "endpoint_id", what="Endpoint de webhook")
    endpoints = await use_case(request, "webhook_endpoints")
    page = await endpoints.deliveries(tenant_of(request), endpoint_id, page_from_query(request))
    return json_page(page, _to_json)


async def handle_redeliver(request: web.Request) -> web.Response:
    delivery_id = path_uuid(request, "delivery_id", what="Entrega de webhook")
    deliveries = await use_case(request, "webhook_deliveries")
    delivery = await deliveries.redeliver(actor_of(request), tenant_of(request), delivery_id)
    return json_ok(delivery.to_json())
