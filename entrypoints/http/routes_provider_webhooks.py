"""Public webhooks of the messaging providers: Twilio (WhatsApp, SMS) and Meta WhatsApp Cloud API.

Providers send no credentials. Each request is authenticated by its
signature, checked on the request exactly as it arrived (the raw body, and
for Twilio the public URL it was sent to) before anything is parsed or
stored. A provider whose secret is not configured is off, so its route
responds 503 and accepts nothing unsigned. Verified requests become provider events
(replies, delivery statuses) handed to ``provider_events``, which processes
each event once, whatever the number of deliveries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import NoReturn
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from adapters.messaging.meta_events import InvalidMetaPayload, parse_meta_webhook
from adapters.messaging.signatures import (
    META_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    SignatureRejected,
    build_twilio_url,
    verification_challenge,
    verify_meta,
    verify_twilio,
)
from adapters.messaging.twilio_events import InvalidTwilioPayload, parse_twilio_webhook
from application.provider_events import InboundReply, ProviderEvents, StatusReport, Unsubscribed
from entrypoints.http.context import json_ok, use_case
from entrypoints.http.problems import ProblemError
from entrypoints.settings import Settings

log = structlog.get_logger(__name__)

TWILIO_WEBHOOK_PATH = "/v1/webhooks/twilio"
WHATSAPP_WEBHOOK_PATH = "/v1/webhooks/whatsapp"

#: Twilio reads the response as TwiML, and an empty Response sends no reply message.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

_INVALID_SIGNATURE_DETAIL = (
    "A assinatura do webhook não confere com a requisição. Confira o segredo configurado "
    "no provedor e, atrás de um proxy, a PUBLIC_BASE_URL."
)


def register_routes(app: web.Application) -> None:
    app.router.add_post(TWILIO_WEBHOOK_PATH, handle_twilio_webhook)
    app.router.add_get(WHATSAPP_WEBHOOK_PATH, handle_whatsapp_handshake, allow_head=False)
    app.router.add_post(WHATSAPP_WEBHOOK_PATH, handle_whatsapp_webhook)


async def handle_twilio_webhook(request: web.Request) -> web.Response:
    settings: Settings = await use_case(request, "settings")
    if not settings.twilio_auth_token:
        raise _not_configured("Twilio", "TWILIO_AUTH_TOKEN")

    raw_body = await request.read()
    try:
        # Twilio signs the decoded values, and blank ones count.
        fields = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        _reject("twilio", "malformed")

    try:
        verify_twilio(
            _twilio_signed_url(request, settings),
            fields,
            request.headers.get(TWILIO_SIGNATURE_HEADER),
            settings.twilio_auth_token,
        )
    except SignatureRejected as error:
        _reject("twilio", error.reason_code)

    try:
        events = parse_twilio_webhook(
            fields,
            idempotency_key=request.rel_url.query.get("key"),
            received_at=dt.datetime.now(dt.UTC),
        )
    except InvalidTwilioPayload as error:
        raise _invalid_payload("twilio", str(error)) from None

    await _hand_over(request, events)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml", charset="utf-8")


def _twilio_signed_url(request: web.Request, settings: Settings) -> str:
    """Return the URL Twilio signed: the public one when configured, else the one requested."""
    base = (
        settings.public_base_url
        if settings.public_base_url_configured
        else f"{request.scheme}://{request.host}"
    )
    return build_twilio_url(base, request.rel_url.raw_path, request.rel_url.raw_query_string)


async def handle_whatsapp_handshake(request: web.Request) -> web.Response:
    settings: Settings = await use_case(request, "settings")
    if not settings.meta_verify_token:
        raise _not_configured("Meta WhatsApp", "META_VERIFY_TOKEN")

    try:
        challenge = verification_challenge(
            request.query.get("hub.mode"),
            request.query.get("hub.verify_token"),
            request.query.get("hub.challenge"),
            settings.meta_verify_token,
        )
    except SignatureRejected as error:
        log.warning("provider_webhook_rejected", provider="meta", reason=error.reason_code)
        raise ProblemError(
            403,
            "invalid_verify_token",
            "O token de verificação não confere ou faltam hub.mode e hub.challenge. Confira o "
            "token cadastrado no painel do app da Meta e a META_VERIFY_TOKEN.",
        ) from None
    return web.Response(text=challenge, content_type="text/plain")


async def handle_whatsapp_webhook(request: web.Request) -> web.Response:
    settings: Settings = await use_case(request, "settings")
    if not settings.meta_app_secret:
        raise _not_configured("Meta WhatsApp", "META_APP_SECRET")

    raw_body = await request.read()
    try:
        verify_meta(raw_body, request.headers.get(META_SIGNATURE_HEADER), settings.meta_app_secret)
    except SignatureRejected as error:
        _reject("meta", error.reason_code)

    try:
        events = parse_meta_webhook(json.loads(raw_body))
    except (ValueError, InvalidMetaPayload) as error:
        raise _invalid_payload("meta", str(error)) from None

    await _hand_over(request, events)
    return json_ok({"events": len(events)})


async def _hand_over(
    request: web.Request, events: Sequence[InboundReply | StatusReport | Unsubscribed]
) -> None:
    if not events:
        return
    provider_events: ProviderEvents = await use_case(request, "provider_events")
    for event in events:
        if isinstance(event, InboundReply):
            await provider_events.reply(event)
        elif isinstance(event, StatusReport):
            await provider_events.status(event)
        else:
            await provider_events.unsubscribed(event)
    log.info("provider_webhook_accepted", provider=events[0].provider, events=len(events))


def _reject(provider: str, reason: str) -> NoReturn:
    log.warning("provider_webhook_rejected", provider=provider, reason=reason)
    raise ProblemError(403, "invalid_signature", _INVALID_SIGNATURE_DETAIL)


def _not_configured(provider: str, setting: str) -> ProblemError:
    log.warning("provider_webhook_not_configured", provider=provider, setting=setting)
    return ProblemError(
        503,
        "provider_not_configured",
        f"O webhook do {provider} está desligado nesta instalação: defina {setting}.",
    )


def _invalid_payload(provider: str, reason: str) -> ProblemError:
    log.warning("provider_webhook_invalid", provider=provider, reason=reason)
    return ProblemError(
        400,
        "invalid_provider_payload",
        "A assinatura confere, mas o corpo não é uma notificação de mensagem que o Garimpo "
        "entenda. Confira se o webhook do provedor aponta para o endereço certo.",
    )
