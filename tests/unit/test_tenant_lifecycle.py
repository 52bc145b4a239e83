"""Tenant and plan rules of domain.tenancy: profile checks and the active/suspended/deleted cycle."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.errors import DomainError
from domain.tenancy import (
    InvalidTenant,
    Plan,
    PlanLimits,
    Tenant,
    TenantDeleted,
    TenantStatus,
    check_contact_email,
    check_currency,
    check_document,
    check_suspension_reason,
    retention_end,
    suspension_detail,
)

NOW = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def tenant(**overrides: object) -> Tenant:
    fields: dict[str, object] = {
        "id": "6f1c2a9e-8b7d-4c3a-9f0e-1d2c3b4a5f6e",
        "name": "Distribuidora Horizonte",
        "plan_id": "0b7f1c9e-2d4a-4c3b-9e8f-1a2b3c4d5e6f",
        "created_at": NOW,
        "updated_at": NOW,
        **overrides,
    }
    return Tenant(**fields)  # type: ignore[arg-type]


def test_document_accepts_punctuation_and_letters() -> None:
    assert check_document("11.222.333/0001-81") == "11222333000181"
    assert check_document("12.abc.345/01de-35") == "12ABC34501DE35"


@pytest.mark.parametrize("value", ["11.222.333/0001-82", "123", "00000000000000", ""])
def test_invalid_document_points_at_document(value: str) -> None:
    with pytest.raises(InvalidTenant) as raised:
        check_document(value)

    assert raised.value.field == "document"
    assert raised.value.code == "invalid_cnpj"


def test_contact_email_is_lower_cased() -> None:
    assert check_contact_email(" Financeiro@Empresa.COM.br ") == "financeiro@empresa.com.br"


@pytest.mark.parametrize("value", ["financeiro", "a@b", "a b@c.com", "x" * 250 + "@a.com"])
def test_invalid_contact_email_points_at_its_field(value: str) -> None:
    with pytest.raises(InvalidTenant) as raised:
        check_contact_email(value)

    assert raised.value.field == "contact_email"


def test_only_brl_is_accepted() -> None:
    assert check_currency("BRL") == "BRL"
    with pytest.raises(DomainError) as raised:
        check_currency("USD")
    assert raised.value.field == "currency"


def test_suspension_reason_is_required_and_bounded() -> None:
    assert check_suspension_reason("  Pagamento   em atraso ") == "Pagamento em atraso"
    for value in ("", "   ", "x" * 501):
        with pytest.raises(InvalidTenant) as raised:
            check_suspension_reason(value)
        assert raised.value.field == "reason"


def test_suspension_detail_does_not_double_the_period() -> None:
    detail = suspension_detail("Pagamento em atraso.")

    assert detail == (
        "O acesso deste tenant está suspenso: Pagamento em atraso. "
        "Fale com o administrador do Garimpo para reativá-lo."
    )


def test_retention_end_counts_days_from_today() -> None:
    today = dt.date(2026, 12, 4)

    assert retention_end(today, 90) == dt.date(2027, 3, 4)
    assert retention_end(today, 0) == today
    for days in (-1, 3651):
        with pytest.raises(InvalidTenant) as raised:
            retention_end(today, days)
        assert raised.value.field == "retention_days"


def test_suspend_then_suspend_again_keeps_start() -> None:
    suspended = tenant().suspend("Pagamento em atraso", NOW)
    again = suspended.suspend("Contrato em revisão", LATER)

    assert suspended.status is TenantStatus.SUSPENDED
    assert suspended.suspended_at == NOW
    assert again.status_reason == "Contrato em revisão"
    assert again.suspended_at == NOW
    assert again.updated_at == LATER


def test_reactivate_clears_the_suspension() -> None:
    active = tenant().suspend("Pagamento em atraso", NOW).reactivate(LATER)

    assert active.status is TenantStatus.ACTIVE
    assert active.status_reason is None
    assert active.suspended_at is None


def test_deleted_tenant_is_frozen() -> None:
    deleted = tenant().delete(dt.date(2027, 3, 4), NOW)

    assert deleted.status is TenantStatus.DELETED
    assert deleted.deleted_at == NOW
    assert deleted.retention_until == dt.date(2027, 3, 4)
    for change in (
        lambda: deleted.reactivate(LATER),
        lambda: deleted.suspend("x", LATER),
        lambda: deleted.delete(dt.date(2030, 1, 1), LATER),
        lambda: deleted.changed(LATER, name="Outro"),
    ):
        with pytest.raises(TenantDeleted) as raised:
            change()
        assert raised.value.code == "tenant_deleted"


def test_changed_accepts_profile_fields_only() -> None:
    renamed = tenant().changed(LATER, name="Novo nome", contact_email=None)

    assert renamed.name == "Novo nome"
    assert renamed.updated_at == LATER
    with pytest.raises(TypeError):
        tenant().changed(LATER, status=TenantStatus.DELETED)


def test_plan_json_shows_limits_and_archive_state() -> None:
    plan = Plan(
        id="0b7f1c9e-2d4a-4c3b-9e8f-1a2b3c4d5e6f",
        code="pro",
        name="Pro",
        limits=PlanLimits(
            monthly_credits=500,
            price_cents=49900,
            max_users=5,
            messages_per_day=1000,
            requests_per_minute=120,
        ),
        archived_at=LATER,
        created_at=NOW,
        updated_at=LATER,
    )

    assert plan.to_json()["max_selection_size"] == 5000
    assert plan.to_json()["archived"] is True
    assert plan.summary() == {"id": plan.id, "code": "pro", "name": "Pro", "archived": True}
