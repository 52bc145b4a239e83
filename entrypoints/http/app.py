"""The aiohttp application factory of the REST API.

The dependency-injector container builds ``HttpServices`` from the adapters
and the use cases; this module only wires them into an application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from domain.search import Page, PageRequest, SearchCriteria
from entrypoints.http.middleware import (
    TENANT_ID_KEY,
    ApiKeyResolver,
    api_key_authenticator,
    error_middleware,
    make_tenant_middleware,
    request_id_middleware,
)
from entrypoints.http.openapi import build_openapi_document
from entrypoints.http.routes_registry import OPENAPI_DOCUMENT_KEY, SERVICES_KEY, register_routes

__all__ = ["OPENAPI_DOCUMENT_KEY", "SERVICES_KEY", "TENANT_ID_KEY", "HttpServices", "create_app"]

SearchPreLeadsHandler = Callable[[SearchCriteria, PageRequest, str | None], Awaitable[Page]]
GetCompanyHandler = Callable[[str], Awaitable[dict[str, Any]]]
ReadinessCheck = Callable[[], Awaitable[None]]


@attrs.frozen(kw_only=True)
class HttpServices:
    """The use cases and checks that the HTTP API calls."""

    #: ``SearchPreLeads``: (criteria, page, tenant id) to one page of plain-dict items.
    search_preleads: SearchPreLeadsHandler
    #: ``GetCompany``: CNPJ as typed by the user to the company detail dict.
    get_company: GetCompanyHandler
    #: Returns the tenant id of an API key, or None when the key is unknown or revoked.
    resolve_api_key: ApiKeyResolver
    #: Component name to a check that raises when the component is down.
    readiness: Mapping[str, ReadinessCheck]
    #: Largest ``per_page`` a list request may ask for.
    max_per_page: int


def create_app(services: HttpServices) -> web.Application:
    """Build the API application around ``services``; opens no connection itself."""
    authenticate = api_key_authenticator(services.resolve_api_key)
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, make_tenant_middleware(authenticate)]
    )
    app[SERVICES_KEY] = services
    app[OPENAPI_DOCUMENT_KEY] = build_openapi_document(max_per_page=services.max_per_page)
    register_routes(app)
    return app
