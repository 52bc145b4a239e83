"""Tenants, plans and tenant settings: the host operator's vocabulary.

A tenant is a client company of the deployment. It is active, suspended (its
users and keys are refused with the reason) or deleted (soft: the rows stay
until the retention date, then an operator purges them).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import zoneinfo
from typing import Any

import attrs

from domain.cnpj import Cnpj
from domain.errors import Conflict, DomainError, InvalidCnpj, RuleViolation
from domain.identity import InvalidAccount, normalize_login_email
from domain.qualification_settings import QualificationSettings


class InvalidTenant(DomainError):
    code = "invalid_tenant"


class InvalidPlan(DomainError):
    code = "invalid_plan"


class InvalidSettings(DomainError):
    code = "invalid_settings"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


#: Days a soft-deleted tenant's data is kept before it may be purged.
DEFAULT_RETENTION_DAYS = 90

#: Ten years: a longer validity is a typo for "never expires".
MAX_CREDIT_VALIDITY_DAYS = 3650

_PLAN_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


@attrs.frozen(kw_only=True)
class PlanLimits:
    monthly_credits: int
    price_cents: int
    max_users: int
    messages_per_day: int
    requests_per_minute: int
    max_selection_size: int = 5000
    #: Days the credits of each paid period stay usable; None keeps them until spent.
    credit_validity_days: int | None = None

    def __attrs_post_init__(self) -> None:
        _non_negative("monthly_credits", self.monthly_credits, "Os créditos mensais")
        validity = self.credit_validity_days
        if validity is not None and not 1 <= validity <= MAX_CREDIT_VALIDITY_DAYS:
            raise InvalidPlan(
                f"A validade dos créditos vai de 1 a {MAX_CREDIT_VALIDITY_DAYS} dias, ou nula "
                "para créditos que não expiram.",
                field="credit_validity_days",
            )
        _non_negative("price_cents", self.price_cents, "O preço")
        for name, label in (
            ("max_users", "O limite de usuários"),
            ("messages_per_day", "O limite de mensagens por dia"),
            ("requests_per_minute", "O limite de requisições por minuto"),
            ("max_selection_size", "O tamanho máximo de seleção"),
        ):
            value = getattr(self, name)
            if value < 1:
                raise InvalidPlan(f"{label} precisa ser ao menos 1.", field=name)


def _non_negative(field: str, value: int, label: str) -> None:
    if value < 0:
        raise InvalidPlan(f"{label} não pode ser negativo.", field=field)


def check_plan_code(code: str) -> str:
    if not _PLAN_CODE.fullmatch(code):
        raise InvalidPlan(
            "O código do plano usa de 2 a 40 letras minúsculas, dígitos e hífens, "
            f"começando por letra ou dígito; recebido '{code}'.",
            field="code",
        )
    return code


def check_name(value: str, *, field: str = "name", what: str = "O nome") -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidTenant(f"{what} não pode ficar vazio.", field=field)
    if len(name) > 200:
        raise InvalidTenant(f"{what} pode ter no máximo 200 caracteres.", field=field)
    return name


# --- settings ----------------------------------------------------------------

DEFAULT_TIMEZONE = "America/Sao_Paulo"

#: Message templates a new tenant starts with. ``{empresa}`` and ``{nome}``
#: are filled per pre-lead; ``{remetente}`` is the tenant's name.
DEFAULT_TEMPLATES: dict[str, str] = {
    "whatsapp_intro": (
        "Olá! Aqui é {remetente}. Vimos que a {empresa} atua no seu segmento e temos "
        "uma proposta que pode ajudar. Tem interesse em saber mais? Responda SIM ou NÃO. "
        "Para não receber mais mensagens, responda SAIR."
    ),
    "sms_intro": (
        "{remetente}: temos uma proposta para a {empresa}. Tem interesse? Responda SIM. "
        "Para não receber mais, responda SAIR."
    ),
    "email_subject": "Uma proposta para a {empresa}",
    "email_body": (
        "Olá,\n\nsomos a {remetente} e gostaríamos de apresentar uma proposta para a "
        "{empresa}. Se tiver interesse, basta responder a este e-mail.\n\nAtenciosamente,\n"
        "{remetente}"
    ),
}

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@attrs.frozen(kw_only=True)
class QuietHours:
    """A daily window, in the tenant's timezone, when no message is sent; may cross midnight."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@attrs.frozen(kw_only=True)
class TenantSettings:
    timezone: str = DEFAULT_TIMEZONE
    #: None when the tenant keeps no quiet hours (its sending hours still apply).
    quiet_hours: QuietHours | None = QuietHours(start=dt.time(20, 0), end=dt.time(8, 0))
    #: An alert goes out when the available balance falls to this many credits.
    low_balance_threshold: int = 10
    templates: dict[str, str] = attrs.field(factory=lambda: dict(DEFAULT_TEMPLATES))
    qualification: QualificationSettings = attrs.field(factory=QualificationSettings)

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "quiet_hours": None if self.quiet_hours is None else self.quiet_hours.to_json(),
            "low_balance_threshold": self.low_balance_threshold,
            "templates": dict(self.templates),
            "qualification": self.qualification.to_json(),
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> TenantSettings:
        """Read stored settings; keys missing from older rows take the defaults."""
        return TenantSettings().merge(stored)

    def merge(self, changes: dict[str, Any]) -> TenantSettings:
        """Apply a partial update, validating each field given."""
        unknown = set(changes) - {
            "timezone",
            "quiet_hours",
            "low_balance_threshold",
            "templates",
            "qualification",
        }
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidSettings(f"Configuração desconhecida: '{name}'.", field=name)

        timezone = self.timezone
        if "timezone" in changes:
            timezone = _parse_timezone(changes["timezone"])

        quiet_hours = self.quiet_hours
        if "quiet_hours" in changes:
            quiet_hours = _parse_quiet_hours(changes["quiet_hours"])

        threshold = self.low_balance_threshold
        if "low_balance_threshold" in changes:
            threshold = changes["low_balance_threshold"]
            if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
                raise InvalidSettings(
                    "O limite de saldo baixo precisa ser um número inteiro de 0 em diante.",
                    field="low_balance_threshold",
                )

        templates = dict(self.templates)
        if "templates" in changes:
            templates.update(_parse_templates(changes["templates"]))

        qualification = self.qualification
        if "qualification" in changes:
            try:
                qualification = qualification.merge(changes["qualification"])
            except RuleViolation as invalid:
                field = invalid.field or ""
                if not field.startswith("qualification."):
                    field = f"qualification.{field}".rstrip(".")
                raise InvalidSettings(invalid.detail, field=field) from None

        return TenantSettings(
            timezone=timezone,
            quiet_hours=quiet_hours,
            low_balance_threshold=threshold,
            templates=templates,
            qualification=qualification,
        )


def _parse_timezone(value: Any) -> str:
    if isinstance(value, str) and value:
        try:
            zoneinfo.ZoneInfo(value)
            return value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidSettings(
        f"Fuso horário desconhecido: '{value}'. Use um nome IANA, como America/Sao_Paulo.",
        field="timezone",
    )


def _parse_time(value: Any, field: str) -> dt.time:
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidSettings(
            f"Horário inválido: '{value}'. Use HH:MM, de 00:00 a 23:59.", field=field
        )
    return dt.time(int(match[1]), int(match[2]))


def _parse_quiet_hours(value: Any) -> QuietHours | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise InvalidSettings(
            'O horário de silêncio é um objeto {"start": "HH:MM", "end": "HH:MM"}.',
            field="quiet_hours",
        )
    start = _parse_time(value["start"], "quiet_hours.start")
    end = _parse_time(value["end"], "quiet_hours.end")
    if start == end:
        raise InvalidSettings(
            "O horário de silêncio precisa começar e terminar em horários diferentes.",
            field="quiet_hours",
        )
    return QuietHours(start=start, end=end)


def _parse_templates(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidSettings(
            "Os modelos de mensagem são um objeto de nome para texto.", field="templates"
        )
    parsed: dict[str, str] = {}
    for name, text in value.items():
        if name not in DEFAULT_TEMPLATES:
            known = ", ".join(DEFAULT_TEMPLATES)
            raise InvalidSettings(
                f"Modelo desconhecido: '{name}'. Modelos: {known}.", field=f"templates.{name}"
            )
        if not isinstance(text, str) or not text.strip():
            raise InvalidSettings(
                f"O modelo '{name}' precisa de um texto.", field=f"templates.{name}"
            )
        if len(text) > 4000:
            raise InvalidSettings(
                f"O modelo '{name}' pode ter no máximo 4000 caracteres.", field=f"templates.{name}"
            )
        parsed[name] = text
    return parsed


def suspension_detail(reason: str | None) -> str:
    """The pt-BR sentence a suspended tenant's users and keys receive."""
    base = "O acesso deste tenant está suspenso"
    # The reason is typed by the operator, often with its own final period.
    reason = (reason or "").strip().rstrip(".")
    if reason:
        return f"{base}: {reason}. Fale com o administrador do Garimpo para reativá-lo."
    return f"{base}. Fale com o administrador do Garimpo para reativá-lo."


# --- plans and tenants ---------------------------------------------------------


class TenantDeleted(Conflict):
    """Raised when a change is asked of a soft-deleted tenant, which only waits for its purge."""

    code = "tenant_deleted"


#: Currencies a plan may be priced in. Billing (Stripe, manual grants) is in reais only.
CURRENCIES = frozenset({"BRL"})

#: Maximum retention a deletion may request, in days (ten years).
MAX_RETENTION_DAYS = 3650

MAX_REASON_LENGTH = 500
MAX_EMAIL_LENGTH = 254


def check_currency(value: str) -> str:
    if value not in CURRENCIES:
        accepted = ", ".join(sorted(CURRENCIES))
        raise InvalidPlan(
            f"Moeda não aceita: '{value}'. Moedas aceitas: {accepted}.", field="currency"
        )
    return value


def check_document(value: str) -> str:
    """Validate the client company's CNPJ and return its 14 characters without punctuation."""
    try:
        return Cnpj.parse(value).value
    except InvalidCnpj as error:
        raise InvalidTenant(error.detail, field="document", code="invalid_cnpj") from None


def check_contact_email(value: str) -> str:
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidTenant(
            f"O e-mail de contato pode ter no máximo {MAX_EMAIL_LENGTH} caracteres.",
            field="contact_email",
        )
    try:
        return normalize_login_email(value)
    except InvalidAccount as error:
        raise InvalidTenant(error.detail, field="contact_email") from None


def check_suspension_reason(value: str) -> str:
    """Return the reason with its spaces collapsed; users and keys of the tenant will read it."""
    reason = " ".join(value.split())
    if not reason:
        raise InvalidTenant(
            "Informe o motivo da suspensão; os usuários do tenant o verão ao tentar entrar.",
            field="reason",
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidTenant(
            f"O motivo pode ter no máximo {MAX_REASON_LENGTH} caracteres.", field="reason"
        )
    return reason


def retention_end(today: dt.date, days: int) -> dt.date:
    """Return the last day a deleted tenant's data is kept: ``today`` plus ``days``."""
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise InvalidTenant(
            f"A retenção vai de 0 a {MAX_RETENTION_DAYS} dias; recebido {days}.",
            field="retention_days",
        )
    return today + dt.timedelta(days=days)


#: Profile fields that ``Tenant.changed`` may set. The status changes only through
#: suspend, reactivate and delete.
_PROFILE_FIELDS = frozenset({"name", "plan_id", "document", "contact_email", "settings"})


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


@attrs.frozen(kw_only=True)
class Plan:
    """Price and limits of a subscription.

    An archived plan stays with the tenants on it but is offered to no new tenant.
    """

    id: str
    code: str
    name: str
    limits: PlanLimits
    currency: str = "BRL"
    archived_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "monthly_credits": self.limits.monthly_credits,
            "price_cents": self.limits.price_cents,
            "currency": self.currency,
            "max_users": self.limits.max_users,
            "messages_per_day": self.limits.messages_per_day,
            "requests_per_minute": self.limits.requests_per_minute,
            "max_selection_size": self.limits.max_selection_size,
            "credit_validity_days": self.limits.credit_validity_days,
            "archived": self.archived,
            "archived_at": _iso(self.archived_at),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def summary(self) -> dict[str, Any]:
        """The few fields shown beside a tenant."""
        return {"id": self.id, "code": self.code, "name": self.name, "archived": self.archived}


@attrs.frozen(kw_only=True)
class Tenant:
    """A client company of the deployment and the state of its access."""

    id: str
    name: str
    #: None only for tenants created before plans existed.
    plan_id: str | None
    status: TenantStatus = TenantStatus.ACTIVE
    #: The host's reason for a suspension, shown to the tenant's users and keys.
    status_reason: str | None = None
    #: The client company's CNPJ, 14 characters without punctuation.
    document: str | None = None
    contact_email: str | None = None
    settings: TenantSettings = attrs.field(factory=TenantSettings)
    suspended_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    #: Last day the data of a deleted tenant is kept; after it the rows may be purged.
    retention_until: dt.date | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    def _require_not_deleted(self) -> None:
        if self.status is TenantStatus.DELETED:
            raise TenantDeleted(
                f"O tenant '{self.name}' foi excluído e não pode mais ser alterado.",
            )

    def changed(self, at: dt.datetime, **changes: Any) -> Tenant:
        """Apply changes to the profile (name, plan, document, contact e-mail, settings)."""
        self._require_not_deleted()
        unknown = set(changes) - _PROFILE_FIELDS
        if unknown:
            raise TypeError(f"not profile fields of a tenant: {sorted(unknown)}")
        return attrs.evolve(self, updated_at=at, **changes)

    def suspend(self, reason: str, at: dt.datetime) -> Tenant:
        """Suspend the tenant, or replace the reason of a suspension already in force."""
        self._require_not_deleted()
        suspended_at = self.suspended_at if self.status is TenantStatus.SUSPENDED else at
        return attrs.evolve(
            self,
            status=TenantStatus.SUSPENDED,
            status_reason=check_suspension_reason(reason),
            suspended_at=suspended_at,
            updated_at=at,
        )

    def reactivate(self, at: dt.datetime) -> Tenant:
        if self.status is TenantStatus.DELETED:
            raise TenantDeleted(
                f"O tenant '{self.name}' foi excluído e não pode ser reativado.",
            )
        return attrs.evolve(
            self,
            status=TenantStatus.ACTIVE,
            status_reason=None,
            suspended_at=None,
            updated_at=at,
        )

    def delete(self, retention_until: dt.date, at: dt.datetime) -> Tenant:
        """Soft-delete: the rows stay until ``retention_until``, every credential is refused."""
        self._require_not_deleted()
        return attrs.evolve(
            self,
            status=TenantStatus.DELETED,
            deleted_at=at,
            retention_until=retention_until,
            updated_at=at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "plan_id": self.plan_id,
            "document": self.document,
            "contact_email": self.contact_email,
            "settings": self.settings.to_json(),
            "suspended_at": _iso(self.suspended_at),
            "deleted_at": _iso(self.deleted_at),
            "retention_until": _iso(self.retention_until),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
