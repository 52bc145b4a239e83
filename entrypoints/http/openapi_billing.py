"""OpenAPI part: subscriptions paid through Stripe, plans on sale, and Stripe's webhook."""

from __future__ import annotations

from typing import Any

from domain.billing import DEFAULT_GRACE_DAYS, NONPAYMENT_REASON
from entrypoints.http.openapi_kit import (
    envelope,
    integer,
    json_content,
    nullable_ref,
    obj,
    operation,
    path_id,
    ref,
    response_ref,
    text,
)

TAGS = [
    {
        "name": "Assinatura",
        "description": (
            "Assinatura paga pelo Stripe: cada fatura paga de um período concede os créditos "
            "mensais do plano."
        ),
    },
]

_CONFLICT = {"409": response_ref("Conflict")}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


_STRIPE_UNAVAILABLE = {
    "503": _problem(
        "O Stripe não respondeu ou respondeu com erro (billing_provider_unavailable). "
        "Tente de novo em alguns minutos."
    )
}
_BILLING_CONFLICTS = {
    "409": _problem(
        "A cobrança pelo Stripe não está ativada nesta instalação (billing_disabled), o "
        "plano não está à venda (plan_not_for_sale), a empresa já tem uma assinatura "
        "(subscription_exists) ou ainda não tem cadastro no Stripe (no_billing_customer)."
    )
}


def paths() -> dict[str, Any]:
    return {
        "/v1/billing/subscription": {
            "get": operation(
                "getSubscription",
                "Assinatura",
                "Consultar a assinatura",
                "Mostra se a cobrança pelo Stripe está ativada e a assinatura atual da empresa: "
                "a mais nova que está ativa, em teste ou em atraso, senão a mais nova de todas. "
                "Sem assinatura, subscription é null.",
                security="tenant",
                responses={
                    "200": {
                        "description": "O estado da assinatura.",
                        "content": json_content(
                            envelope("O estado da assinatura.", ref("BillingState"))
                        ),
                    }
                },
            )
        },
        "/v1/billing/checkout": {
            "post": operation(
                "startCheckout",
                "Assinatura",
                "Assinar um plano",
                "Abre uma página de pagamento do Stripe (Checkout) para assinar o plano por mês. "
                "Envie o administrador para url; ao terminar, o Stripe o traz de volta e avisa "
                "o Garimpo, que passa a empresa para o plano e concede os créditos mensais a "
                "cada fatura paga. Uma empresa que já tem assinatura troca de plano pelo "
                "portal de cobrança (subscription_exists).",
                security="tenant",
                body=ref("CheckoutRequest"),
                body_example={"plan_id": "3f0c8f1e-2b7a-4f7e-9a51-5d1c7e2b9a40"},
                responses={
                    "201": {
                        "description": "A página de pagamento.",
                        "content": json_content(
                            envelope("A página de pagamento.", ref("CheckoutSession"))
                        ),
                    },
                    **_BILLING_CONFLICTS,
                    **_STRIPE_UNAVAILABLE,
                },
            )
        },
        "/v1/billing/portal": {
            "post": operation(
                "openBillingPortal",
                "Assinatura",
                "Abrir o portal de cobrança",
                "Abre o portal de cobrança do Stripe, onde o administrador troca o cartão, vê "
                "as faturas, muda de plano ou cancela a assinatura.",
                security="tenant",
                responses={
                    "201": {
                        "description": "O endereço do portal.",
                        "content": json_content(
                            envelope("O endereço do portal.", ref("BillingPortalSession"))
                        ),
                    },
                    **_BILLING_CONFLICTS,
                    **_STRIPE_UNAVAILABLE,
                },
            )
        },
        "/v1/host/plans/{plan_id}/stripe-sync": {
            "post": operation(
                "syncPlanWithStripe",
                "Planos",
                "Pôr um plano à venda no Stripe",
                "Cria ou atualiza o produto do plano no Stripe e um preço mensal em BRL com o "
                "price_cents do plano. Depois de mudar o preço do plano, sincronize de novo: o "
                "Stripe não muda o valor de um preço, então o Garimpo cria um novo e desativa o "
                "antigo, que continua valendo para as assinaturas que já o usam.",
                security="host",
                parameters=[path_id("plan_id", "Identificador do plano.")],
                responses={
                    "200": {
                        "description": "Os identificadores do plano no Stripe.",
                        "content": json_content(
                            envelope("O plano no Stripe.", ref("PlanStripeSync"))
                        ),
                    },
                    "409": _problem(
                        "A cobrança pelo Stripe não está ativada nesta instalação "
                        "(billing_disabled)."
                    ),
                    **_STRIPE_UNAVAILABLE,
                },
            )
        },
        "/v1/webhooks/stripe": {
            "post": operation(
                "receiveStripeEvent",
                "Assinatura",
                "Receber um evento do Stripe",
                "Endereço a cadastrar no Stripe como endpoint de webhook. Não usa credenciais: "
                "o cabeçalho Stripe-Signature, conferido sobre o corpo exato recebido, autentica "
                "o evento. Cada evento é aplicado uma vez, em qualquer ordem de chegada: o "
                "Garimpo consulta no Stripe o estado atual da assinatura, fatura ou sessão de "
                "checkout. Eventos tratados: checkout.session.completed, invoice.paid, "
                "invoice.payment_failed e customer.subscription.created, .updated e .deleted. "
                f"Uma assinatura em atraso dá {DEFAULT_GRACE_DAYS} dias de carência (padrão, "
                "BILLING_GRACE_DAYS); depois a empresa é suspensa com o motivo "
                f'"{NONPAYMENT_REASON}" até pagar.',
                security="public",
                body={"type": "object", "description": "O evento, como o Stripe o envia."},
                body_example={
                    "id": "evt_1QExemplo",
                    "object": "event",
                    "type": "invoice.paid",
                    "created": 1767225600,
                    "data": {"object": {"id": "in_1QExemplo", "object": "invoice"}},
                },
                responses={
                    "200": {
                        "description": "O evento foi aplicado, ignorado ou já tinha chegado.",
                        "content": json_content(
                            envelope("O recibo do evento.", ref("StripeEventReceipt"))
                        ),
                    },
                    "400": _problem(
                        "Assinatura ausente ou inválida (invalid_signature) ou corpo que não é "
                        "um evento do Stripe (invalid_stripe_event). Nada foi gravado."
                    ),
                    "409": _problem(
                        "Cobrança desativada (billing_disabled), segredo do webhook não "
                        "configurado (stripe_webhook_not_configured) ou fatura de um preço que "
                        "nenhum plano vende (unknown_stripe_price). O Stripe reenvia o evento."
                    ),
                    **_STRIPE_UNAVAILABLE,
                },
            )
        },
    }


def schemas() -> dict[str, Any]:
    instant = "date-time"
    return {
        "BillingState": obj(
            "Se a cobrança está ativada e a assinatura atual.",
            {
                "billing_enabled": {
                    "type": "boolean",
                    "description": "A cobrança pelo Stripe está ativada nesta instalação.",
                },
                "subscription": nullable_ref("Subscription"),
            },
        ),
        "Subscription": obj(
            "Uma assinatura, como o Stripe a informou por último.",
            {
                "id": text("Identificador da assinatura no Stripe (sub_...)."),
                "status": text(
                    "Estado no Stripe: active, trialing, past_due, unpaid, canceled, incomplete, "
                    "incomplete_expired ou paused."
                ),
                "plan_id": text("Plano assinado.", nullable=True, fmt="uuid"),
                "current_period_start": text(
                    "Início do período atual.", nullable=True, fmt=instant
                ),
                "current_period_end": text("Fim do período atual.", nullable=True, fmt=instant),
                "cancel_at_period_end": {
                    "type": "boolean",
                    "description": "A assinatura termina no fim do período atual.",
                },
                "past_due_since": text(
                    "Desde quando a assinatura está em atraso; null quando em dia.",
                    nullable=True,
                    fmt=instant,
                ),
                "grace_until": text(
                    "Até quando o acesso continua sem o pagamento; depois a empresa é suspensa.",
                    nullable=True,
                    fmt=instant,
                ),
                "canceled_at": text("Quando foi cancelada.", nullable=True, fmt=instant),
            },
        ),
        "CheckoutRequest": obj(
            "O plano a assinar.",
            {"plan_id": text("Identificador do plano.", fmt="uuid")},
        ),
        "CheckoutSession": obj(
            "Uma página de pagamento do Stripe.",
            {
                "url": text("Endereço da página; envie o administrador para ele.", fmt="uri"),
                "session_id": text("Identificador da sessão no Stripe (cs_...)."),
            },
        ),
        "BillingPortalSession": obj(
            "Uma sessão do portal de cobrança do Stripe.",
            {"url": text("Endereço do portal; vale por pouco tempo.", fmt="uri")},
        ),
        "PlanStripeSync": obj(
            "O plano no Stripe.",
            {
                "plan_id": text("Identificador do plano.", fmt="uuid"),
                "stripe_product_id": text("Produto no Stripe (prod_...).", nullable=True),
                "stripe_price_id": text("Preço mensal no Stripe (price_...).", nullable=True),
                "credit_validity_days": integer(
                    "Dias de validade dos créditos de cada fatura; null quando não expiram.",
                    nullable=True,
                    minimum=1,
                ),
            },
        ),
        "StripeEventReceipt": obj(
            "O que o Garimpo fez com o evento.",
            {
                "event_id": text("Identificador do evento no Stripe (evt_...)."),
                "outcome": text(
                    "Resultado: credits_granted, applied, duplicate (já recebido) ou um "
                    "ignored_... que diz por que nada mudou."
                ),
            },
        ),
    }
