"""The tenant's own settings under /v1/settings: read by every user, changed by its admins."""

from __future__ import annotations

from aiohttp import web

from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import json_ok, read_json_object, use_case


def register_routes(app: web.Application) -> None:
    app.router.add_get("/v1/settings", handle_get_settings, allow_head=False)
    app.router.add_patch("/v1/settings", handle_update_settings)


async def handle_get_settings(request: web.Request) -> web.Response:
    settings = await use_case(request, "tenant_settings")
    return json_ok(await settings.read_own(tenant_of(request)))


async def handle_update_settings(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    settings = await use_case(request, "tenant_settings")
    return json_ok(await settings.update_own(actor_of(request), tenant_of(request), body))
