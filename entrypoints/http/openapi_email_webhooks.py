"""OpenAPI part: SendGrid's Event Webhook and Inbound Parse webhook."""

from __future__ import annotations

from typing import Any

from adapters.messaging.signatures import (
    DEFAULT_SENDGRID_TOLERANCE_SECONDS,
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
)
from entrypoints.http.openapi_kit import (
    integer,
    obj,
    one_response,
    operation,
    ref,
    response_ref,
    text,
)

TAGS = [
    {
        "name": "Webhooks do SendGrid",
        "description": (
            "Endereços a cadastrar no SendGrid para o status dos e-mails enviados e as "
            "respostas dos contatos. Não usam credenciais: a assinatura de cada requisição, "
            "conferida sobre o corpo exato recebido, autentica o SendGrid."
        ),
    },
]

_TAG = "Webhooks do SendGrid"

_SIGNATURE_TEXT = (
    f"O cabeçalho {SENDGRID_SIGNATURE_HEADER} traz a assinatura ECDSA P-256 (SHA-256, DER em "
    f"base64) do valor de {SENDGRID_TIMESTAMP_HEADER} seguido do corpo exato recebido. Uma "
    f"assinatura com mais de {DEFAULT_SENDGRID_TOLERANCE_SECONDS} segundos é recusada."
)


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


_REJECTED = {
    "403": _problem(
        "Assinatura ausente, inválida ou expirada (invalid_signature). Nada foi gravado."
    ),
}


def _not_configured(setting: str) -> dict[str, Any]:
    return {
        "503": _problem(
            f"A chave de verificação ({setting}) não está configurada ou é inválida "
            "(provider_not_configured). O SendGrid tenta de novo mais tarde."
        )
    }


_EVENT_BATCH_EXAMPLE = [
    {
        "email": "contato@empresa.invalid",
        "timestamp": 1767225600,
        "event": "delivered",
        "sg_event_id": "ZGVsaXZlcmVkLTAtMTIzNA",
        "sg_message_id": "JQtrNr0IRR-slAi2eCUMSg.filterdrecv-5bd7f4bd5-2kx8w-1-6750A6C8-3.0",
        "idempotency_key": "qualify:3f0c8f1e-2b7a-4f7e-9a51-5d1c7e2b9a40:email:1",
        "tenant_id": "8d2f3c4a-1b2c-4d5e-8f90-123456789abc",
    }
]


def paths() -> dict[str, Any]:
    return {
        "/v1/webhooks/sendgrid": {
            "post": operation(
                "receiveSendGridEvents",
                _TAG,
                "Receber eventos do SendGrid",
                "Endereço a cadastrar no Event Webhook do SendGrid, com a assinatura (Signed "
                f"Event Webhook) ativada. {_SIGNATURE_TEXT} Cada evento chega com os "
                "custom_args do envio (idempotency_key e tenant_id). processed, delivered e "
                "open mudam o status do e-mail para enviado, entregue e lido; bounce e dropped "
                "o marcam como falho; unsubscribe, group_unsubscribe e spamreport registram o "
                "descadastro do endereço. deferred, click e os demais são ignorados. Um evento "
                "repetido (mesmo sg_event_id) é aplicado uma vez só.",
                security="public",
                # The example sits in the schema, because the media-type example of
                # this document's request bodies is a JSON object everywhere else.
                body={
                    "type": "array",
                    "description": "O lote de eventos, como o SendGrid o envia.",
                    "items": {"type": "object"},
                    "examples": [_EVENT_BATCH_EXAMPLE],
                },
                responses={
                    **one_response("O lote foi aceito.", "SendGridEventsReceipt"),
                    "400": _problem(
                        "Corpo assinado que não é um lote de eventos do SendGrid "
                        "(invalid_sendgrid_event)."
                    ),
                    **_REJECTED,
                    **_not_configured("SENDGRID_WEBHOOK_PUBLIC_KEY"),
                },
            )
        },
        "/v1/webhooks/sendgrid/inbound": {
            "post": _inbound_operation(),
        },
    }


def _inbound_operation() -> dict[str, Any]:
    result = operation(
        "receiveSendGridInboundEmail",
        _TAG,
        "Receber uma resposta por e-mail (SendGrid Inbound Parse)",
        "Endereço a cadastrar no Inbound Parse do SendGrid, com uma política de segurança com "
        f"verificação de assinatura anexada à configuração. {_SIGNATURE_TEXT} O corpo é "
        "multipart/form-data com os campos from, to, subject, text, html, headers, envelope e "
        "charsets. A resposta vira uma interação do pré-lead: o remetente identifica o contato, "
        "o cabeçalho In-Reply-To aponta o e-mail que ela responde, e o histórico citado (linhas "
        'com > e tudo a partir de "Em ... escreveu:" ou "On ... wrote:") é removido do texto. '
        "Uma resposta repetida (mesmo Message-ID) é aplicada uma vez só.",
        security="public",
        responses={
            **one_response("O e-mail foi aceito.", "SendGridInboundReceipt"),
            "400": _problem(
                "Corpo assinado que não é um e-mail do Inbound Parse (invalid_sendgrid_inbound)."
            ),
            "413": response_ref("PayloadTooLarge"),
            **_REJECTED,
            **_not_configured("SENDGRID_INBOUND_PUBLIC_KEY"),
        },
    )
    result["requestBody"] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "Os campos do Inbound Parse, no formato já interpretado.",
                    "properties": {
                        name: {"type": "string"}
                        for name in (
                            "from",
                            "to",
                            "subject",
                            "text",
                            "html",
                            "headers",
                            "envelope",
                            "charsets",
                        )
                    },
                    "additionalProperties": True,
                }
            }
        },
    }
    result["responses"] = dict(sorted(result["responses"].items()))
    return result


def schemas() -> dict[str, Any]:
    return {
        "SendGridEventsReceipt": obj(
            "O que o lote de eventos trouxe.",
            {
                "status_reports": integer("Eventos que informaram um status de envio.", minimum=0),
                "unsubscribes": integer("Eventos de descadastro.", minimum=0),
            },
        ),
        "SendGridInboundReceipt": obj(
            "O e-mail recebido.",
            {"provider_message_id": text("Message-ID do e-mail recebido, sem < e >.")},
        ),
    }
