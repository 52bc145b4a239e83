"""Tenants, accounts and keys created over the owner connection.

The demo and the test suites need a tenant with credentials in one call,
before any host admin exists to create them through the host API. The owner
is not subject to row-level security, so these writes need no scope.
"""

from __future__ import annotations

import json
import secrets
import uuid

import asyncpg
import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.audit import PostgresAuditLog
from adapters.postgres.database import raw_connection
from adapters.security.keys import digest, new_api_key
from application.ports import PasswordHasher
from domain.audit import SYSTEM_ACTOR, AuditEvent
from domain.identity import TENANT_PERMISSIONS, Role
from domain.tenancy import TenantSettings

DEMO_PLAN_CODE = "demo"
DEMO_PLAN_NAME = "Demonstração"
DEMO_TENANT_NAME = "Tenant de demonstração"
DEMO_ADMIN_EMAIL = "admin@demo.garimpo.local"
DEMO_HOST_EMAIL = "host@garimpo.local"
DEMO_KEY_NAME = "chave de demonstração"


@attrs.frozen(kw_only=True)
class DemoCredentials:
    """Credentials that ``scripts/start`` prints; every secret is new on each start."""

    tenant_id: str
    plan_id: str
    admin_email: str
    admin_password: str = attrs.field(repr=False)
    api_key: str = attrs.field(repr=False)
    host_email: str
    host_password: str = attrs.field(repr=False)


def new_password() -> str:
    """Return a random password of 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


class PostgresProvisioning:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_tenant_with_key(self, name: str) -> tuple[str, str]:
        """Create a tenant and an API key holding every tenant scope; return (tenant id, key).

        The tenant has no plan, so the rate limiter applies its default limit.
        """
        tenant_id = uuid.uuid4()
        async with raw_connection(self._engine) as conn, conn.transaction():
            await conn.execute("INSERT INTO tenant (id, name) VALUES ($1, $2)", tenant_id, name)
            key = await _insert_key(conn, tenant_id, "chave inicial")
        return str(tenant_id), key

    async def prepare_demo(self, passwords: PasswordHasher) -> DemoCredentials:
        """Create or refresh the demo plan, tenant, tenant admin, API key and host admin.

        Safe to run on every start. Passwords and keys are stored as hashes,
        so old ones cannot be shown again: each run sets new passwords, ends
        the two accounts' sessions, and replaces the keys the demo issued
        before (keys that users created through the API stay). A demo tenant
        that was suspended is reactivated, so the printed credentials work.
        """
        admin_password = new_password()
        host_password = new_password()
        # Argon2 takes tens of milliseconds each: hash before opening the transaction.
        admin_hash = passwords.hash(admin_password)
        host_hash = passwords.hash(host_password)

        async with raw_connection(self._engine) as conn, conn.transaction():
            plan_id = await _demo_plan(conn)
            tenant_id = await _demo_tenant(conn, plan_id)
            await _upsert_account(
                conn,
                email=DEMO_ADMIN_EMAIL,
                name="Administrador da demonstração",
                role=Role.ADMIN,
                tenant_id=tenant_id,
                password_hash=admin_hash,
            )
            await _upsert_account(
                conn,
                email=DEMO_HOST_EMAIL,
                name="Administrador do host",
                role=Role.HOST_ADMIN,
                tenant_id=None,
                password_hash=host_hash,
            )
            # Keys without a creating account are the ones provisioning issued.
            await conn.execute(
                "UPDATE api_key SET revoked_at = now() "
                "WHERE tenant_id = $1 AND revoked_at IS NULL AND created_by IS NULL",
                tenant_id,
            )
            key = await _insert_key(conn, tenant_id, DEMO_KEY_NAME)
            # The demo resets passwords and keys outside the host API; the
            # audit log still says who did it and what changed.
            await PostgresAuditLog(conn).record(
                AuditEvent(
                    action="demo.provisioned",
                    actor=SYSTEM_ACTOR,
                    tenant_id=str(tenant_id),
                    target_type="tenant",
                    target_id=str(tenant_id),
                    detail={
                        "plan_id": str(plan_id),
                        "passwords_reset": [DEMO_ADMIN_EMAIL, DEMO_HOST_EMAIL],
                        "api_key_issued": key.split("_")[1],
                    },
                )
            )

        return DemoCredentials(
            tenant_id=str(tenant_id),
            plan_id=str(plan_id),
            admin_email=DEMO_ADMIN_EMAIL,
            admin_password=admin_password,
            api_key=key,
            host_email=DEMO_HOST_EMAIL,
            host_password=host_password,
        )


async def _demo_plan(conn: asyncpg.Connection) -> uuid.UUID:
    # An existing demo plan keeps whatever the operator changed in it.
    await conn.execute(
        """
        INSERT INTO plan (id, code, name, monthly_credits, price_cents, currency, max_users,
                          messages_per_day, requests_per_minute, max_selection_size)
        VALUES ($1, $2, $3, 1000, 0, 'BRL', 10, 1000, 600, 5000)
        ON CONFLICT (code) DO NOTHING
        """,
        uuid.uuid4(),
        DEMO_PLAN_CODE,
        DEMO_PLAN_NAME,
    )
    plan_id: uuid.UUID = await conn.fetchval("SELECT id FROM plan WHERE code = $1", DEMO_PLAN_CODE)
    return plan_id


async def _demo_tenant(conn: asyncpg.Connection, plan_id: uuid.UUID) -> uuid.UUID:
    tenant_id: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM tenant WHERE name = $1 AND status <> 'deleted' ORDER BY created_at LIMIT 1",
        DEMO_TENANT_NAME,
    )
    if tenant_id is None:
        tenant_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO tenant (id, name, plan_id, settings) VALUES ($1, $2, $3, $4::jsonb)",
            tenant_id,
            DEMO_TENANT_NAME,
            plan_id,
            json.dumps(TenantSettings().to_json(), ensure_ascii=False),
        )
        return tenant_id

    # A tenant from before plans existed gets the demo plan; another plan chosen
    # by the operator stays.
    await conn.execute(
        """
        UPDATE tenant SET status = 'active', status_reason = NULL, suspended_at = NULL,
                          plan_id = coalesce(plan_id, $2), updated_at = now()
        WHERE id = $1
        """,
        tenant_id,
        plan_id,
    )
    return tenant_id


async def _upsert_account(
    conn: asyncpg.Connection,
    *,
    email: str,
    name: str,
    role: Role,
    tenant_id: uuid.UUID | None,
    password_hash: str,
) -> None:
    account_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO account (id, tenant_id, email, name, role, status, password_hash)
        VALUES ($1, $2, $3, $4, $5, 'active', $6)
        ON CONFLICT (email) DO UPDATE SET
            tenant_id = excluded.tenant_id, role = excluded.role, status = 'active',
            password_hash = excluded.password_hash, failed_logins = 0, locked_until = NULL,
            updated_at = now()
        RETURNING id
        """,
        uuid.uuid4(),
        tenant_id,
        email,
        name,
        role.value,
        password_hash,
    )
    # The password changed: sessions opened with the old one end.
    await conn.execute(
        "UPDATE auth_session SET revoked_at = now(), revoked_reason = 'password_changed' "
        "WHERE account_id = $1 AND revoked_at IS NULL",
        account_id,
    )


async def _insert_key(conn: asyncpg.Connection, tenant_id: uuid.UUID, name: str) -> str:
    prefix, key = new_api_key()
    await conn.execute(
        "INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, scopes) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.uuid4(),
        tenant_id,
        name,
        prefix,
        digest(key),
        sorted(TENANT_PERMISSIONS),
    )
    return key
