"""Login, tokens, refresh, logout and password reset through the real HTTP API.

Every call goes through the whole stack: the authentication middleware, the
use cases, PostgreSQL as the application role under row-level security, the
per-address throttle in Redis and the Redis channel that drops cached auth
state. Every response is checked against the OpenAPI document. The database
is shared by the test session, so each test makes its own tenant and users.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import jwt
import pytest
import redis.asyncio as aioredis
import structlog
from argon2 import PasswordHasher as Argon2Hasher
from dependency_injector import providers

from adapters.redis.login_attempts import RedisLoginAttempts
from adapters.security.keys import digest
from adapters.security.passwords import Argon2Passwords
from adapters.security.tokens import JwtAccessTokens
from application.authentication import AccessClaims
from domain.accounts import BRASILIA
from domain.identity import HOST_PERMISSIONS, Role
from entrypoints.container import Container, provide, resolve_jwt_secret
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.auth_api import (
    AuthApi,
    auth_container,
    code_in,
    last_email,
    outbox,
    wait_for_auth_cache,
)
from tests.support.identity import (
    create_account,
    create_api_key,
    create_tenant_with_plan,
    owner_execute,
)

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse 42"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
def app_container(settings: Settings) -> Container:
    return auth_container(settings)


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> AuthApi:
    client = AuthApi(await aiohttp_client(build_app(app_container)))
    await wait_for_auth_cache(app_container)
    return client


@pytest.fixture
async def tenant_id(database: str) -> str:
    return await create_tenant_with_plan(database, f"Tenant {uuid.uuid4().hex[:8]}")


@pytest.fixture
async def user(database: str, tenant_id: str) -> tuple[str, str]:
    """An active sales user of ``tenant_id`` whose password is PASSWORD: (id, e-mail)."""
    return await create_account(database, tenant_id, Role.SALES, password=PASSWORD)


async def account_row(database: str, account_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow("SELECT * FROM account WHERE id = $1", uuid.UUID(account_id))
    finally:
        await conn.close()
    assert row is not None
    return row


async def audit_actions(database: str, target_id: str) -> list[asyncpg.Record]:
    """The audit events about one account or session, oldest first, read as the owner."""
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetch(
            "SELECT action, tenant_id, actor_type, actor_id, actor_label, detail "
            "FROM audit_event WHERE target_id = $1 ORDER BY id",
            target_id,
        )
    finally:
        await conn.close()


def detail_of(row: asyncpg.Record) -> dict[str, Any]:
    detail: dict[str, Any] = json.loads(row["detail"]) if row["detail"] else {}
    return detail


# --- login ---------------------------------------------------------------------------


async def test_login_issues_tokens(
    api: AuthApi, database: str, tenant_id: str, user: tuple[str, str]
) -> None:
    account_id, email = user

    reply = await api.call("POST", "/v1/auth/login", {"email": email.upper(), "password": PASSWORD})

    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    session = reply.data
    assert session["token_type"] == "Bearer"
    assert session["expires_in"] == 15 * 60
    assert session["user"] == {
        "id": account_id,
        "email": email,
        "name": "Usuário sales",
        "role": "sales",
        "tenant_id": tenant_id,
    }
    refresh_expires = dt.datetime.fromisoformat(session["refresh_expires_at"])
    assert (
        dt.timedelta(days=29) < refresh_expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    )

    stored = await owner_execute(
        database,
        "SELECT count(*) FROM refresh_token WHERE token_hash = $1 AND used_at IS NULL",
        digest(session["refresh_token"]),
    )
    assert stored == 1
    row = await account_row(database, account_id)
    assert row["last_login_at"] is not None
    events = await audit_actions(database, account_id)
    assert [event["action"] for event in events] == ["auth.login_succeeded"]
    assert str(events[0]["tenant_id"]) == tenant_id
    assert events[0]["actor_type"] == "account"


async def test_me_shows_user_tenant_and_permissions(
    api: AuthApi, tenant_id: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    session = await api.login(email, PASSWORD)

    reply = await api.call("GET", "/v1/auth/me", token=session["access_token"])

    me = reply.data
    assert me["id"] == account_id
    assert me["role"] == "sales"
    assert me["role_label"] == "vendas"
    assert me["tenant"]["id"] == tenant_id
    assert me["tenant"]["status"] == "active"
    assert me["tenant"]["name"].startswith("Tenant ")
    assert "users:read" in me["permissions"]
    assert "users:manage" not in me["permissions"]
    assert me["permissions"] == sorted(me["permissions"])


async def test_me_of_host_admin(api: AuthApi, database: str) -> None:
    _admin_id, email = await create_account(database, None, Role.HOST_ADMIN, password=PASSWORD)
    session = await api.login(email, PASSWORD)

    me = (await api.call("GET", "/v1/auth/me", token=session["access_token"])).data

    assert me["tenant"] is None
    assert me["tenant_id"] is None
    assert set(me["permissions"]) == {str(p) for p in HOST_PERMISSIONS}
    assert "host:admins:manage" in me["permissions"]


async def test_me_refuses_api_key(api: AuthApi, database: str, tenant_id: str) -> None:
    _key_id, key = await create_api_key(database, tenant_id)

    reply = await api.call("GET", "/v1/auth/me", key=key)

    assert reply.status == 403
    assert reply.code == "session_required"


async def test_wrong_password_and_unknown_email_look_alike(
    api: AuthApi, database: str, tenant_id: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    unknown = f"ninguem-{uuid.uuid4().hex[:8]}@exemplo.com.br"

    wrong = await api.call("POST", "/v1/auth/login", {"email": email, "password": "not it at all"})
    missing = await api.call("POST", "/v1/auth/login", {"email": unknown, "password": PASSWORD})
    malformed = await api.call("POST", "/v1/auth/login", {"email": "no-at-sign", "password": "x"})

    for reply in (wrong, missing, malformed):
        assert reply.status == 401
        assert reply.code == "invalid_credentials"
        assert reply.body["detail"] == wrong.body["detail"]

    events = await audit_actions(database, account_id)
    assert [event["action"] for event in events] == ["auth.login_failed"]
    assert str(events[0]["tenant_id"]) == tenant_id
    assert events[0]["actor_label"] == email
    assert detail_of(events[0])["reason"] == "wrong_password"

    unknown_events = await owner_execute(
        database,
        "SELECT count(*) FROM audit_event WHERE action = 'auth.login_failed' "
        "AND actor_label = $1 AND tenant_id IS NULL AND detail->>'reason' = 'unknown_email'",
        unknown,
    )
    assert unknown_events == 1


@pytest.mark.parametrize("status", ["invited", "disabled"])
async def test_inactive_account_cannot_log_in(
    api: AuthApi, database: str, tenant_id: str, status: str
) -> None:
    account_id, email = await create_account(
        database, tenant_id, Role.VIEWER, password=PASSWORD, status=status
    )

    reply = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})

    assert reply.status == 401
    assert reply.code == "invalid_credentials"
    events = await audit_actions(database, account_id)
    assert detail_of(events[-1])["reason"] == f"account_{status}"


async def test_invited_account_without_password_cannot_log_in(
    api: AuthApi, database: str, tenant_id: str
) -> None:
    _account_id, email = await create_account(
        database, tenant_id, Role.VIEWER, password=None, status="invited"
    )

    reply = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})

    assert reply.status == 401
    assert reply.code == "invalid_credentials"


async def test_login_body_is_validated(api: AuthApi) -> None:
    missing = await api.call("POST", "/v1/auth/login", {"email": "a@b.com.br"})
    extra = await api.call(
        "POST", "/v1/auth/login", {"email": "a@b.com.br", "password": "x", "remember": True}
    )
    not_text = await api.call("POST", "/v1/auth/login", {"email": 42, "password": "x"})

    assert (missing.status, missing.body["field"]) == (400, "password")
    assert (extra.status, extra.body["field"]) == (400, "remember")
    assert (not_text.status, not_text.body["field"]) == (400, "email")


async def test_login_rehashes_old_parameters(api: AuthApi, database: str, tenant_id: str) -> None:
    weak = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    account_id, email = await create_account(
        database, tenant_id, Role.SALES, password=None, password_hash=weak
    )
    passwords = Argon2Passwords()
    assert passwords.needs_rehash(weak)

    await api.login(email, PASSWORD)

    stored = (await account_row(database, account_id))["password_hash"]
    assert stored != weak
    assert not passwords.needs_rehash(stored)
    assert passwords.verify(stored, PASSWORD)
    await api.login(email, PASSWORD)


# --- the account lock -------------------------------------------------------------


async def test_account_locks_after_five_wrong_passwords(
    api: AuthApi, database: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    wrong = {"email": email, "password": "wrong password"}

    first_four = [await api.call("POST", "/v1/auth/login", wrong) for _ in range(4)]
    fifth = await api.call("POST", "/v1/auth/login", wrong)
    right_while_locked = await api.call(
        "POST", "/v1/auth/login", {"email": email, "password": PASSWORD}
    )

    assert [reply.code for reply in first_four] == ["invalid_credentials"] * 4
    for reply in (fifth, right_while_locked):
        assert reply.status == 429
        assert reply.code == "account_locked"
        locked_until = dt.datetime.fromisoformat(reply.body["locked_until"])
        remaining = locked_until - dt.datetime.now(dt.UTC)
        assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)
        assert 14 * 60 <= int(reply.headers["Retry-After"]) <= 15 * 60
        assert reply.body["retry_after"] == int(reply.headers["Retry-After"])
        local = locked_until.astimezone(BRASILIA)
        assert f"até {local:%H:%M}" in reply.body["detail"]
        assert "(horário de Brasília)" in reply.body["detail"]

    row = await account_row(database, account_id)
    assert row["locked_until"] is not None
    actions = [event["action"] for event in await audit_actions(database, account_id)]
    assert actions == ["auth.login_failed"] * 5 + ["auth.account_locked", "auth.login_failed"]


async def test_lock_ends_after_its_time(api: AuthApi, database: str, user: tuple[str, str]) -> None:
    account_id, email = user
    for _ in range(5):
        await api.call("POST", "/v1/auth/login", {"email": email, "password": "wrong password"})

    # Fifteen minutes pass.
    await owner_execute(
        database,
        "UPDATE account SET locked_until = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(account_id),
    )

    await api.login(email, PASSWORD)
    row = await account_row(database, account_id)
    assert row["failed_logins"] == 0
    assert row["locked_until"] is None


async def test_successful_login_resets_failure_count(
    api: AuthApi, database: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    wrong = {"email": email, "password": "wrong password"}
    for _ in range(4):
        await api.call("POST", "/v1/auth/login", wrong)
    assert (await account_row(database, account_id))["failed_logins"] == 4

    await api.login(email, PASSWORD)
    after = [await api.call("POST", "/v1/auth/login", wrong) for _ in range(4)]

    assert (await account_row(database, account_id))["failed_logins"] == 4
    assert [reply.code for reply in after] == ["invalid_credentials"] * 4


# --- the address throttle ------------------------------------------------------------


async def test_address_throttled_after_twenty_failures(api: AuthApi, user: tuple[str, str]) -> None:
    _account_id, email = user
    failures = [
        await api.call(
            "POST",
            "/v1/auth/login",
            {"email": f"ninguem{n}@exemplo.com.br", "password": "whatever"},
        )
        for n in range(20)
    ]

    refused = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})

    assert [reply.code for reply in failures] == ["invalid_credentials"] * 20
    assert refused.status == 429
    assert refused.code == "too_many_login_attempts"
    assert 1 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert "15 minutos" in refused.body["detail"]


async def test_address_throttle_fails_open_without_redis(
    aiohttp_client: Any, settings: Settings, database: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    container = auth_container(settings)
    # Nothing listens on port 1 of the loopback address, so every Redis call is refused.
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    container.login_attempts.override(providers.Object(RedisLoginAttempts(unreachable)))
    api = AuthApi(await aiohttp_client(build_app(container)))

    with structlog.testing.capture_logs() as logs:
        unknown = [
            await api.call(
                "POST", "/v1/auth/login", {"email": f"x{n}@exemplo.com.br", "password": "x"}
            )
            for n in range(22)
        ]
        session = await api.login(email, PASSWORD)
        wrong = [
            await api.call("POST", "/v1/auth/login", {"email": email, "password": "wrong one"})
            for _ in range(5)
        ]
    await unreachable.aclose()

    assert [reply.code for reply in unknown] == ["invalid_credentials"] * 22
    assert session["user"]["id"] == account_id
    # The per-account lock lives in PostgreSQL and still holds.
    assert [reply.code for reply in wrong] == ["invalid_credentials"] * 4 + ["account_locked"]
    errors = [entry for entry in logs if entry["event"] == "login_throttle_unavailable"]
    assert errors
    assert {entry["log_level"] for entry in errors} == {"error"}


# --- access tokens ---------------------------------------------------------------------


async def test_expired_access_token_refused(
    api: AuthApi, settings: Settings, tenant_id: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    session = await api.login(email, PASSWORD)
    me = (await api.call("GET", "/v1/auth/me", token=session["access_token"])).data
    tokens = JwtAccessTokens(resolve_jwt_secret(settings), dt.timedelta(minutes=15))
    expired = tokens.issue(
        AccessClaims(
            account_id=account_id,
            tenant_id=tenant_id,
            role=Role.SALES,
            session_id=me["session_id"],
            email=email,
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
        )
    )

    reply = await api.call("GET", "/v1/auth/me", token=expired)

    assert reply.status == 401
    assert reply.code == "token_expired"
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _changed_payload(token: str) -> str:
    """The token with one character of its payload changed (the signature stays)."""
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    replacement = "A" if payload[middle] != "A" else "B"
    return ".".join([header, payload[:middle] + replacement + payload[middle + 1 :], signature])


def _other_secret(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, "another secret that is long enough to sign", algorithm="HS256")


def _alg_none(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@pytest.mark.parametrize(
    "tamper", [_changed_payload, _other_secret, _alg_none], ids=["payload", "secret", "alg-none"]
)
async def test_tampered_access_token_refused(
    api: AuthApi, user: tuple[str, str], tamper: Any
) -> None:
    _account_id, email = user
    session = await api.login(email, PASSWORD)
    forged = tamper(session["access_token"])
    assert forged != session["access_token"]

    reply = await api.call("GET", "/v1/auth/me", token=forged)

    assert reply.status == 401
    assert reply.code == "invalid_token"


# --- refresh ---------------------------------------------------------------------------


async def refresh(api: AuthApi, token: str) -> Any:
    return await api.call("POST", "/v1/auth/refresh", {"refresh_token": token})


async def test_refresh_rotates_tokens(api: AuthApi, database: str, user: tuple[str, str]) -> None:
    account_id, email = user
    first = await api.login(email, PASSWORD)

    reply = await refresh(api, first["refresh_token"])

    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    second = reply.data
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["user"] == first["user"]
    me = (await api.call("GET", "/v1/auth/me", token=second["access_token"])).data
    assert me["id"] == account_id

    used = await owner_execute(
        database,
        "SELECT used_at IS NOT NULL FROM refresh_token WHERE token_hash = $1",
        digest(first["refresh_token"]),
    )
    assert used is True
    third = await refresh(api, second["refresh_token"])
    assert third.status == 200
    actions = [event["action"] for event in await audit_actions(database, me["session_id"])]
    assert actions == ["auth.session_refreshed", "auth.session_refreshed"]


async def test_reused_refresh_token_revokes_session(
    api: AuthApi, database: str, user: tuple[str, str]
) -> None:
    _account_id, email = user
    first = await api.login(email, PASSWORD)
    second = (await refresh(api, first["refresh_token"])).data
    session_id = (await api.call("GET", "/v1/auth/me", token=second["access_token"])).data[
        "session_id"
    ]

    reused = await refresh(api, first["refresh_token"])
    successor = await refresh(api, second["refresh_token"])
    access = await api.call("GET", "/v1/auth/me", token=second["access_token"])
    other_session = await api.login(email, PASSWORD)

    assert reused.status == 401
    assert reused.code == "refresh_token_reused"
    assert successor.code == "session_revoked"
    assert access.status == 401
    assert access.code == "session_revoked"
    # Only that session ends: the account can log in again.
    assert other_session["access_token"]

    conn = await asyncpg.connect(database)
    try:
        session = await conn.fetchrow(
            "SELECT revoked_at, revoked_reason FROM auth_session WHERE id = $1",
            uuid.UUID(session_id),
        )
        unused = await conn.fetchval(
            "SELECT count(*) FROM refresh_token WHERE session_id = $1 AND used_at IS NULL",
            uuid.UUID(session_id),
        )
    finally:
        await conn.close()
    assert session["revoked_at"] is not None
    assert session["revoked_reason"] == "refresh_token_reused"
    assert unused == 0
    actions = [event["action"] for event in await audit_actions(database, session_id)]
    assert "auth.refresh_token_reused" in actions


async def test_concurrent_refresh_has_one_winner(
    api: AuthApi, database: str, user: tuple[str, str]
) -> None:
    _account_id, email = user
    session = await api.login(email, PASSWORD)

    replies = await asyncio.gather(
        refresh(api, session["refresh_token"]), refresh(api, session["refresh_token"])
    )

    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200, 401]
    winner = next(reply for reply in replies if reply.status == 200)
    loser = next(reply for reply in replies if reply.status == 401)
    assert loser.code == "refresh_token_reused"
    # The loser's refresh counts as reuse, so the family ends, the winner's tokens too.
    after = await refresh(api, winner.data["refresh_token"])
    assert after.code == "session_revoked"
    access = await api.call("GET", "/v1/auth/me", token=winner.data["access_token"])
    assert access.code == "session_revoked"


async def test_expired_refresh_token_refused(
    api: AuthApi, database: str, user: tuple[str, str]
) -> None:
    _account_id, email = user
    session = await api.login(email, PASSWORD)
    await owner_execute(
        database,
        "UPDATE refresh_token SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        digest(session["refresh_token"]),
    )

    reply = await refresh(api, session["refresh_token"])

    assert reply.status == 401
    assert reply.code == "refresh_token_expired"


async def test_unknown_refresh_token_refused(api: AuthApi) -> None:
    reply = await refresh(api, "this-token-was-never-issued")

    assert reply.status == 401
    assert reply.code == "invalid_refresh_token"


# --- logout ----------------------------------------------------------------------------


async def test_logout_stops_access_token_at_once(
    api: AuthApi, database: str, user: tuple[str, str]
) -> None:
    _account_id, email = user
    session = await api.login(email, PASSWORD)
    token = session["access_token"]
    # The first call caches the session's state in this process.
    me = (await api.call("GET", "/v1/auth/me", token=token)).data

    logout = await api.call("POST", "/v1/auth/logout", token=token)
    after = await api.call("GET", "/v1/auth/me", token=token)
    renewed = await refresh(api, session["refresh_token"])

    assert logout.status == 204
    assert after.status == 401
    assert after.code == "session_revoked"
    assert renewed.code == "session_revoked"
    events = await audit_actions(database, me["session_id"])
    assert [event["action"] for event in events] == ["auth.logout"]
    assert detail_of(events[0]) == {"all_sessions": False, "sessions_revoked": 1}


async def test_logout_all_sessions(api: AuthApi, user: tuple[str, str]) -> None:
    _account_id, email = user
    phone = await api.login(email, PASSWORD)
    laptop = await api.login(email, PASSWORD)
    await api.call("GET", "/v1/auth/me", token=phone["access_token"])

    logout = await api.call(
        "POST", "/v1/auth/logout", {"all_sessions": True}, token=laptop["access_token"]
    )

    assert logout.status == 204
    for session in (phone, laptop):
        reply = await api.call("GET", "/v1/auth/me", token=session["access_token"])
        assert reply.code == "session_revoked"


async def test_logout_of_one_session_keeps_the_others(api: AuthApi, user: tuple[str, str]) -> None:
    _account_id, email = user
    phone = await api.login(email, PASSWORD)
    laptop = await api.login(email, PASSWORD)

    await api.call("POST", "/v1/auth/logout", {"all_sessions": False}, token=laptop["access_token"])

    assert (await api.call("GET", "/v1/auth/me", token=phone["access_token"])).status == 200
    assert (await api.call("GET", "/v1/auth/me", token=laptop["access_token"])).status == 401


async def test_logout_needs_a_session(api: AuthApi, database: str, tenant_id: str) -> None:
    _key_id, key = await create_api_key(database, tenant_id)

    anonymous = await api.call("POST", "/v1/auth/logout")
    with_key = await api.call("POST", "/v1/auth/logout", key=key)

    assert anonymous.code == "authentication_required"
    assert with_key.code == "session_required"


# --- suspended tenant ---------------------------------------------------------------------


async def test_suspended_tenant_user_refused(
    api: AuthApi,
    app_container: Container,
    database: str,
    tenant_id: str,
    user: tuple[str, str],
) -> None:
    account_id, email = user
    session = await api.login(email, PASSWORD)
    await api.call("GET", "/v1/auth/me", token=session["access_token"])

    await owner_execute(
        database,
        "UPDATE tenant SET status = 'suspended', status_reason = 'pagamento em atraso', "
        "suspended_at = now() WHERE id = $1",
        uuid.UUID(tenant_id),
    )
    await (await provide(app_container.auth_state)).changed()

    login = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    wrong = await api.call("POST", "/v1/auth/login", {"email": email, "password": "wrong one"})
    access = await api.call("GET", "/v1/auth/me", token=session["access_token"])
    renewed = await refresh(api, session["refresh_token"])

    assert login.status == 403
    assert login.code == "tenant_suspended"
    assert "pagamento em atraso" in login.body["detail"]
    # Without the right password, the suspension stays hidden.
    assert wrong.code == "invalid_credentials"
    assert access.status == 403
    assert access.code == "tenant_suspended"
    assert renewed.status == 403
    assert renewed.code == "tenant_suspended"
    reasons = [
        detail_of(event).get("reason") for event in await audit_actions(database, account_id)
    ]
    assert "tenant_suspended" in reasons


async def test_deleted_tenant_user_refused(
    api: AuthApi, app_container: Container, database: str, tenant_id: str, user: tuple[str, str]
) -> None:
    _account_id, email = user
    await owner_execute(
        database,
        "UPDATE tenant SET status = 'deleted', deleted_at = now() WHERE id = $1",
        uuid.UUID(tenant_id),
    )
    await (await provide(app_container.auth_state)).changed()

    login = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})

    assert login.status == 403
    assert login.code == "tenant_deleted"


# --- password reset -------------------------------------------------------------------------


async def request_reset(api: AuthApi, email: str) -> Any:
    return await api.call("POST", "/v1/auth/password-reset", {"email": email})


async def confirm_reset(api: AuthApi, token: str, password: str) -> Any:
    return await api.call(
        "POST", "/v1/auth/password-reset/confirm", {"token": token, "password": password}
    )


async def test_password_reset_flow(
    api: AuthApi, app_container: Container, database: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    old_session = await api.login(email, PASSWORD)
    await api.call("GET", "/v1/auth/me", token=old_session["access_token"])

    requested = await request_reset(api, email)
    message = await last_email(app_container, email, "password_reset")
    token = code_in(message)
    confirmed = await confirm_reset(api, token, NEW_PASSWORD)

    assert requested.status == 202
    assert "1 hora" in message.text
    assert confirmed.status == 204
    old_access = await api.call("GET", "/v1/auth/me", token=old_session["access_token"])
    assert old_access.code == "session_revoked"
    old_password = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert old_password.code == "invalid_credentials"
    await api.login(email, NEW_PASSWORD)

    stored = await owner_execute(
        database,
        "SELECT count(*) FROM account_token WHERE token_hash = $1 AND purpose = 'password_reset'",
        digest(token),
    )
    assert stored == 1
    actions = [event["action"] for event in await audit_actions(database, account_id)]
    assert "auth.password_reset_requested" in actions
    assert "auth.password_reset_completed" in actions


async def test_reset_outbox_file_has_the_message(
    api: AuthApi, app_container: Container, settings: Settings, user: tuple[str, str]
) -> None:
    _account_id, email = user

    await request_reset(api, email)

    outbox_file = settings.var_dir / "sandbox" / "outbox.jsonl"
    lines = [json.loads(line) for line in outbox_file.read_text().splitlines()]
    mine = [line for line in lines if line["to"] == email]
    assert len(mine) == 1
    assert mine[0]["purpose"] == "password_reset"
    assert code_in(await last_email(app_container, email, "password_reset")) in mine[0]["text"]


async def test_reset_token_single_use(
    api: AuthApi, app_container: Container, user: tuple[str, str]
) -> None:
    _account_id, email = user
    await request_reset(api, email)
    token = code_in(await last_email(app_container, email, "password_reset"))

    first = await confirm_reset(api, token, NEW_PASSWORD)
    second = await confirm_reset(api, token, "yet another long password")

    assert first.status == 204
    assert second.status == 409
    assert second.code == "reset_token_used"
    await api.login(email, NEW_PASSWORD)


async def test_reset_token_expires_after_an_hour(
    api: AuthApi, app_container: Container, database: str, user: tuple[str, str]
) -> None:
    _account_id, email = user
    await request_reset(api, email)
    token = code_in(await last_email(app_container, email, "password_reset"))
    expires_at = await owner_execute(
        database,
        "SELECT expires_at - created_at FROM account_token WHERE token_hash = $1",
        digest(token),
    )
    assert expires_at == dt.timedelta(hours=1)

    await owner_execute(
        database,
        "UPDATE account_token SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        digest(token),
    )
    reply = await confirm_reset(api, token, NEW_PASSWORD)

    assert reply.status == 400
    assert reply.code == "reset_token_expired"
    await api.login(email, PASSWORD)


async def test_reset_clears_the_lock(
    api: AuthApi, app_container: Container, database: str, user: tuple[str, str]
) -> None:
    account_id, email = user
    for _ in range(5):
        await api.call("POST", "/v1/auth/login", {"email": email, "password": "wrong password"})
    assert (await account_row(database, account_id))["locked_until"] is not None

    await request_reset(api, email)
    token = code_in(await last_email(app_container, email, "password_reset"))
    await confirm_reset(api, token, NEW_PASSWORD)

    assert (await account_row(database, account_id))["locked_until"] is None
    await api.login(email, NEW_PASSWORD)


async def test_reset_of_unknown_email_looks_the_same(
    api: AuthApi, app_container: Container, database: str, tenant_id: str
) -> None:
    unknown = f"ninguem-{uuid.uuid4().hex[:8]}@exemplo.com.br"
    _disabled_id, disabled = await create_account(
        database, tenant_id, Role.VIEWER, password=PASSWORD, status="disabled"
    )
    sent_before = len((await outbox(app_container)).messages)

    replies = [await request_reset(api, address) for address in (unknown, disabled, "not-an-email")]

    assert {reply.status for reply in replies} == {202}
    assert len({json.dumps(reply.body) for reply in replies}) == 1
    assert len((await outbox(app_container)).messages) == sent_before


async def test_reset_email_not_repeated_within_a_minute(
    api: AuthApi, app_container: Container, user: tuple[str, str]
) -> None:
    _account_id, email = user

    await request_reset(api, email)
    again = await request_reset(api, email)

    assert again.status == 202
    assert len((await outbox(app_container)).sent_to(email)) == 1


async def test_reset_rejects_bad_password_and_token(
    api: AuthApi, app_container: Container, user: tuple[str, str]
) -> None:
    _account_id, email = user
    await request_reset(api, email)
    token = code_in(await last_email(app_container, email, "password_reset"))

    short = await confirm_reset(api, token, "curta")
    same_as_email = await confirm_reset(api, token, email)
    unknown = await confirm_reset(api, "not-a-real-code", NEW_PASSWORD)

    assert (short.status, short.body["field"]) == (400, "password")
    assert (same_as_email.status, same_as_email.body["field"]) == (400, "password")
    assert unknown.status == 400
    assert unknown.code == "invalid_reset_token"
    # The rejected passwords did not use the code up.
    assert (await confirm_reset(api, token, NEW_PASSWORD)).status == 204
