"""The users of a tenant and the host admins: invite, list, change, disable.

A tenant admin (or a host admin acting inside the tenant) invites users by
e-mail. An invited user counts against the plan's ``max_users`` like an
active one. Changes that must take effect at once (a role, a disabled
account) revoke sessions and tell every API process through
``AuthStateChanges``. A tenant always keeps one active admin.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from application.accounts import (
    OpaqueTokens,
    TenantProfile,
    invitation_message,
    issue_account_token,
)
from application.authentication import AuthStateChanges
from application.ports import EmailMessage, EmailSender, PasswordHasher, Scope, UnitOfWork
from domain.accounts import (
    Account,
    AccountStatus,
    AccountTokenPurpose,
    check_person_name,
    parse_tenant_role,
)
from domain.audit import Actor, AuditEvent, changed_fields
from domain.errors import Conflict, NotFound
from domain.identity import (
    InvalidAccount,
    Principal,
    Role,
    check_new_password,
    normalize_login_email,
)
from domain.search import Page, PageRequest


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_status_filter(value: str) -> AccountStatus:
    try:
        return AccountStatus(value)
    except ValueError:
        accepted = ", ".join(status.value for status in AccountStatus)
        raise InvalidAccount(
            f"Situação desconhecida: '{value}'. Situações aceitas: {accepted}.", field="status"
        ) from None


def _settable_status(value: str) -> AccountStatus:
    """Parse a status that an admin may set: active or disabled (invited comes only from an invitation)."""
    if value not in {AccountStatus.ACTIVE.value, AccountStatus.DISABLED.value}:
        raise InvalidAccount(
            f"Situação inválida: '{value}'. Use active para reativar ou disabled para desativar.",
            field="status",
        )
    return AccountStatus(value)


def _email_taken(email: str) -> Conflict:
    return Conflict(
        f"Já existe uma conta com o e-mail {email}. Cada e-mail pode ter uma só conta no Garimpo.",
        code="email_taken",
        field="email",
    )


def _user_not_found(user_id: str) -> NotFound:
    return NotFound(f"Usuário não encontrado: '{user_id}'.")


def _last_admin() -> Conflict:
    return Conflict(
        "Este é o último administrador ativo do tenant; ele não pode perder o papel de "
        "administrador nem ser desativado. Promova outro usuário a administrador antes.",
        code="last_admin",
    )


async def _check_seat(scope: Scope, profile: TenantProfile | None) -> None:
    """Refuse one more active or invited user beyond the plan's ``max_users``."""
    if profile is None or profile.max_users is None:
        # NOTE: a tenant without a plan (made by the demo or test provisioning)
        # has no user limit.
        return
    seats = await scope.accounts.count_seats()
    if seats >= profile.max_users:
        raise Conflict(
            f"O plano deste tenant permite até {profile.max_users} usuários ativos ou "
            "convidados, e esse limite já foi atingido. Desative um usuário ou mude de plano.",
            code="user_limit_reached",
        )


async def _status_after(
    scope: Scope,
    current: Account,
    requested: AccountStatus | None,
    profile: TenantProfile | None,
) -> AccountStatus:
    """Decide the status a change leads to; a user coming back must fit in the plan."""
    if requested is AccountStatus.DISABLED:
        return AccountStatus.DISABLED
    if requested is not AccountStatus.ACTIVE or current.status is AccountStatus.ACTIVE:
        return current.status
    if current.status is AccountStatus.INVITED:
        raise Conflict(
            "Este usuário ainda não aceitou o convite; ele fica ativo ao aceitá-lo.",
            code="invitation_pending",
            field="status",
        )

    await _check_seat(scope, profile)
    # An account disabled before it ever had a password goes back to invited,
    # with a new invitation, because it could not log in otherwise.
    if current.password_hash is None:
        return AccountStatus.INVITED
    return AccountStatus.ACTIVE


async def _add_invited(
    scope: Scope,
    tokens: OpaqueTokens,
    *,
    tenant_id: str | None,
    email: str,
    name: str,
    role: Role,
    now: dt.datetime,
) -> tuple[Account, str]:
    """Create an invited account and its invitation token; return both."""
    if await scope.accounts.find_by_email(email) is not None:
        raise _email_taken(email)
    account = await scope.accounts.add(
        tenant_id=tenant_id,
        email=email,
        name=name,
        role=role,
        status=AccountStatus.INVITED,
        password_hash=None,
        now=now,
    )
    token = await issue_account_token(scope, tokens, account, AccountTokenPurpose.INVITATION, now)
    return account, token


class Users:
    """A tenant's users, managed by its admins (or a host admin acting inside it)."""

    def __init__(
        self,
        uow: UnitOfWork,
        tokens: OpaqueTokens,
        email: EmailSender,
        changes: AuthStateChanges,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._email = email
        self._changes = changes
        self._clock = clock

    def _tenant(self, principal: Principal) -> str:
        tenant_id = principal.effective_tenant
        if tenant_id is None:
            raise NotFound("Informe o tenant no cabeçalho X-Tenant-ID.", field="X-Tenant-ID")
        return tenant_id

    async def list(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        role: str | None = None,
        status: str | None = None,
    ) -> Page:
        role_filter = parse_tenant_role(role) if role is not None else None
        status_filter = parse_status_filter(status) if status is not None else None
        now = self._clock()
        async with self._uow.tenant(self._tenant(principal)) as scope:
            total, accounts = await scope.accounts.list(
                role=role_filter, status=status_filter, offset=page.offset, limit=page.per_page
            )
        return Page(
            items=tuple(account.to_json(now) for account in accounts),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def get(self, principal: Principal, user_id: str) -> dict[str, Any]:
        async with self._uow.tenant(self._tenant(principal)) as scope:
            account = await scope.accounts.get(user_id)
        if account is None:
            raise _user_not_found(user_id)
        return account.to_json(self._clock())

    async def invite(
        self, principal: Principal, actor: Actor, *, email: str, name: str, role: str
    ) -> dict[str, Any]:
        """Create the account as invited and e-mail it a single-use invitation code."""
        address = normalize_login_email(email)
        clean_name = check_person_name(name)
        tenant_role = parse_tenant_role(role)
        tenant_id = self._tenant(principal)
        now = self._clock()

        async with self._uow.tenant(tenant_id) as scope:
            await scope.accounts.lock_roster()
            profile = await scope.accounts.tenant_profile()
            await _check_seat(scope, profile)
            account, token = await _add_invited(
                scope,
                self._tokens,
                tenant_id=tenant_id,
                email=address,
                name=clean_name,
                role=tenant_role,
                now=now,
            )
            await scope.audit.record(
                AuditEvent(
                    action="user.invited",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="account",
                    target_id=account.id,
                    after=account.audit_view(),
                )
            )

        # NOTE: the e-mail goes out after the commit. If sending fails, the
        # invitation exists without a message; disabling and reactivating the
        # user sends a new one.
        await self._email.send(
            invitation_message(
                account,
                token,
                inviter=principal.label or "O administrador",
                tenant_name=profile.name if profile is not None else None,
            )
        )
        return account.to_json(now)

    async def update(
        self,
        principal: Principal,
        actor: Actor,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """Change a user's name, role or status (active or disabled)."""
        clean_name = check_person_name(name) if name is not None else None
        new_role = parse_tenant_role(role) if role is not None else None
        requested_status = _settable_status(status) if status is not None else None
        tenant_id = self._tenant(principal)
        now = self._clock()
        invitation: EmailMessage | None = None

        async with self._uow.tenant(tenant_id) as scope:
            await scope.accounts.lock_roster()
            current = await scope.accounts.get(user_id)
            if current is None:
                raise _user_not_found(user_id)
            profile = await scope.accounts.tenant_profile()

            next_status = await _status_after(scope, current, requested_status, profile)
            next_role = new_role or current.role

            if current.is_active_admin and (
                next_role is not Role.ADMIN or next_status is not AccountStatus.ACTIVE
            ):
                if await scope.accounts.count_active_admins() <= 1:
                    raise _last_admin()

            updated = await scope.accounts.update(
                current.id,
                name=clean_name or current.name,
                role=next_role,
                status=next_status,
                now=now,
            )
            detail: dict[str, Any] = {}
            if (
                next_status is AccountStatus.DISABLED
                and current.status is not AccountStatus.DISABLED
            ):
                detail["sessions_revoked"] = await self._end_access(scope, updated, now)
            if next_status is AccountStatus.INVITED and current.status is AccountStatus.DISABLED:
                token = await issue_account_token(
                    scope, self._tokens, updated, AccountTokenPurpose.INVITATION, now
                )
                invitation = invitation_message(
                    updated,
                    token,
                    inviter=principal.label or "O administrador",
                    tenant_name=profile.name if profile is not None else None,
                )
                detail["invitation_sent"] = True

            before, after = changed_fields(current.audit_view(), updated.audit_view())
            if before or after:
                await scope.audit.record(
                    AuditEvent(
                        action="user.updated",
                        actor=actor,
                        tenant_id=tenant_id,
                        target_type="account",
                        target_id=current.id,
                        before=before,
                        after=after,
                        detail=detail or None,
                    )
                )

        if invitation is not None:
            await self._email.send(invitation)
        if updated.role is not current.role or updated.status is not current.status:
            await self._changes.changed()
        return updated.to_json(now)

    async def disable(self, principal: Principal, actor: Actor, user_id: str) -> dict[str, Any]:
        """Disable the account and end its sessions; disabling twice changes nothing."""
        tenant_id = self._tenant(principal)
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            await scope.accounts.lock_roster()
            current = await scope.accounts.get(user_id)
            if current is None:
                raise _user_not_found(user_id)
            if current.status is AccountStatus.DISABLED:
                return current.to_json(now)
            if current.is_active_admin and await scope.accounts.count_active_admins() <= 1:
                raise _last_admin()

            updated = await scope.accounts.update(
                current.id,
                name=current.name,
                role=current.role,
                status=AccountStatus.DISABLED,
                now=now,
            )
            revoked = await self._end_access(scope, updated, now)
            await scope.audit.record(
                AuditEvent(
                    action="user.disabled",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="account",
                    target_id=current.id,
                    before={"status": current.status.value},
                    after={"status": updated.status.value},
                    detail={"sessions_revoked": revoked},
                )
            )
        await self._changes.changed()
        return updated.to_json(now)

    async def _end_access(self, scope: Scope, account: Account, now: dt.datetime) -> int:
        """Revoke the sessions and unused e-mailed codes of a disabled account."""
        await scope.accounts.retire_account_tokens(account.id, None, now=now)
        return await scope.accounts.revoke_sessions(account.id, reason="account_disabled", now=now)


class HostAdmins:
    """The operators of the deployment: listed and invited by another host admin, or made by the CLI."""

    def __init__(
        self,
        uow: UnitOfWork,
        passwords: PasswordHasher,
        tokens: OpaqueTokens,
        email: EmailSender,
        changes: AuthStateChanges,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._tokens = tokens
        self._email = email
        self._changes = changes
        self._clock = clock

    async def list(self, page: PageRequest, *, status: str | None = None) -> Page:
        status_filter = parse_status_filter(status) if status is not None else None
        now = self._clock()
        async with self._uow.host() as scope:
            total, accounts = await scope.accounts.list(
                role=None, status=status_filter, offset=page.offset, limit=page.per_page
            )
        return Page(
            items=tuple(account.to_json(now) for account in accounts),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def invite(
        self, principal: Principal, actor: Actor, *, email: str, name: str
    ) -> dict[str, Any]:
        """Invite another host admin by e-mail, as tenant users are invited."""
        address = normalize_login_email(email)
        clean_name = check_person_name(name)
        now = self._clock()
        async with self._uow.host() as scope:
            account, token = await _add_invited(
                scope,
                self._tokens,
                tenant_id=None,
                email=address,
                name=clean_name,
                role=Role.HOST_ADMIN,
                now=now,
            )
            await scope.audit.record(
                AuditEvent(
                    action="host_admin.invited",
                    actor=actor,
                    target_type="account",
                    target_id=account.id,
                    after=account.audit_view(),
                )
            )
        await self._email.send(
            invitation_message(
                account, token, inviter=principal.label or "Um administrador", tenant_name=None
            )
        )
        return account.to_json(now)

    async def create_or_reset(
        self, actor: Actor, *, email: str, name: str, password: str
    ) -> tuple[dict[str, Any], bool]:
        """Create an active host admin, or set a new password on an existing one.

        Return the account and whether it was created. Setting a new password
        ends the account's sessions and clears a login lock.
        """
        address = normalize_login_email(email)
        clean_name = check_person_name(name)
        check_new_password(password, email=address)
        password_hash = await asyncio.to_thread(self._passwords.hash, password)
        now = self._clock()

        async with self._uow.host() as scope:
            existing = await scope.accounts.find_by_email(address)
            if existing is not None and existing.role is not Role.HOST_ADMIN:
                raise Conflict(
                    f"O e-mail {address} já é de um usuário de tenant; use outro e-mail para o "
                    "administrador do host.",
                    code="email_taken",
                    field="email",
                )

            if existing is None:
                account = await scope.accounts.add(
                    tenant_id=None,
                    email=address,
                    name=clean_name,
                    role=Role.HOST_ADMIN,
                    status=AccountStatus.ACTIVE,
                    password_hash=password_hash,
                    now=now,
                )
                await scope.audit.record(
                    AuditEvent(
                        action="host_admin.created",
                        actor=actor,
                        target_type="account",
                        target_id=account.id,
                        after=account.audit_view(),
                    )
                )
                return account.to_json(now), True

            account = await scope.accounts.activate(
                existing.id, password_hash=password_hash, name=clean_name, now=now
            )
            await scope.accounts.retire_account_tokens(account.id, None, now=now)
            revoked = await scope.accounts.revoke_sessions(
                account.id, reason="password_reset", now=now
            )
            before, after = changed_fields(existing.audit_view(), account.audit_view())
            await scope.audit.record(
                AuditEvent(
                    action="host_admin.password_reset",
                    actor=actor,
                    target_type="account",
                    target_id=account.id,
                    before=before,
                    after=after,
                    detail={"sessions_revoked": revoked},
                )
            )
        await self._changes.changed()
        return account.to_json(now), False
