"""The SMTP gateway against a local aiosmtpd server: headers, bodies, STARTTLS, login, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.messaging.smtp import IDEMPOTENCY_HEADER, SmtpMessaging
from application.messaging import SendError
from domain.qualification import Channel, SendFailure
from tests.support.fake_smtp import FakeSmtpServer
from tests.support.outbound import UNSUBSCRIBE_FOOTER, UNSUBSCRIBE_URL, closed_port, email_message


@pytest.fixture
async def smtp_server() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        yield server


def plain_gateway(server: FakeSmtpServer) -> SmtpMessaging:
    return SmtpMessaging(
        "127.0.0.1",
        server.port,
        default_sender="contato@garimpo.invalid",
        starttls=False,
        timeout_seconds=5,
    )


async def test_send_delivers_headers_and_both_bodies(smtp_server: FakeSmtpServer) -> None:
    receipt = await plain_gateway(smtp_server).send(email_message())

    [mail] = smtp_server.messages
    message = mail.message
    assert mail.rcpt_tos == ["compras@empresa.invalid"]
    assert mail.mail_from == "contato@garimpo.invalid"
    assert message["Subject"] == "Fornecimento de embalagens"
    assert message["Reply-To"] == "respostas@garimpo.invalid"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message[IDEMPOTENCY_HEADER] == "qualify:p1:email:1"
    assert message["Message-ID"] == f"<{receipt.provider_message_id}>"
    assert receipt.provider_message_id.endswith("@garimpo.invalid")
    assert (receipt.provider, receipt.replayed) == ("smtp", False)

    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Podemos conversar sobre fornecimento de embalagens?" in text
    assert UNSUBSCRIBE_FOOTER in text
    assert f'<a href="{UNSUBSCRIBE_URL}">' in html
    assert "Para não receber mais nossos e-mails" in html


async def test_message_sender_overrides_the_default(smtp_server: FakeSmtpServer) -> None:
    await plain_gateway(smtp_server).send(email_message(sender="vendas@tenant.invalid"))

    [mail] = smtp_server.messages
    assert mail.message["From"] == "vendas@tenant.invalid"
    assert mail.message["Message-ID"].endswith("@tenant.invalid>")


async def test_same_key_is_sent_once(smtp_server: FakeSmtpServer) -> None:
    gateway = plain_gateway(smtp_server)

    first = await gateway.send(email_message())
    again = await gateway.send(email_message())
    other = await gateway.send(email_message(key="qualify:p2:email:1"))

    assert len(smtp_server.messages) == 2
    assert again.provider_message_id == first.provider_message_id
    assert again.replayed is True
    assert other.provider_message_id != first.provider_message_id
    keys = [mail.message[IDEMPOTENCY_HEADER] for mail in smtp_server.messages]
    assert keys == ["qualify:p1:email:1", "qualify:p2:email:1"]


async def test_message_id_stable_across_gateways(smtp_server: FakeSmtpServer) -> None:
    """Every process derives one Message-ID for a tenant and key, so a reply's In-Reply-To finds it."""
    first = await plain_gateway(smtp_server).send(email_message())
    second = await plain_gateway(smtp_server).send(email_message())

    assert first.provider_message_id == second.provider_message_id


async def test_permanent_recipient_refusal(smtp_server: FakeSmtpServer) -> None:
    smtp_server.refuse("sumiu@empresa.invalid", "550 5.1.1 User unknown")

    with pytest.raises(SendError) as raised:
        await plain_gateway(smtp_server).send(email_message(to="sumiu@empresa.invalid"))

    assert raised.value.failure is SendFailure.PERMANENT
    assert raised.value.code == "recipient_refused"
    assert "550" in raised.value.message
    assert smtp_server.messages == []


async def test_temporary_refusal_retries_then_sends(smtp_server: FakeSmtpServer) -> None:
    smtp_server.refuse("cheio@empresa.invalid", "451 4.2.2 Mailbox full", times=1)
    gateway = plain_gateway(smtp_server)

    with pytest.raises(SendError) as raised:
        await gateway.send(email_message(to="cheio@empresa.invalid"))
    receipt = await gateway.send(email_message(to="cheio@empresa.invalid"))

    assert raised.value.failure is SendFailure.RETRYABLE
    assert receipt.replayed is False
    assert len(smtp_server.messages) == 1


async def test_data_refusal_is_mapped_by_class(smtp_server: FakeSmtpServer) -> None:
    smtp_server.refuse("spam@empresa.invalid", "554 5.7.1 Message rejected as spam", stage="DATA")
    smtp_server.refuse("lento@empresa.invalid", "421 4.7.0 Try again later", stage="DATA")
    gateway = plain_gateway(smtp_server)

    with pytest.raises(SendError) as permanent:
        await gateway.send(email_message(to="spam@empresa.invalid"))
    with pytest.raises(SendError) as temporary:
        await gateway.send(email_message(to="lento@empresa.invalid", key="k2"))

    assert (permanent.value.failure, permanent.value.code) == (
        SendFailure.PERMANENT,
        "message_refused",
    )
    assert temporary.value.failure is SendFailure.RETRYABLE


async def test_connection_refused_is_retryable() -> None:
    gateway = SmtpMessaging(
        "127.0.0.1",
        closed_port(),
        default_sender="contato@garimpo.invalid",
        starttls=False,
        timeout_seconds=2,
    )

    with pytest.raises(SendError) as raised:
        await gateway.send(email_message())

    assert (raised.value.failure, raised.value.code) == (
        SendFailure.RETRYABLE,
        "provider_unreachable",
    )


async def test_starttls_and_login() -> None:
    async with FakeSmtpServer(tls=True, username="garimpo", password="s3nh4-longa") as server:
        gateway = SmtpMessaging(
            "127.0.0.1",
            server.port,
            default_sender="contato@garimpo.invalid",
            starttls=True,
            username="garimpo",
            password="s3nh4-longa",
            tls_context=server.client_tls_context(),
            timeout_seconds=5,
        )

        await gateway.send(email_message())

    [mail] = server.messages
    assert mail.tls is True
    assert mail.login == "garimpo"


async def test_wrong_password_is_provider_auth() -> None:
    async with FakeSmtpServer(tls=True, username="garimpo", password="s3nh4-longa") as server:
        gateway = SmtpMessaging(
            "127.0.0.1",
            server.port,
            default_sender="contato@garimpo.invalid",
            username="garimpo",
            password="errada",
            tls_context=server.client_tls_context(),
            timeout_seconds=5,
        )

        with pytest.raises(SendError) as raised:
            await gateway.send(email_message())

    assert (raised.value.failure, raised.value.code) == (SendFailure.PERMANENT, "provider_auth")
    assert server.messages == []


async def test_untrusted_certificate_is_retryable() -> None:
    """A server whose certificate does not verify never receives the password."""
    async with FakeSmtpServer(tls=True, username="garimpo", password="s3nh4-longa") as server:
        gateway = SmtpMessaging(
            "127.0.0.1",
            server.port,
            default_sender="contato@garimpo.invalid",
            username="garimpo",
            password="s3nh4-longa",
            timeout_seconds=5,
        )

        with pytest.raises(SendError) as raised:
            await gateway.send(email_message())

    assert raised.value.failure is SendFailure.RETRYABLE
    assert server.messages == []


async def test_non_email_and_missing_subject_rejected(smtp_server: FakeSmtpServer) -> None:
    gateway = plain_gateway(smtp_server)

    with pytest.raises(SendError) as sms:
        await gateway.send(email_message(channel=Channel.SMS, to="+5511999990000"))
    with pytest.raises(SendError) as no_subject:
        await gateway.send(email_message(subject=None))

    assert sms.value.failure is SendFailure.NOT_ON_CHANNEL
    assert (no_subject.value.failure, no_subject.value.code) == (
        SendFailure.PERMANENT,
        "missing_subject",
    )
    assert smtp_server.messages == []
    assert gateway.channels() == frozenset({Channel.EMAIL})


async def test_unsafe_unsubscribe_url_rejected(smtp_server: FakeSmtpServer) -> None:
    unsafe = email_message(
        variables={"unsubscribe_url": "https://x.invalid/a>\r\nBcc: alvo@x.invalid"}
    )

    with pytest.raises(SendError) as raised:
        await plain_gateway(smtp_server).send(unsafe)

    assert raised.value.code == "invalid_unsubscribe_url"
    assert smtp_server.messages == []
