"""Meta WhatsApp Cloud API webhooks as provider events.

The function here is pure: it takes the decoded JSON of a request whose
``X-Hub-Signature-256`` was already checked on the raw bytes. Meta sends
``{"object": "whatsapp_business_account", "entry": [...]}``, each entry with
``changes``, and each change of field ``messages`` with a ``value`` that holds
``metadata`` (the business number), and ``messages`` (inbound) or
``statuses`` (delivery of outbound messages). Timestamps are Unix seconds
written as strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import structlog

from application.provider_events import InboundReply, StatusReport
from domain.qualification import Channel, DeliveryStatus

log = structlog.get_logger(__name__)

PROVIDER = "meta"
OBJECT_TYPE = "whatsapp_business_account"

STATUS_MAP: Mapping[str, DeliveryStatus] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


class InvalidMetaPayload(ValueError):
    """Raised when a signed Meta request is not a WhatsApp Business Account notification."""


MetaEvent = InboundReply | StatusReport


def parse_meta_webhook(payload: Any) -> list[MetaEvent]:
    """Turn one Meta webhook notification into events, in the order Meta listed them."""
    if not isinstance(payload, dict) or payload.get("object") != OBJECT_TYPE:
        raise InvalidMetaPayload(f"object is not {OBJECT_TYPE!r}")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise InvalidMetaPayload("entry is not a list")

    events: list[MetaEvent] = []
    for entry in entries:
        for change in _list(_dict(entry, "entry").get("changes"), "changes"):
            change = _dict(change, "change")
            if change.get("field") != "messages":
                # Template and account updates come on other fields.
                continue
            value = _dict(change.get("value"), "value")
            events.extend(_replies(value))
            events.extend(_status_reports(value))
    return events


def _replies(value: dict[str, Any]) -> list[MetaEvent]:
    metadata = _optional_dict(value.get("metadata"))
    recipient = metadata.get("phone_number_id") or None

    replies: list[MetaEvent] = []
    for message in _list(value.get("messages"), "messages"):
        message = _dict(message, "message")
        context = _optional_dict(message.get("context"))
        replies.append(
            InboundReply(
                provider=PROVIDER,
                channel=Channel.WHATSAPP,
                provider_message_id=_required_text(message, "id"),
                # The WhatsApp id in digits, which may lack Brazil's ninth digit.
                sender=_required_text(message, "from"),
                recipient=recipient,
                body=_message_text(message),
                received_at=_timestamp(message),
                in_reply_to=context.get("id") or None,
            )
        )
    return replies


def _status_reports(value: dict[str, Any]) -> list[MetaEvent]:
    reports: list[MetaEvent] = []
    for status in _list(value.get("statuses"), "statuses"):
        status = _dict(status, "status")
        message_id = _required_text(status, "id")
        status_name = _required_text(status, "status")
        delivery_status = STATUS_MAP.get(status_name)
        if delivery_status is None:
            log.info("meta_status_ignored", status=status_name)
            continue

        timestamp = _required_text(status, "timestamp")
        errors = status.get("errors") if isinstance(status.get("errors"), list) else []
        first_error = errors[0] if errors and isinstance(errors[0], dict) else {}
        error_code = first_error.get("code")
        reports.append(
            StatusReport(
                provider=PROVIDER,
                event_id=f"{message_id}:{status_name}:{timestamp}",
                provider_message_id=message_id,
                idempotency_key=status.get("biz_opaque_callback_data") or None,
                status=delivery_status,
                occurred_at=_timestamp(status),
                error_code=None if error_code is None else str(error_code),
            )
        )
    return reports


def _message_text(message: dict[str, Any]) -> str:
    """Return what the contact wrote or chose: text, a button's label, or a media caption."""
    kind = message.get("type")
    part = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(part, dict):
        return ""
    if kind == "text":
        return str(part.get("body") or "")
    if kind == "button":
        return str(part.get("text") or "")
    if kind == "interactive":
        choice = part.get("button_reply") or part.get("list_reply") or {}
        return str(choice.get("title") or "") if isinstance(choice, dict) else ""
    return str(part.get("caption") or "")


def _timestamp(item: dict[str, Any]) -> dt.datetime:
    raw = _required_text(item, "timestamp")
    try:
        return dt.datetime.fromtimestamp(int(raw), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidMetaPayload(f"timestamp {raw!r} is not Unix seconds") from None


def _required_text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidMetaPayload(f"{name} is missing or not a string")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidMetaPayload(f"{name} is not an object")
    return value


def _optional_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidMetaPayload(f"{name} is not a list")
    return value
