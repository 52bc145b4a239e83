"""The SendGrid gateway against a local fake of v3 Mail Send: the JSON it sends and the errors it maps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.messaging.sendgrid import SendGridMessaging
from application.messaging import SendError
from domain.qualification import Channel, SendFailure
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.outbound import UNSUBSCRIBE_FOOTER, UNSUBSCRIBE_URL, closed_port, email_message


@pytest.fixture
async def fake_sendgrid() -> AsyncIterator[FakeSendGrid]:
    async with FakeSendGrid() as fake:
        yield fake


def gateway_for(
    fake: FakeSendGrid, *, api_key: str | None = None, timeout: float = 5
) -> SendGridMessaging:
    return SendGridMessaging(
        api_key or fake.api_key,
        api_url=fake.base_url,
        default_sender="contato@garimpo.invalid",
        timeout_seconds=timeout,
    )


async def test_send_posts_v3_mail_with_tracking(fake_sendgrid: FakeSendGrid) -> None:
    receipt = await gateway_for(fake_sendgrid).send(email_message())

    [mail] = fake_sendgrid.sent
    body = mail.body
    assert receipt.provider == "sendgrid"
    assert receipt.provider_message_id == mail.message_id
    assert receipt.replayed is False
    assert body["personalizations"][0]["to"] == [{"email": "compras@empresa.invalid"}]
    assert mail.custom_args == {"idempotency_key": "qualify:p1:email:1", "tenant_id": "tenant-1"}
    assert body["from"] == {"email": "contato@garimpo.invalid"}
    assert body["reply_to"] == {"email": "respostas@garimpo.invalid"}
    assert body["subject"] == "Fornecimento de embalagens"
    assert body["headers"] == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE_URL}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]

    text = mail.content("text/plain")
    html = mail.content("text/html")
    assert text is not None and html is not None
    assert "Podemos conversar sobre fornecimento de embalagens?" in text
    assert UNSUBSCRIBE_FOOTER in text
    assert f'<a href="{UNSUBSCRIBE_URL}">' in html


async def test_message_sender_and_no_reply_to(fake_sendgrid: FakeSendGrid) -> None:
    message = email_message(sender="vendas@tenant.invalid", variables={})

    await gateway_for(fake_sendgrid).send(message)

    [mail] = fake_sendgrid.sent
    assert mail.body["from"] == {"email": "vendas@tenant.invalid"}
    assert "reply_to" not in mail.body
    assert "headers" not in mail.body
    assert "Para não receber" not in (mail.content("text/plain") or "")


async def test_each_key_sent_once(fake_sendgrid: FakeSendGrid) -> None:
    gateway = gateway_for(fake_sendgrid)

    results = await asyncio.gather(*(gateway.send(email_message()) for _ in range(5)))
    other = await gateway.send(email_message(key="qualify:p2:email:1"))

    assert fake_sendgrid.sent_keys() == ["qualify:p1:email:1", "qualify:p2:email:1"]
    assert len({result.provider_message_id for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False, True, True, True, True]
    assert other.provider_message_id != results[0].provider_message_id


async def test_invalid_address_is_permanent(fake_sendgrid: FakeSendGrid) -> None:
    with pytest.raises(SendError) as raised:
        await gateway_for(fake_sendgrid).send(email_message(to="sem-arroba"))

    assert (raised.value.failure, raised.value.code) == (SendFailure.PERMANENT, "invalid_request")
    assert "valid address" in raised.value.message
    assert fake_sendgrid.sent == []


async def test_wrong_api_key_is_provider_auth(fake_sendgrid: FakeSendGrid) -> None:
    with pytest.raises(SendError) as raised:
        await gateway_for(fake_sendgrid, api_key="SG.wrong").send(email_message())

    assert (raised.value.failure, raised.value.code) == (SendFailure.PERMANENT, "provider_auth")


@pytest.mark.parametrize(
    ("status", "failure", "code"),
    [
        (400, SendFailure.PERMANENT, "invalid_request"),
        (403, SendFailure.PERMANENT, "provider_forbidden"),
        (429, SendFailure.RETRYABLE, "rate_limited"),
        (500, SendFailure.RETRYABLE, "provider_error"),
        (503, SendFailure.RETRYABLE, "provider_error"),
    ],
)
async def test_error_status_mapping(
    fake_sendgrid: FakeSendGrid, status: int, failure: SendFailure, code: str
) -> None:
    fake_sendgrid.fail("compras@empresa.invalid", status)

    with pytest.raises(SendError) as raised:
        await gateway_for(fake_sendgrid).send(email_message())

    assert (raised.value.failure, raised.value.code) == (failure, code)
    assert fake_sendgrid.sent == []


async def test_rate_limit_then_accepted(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.fail("compras@empresa.invalid", 429, times=2)
    gateway = gateway_for(fake_sendgrid)

    for _ in range(2):
        with pytest.raises(SendError) as raised:
            await gateway.send(email_message())
        assert raised.value.failure is SendFailure.RETRYABLE
    receipt = await gateway.send(email_message())

    assert receipt.replayed is False
    assert fake_sendgrid.sent_keys() == ["qualify:p1:email:1"]
    assert [status for _to, status in fake_sendgrid.attempts] == [429, 429, 202]


async def test_slow_response_times_out_retryable(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.delay("compras@empresa.invalid", 2.0)

    with pytest.raises(SendError) as raised:
        await gateway_for(fake_sendgrid, timeout=0.5).send(email_message())

    assert (raised.value.failure, raised.value.code) == (
        SendFailure.RETRYABLE,
        "provider_unreachable",
    )


async def test_connection_refused_is_retryable() -> None:
    gateway = SendGridMessaging(
        "SG.any",
        api_url=f"http://127.0.0.1:{closed_port()}",
        default_sender="contato@garimpo.invalid",
    )

    with pytest.raises(SendError) as raised:
        await gateway.send(email_message())

    assert (raised.value.failure, raised.value.code) == (
        SendFailure.RETRYABLE,
        "provider_unreachable",
    )


async def test_other_channels_not_sent(fake_sendgrid: FakeSendGrid) -> None:
    gateway = gateway_for(fake_sendgrid)

    with pytest.raises(SendError) as raised:
        await gateway.send(email_message(channel=Channel.WHATSAPP, to="+5511999990000"))

    assert raised.value.failure is SendFailure.NOT_ON_CHANNEL
    assert gateway.channels() == frozenset({Channel.EMAIL})
    assert fake_sendgrid.attempts == []
