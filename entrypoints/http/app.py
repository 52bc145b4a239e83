"""The aiohttp application factory of the REST API.

The dependency-injector container builds ``HttpServices`` from the adapters
and the use cases; this module only wires them into an application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs
from aiohttp import web

from application.search import SearchSource
from domain.search import Page, PageRequest, SearchCriteria
from entrypoints.http.auth import (
    AuthenticateHandler,
    EnterTenantHandler,
    make_auth_middleware,
)
from entrypoints.http.context import OPENAPI_DOCUMENT_KEY, SERVICES_KEY
from entrypoints.http.middleware import TENANT_ID_KEY, error_middleware, request_id_middleware
from entrypoints.http.openapi import build_openapi_document
from entrypoints.http.permissions import route_access
from entrypoints.http.routes import register_all_routes

__all__ = [
    "OPENAPI_DOCUMENT_KEY",
    "SERVICES_KEY",
    "TENANT_ID_KEY",
    "HttpServices",
    "UseCases",
    "create_app",
]

SearchPreLeadsHandler = Callable[
    [SearchCriteria, PageRequest, str | None, SearchSource], Awaitable[Page]
]
GetCompanyHandler = Callable[[str], Awaitable[dict[str, Any]]]
ReadinessCheck = Callable[[], Awaitable[None]]
#: Extra middlewares placed after authentication (the rate limiter).
MiddlewareFactory = Callable[[], Any]


class UseCases(Protocol):
    """Hands a route the use case it names, built by the container."""

    async def get(self, name: str) -> Any: ...


@attrs.frozen(kw_only=True)
class HttpServices:
    """The use cases and checks that the HTTP API calls."""

    #: ``SearchPreLeads``: (criteria, page, tenant id, source) to one page of plain-dict items.
    search_preleads: SearchPreLeadsHandler
    #: ``GetCompany``: CNPJ as typed by the user to the company detail dict.
    get_company: GetCompanyHandler
    #: Credentials to (principal, tenant state); raises on anything not accepted.
    authenticate: AuthenticateHandler
    #: A host admin stepping into a tenant with X-Tenant-ID.
    enter_tenant: EnterTenantHandler
    #: Every other use case, by container name.
    use_cases: UseCases
    #: Component name to a check that raises when the component is down.
    readiness: Mapping[str, ReadinessCheck]
    #: Largest ``per_page`` a list request may ask for.
    max_per_page: int
    #: Middlewares that run after authentication, outermost first.
    after_auth: tuple[Any, ...] = ()


def create_app(services: HttpServices) -> web.Application:
    """Build the API application around ``services``; opens no connection itself."""
    app = web.Application(
        middlewares=[
            request_id_middleware,
            error_middleware,
            make_auth_middleware(services.authenticate, services.enter_tenant),
            *services.after_auth,
        ]
    )
    app[SERVICES_KEY] = services
    app[OPENAPI_DOCUMENT_KEY] = build_openapi_document(max_per_page=services.max_per_page)
    register_all_routes(app)
    _check_permission_table(app)
    return app


def _check_permission_table(app: web.Application) -> None:
    """Refuse to build an app with a route that the permission table does not name."""
    missing = [
        f"{route.method} {route.resource.canonical}"
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and route_access(route.method, route.resource.canonical) is None
    ]
    if missing:
        raise RuntimeError(f"routes without an entry in ROUTE_ACCESS: {', '.join(missing)}")
