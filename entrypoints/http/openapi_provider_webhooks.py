"""OpenAPI part: the webhooks that Twilio and Meta WhatsApp Cloud API call."""

from __future__ import annotations

from typing import Any

from entrypoints.http.openapi_kit import envelope, integer, json_content, obj, operation, ref

TAGS = [
    {
        "name": "Webhooks dos provedores",
        "description": (
            "Endereços a cadastrar na Twilio e no app da Meta. Não usam credenciais: a "
            "assinatura de cada requisição, conferida antes de qualquer leitura, autentica o "
            "provedor. Respostas e status de entrega entram na qualificação uma vez cada, em "
            "qualquer ordem de chegada."
        ),
    },
]

_TAG = "Webhooks dos provedores"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


def _not_configured(setting: str) -> dict[str, Any]:
    return {
        "503": _problem(
            f"O provedor está desligado nesta instalação porque {setting} não está definida "
            "(provider_not_configured). Nada foi lido."
        )
    }


_INVALID_SIGNATURE = {
    "403": _problem(
        "Assinatura ausente ou que não confere com a requisição (invalid_signature). Nada "
        "foi lido nem gravado."
    )
}
_INVALID_PAYLOAD = {
    "400": _problem(
        "Assinatura válida, mas o corpo não é uma notificação de mensagem "
        "(invalid_provider_payload)."
    )
}


def paths() -> dict[str, Any]:
    twilio = operation(
        "receiveTwilioWebhook",
        _TAG,
        "Receber mensagens e status da Twilio",
        "Endereço a cadastrar na Twilio como webhook de mensagens recebidas (WhatsApp e SMS); "
        "o Garimpo também o usa como StatusCallback de cada envio, com o parâmetro key. O "
        "cabeçalho X-Twilio-Signature é conferido sobre a URL pública (PUBLIC_BASE_URL, ou a "
        "URL da requisição quando ela não está definida) e os campos do formulário, com o "
        "TWILIO_AUTH_TOKEN. O corpo é o formulário (application/x-www-form-urlencoded) que a "
        "Twilio envia: MessageSid, AccountSid, From (whatsapp:+55... no WhatsApp, +55... no "
        "SMS), To, Body, NumMedia, WaId e ProfileName nas mensagens recebidas, OptOutType=STOP "
        "no descadastro, e MessageStatus (queued, sent, delivered, read, failed, undelivered) "
        "e ErrorCode nos callbacks de status. A resposta é um TwiML vazio, que não envia nada "
        "ao contato.",
        security="public",
        parameters=[
            {
                "name": "key",
                "in": "query",
                "required": False,
                "description": "Chave de idempotência do envio, nos callbacks de status.",
                "schema": {"type": "string"},
            }
        ],
        responses={
            "200": {
                "description": "Notificação aceita e repassada à qualificação.",
                "content": {"text/xml": {"schema": {"type": "string"}}},
            },
            **_INVALID_PAYLOAD,
            **_INVALID_SIGNATURE,
            **_not_configured("TWILIO_AUTH_TOKEN"),
        },
    )
    twilio["requestBody"] = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "description": "O formulário que a Twilio envia, assinado campo a campo.",
                    "additionalProperties": {"type": "string"},
                },
                "example": {
                    "MessageSid": "SM0123456789abcdef0123456789abcdef",
                    "From": "whatsapp:+5541987654321",
                    "To": "whatsapp:+5541999990000",
                    "Body": "Sim, tenho interesse",
                },
            }
        },
    }
    twilio["responses"]["413"] = {"$ref": "#/components/responses/PayloadTooLarge"}
    twilio["responses"] = dict(sorted(twilio["responses"].items()))

    handshake = operation(
        "verifyWhatsAppWebhook",
        _TAG,
        "Confirmar o webhook da Meta",
        "A Meta chama este endereço ao cadastrar o webhook no app. Com hub.mode=subscribe e "
        "hub.verify_token igual à META_VERIFY_TOKEN, a resposta é o hub.challenge em texto.",
        security="public",
        parameters=[
            _query("hub.mode", "Sempre subscribe."),
            _query("hub.verify_token", "O token cadastrado no painel do app."),
            _query("hub.challenge", "Valor a devolver no corpo da resposta."),
        ],
        responses={
            "200": {
                "description": "O hub.challenge recebido.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "403": _problem(
                "Token de verificação que não confere, ou hub.mode e hub.challenge ausentes "
                "(invalid_verify_token)."
            ),
            **_not_configured("META_VERIFY_TOKEN"),
        },
    )

    notification = operation(
        "receiveWhatsAppWebhook",
        _TAG,
        "Receber mensagens e status da Meta",
        "Endereço a cadastrar no app da Meta (campo messages do WhatsApp Business Account). "
        "O cabeçalho X-Hub-Signature-256 é conferido sobre os bytes exatos do corpo, com o "
        "META_APP_SECRET.",
        security="public",
        body={
            "type": "object",
            "description": "A notificação, como a Meta a envia.",
        },
        body_example={
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "554130000000",
                                    "phone_number_id": "106540352242922",
                                },
                                "messages": [
                                    {
                                        "from": "554187654321",
                                        "id": "wamid.HBgMNTU0MTg3NjU0MzIxFQIAEhgg",
                                        "timestamp": "1767225600",
                                        "type": "text",
                                        "text": {"body": "Tenho interesse, podem ligar."},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
        responses={
            "200": {
                "description": "Notificação aceita e repassada à qualificação.",
                "content": json_content(
                    envelope("Quantos eventos a notificação trouxe.", ref("ProviderWebhookReceipt"))
                ),
            },
            **_INVALID_PAYLOAD,
            **_INVALID_SIGNATURE,
            **_not_configured("META_APP_SECRET"),
        },
    )

    return {
        "/v1/webhooks/twilio": {"post": twilio},
        "/v1/webhooks/whatsapp": {"get": handshake, "post": notification},
    }


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def schemas() -> dict[str, Any]:
    return {
        "ProviderWebhookReceipt": obj(
            "Recibo de uma notificação de provedor.",
            {"events": integer("Respostas e status que a notificação trouxe.", minimum=0)},
        )
    }
