"""What the messaging providers tell Garimpo, once their webhook signature has been checked.

The webhook routes turn each provider's wire format into these events and
hand them to ``ProviderEvents``. Every event carries an ``event_id`` that is
the same each time the provider redelivers it, so each is processed once.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import attrs

from domain.qualification import Channel, DeliveryStatus


@attrs.frozen(kw_only=True)
class InboundReply:
    """A message a contact sent to one of the tenant's numbers or addresses."""

    provider: str
    channel: Channel
    #: The provider's id of this inbound message; also its deduplication key.
    provider_message_id: str
    #: The contact: E.164 number, a WhatsApp id (digits only) or an e-mail address.
    sender: str
    #: The tenant's number or address that received it, when the provider reports it.
    recipient: str | None
    body: str
    received_at: dt.datetime
    #: The provider's id of the outbound message this replies to, when the provider reports it.
    in_reply_to: str | None = None
    #: True when the provider itself marked the message as an opt-out (Twilio's STOP).
    provider_opt_out: bool = False


@attrs.frozen(kw_only=True)
class StatusReport:
    """A delivery status of one outbound message."""

    provider: str
    #: Unique per report and stable across redeliveries.
    event_id: str
    provider_message_id: str | None
    #: The idempotency key the send carried, echoed back by the provider.
    idempotency_key: str | None
    status: DeliveryStatus
    occurred_at: dt.datetime
    error_code: str | None = None


@attrs.frozen(kw_only=True)
class Unsubscribed:
    """The provider recorded an opt-out itself: an e-mail unsubscribe or spam report."""

    provider: str
    event_id: str
    channel: Channel
    address: str
    occurred_at: dt.datetime
    idempotency_key: str | None = None


class ProviderEvents(Protocol):
    async def reply(self, reply: InboundReply) -> None:
        """Store a reply and move its pre-lead's qualification; a repeated id does nothing."""
        ...

    async def status(self, report: StatusReport) -> None:
        """Move an outbound message's status forward; a repeated event does nothing."""
        ...

    async def unsubscribed(self, event: Unsubscribed) -> None:
        """Record an opt-out reported by the provider; a repeated event does nothing."""
        ...
