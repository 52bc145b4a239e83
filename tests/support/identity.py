"""Tenants, accounts, sessions and keys made over the owner connection, for tests.

These skip the HTTP flows on purpose: a test of roles or isolation needs a
user of each role in a few lines, not a login dance per user. The flows
themselves have their own tests.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import asyncpg

from adapters.security.keys import digest, new_api_key
from application.authentication import AccessClaims
from domain.identity import HOST_PERMISSIONS, TENANT_PERMISSIONS, Role


async def owner_execute(database_url: str, statement: str, *args: object) -> object:
    """Run one statement as the owner (bypasses row-level security) and return the first value."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


async def create_tenant(
    database_url: str, name: str, *, requests_per_minute: int | None = None
) -> str:
    """Create a tenant; with ``requests_per_minute`` it gets a plan of its own with that limit."""
    tenant_id = uuid.uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            plan_id = None
            if requests_per_minute is not None:
                plan_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO plan (id, code, name, monthly_credits, price_cents, max_users, "
                    "messages_per_day, requests_per_minute) VALUES ($1, $2, $3, 100, 0, 10, 100, $4)",
                    plan_id,
                    f"teste-{plan_id.hex[:12]}",
                    f"Plano de teste {name}",
                    requests_per_minute,
                )
            await conn.execute(
                "INSERT INTO tenant (id, name, plan_id) VALUES ($1, $2, $3)",
                tenant_id,
                name,
                plan_id,
            )
    finally:
        await conn.close()
    return str(tenant_id)


async def create_api_key(
    database_url: str,
    tenant_id: str | None,
    scopes: Iterable[str] | None = None,
    *,
    expires_at: dt.datetime | None = None,
    name: str = "chave de teste",
) -> tuple[str, str]:
    """Create a key (host key when ``tenant_id`` is None); all scopes of its side by default."""
    if scopes is None:
        scopes = TENANT_PERMISSIONS if tenant_id is not None else HOST_PERMISSIONS
    key_id = uuid.uuid4()
    prefix, key = new_api_key()
    await owner_execute(
        database_url,
        "INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, scopes, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key_id,
        uuid.UUID(tenant_id) if tenant_id else None,
        name,
        prefix,
        digest(key),
        sorted(str(scope) for scope in scopes),
        expires_at,
    )
    return str(key_id), key


async def create_user_session(
    database_url: str,
    tenant_id: str | None,
    role: Role,
    *,
    email: str | None = None,
) -> tuple[str, str, str]:
    """Create an active account of ``role`` with an open login session; return (account, session, e-mail)."""
    account_id = uuid.uuid4()
    session_id = uuid.uuid4()
    email = email or f"{role.value}-{account_id.hex[:10]}@exemplo.com.br"
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO account (id, tenant_id, email, name, role, status) "
                "VALUES ($1, $2, $3, $4, $5, 'active')",
                account_id,
                uuid.UUID(tenant_id) if tenant_id else None,
                email,
                f"Usuário {role.value}",
                role.value,
            )
            await conn.execute(
                "INSERT INTO auth_session (id, account_id, tenant_id, expires_at) "
                "VALUES ($1, $2, $3, now() + interval '1 day')",
                session_id,
                account_id,
                uuid.UUID(tenant_id) if tenant_id else None,
            )
    finally:
        await conn.close()
    return str(account_id), str(session_id), email


def access_claims(
    account_id: str,
    session_id: str,
    tenant_id: str | None,
    role: Role,
    email: str,
    *,
    minutes: int = 15,
) -> AccessClaims:
    return AccessClaims(
        account_id=account_id,
        tenant_id=tenant_id,
        role=role,
        session_id=session_id,
        email=email,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
    )


async def create_host_key(database_url: str) -> str:
    """A host API key holding every host scope; returns the key."""
    _key_id, key = await create_api_key(database_url, None)
    return key


async def create_tenant_with_plan(
    database_url: str, name: str, *, max_users: int = 10, requests_per_minute: int = 600
) -> str:
    """Create a tenant on a plan of its own with these limits; return the tenant id."""
    tenant_id = uuid.uuid4()
    plan_id = uuid.uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO plan (id, code, name, monthly_credits, price_cents, max_users, "
                "messages_per_day, requests_per_minute) VALUES ($1, $2, $3, 100, 0, $4, 100, $5)",
                plan_id,
                f"teste-{plan_id.hex[:12]}",
                f"Plano de teste {name}",
                max_users,
                requests_per_minute,
            )
            await conn.execute(
                "INSERT INTO tenant (id, name, plan_id) VALUES ($1, $2, $3)",
                tenant_id,
                name,
                plan_id,
            )
    finally:
        await conn.close()
    return str(tenant_id)


async def create_account(
    database_url: str,
    tenant_id: str | None,
    role: Role,
    *,
    password: str | None,
    email: str | None = None,
    name: str | None = None,
    status: str = "active",
    password_hash: str | None = None,
) -> tuple[str, str]:
    """Create an account whose password is ``password`` (argon2id, as the API stores it).

    ``password_hash`` stores a hash made elsewhere instead (older parameters,
    for instance). Return (account id, e-mail).
    """
    from adapters.security.passwords import Argon2Passwords

    account_id = uuid.uuid4()
    email = email or f"{role.value}-{account_id.hex[:10]}@exemplo.com.br"
    if password_hash is None and password is not None:
        password_hash = Argon2Passwords().hash(password)
    await owner_execute(
        database_url,
        "INSERT INTO account (id, tenant_id, email, name, role, status, password_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        account_id,
        uuid.UUID(tenant_id) if tenant_id else None,
        email,
        name or f"Usuário {role.value}",
        role.value,
        status,
        password_hash,
    )
    return str(account_id), email
