"""Accounts and sessions: login, refresh, logout, password reset, invitations.

A login opens a session: one row that owns a family of refresh tokens. Each
refresh uses up the token it presents and issues the next one. A token
presented a second time means that two parties have the family, so the whole
session is revoked. Access tokens name their session, and authentication
checks the session on every request (``application.authentication``), so a
revoked session stops its access tokens at once.

Passwords are checked with a slow hash, in a worker thread so the event loop
keeps serving. Two throttles slow down guessing: each account locks after
``MAX_FAILED_LOGINS`` wrong passwords in a row, and each client address may
fail ``MAX_FAILED_LOGINS_PER_ADDRESS`` times per ``ADDRESS_WINDOW``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import attrs
import structlog

from application.authentication import (
    AccessClaims,
    AuthStateChanges,
    TenantState,
    check_tenant_active,
)
from application.ports import EmailMessage, EmailSender, PasswordHasher, Scope, UnitOfWork
from domain.accounts import (
    ACCOUNT_TOKEN_LIFETIME,
    LOCKOUT_DURATION,
    MAX_FAILED_LOGINS,
    Account,
    AccountStatus,
    AccountTokenPurpose,
    check_person_name,
    lockout_detail,
    seconds_until,
)
from domain.audit import Actor, ActorType, AuditEvent, changed_fields
from domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    PermissionDenied,
    TooManyAttempts,
)
from domain.identity import (
    ROLE_LABELS,
    InvalidAccount,
    Principal,
    Role,
    check_new_password,
    normalize_login_email,
)
from domain.tenancy import TenantStatus

log = structlog.get_logger(__name__)

#: Failed logins one client address may make within ADDRESS_WINDOW; the next
#: attempt is refused until the oldest of them leaves the window.
MAX_FAILED_LOGINS_PER_ADDRESS = 20
ADDRESS_WINDOW = dt.timedelta(minutes=15)

#: A second reset e-mail for one account within this interval is not sent, so
#: the form cannot be used to flood someone's inbox.
RESET_EMAIL_INTERVAL = dt.timedelta(seconds=60)


# --- records -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LoginSession:
    id: str
    account_id: str
    tenant_id: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None


@attrs.frozen(kw_only=True)
class RefreshTokenRecord:
    session_id: str
    tenant_id: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class AccountTokenRecord:
    account_id: str
    tenant_id: str | None
    purpose: AccountTokenPurpose
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class TenantProfile:
    """The scope's own tenant, with the plan limits accounts depend on."""

    id: str
    name: str
    status: TenantStatus
    status_reason: str | None
    #: None when the tenant has no plan.
    max_users: int | None
    requests_per_minute: int | None

    def state(self) -> TenantState:
        return TenantState(
            status=self.status,
            reason=self.status_reason,
            requests_per_minute=self.requests_per_minute,
        )

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status.value}


# --- ports -------------------------------------------------------------------


class AccountRepository(Protocol):
    """Accounts, their login sessions and refresh tokens, and their e-mailed tokens.

    Reads and writes go through the scope's row-level security, except the
    three ``find_*`` lookups, which find one row by an exact value in any
    tenant because they run before the tenant is known.
    """

    async def find_by_email(self, email: str) -> Account | None:
        """Return the account with this normalised e-mail, in any tenant."""
        ...

    async def get(self, account_id: str) -> Account | None: ...

    async def get_for_update(self, account_id: str) -> Account | None:
        """Read the account and lock its row until the transaction ends."""
        ...

    async def add(
        self,
        *,
        tenant_id: str | None,
        email: str,
        name: str,
        role: Role,
        status: AccountStatus,
        password_hash: str | None,
        now: dt.datetime,
    ) -> Account:
        """Insert an account; raise Conflict ``email_taken`` when the e-mail has one."""
        ...

    async def update(
        self, account_id: str, *, name: str, role: Role, status: AccountStatus, now: dt.datetime
    ) -> Account: ...

    async def activate(
        self, account_id: str, *, password_hash: str, name: str, now: dt.datetime
    ) -> Account:
        """Set the password, the name and status active, and clear any lock."""
        ...

    async def set_password(
        self, account_id: str, password_hash: str, *, now: dt.datetime
    ) -> Account:
        """Replace the password and clear the failure count and any lock."""
        ...

    async def record_failed_login(
        self, account_id: str, *, failed_logins: int, locked_until: dt.datetime | None
    ) -> Account: ...

    async def record_login(
        self, account_id: str, *, now: dt.datetime, password_hash: str | None
    ) -> Account:
        """Reset the failure count, stamp the login and store a rehashed password if given."""
        ...

    async def list(
        self, *, role: Role | None, status: AccountStatus | None, offset: int, limit: int
    ) -> tuple[int, list[Account]]:
        """Return (total, one page) of the accounts visible in the scope, ordered by name."""
        ...

    async def count_seats(self) -> int:
        """Count the active and invited accounts of the scope's tenant."""
        ...

    async def count_active_admins(self) -> int: ...

    async def lock_roster(self) -> None:
        """Serialise changes to the scope's accounts (seats, admins) until the transaction ends."""
        ...

    async def tenant_profile(self) -> TenantProfile | None:
        """Return the scope's tenant with its plan limits; None outside a tenant scope."""
        ...

    async def add_session(
        self,
        *,
        session_id: str,
        account_id: str,
        tenant_id: str | None,
        expires_at: dt.datetime,
        ip: str | None,
        user_agent: str | None,
        now: dt.datetime,
    ) -> None: ...

    async def get_session(self, session_id: str) -> LoginSession | None: ...

    async def extend_session(
        self, session_id: str, *, now: dt.datetime, expires_at: dt.datetime
    ) -> None: ...

    async def revoke_sessions(
        self, account_id: str, *, reason: str, now: dt.datetime, session_id: str | None = None
    ) -> int:
        """Revoke one session of the account, or all when ``session_id`` is None.

        Every unused refresh token of a revoked session is marked used too.
        Return how many sessions were still open.
        """
        ...

    async def find_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None: ...

    async def add_refresh_token(
        self,
        *,
        token_hash: str,
        session_id: str,
        tenant_id: str | None,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> None: ...

    async def use_refresh_token(self, token_hash: str, *, now: dt.datetime) -> bool:
        """Mark the token used if it is unused and unexpired; False when it was not.

        Of two transactions presenting the same token, exactly one gets True.
        """
        ...

    async def find_account_token(self, token_hash: str) -> AccountTokenRecord | None: ...

    async def add_account_token(
        self,
        *,
        token_hash: str,
        account_id: str,
        tenant_id: str | None,
        purpose: AccountTokenPurpose,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> None: ...

    async def use_account_token(self, token_hash: str, *, now: dt.datetime) -> bool:
        """Mark the token used if it is unused; False when it already was."""
        ...

    async def retire_account_tokens(
        self, account_id: str, purpose: AccountTokenPurpose | None, *, now: dt.datetime
    ) -> int:
        """Mark the account's unused tokens of ``purpose`` (of every purpose for None) used."""
        ...

    async def last_account_token_at(
        self, account_id: str, purpose: AccountTokenPurpose
    ) -> dt.datetime | None: ...


class AccessTokenIssuer(Protocol):
    @property
    def lifetime(self) -> dt.timedelta: ...

    def issue(self, claims: AccessClaims) -> str: ...


class OpaqueTokens(Protocol):
    """Random tokens handed to users (refresh, reset, invitation); only digests are stored."""

    def new(self) -> str: ...

    def digest(self, token: str) -> str: ...


class LoginAttemptsUnavailable(Exception):
    """Raised by a LoginAttempts store that fails or times out."""


class LoginAttempts(Protocol):
    """Failed logins per client address, kept for the address throttle."""

    async def recent_failures(self, address: str, since: dt.datetime) -> list[dt.datetime]:
        """Return when ``address`` failed at or after ``since``, oldest first.

        Raises LoginAttemptsUnavailable when the store is down or too slow.
        """
        ...

    async def add_failure(self, address: str, at: dt.datetime, *, keep_for: dt.timedelta) -> None:
        """Record a failure; raises LoginAttemptsUnavailable like ``recent_failures``."""
        ...


# --- results -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class IssuedSession:
    """The tokens and account returned by a login, a refresh or an accepted invitation."""

    account: Account
    session_id: str
    access_token: str = attrs.field(repr=False)
    expires_in: int
    refresh_token: str = attrs.field(repr=False)
    refresh_expires_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "user": {
                "id": self.account.id,
                "email": self.account.email,
                "name": self.account.name,
                "role": self.account.role.value,
                "tenant_id": self.account.tenant_id,
            },
        }


# --- shared steps --------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@asynccontextmanager
async def account_scope(uow: UnitOfWork, tenant_id: str | None) -> AsyncIterator[Scope]:
    """Open the transaction in which an account is visible: its tenant's, or the host's for a host admin."""
    if tenant_id is None:
        async with uow.host() as scope:
            yield scope
    else:
        async with uow.tenant(tenant_id) as scope:
            yield scope


def account_actor(actor: Actor, account: Account) -> Actor:
    """Return the request's actor identified as ``account``."""
    return attrs.evolve(actor, type=ActorType.ACCOUNT, id=account.id, label=account.email)


def _invalid_credentials() -> AuthenticationFailed:
    return AuthenticationFailed("E-mail ou senha incorretos.", code="invalid_credentials")


def _account_locked(locked_until: dt.datetime, now: dt.datetime) -> TooManyAttempts:
    return TooManyAttempts(
        lockout_detail(locked_until, now),
        retry_after=seconds_until(locked_until, now),
        code="account_locked",
        extensions={"locked_until": locked_until.isoformat()},
    )


@attrs.frozen
class _TokenErrors:
    """The problems an e-mailed token can have, worded for its purpose; each call builds a new error."""

    invalid_detail: str
    invalid_code: str
    used_detail: str
    used_code: str
    expired_detail: str
    expired_code: str

    def invalid(self) -> DomainError:
        return DomainError(self.invalid_detail, code=self.invalid_code, field="token")

    def used(self) -> Conflict:
        return Conflict(self.used_detail, code=self.used_code, field="token")

    def expired(self) -> DomainError:
        return DomainError(self.expired_detail, code=self.expired_code, field="token")


_TOKEN_ERRORS = {
    AccountTokenPurpose.PASSWORD_RESET: _TokenErrors(
        invalid_detail=(
            "Este código de redefinição de senha é inválido. Confira o código do e-mail "
            "ou peça outro em POST /v1/auth/password-reset."
        ),
        invalid_code="invalid_reset_token",
        used_detail=(
            "Este código de redefinição de senha já foi usado. Peça outro em "
            "POST /v1/auth/password-reset."
        ),
        used_code="reset_token_used",
        expired_detail=(
            "Este código de redefinição de senha expirou (ele vale 1 hora). Peça outro em "
            "POST /v1/auth/password-reset."
        ),
        expired_code="reset_token_expired",
    ),
    AccountTokenPurpose.INVITATION: _TokenErrors(
        invalid_detail="Este código de convite é inválido. Confira o código do e-mail de convite.",
        invalid_code="invalid_invitation",
        used_detail="Este convite já foi aceito. Entre com o seu e-mail e senha.",
        used_code="invitation_used",
        expired_detail=(
            "Este convite expirou (ele vale 7 dias). Peça um novo convite ao administrador."
        ),
        expired_code="invitation_expired",
    ),
}


async def find_account_token(
    uow: UnitOfWork, tokens: OpaqueTokens, token: str, purpose: AccountTokenPurpose
) -> tuple[str, AccountTokenRecord]:
    """Find an e-mailed token of ``purpose``; return (digest, record) or raise its ``invalid`` error."""
    token_hash = tokens.digest(token)
    async with uow.unscoped() as scope:
        record = await scope.accounts.find_account_token(token_hash)
    if record is None or record.purpose is not purpose:
        raise _TOKEN_ERRORS[purpose].invalid()
    return token_hash, record


def check_account_token(record: AccountTokenRecord, now: dt.datetime) -> None:
    """Raise when the token was used (or retired) or has expired."""
    errors = _TOKEN_ERRORS[record.purpose]
    if record.used_at is not None:
        raise errors.used()
    if record.expires_at <= now:
        raise errors.expired()


async def issue_account_token(
    scope: Scope,
    tokens: OpaqueTokens,
    account: Account,
    purpose: AccountTokenPurpose,
    now: dt.datetime,
) -> str:
    """Store a new single-use token for ``account``; return it in clear, for the e-mail."""
    token = tokens.new()
    await scope.accounts.add_account_token(
        token_hash=tokens.digest(token),
        account_id=account.id,
        tenant_id=account.tenant_id,
        purpose=purpose,
        now=now,
        expires_at=now + ACCOUNT_TOKEN_LIFETIME[purpose],
    )
    return token


def invitation_message(
    account: Account, token: str, *, inviter: str, tenant_name: str | None
) -> EmailMessage:
    """Build the invitation e-mail: who invited, to what, and the single-use code."""
    if tenant_name is None:
        place = "administrar esta instalação do Garimpo, como administrador do host"
    else:
        place = (
            f"usar o Garimpo na empresa {tenant_name}, com o papel de {ROLE_LABELS[account.role]}"
        )
    text = (
        f"Olá, {account.name}.\n\n"
        f"{inviter} convidou você para {place}.\n\n"
        "Para ativar sua conta, escolha uma senha usando o código abaixo em até 7 dias:\n\n"
        f"{token}\n\n"
        "No console do Garimpo, cole o código na tela de convite. Pela API, envie-o em "
        "POST /v1/auth/invitations/accept com a senha escolhida. O código vale uma única vez.\n\n"
        "Se você não esperava este convite, ignore este e-mail.\n"
    )
    return EmailMessage(
        to=account.email,
        subject="Seu convite para o Garimpo",
        text=text,
        purpose=AccountTokenPurpose.INVITATION.value,
    )


def password_reset_message(account: Account, token: str) -> EmailMessage:
    text = (
        f"Olá, {account.name}.\n\n"
        f"Recebemos um pedido para redefinir a senha da sua conta no Garimpo ({account.email}).\n\n"
        "Para escolher uma nova senha, use o código abaixo em até 1 hora:\n\n"
        f"{token}\n\n"
        "No console do Garimpo, cole o código na tela de nova senha. Pela API, envie-o em "
        "POST /v1/auth/password-reset/confirm com a nova senha. O código vale uma única vez, "
        "e a troca encerra todas as sessões abertas da conta.\n\n"
        "Se você não pediu a redefinição, ignore este e-mail: sua senha continua a mesma.\n"
    )
    return EmailMessage(
        to=account.email,
        subject="Redefinição de senha do Garimpo",
        text=text,
        purpose=AccountTokenPurpose.PASSWORD_RESET.value,
    )


# --- login, refresh, logout ----------------------------------------------------


class Sessions:
    """Log in with e-mail and password (or an invitation), refresh, log out, and who am I."""

    def __init__(
        self,
        uow: UnitOfWork,
        passwords: PasswordHasher,
        access_tokens: AccessTokenIssuer,
        tokens: OpaqueTokens,
        attempts: LoginAttempts,
        changes: AuthStateChanges,
        *,
        refresh_lifetime: dt.timedelta,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._access_tokens = access_tokens
        self._tokens = tokens
        self._attempts = attempts
        self._changes = changes
        self._refresh_lifetime = refresh_lifetime
        self._clock = clock

    # --- login ---

    async def login(self, email: str, password: str, actor: Actor) -> IssuedSession:
        """Check the password and open a session; every refusal is audited."""
        typed = email.strip()[:320]
        await self._check_address(actor.ip)
        account = await self._find_account(typed)
        now = self._clock()

        if account is None:
            # Verify against the dummy hash, so an unknown e-mail costs as much as a wrong password.
            await self._verify(None, password)
            async with self._uow.unscoped() as scope:
                await scope.audit.record(_login_failed(actor, typed, None, "unknown_email"))
            await self._record_address_failure(actor.ip, now)
            raise _invalid_credentials()

        if account.locked(now):
            assert account.locked_until is not None
            async with account_scope(self._uow, account.tenant_id) as scope:
                await scope.audit.record(_login_failed(actor, typed, account, "account_locked"))
            await self._record_address_failure(actor.ip, now)
            raise _account_locked(account.locked_until, now)

        password_ok = await self._verify(account.password_hash, password)
        rehashed = None
        if (
            password_ok
            and account.password_hash
            and self._passwords.needs_rehash(account.password_hash)
        ):
            rehashed = await asyncio.to_thread(self._passwords.hash, password)

        session_id = str(uuid.uuid4())
        refresh_token = self._tokens.new()
        async with account_scope(self._uow, account.tenant_id) as scope:
            outcome = await self._settle_login(
                scope,
                account,
                password_ok=password_ok,
                rehashed=rehashed,
                typed=typed,
                actor=actor,
                now=now,
                session_id=session_id,
                refresh_token=refresh_token,
            )

        if isinstance(outcome, Account):
            return self._issue(outcome, session_id, refresh_token, now)
        if not isinstance(outcome, PermissionDenied):
            await self._record_address_failure(actor.ip, now)
        raise outcome

    async def _settle_login(
        self,
        scope: Scope,
        looked_up: Account,
        *,
        password_ok: bool,
        rehashed: str | None,
        typed: str,
        actor: Actor,
        now: dt.datetime,
        session_id: str,
        refresh_token: str,
    ) -> Account | DomainError:
        """Record the attempt under the account's row lock; return the account or the refusal.

        The refusal is returned instead of raised so that the transaction
        commits the failure count and the audit events.
        """
        account = await scope.accounts.get_for_update(looked_up.id)
        if account is None:
            return _invalid_credentials()

        # Another request may have locked the account while the password was checked.
        if account.locked(now):
            assert account.locked_until is not None
            await scope.audit.record(_login_failed(actor, typed, account, "account_locked"))
            return _account_locked(account.locked_until, now)

        # A password changed meanwhile was checked against the old hash: count it as wrong.
        if not password_ok or account.password_hash != looked_up.password_hash:
            return await self._wrong_password(scope, account, typed, actor, now)

        if account.status is not AccountStatus.ACTIVE:
            await scope.audit.record(
                _login_failed(actor, typed, account, f"account_{account.status.value}")
            )
            return _invalid_credentials()

        if account.tenant_id is not None:
            profile = await scope.accounts.tenant_profile()
            try:
                check_tenant_active(profile.state() if profile is not None else None)
            except PermissionDenied as refusal:
                await scope.audit.record(_login_failed(actor, typed, account, refusal.code))
                return refusal

        logged_in = await scope.accounts.record_login(account.id, now=now, password_hash=rehashed)
        await self._open_session(scope, logged_in, session_id, refresh_token, actor, now)
        await scope.audit.record(
            AuditEvent(
                action="auth.login_succeeded",
                actor=account_actor(actor, logged_in),
                tenant_id=logged_in.tenant_id,
                target_type="account",
                target_id=logged_in.id,
                detail={"session_id": session_id, "password_rehashed": rehashed is not None},
            )
        )
        return logged_in

    async def _wrong_password(
        self, scope: Scope, account: Account, typed: str, actor: Actor, now: dt.datetime
    ) -> DomainError:
        failures = account.failed_logins + 1
        locked_until = now + LOCKOUT_DURATION if failures >= MAX_FAILED_LOGINS else None
        # The count restarts with the lock, so after it ends the account gets
        # MAX_FAILED_LOGINS fresh attempts.
        await scope.accounts.record_failed_login(
            account.id,
            failed_logins=0 if locked_until is not None else failures,
            locked_until=locked_until,
        )
        await scope.audit.record(
            _login_failed(actor, typed, account, "wrong_password", consecutive_failures=failures)
        )
        if locked_until is None:
            return _invalid_credentials()

        await scope.audit.record(
            AuditEvent(
                action="auth.account_locked",
                actor=attrs.evolve(actor, label=typed),
                tenant_id=account.tenant_id,
                target_type="account",
                target_id=account.id,
                detail={
                    "locked_until": locked_until.isoformat(),
                    "consecutive_failures": failures,
                },
            )
        )
        log.warning("account_locked", account_id=account.id, tenant_id=account.tenant_id)
        return _account_locked(locked_until, now)

    async def _find_account(self, typed: str) -> Account | None:
        try:
            email = normalize_login_email(typed)
        except InvalidAccount:
            # Not an e-mail, so no account: rejected like any unknown e-mail.
            return None
        async with self._uow.unscoped() as scope:
            return await scope.accounts.find_by_email(email)

    async def _verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._passwords.verify, password_hash, password)

    # --- the address throttle ---

    async def _check_address(self, address: str | None) -> None:
        if address is None:
            return
        now = self._clock()
        try:
            failures = await self._attempts.recent_failures(address, now - ADDRESS_WINDOW)
        except LoginAttemptsUnavailable as error:
            # Fail open: logins keep working without the store, and the
            # per-account lock, kept in the database, still holds.
            log.error("login_throttle_unavailable", error=str(error), step="check")
            return
        if len(failures) < MAX_FAILED_LOGINS_PER_ADDRESS:
            return

        # The address may try again when enough failures have left the window.
        frees_at = failures[len(failures) - MAX_FAILED_LOGINS_PER_ADDRESS] + ADDRESS_WINDOW
        retry_after = seconds_until(frees_at, now)
        minutes = math.ceil(retry_after / 60)
        log.warning("login_throttled", address=address, failures=len(failures))
        raise TooManyAttempts(
            f"Houve tentativas de login com falha demais a partir do seu endereço "
            f"({MAX_FAILED_LOGINS_PER_ADDRESS} em 15 minutos). Tente de novo em "
            f"{minutes} minuto{'s' if minutes > 1 else ''}.",
            retry_after=retry_after,
            code="too_many_login_attempts",
        )

    async def _record_address_failure(self, address: str | None, now: dt.datetime) -> None:
        if address is None:
            return
        try:
            await self._attempts.add_failure(address, now, keep_for=ADDRESS_WINDOW)
        except LoginAttemptsUnavailable as error:
            log.error("login_throttle_unavailable", error=str(error), step="record")

    # --- sessions ---

    async def _open_session(
        self,
        scope: Scope,
        account: Account,
        session_id: str,
        refresh_token: str,
        actor: Actor,
        now: dt.datetime,
    ) -> None:
        expires_at = now + self._refresh_lifetime
        await scope.accounts.add_session(
            session_id=session_id,
            account_id=account.id,
            tenant_id=account.tenant_id,
            expires_at=expires_at,
            ip=actor.ip,
            user_agent=actor.user_agent,
            now=now,
        )
        await scope.accounts.add_refresh_token(
            token_hash=self._tokens.digest(refresh_token),
            session_id=session_id,
            tenant_id=account.tenant_id,
            now=now,
            expires_at=expires_at,
        )

    def _issue(
        self, account: Account, session_id: str, refresh_token: str, now: dt.datetime
    ) -> IssuedSession:
        lifetime = self._access_tokens.lifetime
        access_token = self._access_tokens.issue(
            AccessClaims(
                account_id=account.id,
                tenant_id=account.tenant_id,
                role=account.role,
                session_id=session_id,
                email=account.email,
                expires_at=now + lifetime,
            )
        )
        return IssuedSession(
            account=account,
            session_id=session_id,
            access_token=access_token,
            expires_in=int(lifetime.total_seconds()),
            refresh_token=refresh_token,
            refresh_expires_at=now + self._refresh_lifetime,
        )

    # --- refresh ---

    async def refresh(self, refresh_token: str, actor: Actor) -> IssuedSession:
        """Use up a refresh token and issue the next one with a new access token."""
        token_hash = self._tokens.digest(refresh_token)
        async with self._uow.unscoped() as scope:
            record = await scope.accounts.find_refresh_token(token_hash)
        if record is None:
            raise AuthenticationFailed(
                "O token de renovação é inválido. Entre novamente com e-mail e senha.",
                code="invalid_refresh_token",
            )

        now = self._clock()
        next_token = self._tokens.new()
        async with account_scope(self._uow, record.tenant_id) as scope:
            outcome = await self._settle_refresh(
                scope, record, token_hash, next_token, actor=actor, now=now
            )

        if isinstance(outcome, DomainError):
            if outcome.code == "refresh_token_reused":
                await self._changes.changed()
            raise outcome
        account, session_id = outcome
        return self._issue(account, session_id, next_token, now)

    async def _settle_refresh(
        self,
        scope: Scope,
        record: RefreshTokenRecord,
        token_hash: str,
        next_token: str,
        *,
        actor: Actor,
        now: dt.datetime,
    ) -> tuple[Account, str] | DomainError:
        session = await scope.accounts.get_session(record.session_id)
        if session is None or session.revoked_at is not None:
            return AuthenticationFailed(
                "Esta sessão foi encerrada. Entre novamente com e-mail e senha.",
                code="session_revoked",
            )

        account = await scope.accounts.get(session.account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            return AuthenticationFailed(
                "Este usuário está desativado. Fale com o administrador da sua empresa.",
                code="account_disabled",
            )
        if account.tenant_id is not None:
            profile = await scope.accounts.tenant_profile()
            try:
                check_tenant_active(profile.state() if profile is not None else None)
            except PermissionDenied as refusal:
                return refusal

        if session.expires_at <= now:
            return AuthenticationFailed(
                "A sessão expirou. Entre novamente com e-mail e senha.",
                code="refresh_token_expired",
            )

        if not await scope.accounts.use_refresh_token(token_hash, now=now):
            # Read again: a concurrent refresh that won the row has committed by now.
            current = await scope.accounts.find_refresh_token(token_hash)
            if current is not None and current.used_at is not None:
                return await self._reused(scope, session, account, current, actor, now)
            return AuthenticationFailed(
                "O token de renovação expirou. Entre novamente com e-mail e senha.",
                code="refresh_token_expired",
            )

        expires_at = now + self._refresh_lifetime
        await scope.accounts.add_refresh_token(
            token_hash=self._tokens.digest(next_token),
            session_id=session.id,
            tenant_id=session.tenant_id,
            now=now,
            expires_at=expires_at,
        )
        await scope.accounts.extend_session(session.id, now=now, expires_at=expires_at)
        await scope.audit.record(
            AuditEvent(
                action="auth.session_refreshed",
                actor=account_actor(actor, account),
                tenant_id=account.tenant_id,
                target_type="session",
                target_id=session.id,
            )
        )
        return account, session.id

    async def _reused(
        self,
        scope: Scope,
        session: LoginSession,
        account: Account,
        token: RefreshTokenRecord,
        actor: Actor,
        now: dt.datetime,
    ) -> DomainError:
        """Revoke the session whose used refresh token came back, and every token of it."""
        await scope.accounts.revoke_sessions(
            account.id, session_id=session.id, reason="refresh_token_reused", now=now
        )
        await scope.audit.record(
            AuditEvent(
                action="auth.refresh_token_reused",
                actor=actor,
                tenant_id=account.tenant_id,
                target_type="session",
                target_id=session.id,
                detail={
                    "account_id": account.id,
                    "token_issued_at": token.issued_at.isoformat(),
                    "token_used_at": token.used_at.isoformat() if token.used_at else None,
                },
            )
        )
        log.warning("refresh_token_reused", session_id=session.id, account_id=account.id)
        return AuthenticationFailed(
            "Este token de renovação já tinha sido usado, o que indica que ele pode ter sido "
            "copiado. Por segurança, a sessão foi encerrada; entre novamente com e-mail e senha.",
            code="refresh_token_reused",
        )

    # --- logout and who am I ---

    async def logout(self, principal: Principal, actor: Actor, *, all_sessions: bool) -> int:
        """Revoke the caller's session, or every session of the account; return how many."""
        if principal.session_id is None:
            raise PermissionDenied(
                "Só uma sessão de usuário pode ser encerrada.", code="session_required"
            )
        now = self._clock()
        async with account_scope(self._uow, principal.tenant_id) as scope:
            revoked = await scope.accounts.revoke_sessions(
                principal.id,
                session_id=None if all_sessions else principal.session_id,
                reason="logout",
                now=now,
            )
            await scope.audit.record(
                AuditEvent(
                    action="auth.logout",
                    actor=actor,
                    tenant_id=principal.tenant_id,
                    target_type="session",
                    target_id=principal.session_id,
                    detail={"all_sessions": all_sessions, "sessions_revoked": revoked},
                )
            )
        await self._changes.changed()
        return revoked

    async def current(self, principal: Principal) -> dict[str, Any]:
        """Return the caller's account, tenant and permissions."""
        async with account_scope(self._uow, principal.tenant_id) as scope:
            account = await scope.accounts.get(principal.id)
            profile = await scope.accounts.tenant_profile() if principal.tenant_id else None
        if account is None:
            raise AuthenticationFailed(
                "Esta sessão foi encerrada. Entre novamente com e-mail e senha.",
                code="session_revoked",
            )
        return {
            **account.to_json(self._clock()),
            "tenant": profile.to_json() if profile is not None else None,
            "permissions": sorted(principal.permissions),
            "session_id": principal.session_id,
        }

    # --- invitations ---

    async def accept_invitation(
        self, token: str, password: str, actor: Actor, *, name: str | None = None
    ) -> IssuedSession:
        """Set the password of an invited account, activate it and log it in."""
        now = self._clock()
        token_hash, record = await find_account_token(
            self._uow, self._tokens, token, AccountTokenPurpose.INVITATION
        )
        clean_name = check_person_name(name) if name is not None else None
        async with account_scope(self._uow, record.tenant_id) as scope:
            invited = await scope.accounts.get(record.account_id)
            profile = await scope.accounts.tenant_profile() if record.tenant_id else None

        # A disabled account's codes are retired, so its state explains a used code best.
        _check_pending_invitation(invited)
        assert invited is not None
        check_account_token(record, now)
        if invited.tenant_id is not None:
            check_tenant_active(profile.state() if profile is not None else None)
        check_new_password(password, email=invited.email)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)

        session_id = str(uuid.uuid4())
        refresh_token = self._tokens.new()
        async with account_scope(self._uow, record.tenant_id) as scope:
            if not await scope.accounts.use_account_token(token_hash, now=now):
                raise _TOKEN_ERRORS[AccountTokenPurpose.INVITATION].used()
            current = await scope.accounts.get_for_update(invited.id)
            _check_pending_invitation(current)
            assert current is not None

            await scope.accounts.activate(
                current.id,
                password_hash=password_hash,
                name=clean_name or current.name,
                now=now,
            )
            activated = await scope.accounts.record_login(current.id, now=now, password_hash=None)
            await scope.accounts.retire_account_tokens(
                current.id, AccountTokenPurpose.INVITATION, now=now
            )
            await self._open_session(scope, activated, session_id, refresh_token, actor, now)

            before, after = changed_fields(current.audit_view(), activated.audit_view())
            user_actor = account_actor(actor, activated)
            await scope.audit.record(
                AuditEvent(
                    action="user.invitation_accepted",
                    actor=user_actor,
                    tenant_id=activated.tenant_id,
                    target_type="account",
                    target_id=activated.id,
                    before=before,
                    after=after,
                )
            )
            await scope.audit.record(
                AuditEvent(
                    action="auth.login_succeeded",
                    actor=user_actor,
                    tenant_id=activated.tenant_id,
                    target_type="account",
                    target_id=activated.id,
                    detail={"session_id": session_id, "via": "invitation"},
                )
            )
        return self._issue(activated, session_id, refresh_token, now)


def _check_pending_invitation(account: Account | None) -> None:
    if account is None or account.status is AccountStatus.DISABLED:
        raise Conflict(
            "Este convite foi cancelado pelo administrador. Peça um novo convite a ele.",
            code="invitation_cancelled",
            field="token",
        )
    if account.status is AccountStatus.ACTIVE:
        raise _TOKEN_ERRORS[AccountTokenPurpose.INVITATION].used()


def _login_failed(
    actor: Actor,
    typed: str,
    account: Account | None,
    reason: str,
    *,
    consecutive_failures: int | None = None,
) -> AuditEvent:
    """Build a failed-login event: the typed e-mail as the actor's label, the account's tenant if any."""
    detail: dict[str, Any] = {"reason": reason}
    if consecutive_failures is not None:
        detail["consecutive_failures"] = consecutive_failures
    return AuditEvent(
        action="auth.login_failed",
        actor=attrs.evolve(actor, label=typed),
        tenant_id=account.tenant_id if account is not None else None,
        target_type="account" if account is not None else None,
        target_id=account.id if account is not None else None,
        detail=detail,
    )


# --- password reset --------------------------------------------------------------


class PasswordResets:
    """Forgotten passwords: an e-mailed single-use code, then a new password."""

    def __init__(
        self,
        uow: UnitOfWork,
        passwords: PasswordHasher,
        tokens: OpaqueTokens,
        email: EmailSender,
        changes: AuthStateChanges,
        *,
        clock: Callable[[], dt.datetime] = _now,
        resend_interval: dt.timedelta = RESET_EMAIL_INTERVAL,
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._tokens = tokens
        self._email = email
        self._changes = changes
        self._clock = clock
        self._resend_interval = resend_interval

    async def request(self, email: str, actor: Actor) -> None:
        """E-mail a reset code when an active account has this e-mail; tell the caller nothing."""
        typed = email.strip()[:320]
        try:
            normalized: str | None = normalize_login_email(typed)
        except InvalidAccount:
            normalized = None
        account = None
        if normalized is not None:
            async with self._uow.unscoped() as scope:
                account = await scope.accounts.find_by_email(normalized)

        now = self._clock()
        if account is None:
            async with self._uow.unscoped() as scope:
                await scope.audit.record(
                    AuditEvent(
                        action="auth.password_reset_requested",
                        actor=attrs.evolve(actor, label=typed),
                        detail={"account_found": False, "email_sent": False},
                    )
                )
            return

        token = None
        async with account_scope(self._uow, account.tenant_id) as scope:
            reason = await self._reason_not_to_send(scope, account, now)
            if reason is None:
                token = await issue_account_token(
                    scope, self._tokens, account, AccountTokenPurpose.PASSWORD_RESET, now
                )
            await scope.audit.record(
                AuditEvent(
                    action="auth.password_reset_requested",
                    actor=attrs.evolve(actor, label=typed),
                    tenant_id=account.tenant_id,
                    target_type="account",
                    target_id=account.id,
                    detail={
                        "account_found": True,
                        "email_sent": token is not None,
                        "reason": reason,
                    },
                )
            )
        if token is None:
            return

        try:
            await self._email.send(password_reset_message(account, token))
        except Exception:
            # The caller gets the same response whether or not the account
            # exists, so a delivery failure is logged instead of returned.
            log.exception("password_reset_email_failed", account_id=account.id)

    async def _reason_not_to_send(
        self, scope: Scope, account: Account, now: dt.datetime
    ) -> str | None:
        if account.status is not AccountStatus.ACTIVE:
            return f"account_{account.status.value}"
        if account.tenant_id is not None:
            profile = await scope.accounts.tenant_profile()
            if profile is None or profile.status is TenantStatus.DELETED:
                return "tenant_deleted"
        last = await scope.accounts.last_account_token_at(
            account.id, AccountTokenPurpose.PASSWORD_RESET
        )
        if last is not None and now - last < self._resend_interval:
            return "recently_sent"
        return None

    async def confirm(self, token: str, password: str, actor: Actor) -> int:
        """Set the new password, end every session of the account; return how many ended."""
        now = self._clock()
        token_hash, record = await find_account_token(
            self._uow, self._tokens, token, AccountTokenPurpose.PASSWORD_RESET
        )
        async with account_scope(self._uow, record.tenant_id) as scope:
            account = await scope.accounts.get(record.account_id)
        _check_can_reset(account)
        assert account is not None
        check_account_token(record, now)
        check_new_password(password, email=account.email)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)

        async with account_scope(self._uow, record.tenant_id) as scope:
            if not await scope.accounts.use_account_token(token_hash, now=now):
                raise _TOKEN_ERRORS[AccountTokenPurpose.PASSWORD_RESET].used()
            current = await scope.accounts.get_for_update(account.id)
            _check_can_reset(current)
            assert current is not None

            await scope.accounts.set_password(current.id, password_hash, now=now)
            await scope.accounts.retire_account_tokens(
                current.id, AccountTokenPurpose.PASSWORD_RESET, now=now
            )
            revoked = await scope.accounts.revoke_sessions(
                current.id, reason="password_reset", now=now
            )
            await scope.audit.record(
                AuditEvent(
                    action="auth.password_reset_completed",
                    actor=account_actor(actor, current),
                    tenant_id=current.tenant_id,
                    target_type="account",
                    target_id=current.id,
                    detail={
                        "sessions_revoked": revoked,
                        "was_locked": current.locked(now),
                    },
                )
            )
        await self._changes.changed()
        return revoked


def _check_can_reset(account: Account | None) -> None:
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise Conflict(
            "Esta conta está desativada, então a senha não pode ser redefinida. Fale com o "
            "administrador da sua empresa.",
            code="account_disabled",
            field="token",
        )
