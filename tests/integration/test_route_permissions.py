"""Walk every route of the permission table with every role and with API key scopes.

The table in ``entrypoints/http/permissions.py`` says who may call each
route. This module calls each route, as a user of each role and as keys
with and without the route's scope, through the real stack, and checks that
the answer is a refusal exactly when the table says so. A route that lets a
caller through may still answer 400 or 404 to the placeholder ids and
bodies: what matters here is that it is not 401 or 403.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from domain.identity import HOST_PERMISSIONS, TENANT_PERMISSIONS, Principal, PrincipalKind, Role
from entrypoints.container import Container, build_container, provide
from entrypoints.http.permissions import ROUTE_ACCESS, Access, Zone, allowed, roles_allowed
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.identity import access_claims, create_api_key, create_tenant, create_user_session
from tests.support.openapi_contract import json_request_example

PLACEHOLDER_CNPJ = "11222333000181"

REFUSALS = {
    "forbidden",
    "host_only",
    "tenant_required",
    "session_required",
    "insufficient_scope",
}


def concrete_path(template: str) -> str:
    """Fill every path parameter: a CNPJ for {cnpj}, a fresh UUID for the others."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return PLACEHOLDER_CNPJ if name == "cnpj" else str(uuid.uuid4())

    return re.sub(r"\{([^}]+)\}", value, template)


def example_body(document: dict[str, Any], method: str, template: str) -> dict[str, Any] | None:
    example = json_request_example(document["paths"][template][method.lower()])
    return None if example is None else dict(example)


@pytest.fixture
async def world(aiohttp_client: Any, settings: Settings) -> dict[str, Any]:
    assert settings.database_url
    container: Container = build_container(settings)
    client: TestClient = await aiohttp_client(build_app(container))
    document = await (await client.get("/v1/openapi.json")).json()
    tenant_id = await create_tenant(settings.database_url, f"Papéis {uuid.uuid4().hex[:6]}")
    return {"client": client, "container": container, "document": document, "tenant_id": tenant_id}


async def user_token(world: dict[str, Any], settings: Settings, role: Role) -> str:
    """A fresh login session of a new user of ``role``, as its access token."""
    assert settings.database_url
    tenant_id = None if role is Role.HOST_ADMIN else world["tenant_id"]
    account_id, session_id, email = await create_user_session(
        settings.database_url, tenant_id, role
    )
    tokens = await provide(world["container"].access_tokens)
    return str(tokens.issue(access_claims(account_id, session_id, tenant_id, role, email)))


async def call(
    world: dict[str, Any], method: str, template: str, headers: dict[str, str]
) -> tuple[int, str | None]:
    client: TestClient = world["client"]
    response = await client.request(
        method,
        concrete_path(template),
        json=example_body(world["document"], method, template),
        headers=headers,
    )
    body = await response.json(content_type=None)
    code = body.get("code") if isinstance(body, dict) else None
    return response.status, code


def expected_refusal(access: Access, principal: Principal) -> bool:
    return not allowed(access, principal)


def table_refused(status: int, code: str | None) -> bool:
    """A refusal by authentication or the permission table, not by the use case.

    A use case may answer 403 for its own reasons (a key asking for scopes its
    creator lacks); those calls got past the table.
    """
    return status == 401 or (status == 403 and code in REFUSALS)


def test_every_registered_route_has_an_entry_and_no_entry_is_stale(settings: Settings) -> None:
    app = build_app(build_container(settings))
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert registered == set(ROUTE_ACCESS)


def test_the_table_gives_each_role_what_it_should() -> None:
    """Spot checks that read like the product's rules, over the derived role sets."""
    search = ROUTE_ACCESS[("POST", "/v1/preleads/search")]
    keys = ROUTE_ACCESS[("POST", "/v1/api-keys")]
    host_audit = ROUTE_ACCESS[("GET", "/v1/host/audit")]

    assert roles_allowed(search) == {Role.ADMIN, Role.SALES, Role.VIEWER}
    assert roles_allowed(keys) == {Role.ADMIN}
    assert roles_allowed(host_audit) == {Role.HOST_ADMIN}
    for access in ROUTE_ACCESS.values():
        if access.zone is Zone.HOST:
            assert roles_allowed(access) == {Role.HOST_ADMIN}
        if access.zone is Zone.TENANT:
            assert Role.HOST_ADMIN not in roles_allowed(access)
            assert Role.ADMIN in roles_allowed(access)


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
async def test_each_role_on_every_route(
    world: dict[str, Any], settings: Settings, role: Role
) -> None:
    mismatches = []
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        if access.zone is Zone.PUBLIC:
            continue
        token = await user_token(world, settings, role)
        status, code = await call(world, method, template, {"Authorization": f"Bearer {token}"})

        principal = Principal(
            kind=PrincipalKind.ACCOUNT,
            id=str(uuid.uuid4()),
            tenant_id=None if role is Role.HOST_ADMIN else world["tenant_id"],
            role=role,
            session_id=str(uuid.uuid4()),
        )
        if expected_refusal(access, principal) != table_refused(status, code):
            mismatches.append((method, template, status, code))

    assert mismatches == []


async def test_host_admin_inside_a_tenant_acts_as_its_admin(
    world: dict[str, Any], settings: Settings
) -> None:
    mismatches = []
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        if access.zone is not Zone.TENANT:
            continue
        token = await user_token(world, settings, Role.HOST_ADMIN)
        status, code = await call(
            world,
            method,
            template,
            {"Authorization": f"Bearer {token}", "X-Tenant-ID": world["tenant_id"]},
        )
        if table_refused(status, code):
            mismatches.append((method, template, status, code))

    assert mismatches == []


async def test_keys_need_the_scope_of_each_route(world: dict[str, Any], settings: Settings) -> None:
    assert settings.database_url
    mismatches = []
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        if access.zone not in (Zone.TENANT, Zone.HOST) or access.permission is None:
            continue
        owner = None if access.zone is Zone.HOST else world["tenant_id"]
        side = HOST_PERMISSIONS if owner is None else TENANT_PERMISSIONS

        _id, with_scope = await create_api_key(settings.database_url, owner, [access.permission])
        _id, without_scope = await create_api_key(
            settings.database_url, owner, sorted(side - {access.permission})
        )

        status, code = await call(world, method, template, {"X-API-Key": with_scope})
        if table_refused(status, code):
            mismatches.append(("with", method, template, status, code))

        status, code = await call(world, method, template, {"X-API-Key": without_scope})
        if (status, code) != (403, "insufficient_scope"):
            mismatches.append(("without", method, template, status, code))

    assert mismatches == []


async def test_session_routes_refuse_api_keys(world: dict[str, Any], settings: Settings) -> None:
    assert settings.database_url
    _id, key = await create_api_key(settings.database_url, world["tenant_id"])
    session_routes = [key_ for key_, access in ROUTE_ACCESS.items() if access.zone is Zone.SESSION]

    for method, template in session_routes:
        status, code = await call(world, method, template, {"X-API-Key": key})
        assert (status, code) == (403, "session_required"), (method, template)


async def test_every_protected_route_needs_credentials(world: dict[str, Any]) -> None:
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        status, code = await call(world, method, template, {})
        if access.zone is Zone.PUBLIC:
            # Public routes may refuse what they are sent (login with a wrong
            # password is a 401), never ask for credentials first.
            assert code not in REFUSALS | {"authentication_required"}, (method, template, code)
        else:
            assert (status, code) == (401, "authentication_required"), (method, template)
