"""Pure parsers of SendGrid's webhooks: Event Webhook batches and Inbound Parse posts.

Call them only after the request's signature has been checked on its raw
body (``adapters.messaging.signatures.verify_sendgrid``).

Event Webhook: a JSON array of events, each with ``email``, ``timestamp``
(Unix seconds), ``event``, ``sg_event_id``, ``sg_message_id`` and the send's
custom arguments as top-level keys. ``sg_message_id`` is the ``X-Message-Id``
of the send followed by ``.`` and a suffix of SendGrid's, so the part before
the first dot matches the send's receipt.

Inbound Parse: one ``multipart/form-data`` post per received e-mail, with the
fields ``from``, ``to``, ``subject``, ``text``, ``html``, ``headers`` (the raw
header block), ``envelope`` (JSON ``{"to": [...], "from": ...}``) and
``charsets`` (JSON: the character set of each field).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import json
import re
from collections.abc import Mapping
from email.message import Message
from email.parser import BytesParser, HeaderParser
from html.parser import HTMLParser
from typing import Any

from adapters.messaging.sendgrid import IDEMPOTENCY_KEY_ARG, PROVIDER
from application.provider_events import InboundReply, StatusReport, Unsubscribed
from domain.qualification import Channel, DeliveryStatus


class InvalidPayload(ValueError):
    """Raised when a signed webhook body is not in the shape SendGrid documents."""


_STATUS_OF_EVENT = {
    # SendGrid accepted the message and will try to deliver it.
    "processed": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "open": DeliveryStatus.READ,
    "bounce": DeliveryStatus.FAILED,
    "dropped": DeliveryStatus.FAILED,
}
_UNSUBSCRIBE_EVENTS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})


# --- Event Webhook -------------------------------------------------------------------


def parse_event_batch(raw_body: bytes) -> list[StatusReport | Unsubscribed]:
    """Turn a signed event batch into status reports and opt-outs, in batch order.

    ``deferred`` (SendGrid retries by itself), ``click`` and any other event
    carry no status change and are skipped.
    """
    try:
        events = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidPayload(f"the event batch is not JSON: {error}") from None
    if not isinstance(events, list):
        raise InvalidPayload("the event batch is not a JSON array")

    parsed: list[StatusReport | Unsubscribed] = []
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise InvalidPayload(f"event {position} is not a JSON object")
        item = parse_event(event)
        if item is not None:
            parsed.append(item)
    return parsed


def parse_event(event: Mapping[str, Any]) -> StatusReport | Unsubscribed | None:
    """Turn one event into a status report or an opt-out; None for events that change nothing."""
    kind = event.get("event")
    if kind not in _STATUS_OF_EVENT and kind not in _UNSUBSCRIBE_EVENTS:
        return None

    event_id = _required_text(event, "sg_event_id")
    occurred_at = _event_time(event)
    idempotency_key = _optional_text(event, IDEMPOTENCY_KEY_ARG)

    if kind in _UNSUBSCRIBE_EVENTS:
        return Unsubscribed(
            provider=PROVIDER,
            event_id=event_id,
            channel=Channel.EMAIL,
            address=_required_text(event, "email").strip().lower(),
            occurred_at=occurred_at,
            idempotency_key=idempotency_key,
        )

    status = _STATUS_OF_EVENT[kind]
    return StatusReport(
        provider=PROVIDER,
        event_id=event_id,
        provider_message_id=_send_message_id(event),
        idempotency_key=idempotency_key,
        status=status,
        occurred_at=occurred_at,
        error_code=_error_code(event) if status is DeliveryStatus.FAILED else None,
    )


def _send_message_id(event: Mapping[str, Any]) -> str | None:
    sg_message_id = _optional_text(event, "sg_message_id")
    if sg_message_id is None:
        return None
    return sg_message_id.split(".", 1)[0]


def _error_code(event: Mapping[str, Any]) -> str:
    """Name a failure: ``bounce:<type>`` (bounce or blocked) or ``dropped``, with the SMTP status."""
    kind = str(event["event"])
    bounce_type = _optional_text(event, "type")
    code = f"{kind}:{bounce_type}" if bounce_type else kind
    smtp_status = _optional_text(event, "status")
    return f"{code}:{smtp_status}" if smtp_status else code


def _event_time(event: Mapping[str, Any]) -> dt.datetime:
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise InvalidPayload(f"event {event.get('sg_event_id')!r} has no numeric timestamp")
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _required_text(event: Mapping[str, Any], key: str) -> str:
    value = _optional_text(event, key)
    if value is None:
        raise InvalidPayload(f"an event has no {key!r}")
    return value


def _optional_text(event: Mapping[str, Any], key: str) -> str | None:
    value = event.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidPayload(f"{key!r} of an event is not text")


# --- Inbound Parse -------------------------------------------------------------------


def decode_inbound_form(content_type: str, raw_body: bytes) -> dict[str, str]:
    """Decode the text fields of an Inbound Parse post; file parts (attachments) are skipped.

    Each field is decoded with the character set that the ``charsets`` field
    names for it, UTF-8 when it names none.
    """
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidPayload(f"expected multipart/form-data, got {content_type or 'nothing'!r}")

    preamble = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    document = BytesParser(policy=email.policy.compat32).parsebytes(preamble + raw_body)
    if not document.is_multipart():
        raise InvalidPayload("the multipart body has no parts")

    raw_fields: dict[str, bytes] = {}
    for part in document.get_payload():
        if not isinstance(part, Message) or part.get_filename() is not None:
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            raw_fields[name] = payload

    charsets = _charsets(raw_fields.get("charsets"))
    return {name: _decode(value, charsets.get(name, "utf-8")) for name, value in raw_fields.items()}


def parse_inbound(fields: Mapping[str, str], *, received_at: dt.datetime) -> InboundReply:
    """Turn the decoded Inbound Parse fields into a reply, its quoted history removed."""
    headers = HeaderParser(policy=email.policy.compat32).parsestr(fields.get("headers", ""))
    envelope = _envelope(fields.get("envelope"))

    sender = _address(fields.get("from") or headers.get("From") or envelope.get("from"))
    if sender is None:
        raise InvalidPayload("the e-mail has no sender address")
    envelope_to = envelope.get("to")
    recipient = _address(
        envelope_to[0] if isinstance(envelope_to, list) and envelope_to else fields.get("to")
    )

    text = fields.get("text")
    if text is None and fields.get("html"):
        text = _html_to_text(fields["html"])

    return InboundReply(
        provider=PROVIDER,
        channel=Channel.EMAIL,
        provider_message_id=_inbound_message_id(headers, fields),
        sender=sender,
        recipient=recipient,
        body=strip_quoted_reply(text or ""),
        received_at=received_at,
        in_reply_to=reply_target(headers.get("In-Reply-To")),
    )


def reply_target(in_reply_to: str | None) -> str | None:
    """Return the id of the message a reply is to, in the form the sending gateway returned.

    SendGrid writes the Message-ID of its sends as
    ``<X-Message-Id@host.sendgrid.net>``, and the ``X-Message-Id`` that Mail
    Send returns is only the part before ``@``, so that part is returned for
    SendGrid hosts. Any other id, such as the SMTP gateway's, is returned
    whole without its angle brackets.
    """
    if not in_reply_to:
        return None
    match = re.search(r"<([^<>\s]+)>", in_reply_to)
    message_id = match.group(1) if match else in_reply_to.strip()
    local, _, domain = message_id.partition("@")
    if domain.lower().endswith("sendgrid.net"):
        return local
    return message_id or None


_QUOTE_HEADER = re.compile(
    # "Em seg., 3 de jun. de 2026 às 10:00, Fulano <x@y> escreveu:" and
    # "On Mon, Jun 3, 2026 at 10:00 AM Someone <x@y> wrote:", which mail
    # clients may wrap over two lines.
    r"^\s*(Em\s.+?escreveu|On\s.+?wrote)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FORWARD_MARKERS = ("-----original message-----", "-----mensagem original-----")
#: The rule of underscores that Outlook puts above the quoted message.
_OUTLOOK_SEPARATOR = re.compile(r"^\s*_{10,}\s*$")


def strip_quoted_reply(text: str) -> str:
    """Remove the quoted earlier messages: ``>`` lines and all from an attribution line on."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        two_lines = line + " " + lines[index + 1] if index + 1 < len(lines) else line
        if _QUOTE_HEADER.match(line) or (
            line.strip().lower().startswith(("em ", "on ")) and _QUOTE_HEADER.match(two_lines)
        ):
            break
        if line.strip().lower() in _FORWARD_MARKERS or _OUTLOOK_SEPARATOR.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _inbound_message_id(headers: Message, fields: Mapping[str, str]) -> str:
    message_id = headers.get("Message-ID")
    if message_id and message_id.strip():
        return message_id.strip().strip("<>")
    # Without a Message-ID, redeliveries of one post still hash the same.
    digest = hashlib.sha256(
        "\0".join(
            fields.get(name, "") for name in ("headers", "from", "to", "subject", "text")
        ).encode()
    ).hexdigest()
    return f"sha256:{digest}"


def _address(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    _name, address = email.utils.parseaddr(value)
    return address.strip().lower() or None


def _envelope(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        envelope = json.loads(raw)
    except ValueError:
        raise InvalidPayload("the envelope field is not JSON") from None
    return envelope if isinstance(envelope, dict) else {}


def _charsets(raw: bytes | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        charsets = json.loads(raw.decode("ascii", "replace"))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in charsets.items()} if isinstance(charsets, dict) else {}


def _decode(value: bytes, charset: str) -> str:
    try:
        return value.decode(charset, "replace")
    except LookupError:
        return value.decode("utf-8", "replace")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "blockquote", "tr"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_to_text(markup: str) -> str:
    # NOTE: quoted history inside <blockquote> is kept as text lines; mail
    # clients that send HTML only are rare, because Inbound Parse gets a text
    # part from almost every client.
    extractor = _TextExtractor()
    extractor.feed(markup)
    return "".join(extractor.parts)
