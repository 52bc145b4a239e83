"""The Twilio messaging gateway: WhatsApp and SMS through Twilio's Programmable Messaging.

Each send is one ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
made by the ``twilio`` package's ``Client`` over its ``AsyncTwilioHttpClient``
(aiohttp). The async client was chosen over ``asyncio.to_thread`` around the
blocking client because sends come from event-loop workers in bursts, and a
pooled aiohttp session costs neither a thread per send nor a second
connection pool.

A send names the tenant's sender number (``From``) when the message carries
one, else the Messaging Service (``MessagingServiceSid``), Twilio's sender
pool. A WhatsApp first contact uses an approved template through the Content
API (``ContentSid`` and ``ContentVariables``). ``StatusCallback`` points at
``/v1/webhooks/twilio?key=<idempotency key>``, so each status callback
carries the key back to the webhook route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from urllib.parse import quote

import aiohttp
import structlog
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageList

from adapters.messaging.failures import classify_provider_error
from adapters.messaging.receipts import ReceiptMemory
from application.messaging import OutboundMessage, SendError, SendReceipt
from domain.qualification import Channel, SendFailure

log = structlog.get_logger(__name__)

PROVIDER = "twilio"
WHATSAPP_PREFIX = "whatsapp:"
#: Path of the webhook route that receives status callbacks and inbound messages.
WEBHOOK_PATH = "/v1/webhooks/twilio"

#: Twilio error codes that mean the address cannot be reached on this channel,
#: so the flow moves on to the next one. Twilio's error dictionary describes
#: each code at twilio.com/docs/api/errors/<code>.
NOT_ON_CHANNEL_CODES = frozenset(
    {
        21612,  # the To number is not reachable via SMS
        21614,  # To is not a valid mobile number (a landline for SMS)
        63003,  # the channel could not find the To address
        63024,  # invalid message recipient: not a WhatsApp user, or Meta restricts it
    }
)
#: Twilio error codes that may pass: rate limits and Twilio-side failures.
RETRYABLE_CODES = frozenset(
    {
        20429,  # too many requests
        20500,  # internal server error
        20503,  # service unavailable
        63018,  # rate limit exceeded for the WhatsApp channel
    }
)

#: Receipts kept in memory for replays of the same key within one process.
_RECEIPT_CAPACITY = 10_000


def classify_twilio_error(http_status: int | None, code: int | None) -> SendFailure:
    """Return how the flow should treat a Twilio error.

    The error code decides first. A code outside the known lists falls back
    to the HTTP status: 429 and 5xx may pass, every other status is final.
    Status callbacks report the same codes asynchronously (``ErrorCode``),
    so the qualification engine can call this for them too.
    """
    return classify_provider_error(
        http_status, code, not_on_channel=NOT_ON_CHANNEL_CODES, retryable=RETRYABLE_CODES
    )


class TwilioMessaging:
    """Sends WhatsApp and SMS messages through Twilio's REST API."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        public_base_url: str,
        messaging_service_sid: str | None = None,
        api_url: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("Twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}.")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._status_callback_base = public_base_url.rstrip("/") + WEBHOOK_PATH
        self._messaging_service_sid = messaging_service_sid
        self._api_url = api_url.rstrip("/") if api_url else None
        self._timeout_seconds = timeout_seconds
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None
        self._receipts = ReceiptMemory(PROVIDER, capacity=_RECEIPT_CAPACITY)

    @property
    def provider(self) -> str:
        return PROVIDER

    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.WHATSAPP, Channel.SMS})

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if message.channel not in self.channels():
            raise SendError(
                SendFailure.NOT_ON_CHANNEL,
                "unsupported_channel",
                f"Twilio does not send on {message.channel.value}",
            )

        # Twilio's Messages API takes no idempotency key. The memory stops a
        # replay within this process, and the engine's message_send record
        # stops one from any other process.
        return await self._receipts.send_once(
            message.idempotency_key, lambda: self._create(message)
        )

    async def aclose(self) -> None:
        """Close the HTTP session. Call it once, when the process stops."""
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None

    async def _create(self, message: OutboundMessage) -> str:
        fields = self._message_fields(message)
        try:
            async with asyncio.timeout(self._timeout_seconds):
                created = await self._messages().create_async(**fields)
        except (TwilioRestException, TwilioServiceException) as error:
            raise self._send_error(error) from error
        except TimeoutError:
            raise SendError(
                SendFailure.RETRYABLE,
                "timeout",
                f"Twilio did not respond within {self._timeout_seconds} s",
            ) from None
        except aiohttp.ClientError as error:
            raise SendError(
                SendFailure.RETRYABLE, "connection_error", f"Twilio unreachable: {error}"
            ) from error

        provider_message_id = str(created.sid)
        log.info(
            "message_sent",
            provider=PROVIDER,
            channel=message.channel.value,
            tenant_id=message.tenant_id,
            provider_message_id=provider_message_id,
        )
        return provider_message_id

    def _messages(self) -> MessageList:
        # The aiohttp session is created on the first send, inside the running
        # event loop, because ClientSession binds to the loop it starts in.
        if self._client is None:
            self._http = AsyncTwilioHttpClient()
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http)
            if self._api_url is not None:
                # twilio 9 has no base URL option. Domain.base_url is the
                # origin every API request starts from, and edge and region
                # would rewrite the host name, so they are cleared.
                self._client.api.base_url = self._api_url
                self._client.edge = None
                self._client.region = None
        return self._client.messages

    def _message_fields(self, message: OutboundMessage) -> dict[str, object]:
        whatsapp = message.channel is Channel.WHATSAPP
        fields: dict[str, object] = {
            "to": _address(message.to, whatsapp),
            "status_callback": (
                f"{self._status_callback_base}?key={quote(message.idempotency_key, safe='')}"
            ),
        }

        if message.sender:
            fields["from_"] = _address(message.sender, whatsapp)
        elif self._messaging_service_sid:
            fields["messaging_service_sid"] = self._messaging_service_sid
        else:
            raise SendError(
                SendFailure.PERMANENT,
                "no_sender",
                "the message names no sender and TWILIO_MESSAGING_SERVICE_SID is not set",
            )

        if message.template:
            fields["content_sid"] = message.template
            if message.variables:
                fields["content_variables"] = _content_variables(message.variables)
        else:
            fields["body"] = message.body
        return fields

    def _send_error(self, error: TwilioRestException | TwilioServiceException) -> SendError:
        code = error.code if isinstance(error.code, int) else None
        failure = classify_twilio_error(error.status, code)
        message = error.msg if isinstance(error, TwilioRestException) else error.title
        log.warning(
            "message_send_failed",
            provider=PROVIDER,
            http_status=error.status,
            error_code=code,
            failure=failure.value,
        )
        return SendError(failure, str(code if code is not None else error.status), message)


def _address(number: str, whatsapp: bool) -> str:
    if whatsapp and not number.startswith(WHATSAPP_PREFIX):
        return WHATSAPP_PREFIX + number
    return number


def _content_variables(variables: Mapping[str, str]) -> str:
    # ContentVariables is a JSON object of strings keyed by the Content API placeholders (1, 2, ...).
    return json.dumps({str(name): str(value) for name, value in variables.items()})
