"""The CRM over HTTP: pipelines and stages, custom fields, and each lead's timeline.

Every call goes through the real stack (authentication, the permission
table, the use cases, PostgreSQL as the application role under row-level
security) and every JSON response is checked against the OpenAPI document.
Leads are inserted as the owner, because creating them is another module's
job; what these routes do to them is read back the same way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from domain.identity import Permission, Role
from domain.leads import LeadField
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

DEFAULT_STAGES = ["Novo", "Em contato", "Qualificado", "Proposta", "Ganho", "Perdido"]


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def problem(result: ApiResult) -> tuple[int, str]:
    return result.status, result.body["code"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
def app_container(settings: Settings) -> Container:
    return build_container(settings)


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> ContractClient:
    return ContractClient(await aiohttp_client(build_app(app_container)))


@pytest.fixture
async def tenant(database: str) -> dict[str, str]:
    """A tenant and an API key holding every tenant scope."""
    tenant_id = await create_tenant(database, unique("CRM"))
    _key_id, key = await create_api_key(database, tenant_id)
    return {"id": tenant_id, "key": key}


@pytest.fixture
async def other_tenant(database: str) -> dict[str, str]:
    tenant_id = await create_tenant(database, unique("Outro CRM"))
    _key_id, key = await create_api_key(database, tenant_id)
    return {"id": tenant_id, "key": key}


async def user(container: Container, database: str, tenant_id: str, role: Role) -> dict[str, str]:
    """A user of ``role`` with an open session: its account id and access token."""
    account_id, session_id, email = await create_user_session(database, tenant_id, role)
    tokens = await provide(container.access_tokens)
    token = str(tokens.issue(access_claims(account_id, session_id, tenant_id, role, email)))
    return {"id": account_id, "token": token, "email": email}


async def default_pipeline(api: ContractClient, key: str) -> dict[str, Any]:
    listed = await api.call("GET", "/v1/pipelines", key)
    pipeline: dict[str, Any] = next(item for item in listed.data if item["is_default"])
    return pipeline


def stage_named(pipeline: dict[str, Any], name: str) -> dict[str, Any]:
    stage: dict[str, Any] = next(stage for stage in pipeline["stages"] if stage["name"] == name)
    return stage


async def insert_lead(
    database: str,
    tenant_id: str,
    pipeline_id: str,
    stage_id: str,
    *,
    merged_into: str | None = None,
    custom_fields: str = "{}",
) -> str:
    """Insert a lead as the owner and return its id."""
    lead_id = await owner_execute(
        database,
        "INSERT INTO lead (tenant_id, cnpj, pipeline_id, stage_id, company_name, merged_into, "
        "custom_fields) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id",
        uuid.UUID(tenant_id),
        f"{uuid.uuid4().int % 10**12:012d}00",
        uuid.UUID(pipeline_id),
        uuid.UUID(stage_id),
        unique("Empresa"),
        uuid.UUID(merged_into) if merged_into else None,
        custom_fields,
    )
    return str(lead_id)


async def a_lead(api: ContractClient, database: str, tenant: dict[str, str]) -> str:
    pipeline = await default_pipeline(api, tenant["key"])
    return await insert_lead(
        database, tenant["id"], pipeline["id"], stage_named(pipeline, "Novo")["id"]
    )


async def owner_fetch(database: str, statement: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


def partner_pipeline(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "stages": [
            {"name": "Prospecção", "kind": "open"},
            {"name": "Qualificado", "kind": "qualified"},
            {"name": "Fechado", "kind": "won"},
            {"name": "Descartado", "kind": "lost"},
        ],
    }


def positions(pipeline: dict[str, Any]) -> list[int]:
    return [stage["position"] for stage in pipeline["stages"]]


def names(pipeline: dict[str, Any]) -> list[str]:
    return [stage["name"] for stage in pipeline["stages"]]


# --- pipelines -------------------------------------------------------------------


async def test_default_pipeline_counts_unmerged_leads(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    novo = stage_named(pipeline, "Novo")
    first = await insert_lead(database, tenant["id"], pipeline["id"], novo["id"])
    await insert_lead(database, tenant["id"], pipeline["id"], novo["id"])
    await insert_lead(database, tenant["id"], pipeline["id"], novo["id"], merged_into=first)

    listed = await api.call("GET", "/v1/pipelines", tenant["key"])
    fetched = await api.call("GET", f"/v1/pipelines/{pipeline['id']}", tenant["key"])

    assert listed.body["meta"]["total_items"] == 1
    assert pipeline["name"] == "Funil de vendas"
    assert names(pipeline) == DEFAULT_STAGES
    assert positions(pipeline) == list(range(6))
    assert stage_named(fetched.data, "Novo")["lead_count"] == 2
    assert fetched.data["lead_count"] == 2


async def test_create_pipeline_checks_stage_rules(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    created = await api.call("POST", "/v1/pipelines", tenant["key"], partner_pipeline("Parcerias"))
    duplicate = await api.call(
        "POST", "/v1/pipelines", tenant["key"], partner_pipeline("  PARCERIAS ")
    )

    assert created.status == 201
    assert created.data["is_default"] is False
    assert names(created.data) == ["Prospecção", "Qualificado", "Fechado", "Descartado"]
    assert positions(created.data) == [0, 1, 2, 3]
    assert problem(duplicate) == (409, "pipeline_name_taken")

    broken = {
        "qualified_stage_count": [("A", "open"), ("B", "won"), ("C", "lost")],
        "missing_stage_kind": [("A", "open"), ("B", "qualified"), ("C", "won")],
        "duplicate_stage_name": [
            ("A", "open"),
            ("a", "open"),
            ("B", "qualified"),
            ("C", "won"),
            ("D", "lost"),
        ],
        "invalid_stage_kind": [("A", "open"), ("B", "closed")],
    }
    for code, stages in broken.items():
        body = {
            "name": unique("Funil"),
            "stages": [{"name": name, "kind": kind} for name, kind in stages],
        }
        result = await api.call("POST", "/v1/pipelines", tenant["key"], body)
        assert problem(result) == (422, code), code

    two_qualified = partner_pipeline(unique("Funil"))
    two_qualified["stages"].append({"name": "Outra qualificação", "kind": "qualified"})
    result = await api.call("POST", "/v1/pipelines", tenant["key"], two_qualified)
    assert problem(result) == (422, "qualified_stage_count")


async def test_create_pipeline_malformed_bodies(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    cases = [
        {"name": "Funil", "stages": "Novo"},
        {"name": 3, "stages": [{"name": "A", "kind": "open"}]},
        {"name": "Funil", "stages": [{"name": "A", "kind": "open", "color": "red"}]},
        {**partner_pipeline("Funil"), "owner": "eu"},
    ]
    for body in cases:
        result = await api.call("POST", "/v1/pipelines", tenant["key"], body)
        assert problem(result) == (400, "invalid_field"), body


async def test_update_pipeline_name_and_default(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    original = await default_pipeline(api, tenant["key"])
    created = await api.call("POST", "/v1/pipelines", tenant["key"], partner_pipeline("Parcerias"))
    path = f"/v1/pipelines/{created.data['id']}"

    renamed = await api.call("PATCH", path, tenant["key"], {"name": "Parcerias 2027"})
    promoted = await api.call("PATCH", path, tenant["key"], {"is_default": True})
    demoted = await api.call("PATCH", path, tenant["key"], {"is_default": False})
    empty = await api.call("PATCH", path, tenant["key"], {})
    taken = await api.call("PATCH", path, tenant["key"], {"name": "funil de vendas"})
    previous = await api.call("GET", f"/v1/pipelines/{original['id']}", tenant["key"])
    listed = await api.call("GET", "/v1/pipelines", tenant["key"])
    second_page = await api.call("GET", "/v1/pipelines?per_page=1&page=2", tenant["key"])

    assert renamed.data["name"] == "Parcerias 2027"
    assert listed.body["meta"] == {"page": 1, "per_page": 50, "total_items": 2, "total_pages": 1}
    assert promoted.data["is_default"] is True
    assert previous.data["is_default"] is False
    assert listed.data[0]["id"] == created.data["id"]
    assert [item["id"] for item in second_page.data] == [original["id"]]
    assert problem(demoted) == (422, "default_pipeline_required")
    assert problem(empty) == (400, "invalid_field")
    assert problem(taken) == (409, "pipeline_name_taken")


async def test_remove_pipeline_guards(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    default = await default_pipeline(api, tenant["key"])
    busy = await api.call("POST", "/v1/pipelines", tenant["key"], partner_pipeline("Com leads"))
    empty = await api.call("POST", "/v1/pipelines", tenant["key"], partner_pipeline("Vazio"))
    await insert_lead(database, tenant["id"], busy.data["id"], busy.data["stages"][0]["id"])

    refused_default = await api.call("DELETE", f"/v1/pipelines/{default['id']}", tenant["key"])
    refused_busy = await api.call("DELETE", f"/v1/pipelines/{busy.data['id']}", tenant["key"])
    removed = await api.call("DELETE", f"/v1/pipelines/{empty.data['id']}", tenant["key"])
    gone = await api.call("GET", f"/v1/pipelines/{empty.data['id']}", tenant["key"])

    assert problem(refused_default) == (409, "pipeline_is_default")
    assert problem(refused_busy) == (409, "pipeline_has_leads")
    assert removed.data["name"] == "Vazio"
    assert problem(gone) == (404, "not_found")


async def test_unknown_pipeline_answers_404(api: ContractClient, tenant: dict[str, str]) -> None:
    for path in (f"/v1/pipelines/{uuid.uuid4()}", "/v1/pipelines/not-a-uuid"):
        result = await api.call("GET", path, tenant["key"])
        assert problem(result) == (404, "not_found"), path

    stage = await api.call(
        "PATCH",
        f"/v1/pipelines/{(await default_pipeline(api, tenant['key']))['id']}/stages/{uuid.uuid4()}",
        tenant["key"],
        {"name": "Outra"},
    )
    assert problem(stage) == (404, "not_found")


# --- stages ----------------------------------------------------------------------


async def test_stages_insert_and_reorder_without_gaps(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    base = f"/v1/pipelines/{pipeline['id']}/stages"

    added = await api.call(
        "POST", base, tenant["key"], {"name": "Reunião", "kind": "open", "position": 1}
    )
    appended = await api.call("POST", base, tenant["key"], {"name": "Arquivo", "kind": "lost"})
    arquivo = stage_named(appended.data, "Arquivo")
    moved = await api.call(
        "PATCH", f"{base}/{arquivo['id']}", tenant["key"], {"position": 0, "name": "Arquivados"}
    )

    assert added.status == 201
    assert names(added.data) == [
        "Novo", "Reunião", "Em contato", "Qualificado", "Proposta", "Ganho", "Perdido",
    ]  # fmt: skip
    assert names(appended.data)[-1] == "Arquivo"
    assert names(moved.data) == [
        "Arquivados", "Novo", "Reunião", "Em contato", "Qualificado", "Proposta", "Ganho",
        "Perdido",
    ]  # fmt: skip
    assert positions(moved.data) == list(range(8))

    stored = await owner_fetch(
        database,
        "SELECT position FROM pipeline_stage WHERE pipeline_id = $1 ORDER BY position",
        uuid.UUID(pipeline["id"]),
    )
    assert [row["position"] for row in stored] == list(range(8))


async def test_stage_changes_keep_the_rules(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    base = f"/v1/pipelines/{pipeline['id']}/stages"
    contact = stage_named(pipeline, "Em contato")
    await insert_lead(database, tenant["id"], pipeline["id"], contact["id"])

    second_qualified = await api.call(
        "POST", base, tenant["key"], {"name": "Outra", "kind": "qualified"}
    )
    beyond_end = await api.call(
        "POST", base, tenant["key"], {"name": "Outra", "kind": "open", "position": 7}
    )
    same_name = await api.call("PATCH", f"{base}/{contact['id']}", tenant["key"], {"name": "NOVO"})
    closes_leads = await api.call(
        "PATCH", f"{base}/{contact['id']}", tenant["key"], {"kind": "won"}
    )
    bad_position = await api.call(
        "PATCH", f"{base}/{contact['id']}", tenant["key"], {"position": 6}
    )
    empty_name = await api.call("PATCH", f"{base}/{contact['id']}", tenant["key"], {"name": "  "})

    assert problem(second_qualified) == (422, "qualified_stage_count")
    assert problem(beyond_end) == (422, "invalid_position")
    assert problem(same_name) == (422, "duplicate_stage_name")
    assert problem(closes_leads) == (422, "stage_has_leads")
    assert problem(bad_position) == (422, "invalid_position")
    assert problem(empty_name) == (422, "invalid_stage_name")


async def test_stage_kind_changes_when_empty(api: ContractClient, tenant: dict[str, str]) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    proposal = stage_named(pipeline, "Proposta")

    changed = await api.call(
        "PATCH",
        f"/v1/pipelines/{pipeline['id']}/stages/{proposal['id']}",
        tenant["key"],
        {"kind": "won"},
    )

    assert stage_named(changed.data, "Proposta")["kind"] == "won"


async def test_stage_removal_moves_leads(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    contact = stage_named(pipeline, "Em contato")
    novo = stage_named(pipeline, "Novo")
    won = stage_named(pipeline, "Ganho")
    leads = [
        await insert_lead(database, tenant["id"], pipeline["id"], contact["id"]) for _ in range(2)
    ]
    other = await api.call("POST", "/v1/pipelines", tenant["key"], partner_pipeline("Outro"))
    path = f"/v1/pipelines/{pipeline['id']}/stages/{contact['id']}"

    without_target = await api.call("DELETE", path, tenant["key"])
    into_won = await api.call("DELETE", f"{path}?move_to={won['id']}", tenant["key"])
    into_other = await api.call(
        "DELETE", f"{path}?move_to={other.data['stages'][0]['id']}", tenant["key"]
    )
    malformed = await api.call("DELETE", f"{path}?move_to=novo", tenant["key"])
    removed = await api.call("DELETE", f"{path}?move_to={novo['id']}", tenant["key"])

    assert problem(without_target) == (422, "move_to_required")
    assert problem(into_won) == (422, "invalid_move_to")
    assert problem(into_other) == (422, "invalid_move_to")
    assert problem(malformed) == (400, "invalid_field")
    assert names(removed.data) == ["Novo", "Qualificado", "Proposta", "Ganho", "Perdido"]
    assert positions(removed.data) == list(range(5))
    assert stage_named(removed.data, "Novo")["lead_count"] == 2

    events = await owner_fetch(
        database,
        "SELECT lead_id, kind, from_stage_id, to_stage_id, reason, actor_type, actor_label "
        "FROM lead_event WHERE lead_id = ANY ($1::uuid[])",
        [uuid.UUID(lead) for lead in leads],
    )
    assert sorted(str(event["lead_id"]) for event in events) == sorted(leads)
    for event in events:
        assert event["kind"] == "stage_changed"
        assert str(event["from_stage_id"]) == contact["id"]
        assert str(event["to_stage_id"]) == novo["id"]
        assert event["reason"] == "etapa removida"
        assert event["actor_type"] == "api_key"
        assert event["actor_label"] == "chave de teste"

    timeline = await api.call("GET", f"/v1/leads/{leads[0]}/timeline", tenant["key"])
    assert [item["type"] for item in timeline.data] == ["event"]
    assert timeline.data[0]["reason"] == "etapa removida"


async def test_stage_removal_keeps_required_kinds(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    won = stage_named(pipeline, "Ganho")
    empty = stage_named(pipeline, "Proposta")

    refused = await api.call(
        "DELETE", f"/v1/pipelines/{pipeline['id']}/stages/{won['id']}", tenant["key"]
    )
    removed = await api.call(
        "DELETE", f"/v1/pipelines/{pipeline['id']}/stages/{empty['id']}", tenant["key"]
    )

    assert problem(refused) == (422, "missing_stage_kind")
    assert names(removed.data) == ["Novo", "Em contato", "Qualificado", "Ganho", "Perdido"]


# --- permissions and tenants ---------------------------------------------------------


async def test_crm_changes_need_crm_manage(
    api: ContractClient, app_container: Container, database: str, tenant: dict[str, str]
) -> None:
    _id, reader = await create_api_key(database, tenant["id"], [Permission.LEADS_READ])
    sales = await user(app_container, database, tenant["id"], Role.SALES)
    body = partner_pipeline(unique("Funil"))

    read = await api.call("GET", "/v1/pipelines", reader)
    fields = await api.call("GET", "/v1/leads/fields", reader)
    by_key = await api.call("POST", "/v1/pipelines", reader, body)
    by_sales = await api.call("POST", "/v1/pipelines", None, body, headers=bearer(sales["token"]))
    field_by_sales = await api.call(
        "POST",
        "/v1/leads/fields",
        None,
        {"key": "porte", "label": "Porte", "type": "text"},
        headers=bearer(sales["token"]),
    )
    anonymous = await api.call("GET", "/v1/pipelines", None)

    assert read.status == 200
    assert fields.status == 200
    assert problem(by_key) == (403, "insufficient_scope")
    assert by_sales.status == 403
    assert field_by_sales.status == 403
    assert problem(anonymous) == (401, "authentication_required")


async def test_other_tenants_rows_answer_404(
    api: ContractClient,
    database: str,
    tenant: dict[str, str],
    other_tenant: dict[str, str],
) -> None:
    pipeline = await default_pipeline(api, tenant["key"])
    stage = stage_named(pipeline, "Proposta")
    lead_id = await a_lead(api, database, tenant)
    note = await api.call("POST", f"/v1/leads/{lead_id}/notes", tenant["key"], {"body": "Oi"})
    foreign = other_tenant["key"]

    calls = [
        ("GET", f"/v1/pipelines/{pipeline['id']}", None),
        ("PATCH", f"/v1/pipelines/{pipeline['id']}", {"name": "Meu"}),
        ("DELETE", f"/v1/pipelines/{pipeline['id']}", None),
        ("POST", f"/v1/pipelines/{pipeline['id']}/stages", {"name": "X", "kind": "open"}),
        ("PATCH", f"/v1/pipelines/{pipeline['id']}/stages/{stage['id']}", {"name": "Y"}),
        ("DELETE", f"/v1/pipelines/{pipeline['id']}/stages/{stage['id']}", None),
        ("GET", f"/v1/leads/{lead_id}/timeline", None),
        ("POST", f"/v1/leads/{lead_id}/notes", {"body": "Intruso"}),
        ("DELETE", f"/v1/leads/{lead_id}/notes/{note.data['id']}", None),
        ("POST", f"/v1/leads/{lead_id}/tasks", {"title": "Ligar"}),
        ("POST", f"/v1/leads/{lead_id}/interactions", {"channel": "phone", "direction": "inbound"}),
    ]
    for method, path, body in calls:
        result = await api.call(method, path, foreign, body)
        assert problem(result) == (404, "not_found"), (method, path)

    intact = await api.call("GET", f"/v1/pipelines/{pipeline['id']}", tenant["key"])
    assert names(intact.data) == DEFAULT_STAGES


# --- custom fields -------------------------------------------------------------


async def test_custom_fields_create_list_and_order(
    api: ContractClient, app_container: Container, tenant: dict[str, str]
) -> None:
    size = await api.call(
        "POST",
        "/v1/leads/fields",
        tenant["key"],
        {"key": "porte_real", "label": "Porte real", "type": "choice", "choices": ["P", "M"]},
    )
    staff = await api.call(
        "POST",
        "/v1/leads/fields",
        tenant["key"],
        {"key": "funcionarios", "label": "Funcionários", "type": "number", "position": 0},
    )
    listed = await api.call("GET", "/v1/leads/fields?per_page=1&page=2", tenant["key"])

    assert size.status == 201
    assert size.data["choices"] == ["P", "M"]
    assert staff.data["position"] == 0
    assert listed.body["meta"] == {"page": 2, "per_page": 1, "total_items": 2, "total_pages": 2}
    assert listed.data[0]["key"] == "porte_real"
    assert listed.data[0]["position"] == 1

    uow = await provide(app_container.unit_of_work)
    async with uow.tenant(tenant["id"]) as scope:
        fields = await scope.lead_fields.lead_fields()
    assert [field.key for field in fields] == ["funcionarios", "porte_real"]
    assert all(isinstance(field, LeadField) for field in fields)


async def test_custom_field_rules(api: ContractClient, tenant: dict[str, str]) -> None:
    await api.call(
        "POST", "/v1/leads/fields", tenant["key"], {"key": "site", "label": "Site", "type": "text"}
    )
    cases = {
        (409, "field_key_taken"): {"key": "site", "label": "Outro", "type": "text"},
        (422, "invalid_field_key"): {"key": "Site", "label": "Site", "type": "text"},
        (422, "choices_required"): {"key": "fase", "label": "Fase", "type": "choice"},
        (422, "invalid_field_type"): {"key": "cor", "label": "Cor", "type": "color"},
        (422, "invalid_position"): {"key": "cor", "label": "Cor", "type": "text", "position": 5},
        (400, "invalid_field"): {"key": "cor", "label": "Cor", "type": "text", "required": "sim"},
    }
    for expected, body in cases.items():
        result = await api.call("POST", "/v1/leads/fields", tenant["key"], body)
        assert problem(result) == expected, body


async def test_custom_field_update_keeps_type(api: ContractClient, tenant: dict[str, str]) -> None:
    await api.call(
        "POST",
        "/v1/leads/fields",
        tenant["key"],
        {"key": "fase", "label": "Fase", "type": "choice", "choices": ["A", "B"]},
    )
    await api.call(
        "POST", "/v1/leads/fields", tenant["key"], {"key": "site", "label": "Site", "type": "text"}
    )

    updated = await api.call(
        "PATCH",
        "/v1/leads/fields/fase",
        tenant["key"],
        {"label": "Fase do projeto", "choices": ["A", "C"], "required": True, "position": 1},
    )
    same_type = await api.call("PATCH", "/v1/leads/fields/site", tenant["key"], {"type": "text"})
    new_type = await api.call("PATCH", "/v1/leads/fields/site", tenant["key"], {"type": "number"})
    no_choices = await api.call("PATCH", "/v1/leads/fields/fase", tenant["key"], {"choices": []})
    unknown = await api.call("PATCH", "/v1/leads/fields/nada", tenant["key"], {"label": "Nada"})
    listed = await api.call("GET", "/v1/leads/fields", tenant["key"])

    assert updated.data == {
        "key": "fase",
        "label": "Fase do projeto",
        "type": "choice",
        "choices": ["A", "C"],
        "required": True,
        "position": 1,
    }
    assert same_type.status == 200
    assert problem(new_type) == (422, "field_type_immutable")
    assert problem(no_choices) == (422, "choices_required")
    assert problem(unknown) == (404, "not_found")
    assert [field["key"] for field in listed.data] == ["site", "fase"]
    assert [field["position"] for field in listed.data] == [0, 1]


async def test_removing_a_field_keeps_lead_values(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    await api.call(
        "POST", "/v1/leads/fields", tenant["key"], {"key": "site", "label": "Site", "type": "text"}
    )
    await api.call(
        "POST", "/v1/leads/fields", tenant["key"], {"key": "erp", "label": "ERP", "type": "text"}
    )
    pipeline = await default_pipeline(api, tenant["key"])
    lead_id = await insert_lead(
        database,
        tenant["id"],
        pipeline["id"],
        pipeline["stages"][0]["id"],
        custom_fields='{"site": "https://exemplo.com.br"}',
    )

    removed = await api.call("DELETE", "/v1/leads/fields/site", tenant["key"])
    again = await api.call("DELETE", "/v1/leads/fields/site", tenant["key"])
    listed = await api.call("GET", "/v1/leads/fields", tenant["key"])
    stored = await owner_execute(
        database, "SELECT custom_fields ->> 'site' FROM lead WHERE id = $1", uuid.UUID(lead_id)
    )

    assert removed.data["key"] == "site"
    assert problem(again) == (404, "not_found")
    assert [(field["key"], field["position"]) for field in listed.data] == [("erp", 0)]
    assert stored == "https://exemplo.com.br"


# --- timeline ------------------------------------------------------------------------


async def test_timeline_order_and_pages(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    lead_id = await a_lead(api, database, tenant)
    base = f"/v1/leads/{lead_id}"
    now = dt.datetime.now(dt.UTC)
    await owner_execute(
        database,
        "INSERT INTO lead_event (tenant_id, lead_id, kind, actor_type, actor_label, occurred_at) "
        "VALUES ($1, $2, 'created', 'system', 'garimpo', $3)",
        uuid.UUID(tenant["id"]),
        uuid.UUID(lead_id),
        now - dt.timedelta(days=3),
    )
    interaction = await api.call(
        "POST",
        f"{base}/interactions",
        tenant["key"],
        {
            "channel": "meeting",
            "direction": "outbound",
            "content": "Reunião de apresentação",
            "occurred_at": (now - dt.timedelta(days=1)).isoformat(),
        },
    )
    note = await api.call("POST", f"{base}/notes", tenant["key"], {"body": "Primeira nota"})
    task = await api.call("POST", f"{base}/tasks", tenant["key"], {"title": "Enviar proposta"})

    everything = await api.call("GET", f"{base}/timeline", tenant["key"])
    first = await api.call("GET", f"{base}/timeline?per_page=3", tenant["key"])
    second = await api.call("GET", f"{base}/timeline?per_page=3&page=2", tenant["key"])
    filtered = await api.call("GET", f"{base}/timeline?types=note,task", tenant["key"])
    unknown_type = await api.call("GET", f"{base}/timeline?types=note,email", tenant["key"])

    assert [item["type"] for item in everything.data] == ["task", "note", "interaction", "event"]
    assert [item["id"] for item in everything.data[:3]] == [
        task.data["id"],
        note.data["id"],
        interaction.data["id"],
    ]
    times = [dt.datetime.fromisoformat(item["occurred_at"]) for item in everything.data]
    assert times == sorted(times, reverse=True)
    assert everything.data[2]["content"] == "Reunião de apresentação"
    assert everything.data[3]["kind"] == "created"
    assert first.body["meta"] == {"page": 1, "per_page": 3, "total_items": 4, "total_pages": 2}
    assert [item["type"] for item in second.data] == ["event"]
    assert [item["type"] for item in filtered.data] == ["task", "note"]
    assert problem(unknown_type) == (400, "invalid_field")


async def test_unknown_and_merged_leads_answer_404(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    survivor = await a_lead(api, database, tenant)
    pipeline = await default_pipeline(api, tenant["key"])
    merged = await insert_lead(
        database, tenant["id"], pipeline["id"], pipeline["stages"][0]["id"], merged_into=survivor
    )

    for lead_id in (merged, str(uuid.uuid4()), "nao-e-uuid"):
        timeline = await api.call("GET", f"/v1/leads/{lead_id}/timeline", tenant["key"])
        note = await api.call("POST", f"/v1/leads/{lead_id}/notes", tenant["key"], {"body": "x"})
        assert problem(timeline) == (404, "not_found"), lead_id
        assert problem(note) == (404, "not_found"), lead_id


async def test_interaction_content_is_stored_encrypted(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    lead_id = await a_lead(api, database, tenant)
    secret = "Maria pediu desconto de 15% no contrato 4471"

    logged = await api.call(
        "POST",
        f"/v1/leads/{lead_id}/interactions",
        tenant["key"],
        {"channel": "whatsapp", "direction": "inbound", "content": secret},
    )
    raw = await owner_execute(
        database,
        "SELECT content_encrypted FROM interaction WHERE id = $1",
        uuid.UUID(logged.data["id"]),
    )
    timeline = await api.call("GET", f"/v1/leads/{lead_id}/timeline", tenant["key"])

    assert logged.status == 201
    assert logged.data["status"] == "logged"
    assert logged.data["content"] == secret
    assert logged.data["created_by_label"] == "chave de teste"
    assert isinstance(raw, bytes)
    assert secret.encode() not in raw
    assert b"Maria" not in raw
    assert timeline.data[0]["content"] == secret


async def test_interaction_input_checks(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    lead_id = await a_lead(api, database, tenant)
    path = f"/v1/leads/{lead_id}/interactions"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    cases = {
        (422, "invalid_channel"): {"channel": "fax", "direction": "inbound"},
        (422, "invalid_direction"): {"channel": "phone", "direction": "sideways"},
        (422, "occurred_at_in_future"): {
            "channel": "phone",
            "direction": "inbound",
            "occurred_at": future,
        },
        (400, "invalid_field"): {
            "channel": "phone",
            "direction": "inbound",
            "occurred_at": "2026-12-01T10:00:00",
        },
    }
    for expected, body in cases.items():
        result = await api.call("POST", path, tenant["key"], body)
        assert problem(result) == expected, body

    without_content = await api.call(
        "POST", path, tenant["key"], {"channel": "phone", "direction": "outbound"}
    )
    assert without_content.data["content"] is None


async def test_notes_are_removed_by_author_or_admin(
    api: ContractClient, app_container: Container, database: str, tenant: dict[str, str]
) -> None:
    lead_id = await a_lead(api, database, tenant)
    author = await user(app_container, database, tenant["id"], Role.SALES)
    colleague = await user(app_container, database, tenant["id"], Role.SALES)
    admin = await user(app_container, database, tenant["id"], Role.ADMIN)
    viewer = await user(app_container, database, tenant["id"], Role.VIEWER)
    path = f"/v1/leads/{lead_id}/notes"

    own = await api.call("POST", path, None, {"body": "Minha"}, headers=bearer(author["token"]))
    other = await api.call("POST", path, None, {"body": "Outra"}, headers=bearer(author["token"]))
    by_viewer = await api.call(
        "POST", path, None, {"body": "Leitura"}, headers=bearer(viewer["token"])
    )
    refused = await api.call(
        "DELETE", f"{path}/{own.data['id']}", None, headers=bearer(colleague["token"])
    )
    by_author = await api.call(
        "DELETE", f"{path}/{own.data['id']}", None, headers=bearer(author["token"])
    )
    by_admin = await api.call(
        "DELETE", f"{path}/{other.data['id']}", None, headers=bearer(admin["token"])
    )
    blank = await api.call("POST", path, tenant["key"], {"body": "   "})

    assert own.data["author_id"] == author["id"]
    assert own.data["author_label"] == author["email"]
    assert by_viewer.status == 403
    assert problem(refused) == (403, "note_author_required")
    assert by_author.data["id"] == own.data["id"]
    assert by_admin.data["id"] == other.data["id"]
    assert problem(blank) == (422, "invalid_note")

    timeline = await api.call("GET", f"/v1/leads/{lead_id}/timeline", tenant["key"])
    assert timeline.data == []


async def test_tasks_lifecycle_and_open_list(
    api: ContractClient,
    app_container: Container,
    database: str,
    tenant: dict[str, str],
    other_tenant: dict[str, str],
) -> None:
    lead_id = await a_lead(api, database, tenant)
    rep = await user(app_container, database, tenant["id"], Role.SALES)
    stranger = await user(app_container, database, other_tenant["id"], Role.SALES)
    path = f"/v1/leads/{lead_id}/tasks"
    now = dt.datetime.now(dt.UTC)
    yesterday = (now - dt.timedelta(days=1)).isoformat()
    next_week = (now + dt.timedelta(days=7)).isoformat()

    overdue = await api.call(
        "POST",
        path,
        tenant["key"],
        {"title": "Ligar", "due_at": yesterday, "assignee_id": rep["id"]},
    )
    later = await api.call("POST", path, tenant["key"], {"title": "Visitar", "due_at": next_week})
    undated = await api.call("POST", path, tenant["key"], {"title": "Sem prazo"})
    foreign_assignee = await api.call(
        "POST", path, tenant["key"], {"title": "X", "assignee_id": stranger["id"]}
    )
    naive_due = await api.call(
        "POST", path, tenant["key"], {"title": "X", "due_at": "2026-12-10T10:00:00"}
    )

    assert overdue.status == 201
    assert overdue.data["assignee_id"] == rep["id"]
    assert overdue.data["done"] is False
    assert problem(foreign_assignee) == (422, "invalid_assignee")
    assert problem(naive_due) == (400, "invalid_field")

    open_tasks = await api.call("GET", "/v1/tasks", tenant["key"])
    assert [task["id"] for task in open_tasks.data] == [
        overdue.data["id"],
        later.data["id"],
        undated.data["id"],
    ]
    only_overdue = await api.call("GET", "/v1/tasks?overdue=true", tenant["key"])
    assert [task["id"] for task in only_overdue.data] == [overdue.data["id"]]
    by_assignee = await api.call("GET", f"/v1/tasks?assignee_id={rep['id']}", tenant["key"])
    assert [task["id"] for task in by_assignee.data] == [overdue.data["id"]]
    before = (now + dt.timedelta(days=8)).isoformat().replace("+00:00", "Z")
    due_soon = await api.call("GET", f"/v1/tasks?due_before={before}", tenant["key"])
    assert [task["id"] for task in due_soon.data] == [overdue.data["id"], later.data["id"]]
    bad_filter = await api.call("GET", "/v1/tasks?overdue=sim", tenant["key"])
    assert problem(bad_filter) == (400, "invalid_field")
    assert (await api.call("GET", "/v1/tasks", other_tenant["key"])).data == []

    task_path = f"{path}/{overdue.data['id']}"
    done = await api.call("PATCH", task_path, None, {"done": True}, headers=bearer(rep["token"]))
    after_done = await api.call("GET", "/v1/tasks", tenant["key"])
    cleared = await api.call(
        "PATCH",
        task_path,
        tenant["key"],
        {"done": False, "due_at": None, "assignee_id": None, "title": "Ligar de novo"},
    )
    unknown = await api.call("PATCH", f"{path}/{uuid.uuid4()}", tenant["key"], {"done": True})

    assert done.data["done"] is True
    assert done.data["done_by_label"] == rep["email"]
    assert overdue.data["id"] not in [task["id"] for task in after_done.data]
    assert cleared.data["done"] is False
    assert cleared.data["done_at"] is None
    assert cleared.data["due_at"] is None
    assert cleared.data["assignee_id"] is None
    assert cleared.data["title"] == "Ligar de novo"
    assert problem(unknown) == (404, "not_found")
