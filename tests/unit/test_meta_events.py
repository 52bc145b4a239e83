"""Meta WhatsApp Cloud API notifications become replies and status reports."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from adapters.messaging.meta_events import InvalidMetaPayload, parse_meta_webhook
from application.provider_events import InboundReply, StatusReport
from domain.qualification import Channel, DeliveryStatus
from tests.support.fake_meta import PHONE_NUMBER_ID, FakeMeta, MetaMessage, encode_like_meta

SENT_AT = 1772461800


@pytest.fixture
def meta() -> FakeMeta:
    # Only the payload builders are used here, so the server is never started.
    return FakeMeta()


def outbound(key: str | None = "qual-1:whatsapp:1") -> MetaMessage:
    return MetaMessage(
        id="wamid.OUT1",
        phone_number_id=PHONE_NUMBER_ID,
        to="5541987654321",
        type="template",
        text=None,
        template={"name": "primeiro_contato"},
        idempotency_key=key,
        payload={},
    )


def test_text_reply(meta: FakeMeta) -> None:
    payload = meta.inbound_payload("5541987654321", "Tenho interesse", timestamp=SENT_AT)

    [reply] = parse_meta_webhook(payload)

    assert isinstance(reply, InboundReply)
    assert reply.provider == "meta"
    assert reply.channel is Channel.WHATSAPP
    assert reply.sender == "5541987654321"
    assert reply.recipient == PHONE_NUMBER_ID
    assert reply.body == "Tenho interesse"
    assert reply.received_at == dt.datetime.fromtimestamp(SENT_AT, dt.UTC)
    assert reply.provider_message_id.startswith("wamid.")
    assert reply.in_reply_to is None


def test_wa_id_without_ninth_digit_passes_through(meta: FakeMeta) -> None:
    payload = meta.inbound_payload("554187654321", "Sim")

    [reply] = parse_meta_webhook(payload)

    assert isinstance(reply, InboundReply)
    assert reply.sender == "554187654321"


def test_context_id_becomes_in_reply_to(meta: FakeMeta) -> None:
    payload = meta.inbound_payload("5541987654321", "Quero", context_id="wamid.OUT1")

    [reply] = parse_meta_webhook(payload)

    assert isinstance(reply, InboundReply)
    assert reply.in_reply_to == "wamid.OUT1"


def test_escaped_non_ascii_text_decodes(meta: FakeMeta) -> None:
    raw = encode_like_meta(meta.inbound_payload("5541987654321", "Não, obrigado @ joao/ti"))

    [reply] = parse_meta_webhook(json.loads(raw))

    assert b"\\u00e3" in raw
    assert b"\\u0040" in raw
    assert isinstance(reply, InboundReply)
    assert reply.body == "Não, obrigado @ joao/ti"


def test_button_and_interactive_replies_use_their_titles(meta: FakeMeta) -> None:
    payload = meta.inbound_payload("5541987654321", "ignored")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message["type"] = "interactive"
    message["interactive"] = {"type": "button_reply", "button_reply": {"id": "b1", "title": "Sim"}}

    [reply] = parse_meta_webhook(payload)

    assert isinstance(reply, InboundReply)
    assert reply.body == "Sim"


@pytest.mark.parametrize(
    ("meta_status", "expected"),
    [
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("failed", DeliveryStatus.FAILED),
    ],
)
def test_status_maps_to_delivery_status(
    meta: FakeMeta, meta_status: str, expected: DeliveryStatus
) -> None:
    payload = meta.status_payload(outbound(), meta_status, timestamp=SENT_AT)

    [report] = parse_meta_webhook(payload)

    assert isinstance(report, StatusReport)
    assert report.status is expected
    assert report.event_id == f"wamid.OUT1:{meta_status}:{SENT_AT}"
    assert report.provider_message_id == "wamid.OUT1"
    assert report.idempotency_key == "qual-1:whatsapp:1"
    assert report.occurred_at == dt.datetime.fromtimestamp(SENT_AT, dt.UTC)
    assert report.error_code is None


def test_failed_status_carries_error_code(meta: FakeMeta) -> None:
    payload = meta.status_payload(outbound(), "failed", error_code=131026)

    [report] = parse_meta_webhook(payload)

    assert isinstance(report, StatusReport)
    assert report.status is DeliveryStatus.FAILED
    assert report.error_code == "131026"


def test_out_of_order_statuses_each_report(meta: FakeMeta) -> None:
    arrivals = [("read", SENT_AT + 20), ("sent", SENT_AT), ("delivered", SENT_AT + 5)]

    reports = [
        parse_meta_webhook(meta.status_payload(outbound(), status, timestamp=moment))[0]
        for status, moment in arrivals
    ]

    assert [report.event_id for report in reports] == [
        f"wamid.OUT1:read:{SENT_AT + 20}",
        f"wamid.OUT1:sent:{SENT_AT}",
        f"wamid.OUT1:delivered:{SENT_AT + 5}",
    ]


def test_status_without_callback_data_has_no_key(meta: FakeMeta) -> None:
    [report] = parse_meta_webhook(meta.status_payload(outbound(key=None), "sent"))

    assert isinstance(report, StatusReport)
    assert report.idempotency_key is None


def test_unknown_status_is_skipped(meta: FakeMeta) -> None:
    assert parse_meta_webhook(meta.status_payload(outbound(), "deleted")) == []


def test_other_fields_are_skipped(meta: FakeMeta) -> None:
    payload = meta.inbound_payload("5541987654321", "oi")
    payload["entry"][0]["changes"][0]["field"] = "message_template_status_update"

    assert parse_meta_webhook(payload) == []


def test_several_entries_keep_their_order(meta: FakeMeta) -> None:
    first = meta.inbound_payload("5541987654321", "um")
    second = meta.status_payload(outbound(), "delivered")
    first["entry"].extend(second["entry"])

    events = parse_meta_webhook(first)

    assert [type(event) for event in events] == [InboundReply, StatusReport]


def test_other_object_is_invalid() -> None:
    with pytest.raises(InvalidMetaPayload):
        parse_meta_webhook({"object": "page", "entry": []})


def test_message_without_timestamp_is_invalid(meta: FakeMeta) -> None:
    payload = meta.inbound_payload("5541987654321", "oi")
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"]

    with pytest.raises(InvalidMetaPayload):
        parse_meta_webhook(payload)
