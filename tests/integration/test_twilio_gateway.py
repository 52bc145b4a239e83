"""The Twilio gateway against a local fake of Twilio's Messages API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.messaging.twilio import TwilioMessaging, classify_twilio_error
from domain.qualification import Channel, SendFailure
from tests.support.fake_twilio import MESSAGING_SERVICE_SID, FakeTwilio
from tests.support.outbound import CONTACT, send_error
from tests.support.outbound import phone_message as message

PUBLIC_BASE_URL = "https://api.example.com.br"


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def make_gateway(fake: FakeTwilio, *, timeout_seconds: float = 5.0) -> TwilioMessaging:
    return TwilioMessaging(
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        public_base_url=PUBLIC_BASE_URL,
        messaging_service_sid=MESSAGING_SERVICE_SID,
        api_url=fake.base_url,
        timeout_seconds=timeout_seconds,
    )


@pytest.fixture
async def gateway(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioMessaging]:
    built = make_gateway(fake_twilio)
    yield built
    await built.aclose()


async def test_template_send_uses_content_api(
    gateway: TwilioMessaging, fake_twilio: FakeTwilio
) -> None:
    receipt = await gateway.send(
        message(
            "qual-1:whatsapp:1",
            template="HX0123456789abcdef0123456789abcdef",
            variables={"1": "Padaria Pão Quente", "2": "Ana"},
        )
    )

    [sent] = fake_twilio.messages
    assert receipt.provider == "twilio"
    assert receipt.provider_message_id == sent.sid
    assert receipt.replayed is False
    assert sent.sid.startswith("SM")
    assert sent.to == "whatsapp:+5541987654321"
    assert sent.messaging_service_sid == MESSAGING_SERVICE_SID
    assert sent.from_ is None
    assert sent.content_sid == "HX0123456789abcdef0123456789abcdef"
    assert json.loads(sent.content_variables or "") == {"1": "Padaria Pão Quente", "2": "Ana"}
    assert sent.body is None


async def test_text_send_uses_body_and_explicit_sender(
    gateway: TwilioMessaging, fake_twilio: FakeTwilio
) -> None:
    await gateway.send(message("qual-1:whatsapp:2", sender="+554130000000", body="Obrigado!"))

    [sent] = fake_twilio.messages
    assert sent.from_ == "whatsapp:+554130000000"
    assert sent.messaging_service_sid is None
    assert sent.body == "Obrigado!"
    assert sent.content_sid is None


async def test_sms_send_has_no_whatsapp_prefix(
    gateway: TwilioMessaging, fake_twilio: FakeTwilio
) -> None:
    await gateway.send(message("qual-1:sms:1", channel=Channel.SMS, sender="+554130000000"))

    [sent] = fake_twilio.messages
    assert sent.to == CONTACT
    assert sent.from_ == "+554130000000"


async def test_status_callback_carries_key(
    gateway: TwilioMessaging, fake_twilio: FakeTwilio
) -> None:
    key = "qual 1/whatsapp#1"

    await gateway.send(message(key))

    [sent] = fake_twilio.messages
    callback = urlsplit(sent.status_callback or "")
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == (
        f"{PUBLIC_BASE_URL}/v1/webhooks/twilio"
    )
    assert parse_qs(callback.query) == {"key": [key]}
    assert fake_twilio.keys_sent() == [key]


async def test_same_key_is_sent_once(gateway: TwilioMessaging, fake_twilio: FakeTwilio) -> None:
    first = await gateway.send(message("qual-1:whatsapp:1"))
    again = await gateway.send(message("qual-1:whatsapp:1"))

    assert again.replayed is True
    assert again.provider_message_id == first.provider_message_id
    assert fake_twilio.keys_sent() == ["qual-1:whatsapp:1"]


async def test_concurrent_sends_of_key_go_once(
    gateway: TwilioMessaging, fake_twilio: FakeTwilio
) -> None:
    # The delay keeps the first send in flight while the others arrive.
    fake_twilio.delay(CONTACT, 0.2)

    receipts = await asyncio.gather(*(gateway.send(message("qual-1:whatsapp:1")) for _ in range(4)))

    assert fake_twilio.keys_sent() == ["qual-1:whatsapp:1"]
    assert len({receipt.provider_message_id for receipt in receipts}) == 1
    assert sorted(receipt.replayed for receipt in receipts) == [False, True, True, True]


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (63024, 400, SendFailure.NOT_ON_CHANNEL),
        (63003, 400, SendFailure.NOT_ON_CHANNEL),
        (21614, 400, SendFailure.NOT_ON_CHANNEL),
        (21211, 400, SendFailure.PERMANENT),
        (21610, 400, SendFailure.PERMANENT),
        (63016, 400, SendFailure.PERMANENT),
        (20429, 429, SendFailure.RETRYABLE),
        (20503, 503, SendFailure.RETRYABLE),
    ],
)
async def test_error_codes_map_to_failures(
    gateway: TwilioMessaging,
    fake_twilio: FakeTwilio,
    code: int,
    status: int,
    expected: SendFailure,
) -> None:
    fake_twilio.reject(CONTACT, code=code, status=status)

    error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is expected
    assert error.code == str(code)
    assert fake_twilio.messages == []


async def test_not_on_whatsapp_moves_on(gateway: TwilioMessaging, fake_twilio: FakeTwilio) -> None:
    fake_twilio.not_on_whatsapp(CONTACT)

    error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.NOT_ON_CHANNEL


async def test_server_errors_retry_then_succeed(
    gateway: TwilioMessaging, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_times(CONTACT, 2)

    first = await send_error(gateway, message("qual-1:whatsapp:1"))
    second = await send_error(gateway, message("qual-1:whatsapp:1"))
    receipt = await gateway.send(message("qual-1:whatsapp:1"))

    assert first.failure is SendFailure.RETRYABLE
    assert second.failure is SendFailure.RETRYABLE
    assert receipt.replayed is False
    assert [status for _to, status in fake_twilio.attempts] == [500, 500, 201]
    assert fake_twilio.keys_sent() == ["qual-1:whatsapp:1"]


async def test_timeout_is_retryable_and_message_recorded(fake_twilio: FakeTwilio) -> None:
    fake_twilio.delay(CONTACT, 2.0)

    async with contextlib.aclosing(make_gateway(fake_twilio, timeout_seconds=0.3)) as gateway:
        started = time.monotonic()
        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.RETRYABLE
    assert error.code == "timeout"
    assert time.monotonic() - started < 1.5
    # The slow provider had queued the message before the client gave up.
    assert fake_twilio.keys_sent() == ["qual-1:whatsapp:1"]


async def test_unreachable_api_is_retryable(fake_twilio: FakeTwilio) -> None:
    async with contextlib.aclosing(make_gateway(fake_twilio)) as gateway:
        await fake_twilio.__aexit__(None, None, None)

        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.RETRYABLE
    assert error.code == "connection_error"


async def test_wrong_auth_token_is_permanent(fake_twilio: FakeTwilio) -> None:
    async with contextlib.aclosing(
        TwilioMessaging(
            account_sid=fake_twilio.account_sid,
            auth_token="not-the-token",
            public_base_url=PUBLIC_BASE_URL,
            messaging_service_sid=MESSAGING_SERVICE_SID,
            api_url=fake_twilio.base_url,
        )
    ) as gateway:
        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.PERMANENT
    assert error.code == "20003"


async def test_no_sender_is_permanent(fake_twilio: FakeTwilio) -> None:
    async with contextlib.aclosing(
        TwilioMessaging(
            account_sid=fake_twilio.account_sid,
            auth_token=fake_twilio.auth_token,
            public_base_url=PUBLIC_BASE_URL,
            api_url=fake_twilio.base_url,
        )
    ) as gateway:
        error = await send_error(gateway, message("qual-1:whatsapp:1"))

    assert error.failure is SendFailure.PERMANENT
    assert error.code == "no_sender"
    assert fake_twilio.attempts == []


async def test_email_is_not_a_twilio_channel(gateway: TwilioMessaging) -> None:
    error = await send_error(gateway, message("k", channel=Channel.EMAIL, to="ana@example.com"))

    assert error.failure is SendFailure.NOT_ON_CHANNEL
    assert gateway.channels() == frozenset({Channel.WHATSAPP, Channel.SMS})


def test_unknown_client_error_is_permanent() -> None:
    assert classify_twilio_error(400, 21408) is SendFailure.PERMANENT
    assert classify_twilio_error(502, None) is SendFailure.RETRYABLE
