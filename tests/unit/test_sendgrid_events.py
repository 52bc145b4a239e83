"""SendGrid webhook parsers: event batches to status reports and opt-outs, Inbound Parse to replies."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from adapters.messaging.sendgrid_events import (
    InvalidPayload,
    decode_inbound_form,
    parse_event_batch,
    parse_inbound,
    reply_target,
    strip_quoted_reply,
)
from application.provider_events import StatusReport, Unsubscribed
from domain.qualification import Channel, DeliveryStatus
from tests.support.fake_sendgrid import FakeSendGrid, SentMail, reply_headers

NOW = dt.datetime(2026, 12, 4, 13, 15, tzinfo=dt.UTC)
MAIL = SentMail(
    message_id="JQtrNr0IRR-slAi2eCUMSg",
    to="Compras@Empresa.invalid",
    body={
        "personalizations": [
            {
                "to": [{"email": "Compras@Empresa.invalid"}],
                "custom_args": {"idempotency_key": "qualify:p1:email:1", "tenant_id": "t1"},
            }
        ]
    },
)


def batch(*events: dict[str, object]) -> bytes:
    return json.dumps(list(events)).encode()


def test_events_map_to_statuses() -> None:
    fake = FakeSendGrid()
    kinds = ["processed", "delivered", "open"]
    events = [fake.event(MAIL, kind, timestamp=1_767_225_600 + i) for i, kind in enumerate(kinds)]

    reports = parse_event_batch(batch(*events))

    assert [report.status for report in reports] == [
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
    ]
    first = reports[0]
    assert isinstance(first, StatusReport)
    assert first.provider == "sendgrid"
    assert first.event_id == events[0]["sg_event_id"]
    assert first.provider_message_id == "JQtrNr0IRR-slAi2eCUMSg"
    assert first.idempotency_key == "qualify:p1:email:1"
    assert first.occurred_at == dt.datetime.fromtimestamp(1_767_225_600, dt.UTC)
    assert first.error_code is None


def test_bounce_and_dropped_are_failures_with_codes() -> None:
    fake = FakeSendGrid()
    bounce = fake.event(
        MAIL, "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 User unknown"
    )
    blocked = fake.event(MAIL, "bounce", type="blocked", status="5.7.1")
    dropped = fake.event(MAIL, "dropped", reason="Bounced Address")

    reports = parse_event_batch(batch(bounce, blocked, dropped))

    assert all(isinstance(report, StatusReport) for report in reports)
    assert [report.status for report in reports] == [DeliveryStatus.FAILED] * 3
    assert [report.error_code for report in reports] == [
        "bounce:bounce:5.1.1",
        "bounce:blocked:5.7.1",
        "dropped",
    ]


def test_deferred_click_and_unknown_are_skipped() -> None:
    fake = FakeSendGrid()
    events = [fake.event(MAIL, kind) for kind in ("deferred", "click", "group_resubscribe", "new")]

    assert parse_event_batch(batch(*events)) == []


@pytest.mark.parametrize("kind", ["unsubscribe", "group_unsubscribe", "spamreport"])
def test_opt_out_events_become_unsubscribed(kind: str) -> None:
    event = FakeSendGrid().event(MAIL, kind, timestamp=1_767_225_600)

    [item] = parse_event_batch(batch(event))

    assert isinstance(item, Unsubscribed)
    assert item.channel is Channel.EMAIL
    assert item.address == "compras@empresa.invalid"
    assert item.event_id == event["sg_event_id"]
    assert item.idempotency_key == "qualify:p1:email:1"


def test_event_without_custom_args_keeps_message_id() -> None:
    event = {
        "email": "a@b.invalid",
        "timestamp": 1_767_225_600,
        "event": "delivered",
        "sg_event_id": "ev1",
        "sg_message_id": "abc.filter-1",
    }

    [report] = parse_event_batch(batch(event))

    assert isinstance(report, StatusReport)
    assert report.idempotency_key is None
    assert report.provider_message_id == "abc"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"event": "delivered"}',
        b"[1]",
        b'[{"event": "delivered", "timestamp": 1}]',
        b'[{"event": "delivered", "sg_event_id": "e", "timestamp": "ontem"}]',
    ],
    ids=["not-json", "object", "not-object", "no-event-id", "bad-timestamp"],
)
def test_malformed_batches_raise(raw: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_event_batch(raw)


# --- Inbound Parse -------------------------------------------------------------------


def inbound_fields(text: str, **overrides: str) -> dict[str, str]:
    fields = {
        "headers": reply_headers(
            message_id="CAF=reply123@mail.gmail.com",
            in_reply_to="JQtrNr0IRR-slAi2eCUMSg@ismtpd0004p1iad1.sendgrid.net",
            sender="Maria Souza <Maria@Empresa.invalid>",
        ),
        "from": "Maria Souza <Maria@Empresa.invalid>",
        "to": "respostas@garimpo.invalid",
        "subject": "Re: Proposta",
        "text": text,
        "envelope": json.dumps(
            {"to": ["respostas@garimpo.invalid"], "from": "maria@empresa.invalid"}
        ),
    }
    fields.update(overrides)
    return fields


def test_inbound_maps_to_reply() -> None:
    reply = parse_inbound(inbound_fields("Tenho interesse, pode ligar."), received_at=NOW)

    assert reply.provider == "sendgrid"
    assert reply.channel is Channel.EMAIL
    assert reply.sender == "maria@empresa.invalid"
    assert reply.recipient == "respostas@garimpo.invalid"
    assert reply.body == "Tenho interesse, pode ligar."
    assert reply.provider_message_id == "CAF=reply123@mail.gmail.com"
    assert reply.in_reply_to == "JQtrNr0IRR-slAi2eCUMSg"
    assert reply.received_at == NOW


def test_reply_target_forms() -> None:
    assert (
        reply_target("<JQtrNr0IRR-slAi2eCUMSg@ismtpd0004p1iad1.sendgrid.net>")
        == "JQtrNr0IRR-slAi2eCUMSg"
    )
    assert reply_target("<abc123@garimpo.invalid>") == "abc123@garimpo.invalid"
    assert reply_target("  <a@b.invalid> (comentário)") == "a@b.invalid"
    assert reply_target(None) is None
    assert reply_target("") is None


PT_BR_REPLY = """Sim, temos interesse. Podem mandar a tabela?

Att,
Maria

Em qui., 4 de dez. de 2026 às 10:00, Garimpo <contato@garimpo.invalid>
escreveu:

> Olá, Maria!
>
> Podemos conversar sobre fornecimento de embalagens?
>
> --
> Para não receber mais nossos e-mails, acesse: https://x.invalid/d/1
"""

EN_REPLY = """Not interested, thanks.

On Thu, Dec 4, 2026 at 10:00 AM Garimpo <contato@garimpo.invalid> wrote:
> Hello
"""


def test_strip_pt_br_attribution_over_two_lines() -> None:
    assert (
        strip_quoted_reply(PT_BR_REPLY)
        == "Sim, temos interesse. Podem mandar a tabela?\n\nAtt,\nMaria"
    )


def test_strip_english_attribution() -> None:
    assert strip_quoted_reply(EN_REPLY) == "Not interested, thanks."


def test_strip_inline_quotes_keeps_answers() -> None:
    text = "> Vocês compram embalagens?\nSim, todo mês.\n> Qual volume?\r\nUns 2 mil.\r\n"

    assert strip_quoted_reply(text) == "Sim, todo mês.\nUns 2 mil."


def test_strip_outlook_original_message() -> None:
    text = "Pode ligar amanhã.\n\n-----Mensagem Original-----\nDe: Garimpo\nAssunto: Proposta"

    assert strip_quoted_reply(text) == "Pode ligar amanhã."


def test_strip_outlook_separator() -> None:
    text = "Ligo na segunda.\n\n________________________________\nDe: Garimpo\nEnviado: quinta"

    assert strip_quoted_reply(text) == "Ligo na segunda."


def test_text_that_mentions_words_is_kept() -> None:
    text = "Em breve retorno.\nOn Monday I will call."

    assert strip_quoted_reply(text) == text


def test_html_only_reply_is_read_as_text() -> None:
    fields = inbound_fields("")
    del fields["text"]
    fields["html"] = "<div>Quero saber mais</div><blockquote>&gt; antigo</blockquote>"

    reply = parse_inbound(fields, received_at=NOW)

    assert reply.body == "Quero saber mais"


def test_missing_message_id_hashes_stably() -> None:
    fields = inbound_fields("Ok", headers="From: maria@empresa.invalid\r\n")

    first = parse_inbound(fields, received_at=NOW)
    second = parse_inbound(dict(fields), received_at=NOW)

    assert first.provider_message_id.startswith("sha256:")
    assert first.provider_message_id == second.provider_message_id
    assert first.in_reply_to is None


def test_missing_sender_raises() -> None:
    fields = inbound_fields("Ok", headers="", envelope="{}")
    del fields["from"]

    with pytest.raises(InvalidPayload):
        parse_inbound(fields, received_at=NOW)


def test_decode_form_uses_charsets_and_skips_files() -> None:
    post = FakeSendGrid().inbound(
        {"from": "José <jose@empresa.invalid>", "text": "Ação rápida, obrigado"},
        charsets={"text": "iso-8859-1"},
        attachments={"proposta.pdf": b"%PDF-\xff\xfe\x00binary"},
    )

    fields = decode_inbound_form(post.headers["Content-Type"], post.body)

    assert fields["text"] == "Ação rápida, obrigado"
    assert fields["from"] == "José <jose@empresa.invalid>"
    assert fields["attachments"] == "1"
    assert "attachment1" not in fields


def test_decode_form_rejects_other_content_types() -> None:
    with pytest.raises(InvalidPayload):
        decode_inbound_form("application/json", b"{}")
