"""SendGrid's webhooks through the real app: signatures on the raw body, then what the routes hand over.

The engine's ``provider_events`` is replaced by a recorder here, so these
tests check what each route passes on. The engine's own tests cover how the
events are processed and deduplicated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import structlog
from dependency_injector import providers

from application.provider_events import InboundReply, StatusReport, Unsubscribed
from domain.qualification import Channel, DeliveryStatus
from entrypoints.container import Container, build_container
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.fake_sendgrid import (
    FakeSendGrid,
    SentMail,
    SignedRequest,
    SigningKey,
    reply_headers,
)

EVENTS = "/v1/webhooks/sendgrid"
INBOUND = "/v1/webhooks/sendgrid/inbound"

MAIL = SentMail(
    message_id="JQtrNr0IRR-slAi2eCUMSg",
    to="compras@empresa.invalid",
    body={
        "personalizations": [
            {
                "to": [{"email": "compras@empresa.invalid"}],
                "custom_args": {"idempotency_key": "qualify:p1:email:1", "tenant_id": "t1"},
            }
        ]
    },
)


@attrs.define
class RecordingProviderEvents:
    """Keeps what the routes hand to the engine, in order."""

    replies: list[InboundReply] = attrs.field(factory=list)
    statuses: list[StatusReport] = attrs.field(factory=list)
    unsubscribes: list[Unsubscribed] = attrs.field(factory=list)

    async def reply(self, reply: InboundReply) -> None:
        self.replies.append(reply)

    async def status(self, report: StatusReport) -> None:
        self.statuses.append(report)

    async def unsubscribed(self, event: Unsubscribed) -> None:
        self.unsubscribes.append(event)

    @property
    def nothing(self) -> bool:
        return not (self.replies or self.statuses or self.unsubscribes)


@pytest.fixture
def fake() -> FakeSendGrid:
    # Only its signing keys are used here, so no server is started.
    return FakeSendGrid()


@pytest.fixture
def recorder() -> RecordingProviderEvents:
    return RecordingProviderEvents()


def override_provider_events(container: Container, recorder: RecordingProviderEvents) -> None:
    container.provider_events.override(providers.Object(recorder))


async def client_for(
    aiohttp_client: Any, settings: Settings, recorder: RecordingProviderEvents
) -> ContractClient:
    container = build_container(settings)
    override_provider_events(container, recorder)
    return ContractClient(await aiohttp_client(build_app(container)))


@pytest.fixture
async def api(
    aiohttp_client: Any, settings: Settings, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> ContractClient:
    configured = attrs.evolve(
        settings,
        sendgrid_webhook_public_key=fake.event_key.public_key,
        sendgrid_inbound_public_key=fake.inbound_key.public_key_pem,
    )
    return await client_for(aiohttp_client, configured, recorder)


async def post(api: ContractClient, path: str, request: SignedRequest) -> ApiResult:
    async with api.client.post(path, data=request.body, headers=request.headers) as response:
        decoded = json.loads(await response.text())
        errors = api.contract.errors("POST", path, response.status, response.content_type, decoded)
    assert errors == [], errors
    return ApiResult(response.status, decoded)


@pytest.fixture
def captured() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as logs:
        yield logs


# --- Event Webhook -------------------------------------------------------------------


async def test_signed_batch_reaches_the_engine(
    api: ContractClient, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    events = [
        fake.event(MAIL, "processed"),
        fake.event(MAIL, "deferred"),
        fake.event(MAIL, "delivered"),
        fake.event(MAIL, "bounce", type="blocked", status="5.7.1"),
        fake.event(MAIL, "unsubscribe"),
    ]

    result = await post(api, EVENTS, fake.event_batch(events))

    assert result.data == {"status_reports": 3, "unsubscribes": 1}
    assert [report.status for report in recorder.statuses] == [
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
    ]
    assert [report.event_id for report in recorder.statuses] == [
        events[0]["sg_event_id"],
        events[2]["sg_event_id"],
        events[3]["sg_event_id"],
    ]
    assert {report.idempotency_key for report in recorder.statuses} == {"qualify:p1:email:1"}
    assert {report.provider_message_id for report in recorder.statuses} == {MAIL.message_id}
    assert recorder.statuses[2].error_code == "bounce:blocked:5.7.1"
    [opt_out] = recorder.unsubscribes
    assert (opt_out.address, opt_out.channel) == ("compras@empresa.invalid", Channel.EMAIL)


async def test_pem_public_key_is_accepted(
    aiohttp_client: Any, settings: Settings, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    configured = attrs.evolve(settings, sendgrid_webhook_public_key=fake.event_key.public_key_pem)
    api = await client_for(aiohttp_client, configured, recorder)

    result = await post(api, EVENTS, fake.event_batch([fake.event(MAIL, "open")]))

    assert result.status == 200
    assert [report.status for report in recorder.statuses] == [DeliveryStatus.READ]


async def test_reserialised_batch_is_rejected(
    api: ContractClient,
    fake: FakeSendGrid,
    recorder: RecordingProviderEvents,
    captured: list[dict[str, Any]],
) -> None:
    signed = fake.event_batch([fake.event(MAIL, "delivered", reason="Entregue à caixa")])
    reserialised = json.dumps(json.loads(signed.body)).encode()
    assert reserialised != signed.body
    assert json.loads(reserialised) == json.loads(signed.body)

    refused = await post(api, EVENTS, SignedRequest(reserialised, signed.headers))
    accepted = await post(api, EVENTS, signed)

    assert (refused.status, refused.body["code"]) == (403, "invalid_signature")
    assert "assinatura" in refused.body["detail"]
    assert accepted.status == 200
    assert len(recorder.statuses) == 1
    rejections = [entry for entry in captured if entry["event"] == "provider_webhook_rejected"]
    assert rejections == [
        {
            "event": "provider_webhook_rejected",
            "log_level": "warning",
            "provider": "sendgrid",
            "webhook": "events",
            "reason_code": "bad_signature",
        }
    ]


def tampered(fake: FakeSendGrid) -> SignedRequest:
    signed = fake.event_batch([fake.event(MAIL, "delivered")])
    return SignedRequest(signed.body.replace(b"delivered", b"bounce"), signed.headers)


def other_key(fake: FakeSendGrid) -> SignedRequest:
    return fake.event_batch([fake.event(MAIL, "delivered")], key=SigningKey())


def replayed(fake: FakeSendGrid) -> SignedRequest:
    return fake.event_batch([fake.event(MAIL, "delivered")], timestamp=int(time.time()) - 301)


def unsigned(fake: FakeSendGrid) -> SignedRequest:
    signed = fake.event_batch([fake.event(MAIL, "delivered")])
    return SignedRequest(signed.body, {"Content-Type": "application/json"})


def moved_timestamp(fake: FakeSendGrid) -> SignedRequest:
    signed = fake.event_batch([fake.event(MAIL, "delivered")])
    headers = dict(signed.headers)
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(
        int(headers["X-Twilio-Email-Event-Webhook-Timestamp"]) + 1
    )
    return SignedRequest(signed.body, headers)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (tampered, "bad_signature"),
        (other_key, "bad_signature"),
        (replayed, "stale_timestamp"),
        (unsigned, "missing_signature"),
        (moved_timestamp, "bad_signature"),
    ],
    ids=["tampered-body", "wrong-key", "replayed", "unsigned", "moved-timestamp"],
)
async def test_bad_event_signatures_are_rejected(
    api: ContractClient,
    fake: FakeSendGrid,
    recorder: RecordingProviderEvents,
    captured: list[dict[str, Any]],
    build: Any,
    reason: str,
) -> None:
    result = await post(api, EVENTS, build(fake))

    assert (result.status, result.body["code"]) == (403, "invalid_signature")
    assert recorder.nothing
    assert [
        entry["reason_code"] for entry in captured if entry["event"] == "provider_webhook_rejected"
    ] == [reason]


async def test_signed_garbage_is_400(
    api: ContractClient, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    body = b'{"not": "a batch"}'
    request = SignedRequest(
        body, {"Content-Type": "application/json", **fake.event_key.sign(body, int(time.time()))}
    )

    result = await post(api, EVENTS, request)

    assert (result.status, result.body["code"]) == (400, "invalid_sendgrid_event")
    assert recorder.nothing


async def test_missing_keys_answer_503(
    aiohttp_client: Any, settings: Settings, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    api = await client_for(aiohttp_client, settings, recorder)

    events = await post(api, EVENTS, fake.event_batch([fake.event(MAIL, "delivered")]))
    inbound = await post(api, INBOUND, fake.inbound({"from": "a@b.invalid", "text": "oi"}))

    assert (events.status, events.body["code"]) == (503, "provider_not_configured")
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in events.body["detail"]
    assert (inbound.status, inbound.body["code"]) == (503, "provider_not_configured")
    assert recorder.nothing


async def test_unreadable_key_answers_503(
    aiohttp_client: Any, settings: Settings, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    configured = attrs.evolve(settings, sendgrid_webhook_public_key="bm90IGEga2V5")
    api = await client_for(aiohttp_client, configured, recorder)

    result = await post(api, EVENTS, fake.event_batch([fake.event(MAIL, "delivered")]))

    assert (result.status, result.body["code"]) == (503, "provider_not_configured")
    assert recorder.nothing


# --- Inbound Parse -------------------------------------------------------------------


def reply_post(fake: FakeSendGrid, **options: Any) -> SignedRequest:
    return fake.inbound(
        {
            "headers": reply_headers(
                message_id="CAF=reply123@mail.gmail.com",
                in_reply_to="JQtrNr0IRR-slAi2eCUMSg@ismtpd0004p1iad1.sendgrid.net",
                sender="Maria Souza <Maria@Empresa.invalid>",
            ),
            "from": "Maria Souza <Maria@Empresa.invalid>",
            "to": "respostas@garimpo.invalid",
            "subject": "Re: Proposta",
            "text": "Tenho interesse, podem ligar.\n\nEm qui., 4 de dez. de 2026 às 10:00, Garimpo "
            "<contato@garimpo.invalid> escreveu:\n> Olá, Maria!\n",
            "envelope": json.dumps(
                {"to": ["respostas@garimpo.invalid"], "from": "maria@empresa.invalid"}
            ),
        },
        attachments={"cartao.png": b"\x89PNG\r\n\x1a\n\x00\xff binary"},
        **options,
    )


async def test_signed_inbound_reply_reaches_the_engine(
    api: ContractClient, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    result = await post(api, INBOUND, reply_post(fake))

    assert result.data == {"provider_message_id": "CAF=reply123@mail.gmail.com"}
    [reply] = recorder.replies
    assert reply.sender == "maria@empresa.invalid"
    assert reply.recipient == "respostas@garimpo.invalid"
    assert reply.body == "Tenho interesse, podem ligar."
    assert reply.in_reply_to == "JQtrNr0IRR-slAi2eCUMSg"
    assert reply.channel is Channel.EMAIL


@pytest.mark.parametrize(
    "options",
    [
        {"key": SigningKey()},
        {"timestamp": int(time.time()) - 301},
    ],
    ids=["wrong-key", "replayed"],
)
async def test_bad_inbound_signatures_are_rejected(
    api: ContractClient,
    fake: FakeSendGrid,
    recorder: RecordingProviderEvents,
    options: dict[str, Any],
) -> None:
    result = await post(api, INBOUND, reply_post(fake, **options))

    assert (result.status, result.body["code"]) == (403, "invalid_signature")
    assert recorder.nothing


async def test_inbound_signed_with_event_key_is_rejected(
    api: ContractClient, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    """Each webhook has its own key pair, so one key does not open the other route."""
    result = await post(api, INBOUND, reply_post(fake, key=fake.event_key))

    assert (result.status, result.body["code"]) == (403, "invalid_signature")
    assert recorder.nothing


async def test_tampered_inbound_is_rejected(
    api: ContractClient, fake: FakeSendGrid, recorder: RecordingProviderEvents
) -> None:
    signed = reply_post(fake)
    forged = SignedRequest(
        signed.body.replace(b"Tenho interesse", b"Sem interesse!!"), signed.headers
    )

    result = await post(api, INBOUND, forged)

    assert (result.status, result.body["code"]) == (403, "invalid_signature")
    assert recorder.nothing
