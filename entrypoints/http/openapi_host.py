"""OpenAPI part: the host's plans and tenants, tenant settings and usage."""

from __future__ import annotations

from typing import Any

from domain.tenancy import (
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TEMPLATES,
    DEFAULT_TIMEZONE,
    MAX_RETENTION_DAYS,
    TenantSettings,
)
from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    integer,
    json_content,
    nullable_ref,
    obj,
    one_response,
    operation,
    page_of,
    path_id,
    query,
    ref,
    response_ref,
    text,
)

TAGS = [
    {"name": "Planos", "description": "Planos de assinatura: créditos, preço e limites."},
    {
        "name": "Tenants",
        "description": "Empresas clientes: criação, plano, suspensão, exclusão e consumo.",
    },
    {
        "name": "Configurações",
        "description": "Fuso horário, horário de silêncio, alerta de saldo e modelos de mensagem.",
    },
]

_CONFLICT = {"409": response_ref("Conflict")}


def _plan_paths() -> dict[str, Any]:
    plan_id = path_id("plan_id", "Identificador do plano.")
    return {
        "/v1/host/plans": {
            "get": operation(
                "listPlans",
                "Planos",
                "Listar os planos",
                "Lista os planos do mais antigo para o mais novo. Os arquivados ficam de fora, "
                "a não ser com include_archived=true.",
                security="host",
                parameters=[
                    *PAGE_PARAMETERS,
                    query(
                        "include_archived",
                        "Incluir os planos arquivados.",
                        {"type": "boolean", "default": False},
                    ),
                ],
                responses={
                    "200": {
                        "description": "Uma página de planos.",
                        "content": json_content(ref("PlanPage")),
                    }
                },
            ),
            "post": operation(
                "createPlan",
                "Planos",
                "Criar um plano",
                "Cria um plano. O código (code) identifica o plano para integrações e não "
                "muda depois; um código já usado responde 409 (plan_code_taken). Valores em "
                "centavos; a moeda é BRL.",
                security="host",
                body=ref("PlanCreate"),
                body_example={
                    "code": "pro-mensal",
                    "name": "Pro mensal",
                    "monthly_credits": 500,
                    "price_cents": 49900,
                    "currency": "BRL",
                    "max_users": 10,
                    "messages_per_day": 1000,
                    "requests_per_minute": 120,
                    "max_selection_size": 5000,
                },
                responses={**one_response("O plano criado.", "Plan", "201"), **_CONFLICT},
            ),
        },
        "/v1/host/plans/{plan_id}": {
            "get": operation(
                "getPlan",
                "Planos",
                "Consultar um plano",
                "Mostra o plano e seus limites, arquivado ou não.",
                security="host",
                parameters=[plan_id],
                responses=one_response("O plano.", "Plan"),
            ),
            "patch": operation(
                "updatePlan",
                "Planos",
                "Alterar um plano",
                "Altera o nome, o preço, os créditos ou os limites. Os tenants do plano passam "
                "a seguir os novos limites na hora, inclusive o de requisições por minuto. O "
                "código não muda.",
                security="host",
                parameters=[plan_id],
                body=ref("PlanUpdate"),
                body_example={"price_cents": 59900, "requests_per_minute": 240},
                responses=one_response("O plano alterado.", "Plan"),
            ),
            "delete": operation(
                "archivePlan",
                "Planos",
                "Arquivar um plano",
                "Arquiva o plano: ele deixa de ser oferecido a tenants novos (plan_archived), "
                "mas os tenants que já o têm continuam com ele. Arquivar de novo não muda nada.",
                security="host",
                parameters=[plan_id],
                responses=one_response("O plano arquivado.", "Plan"),
            ),
        },
    }


def _tenant_list_parameters() -> list[dict[str, Any]]:
    date_or_time = {"type": "string", "description": "AAAA-MM-DD ou data e hora ISO 8601 com fuso."}
    return [
        *PAGE_PARAMETERS,
        query(
            "status",
            "Só tenants neste estado. Sem ele, ativos e suspensos; os excluídos só aparecem "
            "com status=deleted.",
            {"enum": ["active", "suspended", "deleted"]},
        ),
        query("plan_id", "Só tenants deste plano.", {"type": "string", "format": "uuid"}),
        query(
            "q",
            "Parte do nome, sem diferença de maiúsculas e acentos ('sao' encontra 'São').",
            {"type": "string", "maxLength": 200},
        ),
        query(
            "created_from",
            "Criados a partir deste dia (horário de Brasília) ou instante.",
            date_or_time,
        ),
        query(
            "created_to",
            "Criados até este dia, inclusive (horário de Brasília), ou até este instante.",
            date_or_time,
        ),
    ]


def _tenant_paths() -> dict[str, Any]:
    tenant_id = path_id("tenant_id", "Identificador do tenant.")
    base = "/v1/host/tenants/{tenant_id}"
    return {
        "/v1/host/tenants": {
            "get": operation(
                "listTenants",
                "Tenants",
                "Listar os tenants",
                "Lista os tenants na ordem de criação, com o plano e as configurações de cada um.",
                security="host",
                parameters=_tenant_list_parameters(),
                responses={
                    "200": {
                        "description": "Uma página de tenants.",
                        "content": json_content(ref("TenantPage")),
                    }
                },
            ),
            "post": operation(
                "createTenant",
                "Tenants",
                "Criar um tenant",
                "Cria um tenant num plano ativo. Um plano arquivado responde 409 "
                "(plan_archived); um CNPJ já usado por outro tenant, 409 "
                "(tenant_document_taken). As configurações omitidas recebem os valores padrão. "
                "Nenhum usuário é criado: convide-os depois, agindo dentro do tenant com o "
                "cabeçalho X-Tenant-ID.",
                security="host",
                body=ref("TenantCreate"),
                body_example={
                    "name": "Distribuidora Horizonte",
                    "plan_id": "0b7f1c9e-2d4a-4c3b-9e8f-1a2b3c4d5e6f",
                    "document": "11.222.333/0001-81",
                    "contact_email": "financeiro@horizonte.com.br",
                    "settings": {"low_balance_threshold": 50},
                },
                responses={**one_response("O tenant criado.", "Tenant", "201"), **_CONFLICT},
            ),
        },
        base: {
            "get": operation(
                "getTenant",
                "Tenants",
                "Consultar um tenant",
                "Mostra o tenant, seu plano e suas configurações, inclusive se estiver excluído.",
                security="host",
                parameters=[tenant_id],
                responses=one_response("O tenant.", "Tenant"),
            ),
            "patch": operation(
                "updateTenant",
                "Tenants",
                "Alterar um tenant",
                "Altera o nome, o plano, o CNPJ ou o e-mail de contato. document e "
                "contact_email aceitam null para apagar. Um plano novo vale na hora, inclusive "
                "o limite de requisições. Um tenant excluído não muda (tenant_deleted).",
                security="host",
                parameters=[tenant_id],
                body=ref("TenantUpdate"),
                body_example={"name": "Distribuidora Horizonte Ltda", "contact_email": None},
                responses={**one_response("O tenant alterado.", "Tenant"), **_CONFLICT},
            ),
            "delete": operation(
                "deleteTenant",
                "Tenants",
                "Excluir um tenant",
                "Exclusão lógica: o acesso acaba na hora e os dados ficam guardados até "
                f"retention_until (hoje mais retention_days, padrão {DEFAULT_RETENTION_DAYS} "
                "dias), quando podem ser apagados. O tenant some das listas, a não ser com "
                "status=deleted, e não pode ser reativado. Excluir de novo não muda nada.",
                security="host",
                parameters=[tenant_id],
                body=ref("TenantDelete"),
                body_required=False,
                body_example={"retention_days": 30},
                responses=one_response("O tenant excluído.", "Tenant"),
            ),
        },
        base + "/suspend": {
            "post": operation(
                "suspendTenant",
                "Tenants",
                "Suspender um tenant",
                "Suspende o tenant na hora: os usuários e chaves dele recebem 403 "
                "(tenant_suspended) com o motivo informado. Suspender de novo troca o motivo.",
                security="host",
                parameters=[tenant_id],
                body=ref("TenantSuspend"),
                body_example={"reason": "Pagamento em atraso desde 05/01"},
                responses={**one_response("O tenant suspenso.", "Tenant"), **_CONFLICT},
            ),
        },
        base + "/reactivate": {
            "post": operation(
                "reactivateTenant",
                "Tenants",
                "Reativar um tenant",
                "Encerra a suspensão: usuários e chaves voltam a funcionar na hora. Um tenant "
                "excluído não pode ser reativado (tenant_deleted).",
                security="host",
                parameters=[tenant_id],
                responses={**one_response("O tenant ativo.", "Tenant"), **_CONFLICT},
            ),
        },
        base + "/settings": {
            "get": operation(
                "getTenantSettings",
                "Configurações",
                "Consultar as configurações de um tenant",
                "As configurações do tenant, com os valores padrão no que ele não mudou.",
                security="host",
                parameters=[tenant_id],
                responses=one_response("As configurações.", "TenantSettings"),
            ),
            "patch": operation(
                "updateTenantSettings",
                "Configurações",
                "Alterar as configurações de um tenant",
                "Altera só os campos enviados; em templates, só os modelos enviados. Campos "
                "desconhecidos e valores inválidos respondem 400 com o campo em field.",
                security="host",
                parameters=[tenant_id],
                body=ref("TenantSettingsUpdate"),
                body_example={"timezone": "America/Manaus"},
                responses={
                    **one_response("As configurações alteradas.", "TenantSettings"),
                    **_CONFLICT,
                },
            ),
        },
        base + "/usage": {
            "get": operation(
                "getTenantUsage",
                "Tenants",
                "Consultar o consumo de um tenant",
                "Plano e limites, usuários, chaves ativas, créditos e os eventos de auditoria "
                "do tenant, do mais novo para o mais antigo (page e per_page paginam os "
                "eventos). Funciona também para tenants suspensos e excluídos.",
                security="host",
                parameters=[tenant_id, *PAGE_PARAMETERS],
                responses=one_response("O consumo do tenant.", "TenantUsage"),
            ),
        },
    }


def _own_settings_paths() -> dict[str, Any]:
    return {
        "/v1/settings": {
            "get": operation(
                "getSettings",
                "Configurações",
                "Consultar as configurações do seu tenant",
                "Fuso horário, horário de silêncio, alerta de saldo baixo e modelos de mensagem "
                "do seu tenant.",
                security="tenant",
                responses=one_response("As configurações.", "TenantSettings"),
            ),
            "patch": operation(
                "updateSettings",
                "Configurações",
                "Alterar as configurações do seu tenant",
                "Altera só os campos enviados; em templates, só os modelos enviados. Campos "
                "desconhecidos e valores inválidos respondem 400 com o campo em field. Exige a "
                "permissão settings:manage (administradores).",
                security="tenant",
                body=ref("TenantSettingsUpdate"),
                body_example={
                    "quiet_hours": {"start": "21:00", "end": "08:30"},
                    "templates": {"email_subject": "Proposta para a {empresa}"},
                },
                responses=one_response("As configurações alteradas.", "TenantSettings"),
            ),
        }
    }


def paths() -> dict[str, Any]:
    return {**_plan_paths(), **_tenant_paths(), **_own_settings_paths()}


# --- schemas ---------------------------------------------------------------------


def _plan_limit_properties() -> dict[str, Any]:
    return {
        "monthly_credits": integer("Créditos incluídos por mês.", minimum=0),
        "price_cents": integer("Preço mensal em centavos.", minimum=0),
        "currency": {"enum": ["BRL"], "description": "Moeda do preço.", "default": "BRL"},
        "max_users": integer("Usuários que o tenant pode ter.", minimum=1),
        "messages_per_day": integer("Mensagens de qualificação por dia.", minimum=1),
        "requests_per_minute": integer("Requisições à API por minuto.", minimum=1),
        "max_selection_size": {
            **integer("Pré-leads que cabem numa seleção.", minimum=1),
            "default": 5000,
        },
        "credit_validity_days": {
            **integer(
                "Dias em que os créditos de cada período pago podem ser usados; nulo: não "
                "expiram. Créditos que vencem são os primeiros a ser gastos.",
                nullable=True,
                minimum=1,
            ),
            "maximum": 3650,
            "default": None,
        },
    }


def _plan_schemas() -> dict[str, Any]:
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    code = {
        "type": "string",
        "pattern": "^[a-z0-9][a-z0-9-]{1,39}$",
        "description": "Código estável do plano: de 2 a 40 letras minúsculas, dígitos e hífens.",
    }
    limits = _plan_limit_properties()
    return {
        "Plan": obj(
            "Um plano de assinatura.",
            {
                "id": text("Identificador do plano.", fmt="uuid"),
                "code": code,
                "name": text("Nome do plano."),
                **limits,
                "archived": {
                    "type": "boolean",
                    "description": "Arquivado: não é dado a tenants novos.",
                },
                "archived_at": {**timestamp, "description": "Quando foi arquivado."},
                "created_at": text("Quando foi criado.", fmt="date-time"),
                "updated_at": text("Última alteração.", fmt="date-time"),
            },
        ),
        "PlanSummary": obj(
            "O plano de um tenant, resumido.",
            {
                "id": text("Identificador do plano.", fmt="uuid"),
                "code": code,
                "name": text("Nome do plano."),
                "archived": {"type": "boolean", "description": "Arquivado."},
            },
        ),
        "PlanPage": page_of("Uma página de planos.", "Plan"),
        "PlanCreate": {
            **obj(
                "Dados do novo plano.",
                {"code": code, "name": text("Nome do plano (até 200 caracteres)."), **limits},
                required=[
                    "code",
                    "name",
                    "monthly_credits",
                    "price_cents",
                    "max_users",
                    "messages_per_day",
                    "requests_per_minute",
                ],
            ),
            "additionalProperties": False,
        },
        "PlanUpdate": {
            **obj(
                "Campos a alterar; os omitidos ficam como estão.",
                {"name": text("Nome do plano."), **limits},
                required=[],
            ),
            "additionalProperties": False,
        },
    }


def _settings_schemas() -> dict[str, Any]:
    defaults = TenantSettings().to_json()
    time_of_day = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
    quiet_hours = obj(
        "Janela diária, no fuso do tenant, em que nenhuma mensagem é enviada; pode passar da "
        "meia-noite. null: sem horário de silêncio (o horário de envio da qualificação vale).",
        {
            "start": {**time_of_day, "description": "Início, HH:MM."},
            "end": {**time_of_day, "description": "Fim, HH:MM."},
        },
    )
    template_names = list(DEFAULT_TEMPLATES)
    template_text = {"type": "string", "minLength": 1, "maxLength": 4000}
    templates_description = (
        "Modelos de mensagem. {empresa} e {nome} são trocados pelos dados de cada pré-lead; "
        "{remetente}, pelo nome do tenant."
    )
    timezone = text(f"Fuso horário IANA; padrão {DEFAULT_TIMEZONE}.")
    threshold = integer(
        "Alerta quando o saldo disponível cai a este número de créditos.", minimum=0
    )
    hours = obj(
        "Janela diária de envio, no fuso do tenant.",
        {
            "start": {**time_of_day, "description": "Início, HH:MM."},
            "end": {**time_of_day, "description": "Fim, HH:MM."},
        },
    )
    rule = obj(
        "Uma regra do classificador de respostas do tenant.",
        {
            "name": text("Nome: letras minúsculas sem acento, dígitos e '_'."),
            "outcome": {"enum": ["qualified", "not_interested", "invalid", "opt_out", "review"]},
            "phrases": {"type": "array", "items": {"type": "string"}},
            "regexes": {"type": "array", "items": {"type": "string"}},
        },
        required=["name", "outcome"],
    )
    qualification_fields = {
        "orchestrator": {
            "enum": ["builtin", "n8n"],
            "description": "Quem executa os passos: os workers do Garimpo ou workflows do n8n.",
        },
        "reply_wait_minutes": integer(
            "Minutos de espera por uma resposta antes do próximo canal.", minimum=1
        ),
        "daily_limit": integer("Mensagens por dia, somando os canais.", minimum=1),
        "sending_hours": {**hours, "additionalProperties": False},
        "sending_weekdays": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 7},
            "description": "Dias de envio, de 1 (segunda) a 7 (domingo).",
        },
        "holidays": {
            "type": "array",
            "items": {"type": "string", "format": "date"},
            "description": "Dias sem envio.",
        },
        "whatsapp_template": text("Nome do modelo de WhatsApp aprovado da primeira mensagem."),
        "rules": {"type": "array", "items": {**rule, "additionalProperties": False}},
        "disabled_rules": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Regras padrão desligadas.",
        },
    }
    nullable_quiet_hours = {"anyOf": [ref("QuietHours"), {"type": "null"}]}
    return {
        "QuietHours": {**quiet_hours, "additionalProperties": False},
        "QualificationSettings": {
            **obj("Como a qualificação contata os pré-leads.", qualification_fields),
            "additionalProperties": False,
        },
        "QualificationSettingsUpdate": {
            **obj(
                "Configurações de qualificação a alterar; as omitidas ficam como estão.",
                qualification_fields,
                required=[],
            ),
            "additionalProperties": False,
        },
        "TenantSettings": {
            **obj(
                "Configurações do tenant.",
                {
                    "timezone": timezone,
                    "quiet_hours": nullable_quiet_hours,
                    "low_balance_threshold": threshold,
                    "qualification": ref("QualificationSettings"),
                    "templates": {
                        **obj(
                            templates_description,
                            {
                                name: {**template_text, "description": f"Modelo {name}."}
                                for name in template_names
                            },
                        ),
                        "additionalProperties": False,
                    },
                },
            ),
            "example": defaults,
        },
        "TenantSettingsUpdate": {
            **obj(
                "Configurações a alterar; as omitidas ficam como estão.",
                {
                    "timezone": timezone,
                    "quiet_hours": nullable_quiet_hours,
                    "low_balance_threshold": threshold,
                    "qualification": ref("QualificationSettingsUpdate"),
                    "templates": {
                        **obj(
                            "Modelos a trocar; os omitidos ficam como estão. "
                            + templates_description,
                            {
                                name: {**template_text, "description": f"Modelo {name}."}
                                for name in template_names
                            },
                            required=[],
                        ),
                        "additionalProperties": False,
                    },
                },
                required=[],
            ),
            "additionalProperties": False,
        },
    }


def _tenant_schemas() -> dict[str, Any]:
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    status = {
        "enum": ["active", "suspended", "deleted"],
        "description": "active: em uso; suspended: acesso suspenso; deleted: excluído.",
    }
    document = text("CNPJ da empresa cliente, 14 caracteres sem pontuação.", nullable=True)
    contact_email = text("E-mail de contato da empresa cliente.", nullable=True)
    return {
        "Tenant": obj(
            "Um tenant (empresa cliente).",
            {
                "id": text("Identificador do tenant.", fmt="uuid"),
                "name": text("Nome do tenant."),
                "status": status,
                "status_reason": text(
                    "Motivo da suspensão, mostrado aos usuários do tenant.", nullable=True
                ),
                "plan_id": text("Plano do tenant.", nullable=True, fmt="uuid"),
                "plan": nullable_ref("PlanSummary"),
                "document": document,
                "contact_email": contact_email,
                "settings": ref("TenantSettings"),
                "suspended_at": {**timestamp, "description": "Início da suspensão em vigor."},
                "deleted_at": {**timestamp, "description": "Quando foi excluído."},
                "retention_until": {
                    "type": ["string", "null"],
                    "format": "date",
                    "description": "Último dia em que os dados do tenant excluído são guardados.",
                },
                "created_at": text("Quando foi criado.", fmt="date-time"),
                "updated_at": text("Última alteração.", fmt="date-time"),
            },
        ),
        "TenantPage": page_of("Uma página de tenants.", "Tenant"),
        "TenantCreate": {
            **obj(
                "Dados do novo tenant.",
                {
                    "name": text("Nome do tenant (até 200 caracteres)."),
                    "plan_id": text("Plano ativo do tenant.", fmt="uuid"),
                    "document": text(
                        "CNPJ da empresa cliente, com ou sem pontuação (numérico ou alfanumérico).",
                        nullable=True,
                    ),
                    "contact_email": contact_email,
                    "settings": {
                        "anyOf": [ref("TenantSettingsUpdate"), {"type": "null"}],
                        "description": "Configurações iniciais; as omitidas recebem o padrão.",
                    },
                },
                required=["name", "plan_id"],
            ),
            "additionalProperties": False,
        },
        "TenantUpdate": {
            **obj(
                "Campos a alterar; os omitidos ficam como estão.",
                {
                    "name": text("Nome do tenant."),
                    "plan_id": text("Novo plano, ativo.", fmt="uuid"),
                    "document": text("CNPJ da empresa cliente; null apaga.", nullable=True),
                    "contact_email": text("E-mail de contato; null apaga.", nullable=True),
                },
                required=[],
            ),
            "additionalProperties": False,
        },
        "TenantSuspend": {
            **obj(
                "Motivo da suspensão.",
                {
                    "reason": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 500,
                        "description": "Em português: os usuários e chaves do tenant o recebem no 403.",
                    }
                },
            ),
            "additionalProperties": False,
        },
        "TenantDelete": {
            **obj(
                "Opções da exclusão.",
                {
                    "retention_days": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_RETENTION_DAYS,
                        "default": DEFAULT_RETENTION_DAYS,
                        "description": "Dias, a partir de hoje, em que os dados ficam guardados.",
                    }
                },
                required=[],
            ),
            "additionalProperties": False,
        },
        "TenantUsage": obj(
            "Consumo e estado de um tenant.",
            {
                "tenant": obj(
                    "O tenant.",
                    {
                        "id": text("Identificador do tenant.", fmt="uuid"),
                        "name": text("Nome do tenant."),
                        "status": status,
                        "status_reason": text("Motivo da suspensão.", nullable=True),
                    },
                ),
                "plan": nullable_ref("Plan"),
                "users": obj(
                    "Usuários do tenant.",
                    {
                        "active": integer("Usuários ativos.", minimum=0),
                        "invited": integer("Convites ainda não aceitos.", minimum=0),
                        "disabled": integer("Usuários desativados.", minimum=0),
                        "max": integer("Limite do plano; null sem plano.", nullable=True),
                    },
                ),
                "api_keys": obj(
                    "Chaves de API do tenant.",
                    {"active": integer("Chaves não revogadas nem expiradas.", minimum=0)},
                ),
                "credits": obj(
                    "Créditos do tenant, lidos do extrato.",
                    {
                        "balance": integer("Créditos do tenant (saldo).", minimum=0),
                        "held": integer(
                            "Créditos reservados para qualificações em andamento.", minimum=0
                        ),
                        "available": integer(
                            "Créditos livres para novas qualificações: saldo menos reservados.",
                            minimum=0,
                        ),
                        "pending_captures": integer(
                            "Leads qualificados à espera de crédito para o débito.", minimum=0
                        ),
                        "used_by_day": {
                            "type": "array",
                            "description": (
                                "Créditos debitados em cada um dos últimos 30 dias, hoje "
                                "incluído, no fuso horário do tenant."
                            ),
                            "items": obj(
                                "Créditos capturados num dia.",
                                {
                                    "date": text("O dia.", fmt="date"),
                                    "credits": integer("Créditos capturados.", minimum=0),
                                },
                            ),
                        },
                    },
                ),
                "recent_events": ref("AuditEventPage"),
            },
        ),
    }


def schemas() -> dict[str, Any]:
    return {**_plan_schemas(), **_settings_schemas(), **_tenant_schemas()}
