"""OpenAPI part: the tenant's balance, statement and usage, and the host's credit operations."""

from __future__ import annotations

from typing import Any

from application.credit_reports import DEFAULT_USAGE_DAYS, MAX_USAGE_DAYS
from domain.credits import MAX_CREDITS_PER_ENTRY, MAX_REASON_LENGTH, EntryKind
from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    envelope,
    integer,
    json_content,
    obj,
    operation,
    page_of,
    path_id,
    query,
    ref,
    text,
)

TAGS = [
    {
        "name": "Créditos",
        "description": (
            "Saldo, extrato e consumo de créditos. Um crédito é reservado quando um pré-lead "
            "entra em qualificação, debitado quando ele vira lead qualificado e liberado em "
            "qualquer outro desfecho."
        ),
    },
    {
        "name": "Créditos (host)",
        "description": (
            "Saldo de cada tenant, concessões, ajustes e estornos feitos pelo administrador do "
            "host. Todo lançamento fica no extrato e na auditoria."
        ),
    },
]

_KIND_LIST = ", ".join(f"{kind.value} ({kind.label})" for kind in EntryKind)


def _period_parameters(*, usage: bool) -> list[dict[str, Any]]:
    date_or_time = {
        "type": "string",
        "description": "AAAA-MM-DD ou data e hora ISO 8601 com fuso.",
        "examples": ["2027-01-01", "2027-01-31T23:59:00-03:00"],
    }
    since = (
        "Início do período: um dia (AAAA-MM-DD, desde 00:00 no fuso do tenant) ou um instante "
        "com fuso."
    )
    until = (
        "Fim do período: um dia, incluído inteiro (AAAA-MM-DD, no fuso do tenant), ou um "
        "instante com fuso, que fica de fora. Codifique o + do fuso como %2B."
    )
    if usage:
        since += f" Padrão: {DEFAULT_USAGE_DAYS} dias atrás, contando hoje."
        until += " Padrão: agora."
    return [query("since", since, date_or_time), query("until", until, date_or_time)]


def _ledger_parameters() -> list[dict[str, Any]]:
    kind = query(
        "kind",
        f"Só lançamentos destes tipos; repita o parâmetro ou separe por vírgula. Tipos: {_KIND_LIST}.",
        {"type": "array", "items": {"enum": [kind.value for kind in EntryKind]}},
    )
    kind["style"] = "form"
    kind["explode"] = True
    return [
        *_period_parameters(usage=False),
        kind,
        query(
            "format",
            "json (padrão) ou csv. O mesmo que pedir Accept: text/csv.",
            {"enum": ["json", "csv"], "default": "json"},
        ),
        *PAGE_PARAMETERS,
    ]


def _statement_responses() -> dict[str, Any]:
    return {
        "200": {
            "description": (
                "Uma página do extrato em JSON, do lançamento mais novo para o mais antigo; ou, "
                "com format=csv ou Accept: text/csv, o extrato inteiro do período num arquivo "
                "CSV do mais antigo para o mais novo (page e per_page não valem). O CSV abre "
                "direto numa planilha em português: separador ponto e vírgula, UTF-8 com BOM, "
                "datas dd/mm/aaaa e hora no fuso do tenant, o tipo por extenso. Um texto que "
                "começa com =, +, - ou @ ganha um apóstrofo na frente, para a planilha não "
                "executá-lo como fórmula."
            ),
            "headers": {
                "Content-Disposition": {
                    "description": (
                        'No CSV: attachment; filename="extrato-creditos-<de>-<até>.csv", '
                        "com as datas AAAA-MM-DD do período (inicio quando não há since)."
                    ),
                    "schema": {"type": "string"},
                }
            },
            "content": {
                **json_content(ref("LedgerEntryPage")),
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": (
                        "Data;Hora;Nº;Tipo;Créditos;Variação da reserva;Saldo anterior;Saldo;"
                        "Reservados;Disponível;Motivo;Referência;Estorno do lançamento;"
                        "Responsável;Lançamento;Validade dos créditos\r\n"
                        "05/01/2027;09:30:00;1;Concessão;100;0;0;100;0;100;Compra de janeiro;"
                        "Administrador 6f1c...;;ops@garimpo.com.br;0b7f1c9e-...;"
                        "31/01/2027 23:59:00\r\n"
                    ),
                },
            },
        }
    }


def _credit_conflict(description: str) -> dict[str, Any]:
    return {
        "409": {
            "description": description,
            "content": {"application/problem+json": {"schema": ref("CreditProblem")}},
        }
    }


def _entry_response(description: str, status: str) -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": json_content(ref("LedgerEntryEnvelope")),
        }
    }


def _tenant_paths() -> dict[str, Any]:
    return {
        "/v1/billing/balance": {
            "get": operation(
                "getCreditBalance",
                "Créditos",
                "Consultar o saldo de créditos",
                "Saldo, créditos reservados para qualificações em andamento, créditos "
                "disponíveis, leads qualificados à espera de crédito e o limite do alerta de "
                "saldo baixo.",
                security="tenant",
                responses={
                    "200": {
                        "description": "O saldo.",
                        "content": json_content(envelope("O saldo.", ref("CreditBalance"))),
                    }
                },
            )
        },
        "/v1/billing/coverage": {
            "get": operation(
                "getCreditCoverage",
                "Créditos",
                "Consultar quantos pré-leads o saldo cobre",
                "Antes de iniciar uma qualificação: dos pré-leads informados, quantos os créditos "
                "disponíveis agora cobrem. A qualificação de uma seleção maior que isso é recusada "
                "com o código insufficient_credits, a menos que peça cobertura parcial.",
                security="tenant",
                parameters=[
                    {
                        **query(
                            "preleads",
                            "Quantos pré-leads a qualificação teria.",
                            {"type": "integer", "minimum": 1, "maximum": MAX_CREDITS_PER_ENTRY},
                        ),
                        "required": True,
                    }
                ],
                responses={
                    "200": {
                        "description": "A cobertura.",
                        "content": json_content(envelope("A cobertura.", ref("CreditCoverage"))),
                    }
                },
            )
        },
        "/v1/billing/ledger": {
            "get": operation(
                "listCreditLedger",
                "Créditos",
                "Consultar o extrato de créditos",
                "Os lançamentos do tenant, filtrados por período e tipo, em JSON paginado ou "
                "num arquivo CSV.",
                security="tenant",
                parameters=_ledger_parameters(),
                responses=_statement_responses(),
            )
        },
        "/v1/billing/usage": {
            "get": operation(
                "getCreditUsage",
                "Créditos",
                "Consultar o consumo de créditos",
                "Créditos debitados, reservados e liberados por dia (no fuso do tenant, com "
                "zero nos dias sem movimento) e, por usuário ou chave de API, os reservados e os "
                "debitados. Um débito conta para quem iniciou a qualificação daquele pré-lead. "
                f"O período pode ter até {MAX_USAGE_DAYS} dias.",
                security="tenant",
                parameters=_period_parameters(usage=True),
                responses={
                    "200": {
                        "description": "O consumo no período.",
                        "content": json_content(envelope("O consumo.", ref("CreditUsage"))),
                    }
                },
            )
        },
    }


def _host_paths() -> dict[str, Any]:
    tenant_id = path_id("tenant_id", "Identificador do tenant.")
    base = "/v1/host/tenants/{tenant_id}/credits"
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Chave escolhida pelo cliente (até 200 caracteres ASCII, como um UUID). Repetir "
            "a chave com o mesmo corpo devolve o lançamento da primeira requisição com 200, "
            "sem conceder de novo; com outra quantidade ou outro motivo, a resposta é 409 "
            "idempotency_key_reused."
        ),
        "schema": {"type": "string", "maxLength": 200},
    }
    return {
        "/v1/host/credits": {
            "get": operation(
                "listTenantCredits",
                "Créditos (host)",
                "Listar os créditos dos tenants",
                "Saldo, reservados e disponíveis de cada tenant não excluído, por nome. Com "
                "below_threshold=true, só os que estão no limite do alerta de saldo baixo ou "
                "abaixo dele.",
                security="host",
                parameters=[
                    query(
                        "below_threshold",
                        "Só tenants com o saldo disponível no limite do alerta ou abaixo.",
                        {"type": "boolean", "default": False},
                    ),
                    *PAGE_PARAMETERS,
                ],
                responses={
                    "200": {
                        "description": "Uma página de tenants e seus créditos.",
                        "content": json_content(ref("TenantCreditsPage")),
                    }
                },
            )
        },
        base: {
            "get": operation(
                "getTenantCredits",
                "Créditos (host)",
                "Consultar os créditos de um tenant",
                "Saldo e limite do alerta do tenant, com o consumo por dia e por usuário no "
                f"período (padrão: os últimos {DEFAULT_USAGE_DAYS} dias).",
                security="host",
                parameters=[tenant_id, *_period_parameters(usage=True)],
                responses={
                    "200": {
                        "description": "Os créditos e o consumo.",
                        "content": json_content(
                            envelope("Os créditos e o consumo.", ref("HostTenantCredits"))
                        ),
                    }
                },
            )
        },
        base + "/ledger": {
            "get": operation(
                "listTenantCreditLedger",
                "Créditos (host)",
                "Consultar o extrato de um tenant",
                "O extrato do tenant, com os mesmos filtros e formatos do extrato do próprio "
                "tenant.",
                security="host",
                parameters=[tenant_id, *_ledger_parameters()],
                responses=_statement_responses(),
            )
        },
        base + "/grants": {
            "post": operation(
                "grantCredits",
                "Créditos (host)",
                "Conceder créditos a um tenant",
                "Adiciona créditos ao saldo: uma compra, um bônus, uma cortesia. Com expires_at, "
                "os créditos não usados até lá expiram. Leads qualificados à espera de crédito "
                "são debitados na hora. Um tenant excluído não recebe créditos (tenant_deleted).",
                security="host",
                parameters=[tenant_id, idempotency],
                body=ref("CreditGrant"),
                body_example={
                    "amount": 500,
                    "reason": "Pacote de 500 créditos, pedido 2027-014",
                    "expires_at": "2027-12-31T23:59:59-03:00",
                },
                responses={
                    **_entry_response("O lançamento da concessão.", "201"),
                    "200": {
                        "description": (
                            "A Idempotency-Key já foi usada: o lançamento daquela requisição, "
                            "sem nova concessão. O cabeçalho Idempotent-Replayed vem true."
                        ),
                        "headers": {
                            "Idempotent-Replayed": {
                                "description": "true quando a resposta repete uma anterior.",
                                "schema": {"type": "string", "enum": ["true"]},
                            }
                        },
                        "content": json_content(ref("LedgerEntryEnvelope")),
                    },
                    **_credit_conflict(
                        "O tenant foi excluído (tenant_deleted), ou a Idempotency-Key já foi "
                        "usada com outra quantidade ou outro motivo (idempotency_key_reused)."
                    ),
                },
            )
        },
        base + "/adjustments": {
            "post": operation(
                "adjustCredits",
                "Créditos (host)",
                "Ajustar o saldo de um tenant",
                "Corrige o saldo para mais ou para menos, com motivo obrigatório. Um ajuste "
                "para menos não pode tirar créditos reservados nem deixar o saldo negativo "
                "(insufficient_credits, com available no corpo).",
                security="host",
                parameters=[tenant_id],
                body=ref("CreditAdjustment"),
                body_example={"amount": -20, "reason": "Créditos concedidos em dobro por engano"},
                responses={
                    **_entry_response("O lançamento do ajuste.", "201"),
                    **_credit_conflict(
                        "Créditos disponíveis insuficientes (insufficient_credits, com "
                        "available, requested, balance e held no corpo) ou tenant excluído "
                        "(tenant_deleted)."
                    ),
                },
            )
        },
        base + "/entries/{entry_id}/reversal": {
            "post": operation(
                "reverseCreditEntry",
                "Créditos (host)",
                "Estornar um lançamento",
                "Desfaz uma concessão, um débito, um ajuste ou uma expiração com um lançamento "
                "novo de valor oposto, que aponta para o original. Cada lançamento é estornado "
                "uma vez só: o segundo pedido responde 409 (credit_entry_already_reversed). "
                "Reservas e liberações não se estornam (credit_entry_not_reversible). Um "
                "lançamento de outro tenant responde 404 (credit_entry_not_found).",
                security="host",
                parameters=[tenant_id, path_id("entry_id", "Identificador do lançamento.")],
                body=ref("CreditReversal"),
                body_example={"reason": "Lead contestado pelo cliente: contato inválido"},
                responses={
                    **_entry_response("O lançamento do estorno.", "201"),
                    **_credit_conflict(
                        "O lançamento já foi estornado (credit_entry_already_reversed), não se "
                        "estorna (credit_entry_not_reversible), o estorno deixaria o saldo "
                        "abaixo dos reservados (insufficient_credits) ou o tenant foi excluído "
                        "(tenant_deleted)."
                    ),
                },
            )
        },
    }


def paths() -> dict[str, Any]:
    return {**_tenant_paths(), **_host_paths()}


# --- schemas ---------------------------------------------------------------------------


def _balance_properties() -> dict[str, Any]:
    return {
        "balance": integer("Créditos do tenant (saldo).", minimum=0),
        "held": integer("Créditos reservados para qualificações em andamento.", minimum=0),
        "available": integer(
            "Créditos livres para novas qualificações: saldo menos reservados.", minimum=0
        ),
        "pending_captures": integer(
            "Leads qualificados à espera de crédito: são debitados quando houver saldo.",
            minimum=0,
        ),
        "low_balance_threshold": integer(
            "O alerta de saldo baixo sai quando o disponível cai a este número.", minimum=0
        ),
    }


def _entry_schema() -> dict[str, Any]:
    return obj(
        "Um lançamento do extrato. Lançamentos nunca mudam: um erro se corrige com um estorno.",
        {
            "id": text("Identificador do lançamento.", fmt="uuid"),
            "seq": integer("Número do lançamento no extrato do tenant: 1, 2, 3...", minimum=1),
            "kind": {
                "enum": [kind.value for kind in EntryKind],
                "description": f"Tipo do lançamento: {_KIND_LIST}.",
            },
            "kind_label": text("O tipo por extenso, como aparece no CSV."),
            "amount": integer("Variação do saldo (negativa num débito)."),
            "held_change": integer("Variação dos créditos reservados."),
            "balance_before": integer("Saldo antes.", minimum=0),
            "balance_after": integer("Saldo depois.", minimum=0),
            "held_before": integer("Reservados antes.", minimum=0),
            "held_after": integer("Reservados depois.", minimum=0),
            "available_after": integer("Disponíveis depois.", minimum=0),
            "reason": text("Motivo informado ou registrado.", nullable=True),
            "reference": {
                "anyOf": [
                    obj(
                        "O que originou o lançamento.",
                        {
                            "type": text("prelead, admin, entry, stripe..."),
                            "id": text("Identificador do que originou.", nullable=True),
                        },
                    ),
                    {"type": "null"},
                ]
            },
            "reverses_entry_id": text(
                "Num estorno, o lançamento estornado.", nullable=True, fmt="uuid"
            ),
            "idempotency_key": text("Chave que faz uma repetição devolver este lançamento."),
            "actor": obj(
                "Quem fez o lançamento.",
                {
                    "type": {"enum": ["account", "api_key", "system", "anonymous"]},
                    "id": text("Usuário ou chave de API.", nullable=True),
                    "label": text("E-mail do usuário ou nome da chave.", nullable=True),
                },
            ),
            "created_at": text("Quando foi lançado.", fmt="date-time"),
            "expires_at": text(
                "Numa concessão com validade, quando os créditos dela expiram; nulo nas demais.",
                nullable=True,
                fmt="date-time",
            ),
        },
    )


def _usage_schema() -> dict[str, Any]:
    return obj(
        "Consumo de créditos num período.",
        {
            "since": text("Início do período (incluído).", fmt="date-time"),
            "until": text("Fim do período (excluído).", fmt="date-time"),
            "timezone": text("Fuso horário dos dias."),
            "by_day": {
                "type": "array",
                "description": "Um item por dia do período, em ordem.",
                "items": obj(
                    "Movimento de um dia.",
                    {
                        "day": text("O dia.", fmt="date"),
                        "captured": integer("Créditos debitados.", minimum=0),
                        "held": integer("Créditos reservados.", minimum=0),
                        "released": integer("Créditos liberados.", minimum=0),
                    },
                ),
            },
            "by_user": {
                "type": "array",
                "description": "Por usuário ou chave, de quem mais debitou para quem menos.",
                "items": obj(
                    "Movimento de um usuário ou chave.",
                    {
                        "actor": obj(
                            "O usuário, a chave ou o sistema.",
                            {
                                "type": {"enum": ["account", "api_key", "system", "anonymous"]},
                                "id": text("Usuário ou chave de API.", nullable=True),
                                "label": text("E-mail ou nome da chave.", nullable=True),
                            },
                        ),
                        "captured": integer(
                            "Créditos debitados nas qualificações que iniciou.", minimum=0
                        ),
                        "held": integer("Créditos que reservou.", minimum=0),
                    },
                ),
            },
        },
    )


def _tenant_credits_schema() -> dict[str, Any]:
    return obj(
        "Os créditos de um tenant.",
        {
            "tenant": obj(
                "O tenant.",
                {
                    "id": text("Identificador do tenant.", fmt="uuid"),
                    "name": text("Nome do tenant."),
                    "status": {"enum": ["active", "suspended", "deleted"]},
                },
            ),
            **_balance_properties(),
            "below_threshold": {
                "type": "boolean",
                "description": "O disponível está no limite do alerta ou abaixo.",
            },
        },
    )


def _body_schemas() -> dict[str, Any]:
    reason = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_REASON_LENGTH,
        "description": "Motivo do lançamento, que o tenant vê no extrato.",
    }
    return {
        "CreditGrant": {
            **obj(
                "Uma concessão de créditos.",
                {
                    "amount": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_CREDITS_PER_ENTRY,
                        "description": "Créditos a conceder.",
                    },
                    "reason": {**reason, "type": ["string", "null"]},
                    "expires_at": text(
                        "Validade dos créditos, no futuro; sem ela, não expiram.",
                        nullable=True,
                        fmt="date-time",
                    ),
                },
                required=["amount"],
            ),
            "additionalProperties": False,
        },
        "CreditAdjustment": {
            **obj(
                "Um ajuste do saldo.",
                {
                    "amount": {
                        "type": "integer",
                        "minimum": -MAX_CREDITS_PER_ENTRY,
                        "maximum": MAX_CREDITS_PER_ENTRY,
                        "not": {"const": 0},
                        "description": "Créditos a somar (positivo) ou tirar (negativo).",
                    },
                    "reason": reason,
                },
            ),
            "additionalProperties": False,
        },
        "CreditReversal": {
            **obj("O motivo do estorno.", {"reason": reason}),
            "additionalProperties": False,
        },
    }


def schemas() -> dict[str, Any]:
    return {
        "CreditBalance": obj("O saldo de créditos do tenant.", _balance_properties()),
        "CreditCoverage": obj(
            "Quantos pré-leads os créditos disponíveis cobrem.",
            {
                "requested": integer("Pré-leads informados.", minimum=1),
                "covered": integer("Quantos deles o disponível cobre agora.", minimum=0),
                "missing": integer("Créditos que faltam para cobrir todos.", minimum=0),
                **{
                    name: schema
                    for name, schema in _balance_properties().items()
                    if name != "low_balance_threshold"
                },
            },
        ),
        "LedgerEntry": _entry_schema(),
        "LedgerEntryEnvelope": envelope("Um lançamento.", ref("LedgerEntry")),
        "LedgerEntryPage": page_of("Uma página do extrato.", "LedgerEntry"),
        "CreditUsage": _usage_schema(),
        "TenantCredits": _tenant_credits_schema(),
        "TenantCreditsPage": page_of("Uma página de tenants e seus créditos.", "TenantCredits"),
        "HostTenantCredits": {
            "description": "Os créditos de um tenant e o consumo no período.",
            "allOf": [
                ref("TenantCredits"),
                obj("O consumo.", {"usage": ref("CreditUsage")}),
            ],
        },
        "CreditProblem": {
            "description": (
                "Erro de créditos. Em insufficient_credits, o corpo traz também os créditos "
                "disponíveis, os pedidos, o saldo e os reservados."
            ),
            "allOf": [
                ref("Problem"),
                obj(
                    "Campos de insufficient_credits.",
                    {
                        "available": integer("Créditos disponíveis agora.", minimum=0),
                        "requested": integer("Créditos que a operação pedia.", minimum=0),
                        "balance": integer("Saldo.", minimum=0),
                        "held": integer("Créditos reservados.", minimum=0),
                    },
                    required=[],
                ),
            ],
        },
        **_body_schemas(),
    }
