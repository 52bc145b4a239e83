"""Who is calling and what they may do: roles, permissions, API key scopes, principals.

A tenant user has one role inside its tenant (admin, sales or viewer); a host
admin runs the deployment. Permissions are the unit of authorisation: each
route needs one, each role holds a set, and an API key carries a subset as
its scopes. The route-to-permission table lives with the HTTP routes.
"""

from __future__ import annotations

import enum
import re

import attrs

from domain.errors import DomainError


class Role(enum.StrEnum):
    ADMIN = "admin"
    SALES = "sales"
    VIEWER = "viewer"
    HOST_ADMIN = "host_admin"


TENANT_ROLES = frozenset({Role.ADMIN, Role.SALES, Role.VIEWER})

#: pt-BR names shown to users.
ROLE_LABELS = {
    Role.ADMIN: "administrador",
    Role.SALES: "vendas",
    Role.VIEWER: "leitura",
    Role.HOST_ADMIN: "administrador do host",
}


class Permission(enum.StrEnum):
    # Tenant side.
    REGISTRY_READ = "registry:read"
    PRELEADS_READ = "preleads:read"
    PRELEADS_WRITE = "preleads:write"
    LEADS_READ = "leads:read"
    LEADS_WRITE = "leads:write"
    #: Pipelines, their stages and the custom fields of leads: the CRM's shape.
    CRM_MANAGE = "crm:manage"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    SETTINGS_READ = "settings:read"
    SETTINGS_MANAGE = "settings:manage"
    AUDIT_READ = "audit:read"
    BILLING_READ = "billing:read"
    BILLING_MANAGE = "billing:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"
    # Host side.
    HOST_TENANTS_READ = "host:tenants:read"
    HOST_TENANTS_MANAGE = "host:tenants:manage"
    HOST_PLANS_MANAGE = "host:plans:manage"
    HOST_API_KEYS_MANAGE = "host:api_keys:manage"
    HOST_AUDIT_READ = "host:audit:read"
    HOST_ADMINS_MANAGE = "host:admins:manage"
    HOST_CREDITS_MANAGE = "host:credits:manage"

    @property
    def is_host(self) -> bool:
        return self.value.startswith("host:")


TENANT_PERMISSIONS = frozenset(p for p in Permission if not p.is_host)
HOST_PERMISSIONS = frozenset(p for p in Permission if p.is_host)

_VIEWER = frozenset(
    {
        Permission.REGISTRY_READ,
        Permission.PRELEADS_READ,
        Permission.LEADS_READ,
        Permission.SETTINGS_READ,
    }
)
#: Sales reps see the balance: it decides how many pre-leads they can qualify.
_SALES = _VIEWER | {
    Permission.PRELEADS_WRITE,
    Permission.LEADS_WRITE,
    Permission.USERS_READ,
    Permission.BILLING_READ,
}

#: What each role may do. Host admins act inside a tenant only by naming it,
#: and then hold the tenant admin's permissions (see Principal.acting_as).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.SALES: _SALES,
    Role.ADMIN: TENANT_PERMISSIONS,
    Role.HOST_ADMIN: HOST_PERMISSIONS,
}


class InvalidScope(DomainError):
    code = "invalid_scope"


def parse_scopes(values: list[str] | tuple[str, ...], *, host: bool) -> frozenset[Permission]:
    """Validate the scopes asked for a new key: known, on the key's side, at least one."""
    if not values:
        raise InvalidScope("Informe ao menos um escopo para a chave.", field="scopes")

    allowed = HOST_PERMISSIONS if host else TENANT_PERMISSIONS
    scopes: set[Permission] = set()
    for value in values:
        try:
            scope = Permission(value)
        except ValueError:
            known = ", ".join(sorted(allowed))
            raise InvalidScope(
                f"Escopo desconhecido: '{value}'. Escopos aceitos: {known}.", field="scopes"
            ) from None
        if scope not in allowed:
            side = "do host" if host else "de tenant"
            raise InvalidScope(
                f"O escopo '{value}' não vale para uma chave {side}.", field="scopes"
            )
        scopes.add(scope)
    return frozenset(scopes)


class PrincipalKind(enum.StrEnum):
    ACCOUNT = "account"
    API_KEY = "api_key"


@attrs.frozen(kw_only=True)
class Principal:
    """The authenticated caller of one request."""

    kind: PrincipalKind
    #: Account id for a user, key id for an API key.
    id: str
    #: The tenant the caller belongs to; None for host admins and host keys.
    tenant_id: str | None
    #: The user's role; None for API keys, which carry scopes instead.
    role: Role | None = None
    scopes: frozenset[Permission] = frozenset()
    #: Login session of a user (the JWT's ``sid``); None for API keys.
    session_id: str | None = None
    #: E-mail of the user or name of the key, for audit lines.
    label: str = ""
    #: Tenant a host admin chose to act inside, for this request only.
    acting_as: str | None = None

    @property
    def is_host(self) -> bool:
        return self.tenant_id is None

    @property
    def effective_tenant(self) -> str | None:
        """The tenant whose data this request works on."""
        return self.acting_as if self.acting_as is not None else self.tenant_id

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind is PrincipalKind.API_KEY:
            return self.scopes
        if self.acting_as is not None:
            return ROLE_PERMISSIONS[Role.ADMIN]
        assert self.role is not None
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def acting_inside(self, tenant_id: str) -> Principal:
        return attrs.evolve(self, acting_as=tenant_id)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidAccount(DomainError):
    code = "invalid_account"


def normalize_login_email(value: str) -> str:
    """Lower-case and trim an e-mail used as a login; reject what cannot be one."""
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email) or ".." in email or email.endswith("."):
        raise InvalidAccount(f"E-mail inválido: '{value}'.", field="email")
    return email


#: The shortest password accepted; length beats composition rules (NIST 800-63B).
MIN_PASSWORD_LENGTH = 10


def check_new_password(password: str, *, email: str) -> None:
    """Reject passwords that are too short or repeat the e-mail."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(
            f"A senha precisa ter ao menos {MIN_PASSWORD_LENGTH} caracteres.", field="password"
        )
    if len(password) > 256:
        raise InvalidAccount("A senha pode ter no máximo 256 caracteres.", field="password")
    local_part = email.split("@", 1)[0]
    if password.lower() in {email, local_part}:
        raise InvalidAccount("A senha não pode ser o seu e-mail.", field="password")
