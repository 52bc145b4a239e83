"""API keys for integrations and internal services: create, list, rotate, revoke.

A tenant admin manages the tenant's keys; a host admin manages host keys
(services such as n8n that work across tenants). A key is shown once, when
created or rotated. Rotation issues a new key and lets the old one work for
an overlap window, so a deploy can switch without downtime; revocation ends
a key at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import attrs

from application.authentication import AuthStateChanges
from application.ports import Scope, UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.errors import Conflict, DomainError, NotFound, PermissionDenied
from domain.identity import Permission, Principal, parse_scopes
from domain.search import Page, PageRequest

#: Longest overlap a rotation may ask for.
MAX_ROTATION_OVERLAP = dt.timedelta(days=7)
DEFAULT_ROTATION_OVERLAP = dt.timedelta(hours=24)


class InvalidApiKey(DomainError):
    code = "invalid_api_key_request"


@attrs.frozen(kw_only=True)
class ApiKey:
    id: str
    tenant_id: str | None
    name: str
    prefix: str
    scopes: frozenset[Permission]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_by: str | None
    replaced_by: str | None

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": sorted(self.scopes),
            "status": self.status(now),
            "created_at": self.created_at.isoformat(),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
            "created_by": self.created_by,
            "replaced_by": self.replaced_by,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@attrs.frozen(kw_only=True)
class NewKeyMaterial:
    prefix: str
    key: str = attrs.field(repr=False)
    key_hash: str = attrs.field(repr=False)


class KeyFactory(Protocol):
    def __call__(self) -> NewKeyMaterial: ...


class ApiKeyRepository(Protocol):
    async def add(
        self,
        *,
        tenant_id: str | None,
        name: str,
        material: NewKeyMaterial,
        scopes: frozenset[Permission],
        expires_at: dt.datetime | None,
        created_by: str | None,
    ) -> ApiKey: ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def list(
        self, *, include_inactive: bool, now: dt.datetime, offset: int, limit: int
    ) -> tuple[int, list[ApiKey]]: ...

    async def revoke(self, key_id: str, at: dt.datetime) -> ApiKey: ...

    async def retire(self, key_id: str, *, expires_at: dt.datetime, replaced_by: str) -> ApiKey: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiKeys:
    def __init__(
        self,
        uow: UnitOfWork,
        factory: KeyFactory,
        changes: AuthStateChanges,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._factory = factory
        self._changes = changes
        self._clock = clock

    @asynccontextmanager
    async def _scope(self, principal: Principal) -> AsyncIterator[Scope]:
        tenant_id = principal.effective_tenant
        if tenant_id is None:
            async with self._uow.host() as scope:
                yield scope
        else:
            async with self._uow.tenant(tenant_id) as scope:
                yield scope

    async def create(
        self,
        principal: Principal,
        actor: Actor,
        *,
        name: str,
        scopes: list[str],
        expires_at: dt.datetime | None,
    ) -> tuple[ApiKey, str]:
        """Create a key; return it and its secret, which is never shown again."""
        host = principal.effective_tenant is None
        wanted = parse_scopes(scopes, host=host)
        missing = sorted(wanted - principal.permissions)
        if missing:
            raise PermissionDenied(
                "Uma chave não pode ter escopos que você não tem: " + ", ".join(missing) + ".",
                code="scope_not_held",
            )
        clean_name = " ".join(name.split())
        if not clean_name or len(clean_name) > 100:
            raise InvalidApiKey("O nome da chave deve ter de 1 a 100 caracteres.", field="name")
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidApiKey("A data de expiração precisa estar no futuro.", field="expires_at")

        material = self._factory()
        async with self._scope(principal) as scope:
            key = await scope.api_keys.add(
                tenant_id=principal.effective_tenant,
                name=clean_name,
                material=material,
                scopes=wanted,
                expires_at=expires_at,
                created_by=principal.id,
            )
            await scope.audit.record(
                AuditEvent(
                    action="api_key.created",
                    actor=actor,
                    tenant_id=principal.effective_tenant,
                    target_type="api_key",
                    target_id=key.id,
                    after=key.to_json(now),
                )
            )
        return key, material.key

    async def list(
        self, principal: Principal, page: PageRequest, *, include_inactive: bool
    ) -> Page:
        now = self._clock()
        async with self._scope(principal) as scope:
            total, keys = await scope.api_keys.list(
                include_inactive=include_inactive, now=now, offset=page.offset, limit=page.per_page
            )
        return Page(
            items=tuple(key.to_json(now) for key in keys),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def get(self, principal: Principal, key_id: str) -> dict[str, Any]:
        async with self._scope(principal) as scope:
            key = await self._existing(scope, key_id)
        return key.to_json(self._clock())

    async def rotate(
        self,
        principal: Principal,
        actor: Actor,
        key_id: str,
        *,
        overlap: dt.timedelta = DEFAULT_ROTATION_OVERLAP,
    ) -> tuple[ApiKey, str]:
        """Issue a successor with the same name and scopes; the old key ends after ``overlap``."""
        if not dt.timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
            raise InvalidApiKey(
                "A sobreposição da rotação vai de 0 a 604800 segundos (7 dias).",
                field="overlap_seconds",
            )
        now = self._clock()
        material = self._factory()
        async with self._scope(principal) as scope:
            old = await self._existing(scope, key_id)
            if old.status(now) != "active":
                raise InvalidApiKey(
                    "Só uma chave ativa pode ser rotacionada; crie uma nova chave.",
                    code="api_key_not_active",
                )
            if old.replaced_by is not None:
                raise Conflict(
                    "Esta chave já foi rotacionada; rotacione a chave que a substituiu.",
                    code="api_key_already_rotated",
                )
            new = await scope.api_keys.add(
                tenant_id=old.tenant_id,
                name=old.name,
                material=material,
                scopes=old.scopes,
                expires_at=old.expires_at,
                created_by=principal.id,
            )
            old_end = now + overlap
            if old.expires_at is not None:
                old_end = min(old_end, old.expires_at)
            retired = await scope.api_keys.retire(old.id, expires_at=old_end, replaced_by=new.id)
            await scope.audit.record(
                AuditEvent(
                    action="api_key.rotated",
                    actor=actor,
                    tenant_id=old.tenant_id,
                    target_type="api_key",
                    target_id=old.id,
                    before=old.to_json(now),
                    after=retired.to_json(now),
                    detail={"successor": new.id, "overlap_seconds": int(overlap.total_seconds())},
                )
            )
        await self._changes.changed()
        return new, material.key

    async def revoke(self, principal: Principal, actor: Actor, key_id: str) -> dict[str, Any]:
        now = self._clock()
        async with self._scope(principal) as scope:
            old = await self._existing(scope, key_id)
            if old.revoked_at is not None:
                return old.to_json(now)
            revoked = await scope.api_keys.revoke(old.id, now)
            await scope.audit.record(
                AuditEvent(
                    action="api_key.revoked",
                    actor=actor,
                    tenant_id=old.tenant_id,
                    target_type="api_key",
                    target_id=old.id,
                    before=old.to_json(now),
                    after=revoked.to_json(now),
                )
            )
        await self._changes.changed()
        return revoked.to_json(now)

    async def _existing(self, scope: Scope, key_id: str) -> ApiKey:
        key = await scope.api_keys.get(key_id)
        if key is None:
            raise NotFound(f"Chave de API não encontrada: '{key_id}'.")
        return key
