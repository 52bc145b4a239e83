"""Tenant B, with full rights in its own tenant, asks for tenant A's records by id: 404 everywhere.

The routes come from the OpenAPI document, so a new tenant route is covered
as soon as it is documented. Each kind of path id has a factory that makes a
real record of tenant A; a route whose id has no factory fails the test
until one is added here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from domain.identity import Role
from entrypoints.container import Container, build_container, provide
from entrypoints.http.permissions import Zone, route_access
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.companies import valid_cnpj
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

HTTP_METHODS = ("get", "put", "post", "delete", "patch")

#: Path parameters that do not name a tenant's record: the registry is public data.
SHARED_PARAMETERS = {"cnpj"}


async def make_key(database_url: str, tenant_id: str) -> str:
    key_id, _key = await create_api_key(database_url, tenant_id)
    return key_id


async def make_user(database_url: str, tenant_id: str) -> str:
    account_id, _session, _email = await create_user_session(database_url, tenant_id, Role.SALES)
    return account_id


async def make_endpoint(database_url: str, tenant_id: str) -> str:
    endpoint_id = await owner_execute(
        database_url,
        "INSERT INTO webhook_endpoint (tenant_id, url, events, secret) "
        "VALUES ($1, 'https://crm.exemplo.com.br/hook', '{credits.low}', 'whsec_teste') "
        "RETURNING id",
        uuid.UUID(tenant_id),
    )
    return str(endpoint_id)


async def make_delivery(database_url: str, tenant_id: str) -> str:
    endpoint_id = await make_endpoint(database_url, tenant_id)
    # Delivered already, so no dispatcher ever sends it anywhere.
    delivery_id = await owner_execute(
        database_url,
        "INSERT INTO webhook_delivery (tenant_id, endpoint_id, event_id, event_type, payload, "
        "status, delivered_at) VALUES ($1, $2, $3, 'credits.low', '{}', 'delivered', now()) "
        "RETURNING id",
        uuid.UUID(tenant_id),
        uuid.UUID(endpoint_id),
        uuid.uuid4(),
    )
    return str(delivery_id)


async def make_pipeline(database_url: str, tenant_id: str) -> str:
    pipeline_id = await owner_execute(
        database_url,
        "INSERT INTO pipeline (tenant_id, name) VALUES ($1, $2) RETURNING id",
        uuid.UUID(tenant_id),
        f"Funil {uuid.uuid4().hex[:8]}",
    )
    return str(pipeline_id)


async def make_stage(database_url: str, tenant_id: str) -> str:
    """A stage of the tenant's default pipeline, which the tenant trigger created."""
    stage_id = await owner_execute(
        database_url,
        "SELECT s.id FROM pipeline_stage s JOIN pipeline p ON p.id = s.pipeline_id "
        "WHERE p.tenant_id = $1 AND p.is_default ORDER BY s.position LIMIT 1",
        uuid.UUID(tenant_id),
    )
    return str(stage_id)


async def make_lead(database_url: str, tenant_id: str) -> str:
    stage_id = await make_stage(database_url, tenant_id)
    lead_id = await owner_execute(
        database_url,
        "INSERT INTO lead (tenant_id, cnpj, pipeline_id, stage_id) "
        "SELECT $1, $2, pipeline_id, id FROM pipeline_stage WHERE id = $3 RETURNING id",
        uuid.UUID(tenant_id),
        f"{uuid.uuid4().int % 10**12:012d}00",
        uuid.UUID(stage_id),
    )
    return str(lead_id)


async def make_note(database_url: str, tenant_id: str) -> str:
    lead_id = await make_lead(database_url, tenant_id)
    note_id = await owner_execute(
        database_url,
        "INSERT INTO lead_note (tenant_id, lead_id, body) VALUES ($1, $2, 'Nota') RETURNING id",
        uuid.UUID(tenant_id),
        uuid.UUID(lead_id),
    )
    return str(note_id)


async def make_task(database_url: str, tenant_id: str) -> str:
    lead_id = await make_lead(database_url, tenant_id)
    task_id = await owner_execute(
        database_url,
        "INSERT INTO lead_task (tenant_id, lead_id, title) VALUES ($1, $2, 'Ligar') RETURNING id",
        uuid.UUID(tenant_id),
        uuid.UUID(lead_id),
    )
    return str(task_id)


async def make_lead_field(database_url: str, tenant_id: str) -> str:
    key = f"campo_{uuid.uuid4().hex[:8]}"
    await owner_execute(
        database_url,
        "INSERT INTO lead_field (tenant_id, key, label, type) VALUES ($1, $2, 'Campo', 'text')",
        uuid.UUID(tenant_id),
        key,
    )
    return key


async def make_selection(database_url: str, tenant_id: str) -> str:
    selection_id = await owner_execute(
        database_url,
        "INSERT INTO selection (tenant_id, name, origin) VALUES ($1, 'Lote', 'cnpjs') RETURNING id",
        uuid.UUID(tenant_id),
    )
    return str(selection_id)


async def make_job(database_url: str, tenant_id: str) -> str:
    selection_id = await make_selection(database_url, tenant_id)
    job_id = await owner_execute(
        database_url,
        "INSERT INTO qualification_job (tenant_id, selection_id, state, orchestrator, total) "
        "VALUES ($1, $2, 'paused', 'builtin', 1) RETURNING id",
        uuid.UUID(tenant_id),
        uuid.UUID(selection_id),
    )
    return str(job_id)


async def make_flow(database_url: str, tenant_id: str) -> str:
    job_id = await make_job(database_url, tenant_id)
    prelead_id = await owner_execute(
        database_url,
        "INSERT INTO prelead (tenant_id, cnpj, status) VALUES ($1, $2, 'qualifying') RETURNING id",
        uuid.UUID(tenant_id),
        valid_cnpj(uuid.uuid4().int % 90_000_000),
    )
    flow_id = await owner_execute(
        database_url,
        "INSERT INTO qualification_flow (tenant_id, job_id, prelead_id, state, channel, attempt, "
        "next_action_at) VALUES ($1, $2, $3, 'in_review', 'sms', 1, now()) RETURNING id",
        uuid.UUID(tenant_id),
        uuid.UUID(job_id),
        prelead_id,
    )
    return str(flow_id)


async def make_sender(database_url: str, tenant_id: str) -> str:
    sender_id = await owner_execute(
        database_url,
        "INSERT INTO sender_number (tenant_id, channel, address, limit_per_period, period_seconds) "
        "VALUES ($1, 'sms', $2, 10, 60) RETURNING id",
        uuid.UUID(tenant_id),
        f"+55419{uuid.uuid4().int % 100_000_000:08d}",
    )
    return str(sender_id)


#: Parameter name to a factory of one record of the given tenant.
FACTORIES: dict[str, Callable[[str, str], Awaitable[str]]] = {
    "key_id": make_key,
    "user_id": make_user,
    "endpoint_id": make_endpoint,
    "delivery_id": make_delivery,
    "pipeline_id": make_pipeline,
    "stage_id": make_stage,
    "lead_id": make_lead,
    "selection_id": make_selection,
    "note_id": make_note,
    "task_id": make_task,
    "job_id": make_job,
    "flow_id": make_flow,
    "sender_id": make_sender,
    # The key of a custom field of leads.
    "key": make_lead_field,
}


def tenant_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            access = route_access(method.upper(), template)
            if access is not None and access.zone is Zone.TENANT:
                found.append((method.upper(), template, operation))
    return sorted(found, key=lambda entry: (entry[1], entry[0]))


async def admin_token(container: Container, database_url: str, tenant_id: str) -> str:
    account_id, session_id, email = await create_user_session(database_url, tenant_id, Role.ADMIN)
    tokens = await provide(container.access_tokens)
    return str(tokens.issue(access_claims(account_id, session_id, tenant_id, Role.ADMIN, email)))


@pytest.fixture
async def setup(aiohttp_client: Any, settings: Settings) -> dict[str, Any]:
    assert settings.database_url
    container = build_container(settings)
    client: TestClient = await aiohttp_client(build_app(container))
    document = await (await client.get("/v1/openapi.json")).json()
    tenant_a = await create_tenant(settings.database_url, "Empresa A")
    tenant_b = await create_tenant(settings.database_url, "Empresa B")
    return {
        "client": client,
        "document": document,
        "a": tenant_a,
        "token_b": await admin_token(container, settings.database_url, tenant_b),
        "database_url": settings.database_url,
    }


async def test_every_tenant_route_with_an_id_answers_404_to_another_tenant(
    setup: dict[str, Any],
) -> None:
    client: TestClient = setup["client"]
    checked = []
    failures = []

    for method, template, operation in tenant_operations(setup["document"]):
        names = [name.split(":")[0] for name in re.findall(r"\{([^}]+)\}", template)]
        own = [name for name in names if name not in SHARED_PARAMETERS]
        if not own:
            continue

        missing = [name for name in own if name not in FACTORIES]
        assert missing == [], f"{method} {template}: add a factory for {missing} in this module"

        path = template
        for name in own:
            record_id = await FACTORIES[name](setup["database_url"], setup["a"])
            path = path.replace("{" + name + "}", record_id)

        body = None
        if "requestBody" in operation:
            media = operation["requestBody"]["content"]["application/json"]
            assert "example" in media, f"{method} {template}: document a request example"
            body = media["example"]

        response = await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {setup['token_b']}"}
        )
        problem = await response.json(content_type=None)
        checked.append((method, template))
        if response.status != 404 or problem.get("code") != "not_found":
            failures.append((method, template, response.status, problem.get("code")))

    assert failures == []
    # The walk must have reached the routes that exist today.
    assert ("GET", "/v1/api-keys/{key_id}") in checked


async def test_lists_never_show_another_tenants_records(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    key_of_a = await make_key(setup["database_url"], setup["a"])
    user_of_a = await make_user(setup["database_url"], setup["a"])

    for method, template, _operation in tenant_operations(setup["document"]):
        if method != "GET" or "{" in template:
            continue
        response = await client.get(
            template, headers={"Authorization": f"Bearer {setup['token_b']}"}
        )
        text = await response.text()
        assert setup["a"] not in text, template
        assert key_of_a not in text, template
        assert user_of_a not in text, template


async def test_a_random_id_is_404_too(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    response = await client.get(
        f"/v1/api-keys/{uuid.uuid4()}", headers={"Authorization": f"Bearer {setup['token_b']}"}
    )
    assert response.status == 404
