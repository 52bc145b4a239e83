"""One messaging port over several providers: each channel goes to the gateway configured for it."""

from __future__ import annotations

from collections.abc import Mapping

from application.messaging import MessagingGateway, OutboundMessage, SendError, SendReceipt
from domain.qualification import Channel, SendFailure


class ChannelRouter:
    def __init__(self, gateways: Mapping[Channel, MessagingGateway]) -> None:
        self._gateways = dict(gateways)

    @property
    def provider(self) -> str:
        return "+".join(sorted({gateway.provider for gateway in self._gateways.values()}))

    def channels(self) -> frozenset[Channel]:
        return frozenset(self._gateways)

    def gateway(self, channel: Channel) -> MessagingGateway | None:
        return self._gateways.get(channel)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        gateway = self._gateways.get(message.channel)
        if gateway is None:
            raise SendError(
                SendFailure.NOT_ON_CHANNEL,
                "channel_off",
                f"no provider is configured for {message.channel.value}",
            )
        return await gateway.send(message)
