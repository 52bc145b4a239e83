"""Turn the credentials of a request into a Principal, or refuse them.

Two kinds of credentials reach the API: an access JWT issued at login, and an
API key. Both are checked against the current state of what they stand for
(session, account, key, tenant) on every request, so a logout, a revoked key
or a suspended tenant stops working at once. That state comes through the
``AuthStateSource`` port; the adapter caches it briefly and drops an entry as
soon as anything it depends on changes.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Protocol

import attrs

from application.ports import UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.errors import AuthenticationFailed, NotFound, PermissionDenied
from domain.identity import Permission, Principal, PrincipalKind, Role
from domain.tenancy import TenantStatus, suspension_detail


class CredentialKind(enum.StrEnum):
    ACCESS_TOKEN = "access_token"
    API_KEY = "api_key"


@attrs.frozen
class Credentials:
    kind: CredentialKind
    value: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class AccessClaims:
    """What a verified access token says about its bearer."""

    account_id: str
    tenant_id: str | None
    role: Role
    session_id: str
    email: str
    expires_at: dt.datetime


class AccessTokenCodec(Protocol):
    def issue(self, claims: AccessClaims) -> str: ...

    def decode(self, token: str) -> AccessClaims:
        """Verify signature, issuer, audience and expiry; raise AuthenticationFailed otherwise."""
        ...


@attrs.frozen(kw_only=True)
class TenantState:
    status: TenantStatus
    reason: str | None
    requests_per_minute: int | None


@attrs.frozen(kw_only=True)
class SessionState:
    revoked: bool
    account_status: str
    role: Role
    tenant: TenantState | None


@attrs.frozen(kw_only=True)
class ApiKeyState:
    id: str
    tenant_id: str | None
    name: str
    key_hash: str = attrs.field(repr=False)
    scopes: frozenset[Permission]
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    tenant: TenantState | None


class AuthStateSource(Protocol):
    async def session(self, session_id: str) -> SessionState | None: ...

    async def api_key(self, prefix: str) -> ApiKeyState | None: ...

    async def tenant(self, tenant_id: str) -> TenantState | None: ...

    async def touch_api_key(self, key: ApiKeyState) -> None:
        """Record that the key was used now (the adapter may coarsen this to a minute)."""
        ...


class ApiKeyHasher(Protocol):
    def split(self, key: str) -> str | None:
        """Return the key's public prefix, or None when the text cannot be one of our keys."""
        ...

    def matches(self, key: str, key_hash: str) -> bool: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_tenant_active(state: TenantState | None) -> None:
    """Refuse a suspended or deleted tenant with the reason the host gave."""
    if state is None or state.status is TenantStatus.DELETED:
        raise PermissionDenied(
            "Este tenant foi excluído; o acesso não está mais disponível.", code="tenant_deleted"
        )
    if state.status is TenantStatus.SUSPENDED:
        raise PermissionDenied(suspension_detail(state.reason), code="tenant_suspended")


class Authenticate:
    def __init__(
        self,
        tokens: AccessTokenCodec,
        state: AuthStateSource,
        hasher: ApiKeyHasher,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._tokens = tokens
        self._state = state
        self._hasher = hasher
        self._clock = clock

    async def __call__(self, credentials: Credentials) -> tuple[Principal, TenantState | None]:
        """Return the caller and the state of its tenant (None for host callers)."""
        if credentials.kind is CredentialKind.API_KEY:
            return await self._api_key(credentials.value)
        return await self._access_token(credentials.value)

    async def _access_token(self, token: str) -> tuple[Principal, TenantState | None]:
        claims = self._tokens.decode(token)
        session = await self._state.session(claims.session_id)
        if session is None or session.revoked:
            raise AuthenticationFailed(
                "Esta sessão foi encerrada. Entre novamente com e-mail e senha.",
                code="session_revoked",
            )
        if session.account_status != "active":
            raise AuthenticationFailed(
                "Este usuário está desativado. Fale com o administrador da sua empresa.",
                code="account_disabled",
            )
        if claims.tenant_id is not None:
            check_tenant_active(session.tenant)

        principal = Principal(
            kind=PrincipalKind.ACCOUNT,
            id=claims.account_id,
            tenant_id=claims.tenant_id,
            # The role stored now wins over the one in the token, so a change
            # of role applies from the next request.
            role=session.role,
            session_id=claims.session_id,
            label=claims.email,
        )
        return principal, session.tenant

    async def _api_key(self, key: str) -> tuple[Principal, TenantState | None]:
        prefix = self._hasher.split(key)
        state = await self._state.api_key(prefix) if prefix is not None else None
        if state is None or not self._hasher.matches(key, state.key_hash):
            raise AuthenticationFailed(
                "A chave de API é inválida. Confira a chave ou peça uma nova ao administrador.",
                code="invalid_api_key",
            )

        now = self._clock()
        if state.revoked_at is not None and state.revoked_at <= now:
            raise AuthenticationFailed(
                "Esta chave de API foi revogada. Peça uma nova ao administrador.",
                code="api_key_revoked",
            )
        if state.expires_at is not None and state.expires_at <= now:
            raise AuthenticationFailed(
                "Esta chave de API expirou em "
                f"{state.expires_at.astimezone(dt.UTC):%d/%m/%Y %H:%M} (UTC). "
                "Peça uma nova ao administrador.",
                code="api_key_expired",
            )
        if state.tenant_id is not None:
            check_tenant_active(state.tenant)

        await self._state.touch_api_key(state)
        principal = Principal(
            kind=PrincipalKind.API_KEY,
            id=state.id,
            tenant_id=state.tenant_id,
            scopes=state.scopes,
            label=state.name,
        )
        return principal, state.tenant


class AuthStateChanges(Protocol):
    async def changed(self) -> None:
        """Tell every API process that sessions, keys, accounts or tenants changed."""
        ...


class EnterTenant:
    """A host admin steps into one tenant for one request; the act is audited."""

    def __init__(self, uow: UnitOfWork, state: AuthStateSource) -> None:
        self._uow = uow
        self._state = state

    async def __call__(self, principal: Principal, tenant_id: str, actor: Actor) -> TenantState:
        state = await self._state.tenant(tenant_id)
        if state is None or state.status is TenantStatus.DELETED:
            raise NotFound(f"Tenant não encontrado: '{tenant_id}'.", field="X-Tenant-ID")

        async with self._uow.host() as scope:
            await scope.audit.record(
                AuditEvent(
                    action="host.acted_as_tenant",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="tenant",
                    target_id=tenant_id,
                )
            )
        return state
