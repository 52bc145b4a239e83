"""The SendGrid e-mail gateway: v3 Mail Send through the ``sendgrid`` package.

Each message is one ``POST /v3/mail/send`` with a JSON body of
``personalizations`` (the recipient and ``custom_args``), ``from``,
``reply_to``, ``subject``, ``content`` (text/plain first, then text/html, the
order SendGrid requires) and ``headers``. SendGrid responds with 202 and the
message id in the ``X-Message-Id`` response header, and echoes every custom
argument as a top-level key of each Event Webhook event, which is how a
status maps back to the send (``idempotency_key``) and its tenant.

The package's client is blocking (urllib), so each call runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
from typing import Any

import structlog
from python_http_client.client import Response
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from adapters.messaging.email_content import (
    html_body,
    reply_to_address,
    require_email,
    sender_address,
    text_body,
    unsubscribe_headers,
    unsubscribe_url,
)
from adapters.messaging.receipts import ReceiptMemory
from adapters.sandbox.email import mask_address
from application.messaging import OutboundMessage, SendError, SendReceipt
from domain.qualification import Channel, SendFailure

log = structlog.get_logger(__name__)

PROVIDER = "sendgrid"
#: Custom arguments SendGrid echoes in every event of the message.
IDEMPOTENCY_KEY_ARG = "idempotency_key"
TENANT_ID_ARG = "tenant_id"
DEFAULT_TIMEOUT_SECONDS = 10.0


class SendGridMessaging:
    """Sends e-mail through SendGrid's v3 Mail Send API, once per idempotency key in this process."""

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str,
        default_sender: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not api_key:
            raise ValueError("The SendGrid API key is empty: set SENDGRID_API_KEY.")
        if not api_url:
            raise ValueError("The SendGrid API URL is empty: set SENDGRID_API_URL.")
        self._client = SendGridAPIClient(api_key, host=api_url.rstrip("/"))
        self._default_sender = default_sender
        self._timeout_seconds = timeout_seconds
        self._receipts = ReceiptMemory(PROVIDER)

    @property
    def provider(self) -> str:
        return PROVIDER

    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.EMAIL})

    async def send(self, message: OutboundMessage) -> SendReceipt:
        require_email(message, PROVIDER)
        payload = build_mail_payload(message, self._default_sender)

        return await self._receipts.send_once(
            message.idempotency_key, lambda: self._send_payload(message, payload)
        )

    async def _send_payload(self, message: OutboundMessage, payload: dict[str, Any]) -> str:
        response = await self._post(payload)
        message_id: str | None = response.headers.get("X-Message-Id")
        if not message_id:
            # SendGrid accepted the message, so raising would send it again.
            log.warning("sendgrid_message_id_missing", status=response.status_code)
            message_id = f"missing:{message.idempotency_key}"

        log.info(
            "email_sent",
            provider=PROVIDER,
            tenant_id=message.tenant_id,
            to=mask_address(message.to),
            provider_message_id=message_id,
        )
        return message_id

    async def _post(self, payload: dict[str, Any]) -> Response:
        try:
            return await asyncio.to_thread(self._post_blocking, payload)
        except HTTPError as error:
            raise send_error_for_status(error.status_code, _error_messages(error.body)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            log.warning("sendgrid_unreachable", error=str(error))
            raise SendError(
                SendFailure.RETRYABLE,
                "provider_unreachable",
                f"SendGrid did not respond: {error}",
            ) from None

    def _post_blocking(self, payload: dict[str, Any]) -> Response:
        return self._client.client.mail.send.post(
            request_body=payload, timeout=self._timeout_seconds
        )


def build_mail_payload(message: OutboundMessage, default_sender: str) -> dict[str, Any]:
    """Build the v3 Mail Send body of one message."""
    url = unsubscribe_url(message)
    custom_args = {
        IDEMPOTENCY_KEY_ARG: message.idempotency_key,
        TENANT_ID_ARG: message.tenant_id,
    }
    payload: dict[str, Any] = {
        "personalizations": [{"to": [{"email": message.to}], "custom_args": custom_args}],
        "from": {"email": sender_address(message, default_sender)},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": text_body(message, url)},
            {"type": "text/html", "value": html_body(message, url)},
        ],
    }

    reply_to = reply_to_address(message)
    if reply_to is not None:
        payload["reply_to"] = {"email": reply_to}

    headers = unsubscribe_headers(url)
    if headers:
        payload["headers"] = headers
    return payload


def send_error_for_status(status: int, detail: str) -> SendError:
    """Map a SendGrid error status to a SendError: retry what may pass, give up on the rest."""
    if status == 401:
        return SendError(
            SendFailure.PERMANENT, "provider_auth", f"SendGrid rejected the API key: {detail}"
        )
    if status == 403:
        return SendError(
            SendFailure.PERMANENT, "provider_forbidden", f"SendGrid refused the send: {detail}"
        )
    if status == 429:
        return SendError(SendFailure.RETRYABLE, "rate_limited", f"SendGrid rate limit: {detail}")
    if status >= 500:
        return SendError(
            SendFailure.RETRYABLE, "provider_error", f"SendGrid failed with {status}: {detail}"
        )
    return SendError(
        SendFailure.PERMANENT,
        "invalid_request",
        f"SendGrid rejected the message ({status}): {detail}",
    )


def _error_messages(body: bytes | str | None) -> str:
    """Join the ``errors[].message`` of a SendGrid error body, or return the body as text."""
    if not body:
        return "no error body"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors") or []
        messages = [str(item.get("message")) for item in errors if isinstance(item, dict)]
    except (ValueError, AttributeError):
        return text[:300]
    return "; ".join(messages) or text[:300]
