"""A tenant's qualification settings, delivery statuses that never move back, and when a send may go."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from application.qualification import next_sending_moment
from domain.classifier import ReplyOutcome, classify
from domain.qualification import DeliveryStatus, next_delivery_status
from domain.qualification_settings import Orchestrator, QualificationSettings
from domain.tenancy import InvalidSettings, QuietHours, TenantSettings

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")


def test_defaults_round_trip_through_json() -> None:
    settings = QualificationSettings()

    assert QualificationSettings.from_json(settings.to_json()) == settings
    assert settings.to_json()["reply_wait_minutes"] == 1440
    assert settings.to_json()["sending_weekdays"] == [1, 2, 3, 4, 5]


def test_a_partial_update_keeps_the_rest() -> None:
    changed = QualificationSettings().merge(
        {"reply_wait_minutes": 90, "orchestrator": "n8n", "holidays": ["2026-12-25"]}
    )

    assert changed.reply_wait == dt.timedelta(minutes=90)
    assert changed.orchestrator is Orchestrator.N8N
    assert changed.holidays == frozenset({dt.date(2026, 12, 25)})
    assert changed.daily_limit == QualificationSettings().daily_limit


def test_tenant_rules_change_the_classification() -> None:
    settings = QualificationSettings().merge(
        {"rules": [{"name": "orcamento", "outcome": "qualified", "phrases": ["manda o orçamento"]}]}
    )

    result = classify("Manda o ORÇAMENTO por favor", settings.rule_set())

    assert result.outcome is ReplyOutcome.QUALIFIED
    assert result.rule == "orcamento"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"orchestrator": "zapier"}, "qualification.orchestrator"),
        ({"reply_wait_minutes": 0}, "qualification.reply_wait_minutes"),
        ({"daily_limit": True}, "qualification.daily_limit"),
        ({"sending_hours": {"start": "18:00", "end": "09:00"}}, "qualification.sending_hours"),
        ({"sending_weekdays": [0, 8]}, "qualification.sending_weekdays"),
        ({"holidays": ["25/12/2026"]}, "qualification.holidays"),
        ({"rules": [{"name": "x"}]}, "qualification.rules"),
        ({"disabled_rules": ["nao_existe"]}, "qualification.disabled_rule_names"),
        ({"sms": True}, "qualification.sms"),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSettings) as raised:
        TenantSettings().merge({"qualification": changes})

    assert raised.value.field == field
    assert raised.value.code == "invalid_settings"


@pytest.mark.parametrize(
    ("current", "reported", "after"),
    [
        (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED),
        (DeliveryStatus.DELIVERED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
        (DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.READ),
        (DeliveryStatus.READ, DeliveryStatus.DELIVERED, DeliveryStatus.READ),
        (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DELIVERED),
        (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.FAILED),
        (DeliveryStatus.QUEUED, DeliveryStatus.FAILED, DeliveryStatus.FAILED),
        (DeliveryStatus.FAILED, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED),
    ],
)
def test_delivery_status_never_moves_back(
    current: DeliveryStatus, reported: DeliveryStatus, after: DeliveryStatus
) -> None:
    assert next_delivery_status(current, reported) is after


def _tenant(quiet: QuietHours | None, **qualification: object) -> TenantSettings:
    settings = TenantSettings().merge({"qualification": qualification})
    return TenantSettings(
        timezone=settings.timezone,
        quiet_hours=quiet,
        qualification=settings.qualification,
    )


def test_quiet_hours_push_a_send_inside_the_sending_hours() -> None:
    settings = _tenant(
        QuietHours(start=dt.time(12, 0), end=dt.time(14, 0)),
        sending_hours={"start": "09:00", "end": "18:00"},
    )
    window = settings.qualification.window(settings.timezone)
    lunch = dt.datetime(2026, 12, 7, 12, 30, tzinfo=SAO_PAULO)  # a Monday

    assert next_sending_moment(settings, window, lunch) == dt.datetime(
        2026, 12, 7, 14, 0, tzinfo=SAO_PAULO
    )


def test_quiet_hours_past_the_window_move_to_the_next_day() -> None:
    settings = _tenant(
        QuietHours(start=dt.time(17, 0), end=dt.time(10, 0)),
        sending_hours={"start": "09:00", "end": "18:00"},
    )
    window = settings.qualification.window(settings.timezone)
    friday_evening = dt.datetime(2026, 12, 11, 17, 30, tzinfo=SAO_PAULO)

    # Saturday and Sunday are not sending days, and Monday's quiet hours end at 10:00.
    assert next_sending_moment(settings, window, friday_evening) == dt.datetime(
        2026, 12, 14, 10, 0, tzinfo=SAO_PAULO
    )


def test_without_quiet_hours_the_window_alone_decides() -> None:
    settings = _tenant(
        None,
        sending_hours={"start": "00:00", "end": "23:59"},
        sending_weekdays=[1, 2, 3, 4, 5, 6, 7],
    )
    window = settings.qualification.window(settings.timezone)
    night = dt.datetime(2026, 12, 12, 3, 0, tzinfo=SAO_PAULO)

    assert next_sending_moment(settings, window, night) == night
