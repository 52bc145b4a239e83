"""The refusals of every documented operation match the document, on the real stack.

For each operation that needs credentials: no credentials answer 401, a key
without the operation's scope answers 403, and a tenant over its plan's
requests per minute answers 429 — each with a body that validates against
the schema the document declares for that status. Public operations must
not ask for credentials at all.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from domain.identity import HOST_PERMISSIONS, TENANT_PERMISSIONS
from entrypoints.container import build_container
from entrypoints.http.permissions import Zone, route_access
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.identity import create_api_key, create_tenant
from tests.support.openapi_contract import OpenApiContract, json_request_example

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return sorted(
        (method.upper(), template, operation)
        for template, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    )


def concrete(template: str) -> str:
    return re.sub(
        r"\{([^}]+)\}",
        lambda m: "11222333000181" if m.group(1).startswith("cnpj") else str(uuid.uuid4()),
        template,
    )


def example(operation: dict[str, Any]) -> Any:
    return json_request_example(operation)


@pytest.fixture
async def live(aiohttp_client: Any, settings: Settings) -> dict[str, Any]:
    client: TestClient = await aiohttp_client(build_app(build_container(settings)))
    document = await (await client.get("/v1/openapi.json")).json()
    return {"client": client, "document": document, "contract": OpenApiContract(document)}


async def send(
    live: dict[str, Any], method: str, path: str, operation: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any, list[str]]:
    client: TestClient = live["client"]
    async with client.request(method, path, json=example(operation), headers=headers) as response:
        body = await response.json(content_type=None)
        errors = live["contract"].errors(method, path, response.status, response.content_type, body)
    return response.status, body, errors


async def test_missing_credentials_answer_the_documented_401(live: dict[str, Any]) -> None:
    problems = []
    for method, template, operation in operations(live["document"]):
        access = route_access(method, template)
        assert access is not None, (method, template)
        status, body, errors = await send(live, method, concrete(template), operation, {})
        if access.zone is Zone.PUBLIC:
            if isinstance(body, dict) and body.get("code") == "authentication_required":
                problems.append((method, template, "public route asked for credentials"))
            continue
        if status != 401 or body.get("code") != "authentication_required" or errors:
            problems.append((method, template, status, errors))

    assert problems == []


async def test_missing_scope_answers_the_documented_403(
    live: dict[str, Any], settings: Settings
) -> None:
    assert settings.database_url
    tenant_id = await create_tenant(settings.database_url, "Escopos")
    problems = []
    for method, template, operation in operations(live["document"]):
        access = route_access(method, template)
        assert access is not None
        if access.permission is None:
            continue
        owner = None if access.zone is Zone.HOST else tenant_id
        side = HOST_PERMISSIONS if owner is None else TENANT_PERMISSIONS
        _id, key = await create_api_key(
            settings.database_url, owner, sorted(side - {access.permission})
        )

        status, body, errors = await send(
            live, method, concrete(template), operation, {"X-API-Key": key}
        )
        if status != 403 or body.get("code") != "insufficient_scope" or errors:
            problems.append((method, template, status, errors))

    assert problems == []


async def test_rate_limit_answers_the_documented_429(
    live: dict[str, Any], settings: Settings
) -> None:
    """A plan of one request per minute: the second call of each operation is refused."""
    assert settings.database_url
    problems = []
    for method, template, operation in operations(live["document"]):
        access = route_access(method, template)
        assert access is not None
        if access.zone is not Zone.TENANT:
            continue
        tenant_id = await create_tenant(
            settings.database_url, f"Limite {uuid.uuid4().hex[:6]}", requests_per_minute=1
        )
        _id, key = await create_api_key(settings.database_url, tenant_id)
        headers = {"X-API-Key": key}

        await send(live, method, concrete(template), operation, headers)
        status, body, errors = await send(live, method, concrete(template), operation, headers)
        if status != 429 or body.get("code") != "rate_limited" or errors:
            problems.append((method, template, status, errors))

    assert problems == []
