"""SendGrid's webhooks: Event Webhook batches (delivery status, opt-outs) and Inbound Parse replies.

Both routes are public, because SendGrid sends no credentials. Each request
is authenticated by its ECDSA P-256 signature over the timestamp header and
the raw body (``X-Twilio-Email-Event-Webhook-Signature`` and
``-Timestamp``), checked before the body is parsed or anything is stored.
Inbound Parse signs with the same scheme and headers once a security policy
with signature verification is attached to the Parse setting, but with the
policy's own key pair, so each route has its own public key setting.
"""

from __future__ import annotations

import datetime as dt
import functools
import time

import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.messaging.sendgrid_events import (
    InvalidPayload,
    decode_inbound_form,
    parse_event_batch,
    parse_inbound,
)
from adapters.messaging.signatures import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    SignatureRejected,
    load_sendgrid_public_key,
    verify_sendgrid,
)
from application.provider_events import StatusReport
from entrypoints.http.context import json_ok, use_case
from entrypoints.http.problems import ProblemError

log = structlog.get_logger(__name__)

EVENTS_PATH = "/v1/webhooks/sendgrid"
INBOUND_PATH = "/v1/webhooks/sendgrid/inbound"

#: SendGrid posts event batches of well under 1 MiB; this leaves room for large custom arguments.
MAX_EVENT_BATCH_BYTES = 4 * 1024 * 1024
#: SendGrid's limit on a received message is 30 MB, attachments included; the
#: multipart encoding adds a little.
MAX_INBOUND_BYTES = 32 * 1024 * 1024


def register_routes(app: web.Application) -> None:
    app.router.add_post(EVENTS_PATH, handle_sendgrid_events)
    app.router.add_post(INBOUND_PATH, handle_sendgrid_inbound)


async def handle_sendgrid_events(request: web.Request) -> web.Response:
    settings = await use_case(request, "settings")
    key = _public_key(settings.sendgrid_webhook_public_key, "SENDGRID_WEBHOOK_PUBLIC_KEY")
    raw_body = await _read_body(request, MAX_EVENT_BATCH_BYTES)
    _verify(request, raw_body, key, webhook="events")

    try:
        items = parse_event_batch(raw_body)
    except InvalidPayload as error:
        log.warning(
            "provider_webhook_invalid", provider="sendgrid", webhook="events", error=str(error)
        )
        raise ProblemError(
            400,
            "invalid_sendgrid_event",
            "O lote de eventos do SendGrid não está no formato esperado.",
        ) from None

    provider_events = await use_case(request, "provider_events")
    statuses = unsubscribes = 0
    for item in items:
        if isinstance(item, StatusReport):
            await provider_events.status(item)
            statuses += 1
        else:
            await provider_events.unsubscribed(item)
            unsubscribes += 1
    return json_ok({"status_reports": statuses, "unsubscribes": unsubscribes})


async def handle_sendgrid_inbound(request: web.Request) -> web.Response:
    settings = await use_case(request, "settings")
    key = _public_key(settings.sendgrid_inbound_public_key, "SENDGRID_INBOUND_PUBLIC_KEY")
    raw_body = await _read_body(request, MAX_INBOUND_BYTES)
    # NOTE: SendGrid retries a failed Inbound Parse post for up to 3 days, and
    # its documentation does not say whether a retry gets a new timestamp. If
    # it does not, a retry later than the 300 s tolerance is rejected as
    # stale_timestamp until SendGrid gives up on it.
    _verify(request, raw_body, key, webhook="inbound")

    try:
        fields = decode_inbound_form(request.headers.get("Content-Type", ""), raw_body)
        reply = parse_inbound(fields, received_at=dt.datetime.now(dt.UTC))
    except InvalidPayload as error:
        log.warning(
            "provider_webhook_invalid", provider="sendgrid", webhook="inbound", error=str(error)
        )
        raise ProblemError(
            400,
            "invalid_sendgrid_inbound",
            "O e-mail recebido do SendGrid não está no formato esperado.",
        ) from None

    provider_events = await use_case(request, "provider_events")
    await provider_events.reply(reply)
    return json_ok({"provider_message_id": reply.provider_message_id})


def _public_key(configured: str | None, setting: str) -> ec.EllipticCurvePublicKey:
    if not configured:
        raise ProblemError(
            503,
            "provider_not_configured",
            f"O webhook do SendGrid não está configurado nesta instalação ({setting}).",
        )
    try:
        return _load_key(configured)
    except ValueError as error:
        log.error(
            "provider_webhook_key_invalid", provider="sendgrid", setting=setting, error=str(error)
        )
        raise ProblemError(
            503,
            "provider_not_configured",
            f"A chave de verificação do SendGrid em {setting} é inválida.",
        ) from None


@functools.lru_cache(maxsize=4)
def _load_key(text: str) -> ec.EllipticCurvePublicKey:
    return load_sendgrid_public_key(text)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """Read the raw body up to ``limit`` bytes, past aiohttp's default 1 MiB client_max_size."""
    too_large = ProblemError(
        413,
        "payload_too_large",
        "O corpo da requisição é grande demais para um webhook do SendGrid.",
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large

    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(
    request: web.Request, raw_body: bytes, key: ec.EllipticCurvePublicKey, *, webhook: str
) -> None:
    try:
        verify_sendgrid(
            raw_body,
            request.headers.get(SENDGRID_SIGNATURE_HEADER),
            request.headers.get(SENDGRID_TIMESTAMP_HEADER),
            key,
            now=time.time(),
        )
    except SignatureRejected as error:
        log.warning(
            "provider_webhook_rejected",
            provider="sendgrid",
            webhook=webhook,
            reason_code=error.reason_code,
        )
        raise ProblemError(
            403,
            "invalid_signature",
            "A assinatura do webhook do SendGrid está ausente, inválida ou expirada. Nada foi gravado.",
        ) from None
