"""OpenAPI part: qualification jobs, steps for n8n, replies, reviews, senders and opt-outs."""

from __future__ import annotations

from typing import Any

from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    integer,
    obj,
    one_response,
    operation,
    page_of,
    page_response,
    path_id,
    query,
    ref,
    text,
)

_TAG = "Qualificação"

TAGS = [
    {
        "name": _TAG,
        "description": (
            "Contato automático com cada pré-lead de uma seleção: WhatsApp, depois SMS, depois "
            "e-mail, dentro do horário de envio do tenant, com limites por dia e por número. As "
            "respostas são classificadas sozinhas; as duvidosas vão para revisão. Começar "
            "reserva um crédito por pré-lead; só o qualificado é debitado, os demais liberam a "
            "reserva. Quem pediu para sair nunca mais recebe mensagem."
        ),
    }
]

_OUTCOMES = ["qualified", "not_interested", "invalid", "opt_out", "no_answer", "cancelled"]


def paths() -> dict[str, Any]:
    job_id = path_id("job_id", "Identificador da execução.")
    flow_id = path_id("flow_id", "Identificador da qualificação do pré-lead.")
    job = one_response("A execução, com o progresso.", "QualificationJob")
    flow = one_response("A qualificação do pré-lead.", "QualificationFlow")

    def steer(verb: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "post": operation(
                f"{verb}QualificationJob",
                _TAG,
                summary,
                description,
                security="tenant",
                parameters=[job_id],
                responses={**job, "409": {"$ref": "#/components/responses/Conflict"}},
            )
        }

    return {
        "/v1/preleads/selections/{selection_id}/qualify": {
            "post": operation(
                "startQualification",
                _TAG,
                "Qualificar uma seleção",
                "Reserva um crédito por pré-lead que pode ser contatado e começa a qualificação. "
                "Ficam de fora os que já são leads, já estão em qualificação, pediram para não "
                "ser contatados ou não têm celular nem e-mail válido; se nenhum sobra, 422 "
                "(nothing_to_qualify). Sem saldo para todos, 409 (insufficient_credits) com "
                'quantos o saldo cobre, e nada é reservado; com {"partial": true}, a '
                "qualificação começa pelos pré-leads que o saldo cobre, na ordem da seleção.",
                body={
                    **obj(
                        "Opções do início.",
                        {
                            "partial": {
                                "type": "boolean",
                                "description": "Começar pelos pré-leads que o saldo cobre.",
                            }
                        },
                        required=[],
                    ),
                    "additionalProperties": False,
                },
                body_required=False,
                body_example={"partial": False},
                security="tenant",
                parameters=[path_id("selection_id", "Identificador da seleção.")],
                responses={
                    **one_response("A execução começou.", "QualificationJob", status="202"),
                    "409": {"$ref": "#/components/responses/Conflict"},
                },
                rules=True,
            )
        },
        "/v1/jobs": {
            "get": operation(
                "listQualificationJobs",
                _TAG,
                "Listar as execuções de qualificação",
                "Da mais nova para a mais antiga; 'selection_id' filtra por seleção.",
                security="tenant",
                parameters=[
                    *PAGE_PARAMETERS,
                    query(
                        "selection_id", "Só desta seleção.", {"type": "string", "format": "uuid"}
                    ),
                ],
                responses=page_response("Uma página de execuções.", "QualificationJobPage"),
            )
        },
        "/v1/jobs/{job_id}": {
            "get": operation(
                "getQualificationJob",
                _TAG,
                "Ver o progresso de uma execução",
                "Quantos pré-leads sem envio ainda, com mensagem enviada, entregue, lida, com "
                "resposta, em revisão, e quantos terminaram em cada resultado.",
                security="tenant",
                parameters=[job_id],
                responses=job,
            )
        },
        "/v1/jobs/{job_id}/pause": steer(
            "pause", "Pausar uma execução", "Nenhum envio sai enquanto ela está pausada."
        ),
        "/v1/jobs/{job_id}/resume": steer(
            "resume", "Retomar uma execução pausada", "Os passos vencidos saem em seguida."
        ),
        "/v1/jobs/{job_id}/cancel": steer(
            "cancel",
            "Cancelar uma execução",
            "Os pré-leads ainda em qualificação voltam a 'selected' e têm a reserva liberada.",
        ),
        "/v1/qualification/due": {
            "get": operation(
                "listDueQualificationSteps",
                _TAG,
                "Listar os passos vencidos (para o n8n)",
                "Com o orquestrador n8n, os workflows do n8n leem aqui os passos a executar e "
                "chamam POST /v1/qualification/flows/{flow_id}/advance para cada um.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response(
                    "Os passos vencidos, do mais antigo ao mais novo.", "QualificationDueStepPage"
                ),
            )
        },
        "/v1/qualification/flows/{flow_id}": {
            "get": operation(
                "getQualificationFlow",
                _TAG,
                "Ver a qualificação de um pré-lead",
                "Canal atual, tentativas, próximo passo e resultado.",
                security="tenant",
                parameters=[flow_id],
                responses=flow,
            )
        },
        "/v1/qualification/flows/{flow_id}/advance": {
            "post": operation(
                "advanceQualificationFlow",
                _TAG,
                "Executar o passo vencido de um pré-lead",
                "Envia a mensagem do canal atual (com todas as verificações: descadastro, horário, "
                "limites) ou passa ao próximo canal quando a espera pela resposta acabou. 409 "
                "(not_due) quando não há passo vencido.",
                security="tenant",
                parameters=[flow_id],
                responses={**flow, "409": {"$ref": "#/components/responses/Conflict"}},
            )
        },
        "/v1/qualification/replies": {
            "post": operation(
                "postQualificationReply",
                _TAG,
                "Registrar uma resposta",
                "Uma resposta recebida fora dos webhooks dos provedores: a do sandbox, ou a que "
                "um workflow do n8n repassa. O remetente é procurado entre os contatos das "
                "qualificações do tenant (um celular do WhatsApp sem o nono dígito também serve); "
                "a resposta é classificada e decide a qualificação. Um 'message_id' repetido não "
                "conta duas vezes.",
                security="tenant",
                body=ref("QualificationReplyCreate"),
                body_example={"channel": "whatsapp", "from": "+5541987654321", "body": "Sim!"},
                responses=one_response("A resposta foi registrada.", "QualificationReply", "202"),
            )
        },
        "/v1/qualification/reviews": {
            "get": operation(
                "listQualificationReviews",
                _TAG,
                "Listar as respostas em revisão",
                "Respostas que o classificador não soube decidir, com o texto e a regra.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de revisões.", "QualificationReviewPage"),
            )
        },
        "/v1/qualification/reviews/{flow_id}": {
            "post": operation(
                "decideQualificationReview",
                _TAG,
                "Decidir uma resposta em revisão",
                "O resultado escolhido encerra a qualificação: qualified cria o lead e debita o "
                "crédito; os demais liberam a reserva. 409 (not_in_review) fora da revisão.",
                security="tenant",
                parameters=[flow_id],
                body=ref("QualificationReviewDecision"),
                body_example={"outcome": "qualified"},
                responses={**flow, "409": {"$ref": "#/components/responses/Conflict"}},
                rules=True,
            )
        },
        "/v1/qualification/unmatched": {
            "get": operation(
                "listUnmatchedReplies",
                _TAG,
                "Listar respostas de remetentes desconhecidos",
                "Mensagens que chegaram aos números do tenant de quem nenhuma qualificação "
                "conhece, da mais nova para a mais antiga, para uma pessoa olhar.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de respostas.", "UnmatchedReplyPage"),
            )
        },
        "/v1/host/qualification/unmatched": {
            "get": operation(
                "listUnroutedReplies",
                "Host",
                "Listar respostas que não chegaram a nenhum tenant",
                "Mensagens de remetentes desconhecidos enviadas a números que não são de nenhum "
                "tenant, da mais nova para a mais antiga, para o operador olhar.",
                security="host",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de respostas.", "UnmatchedReplyPage"),
            )
        },
        "/v1/qualification/senders": {
            "get": operation(
                "listQualificationSenders",
                _TAG,
                "Listar os remetentes",
                "Os números e endereços de envio do tenant, com o limite de cada um.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de remetentes.", "QualificationSenderPage"),
            ),
            "post": operation(
                "addQualificationSender",
                _TAG,
                "Adicionar um remetente",
                "Os envios de um canal se revezam entre os remetentes dele, sem passar do limite "
                "de cada um ('limit_per_period' mensagens a cada 'period_seconds'). Sem remetente "
                "no canal, vale o remetente padrão do provedor.",
                security="tenant",
                body=ref("QualificationSenderCreate"),
                body_example={
                    "channel": "whatsapp",
                    "address": "+5541999990000",
                    "limit_per_period": 60,
                    "period_seconds": 60,
                },
                responses={
                    **one_response("O remetente.", "QualificationSender", "201"),
                    "409": {"$ref": "#/components/responses/Conflict"},
                },
                rules=True,
            ),
        },
        "/v1/qualification/senders/{sender_id}": {
            "delete": operation(
                "removeQualificationSender",
                _TAG,
                "Remover um remetente",
                "Envios futuros não usam mais o remetente.",
                security="tenant",
                parameters=[path_id("sender_id", "Identificador do remetente.")],
                responses={"204": {"description": "Removido."}},
            )
        },
        "/v1/opt-outs": {
            "post": operation(
                "recordOptOut",
                _TAG,
                "Registrar um descadastro",
                "Um telefone, e-mail ou CNPJ que não quer mais contato entra na lista do tenant e "
                "na lista global; qualificações em andamento com ele terminam como opt_out.",
                security="tenant",
                body=ref("OptOutCreate"),
                body_example={"phone": "+5541987654321"},
                responses={
                    **one_response("Registrado agora.", "OptOutResult", "201"),
                    **one_response("Já estava na lista.", "OptOutResult"),
                },
                rules=True,
            )
        },
        "/v1/host/opt-outs": {
            "post": operation(
                "recordGlobalOptOut",
                "Host",
                "Registrar um descadastro global",
                "Um pedido feito ao operador: vale para todos os tenants.",
                security="host",
                body=ref("OptOutCreate"),
                body_example={"email": "contato@padaria.com.br"},
                responses={
                    **one_response("Registrado agora.", "OptOutResult", "201"),
                    **one_response("Já estava na lista.", "OptOutResult"),
                },
                rules=True,
            )
        },
        "/v1/unsubscribe/{token}": {
            method: operation(
                f"{verb}Unsubscribe",
                _TAG,
                "Descadastrar pelo link do e-mail",
                "O link que vai em todo e-mail de qualificação. Abrir o link (GET) mostra uma "
                "página com o botão de confirmação, sem descadastrar: leitores automáticos de "
                "e-mail abrem todos os links. A confirmação (POST, também o clique único do "
                "cabeçalho List-Unsubscribe) registra o descadastro na lista global.",
                security="public",
                parameters=[
                    {
                        "name": "token",
                        "in": "path",
                        "required": True,
                        "description": "O token assinado do link.",
                        "schema": {"type": "string"},
                    }
                ],
                responses={
                    "200": {
                        "description": "Página de confirmação.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "404": {"$ref": "#/components/responses/NotFound"},
                },
            )
            for method, verb in (("get", "open"), ("post", "confirm"))
        },
    }


def schemas() -> dict[str, Any]:
    timestamp = {"type": "string", "format": "date-time"}
    nullable_timestamp = {"type": ["string", "null"], "format": "date-time"}
    nullable_text = {"type": ["string", "null"]}
    channel = {"enum": ["whatsapp", "sms", "email"]}
    nullable_channel = {"enum": ["whatsapp", "sms", "email", None]}
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    progress = obj(
        "Progresso de uma execução; cada pré-lead conta uma vez, no ponto mais adiante.",
        {
            "total": integer("Pré-leads na execução.", minimum=0),
            "queued": integer("Sem mensagem enviada ainda.", minimum=0),
            "sending": integer(
                "Mensagens entregues ao provedor cujo resultado ainda não foi registrado; "
                "saem mesmo depois de uma pausa.",
                minimum=0,
            ),
            "next_send_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "Quando vence o próximo envio em espera (por exemplo, a abertura "
                "do horário de envio); null quando nenhum espera.",
            },
            "sent": integer("Com ao menos uma mensagem enviada.", minimum=0),
            "delivered": integer("Com mensagem entregue.", minimum=0),
            "read": integer("Com mensagem lida.", minimum=0),
            "failed": integer("Com alguma mensagem que falhou.", minimum=0),
            "replied": integer("Que responderam.", minimum=0),
            "in_review": integer("Com resposta aguardando revisão.", minimum=0),
            "classified": {**counts, "description": "Terminados, por resultado."},
        },
    )
    job = obj(
        "Uma execução de qualificação de uma seleção.",
        {
            "id": text("Identificador.", fmt="uuid"),
            "selection_id": text("A seleção.", fmt="uuid"),
            "state": {"enum": ["running", "paused", "cancelled", "finished"]},
            "orchestrator": {"enum": ["builtin", "n8n"]},
            "total": integer("Pré-leads na execução.", minimum=0),
            "created_at": timestamp,
            "updated_at": timestamp,
            "finished_at": nullable_timestamp,
            "created_by": nullable_text,
            "progress": {"anyOf": [ref("QualificationProgress"), {"type": "null"}]},
        },
    )
    flow = obj(
        "A qualificação de um pré-lead.",
        {
            "id": text("Identificador.", fmt="uuid"),
            "job_id": text("A execução.", fmt="uuid"),
            "prelead_id": text("O pré-lead.", fmt="uuid"),
            "cnpj": text("CNPJ do estabelecimento."),
            "state": {"enum": ["sending", "awaiting_reply", "in_review", "done"]},
            "channel": nullable_channel,
            "remaining_channels": {"type": "array", "items": channel},
            "attempt": integer("Tentativa no canal atual.", minimum=0),
            "next_action_at": nullable_timestamp,
            "outcome": {"enum": [*_OUTCOMES, None]},
            "reason": nullable_text,
            "rule": nullable_text,
        },
    )
    step = obj(
        "Um passo vencido.",
        {
            "flow_id": text("A qualificação do pré-lead.", fmt="uuid"),
            "job_id": text("A execução.", fmt="uuid"),
            "prelead_id": text("O pré-lead.", fmt="uuid"),
            "action": {"enum": ["send", "wait_over"]},
            "channel": nullable_channel,
            "due_at": timestamp,
        },
    )
    reply_create = obj(
        "Uma resposta recebida.",
        {
            "channel": channel,
            "from": text(
                "Telefone E.164, id do WhatsApp (só dígitos) ou e-mail de quem respondeu."
            ),
            "body": text("O texto da resposta."),
            "message_id": text("Id da mensagem no provedor, para não contar duas vezes."),
        },
        required=["channel", "from", "body"],
    )
    reply = obj(
        "O que a resposta decidiu.",
        {
            "matched": {"type": "boolean", "description": "Achou a qualificação do remetente."},
            "duplicate": {"type": "boolean", "description": "Já tinha sido registrada."},
            "flow_id": {"type": ["string", "null"], "format": "uuid"},
            "classification": {
                "anyOf": [
                    obj(
                        "Classificação.",
                        {
                            "outcome": {
                                "enum": [
                                    "qualified",
                                    "not_interested",
                                    "invalid",
                                    "opt_out",
                                    "review",
                                ]
                            },
                            "rule": text("A regra que decidiu."),
                        },
                    ),
                    {"type": "null"},
                ]
            },
            "outcome": {"enum": [*_OUTCOMES, None]},
        },
    )
    review = obj(
        "Uma resposta em revisão.",
        {
            "flow_id": text("A qualificação.", fmt="uuid"),
            "job_id": text("A execução.", fmt="uuid"),
            "prelead_id": text("O pré-lead.", fmt="uuid"),
            "cnpj": text("CNPJ."),
            "channel": nullable_channel,
            "rule": nullable_text,
            "reply": nullable_text,
            "replied_at": nullable_timestamp,
        },
    )
    decision = obj(
        "O resultado escolhido.",
        {"outcome": {"enum": ["qualified", "not_interested", "invalid", "opt_out"]}},
    )
    sender = obj(
        "Um remetente do tenant.",
        {
            "id": text("Identificador.", fmt="uuid"),
            "channel": channel,
            "address": text("Número E.164 ou e-mail."),
            "provider_ref": {
                "type": ["string", "null"],
                "description": "Id do remetente no provedor, quando não é o número (Meta).",
            },
            "limit_per_period": integer("Mensagens por período.", minimum=1),
            "period_seconds": integer("Duração do período, em segundos.", minimum=1),
            "active": {"type": "boolean"},
            "created_at": timestamp,
        },
    )
    sender_create = obj(
        "Um remetente novo.",
        {
            "channel": channel,
            "address": text("Número (qualquer formato brasileiro) ou e-mail."),
            "provider_ref": text(
                "Id do remetente no provedor, quando não é o número: o phone number id da Meta."
            ),
            "limit_per_period": integer("Mensagens por período.", minimum=1),
            "period_seconds": integer("Duração do período (padrão 60).", minimum=1),
        },
        required=["channel", "address", "limit_per_period"],
    )
    opt_out = obj(
        "Um, e só um, dos três.",
        {
            "phone": text("Telefone."),
            "email": text("E-mail."),
            "cnpj": text("CNPJ."),
        },
        required=[],
    )
    opt_out_result = obj(
        "O descadastro.",
        {
            "kind": {"enum": ["phone", "email", "cnpj"]},
            "added": {"type": "boolean", "description": "False quando já estava na lista."},
        },
    )
    unmatched = obj(
        "Uma resposta sem qualificação conhecida.",
        {
            "id": text("Identificador.", fmt="uuid"),
            "provider": text("Provedor que entregou."),
            "channel": channel,
            "from": text(
                "Quem mandou; null quando a chave atual não abre o valor guardado.", nullable=True
            ),
            "to": nullable_text,
            "body": text(
                "O texto; null quando a chave atual não abre o valor guardado.", nullable=True
            ),
            "received_at": timestamp,
        },
    )
    return {
        "UnmatchedReply": unmatched,
        "UnmatchedReplyPage": page_of("Uma página de respostas.", "UnmatchedReply"),
        "QualificationProgress": progress,
        "QualificationJob": job,
        "QualificationJobPage": page_of("Uma página de execuções.", "QualificationJob"),
        "QualificationFlow": flow,
        "QualificationDueStep": step,
        "QualificationDueStepPage": page_of(
            "Uma página de passos vencidos.", "QualificationDueStep"
        ),
        "QualificationReplyCreate": reply_create,
        "QualificationReply": reply,
        "QualificationReview": review,
        "QualificationReviewPage": page_of("Uma página de revisões.", "QualificationReview"),
        "QualificationReviewDecision": decision,
        "QualificationSender": sender,
        "QualificationSenderPage": page_of("Uma página de remetentes.", "QualificationSender"),
        "QualificationSenderCreate": sender_create,
        "OptOutCreate": opt_out,
        "OptOutResult": opt_out_result,
    }
