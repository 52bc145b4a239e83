"""A local fake of SendGrid on 127.0.0.1: v3 Mail Send, and the webhooks SendGrid posts.

Mail Send speaks SendGrid's wire format: ``POST /v3/mail/send`` with a
Bearer API key (401 with ``{"errors": [...]}`` when wrong), a JSON body of
``personalizations``, ``from``, ``subject``, ``content`` and optional
``reply_to``, ``headers`` and ``custom_args``, which returns 202 with an empty
body and the ``X-Message-Id`` header. Each accepted message is recorded with
the idempotency key of its custom arguments.

Failures are scripted per recipient address: a status returned a number of
times (400, 429, 500), or a delay before answering (a slow response).

The fake holds an ECDSA P-256 key pair and builds Event Webhook batches and
Inbound Parse posts signed the way SendGrid signs them: the signature covers
the ``X-Twilio-Email-Event-Webhook-Timestamp`` value followed by the raw body,
DER-encoded and base64'd into ``X-Twilio-Email-Event-Webhook-Signature``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.messaging.signatures import SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER
from tests.support.http_server import LoopbackServer

API_KEY = "SG.garimpo-fake-sendgrid.key"


@attrs.frozen
class SentMail:
    """One message the fake accepted: its id, the JSON body and the recipient."""

    message_id: str
    to: str
    body: dict[str, Any]

    @property
    def custom_args(self) -> dict[str, str]:
        merged = dict(self.body.get("custom_args") or {})
        merged.update(self.body["personalizations"][0].get("custom_args") or {})
        return merged

    @property
    def idempotency_key(self) -> str | None:
        return self.custom_args.get("idempotency_key")

    def content(self, media_type: str) -> str | None:
        for part in self.body.get("content", []):
            if part["type"] == media_type:
                return str(part["value"])
        return None


@attrs.define
class ScriptedFailure:
    """The fake's response for one recipient: ``status`` ``times`` times, after ``delay`` seconds."""

    status: int | None = None
    times: int = 1_000_000
    delay: float = 0.0


@attrs.frozen
class SignedRequest:
    """A webhook request as SendGrid sends it: exact body bytes and headers."""

    body: bytes
    headers: dict[str, str]


class SigningKey:
    """An ECDSA P-256 key pair that signs like SendGrid; ``public_key`` is what its settings page shows."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_key(self) -> str:
        der = self._private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    @property
    def public_key_pem(self) -> str:
        return (
            self._private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def sign(self, body: bytes, timestamp: int) -> dict[str, str]:
        signature = self._private.sign(
            str(timestamp).encode("ascii") + body, ec.ECDSA(hashes.SHA256())
        )
        return {
            SENDGRID_SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
            SENDGRID_TIMESTAMP_HEADER: str(timestamp),
        }


class FakeSendGrid(LoopbackServer):
    """SendGrid's Mail Send API, plus signed Event Webhook batches and Inbound Parse posts."""

    def __init__(self, *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.sent: list[SentMail] = []
        #: Requests of any kind, accepted or not, as (recipient, status).
        self.attempts: list[tuple[str, int]] = []
        self.failures: dict[str, ScriptedFailure] = {}
        self.event_key = SigningKey()
        self.inbound_key = SigningKey()

        app = web.Application()
        app.router.add_post("/v3/mail/send", self._mail_send)
        super().__init__(app)

    # --- scripting -----------------------------------------------------------------------

    def fail(self, recipient: str, status: int, *, times: int = 1_000_000) -> None:
        """Respond with ``status`` to the next ``times`` sends to ``recipient``."""
        self.failures[recipient] = ScriptedFailure(status=status, times=times)

    def delay(self, recipient: str, seconds: float) -> None:
        """Wait ``seconds`` before answering sends to ``recipient``."""
        self.failures[recipient] = ScriptedFailure(delay=seconds)

    def sent_keys(self) -> list[str | None]:
        return [mail.idempotency_key for mail in self.sent]

    # --- Mail Send -----------------------------------------------------------------------

    async def _mail_send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _errors(401, "The provided authorization grant is invalid, expired, or revoked")
        try:
            body = await request.json()
        except ValueError:
            return _errors(400, "Bad Request")

        problem = _validate_mail(body)
        recipient = _first_recipient(body)
        if problem is not None:
            self.attempts.append((recipient or "", 400))
            return _errors(400, problem)
        assert recipient is not None

        scripted = self.failures.get(recipient)
        if scripted is not None and scripted.delay:
            await asyncio.sleep(scripted.delay)
        if scripted is not None and scripted.status is not None and scripted.times > 0:
            scripted.times -= 1
            self.attempts.append((recipient, scripted.status))
            return _errors(scripted.status, f"scripted failure {scripted.status}")

        message_id = secrets.token_urlsafe(16)[:22]
        self.sent.append(SentMail(message_id=message_id, to=recipient, body=body))
        self.attempts.append((recipient, 202))
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    # --- Event Webhook -------------------------------------------------------------------

    def event(
        self, mail: SentMail, kind: str, *, timestamp: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Build one event about ``mail`` as SendGrid posts it, custom_args as top-level keys."""
        event: dict[str, Any] = {
            "email": mail.to,
            "timestamp": int(time.time()) if timestamp is None else timestamp,
            "event": kind,
            "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
            "sg_message_id": f"{mail.message_id}.filterdrecv-5bd7f4bd5-2kx8w-1-6750A6C8-3.0",
            "smtp-id": f"<{mail.message_id}@geopod-ismtpd-1>",
            **mail.custom_args,
        }
        event.update(extra)
        return event

    def event_batch(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        timestamp: int | None = None,
        key: SigningKey | None = None,
    ) -> SignedRequest:
        """Serialise ``events`` the way SendGrid does (compact JSON, CRLF at the end) and sign it."""
        body = (
            json.dumps(list(events), separators=(",", ":"), ensure_ascii=False).encode() + b"\r\n"
        )
        moment = int(time.time()) if timestamp is None else timestamp
        signer = key or self.event_key
        return SignedRequest(
            body, {"Content-Type": "application/json", **signer.sign(body, moment)}
        )

    # --- Inbound Parse -------------------------------------------------------------------

    def inbound(
        self,
        fields: Mapping[str, str],
        *,
        timestamp: int | None = None,
        key: SigningKey | None = None,
        charsets: Mapping[str, str] | None = None,
        attachments: Mapping[str, bytes] | None = None,
    ) -> SignedRequest:
        """Encode an Inbound Parse post as multipart/form-data and sign its exact bytes.

        ``charsets`` names the encoding of a field (UTF-8 otherwise), and the
        post carries the ``charsets`` JSON field as SendGrid's does. Each
        attachment becomes a file part ``attachment1``, ``attachment2``...
        """
        boundary = f"xYzZY{uuid.uuid4().hex}"
        encodings = dict(charsets or {})
        parts: list[bytes] = []
        for name, value in fields.items():
            parts.append(_form_part(boundary, name, value.encode(encodings.get(name, "utf-8"))))
        named = {name: encodings.get(name, "UTF-8") for name in fields}
        parts.append(_form_part(boundary, "charsets", json.dumps(named).encode()))
        for index, (filename, content) in enumerate((attachments or {}).items(), start=1):
            parts.append(_form_part(boundary, f"attachment{index}", content, filename=filename))
        parts.append(_form_part(boundary, "attachments", str(len(attachments or {})).encode()))
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()

        moment = int(time.time()) if timestamp is None else timestamp
        signer = key or self.inbound_key
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **signer.sign(body, moment),
        }
        return SignedRequest(body, headers)


def _form_part(boundary: str, name: str, content: bytes, *, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}"
    if filename is not None:
        head += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'
    return head.encode() + b"\r\n\r\n" + content + b"\r\n"


def reply_headers(*, message_id: str, in_reply_to: str | None, sender: str) -> str:
    """Build the raw header block of a reply, as Inbound Parse's ``headers`` field carries it."""
    lines = [
        "Received: by mx.sendgrid.net with SMTP id test",
        f"From: {sender}",
        "To: respostas@garimpo.invalid",
        "Subject: Re: Proposta",
        f"Message-ID: <{message_id}>",
        "Date: Thu, 04 Dec 2026 10:15:00 -0300",
    ]
    if in_reply_to is not None:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
        lines.append(f"References: <{in_reply_to}>")
    return "\r\n".join(lines) + "\r\n"


def _first_recipient(body: Any) -> str | None:
    try:
        return str(body["personalizations"][0]["to"][0]["email"])
    except (KeyError, IndexError, TypeError):
        return None


def _validate_mail(body: Any) -> str | None:
    """Return SendGrid's message for the first problem of a Mail Send body, or None."""
    if not isinstance(body, dict):
        return "Bad Request"
    if not body.get("personalizations"):
        return "The personalizations field is required and must have at least one personalization."
    recipient = _first_recipient(body)
    if recipient is None or "@" not in recipient:
        return "Does not contain a valid address."
    if not isinstance(body.get("from"), dict) or "@" not in str(body["from"].get("email", "")):
        return "The from object must be provided for every email send."
    if not body.get("subject"):
        return "The subject is required."
    content = body.get("content") or []
    if not content:
        return "Unless a valid template_id is provided, the content parameter is required."
    if content[0].get("type") != "text/plain" and any(
        p.get("type") == "text/plain" for p in content
    ):
        return "If present, text/plain must be first, followed by any other content."
    for args in (body.get("custom_args"), body["personalizations"][0].get("custom_args")):
        if args is not None and not all(isinstance(value, str) for value in args.values()):
            return "Custom args must be strings."
    return None


def _errors(status: int, message: str) -> web.Response:
    return web.json_response(
        {"errors": [{"message": message, "field": None, "help": None}]}, status=status
    )
