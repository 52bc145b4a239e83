"""The host API through HTTP: plans, tenants, suspension, deletion, usage and their audit trail.

Every call goes through the real stack (authentication middleware, the
permission table, the use cases, PostgreSQL as the application role under
row-level security, the Redis channel that drops cached auth state), and
every response is checked against the OpenAPI document. The database is
shared by the test session, so each test makes its own plans and tenants
with unique names.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
import zoneinfo
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest

from domain.cnpj import check_digits
from domain.identity import Role
from entrypoints.container import Container, build_container, provide
from entrypoints.http.permissions import ROUTE_ACCESS, Zone
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_host_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def plan_body(**overrides: Any) -> dict[str, Any]:
    return {
        "code": unique("plano"),
        "name": "Plano de teste",
        "monthly_credits": 500,
        "price_cents": 49900,
        "max_users": 5,
        "messages_per_day": 1000,
        "requests_per_minute": 120,
        **overrides,
    }


def valid_cnpj(seed: int) -> str:
    """A numeric CNPJ with correct check digits, different for each ``seed``."""
    base = f"{seed:08d}0001"
    return base + check_digits(base)


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
def app_container(settings: Settings) -> Container:
    return build_container(settings)


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> ContractClient:
    client = ContractClient(await aiohttp_client(build_app(app_container)))
    # Wait for the auth cache to follow the invalidation channel: only then
    # does it cache, and only then can a test show that a change is seen at once.
    auth_state = await provide(app_container.auth_state)
    for _ in range(100):
        if auth_state.subscribed:
            break
        await asyncio.sleep(0.05)
    assert auth_state.subscribed
    return client


@pytest.fixture
async def host_key(database: str) -> str:
    return await create_host_key(database)


async def new_plan(api: ContractClient, host_key: str, **overrides: Any) -> dict[str, Any]:
    result = await api.call("POST", "/v1/host/plans", host_key, plan_body(**overrides))
    assert result.status == 201, result.body
    plan: dict[str, Any] = result.data
    return plan


async def new_tenant(
    api: ContractClient, host_key: str, plan_id: str, **overrides: Any
) -> dict[str, Any]:
    body = {"name": unique("Tenant"), "plan_id": plan_id, **overrides}
    result = await api.call("POST", "/v1/host/tenants", host_key, body)
    assert result.status == 201, result.body
    tenant: dict[str, Any] = result.data
    return tenant


async def audit_trail(database: str, target_id: str) -> list[dict[str, Any]]:
    """The audit events about one record, oldest first, read as the owner."""
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT action, tenant_id, actor_type, actor_label, before, after, detail "
            "FROM audit_event WHERE target_id = $1 ORDER BY id",
            target_id,
        )
    finally:
        await conn.close()

    events = []
    for row in rows:
        event = dict(row)
        for column in ("before", "after", "detail"):
            event[column] = json.loads(event[column]) if event[column] is not None else None
        event["tenant_id"] = str(event["tenant_id"]) if event["tenant_id"] else None
        events.append(event)
    return events


def error_of(result: ApiResult) -> tuple[int, str, str | None]:
    return result.status, result.body["code"], result.body.get("field")


# --- plans ---------------------------------------------------------------------------


async def test_plan_created_listed_and_audited(
    api: ContractClient, host_key: str, database: str
) -> None:
    body = plan_body(name="  Pro   mensal ")

    created = await api.call("POST", "/v1/host/plans", host_key, body)

    assert created.status == 201
    plan = created.data
    assert plan["code"] == body["code"]
    assert plan["name"] == "Pro mensal"
    assert plan["currency"] == "BRL"
    assert plan["max_selection_size"] == 5000
    assert plan["archived"] is False

    fetched = await api.call("GET", f"/v1/host/plans/{plan['id']}", host_key)
    assert fetched.data == plan

    listed = await api.call("GET", "/v1/host/plans?per_page=200", host_key)
    assert plan["id"] in [item["id"] for item in listed.data]

    events = await audit_trail(database, plan["id"])
    assert [event["action"] for event in events] == ["plan.created"]
    assert events[0]["actor_type"] == "api_key"
    assert events[0]["after"]["code"] == body["code"]
    assert events[0]["tenant_id"] is None


async def test_plan_code_taken_is_409(api: ContractClient, host_key: str) -> None:
    plan = await new_plan(api, host_key)

    again = await api.call("POST", "/v1/host/plans", host_key, plan_body(code=plan["code"]))

    assert error_of(again) == (409, "plan_code_taken", "code")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"code": "Pro Mensal"}, "invalid_plan", "code"),
        ({"code": "p"}, "invalid_plan", "code"),
        ({"code": None}, "invalid_field", "code"),
        ({"name": "   "}, "invalid_field", "name"),
        ({"monthly_credits": -1}, "invalid_plan", "monthly_credits"),
        ({"price_cents": -100}, "invalid_plan", "price_cents"),
        ({"max_users": 0}, "invalid_plan", "max_users"),
        ({"messages_per_day": 0}, "invalid_plan", "messages_per_day"),
        ({"requests_per_minute": 0}, "invalid_plan", "requests_per_minute"),
        ({"max_selection_size": 0}, "invalid_plan", "max_selection_size"),
        ({"max_users": "10"}, "invalid_field", "max_users"),
        ({"max_users": True}, "invalid_field", "max_users"),
        ({"max_users": 10.5}, "invalid_field", "max_users"),
        ({"monthly_credits": 2**31}, "invalid_field", "monthly_credits"),
        ({"currency": "USD"}, "invalid_plan", "currency"),
        ({"trial_days": 7}, "invalid_field", "trial_days"),
    ],
)
async def test_bad_plan_is_400(
    api: ContractClient, host_key: str, overrides: dict[str, Any], code: str, field: str
) -> None:
    result = await api.call("POST", "/v1/host/plans", host_key, plan_body(**overrides))

    assert error_of(result) == (400, code, field)


async def test_missing_plan_limit_is_400(api: ContractClient, host_key: str) -> None:
    body = plan_body()
    del body["requests_per_minute"]

    result = await api.call("POST", "/v1/host/plans", host_key, body)

    assert error_of(result) == (400, "invalid_field", "requests_per_minute")


async def test_plan_update_changes_only_what_is_sent(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)

    updated = await api.call(
        "PATCH",
        f"/v1/host/plans/{plan['id']}",
        host_key,
        {"price_cents": 59900, "requests_per_minute": 240, "name": "Pro plus"},
    )

    assert updated.status == 200
    assert updated.data["price_cents"] == 59900
    assert updated.data["requests_per_minute"] == 240
    assert updated.data["name"] == "Pro plus"
    assert updated.data["monthly_credits"] == plan["monthly_credits"]
    assert updated.data["code"] == plan["code"]

    events = await audit_trail(database, plan["id"])
    assert [event["action"] for event in events] == ["plan.created", "plan.updated"]
    assert events[1]["before"] == {
        "name": "Plano de teste",
        "price_cents": 49900,
        "requests_per_minute": 120,
    }
    assert events[1]["after"] == {
        "name": "Pro plus",
        "price_cents": 59900,
        "requests_per_minute": 240,
    }


async def test_plan_update_with_same_values_is_not_audited(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)

    result = await api.call(
        "PATCH", f"/v1/host/plans/{plan['id']}", host_key, {"price_cents": plan["price_cents"]}
    )

    assert result.data == plan
    assert [event["action"] for event in await audit_trail(database, plan["id"])] == [
        "plan.created"
    ]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"code": "outro-codigo"}, "invalid_field", "code"),
        ({"max_users": 0}, "invalid_plan", "max_users"),
        ({"name": None}, "invalid_field", "name"),
        ({"currency": "EUR"}, "invalid_plan", "currency"),
        ({"discount": 10}, "invalid_field", "discount"),
    ],
)
async def test_bad_plan_update_is_400(
    api: ContractClient, host_key: str, body: dict[str, Any], code: str, field: str
) -> None:
    plan = await new_plan(api, host_key)

    result = await api.call("PATCH", f"/v1/host/plans/{plan['id']}", host_key, body)

    assert error_of(result) == (400, code, field)


async def test_archived_plan_not_offered_but_kept(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    archived = await api.call("DELETE", f"/v1/host/plans/{plan['id']}", host_key)
    again = await api.call("DELETE", f"/v1/host/plans/{plan['id']}", host_key)

    assert archived.data["archived"] is True
    assert archived.data["archived_at"] is not None
    assert again.data == archived.data
    events = await audit_trail(database, plan["id"])
    assert [event["action"] for event in events] == ["plan.created", "plan.archived"]

    active_only = await api.call("GET", "/v1/host/plans?per_page=200", host_key)
    assert plan["id"] not in [item["id"] for item in active_only.data]
    with_archived = await api.call(
        "GET", "/v1/host/plans?per_page=200&include_archived=true", host_key
    )
    assert plan["id"] in [item["id"] for item in with_archived.data]

    refused = await api.call(
        "POST", "/v1/host/tenants", host_key, {"name": "Novo", "plan_id": plan["id"]}
    )
    assert error_of(refused) == (409, "plan_archived", "plan_id")

    kept = await api.call("GET", f"/v1/host/tenants/{tenant['id']}", host_key)
    assert kept.data["plan"] == {
        "id": plan["id"],
        "code": plan["code"],
        "name": plan["name"],
        "archived": True,
    }
    renamed = await api.call(
        "PATCH",
        f"/v1/host/tenants/{tenant['id']}",
        host_key,
        {"name": "Renomeado", "plan_id": plan["id"]},
    )
    assert renamed.data["name"] == "Renomeado"
    assert renamed.data["plan_id"] == plan["id"]


async def test_include_archived_must_be_boolean(api: ContractClient, host_key: str) -> None:
    result = await api.call("GET", "/v1/host/plans?include_archived=sim", host_key)

    assert error_of(result) == (400, "invalid_field", "include_archived")


# --- tenants: create, read, list ------------------------------------------------------


async def test_tenant_created_with_plan_profile_and_settings(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    document = valid_cnpj(41_000_001)

    result = await api.call(
        "POST",
        "/v1/host/tenants",
        host_key,
        {
            "name": "  Distribuidora   Horizonte ",
            "plan_id": plan["id"].upper(),
            "document": f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}",
            "contact_email": " Financeiro@Horizonte.com.BR ",
            "settings": {
                "low_balance_threshold": 50,
                "templates": {"email_subject": "Olá {empresa}"},
            },
        },
    )

    assert result.status == 201
    tenant = result.data
    assert tenant["name"] == "Distribuidora Horizonte"
    assert tenant["status"] == "active"
    assert tenant["status_reason"] is None
    assert tenant["plan_id"] == plan["id"]
    assert tenant["plan"] == {
        "id": plan["id"],
        "code": plan["code"],
        "name": plan["name"],
        "archived": False,
    }
    assert tenant["document"] == document
    assert tenant["contact_email"] == "financeiro@horizonte.com.br"
    assert tenant["settings"]["timezone"] == "America/Sao_Paulo"
    assert tenant["settings"]["quiet_hours"] == {"start": "20:00", "end": "08:00"}
    assert tenant["settings"]["low_balance_threshold"] == 50
    assert tenant["settings"]["templates"]["email_subject"] == "Olá {empresa}"
    assert "{empresa}" in tenant["settings"]["templates"]["whatsapp_intro"]
    assert tenant["retention_until"] is None

    fetched = await api.call("GET", f"/v1/host/tenants/{tenant['id']}", host_key)
    assert fetched.data == tenant

    events = await audit_trail(database, tenant["id"])
    assert [event["action"] for event in events] == ["tenant.created"]
    assert events[0]["tenant_id"] == tenant["id"]
    assert events[0]["after"]["document"] == document


async def test_tenant_creation_makes_no_user_and_no_key(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    accounts = await owner_execute(
        database, "SELECT count(*) FROM account WHERE tenant_id = $1", uuid.UUID(tenant["id"])
    )
    keys = await owner_execute(
        database, "SELECT count(*) FROM api_key WHERE tenant_id = $1", uuid.UUID(tenant["id"])
    )
    assert (accounts, keys) == (0, 0)


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"name": ""}, 400, "invalid_field", "name"),
        ({"name": None}, 400, "invalid_field", "name"),
        ({"plan_id": None}, 400, "invalid_field", "plan_id"),
        ({"plan_id": str(uuid.UUID(int=7))}, 400, "unknown_plan", "plan_id"),
        ({"plan_id": "plano-pro"}, 400, "unknown_plan", "plan_id"),
        ({"document": "11.222.333/0001-82"}, 400, "invalid_cnpj", "document"),
        ({"document": "123"}, 400, "invalid_cnpj", "document"),
        ({"document": 11222333000181}, 400, "invalid_field", "document"),
        ({"contact_email": "financeiro"}, 400, "invalid_tenant", "contact_email"),
        ({"settings": "padrão"}, 400, "invalid_field", "settings"),
        ({"settings": {"idioma": "pt-BR"}}, 400, "invalid_settings", "idioma"),
        ({"settings": {"timezone": "Brasil/Sao_Paulo"}}, 400, "invalid_settings", "timezone"),
        ({"owner": "eu"}, 400, "invalid_field", "owner"),
    ],
)
async def test_bad_tenant_is_rejected(
    api: ContractClient,
    host_key: str,
    overrides: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    plan = await new_plan(api, host_key)
    body = {"name": "Empresa", "plan_id": plan["id"], **overrides}

    result = await api.call("POST", "/v1/host/tenants", host_key, body)

    assert error_of(result) == (status, code, field)


async def test_malformed_body_is_invalid_json(api: ContractClient, host_key: str) -> None:
    result = await api.call("POST", "/v1/host/tenants", host_key, data=b'{"name": ')

    assert result.status == 400
    assert result.body["code"] == "invalid_json"


async def test_document_taken_until_its_tenant_is_deleted(
    api: ContractClient, host_key: str
) -> None:
    plan = await new_plan(api, host_key)
    document = valid_cnpj(41_000_002)
    first = await new_tenant(api, host_key, plan["id"], document=document)

    taken = await api.call(
        "POST",
        "/v1/host/tenants",
        host_key,
        {"name": "Outra", "plan_id": plan["id"], "document": document},
    )
    other = await new_tenant(api, host_key, plan["id"])
    moved = await api.call(
        "PATCH", f"/v1/host/tenants/{other['id']}", host_key, {"document": document}
    )
    await api.call("DELETE", f"/v1/host/tenants/{first['id']}", host_key)
    reused = await api.call(
        "POST",
        "/v1/host/tenants",
        host_key,
        {"name": "Outra", "plan_id": plan["id"], "document": document},
    )

    assert error_of(taken) == (409, "tenant_document_taken", "document")
    assert error_of(moved) == (409, "tenant_document_taken", "document")
    assert reused.status == 201


async def test_tenant_list_paginated_in_creation_order(api: ContractClient, host_key: str) -> None:
    plan = await new_plan(api, host_key)
    names = [f"Ordem {n}" for n in ("C", "A", "B")]
    for name in names:
        await new_tenant(api, host_key, plan["id"], name=name)

    first = await api.call("GET", f"/v1/host/tenants?plan_id={plan['id']}&per_page=2", host_key)
    second = await api.call(
        "GET", f"/v1/host/tenants?plan_id={plan['id']}&per_page=2&page=2", host_key
    )

    assert first.body["meta"] == {"page": 1, "per_page": 2, "total_items": 3, "total_pages": 2}
    assert [item["name"] for item in first.data] == names[:2]
    assert [item["name"] for item in second.data] == names[2:]
    assert all(item["plan"]["id"] == plan["id"] for item in first.data + second.data)
    assert all(item["settings"]["timezone"] == "America/Sao_Paulo" for item in first.data)


async def test_tenant_search_ignores_case_and_accents(api: ContractClient, host_key: str) -> None:
    plan = await new_plan(api, host_key)
    token = uuid.uuid4().hex[:6]
    await new_tenant(api, host_key, plan["id"], name=f"São José Atacado {token}")
    await new_tenant(api, host_key, plan["id"], name=f"SAO JOSE VAREJO {token}")
    await new_tenant(api, host_key, plan["id"], name=f"Campinas Têxtil {token}")

    async def names(q: str) -> list[str]:
        query = urlencode({"q": q, "plan_id": plan["id"]})
        result = await api.call("GET", f"/v1/host/tenants?{query}", host_key)
        return sorted(item["name"] for item in result.data)

    assert await names("são josé") == [f"SAO JOSE VAREJO {token}", f"São José Atacado {token}"]
    assert await names("SAO JOSÉ ataCADO") == [f"São José Atacado {token}"]
    assert await names("textil") == [f"Campinas Têxtil {token}"]
    assert len(await names(token)) == 3
    assert await names("Recife") == []


async def test_tenant_list_filters_by_status_and_creation_date(
    api: ContractClient, host_key: str
) -> None:
    plan = await new_plan(api, host_key)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    active = await new_tenant(api, host_key, plan["id"])
    suspended = await new_tenant(api, host_key, plan["id"])
    deleted = await new_tenant(api, host_key, plan["id"])
    await api.call(
        "POST", f"/v1/host/tenants/{suspended['id']}/suspend", host_key, {"reason": "Teste"}
    )
    await api.call("DELETE", f"/v1/host/tenants/{deleted['id']}", host_key)

    async def ids(**params: str) -> set[str]:
        query = urlencode({"plan_id": plan["id"], **params})
        result = await api.call("GET", f"/v1/host/tenants?{query}", host_key)
        return {item["id"] for item in result.data}

    today = dt.datetime.now(SAO_PAULO).date()
    assert await ids() == {active["id"], suspended["id"]}
    assert await ids(status="active") == {active["id"]}
    assert await ids(status="suspended") == {suspended["id"]}
    assert await ids(status="deleted") == {deleted["id"]}
    assert await ids(created_from=before.isoformat()) == {active["id"], suspended["id"]}
    assert await ids(created_to=before.isoformat()) == set()
    assert await ids(created_from=today.isoformat(), created_to=today.isoformat()) == {
        active["id"],
        suspended["id"],
    }
    assert await ids(created_to=(today - dt.timedelta(days=1)).isoformat()) == set()
    assert await ids(created_from=(today + dt.timedelta(days=1)).isoformat()) == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=ativo", "status"),
        ("plan_id=pro", "plan_id"),
        ("created_from=ontem", "created_from"),
        ("created_from=2026-01-01T10:00:00", "created_from"),
        ("created_from=2026-02-01&created_to=2026-01-01", "created_to"),
        ("q=" + "x" * 201, "q"),
        ("page=0", "page"),
        ("per_page=abc", "per_page"),
    ],
)
async def test_bad_tenant_list_query_is_400(
    api: ContractClient, host_key: str, query: str, field: str
) -> None:
    result = await api.call("GET", f"/v1/host/tenants?{query}", host_key)

    assert result.status == 400
    assert result.body["field"] == field


# --- tenants: change, suspend, reactivate, delete -------------------------------------


async def test_tenant_update_audits_changed_fields(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(
        api, host_key, plan["id"], name="Antigo", contact_email="a@exemplo.com.br"
    )
    document = valid_cnpj(41_000_003)

    result = await api.call(
        "PATCH",
        f"/v1/host/tenants/{tenant['id']}",
        host_key,
        {"name": "Novo nome", "contact_email": None, "document": document},
    )

    assert result.data["name"] == "Novo nome"
    assert result.data["contact_email"] is None
    assert result.data["document"] == document
    events = await audit_trail(database, tenant["id"])
    assert [event["action"] for event in events] == ["tenant.created", "tenant.updated"]
    assert events[1]["before"] == {
        "name": "Antigo",
        "contact_email": "a@exemplo.com.br",
        "document": None,
    }
    assert events[1]["after"] == {
        "name": "Novo nome",
        "contact_email": None,
        "document": document,
    }


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"name": None}, 400, "invalid_field", "name"),
        ({"plan_id": None}, 400, "invalid_field", "plan_id"),
        ({"plan_id": str(uuid.UUID(int=9))}, 400, "unknown_plan", "plan_id"),
        ({"document": "00000000000000"}, 400, "invalid_cnpj", "document"),
        ({"contact_email": "sem-arroba"}, 400, "invalid_tenant", "contact_email"),
        ({"status": "active"}, 400, "invalid_field", "status"),
        ({"settings": {}}, 400, "invalid_field", "settings"),
    ],
)
async def test_bad_tenant_update_is_rejected(
    api: ContractClient,
    host_key: str,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    result = await api.call("PATCH", f"/v1/host/tenants/{tenant['id']}", host_key, body)

    assert error_of(result) == (status, code, field)


async def test_plan_change_moves_rate_limit_at_once(
    api: ContractClient, host_key: str, app_container: Container, database: str
) -> None:
    small = await new_plan(api, host_key, requests_per_minute=60)
    large = await new_plan(api, host_key, requests_per_minute=900)
    archived = await new_plan(api, host_key)
    await api.call("DELETE", f"/v1/host/plans/{archived['id']}", host_key)
    tenant = await new_tenant(api, host_key, small["id"])
    auth_state = await provide(app_container.auth_state)
    assert (await auth_state.tenant(tenant["id"])).requests_per_minute == 60

    to_archived = await api.call(
        "PATCH", f"/v1/host/tenants/{tenant['id']}", host_key, {"plan_id": archived["id"]}
    )
    moved = await api.call(
        "PATCH", f"/v1/host/tenants/{tenant['id']}", host_key, {"plan_id": large["id"]}
    )

    assert error_of(to_archived) == (409, "plan_archived", "plan_id")
    assert moved.data["plan"]["id"] == large["id"]
    # Read straight away: the cached state of the old plan is gone.
    assert (await auth_state.tenant(tenant["id"])).requests_per_minute == 900
    events = await audit_trail(database, tenant["id"])
    events = [event for event in events if event["action"] == "tenant.updated"]
    assert len(events) == 1
    assert events[0]["before"] == {"plan_id": small["id"]}
    assert events[0]["after"] == {"plan_id": large["id"]}


async def test_plan_limit_change_reaches_tenants_at_once(
    api: ContractClient, host_key: str, app_container: Container
) -> None:
    plan = await new_plan(api, host_key, requests_per_minute=60)
    tenant = await new_tenant(api, host_key, plan["id"])
    auth_state = await provide(app_container.auth_state)
    assert (await auth_state.tenant(tenant["id"])).requests_per_minute == 60

    await api.call("PATCH", f"/v1/host/plans/{plan['id']}", host_key, {"requests_per_minute": 300})

    assert (await auth_state.tenant(tenant["id"])).requests_per_minute == 300


async def test_suspension_refuses_tenant_key_at_once_with_reason(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])
    _key_id, tenant_key = await create_api_key(database, tenant["id"])
    assert (await api.call("GET", "/v1/settings", tenant_key)).status == 200

    suspended = await api.call(
        "POST",
        f"/v1/host/tenants/{tenant['id']}/suspend",
        host_key,
        {"reason": "  Pagamento em atraso desde 05/01. "},
    )
    refused = await api.call("GET", "/v1/settings", tenant_key)

    assert suspended.data["status"] == "suspended"
    assert suspended.data["status_reason"] == "Pagamento em atraso desde 05/01."
    assert suspended.data["suspended_at"] is not None
    assert error_of(refused)[:2] == (403, "tenant_suspended")
    assert refused.body["detail"] == (
        "O acesso deste tenant está suspenso: Pagamento em atraso desde 05/01. "
        "Fale com o administrador do Garimpo para reativá-lo."
    )

    new_reason = await api.call(
        "POST",
        f"/v1/host/tenants/{tenant['id']}/suspend",
        host_key,
        {"reason": "Contrato em revisão"},
    )
    refused_again = await api.call("GET", "/v1/settings", tenant_key)
    assert new_reason.data["suspended_at"] == suspended.data["suspended_at"]
    assert "Contrato em revisão" in refused_again.body["detail"]

    reactivated = await api.call("POST", f"/v1/host/tenants/{tenant['id']}/reactivate", host_key)
    works = await api.call("GET", "/v1/settings", tenant_key)
    assert reactivated.data["status"] == "active"
    assert reactivated.data["status_reason"] is None
    assert reactivated.data["suspended_at"] is None
    assert works.status == 200

    events = await audit_trail(database, tenant["id"])
    assert [event["action"] for event in events] == [
        "tenant.created",
        "tenant.suspended",
        "tenant.suspended",
        "tenant.reactivated",
    ]
    assert events[1]["before"]["status"] == "active"
    assert events[1]["after"]["status"] == "suspended"
    assert events[1]["after"]["status_reason"] == "Pagamento em atraso desde 05/01."
    assert events[2]["after"] == {"status_reason": "Contrato em revisão"}
    assert events[3]["after"]["status"] == "active"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_field"),
        ({"reason": "   "}, "invalid_field"),
        ({"reason": 42}, "invalid_field"),
    ],
)
async def test_suspension_needs_reason(
    api: ContractClient, host_key: str, body: dict[str, Any], code: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    result = await api.call("POST", f"/v1/host/tenants/{tenant['id']}/suspend", host_key, body)

    assert error_of(result) == (400, code, "reason")


async def test_reactivating_active_tenant_changes_nothing(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    result = await api.call("POST", f"/v1/host/tenants/{tenant['id']}/reactivate", host_key)

    assert result.data == tenant
    assert [event["action"] for event in await audit_trail(database, tenant["id"])] == [
        "tenant.created"
    ]


async def test_deleted_tenant_hidden_refused_and_frozen(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])
    _key_id, tenant_key = await create_api_key(database, tenant["id"])
    assert (await api.call("GET", "/v1/settings", tenant_key)).status == 200

    deleted = await api.call("DELETE", f"/v1/host/tenants/{tenant['id']}", host_key)

    expected_until = dt.datetime.now(SAO_PAULO).date() + dt.timedelta(days=90)
    assert deleted.data["status"] == "deleted"
    assert deleted.data["deleted_at"] is not None
    assert deleted.data["retention_until"] == expected_until.isoformat()

    refused = await api.call("GET", "/v1/settings", tenant_key)
    assert error_of(refused)[:2] == (403, "tenant_deleted")

    listed = await api.call("GET", f"/v1/host/tenants?plan_id={plan['id']}", host_key)
    assert listed.data == []
    listed_deleted = await api.call(
        "GET", f"/v1/host/tenants?plan_id={plan['id']}&status=deleted", host_key
    )
    assert [item["id"] for item in listed_deleted.data] == [tenant["id"]]
    fetched = await api.call("GET", f"/v1/host/tenants/{tenant['id']}", host_key)
    assert fetched.data["status"] == "deleted"

    base = f"/v1/host/tenants/{tenant['id']}"
    for method, path, body in (
        ("POST", base + "/reactivate", None),
        ("POST", base + "/suspend", {"reason": "x"}),
        ("PATCH", base, {"name": "Outro"}),
        ("PATCH", base + "/settings", {"timezone": "America/Manaus"}),
    ):
        result = await api.call(method, path, host_key, body)
        assert error_of(result)[:2] == (409, "tenant_deleted"), (method, path)

    again = await api.call("DELETE", base, host_key, {"retention_days": 1})
    assert again.data["retention_until"] == expected_until.isoformat()

    events = await audit_trail(database, tenant["id"])
    assert [event["action"] for event in events] == ["tenant.created", "tenant.deleted"]
    assert events[1]["detail"] == {"retention_days": 90}
    assert events[1]["after"]["retention_until"] == expected_until.isoformat()


async def test_deletion_takes_retention_days(api: ContractClient, host_key: str) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    deleted = await api.call(
        "DELETE", f"/v1/host/tenants/{tenant['id']}", host_key, {"retention_days": 30}
    )

    expected = dt.datetime.now(SAO_PAULO).date() + dt.timedelta(days=30)
    assert deleted.data["retention_until"] == expected.isoformat()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"retention_days": -1}, "invalid_tenant"),
        ({"retention_days": 3651}, "invalid_tenant"),
        ({"retention_days": "30"}, "invalid_field"),
        ({"retention_days": None}, "invalid_field"),
    ],
)
async def test_bad_retention_is_400(
    api: ContractClient, host_key: str, body: dict[str, Any], code: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"])

    result = await api.call("DELETE", f"/v1/host/tenants/{tenant['id']}", host_key, body)
    still = await api.call("GET", f"/v1/host/tenants/{tenant['id']}", host_key)

    assert error_of(result) == (400, code, "retention_days")
    assert still.data["status"] == "active"


# --- ids that do not exist -------------------------------------------------------------

_ID_ROUTES = [
    ("GET", "/v1/host/plans/{id}", None, "plan_not_found"),
    ("PATCH", "/v1/host/plans/{id}", {"name": "x"}, "plan_not_found"),
    ("DELETE", "/v1/host/plans/{id}", None, "plan_not_found"),
    ("GET", "/v1/host/tenants/{id}", None, "tenant_not_found"),
    ("PATCH", "/v1/host/tenants/{id}", {"name": "x"}, "tenant_not_found"),
    ("DELETE", "/v1/host/tenants/{id}", None, "tenant_not_found"),
    ("POST", "/v1/host/tenants/{id}/suspend", {"reason": "x"}, "tenant_not_found"),
    ("POST", "/v1/host/tenants/{id}/reactivate", None, "tenant_not_found"),
    ("GET", "/v1/host/tenants/{id}/settings", None, "tenant_not_found"),
    ("PATCH", "/v1/host/tenants/{id}/settings", {"timezone": "America/Manaus"}, "tenant_not_found"),
    ("GET", "/v1/host/tenants/{id}/usage", None, "tenant_not_found"),
]


@pytest.mark.parametrize(("method", "template", "body", "code"), _ID_ROUTES)
async def test_unknown_id_is_404(
    api: ContractClient,
    host_key: str,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    code: str,
) -> None:
    unknown = await api.call(method, template.format(id=uuid.uuid4()), host_key, body)
    malformed = await api.call(method, template.format(id="nao-e-um-uuid"), host_key, body)

    assert (unknown.status, unknown.body["code"]) == (404, code)
    assert (malformed.status, malformed.body["code"]) == (404, "not_found")


# --- who may call the host routes -------------------------------------------------------

_HOST_ROUTES = sorted(
    (method, path)
    for (method, path), access in ROUTE_ACCESS.items()
    if access.zone is Zone.HOST
    and (path.startswith("/v1/host/plans") or path.startswith("/v1/host/tenants"))
)


@pytest.mark.parametrize(("method", "template"), _HOST_ROUTES)
async def test_tenant_key_is_host_only_refused(
    api: ContractClient, database: str, method: str, template: str
) -> None:
    tenant_id = await create_tenant(database, unique("Tenant"))
    _key_id, tenant_key = await create_api_key(database, tenant_id)
    path = template.format(plan_id=uuid.uuid4(), tenant_id=tenant_id, entry_id=uuid.uuid4())

    result = await api.call(method, path, tenant_key, {} if method in {"POST", "PATCH"} else None)

    assert error_of(result)[:2] == (403, "host_only")


async def test_host_routes_need_credentials(api: ContractClient) -> None:
    result = await api.call("GET", "/v1/host/tenants", None)

    assert error_of(result)[:2] == (401, "authentication_required")


async def test_host_key_needs_the_route_scope(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    _key_id, reader = await create_api_key(database, None, ["host:tenants:read"])

    listed = await api.call("GET", "/v1/host/tenants", reader)
    created = await api.call(
        "POST", "/v1/host/tenants", reader, {"name": "x", "plan_id": plan["id"]}
    )
    plans = await api.call("GET", "/v1/host/plans", reader)

    assert listed.status == 200
    assert error_of(created)[:2] == (403, "insufficient_scope")
    assert error_of(plans)[:2] == (403, "insufficient_scope")


async def test_host_admin_session_manages_tenants(
    api: ContractClient, host_key: str, database: str, app_container: Container
) -> None:
    plan = await new_plan(api, host_key)
    account_id, session_id, email = await create_user_session(database, None, Role.HOST_ADMIN)
    tokens = await provide(app_container.access_tokens)
    token = tokens.issue(access_claims(account_id, session_id, None, Role.HOST_ADMIN, email))

    result = await api.call(
        "POST",
        "/v1/host/tenants",
        None,
        {"name": "Criado por sessão", "plan_id": plan["id"]},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert result.status == 201
    events = await audit_trail(database, result.data["id"])
    assert events[0]["actor_type"] == "account"
    assert events[0]["actor_label"] == email


# --- usage ------------------------------------------------------------------------------


async def add_account(database: str, tenant_id: str, status: str) -> None:
    account_id = uuid.uuid4()
    await owner_execute(
        database,
        "INSERT INTO account (id, tenant_id, email, name, role, status) "
        "VALUES ($1, $2, $3, 'Pessoa', 'sales', $4)",
        account_id,
        uuid.UUID(tenant_id),
        f"{status}-{account_id.hex[:10]}@exemplo.com.br",
        status,
    )


async def test_usage_counts_users_keys_and_lists_events(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key, max_users=7)
    tenant = await new_tenant(api, host_key, plan["id"])
    other = await new_tenant(api, host_key, plan["id"])
    for _ in range(2):
        await create_user_session(database, tenant["id"], Role.SALES)
    await add_account(database, tenant["id"], "invited")
    await add_account(database, tenant["id"], "disabled")
    await create_user_session(database, other["id"], Role.ADMIN)
    await create_api_key(database, other["id"])
    await create_api_key(database, tenant["id"])
    await create_api_key(database, tenant["id"])
    revoked_id, _ = await create_api_key(database, tenant["id"])
    await owner_execute(
        database, "UPDATE api_key SET revoked_at = now() WHERE id = $1", uuid.UUID(revoked_id)
    )
    await create_api_key(
        database, tenant["id"], expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    await api.call(
        "PATCH",
        f"/v1/host/tenants/{tenant['id']}/settings",
        host_key,
        {"timezone": "America/Manaus"},
    )
    await api.call(
        "POST", f"/v1/host/tenants/{tenant['id']}/suspend", host_key, {"reason": "Inadimplente"}
    )

    first = await api.call("GET", f"/v1/host/tenants/{tenant['id']}/usage?per_page=2", host_key)
    second = await api.call(
        "GET", f"/v1/host/tenants/{tenant['id']}/usage?per_page=2&page=2", host_key
    )

    usage = first.data
    assert usage["tenant"] == {
        "id": tenant["id"],
        "name": tenant["name"],
        "status": "suspended",
        "status_reason": "Inadimplente",
    }
    assert usage["plan"]["id"] == plan["id"]
    assert usage["plan"]["max_users"] == 7
    assert usage["users"] == {"active": 2, "invited": 1, "disabled": 1, "max": 7}
    assert usage["api_keys"] == {"active": 2}
    credits = usage["credits"]
    assert (credits["balance"], credits["held"], credits["available"]) == (0, 0, 0)
    assert credits["pending_captures"] == 0
    assert len(credits["used_by_day"]) == 30
    assert {day["credits"] for day in credits["used_by_day"]} == {0}
    assert usage["recent_events"]["meta"] == {
        "page": 1,
        "per_page": 2,
        "total_items": 3,
        "total_pages": 2,
    }
    actions = [event["action"] for event in usage["recent_events"]["data"]]
    actions += [event["action"] for event in second.data["recent_events"]["data"]]
    assert actions == ["tenant.suspended", "tenant.settings_updated", "tenant.created"]


async def test_usage_of_tenant_without_plan(
    api: ContractClient, host_key: str, database: str
) -> None:
    tenant_id = await create_tenant(database, "Sem plano")

    result = await api.call("GET", f"/v1/host/tenants/{tenant_id}/usage", host_key)

    assert result.data["plan"] is None
    assert result.data["users"]["max"] is None
    assert result.data["recent_events"]["data"] == []


# --- concurrent changes -------------------------------------------------------------------


async def test_concurrent_rename_and_suspension_both_kept(
    api: ContractClient, host_key: str, database: str
) -> None:
    plan = await new_plan(api, host_key)
    tenant = await new_tenant(api, host_key, plan["id"], name="Antes")
    base = f"/v1/host/tenants/{tenant['id']}"
    blocker = await asyncpg.connect(database)
    try:
        # Hold the row so both requests have read nothing yet when they queue
        # behind it; each then works on the state the other left.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "SELECT 1 FROM tenant WHERE id = $1 FOR UPDATE", uuid.UUID(tenant["id"])
        )
        rename = asyncio.create_task(api.call("PATCH", base, host_key, {"name": "Depois"}))
        suspend = asyncio.create_task(
            api.call("POST", base + "/suspend", host_key, {"reason": "Em atraso"})
        )
        for _ in range(200):
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= 2:
                break
            await asyncio.sleep(0.025)
        await transaction.rollback()
        renamed, suspended = await asyncio.gather(rename, suspend)
    finally:
        await blocker.close()

    final = await api.call("GET", base, host_key)
    assert renamed.status == 200
    assert suspended.status == 200
    assert final.data["name"] == "Depois"
    assert final.data["status"] == "suspended"
    assert final.data["status_reason"] == "Em atraso"


async def test_plan_credit_validity_is_set_and_cleared(api: ContractClient, host_key: str) -> None:
    created = await api.call("POST", "/v1/host/plans", host_key, plan_body(credit_validity_days=45))
    plan_id = created.data["id"]

    kept = await api.call("PATCH", f"/v1/host/plans/{plan_id}", host_key, {"name": "Outro nome"})
    cleared = await api.call(
        "PATCH", f"/v1/host/plans/{plan_id}", host_key, {"credit_validity_days": None}
    )
    too_long = await api.call(
        "PATCH", f"/v1/host/plans/{plan_id}", host_key, {"credit_validity_days": 4000}
    )

    assert created.status == 201
    assert created.data["credit_validity_days"] == 45
    assert kept.data["credit_validity_days"] == 45
    assert cleared.data["credit_validity_days"] is None
    assert too_long.status == 400
    assert too_long.body["field"] == "credit_validity_days"
