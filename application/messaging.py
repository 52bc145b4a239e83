"""The messaging port: one way to send WhatsApp, SMS and e-mail, whatever the provider.

Each send carries an idempotency key. A gateway that sees a key again
answers with the first send's receipt and sends nothing, so a worker killed
between the provider's answer and its own commit can safely try again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs

from domain.qualification import Channel, SendFailure


@attrs.frozen(kw_only=True)
class OutboundMessage:
    tenant_id: str
    channel: Channel
    #: E.164 number for WhatsApp and SMS, address for e-mail.
    to: str
    body: str
    idempotency_key: str
    #: Sender number or address from the tenant's pool; None lets the gateway choose.
    sender: str | None = None
    #: Approved WhatsApp template and its variables, for a first contact.
    template: str | None = None
    variables: Mapping[str, str] = attrs.field(factory=dict)
    subject: str | None = None


@attrs.frozen
class SendReceipt:
    provider: str
    provider_message_id: str
    #: True when the key had been sent before and nothing new went out.
    replayed: bool = False


class SendError(Exception):
    """A send that did not go out. Its ``failure`` decides whether the flow retries or moves on."""

    def __init__(self, failure: SendFailure, code: str, message: str) -> None:
        super().__init__(f"{failure.value}: {code}: {message}")
        self.failure = failure
        self.code = code
        self.message = message


class MessagingGateway(Protocol):
    @property
    def provider(self) -> str: ...

    def channels(self) -> frozenset[Channel]:
        """Return the channels this gateway sends on."""
        ...

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send once per idempotency key; raise SendError when the message did not go out."""
        ...
