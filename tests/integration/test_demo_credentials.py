"""The demo that ``scripts/start`` runs: plan, tenant, admins and key, refreshed on every start.

``prepare_demo`` is called twice and must reuse the plan and tenant, set new
passwords, end the old sessions and replace the old key. The command itself
(``garimpo demo --no-serve``) is run once on a small synthetic month, and the
credentials it prints are tried against the API.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import asyncpg
import pytest

from adapters.postgres.provisioning import (
    DEMO_ADMIN_EMAIL,
    DEMO_HOST_EMAIL,
    DEMO_PLAN_CODE,
    DemoCredentials,
)
from adapters.security.passwords import Argon2Passwords
from domain.identity import TENANT_PERMISSIONS
from entrypoints import cli
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ContractClient
from tests.support.identity import create_host_key, owner_execute


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


async def prepare_demo(app_container: Container) -> DemoCredentials:
    provisioning = await provide(app_container.provisioning)
    credentials: DemoCredentials = await provisioning.prepare_demo(Argon2Passwords())
    return credentials


async def account_row(database: str, email: str) -> asyncpg.Record:
    conn = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow(
            "SELECT id, tenant_id, role, status, password_hash FROM account WHERE email = $1",
            email,
        )
    finally:
        await conn.close()
    assert row is not None, email
    return row


async def test_demo_is_refreshed_on_each_start(
    api: ContractClient, app_container: Container, database: str
) -> None:
    first = await prepare_demo(app_container)
    admin = await account_row(database, DEMO_ADMIN_EMAIL)
    session_id = uuid.uuid4()
    await owner_execute(
        database,
        "INSERT INTO auth_session (id, account_id, tenant_id, expires_at) "
        "VALUES ($1, $2, $3, now() + interval '1 day')",
        session_id,
        admin["id"],
        admin["tenant_id"],
    )
    user_key_id = uuid.uuid4()
    await owner_execute(
        database,
        "INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, scopes, created_by) "
        "VALUES ($1, $2, 'chave do usuário', $3, 'x', '{settings:read}', $4)",
        user_key_id,
        admin["tenant_id"],
        user_key_id.hex[:8],
        admin["id"],
    )
    await owner_execute(
        database,
        "UPDATE tenant SET status = 'suspended', status_reason = 'teste' WHERE id = $1",
        uuid.UUID(first.tenant_id),
    )

    second = await prepare_demo(app_container)

    assert second.tenant_id == first.tenant_id
    assert second.plan_id == first.plan_id
    assert second.admin_password != first.admin_password
    assert second.host_password != first.host_password
    assert second.api_key != first.api_key

    passwords = Argon2Passwords()
    admin = await account_row(database, DEMO_ADMIN_EMAIL)
    host = await account_row(database, DEMO_HOST_EMAIL)
    assert (admin["role"], admin["status"], str(admin["tenant_id"])) == (
        "admin",
        "active",
        second.tenant_id,
    )
    assert (host["role"], host["status"], host["tenant_id"]) == ("host_admin", "active", None)
    assert passwords.verify(admin["password_hash"], second.admin_password)
    assert not passwords.verify(admin["password_hash"], first.admin_password)
    assert passwords.verify(host["password_hash"], second.host_password)

    revoked_session = await owner_execute(
        database, "SELECT revoked_at IS NOT NULL FROM auth_session WHERE id = $1", session_id
    )
    user_key_kept = await owner_execute(
        database, "SELECT revoked_at IS NULL FROM api_key WHERE id = $1", user_key_id
    )
    assert revoked_session is True
    assert user_key_kept is True

    old_key = await api.call("GET", "/v1/settings", first.api_key)
    new_key = await api.call("GET", "/v1/settings", second.api_key)
    assert (old_key.status, old_key.body["code"]) == (401, "api_key_revoked")
    assert new_key.status == 200
    assert new_key.data["timezone"] == "America/Sao_Paulo"

    host_key = await create_host_key(database)
    tenant = await api.call("GET", f"/v1/host/tenants/{second.tenant_id}", host_key)
    assert tenant.data["name"] == "Tenant de demonstração"
    assert tenant.data["status"] == "active"
    assert tenant.data["plan"]["code"] == DEMO_PLAN_CODE
    assert tenant.data["plan"]["name"] == "Demonstração"


async def test_demo_key_holds_every_tenant_scope(app_container: Container, database: str) -> None:
    credentials = await prepare_demo(app_container)
    prefix = credentials.api_key.split("_")[1]

    scopes = await owner_execute(database, "SELECT scopes FROM api_key WHERE prefix = $1", prefix)

    assert sorted(scopes) == sorted(TENANT_PERMISSIONS)  # type: ignore[arg-type]


def test_demo_command_prints_working_credentials(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.database_url and settings.redis_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("GARIMPO_VAR_DIR", str(settings.var_dir))
    # The session's database may hold a bigger month from another test.
    monkeypatch.setenv("INGEST_MIN_RATIO", "0")
    # configure_logging would route every later test's logs to this test's
    # captured stderr and freeze structlog's configuration (cached loggers).
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)

    status = cli.main(["demo", "--no-serve", "--establishments", "300"])

    output = capsys.readouterr().out
    assert status == 0, output
    admin = re.search(r"Administrador do tenant: (\S+)  senha: (\S+)", output)
    host = re.search(r"Administrador do host: (\S+)  senha: (\S+)", output)
    key = re.search(r"Chave de API do tenant, com todos os escopos: (gar_\S+)", output)
    assert admin is not None, output
    assert host is not None, output
    assert key is not None, output
    assert admin[1] == DEMO_ADMIN_EMAIL
    assert host[1] == DEMO_HOST_EMAIL
    assert "plano Demonstração, código demo" in output

    admin_hash = asyncio.run(account_row(settings.database_url, DEMO_ADMIN_EMAIL))["password_hash"]
    host_hash = asyncio.run(account_row(settings.database_url, DEMO_HOST_EMAIL))["password_hash"]
    passwords = Argon2Passwords()
    assert passwords.verify(admin_hash, admin[2])
    assert passwords.verify(host_hash, host[2])
    prefix = key[1].split("_")[1]
    key_active = asyncio.run(
        owner_execute(
            settings.database_url,
            "SELECT revoked_at IS NULL FROM api_key WHERE prefix = $1",
            prefix,
        )
    )
    assert key_active is True


async def test_demo_provisioning_is_audited(app_container: Container, database: str) -> None:
    credentials = await prepare_demo(app_container)

    count = await owner_execute(
        database,
        "SELECT count(*) FROM audit_event WHERE action = 'demo.provisioned' "
        "AND actor_type = 'system' AND tenant_id = $1 AND detail->>'api_key_issued' = $2",
        uuid.UUID(credentials.tenant_id),
        credentials.api_key.split("_")[1],
    )
    assert count == 1
