"""The PostgreSQL account repository as the application role: single use under concurrency, isolation.

Two transactions are interleaved by hand (the first holds its row or lock
while the second starts), so the tests show the database deciding, not the
luck of scheduling.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from adapters.postgres.unit_of_work import PostgresUnitOfWork
from domain.accounts import AccountStatus, AccountTokenPurpose
from domain.errors import Conflict
from domain.identity import Role
from entrypoints.container import Container, provide
from entrypoints.settings import Settings
from tests.support.identity import create_account, create_tenant_with_plan

#: How long the second transaction is given to (wrongly) get through while the first holds on.
BLOCKED_FOR = 0.3


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
async def uow(container: Container) -> PostgresUnitOfWork:
    unit_of_work: PostgresUnitOfWork = await provide(container.unit_of_work)
    return unit_of_work


@pytest.fixture
async def tenant_id(database: str) -> str:
    return await create_tenant_with_plan(database, f"Repo {uuid.uuid4().hex[:8]}")


async def open_session(uow: PostgresUnitOfWork, tenant_id: str, account_id: str) -> tuple[str, str]:
    """Add a session with one refresh token; return (session id, token digest)."""
    now = dt.datetime.now(dt.UTC)
    session_id = str(uuid.uuid4())
    token_hash = uuid.uuid4().hex
    async with uow.tenant(tenant_id) as scope:
        await scope.accounts.add_session(
            session_id=session_id,
            account_id=account_id,
            tenant_id=tenant_id,
            expires_at=now + dt.timedelta(days=1),
            ip="127.0.0.1",
            user_agent="teste",
            now=now,
        )
        await scope.accounts.add_refresh_token(
            token_hash=token_hash,
            session_id=session_id,
            tenant_id=tenant_id,
            now=now,
            expires_at=now + dt.timedelta(days=1),
        )
    return session_id, token_hash


async def test_refresh_token_used_once_when_raced(
    uow: PostgresUnitOfWork, database: str, tenant_id: str
) -> None:
    account_id, _email = await create_account(database, tenant_id, Role.SALES, password=None)
    _session_id, token_hash = await open_session(uow, tenant_id, account_id)
    now = dt.datetime.now(dt.UTC)

    async def second() -> bool:
        async with uow.tenant(tenant_id) as scope:
            return await scope.accounts.use_refresh_token(token_hash, now=now)

    async with uow.tenant(tenant_id) as scope:
        assert await scope.accounts.use_refresh_token(token_hash, now=now)
        racer = asyncio.create_task(second())
        await asyncio.sleep(BLOCKED_FOR)
        # The second transaction waits on the row the first one updated.
        assert not racer.done()

    assert await racer is False


async def test_account_token_used_once_when_raced(
    uow: PostgresUnitOfWork, database: str, tenant_id: str
) -> None:
    account_id, _email = await create_account(database, tenant_id, Role.SALES, password=None)
    now = dt.datetime.now(dt.UTC)
    token_hash = uuid.uuid4().hex
    async with uow.tenant(tenant_id) as scope:
        await scope.accounts.add_account_token(
            token_hash=token_hash,
            account_id=account_id,
            tenant_id=tenant_id,
            purpose=AccountTokenPurpose.PASSWORD_RESET,
            now=now,
            expires_at=now + dt.timedelta(hours=1),
        )

    async def second() -> bool:
        async with uow.tenant(tenant_id) as scope:
            return await scope.accounts.use_account_token(token_hash, now=now)

    async with uow.tenant(tenant_id) as scope:
        assert await scope.accounts.use_account_token(token_hash, now=now)
        racer = asyncio.create_task(second())
        await asyncio.sleep(BLOCKED_FOR)
        assert not racer.done()

    assert await racer is False


async def test_roster_lock_serialises_a_tenant(uow: PostgresUnitOfWork, tenant_id: str) -> None:
    other_tenant = str(uuid.uuid4())
    order: list[str] = []

    async def second(target: str, label: str) -> None:
        async with uow.tenant(target) as scope:
            await scope.accounts.lock_roster()
            order.append(label)

    async with uow.tenant(tenant_id) as scope:
        await scope.accounts.lock_roster()
        same = asyncio.create_task(second(tenant_id, "same tenant"))
        other = asyncio.create_task(second(other_tenant, "other tenant"))
        await asyncio.sleep(BLOCKED_FOR)
        assert order == ["other tenant"]
        order.append("first")

    await asyncio.gather(same, other)
    assert order == ["other tenant", "first", "same tenant"]


async def test_tenant_scope_sees_only_its_accounts(
    uow: PostgresUnitOfWork, database: str, tenant_id: str
) -> None:
    own_id, _own_email = await create_account(database, tenant_id, Role.SALES, password=None)
    other_tenant = await create_tenant_with_plan(database, "Vizinha")
    other_id, other_email = await create_account(database, other_tenant, Role.SALES, password=None)
    host_id, _host_email = await create_account(database, None, Role.HOST_ADMIN, password=None)

    async with uow.tenant(tenant_id) as scope:
        own = await scope.accounts.get(own_id)
        other = await scope.accounts.get(other_id)
        host = await scope.accounts.get(host_id)
        total, listed = await scope.accounts.list(role=None, status=None, offset=0, limit=50)
        # The lookup by e-mail crosses tenants on purpose: it checks whether the e-mail is taken.
        found = await scope.accounts.find_by_email(other_email)
        seats = await scope.accounts.count_seats()

    assert own is not None
    assert other is None
    assert host is None
    assert [account.id for account in listed] == [own_id]
    assert total == 1
    assert found is not None and found.id == other_id
    assert seats == 1


async def test_host_scope_sees_only_host_admins(
    uow: PostgresUnitOfWork, database: str, tenant_id: str
) -> None:
    tenant_user, _email = await create_account(database, tenant_id, Role.ADMIN, password=None)
    host_id, _host_email = await create_account(database, None, Role.HOST_ADMIN, password=None)

    async with uow.host() as scope:
        assert await scope.accounts.get(tenant_user) is None
        assert await scope.accounts.get(host_id) is not None
        _total, listed = await scope.accounts.list(role=None, status=None, offset=0, limit=500)
        assert await scope.accounts.tenant_profile() is None

    assert {account.tenant_id for account in listed} == {None}


async def test_taken_email_is_a_conflict(
    uow: PostgresUnitOfWork, database: str, tenant_id: str
) -> None:
    other_tenant = await create_tenant_with_plan(database, "Vizinha")
    _account_id, email = await create_account(database, other_tenant, Role.SALES, password=None)

    with pytest.raises(Conflict) as taken:
        async with uow.tenant(tenant_id) as scope:
            await scope.accounts.add(
                tenant_id=tenant_id,
                email=email,
                name="Cópia",
                role=Role.SALES,
                status=AccountStatus.INVITED,
                password_hash=None,
                now=dt.datetime.now(dt.UTC),
            )

    assert taken.value.code == "email_taken"


async def test_revoking_sessions_retires_their_tokens(
    uow: PostgresUnitOfWork, database: str, tenant_id: str
) -> None:
    account_id, _email = await create_account(database, tenant_id, Role.SALES, password=None)
    first, first_token = await open_session(uow, tenant_id, account_id)
    _second, second_token = await open_session(uow, tenant_id, account_id)
    now = dt.datetime.now(dt.UTC)

    async with uow.tenant(tenant_id) as scope:
        one = await scope.accounts.revoke_sessions(
            account_id, reason="logout", now=now, session_id=first
        )
        again = await scope.accounts.revoke_sessions(
            account_id, reason="logout", now=now, session_id=first
        )
        first_record = await scope.accounts.find_refresh_token(first_token)
        second_record = await scope.accounts.find_refresh_token(second_token)
        rest = await scope.accounts.revoke_sessions(account_id, reason="password_reset", now=now)

    assert (one, again, rest) == (1, 0, 1)
    assert first_record is not None and first_record.used_at is not None
    assert second_record is not None and second_record.used_at is None
