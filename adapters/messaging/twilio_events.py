"""Twilio's messaging webhooks (inbound messages and status callbacks) as provider events.

The functions here are pure: they take the form fields of a request whose
``X-Twilio-Signature`` was already checked and return events. Twilio sends
both kinds to form-encoded POSTs. An inbound message carries ``SmsStatus``
``received`` and a ``Body``. A status callback carries ``MessageStatus``, and
the ``key`` query parameter that :class:`~adapters.messaging.twilio.TwilioMessaging`
put in the ``StatusCallback`` URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from application.provider_events import InboundReply, StatusReport
from domain.qualification import Channel, DeliveryStatus

PROVIDER = "twilio"

#: Prefix of WhatsApp addresses in Twilio's ``From`` and ``To`` fields.
WHATSAPP_PREFIX = "whatsapp:"

#: Twilio message statuses and the delivery status each one reports. Statuses
#: not listed (``receiving``, ``received``, ``partially_delivered``) say
#: nothing about an outbound message's delivery and produce no report.
STATUS_MAP: Mapping[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

#: ``OptOutType`` values that Twilio's Advanced Opt-Out sets when a contact
#: sends STOP, PARAR, CANCELAR or another configured opt-out keyword.
_OPT_OUT_TYPES = frozenset({"STOP"})


class InvalidTwilioPayload(ValueError):
    """Raised when a signed Twilio request lacks the fields of either webhook kind."""


TwilioEvent = InboundReply | StatusReport


def parse_twilio_webhook(
    fields: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    idempotency_key: str | None,
    received_at: dt.datetime,
) -> list[TwilioEvent]:
    """Turn one Twilio webhook request into events.

    ``received_at`` stamps the events, because Twilio's status callbacks and
    inbound messages carry no time of their own. ``idempotency_key`` is the
    ``key`` query parameter of a status callback, or None.
    """
    form = dict(fields.items() if isinstance(fields, Mapping) else fields)

    message_sid = form.get("MessageSid") or form.get("SmsSid")
    if not message_sid:
        raise InvalidTwilioPayload("MessageSid is missing")

    message_status = (form.get("MessageStatus") or "").lower()
    sms_status = (form.get("SmsStatus") or "").lower()
    if message_status and message_status != "received":
        return _status_reports(form, message_sid, message_status, idempotency_key, received_at)
    if sms_status == "received" or message_status == "received" or "Body" in form:
        return [_inbound_reply(form, message_sid, received_at)]
    raise InvalidTwilioPayload("neither MessageStatus nor an inbound Body is present")


def _status_reports(
    form: Mapping[str, str],
    message_sid: str,
    message_status: str,
    idempotency_key: str | None,
    received_at: dt.datetime,
) -> list[TwilioEvent]:
    status = STATUS_MAP.get(message_status)
    if status is None:
        return []

    return [
        StatusReport(
            provider=PROVIDER,
            event_id=f"{message_sid}:{message_status}",
            provider_message_id=message_sid,
            idempotency_key=idempotency_key or None,
            status=status,
            occurred_at=received_at,
            error_code=form.get("ErrorCode") or None,
        )
    ]


def _inbound_reply(
    form: Mapping[str, str], message_sid: str, received_at: dt.datetime
) -> InboundReply:
    sender_address = form.get("From") or ""
    if not sender_address:
        raise InvalidTwilioPayload("From is missing")

    if sender_address.startswith(WHATSAPP_PREFIX):
        channel = Channel.WHATSAPP
        # WaId is the WhatsApp id itself (digits, country code first). It can
        # lack the Brazilian ninth digit that the E.164 number has, so it is
        # passed on as Twilio sent it for the ninth-digit matching downstream.
        sender = form.get("WaId") or _digits(sender_address)
    else:
        channel = Channel.SMS
        sender = sender_address

    recipient = form.get("To") or None
    if recipient is not None:
        recipient = recipient.removeprefix(WHATSAPP_PREFIX)

    opt_out_type = (form.get("OptOutType") or "").upper()
    return InboundReply(
        provider=PROVIDER,
        channel=channel,
        provider_message_id=message_sid,
        sender=sender,
        recipient=recipient,
        body=form.get("Body") or "",
        received_at=received_at,
        # Twilio sets it when a WhatsApp user replies to a specific message.
        in_reply_to=form.get("OriginalRepliedMessageSid") or None,
        provider_opt_out=opt_out_type in _OPT_OUT_TYPES,
    )


def _digits(address: str) -> str:
    return "".join(character for character in address if character in "0123456789")
