"""The plain SMTP e-mail gateway, through the standard library's ``smtplib`` in a thread.

Each send opens one connection, upgrades it with STARTTLS when configured,
logs in when a username is set, sends one message and quits. The gateway
writes the ``Message-ID`` itself, derived from the tenant and the
idempotency key, so a retried send carries the same id and a reply's
``In-Reply-To`` names it. The id without its angle brackets is the receipt's
``provider_message_id``.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import smtplib
import ssl
from email.message import EmailMessage

import structlog

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

PROVIDER = "smtp"
IDEMPOTENCY_HEADER = "X-Garimpo-Idempotency-Key"
DEFAULT_TIMEOUT_SECONDS = 30.0


class SmtpMessaging:
    """Sends e-mail to an SMTP server, once per idempotency key in this process."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        default_sender: str,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise ValueError("The SMTP host is empty: set SMTP_HOST.")
        if username and not starttls:
            # smtplib would send the password in clear text.
            raise ValueError(
                "SMTP_USERNAME needs SMTP_STARTTLS=true, so the password is encrypted."
            )
        self._host = host
        self._port = port
        self._default_sender = default_sender
        self._starttls = starttls
        self._username = username
        self._password = password or ""
        self._timeout_seconds = timeout_seconds
        self._tls_context = tls_context or ssl.create_default_context()
        self._receipts = ReceiptMemory(PROVIDER)

    @property
    def provider(self) -> str:
        return PROVIDER

    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.EMAIL})

    async def send(self, message: OutboundMessage) -> SendReceipt:
        require_email(message, PROVIDER)
        mime = build_mime_message(message, self._default_sender)
        return await self._receipts.send_once(
            message.idempotency_key, lambda: self._send_mime(message, mime)
        )

    async def _send_mime(self, message: OutboundMessage, mime: EmailMessage) -> str:
        message_id: str = mime["Message-ID"].strip("<>")
        await asyncio.to_thread(self._deliver, mime)

        log.info(
            "email_sent",
            provider=PROVIDER,
            tenant_id=message.tenant_id,
            to=mask_address(message.to),
            provider_message_id=message_id,
        )
        return message_id

    def _deliver(self, mime: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_seconds) as client:
                client.ehlo()
                if self._starttls:
                    client.starttls(context=self._tls_context)
                    client.ehlo()
                if self._username:
                    client.login(self._username, self._password)
                client.send_message(mime)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _refusal(code, reply, "recipient_refused") from None
        except smtplib.SMTPAuthenticationError as error:
            raise SendError(
                SendFailure.PERMANENT,
                "provider_auth",
                f"the SMTP server rejected the login: {error.smtp_code}",
            ) from None
        except smtplib.SMTPSenderRefused as error:
            raise _refusal(error.smtp_code, error.smtp_error, "sender_refused") from None
        except smtplib.SMTPDataError as error:
            raise _refusal(error.smtp_code, error.smtp_error, "message_refused") from None
        except smtplib.SMTPNotSupportedError as error:
            raise SendError(SendFailure.PERMANENT, "smtp_not_supported", str(error)) from None
        except smtplib.SMTPResponseException as error:
            raise _refusal(error.smtp_code, error.smtp_error, "smtp_error") from None
        except (smtplib.SMTPException, OSError) as error:
            # Connection refused or reset, timeouts, TLS failures, a dropped session.
            log.warning("smtp_unreachable", host=self._host, port=self._port, error=str(error))
            raise SendError(
                SendFailure.RETRYABLE,
                "provider_unreachable",
                f"the SMTP server did not respond: {error}",
            ) from None


def build_mime_message(message: OutboundMessage, default_sender: str) -> EmailMessage:
    """Build the MIME message: text/plain with an HTML alternative, and the tracking headers."""
    url = unsubscribe_url(message)
    sender = sender_address(message, default_sender)

    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = message_id_for(message, sender)
    reply_to = reply_to_address(message)
    if reply_to is not None:
        mime["Reply-To"] = reply_to
    for name, value in unsubscribe_headers(url).items():
        mime[name] = value
    mime[IDEMPOTENCY_HEADER] = message.idempotency_key

    mime.set_content(text_body(message, url))
    mime.add_alternative(html_body(message, url), subtype="html")
    return mime


def message_id_for(message: OutboundMessage, sender: str) -> str:
    """Return ``<digest@sender domain>``, the same for every send of one tenant and key."""
    digest = hashlib.sha256(f"{message.tenant_id}\0{message.idempotency_key}".encode()).hexdigest()
    domain = sender.rpartition("@")[2].strip(" >") or "garimpo.invalid"
    return f"<{digest[:32]}@{domain}>"


def _refusal(code: int, reply: bytes | str, what: str) -> SendError:
    """Map an SMTP reply: 5xx is final for this message, and 4xx means try again later."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    failure = SendFailure.PERMANENT if 500 <= code < 600 else SendFailure.RETRYABLE
    return SendError(failure, what, f"the SMTP server answered {code}: {text}")
