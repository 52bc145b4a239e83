"""The Meta WhatsApp Cloud API gateway against a local fake of the Graph API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from adapters.messaging.meta_whatsapp import MetaWhatsAppMessaging, classify_meta_error
from domain.qualification import Channel, SendFailure
from tests.support.fake_meta import PHONE_NUMBER_ID, FakeMeta
from tests.support.outbound import CONTACT, send_error
from tests.support.outbound import phone_message as message


@pytest.fixture
async def fake_meta() -> AsyncIterator[FakeMeta]:
    async with FakeMeta() as fake:
        yield fake


def make_gateway(
    fake: FakeMeta, *, timeout_seconds: float = 5.0, phone_number_id: str | None = PHONE_NUMBER_ID
) -> MetaWhatsAppMessaging:
    return MetaWhatsAppMessaging(
        access_token=fake.access_token,
        graph_url=fake.base_url,
        api_version=fake.api_version,
        phone_number_id=phone_number_id,
        timeout_seconds=timeout_seconds,
    )


@pytest.fixture
async def gateway(fake_meta: FakeMeta) -> AsyncIterator[MetaWhatsAppMessaging]:
    built = make_gateway(fake_meta)
    yield built
    await built.aclose()


async def test_template_send(gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta) -> None:
    receipt = await gateway.send(
        message(
            "qual-1:whatsapp:1",
            template="primeiro_contato",
            variables={"2": "Ana", "1": "Padaria Pão Quente"},
        )
    )

    [sent] = fake_meta.messages
    assert receipt.provider == "meta"
    assert receipt.provider_message_id == sent.id
    assert sent.id.startswith("wamid.")
    assert sent.phone_number_id == PHONE_NUMBER_ID
    assert sent.to == "5541987654321"
    assert sent.type == "template"
    assert sent.template == {
        "name": "primeiro_contato",
        "language": {"code": "pt_BR"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Padaria Pão Quente"},
                    {"type": "text", "text": "Ana"},
                ],
            }
        ],
    }
    assert sent.payload["messaging_product"] == "whatsapp"


async def test_named_template_parameters(
    gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta
) -> None:
    await gateway.send(
        message("qual-1:whatsapp:1", template="primeiro_contato", variables={"empresa": "Acme"})
    )

    [sent] = fake_meta.messages
    assert sent.template is not None
    assert sent.template["components"][0]["parameters"] == [
        {"type": "text", "parameter_name": "empresa", "text": "Acme"}
    ]


async def test_text_send_in_service_window(
    gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta
) -> None:
    await gateway.send(message("qual-1:whatsapp:2", body="Perfeito, Ana. Um consultor liga hoje."))

    [sent] = fake_meta.messages
    assert sent.type == "text"
    assert sent.text == "Perfeito, Ana. Um consultor liga hoje."
    assert sent.template is None


async def test_callback_data_carries_key(
    gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta
) -> None:
    await gateway.send(message("qual-1:whatsapp:1", template="primeiro_contato"))
    await gateway.send(message("qual-2:whatsapp:1", template="primeiro_contato"))

    assert fake_meta.keys_sent() == ["qual-1:whatsapp:1", "qual-2:whatsapp:1"]


async def test_sender_selects_phone_number_id(
    gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta
) -> None:
    await gateway.send(message("qual-1:whatsapp:1", sender="200000000000001"))

    [sent] = fake_meta.messages
    assert sent.phone_number_id == "200000000000001"


async def test_same_key_is_sent_once(gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta) -> None:
    first = await gateway.send(message("qual-1:whatsapp:1"))
    again = await gateway.send(message("qual-1:whatsapp:1"))

    assert again.replayed is True
    assert again.provider_message_id == first.provider_message_id
    assert fake_meta.keys_sent() == ["qual-1:whatsapp:1"]


async def test_concurrent_sends_of_key_go_once(
    gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta
) -> None:
    # The delay keeps the first send in flight while the others arrive.
    fake_meta.delay(CONTACT, 0.2)

    receipts = await asyncio.gather(*(gateway.send(message("qual-1:whatsapp:1")) for _ in range(4)))

    assert fake_meta.keys_sent() == ["qual-1:whatsapp:1"]
    assert len({receipt.provider_message_id for receipt in receipts}) == 1
    assert sorted(receipt.replayed for receipt in receipts) == [False, True, True, True]


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (131026, 400, SendFailure.NOT_ON_CHANNEL),
        (131047, 400, SendFailure.PERMANENT),
        (132001, 404, SendFailure.PERMANENT),
        (100, 400, SendFailure.PERMANENT),
        (130429, 400, SendFailure.RETRYABLE),
        (131056, 400, SendFailure.RETRYABLE),
        (131000, 500, SendFailure.RETRYABLE),
    ],
)
async def test_error_codes_map_to_failures(
    gateway: MetaWhatsAppMessaging,
    fake_meta: FakeMeta,
    code: int,
    status: int,
    expected: SendFailure,
) -> None:
    fake_meta.reject(CONTACT, code=code, status=status)

    error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is expected
    assert error.code == str(code)
    assert fake_meta.messages == []


async def test_server_errors_retry_then_succeed(
    gateway: MetaWhatsAppMessaging, fake_meta: FakeMeta
) -> None:
    fake_meta.fail_times(CONTACT, 1)

    error = await send_error(gateway, message("qual-1:whatsapp:1"))
    receipt = await gateway.send(message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.RETRYABLE
    assert receipt.replayed is False
    assert [status for _to, status in fake_meta.attempts] == [500, 200]
    assert fake_meta.keys_sent() == ["qual-1:whatsapp:1"]


async def test_timeout_is_retryable_and_message_recorded(fake_meta: FakeMeta) -> None:
    fake_meta.delay(CONTACT, 2.0)

    async with contextlib.aclosing(make_gateway(fake_meta, timeout_seconds=0.3)) as gateway:
        started = time.monotonic()
        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.RETRYABLE
    assert error.code == "timeout"
    assert time.monotonic() - started < 1.5
    assert fake_meta.keys_sent() == ["qual-1:whatsapp:1"]


async def test_unreachable_api_is_retryable(fake_meta: FakeMeta) -> None:
    async with contextlib.aclosing(make_gateway(fake_meta)) as gateway:
        await fake_meta.__aexit__(None, None, None)

        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.RETRYABLE
    assert error.code == "connection_error"


async def test_wrong_token_is_permanent(fake_meta: FakeMeta) -> None:
    async with contextlib.aclosing(
        MetaWhatsAppMessaging(
            access_token="expired", graph_url=fake_meta.base_url, phone_number_id=PHONE_NUMBER_ID
        )
    ) as gateway:
        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.PERMANENT
    assert error.code == "190"


async def test_no_phone_number_id_is_permanent(fake_meta: FakeMeta) -> None:
    async with contextlib.aclosing(make_gateway(fake_meta, phone_number_id=None)) as gateway:
        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.PERMANENT
    assert error.code == "no_sender"
    assert fake_meta.attempts == []


async def test_sms_is_not_a_meta_channel(gateway: MetaWhatsAppMessaging) -> None:
    error = await send_error(gateway, message("k", channel=Channel.SMS))

    assert error.failure is SendFailure.NOT_ON_CHANNEL
    assert gateway.channels() == frozenset({Channel.WHATSAPP})


def test_unknown_client_error_is_permanent() -> None:
    assert classify_meta_error(400, 999999) is SendFailure.PERMANENT
    assert classify_meta_error(503, None) is SendFailure.RETRYABLE
    assert classify_meta_error(429, None) is SendFailure.RETRYABLE
