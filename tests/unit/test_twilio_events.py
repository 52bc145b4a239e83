"""Twilio webhook forms become replies and status reports."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.messaging.twilio_events import InvalidTwilioPayload, parse_twilio_webhook
from application.provider_events import InboundReply, StatusReport
from domain.qualification import Channel, DeliveryStatus
from tests.support.fake_twilio import FakeTwilio

NOW = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
BUSINESS = "whatsapp:+554130000000"


@pytest.fixture
def twilio() -> FakeTwilio:
    # Only the form builders are used here, so the server is never started.
    return FakeTwilio()


def parse(form: dict[str, str], key: str | None = None) -> list[InboundReply | StatusReport]:
    return parse_twilio_webhook(form, idempotency_key=key, received_at=NOW)


def test_whatsapp_reply_uses_wa_id_digits(twilio: FakeTwilio) -> None:
    form = twilio.inbound_message(
        "whatsapp:+5541987654321", BUSINESS, "Tenho interesse", wa_id="5541987654321"
    )

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.provider == "twilio"
    assert reply.channel is Channel.WHATSAPP
    assert reply.sender == "5541987654321"
    assert reply.recipient == "+554130000000"
    assert reply.body == "Tenho interesse"
    assert reply.provider_message_id == form["MessageSid"]
    assert reply.received_at == NOW
    assert reply.provider_opt_out is False


def test_whatsapp_id_without_ninth_digit_passes_through(twilio: FakeTwilio) -> None:
    # WhatsApp ids registered before Brazil's ninth digit lack it: 55 41 8765-4321.
    form = twilio.inbound_message("whatsapp:+554187654321", BUSINESS, "Sim", wa_id="554187654321")

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.sender == "554187654321"


def test_whatsapp_reply_without_wa_id_uses_from_digits(twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("whatsapp:+554187654321", BUSINESS, "Sim")
    del form["WaId"]

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.sender == "554187654321"


def test_sms_reply_keeps_e164_sender(twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("+5541987654321", "+554130000000", "Pode ligar amanhã")

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.channel is Channel.SMS
    assert reply.sender == "+5541987654321"
    assert reply.recipient == "+554130000000"
    assert reply.body == "Pode ligar amanhã"


def test_stop_marks_provider_opt_out(twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("+5541987654321", "+554130000000", "PARAR", opt_out_type="STOP")

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.provider_opt_out is True
    assert reply.body == "PARAR"


def test_start_is_not_an_opt_out(twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("+5541987654321", "+554130000000", "VOLTAR", opt_out_type="START")

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.provider_opt_out is False


def test_reply_to_a_message_keeps_its_sid(twilio: FakeTwilio) -> None:
    form = twilio.inbound_message(
        "whatsapp:+5541987654321", BUSINESS, "Quero saber mais", replied_to="SMoriginal"
    )

    [reply] = parse(form)

    assert isinstance(reply, InboundReply)
    assert reply.in_reply_to == "SMoriginal"


def status_form(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    form = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "MessageSid": sid,
        "AccountSid": "AC123",
        "From": BUSINESS,
        "To": "whatsapp:+5541987654321",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


@pytest.mark.parametrize(
    ("twilio_status", "expected"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("accepted", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("failed", DeliveryStatus.FAILED),
        ("undelivered", DeliveryStatus.FAILED),
    ],
)
def test_status_maps_to_delivery_status(twilio_status: str, expected: DeliveryStatus) -> None:
    [report] = parse(status_form("SM1", twilio_status), key="qual-1:whatsapp:1")

    assert isinstance(report, StatusReport)
    assert report.status is expected
    assert report.event_id == f"SM1:{twilio_status}"
    assert report.provider_message_id == "SM1"
    assert report.idempotency_key == "qual-1:whatsapp:1"
    assert report.occurred_at == NOW


def test_undelivered_carries_error_code() -> None:
    [report] = parse(status_form("SM1", "undelivered", error_code="63024"), key="k")

    assert isinstance(report, StatusReport)
    assert report.status is DeliveryStatus.FAILED
    assert report.error_code == "63024"


def test_out_of_order_statuses_each_report() -> None:
    arrivals = ["read", "sent", "delivered"]

    reports = [parse(status_form("SM9", status), key="k")[0] for status in arrivals]

    assert [report.event_id for report in reports] == ["SM9:read", "SM9:sent", "SM9:delivered"]
    assert [report.status for report in reports if isinstance(report, StatusReport)] == [
        DeliveryStatus.READ,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ]


def test_status_without_key_has_none() -> None:
    [report] = parse(status_form("SM1", "sent"))

    assert isinstance(report, StatusReport)
    assert report.idempotency_key is None


def test_status_with_no_delivery_meaning_is_skipped() -> None:
    assert parse(status_form("SM1", "receiving")) == []


def test_form_without_message_sid_is_invalid() -> None:
    with pytest.raises(InvalidTwilioPayload):
        parse({"From": "+5541987654321", "Body": "oi"})


def test_form_of_another_kind_is_invalid() -> None:
    with pytest.raises(InvalidTwilioPayload):
        parse({"MessageSid": "SM1", "AccountSid": "AC1"})
