"""API keys through the HTTP API: scopes, expiry, rotation with overlap, revocation, host keys.

Every call goes through the real stack: the authentication middleware, the
permission table, the use case, PostgreSQL under row-level security as the
application role, and the Redis channel that drops cached auth state.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.identity import create_api_key, create_tenant, owner_execute

#: A valid CNPJ that the empty registry of these tests does not hold: a call
#: that reaches the use case answers 404, one refused earlier 401 or 403.
ABSENT_CNPJ = "11222333000181"


@pytest.fixture
async def app_container(settings: Settings) -> Container:
    return build_container(settings)


@pytest.fixture
async def client(aiohttp_client: Any, app_container: Container) -> TestClient:
    return await aiohttp_client(build_app(app_container))


@pytest.fixture
async def tenant(settings: Settings) -> dict[str, str]:
    assert settings.database_url
    tenant_id = await create_tenant(settings.database_url, f"Chaves {uuid.uuid4().hex[:6]}")
    _key_id, admin_key = await create_api_key(settings.database_url, tenant_id)
    return {"id": tenant_id, "admin_key": admin_key}


async def call(
    client: TestClient,
    method: str,
    path: str,
    key: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    response = await client.request(
        method, path, json=body, headers={"X-API-Key": key, **(headers or {})}
    )
    return response.status, await response.json(content_type=None)


async def auth_changed(app_container: Container) -> None:
    """What the host API does after changing a key or tenant behind the cache's back."""
    await (await provide(app_container.auth_state)).changed()


async def test_created_key_is_shown_once_and_works_within_its_scopes(
    client: TestClient, tenant: dict[str, str]
) -> None:
    status, created = await call(
        client,
        "POST",
        "/v1/api-keys",
        tenant["admin_key"],
        {"name": "  Integração   CRM ", "scopes": ["registry:read"]},
    )
    assert status == 201
    secret = created["data"]["key"]
    assert secret.startswith(f"gar_{created['data']['prefix']}_")
    assert created["data"]["name"] == "Integração CRM"
    assert created["data"]["status"] == "active"

    status, listed = await call(client, "GET", "/v1/api-keys", tenant["admin_key"])
    assert status == 200
    mine = [item for item in listed["data"] if item["id"] == created["data"]["id"]]
    assert len(mine) == 1
    assert "key" not in mine[0]

    status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", secret)
    assert (status, body["code"]) == (404, "company_not_found")

    status, body = await call(
        client, "POST", "/v1/preleads/search", secret, {"cnaes": ["6201501"], "uf": "SP"}
    )
    assert (status, body["code"]) == (403, "insufficient_scope")
    assert "preleads:read" in body["detail"]


async def test_bearer_header_carries_a_key_too(client: TestClient, tenant: dict[str, str]) -> None:
    response = await client.get(
        f"/v1/companies/{ABSENT_CNPJ}", headers={"Authorization": f"Bearer {tenant['admin_key']}"}
    )
    assert response.status == 404


async def test_key_cannot_get_scopes_its_creator_lacks(
    client: TestClient, settings: Settings, tenant: dict[str, str]
) -> None:
    assert settings.database_url
    _id, limited = await create_api_key(
        settings.database_url, tenant["id"], ["api_keys:manage", "registry:read"]
    )

    status, body = await call(
        client, "POST", "/v1/api-keys", limited, {"name": "x", "scopes": ["users:manage"]}
    )
    assert (status, body["code"]) == (403, "scope_not_held")


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"name": "x", "scopes": ["registry:write"]}, "invalid_scope", "scopes"),
        ({"name": "x", "scopes": ["host:tenants:read"]}, "invalid_scope", "scopes"),
        ({"name": "x", "scopes": []}, "invalid_scope", "scopes"),
        ({"name": "x", "scopes": "registry:read"}, "invalid_field", "scopes"),
        ({"scopes": ["registry:read"]}, "invalid_field", "name"),
        (
            {"name": "x", "scopes": ["registry:read"], "expires_at": "2020-01-01T00:00:00Z"},
            "invalid_api_key_request",
            "expires_at",
        ),
        (
            {"name": "x", "scopes": ["registry:read"], "expires_at": "amanhã"},
            "invalid_field",
            "expires_at",
        ),
        ({"name": "x", "scopes": ["registry:read"], "owner": "eu"}, "invalid_field", "owner"),
    ],
)
async def test_bad_key_requests_are_400(
    client: TestClient, tenant: dict[str, str], payload: dict[str, Any], code: str, field: str
) -> None:
    status, body = await call(client, "POST", "/v1/api-keys", tenant["admin_key"], payload)

    assert (status, body["code"], body.get("field")) == (400, code, field)
    assert body["detail"]


async def test_revoked_key_is_refused_at_once_and_audited(
    client: TestClient, tenant: dict[str, str]
) -> None:
    _status, created = await call(
        client,
        "POST",
        "/v1/api-keys",
        tenant["admin_key"],
        {"name": "n8n", "scopes": ["registry:read"]},
    )
    key_id, secret = created["data"]["id"], created["data"]["key"]
    assert (await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", secret))[0] == 404

    status, revoked = await call(client, "DELETE", f"/v1/api-keys/{key_id}", tenant["admin_key"])
    assert (status, revoked["data"]["status"]) == (200, "revoked")

    status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", secret)
    assert (status, body["code"]) == (401, "api_key_revoked")

    status, events = await call(client, "GET", "/v1/audit?action=api_key.", tenant["admin_key"])
    assert status == 200
    actions = [(event["action"], event["target_id"]) for event in events["data"]]
    assert ("api_key.revoked", key_id) in actions
    assert ("api_key.created", key_id) in actions


async def test_expired_key_is_refused(
    client: TestClient, settings: Settings, tenant: dict[str, str], app_container: Container
) -> None:
    assert settings.database_url
    key_id, key = await create_api_key(
        settings.database_url,
        tenant["id"],
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    assert (await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", key))[0] == 404

    await owner_execute(
        settings.database_url,
        "UPDATE api_key SET expires_at = now() - interval '1 minute' WHERE id = $1",
        uuid.UUID(key_id),
    )
    await auth_changed(app_container)

    status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", key)
    assert (status, body["code"]) == (401, "api_key_expired")
    assert "expirou" in body["detail"]


async def test_tampered_or_unknown_key_is_401(client: TestClient, tenant: dict[str, str]) -> None:
    key = tenant["admin_key"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")

    for candidate in (tampered, "gar_00000000_nada", "gar_", "qualquer-coisa"):
        status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", candidate)
        assert (status, body["code"]) == (401, "invalid_api_key"), candidate


async def test_rotation_keeps_the_old_key_for_the_overlap(
    client: TestClient, tenant: dict[str, str]
) -> None:
    _status, created = await call(
        client,
        "POST",
        "/v1/api-keys",
        tenant["admin_key"],
        {"name": "ERP", "scopes": ["registry:read"]},
    )
    old_id, old_secret = created["data"]["id"], created["data"]["key"]

    status, rotated = await call(
        client,
        "POST",
        f"/v1/api-keys/{old_id}/rotate",
        tenant["admin_key"],
        {"overlap_seconds": 600},
    )
    assert status == 201
    new_secret = rotated["data"]["key"]
    assert rotated["data"]["name"] == "ERP"
    assert rotated["data"]["scopes"] == ["registry:read"]

    # Both work during the overlap.
    assert (await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", old_secret))[0] == 404
    assert (await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", new_secret))[0] == 404

    _status, old = await call(client, "GET", f"/v1/api-keys/{old_id}", tenant["admin_key"])
    assert old["data"]["replaced_by"] == rotated["data"]["id"]
    ends = dt.datetime.fromisoformat(old["data"]["expires_at"])
    assert dt.timedelta(minutes=9) < ends - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=10)

    # A rotated key cannot be rotated again: the successor is the one to rotate.
    status, body = await call(client, "POST", f"/v1/api-keys/{old_id}/rotate", tenant["admin_key"])
    assert (status, body["code"]) == (409, "api_key_already_rotated")


async def test_rotation_without_overlap_ends_the_old_key_now(
    client: TestClient, tenant: dict[str, str]
) -> None:
    _status, created = await call(
        client,
        "POST",
        "/v1/api-keys",
        tenant["admin_key"],
        {"name": "BI", "scopes": ["registry:read"]},
    )
    old_id, old_secret = created["data"]["id"], created["data"]["key"]

    status, _rotated = await call(
        client, "POST", f"/v1/api-keys/{old_id}/rotate", tenant["admin_key"], {"overlap_seconds": 0}
    )
    assert status == 201

    status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", old_secret)
    assert (status, body["code"]) == (401, "api_key_expired")

    status, body = await call(
        client, "POST", f"/v1/api-keys/{old_id}/rotate", tenant["admin_key"], {"overlap_seconds": 0}
    )
    assert (status, body["code"]) == (400, "api_key_not_active")

    status, body = await call(
        client,
        "POST",
        f"/v1/api-keys/{old_id}/rotate",
        tenant["admin_key"],
        {"overlap_seconds": 10**7},
    )
    assert (status, body["field"]) == (400, "overlap_seconds")


async def test_last_use_is_recorded(client: TestClient, tenant: dict[str, str]) -> None:
    _status, created = await call(
        client,
        "POST",
        "/v1/api-keys",
        tenant["admin_key"],
        {"name": "uso", "scopes": ["registry:read"]},
    )
    key_id, secret = created["data"]["id"], created["data"]["key"]
    assert created["data"]["last_used_at"] is None

    await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", secret)

    _status, shown = await call(client, "GET", f"/v1/api-keys/{key_id}", tenant["admin_key"])
    used = dt.datetime.fromisoformat(shown["data"]["last_used_at"])
    assert dt.datetime.now(dt.UTC) - used < dt.timedelta(minutes=1)


async def test_inactive_keys_are_listed_only_on_request(
    client: TestClient, tenant: dict[str, str]
) -> None:
    _status, created = await call(
        client,
        "POST",
        "/v1/api-keys",
        tenant["admin_key"],
        {"name": "velha", "scopes": ["registry:read"]},
    )
    key_id = created["data"]["id"]
    await call(client, "DELETE", f"/v1/api-keys/{key_id}", tenant["admin_key"])

    _status, active = await call(client, "GET", "/v1/api-keys", tenant["admin_key"])
    _status, everything = await call(
        client, "GET", "/v1/api-keys?include_inactive=true", tenant["admin_key"]
    )

    assert key_id not in {item["id"] for item in active["data"]}
    assert key_id in {item["id"] for item in everything["data"]}
    assert everything["meta"]["total_items"] == active["meta"]["total_items"] + 1


async def test_other_tenants_keys_do_not_exist_for_me(
    client: TestClient, settings: Settings, tenant: dict[str, str]
) -> None:
    assert settings.database_url
    other = await create_tenant(settings.database_url, "Outra Empresa")
    other_key_id, other_key = await create_api_key(settings.database_url, other)

    for method, path in (
        ("GET", f"/v1/api-keys/{other_key_id}"),
        ("DELETE", f"/v1/api-keys/{other_key_id}"),
        ("POST", f"/v1/api-keys/{other_key_id}/rotate"),
        ("GET", "/v1/api-keys/not-a-uuid"),
    ):
        status, body = await call(client, method, path, tenant["admin_key"])
        assert (status, body["code"]) == (404, "not_found"), (method, path)

    _status, listed = await call(
        client, "GET", "/v1/api-keys?include_inactive=true", tenant["admin_key"]
    )
    assert other_key_id not in {item["id"] for item in listed["data"]}

    # The other tenant's key survived the attempts.
    assert (await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", other_key))[0] == 404


async def test_host_keys_live_on_the_host_side(
    client: TestClient, settings: Settings, tenant: dict[str, str]
) -> None:
    assert settings.database_url
    _id, host_key = await create_api_key(settings.database_url, None)

    status, created = await call(
        client,
        "POST",
        "/v1/host/api-keys",
        host_key,
        {"name": "n8n", "scopes": ["host:tenants:read"]},
    )
    assert status == 201
    assert created["data"]["scopes"] == ["host:tenants:read"]

    status, listed = await call(client, "GET", "/v1/host/api-keys", host_key)
    assert created["data"]["id"] in {item["id"] for item in listed["data"]}

    # A tenant cannot see host keys, nor reach host routes.
    status, body = await call(client, "GET", "/v1/host/api-keys", tenant["admin_key"])
    assert (status, body["code"]) == (403, "host_only")
    status, body = await call(
        client, "GET", f"/v1/api-keys/{created['data']['id']}", tenant["admin_key"]
    )
    assert status == 404

    # A host key on a tenant route must name a tenant, and only a host admin may.
    status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", host_key)
    assert (status, body["code"]) == (403, "tenant_required")
    status, body = await call(
        client,
        "GET",
        f"/v1/companies/{ABSENT_CNPJ}",
        host_key,
        headers={"X-Tenant-ID": tenant["id"]},
    )
    assert (status, body["code"]) == (403, "tenant_header_not_allowed")

    status, body = await call(
        client, "POST", "/v1/host/api-keys", host_key, {"name": "x", "scopes": ["registry:read"]}
    )
    assert (status, body["code"]) == (400, "invalid_scope")


async def test_suspended_tenant_keys_get_the_reason(
    client: TestClient, settings: Settings, tenant: dict[str, str], app_container: Container
) -> None:
    assert settings.database_url
    assert (await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", tenant["admin_key"]))[
        0
    ] == 404

    await owner_execute(
        settings.database_url,
        "UPDATE tenant SET status = 'suspended', status_reason = 'pagamento em atraso' WHERE id = $1",
        uuid.UUID(tenant["id"]),
    )
    await auth_changed(app_container)

    status, body = await call(client, "GET", f"/v1/companies/{ABSENT_CNPJ}", tenant["admin_key"])
    assert (status, body["code"]) == (403, "tenant_suspended")
    assert "pagamento em atraso" in body["detail"]
    assert response_is_problem(body)


def response_is_problem(body: dict[str, Any]) -> bool:
    return {"type", "title", "status", "detail", "code", "request_id"} <= set(body)
