"""Every route module registers its routes here, in one place."""

from __future__ import annotations

from aiohttp import web

from entrypoints.http import routes_api_keys, routes_audit, routes_registry


def register_all_routes(app: web.Application) -> None:
    routes_registry.register_routes(app)
    routes_api_keys.register_routes(app)
    routes_audit.register_routes(app)
