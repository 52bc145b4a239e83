"""OpenAPI part: the tenant's webhook endpoints, their delivery log and redelivery."""

from __future__ import annotations

from typing import Any

from domain.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    MAX_DESCRIPTION_LENGTH,
    MAX_ENDPOINTS_PER_TENANT,
    MAX_URL_LENGTH,
    SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE_SECONDS,
    TIMESTAMP_HEADER,
    WEBHOOK_EVENTS,
)
from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    integer,
    json_content,
    obj,
    one_response,
    operation,
    page_of,
    path_id,
    ref,
    response_ref,
    text,
)

_EVENTS = ", ".join(f"{name} ({description})" for name, description in WEBHOOK_EVENTS.items())

TAGS = [
    {
        "name": "Webhooks",
        "description": (
            "Avisos do Garimpo para um sistema da empresa cliente. Cada evento é enviado por "
            "POST em JSON a cada endpoint que o assina, com os cabeçalhos "
            f"{EVENT_ID_HEADER}, {EVENT_TYPE_HEADER}, {TIMESTAMP_HEADER} e {SIGNATURE_HEADER}: "
            "t=<segundos unix>,v1=<HMAC-SHA256 em hexadecimal de '<t>.<corpo>' com o segredo "
            "do endpoint>. Confira a assinatura sobre os bytes do corpo, antes de interpretar o "
            f"JSON, e recuse carimbos com mais de {SIGNATURE_TOLERANCE_SECONDS} segundos. "
            "Responda 2xx em até 10 segundos (o padrão da instalação); qualquer outra resposta é tentada de novo com "
            "espera crescente por 24 horas, e depois a entrega fica como failed. Um evento "
            f"pode chegar mais de uma vez: use {EVENT_ID_HEADER} para ignorar repetições. "
            f"Eventos: {_EVENTS}."
        ),
    }
]


def paths() -> dict[str, Any]:
    endpoint_id = path_id("endpoint_id", "Identificador do endpoint.")
    base = "/v1/webhooks/endpoints"
    return {
        base: {
            "get": operation(
                "listWebhookEndpoints",
                "Webhooks",
                "Listar os endpoints de webhook",
                "Os endpoints ativos do tenant, do mais antigo para o mais novo. O segredo não "
                "aparece: ele é mostrado só na criação.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses={
                    "200": {
                        "description": "Uma página de endpoints.",
                        "content": json_content(ref("WebhookEndpointPage")),
                    }
                },
            ),
            "post": operation(
                "createWebhookEndpoint",
                "Webhooks",
                "Cadastrar um endpoint de webhook",
                "Cadastra um endereço https:// que recebe os eventos escolhidos. A resposta traz "
                "o segredo (whsec_...) que assina as entregas; guarde-o, porque ele não é "
                "mostrado de novo. Endereços de rede privada, loopback, link-local e de "
                "metadados de nuvem são recusados (webhook_target_not_allowed), também quando "
                "o nome aponta para eles na hora da entrega. Cada tenant tem até "
                f"{MAX_ENDPOINTS_PER_TENANT} endpoints ativos (webhook_endpoint_limit).",
                security="tenant",
                body=ref("WebhookEndpointCreate"),
                body_example={
                    "url": "https://crm.exemplo.com.br/webhooks/garimpo",
                    "events": ["credits.low"],
                    "description": "Aviso de saldo no CRM",
                },
                responses={
                    **one_response(
                        "O endpoint criado, com o segredo.", "WebhookEndpointCreated", "201"
                    ),
                    "409": response_ref("Conflict"),
                },
            ),
        },
        base + "/{endpoint_id}": {
            "get": operation(
                "getWebhookEndpoint",
                "Webhooks",
                "Consultar um endpoint de webhook",
                "O endpoint, sem o segredo.",
                security="tenant",
                parameters=[endpoint_id],
                responses=one_response("O endpoint.", "WebhookEndpoint"),
            ),
            "delete": operation(
                "removeWebhookEndpoint",
                "Webhooks",
                "Remover um endpoint de webhook",
                "O endpoint deixa de receber eventos na hora; entregas pendentes dele terminam "
                "como failed. O histórico de entregas continua em .../deliveries.",
                security="tenant",
                parameters=[endpoint_id],
                responses=one_response("O endpoint removido, com removed_at.", "WebhookEndpoint"),
            ),
        },
        base + "/{endpoint_id}/deliveries": {
            "get": operation(
                "listWebhookDeliveries",
                "Webhooks",
                "Listar as entregas de um endpoint",
                "As entregas do endpoint, da mais nova para a mais antiga, com a situação, as "
                "tentativas, o último código HTTP e o último erro.",
                security="tenant",
                parameters=[endpoint_id, *PAGE_PARAMETERS],
                responses={
                    "200": {
                        "description": "Uma página de entregas.",
                        "content": json_content(ref("WebhookDeliveryPage")),
                    }
                },
            )
        },
        "/v1/webhooks/deliveries/{delivery_id}/redeliver": {
            "post": operation(
                "redeliverWebhook",
                "Webhooks",
                "Reenviar uma entrega",
                "Envia a entrega de novo agora, qualquer que seja a situação dela, e responde "
                "com o resultado dessa tentativa. Uma falha dentro das 24 horas do evento "
                "volta para a fila de novas tentativas.",
                security="tenant",
                parameters=[path_id("delivery_id", "Identificador da entrega.")],
                responses=one_response("A entrega depois da tentativa.", "WebhookDelivery"),
            )
        },
    }


def schemas() -> dict[str, Any]:
    events = {
        "type": "array",
        "minItems": 1,
        "items": {"enum": sorted(WEBHOOK_EVENTS)},
        "description": f"Tipos de evento assinados: {_EVENTS}.",
    }
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    endpoint = obj(
        "Um endpoint de webhook.",
        {
            "id": text("Identificador do endpoint.", fmt="uuid"),
            "url": text("Endereço que recebe os eventos."),
            "events": events,
            "description": text("Descrição livre.", nullable=True),
            "created_at": text("Quando foi cadastrado.", fmt="date-time"),
            "removed_at": {**timestamp, "description": "Quando foi removido."},
        },
    )
    return {
        "WebhookEndpoint": endpoint,
        "WebhookEndpointPage": page_of("Uma página de endpoints.", "WebhookEndpoint"),
        "WebhookEndpointCreated": {
            "description": "O endpoint criado e o segredo que assina as entregas.",
            "allOf": [
                ref("WebhookEndpoint"),
                obj(
                    "O segredo.",
                    {
                        "secret": {
                            "type": "string",
                            "pattern": "^whsec_",
                            "description": "Segredo do HMAC, com o prefixo; mostrado só agora.",
                        }
                    },
                ),
            ],
        },
        "WebhookEndpointCreate": {
            **obj(
                "Um endpoint novo.",
                {
                    "url": {
                        "type": "string",
                        "maxLength": MAX_URL_LENGTH,
                        "description": "Endereço https:// que recebe os eventos.",
                    },
                    "events": events,
                    "description": {
                        "type": ["string", "null"],
                        "maxLength": MAX_DESCRIPTION_LENGTH,
                        "description": "Descrição livre.",
                    },
                },
                required=["url", "events"],
            ),
            "additionalProperties": False,
        },
        "WebhookEvent": obj(
            "O corpo de cada entrega.",
            {
                "id": text(f"Identificador do evento, o mesmo de {EVENT_ID_HEADER}.", fmt="uuid"),
                "type": text("Tipo do evento."),
                "created_at": text("Quando o evento aconteceu.", fmt="date-time"),
                "tenant_id": text("O tenant.", fmt="uuid"),
                "data": {
                    "type": "object",
                    "description": (
                        "Dados do evento. Em credits.low: available (créditos disponíveis), "
                        "threshold (limite do alerta) e entry_id (o lançamento que cruzou o "
                        "limite)."
                    ),
                },
            },
        ),
        "WebhookDelivery": obj(
            "Uma entrega de um evento a um endpoint.",
            {
                "id": text("Identificador da entrega.", fmt="uuid"),
                "endpoint_id": text("O endpoint.", fmt="uuid"),
                "event_id": text("O evento.", fmt="uuid"),
                "event_type": text("Tipo do evento."),
                "status": {
                    "enum": ["pending", "delivered", "failed"],
                    "description": (
                        "pending: aguardando tentativa; delivered: o endpoint respondeu 2xx; "
                        "failed: as tentativas acabaram."
                    ),
                },
                "attempts": integer("Tentativas feitas.", minimum=0),
                "next_attempt_at": {**timestamp, "description": "Próxima tentativa, se pending."},
                "last_status_code": integer(
                    "Código HTTP da última resposta; null sem resposta.", nullable=True
                ),
                "last_error": text("Erro da última tentativa, se falhou.", nullable=True),
                "payload": ref("WebhookEvent"),
                "created_at": text("Quando a entrega foi criada.", fmt="date-time"),
                "delivered_at": {**timestamp, "description": "Quando o endpoint respondeu 2xx."},
            },
        ),
        "WebhookDeliveryPage": page_of("Uma página de entregas.", "WebhookDelivery"),
    }
