"""Tenant settings through HTTP, from the host and from the tenant itself, and the row-level rules.

The host reads and changes any tenant's settings under /v1/host; a tenant
reads its own under /v1/settings, and its admins change them. Row-level
security lets a tenant transaction update its own row only, and a trigger
keeps that update to the settings: both are checked here as the
application role, straight in SQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from adapters.postgres.database import app_database_url
from domain.qualification_settings import QualificationSettings
from domain.tenancy import DEFAULT_TEMPLATES
from entrypoints.container import Container, build_container
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.fixtures import APP_ROLE
from tests.support.identity import create_api_key, create_host_key

DEFAULT_SETTINGS = {
    "timezone": "America/Sao_Paulo",
    "quiet_hours": {"start": "20:00", "end": "08:00"},
    "low_balance_threshold": 10,
    "templates": DEFAULT_TEMPLATES,
    "qualification": QualificationSettings().to_json(),
}


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
async def host_key(database: str) -> str:
    return await create_host_key(database)


@pytest.fixture
async def tenant(api: ContractClient, host_key: str, database: str) -> dict[str, str]:
    """A tenant made through the host API, with an all-scopes key of its own."""
    plan = await api.call(
        "POST",
        "/v1/host/plans",
        host_key,
        {
            "code": f"config-{uuid.uuid4().hex[:8]}",
            "name": "Plano configurações",
            "monthly_credits": 10,
            "price_cents": 0,
            "max_users": 3,
            "messages_per_day": 100,
            "requests_per_minute": 600,
        },
    )
    created = await api.call(
        "POST",
        "/v1/host/tenants",
        host_key,
        {"name": f"Configurações {uuid.uuid4().hex[:6]}", "plan_id": plan.data["id"]},
    )
    _key_id, key = await create_api_key(database, created.data["id"])
    return {"id": created.data["id"], "key": key}


async def settings_events(database: str, tenant_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT actor_type, actor_label, before, after FROM audit_event "
            "WHERE target_id = $1 AND action = 'tenant.settings_updated' ORDER BY id",
            tenant_id,
        )
    finally:
        await conn.close()
    return [
        {
            "actor_type": row["actor_type"],
            "actor_label": row["actor_label"],
            "before": json.loads(row["before"]),
            "after": json.loads(row["after"]),
        }
        for row in rows
    ]


def error_of(result: ApiResult) -> tuple[int, str, str | None]:
    return result.status, result.body["code"], result.body.get("field")


# --- host side -----------------------------------------------------------------------


async def test_new_tenant_has_default_settings(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    as_host = await api.call("GET", f"/v1/host/tenants/{tenant['id']}/settings", host_key)
    as_tenant = await api.call("GET", "/v1/settings", tenant["key"])

    assert as_host.data == DEFAULT_SETTINGS
    assert as_tenant.data == DEFAULT_SETTINGS


async def test_host_partial_update_keeps_the_rest(
    api: ContractClient, host_key: str, tenant: dict[str, str], database: str
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/settings"

    first = await api.call("PATCH", path, host_key, {"timezone": "America/Manaus"})
    second = await api.call(
        "PATCH",
        path,
        host_key,
        {
            "quiet_hours": {"start": "22:30", "end": "07:00"},
            "templates": {"sms_intro": "{remetente}: oferta para a {empresa}. SAIR para parar."},
        },
    )

    assert first.data == {**DEFAULT_SETTINGS, "timezone": "America/Manaus"}
    assert second.data["timezone"] == "America/Manaus"
    assert second.data["quiet_hours"] == {"start": "22:30", "end": "07:00"}
    assert second.data["low_balance_threshold"] == 10
    assert second.data["templates"]["sms_intro"].startswith("{remetente}: oferta")
    assert second.data["templates"]["whatsapp_intro"] == DEFAULT_TEMPLATES["whatsapp_intro"]

    reread = await api.call("GET", path, host_key)
    assert reread.data == second.data

    events = await settings_events(database, tenant["id"])
    assert len(events) == 2
    assert events[0]["before"] == {"timezone": "America/Sao_Paulo"}
    assert events[0]["after"] == {"timezone": "America/Manaus"}
    assert set(events[1]["after"]) == {"quiet_hours", "templates"}


async def test_same_settings_again_is_not_audited(
    api: ContractClient, host_key: str, tenant: dict[str, str], database: str
) -> None:
    result = await api.call(
        "PATCH",
        f"/v1/host/tenants/{tenant['id']}/settings",
        host_key,
        {"timezone": "America/Sao_Paulo", "low_balance_threshold": 10},
    )

    assert result.data == DEFAULT_SETTINGS
    assert await settings_events(database, tenant["id"]) == []


_BAD_SETTINGS = [
    ({"idioma": "pt-BR"}, "invalid_settings", "idioma"),
    ({"timezone": "Hora de Brasília"}, "invalid_settings", "timezone"),
    ({"timezone": 3}, "invalid_settings", "timezone"),
    ({"quiet_hours": "20:00-08:00"}, "invalid_settings", "quiet_hours"),
    ({"quiet_hours": {"start": "25:00", "end": "08:00"}}, "invalid_settings", "quiet_hours.start"),
    ({"quiet_hours": {"start": "20:00", "end": "8h"}}, "invalid_settings", "quiet_hours.end"),
    ({"quiet_hours": {"start": "20:00", "end": "20:00"}}, "invalid_settings", "quiet_hours"),
    ({"low_balance_threshold": -1}, "invalid_settings", "low_balance_threshold"),
    ({"low_balance_threshold": "10"}, "invalid_settings", "low_balance_threshold"),
    ({"low_balance_threshold": True}, "invalid_settings", "low_balance_threshold"),
    ({"templates": "oi"}, "invalid_settings", "templates"),
    ({"templates": {"telegram_intro": "oi"}}, "invalid_settings", "templates.telegram_intro"),
    ({"templates": {"sms_intro": "  "}}, "invalid_settings", "templates.sms_intro"),
    ({"templates": {"email_body": "x" * 4001}}, "invalid_settings", "templates.email_body"),
]


@pytest.mark.parametrize(("body", "code", "field"), _BAD_SETTINGS)
async def test_bad_settings_are_400_and_change_nothing(
    api: ContractClient,
    host_key: str,
    tenant: dict[str, str],
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/settings"

    as_host = await api.call("PATCH", path, host_key, {"low_balance_threshold": 99, **body})
    as_tenant = await api.call("PATCH", "/v1/settings", tenant["key"], body)

    assert error_of(as_host) == (400, code, field)
    assert error_of(as_tenant) == (400, code, field)
    assert (await api.call("GET", path, host_key)).data == DEFAULT_SETTINGS


async def test_settings_body_must_be_json_object(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    result = await api.call("PATCH", "/v1/settings", tenant["key"], data=b"[1, 2]")

    assert (result.status, result.body["code"]) == (400, "invalid_json")


# --- tenant side ---------------------------------------------------------------------


async def test_tenant_admin_changes_own_settings_only(
    api: ContractClient, host_key: str, tenant: dict[str, str], database: str
) -> None:
    other = await api.call(
        "POST",
        "/v1/host/tenants",
        host_key,
        {
            "name": "Vizinho",
            "plan_id": (await api.call("GET", f"/v1/host/tenants/{tenant['id']}", host_key)).data[
                "plan_id"
            ],
        },
    )

    result = await api.call("PATCH", "/v1/settings", tenant["key"], {"low_balance_threshold": 25})

    assert result.data == {**DEFAULT_SETTINGS, "low_balance_threshold": 25}
    seen_by_host = await api.call("GET", f"/v1/host/tenants/{tenant['id']}/settings", host_key)
    assert seen_by_host.data["low_balance_threshold"] == 25
    neighbour = await api.call("GET", f"/v1/host/tenants/{other.data['id']}/settings", host_key)
    assert neighbour.data == DEFAULT_SETTINGS

    events = await settings_events(database, tenant["id"])
    assert len(events) == 1
    assert events[0]["actor_type"] == "api_key"
    assert events[0]["before"] == {"low_balance_threshold": 10}
    assert events[0]["after"] == {"low_balance_threshold": 25}


async def test_settings_scopes(api: ContractClient, tenant: dict[str, str], database: str) -> None:
    _id, reader = await create_api_key(database, tenant["id"], ["settings:read"])
    _id, searcher = await create_api_key(database, tenant["id"], ["preleads:read"])

    read = await api.call("GET", "/v1/settings", reader)
    write = await api.call("PATCH", "/v1/settings", reader, {"low_balance_threshold": 1})
    no_read = await api.call("GET", "/v1/settings", searcher)

    assert read.status == 200
    assert error_of(write)[:2] == (403, "insufficient_scope")
    assert error_of(no_read)[:2] == (403, "insufficient_scope")


async def test_host_key_needs_tenant_for_own_settings_route(
    api: ContractClient, host_key: str
) -> None:
    result = await api.call("GET", "/v1/settings", host_key)

    assert error_of(result)[:2] == (403, "tenant_required")


# --- row-level security on the tenant row ------------------------------------------------


@pytest.fixture
async def app_conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(app_database_url(database, APP_ROLE))
    try:
        yield conn
    finally:
        await conn.close()


async def test_tenant_transaction_updates_only_own_settings(
    app_conn: asyncpg.Connection, tenant: dict[str, str], api: ContractClient, host_key: str
) -> None:
    plan_id = (await api.call("GET", f"/v1/host/tenants/{tenant['id']}", host_key)).data["plan_id"]
    other = await api.call(
        "POST", "/v1/host/tenants", host_key, {"name": "Outro tenant", "plan_id": plan_id}
    )
    own, foreign = uuid.UUID(tenant["id"]), uuid.UUID(other.data["id"])

    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('garimpo.tenant_id', $1, true)", str(own))
        visible = await app_conn.fetch("SELECT id FROM tenant")
        changed_own = await app_conn.execute(
            "UPDATE tenant SET settings = '{\"low_balance_threshold\": 3}'::jsonb WHERE id = $1",
            own,
        )
        changed_foreign = await app_conn.execute(
            "UPDATE tenant SET settings = '{}'::jsonb WHERE id = $1", foreign
        )

    assert [row["id"] for row in visible] == [own]
    assert changed_own == "UPDATE 1"
    assert changed_foreign == "UPDATE 0"


@pytest.mark.parametrize(
    "assignment",
    [
        "status = 'suspended', status_reason = 'suspenso por dentro'",
        "plan_id = NULL",
        "name = 'Renomeado por dentro'",
        "retention_until = '2099-01-01'",
    ],
)
async def test_tenant_transaction_cannot_touch_other_columns(
    app_conn: asyncpg.Connection, tenant: dict[str, str], assignment: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only its own settings"):
        async with app_conn.transaction():
            await app_conn.execute("SELECT set_config('garimpo.tenant_id', $1, true)", tenant["id"])
            await app_conn.execute(
                f"UPDATE tenant SET {assignment} WHERE id = $1", uuid.UUID(tenant["id"])
            )


async def test_host_transaction_may_change_status(
    app_conn: asyncpg.Connection, tenant: dict[str, str]
) -> None:
    transaction = app_conn.transaction()
    await transaction.start()
    try:
        await app_conn.execute("SELECT set_config('garimpo.host', 'on', true)")
        result = await app_conn.execute(
            "UPDATE tenant SET status = 'suspended', status_reason = 'teste' WHERE id = $1",
            uuid.UUID(tenant["id"]),
        )
    finally:
        # The test only shows that the host may write every column; nothing is kept.
        await transaction.rollback()

    assert result == "UPDATE 1"
