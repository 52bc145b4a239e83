"""Twilio's and Meta's webhooks through the real application, signed by the local fakes.

The fakes post each webhook as the provider does: Twilio's form signed over
the public URL, Meta's JSON encoded with escapes and signed over its exact
bytes. The events handed over go to a recording ``ProviderEvents`` that
replaces the qualification engine here, whose own tests cover processing.
Every response is checked against the OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers
from structlog.testing import capture_logs

from application.provider_events import InboundReply, StatusReport, Unsubscribed
from domain.qualification import Channel, DeliveryStatus
from entrypoints.container import build_container
from entrypoints.http.app import OPENAPI_DOCUMENT_KEY
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.fake_meta import (
    APP_SECRET,
    VERIFY_TOKEN,
    FakeMeta,
    MetaMessage,
    encode_like_meta,
    sign_body,
)
from tests.support.fake_twilio import AUTH_TOKEN, FakeTwilio, TwilioMessage, WebhookResult
from tests.support.openapi_contract import OpenApiContract

PUBLIC_BASE_URL = "https://api.example.com.br"
TWILIO_PATH = "/v1/webhooks/twilio"
WHATSAPP_PATH = "/v1/webhooks/whatsapp"
BUSINESS = "whatsapp:+554130000000"


class RecordingProviderEvents:
    """Records what the routes hand over, in order."""

    def __init__(self) -> None:
        self.events: list[InboundReply | StatusReport | Unsubscribed] = []

    async def reply(self, reply: InboundReply) -> None:
        self.events.append(reply)

    async def status(self, report: StatusReport) -> None:
        self.events.append(report)

    async def unsubscribed(self, event: Unsubscribed) -> None:
        self.events.append(event)


@attrs.frozen
class Webhooks:
    client: TestClient[Any, Any]
    recorder: RecordingProviderEvents
    contract: OpenApiContract

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    def check(self, method: str, path: str, result: WebhookResult) -> Any:
        """Assert that ``result`` matches the document and return its decoded body."""
        body: Any = result.text
        if result.content_type.endswith("json"):
            body = json.loads(result.text)
        errors = self.contract.errors(method, path, result.status, result.content_type, body)
        assert errors == [], errors
        return body


@pytest.fixture
def webhook_settings(settings: Settings) -> Settings:
    return attrs.evolve(
        settings,
        twilio_auth_token=AUTH_TOKEN,
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY_TOKEN,
    )


AppFactory = Callable[[Settings], Any]


@pytest.fixture
def start_app(aiohttp_client: Any) -> AppFactory:
    async def start(settings: Settings) -> Webhooks:
        container = build_container(settings)
        recorder = RecordingProviderEvents()
        container.provider_events.override(providers.Object(recorder))
        client = await aiohttp_client(build_app(container))
        contract = OpenApiContract(client.server.app[OPENAPI_DOCUMENT_KEY])
        return Webhooks(client, recorder, contract)

    return start


@pytest.fixture
async def app(start_app: AppFactory, webhook_settings: Settings) -> Webhooks:
    webhooks: Webhooks = await start_app(webhook_settings)
    return webhooks


@pytest.fixture
def twilio() -> FakeTwilio:
    # The fake only builds and posts webhooks here, so its API server is not started.
    return FakeTwilio()


@pytest.fixture
def meta() -> FakeMeta:
    return FakeMeta()


def sent_message(key: str = "qual-1:whatsapp:1") -> TwilioMessage:
    return TwilioMessage(
        sid="SM0123456789abcdef0123456789abcdef",
        to="whatsapp:+5541987654321",
        from_=BUSINESS,
        messaging_service_sid=None,
        body=None,
        content_sid="HX1",
        content_variables=None,
        status_callback=f"{PUBLIC_BASE_URL}{TWILIO_PATH}?key={key}",
        idempotency_key=key,
        form={},
    )


# --- Twilio ------------------------------------------------------------------------------


async def test_twilio_inbound_reply_is_handed_over(app: Webhooks, twilio: FakeTwilio) -> None:
    form = twilio.inbound_message(
        "whatsapp:+554187654321", BUSINESS, "Tenho interesse", wa_id="554187654321"
    )

    result = await twilio.post_webhook(app.url(TWILIO_PATH), form)

    assert result.status == 200
    assert result.content_type == "text/xml"
    assert "<Response/>" in app.check("POST", TWILIO_PATH, result)
    [reply] = app.recorder.events
    assert isinstance(reply, InboundReply)
    assert reply.channel is Channel.WHATSAPP
    assert reply.sender == "554187654321"
    assert reply.body == "Tenho interesse"
    assert reply.provider_message_id == form["MessageSid"]


async def test_twilio_stop_is_handed_over(app: Webhooks, twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("+5541987654321", "+554130000000", "STOP", opt_out_type="STOP")

    result = await twilio.post_webhook(app.url(TWILIO_PATH), form)

    assert result.status == 200
    [reply] = app.recorder.events
    assert isinstance(reply, InboundReply)
    assert reply.channel is Channel.SMS
    assert reply.provider_opt_out is True


async def test_twilio_status_callback_carries_key(app: Webhooks, twilio: FakeTwilio) -> None:
    path, form = twilio.status_callback(sent_message(), "undelivered", error_code="63024")

    result = await twilio.post_webhook(app.url(path), form)

    assert result.status == 200
    [report] = app.recorder.events
    assert isinstance(report, StatusReport)
    assert report.idempotency_key == "qual-1:whatsapp:1"
    assert report.status is DeliveryStatus.FAILED
    assert report.error_code == "63024"
    assert report.event_id == f"{form['MessageSid']}:undelivered"


async def test_twilio_tampered_body_is_rejected(app: Webhooks, twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("+5541987654321", "+554130000000", "Não tenho interesse")
    tampered = dict(form, Body="Tenho interesse")

    with capture_logs() as logs:
        result = await twilio.post_webhook(
            app.url(TWILIO_PATH), form, body=urlencode(list(tampered.items())).encode()
        )

    assert result.status == 403
    body = app.check("POST", TWILIO_PATH, result)
    assert body["code"] == "invalid_signature"
    assert "assinatura" in body["detail"]
    assert app.recorder.events == []
    rejected = [entry for entry in logs if entry["event"] == "provider_webhook_rejected"]
    assert rejected == [
        {
            "event": "provider_webhook_rejected",
            "provider": "twilio",
            "reason": "bad_signature",
            "log_level": "warning",
        }
    ]


async def test_twilio_wrong_secret_is_rejected(app: Webhooks, twilio: FakeTwilio) -> None:
    form = twilio.inbound_message("+5541987654321", "+554130000000", "Sim")

    result = await twilio.post_webhook(app.url(TWILIO_PATH), form, auth_token="another-token")

    assert result.status == 403
    assert app.check("POST", TWILIO_PATH, result)["code"] == "invalid_signature"
    assert app.recorder.events == []


async def test_twilio_missing_signature_is_rejected(app: Webhooks) -> None:
    response = await app.client.post(
        TWILIO_PATH,
        data={"MessageSid": "SM1", "From": "+5541987654321", "Body": "Sim"},
    )

    assert response.status == 403
    assert (await response.json())["code"] == "invalid_signature"
    assert app.recorder.events == []


async def test_twilio_behind_proxy_uses_public_base_url(
    start_app: AppFactory, webhook_settings: Settings, twilio: FakeTwilio
) -> None:
    settings = attrs.evolve(
        webhook_settings, public_base_url=PUBLIC_BASE_URL, public_base_url_configured=True
    )
    app: Webhooks = await start_app(settings)
    path, form = twilio.status_callback(sent_message(), "delivered")

    # The app listens on http://127.0.0.1:<port>, but Twilio signed the public https URL.
    result = await twilio.post_webhook(app.url(path), form, public_url=PUBLIC_BASE_URL + path)

    assert app.url(path).startswith("http://127.0.0.1:")
    assert result.status == 200
    [report] = app.recorder.events
    assert isinstance(report, StatusReport)
    assert report.status is DeliveryStatus.DELIVERED


async def test_twilio_behind_proxy_without_public_base_url_is_rejected(
    app: Webhooks, twilio: FakeTwilio
) -> None:
    path, form = twilio.status_callback(sent_message(), "delivered")

    result = await twilio.post_webhook(app.url(path), form, public_url=PUBLIC_BASE_URL + path)

    assert result.status == 403
    assert app.check("POST", TWILIO_PATH, result)["code"] == "invalid_signature"
    assert app.recorder.events == []


async def test_twilio_signature_over_the_wrong_query_is_rejected(
    app: Webhooks, twilio: FakeTwilio
) -> None:
    path, form = twilio.status_callback(sent_message("qual-1:whatsapp:1"), "delivered")
    signature = twilio.sign(app.url(path), form)

    response = await app.client.post(
        TWILIO_PATH + "?key=qual-2:whatsapp:1",
        data=form,
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status == 403
    assert app.recorder.events == []


async def test_twilio_off_without_auth_token(
    start_app: AppFactory, webhook_settings: Settings, twilio: FakeTwilio
) -> None:
    app: Webhooks = await start_app(attrs.evolve(webhook_settings, twilio_auth_token=None))
    form = twilio.inbound_message("+5541987654321", "+554130000000", "Sim")

    result = await twilio.post_webhook(app.url(TWILIO_PATH), form)

    assert result.status == 503
    assert app.check("POST", TWILIO_PATH, result)["code"] == "provider_not_configured"
    assert app.recorder.events == []


async def test_twilio_signed_form_of_another_kind_is_400(app: Webhooks, twilio: FakeTwilio) -> None:
    result = await twilio.post_webhook(app.url(TWILIO_PATH), {"AccountSid": twilio.account_sid})

    assert result.status == 400
    assert app.check("POST", TWILIO_PATH, result)["code"] == "invalid_provider_payload"


# --- Meta --------------------------------------------------------------------------------


async def test_meta_escaped_text_verifies_on_raw_bytes(app: Webhooks, meta: FakeMeta) -> None:
    payload = meta.inbound_payload("554187654321", "Não, obrigado. Escreva para ana@acme.com.br")

    result = await meta.post_webhook(app.url(WHATSAPP_PATH), payload)

    assert result.status == 200
    assert app.check("POST", WHATSAPP_PATH, result) == {"data": {"events": 1}}
    [reply] = app.recorder.events
    assert isinstance(reply, InboundReply)
    assert reply.body == "Não, obrigado. Escreva para ana@acme.com.br"
    assert reply.sender == "554187654321"


async def test_meta_reserialised_body_is_rejected(app: Webhooks, meta: FakeMeta) -> None:
    payload = meta.inbound_payload("554187654321", "Não, obrigado @ joao")
    # The same JSON as a receiver that decoded and re-encoded it would send it on.
    reencoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    result = await meta.post_webhook(app.url(WHATSAPP_PATH), payload, body=reencoded)

    assert reencoded != encode_like_meta(payload)
    assert result.status == 403
    assert app.recorder.events == []


async def test_meta_tampered_body_is_rejected(app: Webhooks, meta: FakeMeta) -> None:
    payload = meta.inbound_payload("554187654321", "Não")
    tampered = encode_like_meta(payload).replace(b"N\\u00e3o", b"Sim")

    with capture_logs() as logs:
        result = await meta.post_webhook(app.url(WHATSAPP_PATH), payload, body=tampered)

    assert result.status == 403
    assert app.check("POST", WHATSAPP_PATH, result)["code"] == "invalid_signature"
    assert app.recorder.events == []
    assert {"provider": "meta", "reason": "bad_signature"}.items() <= next(
        entry for entry in logs if entry["event"] == "provider_webhook_rejected"
    ).items()


async def test_meta_wrong_secret_is_rejected(app: Webhooks, meta: FakeMeta) -> None:
    payload = meta.inbound_payload("554187654321", "Sim")

    result = await meta.post_webhook(app.url(WHATSAPP_PATH), payload, app_secret="another")

    assert result.status == 403
    assert app.recorder.events == []


async def test_meta_status_carries_key(app: Webhooks, meta: FakeMeta) -> None:
    outbound = MetaMessage(
        id="wamid.OUT1",
        phone_number_id="106540352242922",
        to="5541987654321",
        type="template",
        text=None,
        template={"name": "primeiro_contato"},
        idempotency_key="qual-1:whatsapp:1",
        payload={},
    )
    payload = meta.status_payload(outbound, "failed", timestamp=1772461800, error_code=131026)

    result = await meta.post_webhook(app.url(WHATSAPP_PATH), payload)

    assert result.status == 200
    [report] = app.recorder.events
    assert isinstance(report, StatusReport)
    assert report.idempotency_key == "qual-1:whatsapp:1"
    assert report.status is DeliveryStatus.FAILED
    assert report.error_code == "131026"
    assert report.event_id == "wamid.OUT1:failed:1772461800"


async def test_meta_signed_non_json_is_400(app: Webhooks) -> None:
    body = b"not json"

    response = await app.client.post(
        WHATSAPP_PATH, data=body, headers={"X-Hub-Signature-256": sign_body(body)}
    )

    assert response.status == 400
    assert (await response.json())["code"] == "invalid_provider_payload"


async def test_meta_off_without_app_secret(
    start_app: AppFactory, webhook_settings: Settings, meta: FakeMeta
) -> None:
    app: Webhooks = await start_app(attrs.evolve(webhook_settings, meta_app_secret=None))

    result = await meta.post_webhook(app.url(WHATSAPP_PATH), meta.inbound_payload("55", "x"))

    assert result.status == 503
    assert app.check("POST", WHATSAPP_PATH, result)["code"] == "provider_not_configured"
    assert app.recorder.events == []


async def test_handshake_returns_challenge(app: Webhooks) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    response = await app.client.get(WHATSAPP_PATH, params=query)

    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
    ids=["wrong-token", "wrong-mode", "no-token"],
)
async def test_handshake_rejects_bad_requests(app: Webhooks, query: dict[str, str]) -> None:
    response = await app.client.get(WHATSAPP_PATH, params=query)

    body = await response.json()
    assert response.status == 403
    assert body["code"] == "invalid_verify_token"
    assert app.contract.errors("GET", WHATSAPP_PATH, 403, response.content_type, body) == []


async def test_handshake_off_without_verify_token(
    start_app: AppFactory, webhook_settings: Settings
) -> None:
    app: Webhooks = await start_app(attrs.evolve(webhook_settings, meta_verify_token=None))
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}

    response = await app.client.get(WHATSAPP_PATH, params=query)

    assert response.status == 503
    assert (await response.json())["code"] == "provider_not_configured"
