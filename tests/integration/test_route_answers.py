"""Walk the OpenAPI document: every documented 404 and 422 happens, and every list pages.

The permission walker (test_route_permissions.py) covers 401 and 403 for
every route. This module covers the rest of the promise an integrator reads
in the document:

- each operation that declares 404 answers it, as problem+json, for ids that
  do not exist, through the real stack;
- each operation that declares 422 answers it for a request that is well
  formed but breaks a business rule, listed here per operation, and the list
  covers every such operation;
- each operation whose answer is a list takes ``page`` and ``per_page`` and
  reports them back in ``meta``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient

from domain.identity import Role
from entrypoints.container import Container, build_container, provide
from entrypoints.http.permissions import ROUTE_ACCESS, Zone
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.companies import valid_cnpj
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_host_key,
    create_tenant,
    create_user_session,
)
from tests.support.openapi_contract import json_request_example

PLACEHOLDER_CNPJ = "11222333000181"


@attrs.define
class World:
    client: TestClient[Any, Any]
    document: dict[str, Any]
    tenant_key: str
    host_key: str
    session_token: str
    #: Ids of resources that exist, for rule checks that need one.
    ids: dict[str, str] = attrs.field(factory=dict)


@pytest.fixture
async def world(aiohttp_client: Any, settings: Settings) -> World:
    assert settings.database_url
    container: Container = build_container(settings)
    client: TestClient[Any, Any] = await aiohttp_client(build_app(container))
    document = await (await client.get("/v1/openapi.json")).json()
    tenant_id = await create_tenant(settings.database_url, f"Rotas {uuid.uuid4().hex[:6]}")
    _kid, tenant_key = await create_api_key(settings.database_url, tenant_id)
    host_key = await create_host_key(settings.database_url)
    account_id, session_id, email = await create_user_session(
        settings.database_url, tenant_id, Role.ADMIN
    )
    tokens = await provide(container.access_tokens)
    token = str(tokens.issue(access_claims(account_id, session_id, tenant_id, Role.ADMIN, email)))
    return World(client, document, tenant_key, host_key, token)


def headers_for(world: World, method: str, template: str) -> dict[str, str]:
    zone = ROUTE_ACCESS[(method, template)].zone
    if zone is Zone.HOST:
        return {"X-API-Key": world.host_key}
    if zone is Zone.SESSION:
        return {"Authorization": f"Bearer {world.session_token}"}
    return {"X-API-Key": world.tenant_key}


def fill(template: str, values: dict[str, str] | None = None) -> str:
    """Fill path parameters: the given values, a CNPJ for {cnpj}, a fresh UUID otherwise."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if values and name in values:
            return values[name]
        return PLACEHOLDER_CNPJ if name == "cnpj" else str(uuid.uuid4())

    return re.sub(r"\{([^}]+)\}", value, template)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), template, operation)
        for template, item in document["paths"].items()
        for method, operation in item.items()
    ]


def example(operation: dict[str, Any]) -> Any:
    return json_request_example(operation)


async def send(
    world: World, method: str, path: str, headers: dict[str, str], body: Any
) -> tuple[int, str, Any]:
    async with world.client.request(method, path, json=body, headers=headers) as response:
        decoded = await response.json(content_type=None)
        return response.status, response.content_type, decoded


# --- 404 ---------------------------------------------------------------------------------


async def test_every_documented_404_answers_404(world: World) -> None:
    checked = []
    for method, template, operation in operations(world.document):
        if "404" not in operation["responses"] or "{" not in template:
            continue
        status, content_type, body = await send(
            world, method, fill(template), headers_for(world, method, template), example(operation)
        )
        if body.get("code") == "billing_disabled":
            # Stripe is off in tests, and a Stripe operation says so before it
            # looks for the plan; test_billing_api.py runs them with Stripe on.
            assert "stripe" in template, template
            continue
        assert (status, content_type) == (404, "application/problem+json"), (
            method, template, status, body,
        )  # fmt: skip
        assert body["code"] and body["detail"], (method, template)
        checked.append((method, template))

    assert len(checked) > 20


# --- 422 ---------------------------------------------------------------------------------

Arrange = Callable[[World], Awaitable[None]]


@attrs.frozen
class RuleCase:
    """A well-formed request that breaks one rule of the operation, and the code it gets."""

    path: str
    body: Any
    code: str
    arrange: Arrange | None = None


async def _a_lead(world: World) -> None:
    async with world.client.post(
        "/v1/leads/import",
        json={"leads": [{"cnpj": valid_cnpj(uuid.uuid4().int % 90_000_000)}]},
        headers={"X-API-Key": world.tenant_key},
    ) as response:
        world.ids["lead_id"] = (await response.json())["data"]["rows"][0]["lead_id"]


async def _a_selection(world: World) -> None:
    async with world.client.post(
        "/v1/preleads/selections",
        json={"cnpjs": [valid_cnpj(uuid.uuid4().int % 90_000_000)]},
        headers={"X-API-Key": world.tenant_key},
    ) as response:
        world.ids["selection_id"] = (await response.json())["data"]["id"]


async def _default_pipeline(world: World, stage: str = "Ganho") -> None:
    async with world.client.get(
        "/v1/pipelines", headers={"X-API-Key": world.tenant_key}
    ) as response:
        pipeline = (await response.json())["data"][0]
    world.ids["pipeline_id"] = pipeline["id"]
    stages = {stage["name"]: stage["id"] for stage in pipeline["stages"]}
    world.ids["stage_id"] = stages[stage]


async def _a_stage_with_a_lead(world: World) -> None:
    """A lead in the open stage "Em contato", so removing that stage needs a target."""
    await _default_pipeline(world, "Em contato")
    await _a_lead(world)
    async with world.client.post(
        f"/v1/leads/{world.ids['lead_id']}/move",
        json={"stage_id": world.ids["stage_id"]},
        headers={"X-API-Key": world.tenant_key},
    ) as response:
        assert response.status == 200


async def _a_field(world: World) -> None:
    key = f"campo_{uuid.uuid4().hex[:6]}"
    async with world.client.post(
        "/v1/leads/fields",
        json={"key": key, "label": "Campo", "type": "text"},
        headers={"X-API-Key": world.tenant_key},
    ) as response:
        assert response.status == 201, await response.text()
    world.ids["key"] = key


async def _a_task(world: World) -> None:
    await _a_lead(world)
    async with world.client.post(
        f"/v1/leads/{world.ids['lead_id']}/tasks",
        json={"title": "Ligar"},
        headers={"X-API-Key": world.tenant_key},
    ) as response:
        world.ids["task_id"] = (await response.json())["data"]["id"]


RULE_CASES: dict[tuple[str, str], RuleCase] = {
    ("POST", "/v1/preleads/selections"): RuleCase(
        "/v1/preleads/selections", {"cnpjs": ["11222333000182"]}, "invalid_cnpjs"
    ),
    ("PATCH", "/v1/preleads/selections/{selection_id}"): RuleCase(
        "/v1/preleads/selections/{selection_id}", {"name": "x" * 201}, "invalid_selection_name",
        _a_selection,
    ),
    ("GET", "/v1/leads"): RuleCase(
        f"/v1/leads?stage_id={uuid.UUID(int=1)}", None, "unknown_stage"
    ),
    ("POST", "/v1/leads/import"): RuleCase(
        "/v1/leads/import", {"leads": [{"cnpj": "123"}]}, "invalid_cnpjs"
    ),
    ("PATCH", "/v1/leads/{lead_id}"): RuleCase(
        "/v1/leads/{lead_id}", {"custom_fields": {"nao_existe": 1}}, "unknown_custom_field",
        _a_lead,
    ),
    ("POST", "/v1/leads/{lead_id}/move"): RuleCase(
        "/v1/leads/{lead_id}/move", {"stage_id": str(uuid.UUID(int=2))}, "unknown_stage", _a_lead
    ),
    ("POST", "/v1/leads/{lead_id}/resolve-duplicate"): RuleCase(
        "/v1/leads/{lead_id}/resolve-duplicate", {"resolution": "distinct"},
        "not_a_possible_duplicate", _a_lead,
    ),
    ("POST", "/v1/pipelines"): RuleCase(
        "/v1/pipelines",
        {"name": "Sem fechamento", "stages": [
            {"name": "Novo", "kind": "open"}, {"name": "Qualificado", "kind": "qualified"}]},
        "missing_stage_kind",
    ),
    ("PATCH", "/v1/pipelines/{pipeline_id}"): RuleCase(
        "/v1/pipelines/{pipeline_id}", {"is_default": False}, "default_pipeline_required",
        _default_pipeline,
    ),
    ("POST", "/v1/pipelines/{pipeline_id}/stages"): RuleCase(
        "/v1/pipelines/{pipeline_id}/stages", {"name": "Novo", "kind": "open"},
        "duplicate_stage_name", _default_pipeline,
    ),
    ("PATCH", "/v1/pipelines/{pipeline_id}/stages/{stage_id}"): RuleCase(
        "/v1/pipelines/{pipeline_id}/stages/{stage_id}", {"position": 99}, "invalid_position",
        _default_pipeline,
    ),
    ("DELETE", "/v1/pipelines/{pipeline_id}/stages/{stage_id}"): RuleCase(
        "/v1/pipelines/{pipeline_id}/stages/{stage_id}", None, "move_to_required",
        _a_stage_with_a_lead,
    ),
    ("POST", "/v1/leads/fields"): RuleCase(
        "/v1/leads/fields", {"key": "Número", "label": "Número", "type": "number"},
        "invalid_field_key",
    ),
    ("PATCH", "/v1/leads/fields/{key}"): RuleCase(
        "/v1/leads/fields/{key}", {"type": "number"}, "field_type_immutable", _a_field
    ),
    ("POST", "/v1/leads/{lead_id}/notes"): RuleCase(
        "/v1/leads/{lead_id}/notes", {"body": "  \n "}, "invalid_note", _a_lead
    ),
    ("POST", "/v1/leads/{lead_id}/tasks"): RuleCase(
        "/v1/leads/{lead_id}/tasks", {"title": "Ligar", "assignee_id": str(uuid.UUID(int=3))},
        "invalid_assignee", _a_lead,
    ),
    ("PATCH", "/v1/leads/{lead_id}/tasks/{task_id}"): RuleCase(
        "/v1/leads/{lead_id}/tasks/{task_id}", {"assignee_id": str(uuid.UUID(int=4))},
        "invalid_assignee", _a_task,
    ),
    ("POST", "/v1/leads/{lead_id}/interactions"): RuleCase(
        "/v1/leads/{lead_id}/interactions",
        {"channel": "pombo", "direction": "outbound", "content": "Recado"}, "invalid_channel",
        _a_lead,
    ),
    ("POST", "/v1/preleads/selections/{selection_id}/qualify"): RuleCase(
        "/v1/preleads/selections/{selection_id}/qualify", None, "nothing_to_qualify",
        _a_selection,
    ),
    ("POST", "/v1/qualification/reviews/{flow_id}"): RuleCase(
        "/v1/qualification/reviews/{flow_id}", {"outcome": "no_answer"},
        "invalid_review_outcome",
    ),
    ("POST", "/v1/qualification/senders"): RuleCase(
        "/v1/qualification/senders",
        {"channel": "sms", "address": "123", "limit_per_period": 10}, "invalid_sender",
    ),
    ("POST", "/v1/opt-outs"): RuleCase("/v1/opt-outs", {"phone": "123"}, "invalid_phone"),
    ("POST", "/v1/host/opt-outs"): RuleCase(
        "/v1/host/opt-outs", {"email": "sem-arroba"}, "invalid_email"
    ),
}  # fmt: skip


def declared_422(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, template)
        for method, template, operation in operations(document)
        if "422" in operation["responses"]
    }


async def test_rule_cases_cover_every_documented_422(world: World) -> None:
    assert set(RULE_CASES) == declared_422(world.document)


@pytest.mark.parametrize("key", sorted(RULE_CASES), ids=lambda key: f"{key[0]} {key[1]}")
async def test_documented_422_answers_422(world: World, key: tuple[str, str]) -> None:
    method, template = key
    case = RULE_CASES[key]
    if case.arrange is not None:
        await case.arrange(world)

    status, content_type, body = await send(
        world, method, fill(case.path, world.ids), headers_for(world, method, template), case.body
    )

    assert (status, content_type) == (422, "application/problem+json"), body
    assert body["code"] == case.code
    assert body["title"] == "Regra de negócio não atendida"


# --- pagination ----------------------------------------------------------------------


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def list_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Operations whose 200 JSON answer has a ``data`` array: lists, by this API's convention."""
    found = []
    for method, template, operation in operations(document):
        ok = operation["responses"].get("200", {})
        media = ok.get("content", {}).get("application/json")
        if media is None:
            continue
        schema = _resolve(document, media["schema"])
        data = _resolve(document, schema.get("properties", {}).get("data", {}))
        if data.get("type") == "array":
            found.append((method, template, operation))
    return found


def test_every_list_is_a_page(world: World) -> None:
    lists = list_operations(world.document)

    for method, template, operation in lists:
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            # A search takes its page in the body, beside the criteria.
            names |= set(_resolve(world.document, body["schema"]).get("properties", {}))
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert {"page", "per_page"} <= names, (method, template)
        assert "meta" in _resolve(world.document, ok)["properties"], (method, template)
    assert len(lists) > 10


async def test_every_list_honours_page_and_per_page(world: World) -> None:
    for method, template, operation in list_operations(world.document):
        if "{" in template or method != "GET":
            continue
        path = f"{template}?page=1&per_page=1"
        status, _type, body = await send(
            world, method, path, headers_for(world, method, template), example(operation)
        )
        assert status == 200, (template, body)
        assert body["meta"]["per_page"] == 1, template
        assert body["meta"]["page"] == 1, template
        assert len(body["data"]) <= 1, template
