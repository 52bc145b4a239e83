"""User accounts: status, the login lockout rule, single-use tokens, and their pt-BR texts.

An account is a tenant user (admin, sales, viewer) or a host admin. It starts
``invited`` with no password, becomes ``active`` when the invitation is
accepted, and is ``disabled`` instead of deleted, so audit lines keep pointing
at a real row.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import zoneinfo
from typing import Any

import attrs

from domain.identity import ROLE_LABELS, TENANT_ROLES, InvalidAccount, Role


class AccountStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DISABLED = "disabled"


#: Consecutive wrong passwords that lock an account.
MAX_FAILED_LOGINS = 5
#: How long a lock lasts; a password reset ends it early.
LOCKOUT_DURATION = dt.timedelta(minutes=15)

#: Users read times in Brasília time, the official time of most tenants.
BRASILIA = zoneinfo.ZoneInfo("America/Sao_Paulo")


class AccountTokenPurpose(enum.StrEnum):
    PASSWORD_RESET = "password_reset"
    INVITATION = "invitation"


#: How long each kind of e-mailed token can be used.
ACCOUNT_TOKEN_LIFETIME = {
    AccountTokenPurpose.PASSWORD_RESET: dt.timedelta(hours=1),
    AccountTokenPurpose.INVITATION: dt.timedelta(days=7),
}


@attrs.frozen(kw_only=True)
class Account:
    id: str
    #: None for a host admin.
    tenant_id: str | None
    email: str
    name: str
    role: Role
    status: AccountStatus
    password_hash: str | None = attrs.field(repr=False)
    failed_logins: int
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    @property
    def is_active_admin(self) -> bool:
        return self.role is Role.ADMIN and self.status is AccountStatus.ACTIVE

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        """Return the account as the API shows it, without the password hash."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "role_label": ROLE_LABELS[self.role],
            "status": self.status.value,
            "tenant_id": self.tenant_id,
            "locked_until": _iso(self.locked_until) if self.locked(now) else None,
            "last_login_at": _iso(self.last_login_at),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def audit_view(self) -> dict[str, Any]:
        """Return the fields that an audit line compares before and after a change."""
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "status": self.status.value,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    """Whole seconds from ``now`` to ``moment``, rounded up, at least 1 (a Retry-After value)."""
    return max(1, math.ceil((moment - now).total_seconds()))


def brasilia_time(moment: dt.datetime, now: dt.datetime) -> str:
    """``14:35``, or ``00:05 de 05/12/2026`` when ``moment`` falls on another day in Brasília."""
    local = moment.astimezone(BRASILIA)
    if local.date() == now.astimezone(BRASILIA).date():
        return f"{local:%H:%M}"
    return f"{local:%H:%M} de {local:%d/%m/%Y}"


def lockout_detail(locked_until: dt.datetime, now: dt.datetime) -> str:
    """Build the pt-BR message for a locked account, with the unlock time in Brasília."""
    return (
        f"Esta conta está bloqueada até {brasilia_time(locked_until, now)} (horário de "
        f"Brasília) depois de {MAX_FAILED_LOGINS} tentativas seguidas com a senha errada. "
        "Tente de novo depois desse horário ou redefina a senha em "
        "POST /v1/auth/password-reset."
    )


def check_person_name(value: str) -> str:
    """Collapse the spaces of a person's name and reject an empty or overlong one."""
    name = " ".join(value.split())
    if not name:
        raise InvalidAccount("O nome não pode ficar vazio.", field="name")
    if len(name) > 200:
        raise InvalidAccount("O nome pode ter no máximo 200 caracteres.", field="name")
    return name


def parse_tenant_role(value: str) -> Role:
    """Parse a role that a tenant user can have: admin, sales or viewer."""
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or role not in TENANT_ROLES:
        accepted = ", ".join(sorted(r.value for r in TENANT_ROLES))
        raise InvalidAccount(
            f"Papel desconhecido: '{value}'. Papéis aceitos: {accepted}.", field="role"
        )
    return role
