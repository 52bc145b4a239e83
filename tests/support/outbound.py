"""Outbound messages and checks that the messaging gateway tests share."""

from __future__ import annotations

import socket

import pytest

from application.messaging import MessagingGateway, OutboundMessage, SendError
from domain.qualification import Channel

CONTACT = "+5541987654321"
UNSUBSCRIBE_URL = "https://app.garimpo.invalid/descadastro/tok123"
UNSUBSCRIBE_FOOTER = f"Para não receber mais nossos e-mails, acesse: {UNSUBSCRIBE_URL}"


def phone_message(
    key: str,
    *,
    channel: Channel = Channel.WHATSAPP,
    to: str = CONTACT,
    sender: str | None = None,
    template: str | None = None,
    variables: dict[str, str] | None = None,
    body: str = "Olá! Podemos conversar sobre a sua empresa?",
) -> OutboundMessage:
    """Build a WhatsApp (or SMS) message of tenant-1 to ``to``."""
    return OutboundMessage(
        tenant_id="tenant-1",
        channel=channel,
        to=to,
        body=body,
        idempotency_key=key,
        sender=sender,
        template=template,
        variables=variables or {},
    )


def email_message(
    to: str = "compras@empresa.invalid", key: str = "qualify:p1:email:1", **overrides: object
) -> OutboundMessage:
    """Build an e-mail of tenant-1 with a subject, an unsubscribe link and a reply address."""
    fields: dict[str, object] = {
        "tenant_id": "tenant-1",
        "channel": Channel.EMAIL,
        "to": to,
        "body": "Olá, Maria!\n\nPodemos conversar sobre fornecimento de embalagens?",
        "idempotency_key": key,
        "subject": "Fornecimento de embalagens",
        "variables": {"unsubscribe_url": UNSUBSCRIBE_URL, "reply_to": "respostas@garimpo.invalid"},
    }
    fields.update(overrides)
    return OutboundMessage(**fields)  # type: ignore[arg-type]


async def send_error(gateway: MessagingGateway, message: OutboundMessage) -> SendError:
    """Send ``message`` and return the SendError it must raise."""
    with pytest.raises(SendError) as caught:
        await gateway.send(message)
    return caught.value


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on, so a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
