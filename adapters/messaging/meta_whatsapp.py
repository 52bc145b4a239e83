"""The Meta WhatsApp Cloud API gateway: WhatsApp messages straight through Meta's Graph API.

Each send is ``POST {graph_url}/{version}/{phone_number_id}/messages`` with a
Bearer access token and a JSON body. A first contact is a ``template``
message (Meta allows free text only inside the 24-hour customer service
window that a contact's own message opens), and a reply inside that window
is a ``text`` message. The idempotency key travels in
``biz_opaque_callback_data``, which Meta echoes in the status webhooks of the
message. A success returns ``{"messages": [{"id": "wamid..."}]}``, and an
error ``{"error": {"code", "message", "error_data": {"details"}}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from adapters.messaging.failures import classify_provider_error
from adapters.messaging.receipts import ReceiptMemory
from application.messaging import OutboundMessage, SendError, SendReceipt
from domain.qualification import Channel, SendFailure

log = structlog.get_logger(__name__)

PROVIDER = "meta"

#: Meta error codes for an address that has no WhatsApp (or cannot receive
#: business messages), so the flow moves on to SMS. Source: Meta's "WhatsApp
#: error codes" page of the Cloud API documentation.
NOT_ON_CHANNEL_CODES = frozenset(
    {
        131026,  # message undeliverable: not on WhatsApp, old app, terms not accepted
    }
)
#: Meta error codes that may pass with time: throughput and pair rate limits,
#: and Meta-side failures.
RETRYABLE_CODES = frozenset(
    {
        1,  # API unknown: possibly a server error
        2,  # API service: temporary downtime or overload
        4,  # application request limit reached
        80007,  # WhatsApp Business Account rate limit
        130429,  # Cloud API throughput reached
        131000,  # something went wrong
        131016,  # service unavailable
        131048,  # spam rate limit on the sending number
        131056,  # (business, consumer) pair rate limit
        133004,  # server temporarily unavailable
    }
)

#: Receipts kept in memory for replays of the same key within one process.
_RECEIPT_CAPACITY = 10_000


def classify_meta_error(http_status: int | None, code: int | None) -> SendFailure:
    """Return how the flow should treat a Meta error.

    The error code decides first. An unknown code falls back to the HTTP
    status: 429 and 5xx may pass, every other status is final, which covers
    131047 (outside the 24-hour window) and template errors. Status webhooks
    carry the same codes in ``errors[]``.
    """
    return classify_provider_error(
        http_status, code, not_on_channel=NOT_ON_CHANNEL_CODES, retryable=RETRYABLE_CODES
    )


class MetaWhatsAppMessaging:
    """Sends WhatsApp messages through the Meta WhatsApp Cloud API."""

    def __init__(
        self,
        *,
        access_token: str,
        graph_url: str,
        api_version: str = "v21.0",
        phone_number_id: str | None = None,
        template_language: str = "pt_BR",
        timeout_seconds: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("The Meta WhatsApp gateway needs META_ACCESS_TOKEN.")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}.")
        self._access_token = access_token
        self._base_url = f"{graph_url.rstrip('/')}/{api_version}"
        self._phone_number_id = phone_number_id
        self._template_language = template_language
        self._timeout = httpx.Timeout(timeout_seconds)
        self._timeout_seconds = timeout_seconds
        self._http = http_client
        self._owns_http = http_client is None
        self._receipts = ReceiptMemory(PROVIDER, capacity=_RECEIPT_CAPACITY)

    @property
    def provider(self) -> str:
        return PROVIDER

    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.WHATSAPP})

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if message.channel is not Channel.WHATSAPP:
            raise SendError(
                SendFailure.NOT_ON_CHANNEL,
                "unsupported_channel",
                f"the WhatsApp Cloud API does not send on {message.channel.value}",
            )
        phone_number_id = message.sender or self._phone_number_id
        if not phone_number_id:
            raise SendError(
                SendFailure.PERMANENT,
                "no_sender",
                "the message names no sender and META_PHONE_NUMBER_ID is not set",
            )

        # The Cloud API takes no idempotency key. The memory stops a replay
        # within this process, and the engine's message_send record stops one
        # from any other process.
        return await self._receipts.send_once(
            message.idempotency_key, lambda: self._post(phone_number_id, message)
        )

    async def aclose(self) -> None:
        """Close the HTTP client when this gateway opened it."""
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    async def _post(self, phone_number_id: str, message: OutboundMessage) -> str:
        try:
            response = await self._client().post(
                f"{self._base_url}/{phone_number_id}/messages",
                json=self._message_body(message),
                headers={"Authorization": f"Bearer {self._access_token}"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            raise SendError(
                SendFailure.RETRYABLE,
                "timeout",
                f"Meta did not respond within {self._timeout_seconds} s",
            ) from None
        except httpx.TransportError as error:
            raise SendError(
                SendFailure.RETRYABLE, "connection_error", f"Meta unreachable: {error}"
            ) from error

        if response.status_code >= 300:
            raise self._send_error(response)

        provider_message_id = _message_id(response)
        log.info(
            "message_sent",
            provider=PROVIDER,
            channel=message.channel.value,
            tenant_id=message.tenant_id,
            provider_message_id=provider_message_id,
        )
        return provider_message_id

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient()
        return self._http

    def _message_body(self, message: OutboundMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.removeprefix("+"),
            "biz_opaque_callback_data": message.idempotency_key,
        }
        if message.template:
            body["type"] = "template"
            body["template"] = {
                "name": message.template,
                "language": {"code": self._template_language},
                "components": _template_components(message.variables),
            }
        else:
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": message.body}
        return body

    def _send_error(self, response: httpx.Response) -> SendError:
        error = _error_object(response)
        code = error.get("code") if isinstance(error.get("code"), int) else None
        failure = classify_meta_error(response.status_code, code)
        details = (
            error.get("error_data", {}).get("details")
            if isinstance(error.get("error_data"), dict)
            else None
        )
        text = str(details or error.get("message") or f"HTTP {response.status_code}")
        log.warning(
            "message_send_failed",
            provider=PROVIDER,
            http_status=response.status_code,
            error_code=code,
            failure=failure.value,
        )
        return SendError(failure, str(code if code is not None else response.status_code), text)


def _template_components(variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """Build the body component: positional parameters for {{1}}, {{2}}, else named ones."""
    if not variables:
        return []
    if all(name.isascii() and name.isdigit() for name in variables):
        ordered = sorted(variables.items(), key=lambda item: int(item[0]))
        parameters = [{"type": "text", "text": value} for _name, value in ordered]
    else:
        parameters = [
            {"type": "text", "parameter_name": name, "text": value}
            for name, value in variables.items()
        ]
    return [{"type": "body", "parameters": parameters}]


def _error_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


def _message_id(response: httpx.Response) -> str:
    try:
        payload = response.json()
        message_id = payload["messages"][0]["id"]
    except (ValueError, KeyError, IndexError, TypeError):
        message_id = None
    if not isinstance(message_id, str) or not message_id:
        # Meta accepted the request, so the message may be out. A retry could
        # send it twice, but the flow has no id to follow it by otherwise.
        raise SendError(
            SendFailure.RETRYABLE,
            "invalid_response",
            f"Meta answered HTTP {response.status_code} without messages[0].id",
        )
    return message_id
