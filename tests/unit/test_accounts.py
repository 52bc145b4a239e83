"""Login, refresh, reset and invitation use cases over in-memory fakes, with a clock the test moves.

The fakes follow the rules of the real adapters: a scope reads only its
tenant's rows (or the host's), a block that raises leaves no change behind,
and a refresh token can be used once. Time-dependent rules (the lock's 15
minutes, the address window, token lifetimes) are checked here by moving the
clock; the same flows run against PostgreSQL and Redis in
tests/integration/test_auth_api.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import structlog

from application.accounts import (
    ADDRESS_WINDOW,
    AccountTokenRecord,
    LoginAttemptsUnavailable,
    LoginSession,
    PasswordResets,
    RefreshTokenRecord,
    Sessions,
    TenantProfile,
)
from application.authentication import AccessClaims
from application.ports import EmailMessage
from domain.accounts import (
    Account,
    AccountStatus,
    AccountTokenPurpose,
    brasilia_time,
    lockout_detail,
)
from domain.audit import Actor, ActorType, AuditEvent
from domain.errors import AuthenticationFailed, Conflict, DomainError, TooManyAttempts
from domain.identity import Role
from domain.tenancy import TenantStatus

START = dt.datetime(2026, 12, 4, 17, 20, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"
ACTOR = Actor(type=ActorType.ANONYMOUS, ip="127.0.0.1", user_agent="teste")


# --- fakes ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@attrs.define
class Store:
    """Every row of the fake database; copied at the start of a transaction to roll back."""

    accounts: dict[str, Account] = attrs.field(factory=dict)
    tenants: dict[str, TenantProfile] = attrs.field(factory=dict)
    sessions: dict[str, LoginSession] = attrs.field(factory=dict)
    refresh_tokens: dict[str, RefreshTokenRecord] = attrs.field(factory=dict)
    account_tokens: dict[str, AccountTokenRecord] = attrs.field(factory=dict)
    audit: list[AuditEvent] = attrs.field(factory=list)


class FakeAccounts:
    """AccountRepository over a Store, seeing only what the scope may see."""

    def __init__(self, store: Store, tenant_id: str | None, host: bool) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.host = host

    def _visible(self, tenant_id: str | None) -> bool:
        if tenant_id is None:
            return self.host
        return tenant_id == self.tenant_id

    def _account(self, account_id: str) -> Account | None:
        account = self.store.accounts.get(account_id)
        return account if account is not None and self._visible(account.tenant_id) else None

    def _replace(self, account_id: str, **changes: Any) -> Account:
        account = attrs.evolve(self.store.accounts[account_id], **changes)
        self.store.accounts[account_id] = account
        return account

    async def find_by_email(self, email: str) -> Account | None:
        return next((a for a in self.store.accounts.values() if a.email == email), None)

    async def get(self, account_id: str) -> Account | None:
        return self._account(account_id)

    async def get_for_update(self, account_id: str) -> Account | None:
        return self._account(account_id)

    async def add(self, **fields: Any) -> Account:
        if await self.find_by_email(fields["email"]) is not None:
            raise Conflict("e-mail em uso", code="email_taken")
        now = fields.pop("now")
        account = Account(
            id=str(uuid.uuid4()),
            failed_logins=0,
            locked_until=None,
            last_login_at=None,
            created_at=now,
            updated_at=now,
            **fields,
        )
        self.store.accounts[account.id] = account
        return account

    async def update(
        self, account_id: str, *, name: str, role: Role, status: AccountStatus, now: dt.datetime
    ) -> Account:
        return self._replace(account_id, name=name, role=role, status=status, updated_at=now)

    async def activate(
        self, account_id: str, *, password_hash: str, name: str, now: dt.datetime
    ) -> Account:
        return self._replace(
            account_id,
            password_hash=password_hash,
            name=name,
            status=AccountStatus.ACTIVE,
            failed_logins=0,
            locked_until=None,
            updated_at=now,
        )

    async def set_password(
        self, account_id: str, password_hash: str, *, now: dt.datetime
    ) -> Account:
        return self._replace(
            account_id,
            password_hash=password_hash,
            failed_logins=0,
            locked_until=None,
            updated_at=now,
        )

    async def record_failed_login(
        self, account_id: str, *, failed_logins: int, locked_until: dt.datetime | None
    ) -> Account:
        return self._replace(account_id, failed_logins=failed_logins, locked_until=locked_until)

    async def record_login(
        self, account_id: str, *, now: dt.datetime, password_hash: str | None
    ) -> Account:
        current = self.store.accounts[account_id]
        return self._replace(
            account_id,
            failed_logins=0,
            locked_until=None,
            last_login_at=now,
            password_hash=password_hash or current.password_hash,
        )

    async def tenant_profile(self) -> TenantProfile | None:
        return self.store.tenants.get(self.tenant_id) if self.tenant_id else None

    async def add_session(self, **fields: Any) -> None:
        self.store.sessions[fields["session_id"]] = LoginSession(
            id=fields["session_id"],
            account_id=fields["account_id"],
            tenant_id=fields["tenant_id"],
            created_at=fields["now"],
            expires_at=fields["expires_at"],
            revoked_at=None,
            revoked_reason=None,
        )

    async def get_session(self, session_id: str) -> LoginSession | None:
        session = self.store.sessions.get(session_id)
        return session if session is not None and self._visible(session.tenant_id) else None

    async def extend_session(
        self, session_id: str, *, now: dt.datetime, expires_at: dt.datetime
    ) -> None:
        self.store.sessions[session_id] = attrs.evolve(
            self.store.sessions[session_id], expires_at=expires_at
        )

    async def revoke_sessions(
        self, account_id: str, *, reason: str, now: dt.datetime, session_id: str | None = None
    ) -> int:
        revoked = [
            s
            for s in self.store.sessions.values()
            if s.account_id == account_id
            and s.revoked_at is None
            and (session_id is None or s.id == session_id)
        ]
        for session in revoked:
            self.store.sessions[session.id] = attrs.evolve(
                session, revoked_at=now, revoked_reason=reason
            )
            for token_hash, token in list(self.store.refresh_tokens.items()):
                if token.session_id == session.id and token.used_at is None:
                    self.store.refresh_tokens[token_hash] = attrs.evolve(token, used_at=now)
        return len(revoked)

    async def find_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        return self.store.refresh_tokens.get(token_hash)

    async def add_refresh_token(self, **fields: Any) -> None:
        self.store.refresh_tokens[fields["token_hash"]] = RefreshTokenRecord(
            session_id=fields["session_id"],
            tenant_id=fields["tenant_id"],
            issued_at=fields["now"],
            expires_at=fields["expires_at"],
            used_at=None,
        )

    async def use_refresh_token(self, token_hash: str, *, now: dt.datetime) -> bool:
        token = self.store.refresh_tokens[token_hash]
        if token.used_at is not None or token.expires_at <= now:
            return False
        self.store.refresh_tokens[token_hash] = attrs.evolve(token, used_at=now)
        return True

    async def find_account_token(self, token_hash: str) -> AccountTokenRecord | None:
        return self.store.account_tokens.get(token_hash)

    async def add_account_token(self, **fields: Any) -> None:
        self.store.account_tokens[fields["token_hash"]] = AccountTokenRecord(
            account_id=fields["account_id"],
            tenant_id=fields["tenant_id"],
            purpose=fields["purpose"],
            created_at=fields["now"],
            expires_at=fields["expires_at"],
            used_at=None,
        )

    async def use_account_token(self, token_hash: str, *, now: dt.datetime) -> bool:
        token = self.store.account_tokens[token_hash]
        if token.used_at is not None:
            return False
        self.store.account_tokens[token_hash] = attrs.evolve(token, used_at=now)
        return True

    async def retire_account_tokens(
        self, account_id: str, purpose: AccountTokenPurpose | None, *, now: dt.datetime
    ) -> int:
        retired = 0
        for token_hash, token in list(self.store.account_tokens.items()):
            if token.account_id == account_id and token.used_at is None:
                if purpose is None or token.purpose is purpose:
                    self.store.account_tokens[token_hash] = attrs.evolve(token, used_at=now)
                    retired += 1
        return retired

    async def last_account_token_at(
        self, account_id: str, purpose: AccountTokenPurpose
    ) -> dt.datetime | None:
        times = [
            t.created_at
            for t in self.store.account_tokens.values()
            if t.account_id == account_id and t.purpose is purpose
        ]
        return max(times, default=None)


class FakeAudit:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, event: AuditEvent) -> None:
        self.store.audit.append(event)


class FakeScope:
    def __init__(self, store: Store, tenant_id: str | None, host: bool) -> None:
        self.tenant_id = tenant_id
        self.accounts = FakeAccounts(store, tenant_id, host)
        self.audit = FakeAudit(store)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.store = Store()

    @asynccontextmanager
    async def _transaction(self, tenant_id: str | None, host: bool) -> AsyncIterator[FakeScope]:
        saved = copy.copy(attrs.asdict(self.store, recurse=False))
        saved = {name: copy.copy(value) for name, value in saved.items()}
        try:
            yield FakeScope(self.store, tenant_id, host)
        except BaseException:
            for name, value in saved.items():
                setattr(self.store, name, value)
            raise

    def tenant(self, tenant_id: str) -> Any:
        return self._transaction(tenant_id, host=False)

    def host(self) -> Any:
        return self._transaction(None, host=True)

    def unscoped(self) -> Any:
        return self._transaction(None, host=False)


class FakePasswords:
    """Hashes as ``<version>$<password>``; ``v1`` hashes need rehashing to ``v2``."""

    def __init__(self) -> None:
        self.dummy_verifications = 0

    def hash(self, password: str) -> str:
        return f"v2${password}"

    def verify(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:
            self.dummy_verifications += 1
            return False
        return password_hash.split("$", 1)[1] == password

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith("v2$")


class FakeAccessTokens:
    lifetime = dt.timedelta(minutes=15)

    def __init__(self) -> None:
        self.issued: list[AccessClaims] = []

    def issue(self, claims: AccessClaims) -> str:
        self.issued.append(claims)
        return f"access-{len(self.issued)}"


class FakeTokens:
    def __init__(self) -> None:
        self.count = 0

    def new(self) -> str:
        self.count += 1
        return f"token-{self.count}"

    def digest(self, token: str) -> str:
        return f"digest:{token}"


class FakeAttempts:
    def __init__(self) -> None:
        self.failures: dict[str, list[dt.datetime]] = {}
        self.down = False

    async def recent_failures(self, address: str, since: dt.datetime) -> list[dt.datetime]:
        if self.down:
            raise LoginAttemptsUnavailable("ConnectionError: refused")
        return sorted(t for t in self.failures.get(address, []) if t >= since)

    async def add_failure(self, address: str, at: dt.datetime, *, keep_for: dt.timedelta) -> None:
        if self.down:
            raise LoginAttemptsUnavailable("ConnectionError: refused")
        self.failures.setdefault(address, []).append(at)


class FakeChanges:
    def __init__(self) -> None:
        self.calls = 0

    async def changed(self) -> None:
        self.calls += 1


class FakeEmail:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


@attrs.define
class World:
    uow: FakeUnitOfWork
    clock: Clock
    passwords: FakePasswords
    access_tokens: FakeAccessTokens
    tokens: FakeTokens
    attempts: FakeAttempts
    changes: FakeChanges
    email: FakeEmail
    sessions: Sessions
    resets: PasswordResets
    tenant_id: str

    def add_account(
        self,
        *,
        email: str = "ana@exemplo.com.br",
        password_hash: str | None = f"v2${PASSWORD}",
        status: AccountStatus = AccountStatus.ACTIVE,
    ) -> Account:
        account = Account(
            id=str(uuid.uuid4()),
            tenant_id=self.tenant_id,
            email=email,
            name="Ana",
            role=Role.SALES,
            status=status,
            password_hash=password_hash,
            failed_logins=0,
            locked_until=None,
            last_login_at=None,
            created_at=START,
            updated_at=START,
        )
        self.uow.store.accounts[account.id] = account
        return account

    def account(self, account_id: str) -> Account:
        return self.uow.store.accounts[account_id]

    def actions(self) -> list[str]:
        return [event.action for event in self.uow.store.audit]


@pytest.fixture
def world() -> World:
    uow = FakeUnitOfWork()
    clock = Clock()
    passwords = FakePasswords()
    access_tokens = FakeAccessTokens()
    tokens = FakeTokens()
    attempts = FakeAttempts()
    changes = FakeChanges()
    email = FakeEmail()

    tenant_id = str(uuid.uuid4())
    uow.store.tenants[tenant_id] = TenantProfile(
        id=tenant_id,
        name="Loja",
        status=TenantStatus.ACTIVE,
        status_reason=None,
        max_users=5,
        requests_per_minute=600,
    )

    sessions = Sessions(
        uow,
        passwords,
        access_tokens,
        tokens,
        attempts,
        changes,
        refresh_lifetime=dt.timedelta(days=30),
        clock=clock,
    )
    resets = PasswordResets(uow, passwords, tokens, email, changes, clock=clock)

    return World(
        uow,
        clock,
        passwords,
        access_tokens,
        tokens,
        attempts,
        changes,
        email,
        sessions,
        resets,
        tenant_id,
    )


# --- the lock --------------------------------------------------------------------------


async def test_lock_lasts_fifteen_minutes(world: World) -> None:
    account = world.add_account()
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            await world.sessions.login(account.email, "wrong", ACTOR)
    with pytest.raises(TooManyAttempts) as locked:
        await world.sessions.login(account.email, "wrong", ACTOR)
    assert locked.value.code == "account_locked"
    assert locked.value.retry_after == 15 * 60

    world.clock.advance(dt.timedelta(minutes=14, seconds=59))
    with pytest.raises(TooManyAttempts) as still:
        await world.sessions.login(account.email, PASSWORD, ACTOR)
    assert still.value.retry_after == 1

    world.clock.advance(dt.timedelta(seconds=1))
    issued = await world.sessions.login(account.email, PASSWORD, ACTOR)
    assert issued.account.failed_logins == 0
    assert world.account(account.id).locked_until is None


async def test_lock_gives_fresh_attempts_after_it_ends(world: World) -> None:
    account = world.add_account()
    for _ in range(5):
        with pytest.raises((AuthenticationFailed, TooManyAttempts)):
            await world.sessions.login(account.email, "wrong", ACTOR)
    world.clock.advance(dt.timedelta(minutes=16))

    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            await world.sessions.login(account.email, "wrong", ACTOR)

    assert world.account(account.id).failed_logins == 4


async def test_lock_is_audited(world: World) -> None:
    account = world.add_account()
    for _ in range(5):
        with pytest.raises((AuthenticationFailed, TooManyAttempts)):
            await world.sessions.login(account.email, "wrong", ACTOR)

    assert world.actions() == ["auth.login_failed"] * 5 + ["auth.account_locked"]
    locked = world.uow.store.audit[-1]
    assert locked.tenant_id == world.tenant_id
    assert locked.actor.label == account.email
    assert locked.detail == {
        "locked_until": (START + dt.timedelta(minutes=15)).isoformat(),
        "consecutive_failures": 5,
    }


def test_lockout_detail_in_brasilia_time() -> None:
    now = dt.datetime(2026, 12, 4, 17, 20, tzinfo=dt.UTC)

    detail = lockout_detail(now + dt.timedelta(minutes=15), now)

    # Brasília is UTC-3 all year (no daylight saving since 2019).
    assert "até 14:35 (horário de Brasília)" in detail
    assert "5 tentativas" in detail


def test_lockout_detail_names_the_next_day() -> None:
    now = dt.datetime(2026, 12, 5, 2, 55, tzinfo=dt.UTC)  # 23:55 in Brasília

    assert brasilia_time(now + dt.timedelta(minutes=15), now) == "00:10 de 05/12/2026"


# --- the address throttle ----------------------------------------------------------------


async def test_address_throttle_window(world: World) -> None:
    account = world.add_account()
    for second in range(20):
        with pytest.raises(AuthenticationFailed):
            await world.sessions.login(f"x{second}@exemplo.com.br", "x", ACTOR)
        world.clock.advance(dt.timedelta(seconds=1))

    with pytest.raises(TooManyAttempts) as throttled:
        await world.sessions.login(account.email, PASSWORD, ACTOR)
    # The first failure was at START and leaves the window 15 minutes later.
    assert throttled.value.code == "too_many_login_attempts"
    assert throttled.value.retry_after == int(
        (ADDRESS_WINDOW - dt.timedelta(seconds=20)).total_seconds()
    )

    world.clock.now = START + ADDRESS_WINDOW + dt.timedelta(milliseconds=1)
    issued = await world.sessions.login(account.email, PASSWORD, ACTOR)
    assert issued.account.id == account.id


async def test_address_throttle_counts_per_address(world: World) -> None:
    account = world.add_account()
    for second in range(20):
        with pytest.raises(AuthenticationFailed):
            await world.sessions.login(f"x{second}@exemplo.com.br", "x", ACTOR)

    other_address = attrs.evolve(ACTOR, ip="127.0.0.2")
    issued = await world.sessions.login(account.email, PASSWORD, other_address)

    assert issued.account.id == account.id


async def test_address_throttle_fails_open(world: World) -> None:
    account = world.add_account()
    world.attempts.down = True

    with structlog.testing.capture_logs() as logs:
        for second in range(25):
            with pytest.raises(AuthenticationFailed):
                await world.sessions.login(f"x{second}@exemplo.com.br", "x", ACTOR)
        issued = await world.sessions.login(account.email, PASSWORD, ACTOR)

    assert issued.account.id == account.id
    unavailable = [entry for entry in logs if entry["event"] == "login_throttle_unavailable"]
    # Each failed login checks and records; the last login only checks.
    assert len(unavailable) == 2 * 25 + 1
    assert {entry["log_level"] for entry in unavailable} == {"error"}


# --- passwords -------------------------------------------------------------------------------


async def test_unknown_email_spends_a_hash_verification(world: World) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        await world.sessions.login("ninguem@exemplo.com.br", PASSWORD, ACTOR)

    assert refused.value.code == "invalid_credentials"
    assert world.passwords.dummy_verifications == 1
    event = world.uow.store.audit[-1]
    assert event.tenant_id is None
    assert event.actor.label == "ninguem@exemplo.com.br"


async def test_old_hash_is_replaced_at_login(world: World) -> None:
    account = world.add_account(password_hash=f"v1${PASSWORD}")

    await world.sessions.login(account.email, PASSWORD, ACTOR)

    assert world.account(account.id).password_hash == f"v2${PASSWORD}"


async def test_wrong_password_keeps_old_hash(world: World) -> None:
    account = world.add_account(password_hash=f"v1${PASSWORD}")

    with pytest.raises(AuthenticationFailed):
        await world.sessions.login(account.email, "wrong", ACTOR)

    assert world.account(account.id).password_hash == f"v1${PASSWORD}"


async def test_suspended_tenant_refused_only_with_right_password(world: World) -> None:
    account = world.add_account()
    world.uow.store.tenants[world.tenant_id] = attrs.evolve(
        world.uow.store.tenants[world.tenant_id],
        status=TenantStatus.SUSPENDED,
        status_reason="pagamento em atraso",
    )

    with pytest.raises(AuthenticationFailed):
        await world.sessions.login(account.email, "wrong", ACTOR)
    with pytest.raises(DomainError) as refused:
        await world.sessions.login(account.email, PASSWORD, ACTOR)

    assert refused.value.code == "tenant_suspended"
    assert "pagamento em atraso" in refused.value.detail
    # A refusal for the tenant is no failed guess: the count is the wrong password's only.
    assert world.account(account.id).failed_logins == 1


# --- refresh ----------------------------------------------------------------------------------


async def test_refresh_slides_the_session(world: World) -> None:
    account = world.add_account()
    issued = await world.sessions.login(account.email, PASSWORD, ACTOR)

    world.clock.advance(dt.timedelta(days=20))
    renewed = await world.sessions.refresh(issued.refresh_token, ACTOR)
    world.clock.advance(dt.timedelta(days=20))
    again = await world.sessions.refresh(renewed.refresh_token, ACTOR)

    assert again.refresh_expires_at == world.clock.now + dt.timedelta(days=30)
    assert world.access_tokens.issued[-1].session_id == issued.session_id


async def test_refresh_token_expires(world: World) -> None:
    account = world.add_account()
    issued = await world.sessions.login(account.email, PASSWORD, ACTOR)

    world.clock.advance(dt.timedelta(days=30, seconds=1))
    with pytest.raises(AuthenticationFailed) as expired:
        await world.sessions.refresh(issued.refresh_token, ACTOR)

    assert expired.value.code == "refresh_token_expired"
    assert world.uow.store.sessions[issued.session_id].revoked_at is None


async def test_reuse_revokes_and_announces(world: World) -> None:
    account = world.add_account()
    issued = await world.sessions.login(account.email, PASSWORD, ACTOR)
    renewed = await world.sessions.refresh(issued.refresh_token, ACTOR)

    with pytest.raises(AuthenticationFailed) as reused:
        await world.sessions.refresh(issued.refresh_token, ACTOR)

    assert reused.value.code == "refresh_token_reused"
    assert world.changes.calls == 1
    session = world.uow.store.sessions[issued.session_id]
    assert session.revoked_reason == "refresh_token_reused"
    assert world.uow.store.refresh_tokens[f"digest:{renewed.refresh_token}"].used_at is not None


# --- e-mailed tokens --------------------------------------------------------------------------


def code_of(message: EmailMessage) -> str:
    return next(line for line in message.text.splitlines() if line.startswith("token-"))


async def test_reset_code_lasts_one_hour(world: World) -> None:
    account = world.add_account()
    await world.resets.request(account.email, ACTOR)
    early = code_of(world.email.sent[-1])
    world.clock.advance(dt.timedelta(minutes=59))
    await world.resets.confirm(early, "a new long password", ACTOR)

    world.clock.advance(dt.timedelta(minutes=5))
    await world.resets.request(account.email, ACTOR)
    late = code_of(world.email.sent[-1])
    world.clock.advance(dt.timedelta(hours=1))

    with pytest.raises(DomainError) as expired:
        await world.resets.confirm(late, "another long password", ACTOR)
    assert expired.value.code == "reset_token_expired"
    assert world.account(account.id).password_hash == "v2$a new long password"


async def test_reset_email_waits_a_minute_between_sends(world: World) -> None:
    account = world.add_account()

    await world.resets.request(account.email, ACTOR)
    world.clock.advance(dt.timedelta(seconds=59))
    await world.resets.request(account.email, ACTOR)
    world.clock.advance(dt.timedelta(seconds=1))
    await world.resets.request(account.email, ACTOR)

    assert len(world.email.sent) == 2
    reasons = [event.detail["reason"] for event in world.uow.store.audit if event.detail]
    assert reasons == [None, "recently_sent", None]


async def test_reset_of_unknown_email_sends_nothing(world: World) -> None:
    await world.resets.request("ninguem@exemplo.com.br", ACTOR)

    assert world.email.sent == []
    assert world.actions() == ["auth.password_reset_requested"]


async def test_invitation_lasts_seven_days(world: World) -> None:
    account = world.add_account(password_hash=None, status=AccountStatus.INVITED)
    async with world.uow.tenant(world.tenant_id) as scope:
        for number in (1, 2):
            await scope.accounts.add_account_token(
                token_hash=f"digest:convite-{number}",
                account_id=account.id,
                tenant_id=world.tenant_id,
                purpose=AccountTokenPurpose.INVITATION,
                now=START,
                expires_at=START + dt.timedelta(days=7),
            )

    world.clock.advance(dt.timedelta(days=7))
    with pytest.raises(DomainError) as expired:
        await world.sessions.accept_invitation("convite-1", PASSWORD, ACTOR)
    assert expired.value.code == "invitation_expired"

    world.clock.now = START + dt.timedelta(days=6, hours=23)
    issued = await world.sessions.accept_invitation("convite-2", PASSWORD, ACTOR, name="Ana Paula")
    assert issued.account.status is AccountStatus.ACTIVE
    assert issued.account.name == "Ana Paula"
    # Accepting retires the other invitation codes of the account.
    with pytest.raises(Conflict) as used:
        await world.sessions.accept_invitation("convite-1", PASSWORD, ACTOR)
    assert used.value.code == "invitation_used"


async def test_failed_invitation_changes_nothing(world: World) -> None:
    account = world.add_account(password_hash=None, status=AccountStatus.INVITED)
    async with world.uow.tenant(world.tenant_id) as scope:
        await scope.accounts.add_account_token(
            token_hash="digest:convite",
            account_id=account.id,
            tenant_id=world.tenant_id,
            purpose=AccountTokenPurpose.INVITATION,
            now=START,
            expires_at=START + dt.timedelta(days=7),
        )

    with pytest.raises(DomainError) as weak:
        await world.sessions.accept_invitation("convite", "curta", ACTOR)

    assert weak.value.field == "password"
    assert world.uow.store.account_tokens["digest:convite"].used_at is None
    assert world.account(account.id).status is AccountStatus.INVITED
