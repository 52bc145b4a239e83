"""The OpenAPI 3.1 document of the REST API, built once per application.

Schemas use JSON Schema 2020-12, as OpenAPI 3.1 does: a nullable value is
``"type": ["string", "null"]``. Descriptions are in pt-BR because integrators
read them; operation ids are English. A contract test checks that the routes
of the application and the operations of this document agree, and that real
responses validate against the schemas.
"""

from __future__ import annotations

from typing import Any

from domain.search import MAX_CNAES, MAX_MUNICIPALITIES
from entrypoints.http import (
    openapi_auth,
    openapi_billing,
    openapi_credits,
    openapi_crm,
    openapi_email_webhooks,
    openapi_host,
    openapi_identity,
    openapi_leads,
    openapi_provider_webhooks,
    openapi_qualification,
    openapi_webhooks,
)
from entrypoints.http.permissions import route_access

#: The parts of the document that route modules contribute (TAGS, paths(), schemas()).
PARTS = [
    openapi_identity,
    openapi_host,
    openapi_auth,
    openapi_billing,
    openapi_credits,
    openapi_webhooks,
    openapi_leads,
    openapi_crm,
    openapi_email_webhooks,
    openapi_provider_webhooks,
    openapi_qualification,
]

API_VERSION = "0.1.0"

_TENANT_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearerAuth": []}]
_PUBLIC_SECURITY: list[dict[str, list[str]]] = []


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable_ref(name: str) -> dict[str, Any]:
    return {"anyOf": [_ref(name), {"type": "null"}]}


def _response_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{name}"}


def _text(description: str, *, nullable: bool = False, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": ["string", "null"] if nullable else "string",
        "description": description,
    }
    if fmt is not None:
        schema["format"] = fmt
    return schema


def _object(
    description: str, properties: dict[str, Any], *, required: list[str] | None = None
) -> dict[str, Any]:
    """Build an object schema; every property is required unless ``required`` lists fewer."""
    return {
        "type": "object",
        "description": description,
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def build_openapi_document(*, max_per_page: int) -> dict[str, Any]:
    """Build the whole document; ``max_per_page`` is the limit the application enforces."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Garimpo API",
            "version": API_VERSION,
            "summary": "Pré-leads B2B a partir dos dados abertos do CNPJ.",
            "description": (
                "API REST do Garimpo. Busca estabelecimentos na base pública do CNPJ da "
                "Receita Federal por CNAE, UF, município e outros filtros, e mostra os dados "
                "completos de cada empresa.\n\n"
                "As rotas sob /v1 (exceto /v1/openapi.json e as de login) exigem credenciais: "
                "o token de acesso de POST /v1/auth/login em Authorization: Bearer <token>, "
                "ou uma chave de API no cabeçalho X-API-Key. Cada rota diz, em security, o "
                "que aceita; um papel ou escopo sem permissão recebe 403. Um administrador "
                "do host age dentro de um tenant indicando-o no cabeçalho X-Tenant-ID, e "
                "isso fica na auditoria.\n\n"
                "Erros respondem application/problem+json (RFC 9457) com type, title, "
                "status, detail (mensagem em português), code (estável, para programas), "
                "field (o campo com problema, quando houver) e request_id. Informe o "
                "request_id (também no cabeçalho X-Request-ID) ao falar com o suporte. "
                "Em qualquer rota, um caminho desconhecido responde 404 (route_not_found) "
                "e um método não aceito responde 405 (method_not_allowed).\n\n"
                "As rotas autenticadas seguem o limite de requisições por minuto do plano "
                "do tenant. Cada resposta delas traz RateLimit-Limit, RateLimit-Remaining, "
                "RateLimit-Reset (segundos até o limite estar inteiro) e RateLimit-Policy; "
                "quem passa do limite recebe 429 (rate_limited) com Retry-After."
            ),
        },
        "servers": [{"url": "/", "description": "O mesmo endereço que serve este documento."}],
        "tags": [
            {"name": "Pré-leads", "description": "Busca de estabelecimentos para prospecção."},
            {"name": "Empresas", "description": "Dados completos de um estabelecimento."},
            {"name": "Operação", "description": "Saúde do serviço e este documento."},
            *(tag for part in PARTS for tag in part.TAGS),
        ],
        "paths": _with_permissions(
            {**_paths(), **{k: v for part in PARTS for k, v in part.paths().items()}}
        ),
        "components": {
            "securitySchemes": _security_schemes(),
            "schemas": {
                **_schemas(max_per_page),
                **{k: v for part in PARTS for k, v in part.schemas().items()},
            },
            "responses": _problem_responses(),
        },
    }


# --- paths -----------------------------------------------------------------


def _with_permissions(paths: dict[str, Any]) -> dict[str, Any]:
    """Name, in each operation, the permission the route table asks for.

    The text comes from ROUTE_ACCESS itself, so the document cannot drift
    from what the API enforces.
    """
    for template, item in paths.items():
        for method, operation in item.items():
            access = route_access(method.upper(), template)
            if access is None or access.permission is None:
                continue
            operation["x-garimpo-permission"] = access.permission.value
            operation["description"] += (
                f" Exige a permissão {access.permission.value} (papel ou escopo da chave)."
            )
    return paths


def registry_paths() -> dict[str, Any]:
    """Return the operations of the registry and of the service itself, without the parts."""
    return _paths()


def _paths() -> dict[str, Any]:
    return {
        "/health": {
            "get": {
                "operationId": "getHealth",
                "tags": ["Operação"],
                "summary": "Verificar se o processo está no ar",
                "description": (
                    "Responde 200 enquanto o processo atende requisições. Não consulta banco "
                    "de dados nem outros serviços; para isso, use /ready."
                ),
                "security": _PUBLIC_SECURITY,
                "responses": {
                    "200": {
                        "description": "O processo está no ar.",
                        "content": _json_content(_ref("Health")),
                    },
                    "500": _response_ref("InternalError"),
                },
            }
        },
        "/ready": {
            "get": {
                "operationId": "getReadiness",
                "tags": ["Operação"],
                "summary": "Verificar se o serviço pode atender",
                "description": (
                    "Testa cada componente de que o serviço depende (banco de dados, cache e "
                    "outros), com limite de 2 segundos por componente. Responde 503 quando "
                    "algum deles falha ou não responde a tempo."
                ),
                "security": _PUBLIC_SECURITY,
                "responses": {
                    "200": {
                        "description": "Todos os componentes responderam.",
                        "content": _json_content(_ref("Readiness")),
                    },
                    "500": _response_ref("InternalError"),
                    "503": _response_ref("NotReady"),
                },
            }
        },
        "/v1/preleads/search": {
            "post": {
                "operationId": "searchPreLeads",
                "tags": ["Pré-leads"],
                "summary": "Buscar pré-leads",
                "description": (
                    "Busca estabelecimentos por CNAE e UF (ou municípios), com filtros de "
                    "situação cadastral, porte, data de abertura, capital social, Simples, MEI "
                    "e contatos. Os resultados vêm ordenados por CNPJ, uma página por vez. "
                    "Buscar não consome créditos. Com a api-cnaes configurada, a busca em modo "
                    "auto consulta a api-cnaes quando a base local não tem nenhum resultado, "
                    "guarda as empresas recebidas e responde com elas (meta.source = api-cnaes); "
                    "a mesma busca repetida dentro do prazo do cache responde com o que foi "
                    "guardado, sem nova consulta paga. Se a api-cnaes falhar, a resposta traz "
                    "os resultados locais e um aviso em meta.warnings."
                ),
                "security": _TENANT_SECURITY,
                "requestBody": {
                    "required": True,
                    "description": "Critérios da busca; só cnaes é obrigatório.",
                    "content": {
                        "application/json": {
                            "schema": _ref("SearchRequest"),
                            "example": {
                                "cnaes": ["6204-0/00"],
                                "uf": "SP",
                                "municipio_ibge": ["3550308"],
                                "has_phone": "mobile",
                                "page": 1,
                                "per_page": 50,
                            },
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Uma página de estabelecimentos encontrados.",
                        "content": _json_content(_ref("PreLeadPage")),
                    },
                    "400": _response_ref("BadRequest"),
                    "401": _response_ref("Unauthorized"),
                    "403": _response_ref("Forbidden"),
                    "409": _response_ref("ApiCnaesOff"),
                    "413": _response_ref("PayloadTooLarge"),
                    "429": _response_ref("TooManyRequests"),
                    "500": _response_ref("InternalError"),
                },
            }
        },
        "/v1/companies/{cnpj}": {
            "get": {
                "operationId": "getCompany",
                "tags": ["Empresas"],
                "summary": "Consultar um estabelecimento pelo CNPJ",
                "description": (
                    "Mostra o estabelecimento com os dados da empresa, os sócios, o Simples "
                    "Nacional e o MEI, e a carga da base de onde vieram. Com a api-cnaes "
                    "configurada, um CNPJ que falta na base local é buscado nela, guardado e "
                    "devolvido com source = api-cnaes; os dados que ela não traz (sócios, "
                    "carga) vêm vazios."
                ),
                "security": _TENANT_SECURITY,
                "parameters": [
                    {
                        "name": "cnpj",
                        "in": "path",
                        "required": True,
                        "description": (
                            "CNPJ com 14 caracteres, numérico ou alfanumérico, com ou sem "
                            "pontuação (a barra deve ir codificada como %2F)."
                        ),
                        "schema": {"type": "string"},
                        "example": "11222333000181",
                    }
                ],
                "responses": {
                    "200": {
                        "description": "O estabelecimento e tudo o que a base sabe sobre ele.",
                        "content": _json_content(_ref("CompanyDetailEnvelope")),
                    },
                    "400": _response_ref("BadRequest"),
                    "401": _response_ref("Unauthorized"),
                    "403": _response_ref("Forbidden"),
                    "404": _response_ref("NotFound"),
                    "429": _response_ref("TooManyRequests"),
                    "500": _response_ref("InternalError"),
                    "503": _response_ref("ApiCnaesUnavailable"),
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["Operação"],
                "summary": "Obter este documento OpenAPI",
                "description": "Este documento, em OpenAPI 3.1. Não exige autenticação.",
                "security": _PUBLIC_SECURITY,
                "responses": {
                    "200": {
                        "description": "O documento OpenAPI.",
                        "content": _json_content({"type": "object"}),
                    },
                    "500": _response_ref("InternalError"),
                },
            }
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Chave de API (gar_<prefixo>_<segredo>) de um tenant ou do host.",
        },
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "Token de acesso de POST /v1/auth/login, em Authorization: Bearer <token>. "
                "A chave de API também é aceita aqui."
            ),
        },
    }


# --- problem responses ------------------------------------------------------


def _rate_limit_headers() -> dict[str, Any]:
    """Headers of a 429: Retry-After, and the RateLimit fields when the refusal is rate_limited."""

    def header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "schema": schema}

    seconds = {"type": "integer", "minimum": 0}
    return {
        "Retry-After": header("Segundos a esperar antes de tentar de novo.", seconds),
        "RateLimit-Limit": header("Requisições por minuto do limite atingido.", seconds),
        "RateLimit-Remaining": header("Requisições que ainda cabem agora.", seconds),
        "RateLimit-Reset": header("Segundos até o limite estar inteiro de novo.", seconds),
        "RateLimit-Policy": header(
            "O limite e a janela em segundos, como 120;w=60.", {"type": "string"}
        ),
    }


def _problem_response(description: str, schema: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref(schema), "example": example}},
    }


def _problem_example(
    status: int, title: str, code: str, detail: str, field: str | None = None
) -> dict[str, Any]:
    example: dict[str, Any] = {
        "type": f"urn:garimpo:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        example["field"] = field
    example["request_id"] = "4f1c2a9e8b7d4c3a9f0e1d2c3b4a5f6e"
    return example


def _problem_responses() -> dict[str, Any]:
    return {
        "BadRequest": _problem_response(
            "Requisição inválida: JSON malformado, campo com tipo errado ou desconhecido "
            "(code invalid_json ou invalid_field) ou critério que não passa nas regras "
            "(invalid_cnpj, invalid_search, invalid_cnae, invalid_uf, page_out_of_range e "
            "outros). O campo field aponta o valor a corrigir.",
            "Problem",
            _problem_example(
                400,
                "Requisição inválida",
                "invalid_field",
                "O campo 'has_email' deve ser true, false ou null.",
                field="has_email",
            ),
        ),
        "Unauthorized": _problem_response(
            "Faltam as credenciais (authentication_required) ou elas não valem: token de "
            "acesso inválido ou expirado (invalid_token, token_expired), sessão encerrada "
            "(session_revoked), usuário desativado (account_disabled), chave de API "
            "inválida, revogada ou expirada (invalid_api_key, api_key_revoked, "
            "api_key_expired). O cabeçalho WWW-Authenticate acompanha a resposta.",
            "Problem",
            _problem_example(
                401,
                "Autenticação necessária",
                "token_expired",
                "O token de acesso expirou. Renove a sessão em POST /v1/auth/refresh.",
            ),
        ),
        "Forbidden": _problem_response(
            "Autenticado, mas sem permissão: papel sem acesso (forbidden), chave sem o "
            "escopo (insufficient_scope), rota de outro lado (host_only, tenant_required) "
            "ou tenant suspenso (tenant_suspended), com o motivo em detail.",
            "Problem",
            _problem_example(
                403,
                "Acesso negado",
                "tenant_suspended",
                "O acesso deste tenant está suspenso: pagamento em atraso. Fale com o "
                "administrador do Garimpo para reativá-lo.",
            ),
        ),
        "Conflict": _problem_response(
            "A requisição conflita com o estado atual (um e-mail já usado, um código repetido).",
            "Problem",
            _problem_example(
                409,
                "Conflito com o estado atual",
                "conflict",
                "Já existe um registro com estes dados.",
            ),
        ),
        "TooManyRequests": {
            **_problem_response(
                "Limite de requisições do plano atingido (rate_limited) ou tentativas de login "
                "demais (too_many_login_attempts, account_locked). Retry-After diz em quantos "
                "segundos tentar de novo; os cabeçalhos RateLimit-* mostram o limite.",
                "Problem",
                _problem_example(
                    429,
                    "Requisições demais",
                    "rate_limited",
                    "Limite de 120 requisições por minuto da sua empresa atingido. "
                    "Tente de novo em 1 segundo.",
                ),
            ),
            "headers": _rate_limit_headers(),
        },
        "NotFound": _problem_response(
            "O recurso não existe na base atual.",
            "Problem",
            _problem_example(
                404,
                "Recurso não encontrado",
                "company_not_found",
                "Nenhum estabelecimento com o CNPJ 11.222.333/0001-81 na base atual.",
                field="cnpj",
            ),
        ),
        "Unprocessable": _problem_response(
            "O pedido foi entendido, mas uma regra de negócio o impede: seleção acima do "
            "limite do plano (selection_too_large), CNPJs inválidos na lista (invalid_cnpjs), "
            "etapa de fechamento sem motivo (reason_required), campo personalizado fora do "
            "esquema (unknown_custom_field, invalid_custom_field) e outras. O campo field "
            "aponta o valor a corrigir.",
            "Problem",
            _problem_example(
                422,
                "Regra de negócio não atendida",
                "reason_required",
                "Informe o motivo para marcar o lead como perdido (etapa 'Perdido').",
                field="reason",
            ),
        ),
        "ApiCnaesOff": _problem_response(
            'A busca pediu "source": "api-cnaes", mas a api-cnaes não está configurada nesta '
            "instalação (api_cnaes_off).",
            "Problem",
            _problem_example(
                409,
                "Conflito com o estado atual",
                "api_cnaes_off",
                "A busca na api-cnaes está desligada nesta instalação (API_CNAES_URL não "
                'configurada). Use "source": "local" ou "auto", ou peça ao administrador do '
                "Garimpo para configurar a api-cnaes.",
                field="source",
            ),
        ),
        "ApiCnaesUnavailable": _problem_response(
            "O CNPJ não está na base local e a api-cnaes falhou ou não respondeu "
            "(api_cnaes_unavailable). Tente de novo em alguns minutos.",
            "Problem",
            _problem_example(
                503,
                "Serviço indisponível",
                "api_cnaes_unavailable",
                "O CNPJ 11.222.333/0001-81 não está na base local e a api-cnaes não pôde ser "
                "consultada agora. Tente de novo em alguns minutos.",
                field="cnpj",
            ),
        ),
        "PayloadTooLarge": _problem_response(
            "O corpo da requisição passa do tamanho aceito (payload_too_large).",
            "Problem",
            _problem_example(
                413,
                "Corpo da requisição grande demais",
                "payload_too_large",
                "O corpo da requisição é grande demais. Envie menos dados por requisição.",
            ),
        ),
        "InternalError": _problem_response(
            "Erro inesperado no servidor (internal_error). Informe o request_id ao suporte.",
            "Problem",
            _problem_example(
                500,
                "Erro interno",
                "internal_error",
                "Ocorreu um erro interno inesperado. Tente novamente em instantes; se o erro "
                "continuar, informe o request_id ao suporte.",
            ),
        ),
        "NotReady": _problem_response(
            "Algum componente está fora do ar (not_ready); checks mostra o estado de cada um.",
            "NotReadyProblem",
            {
                **_problem_example(
                    503,
                    "Serviço indisponível",
                    "not_ready",
                    "Componentes indisponíveis: database. Tente novamente em instantes.",
                ),
                "checks": {"database": "timeout", "redis": "ok"},
            },
        ),
    }


# --- schemas ---------------------------------------------------------------


def _schemas(max_per_page: int) -> dict[str, Any]:
    return {
        **_problem_schemas(),
        **_operation_schemas(),
        "SearchRequest": _search_request_schema(max_per_page),
        **_registry_schemas(),
    }


def _problem_schemas() -> dict[str, Any]:
    problem = {
        "type": "object",
        "description": "Descrição de um erro, no formato da RFC 9457.",
        "required": ["type", "title", "status", "detail", "code", "request_id"],
        "properties": {
            "type": {
                "type": "string",
                "format": "uri",
                "pattern": "^urn:garimpo:problem:[a-z0-9_]+$",
                "description": "URN do tipo de erro: urn:garimpo:problem: seguido de code.",
            },
            "title": _text("Resumo do tipo de erro, em português."),
            "status": {
                "type": "integer",
                "minimum": 400,
                "maximum": 599,
                "description": "O status HTTP da resposta.",
            },
            "detail": _text("O que aconteceu e como corrigir, em português."),
            "code": {
                "type": "string",
                "pattern": "^[a-z0-9_]+$",
                "description": "Código estável do erro, para programas (invalid_field, ...).",
            },
            "field": _text("O campo da requisição com problema, quando houver um."),
            "request_id": _text("Identificador da requisição, o mesmo do cabeçalho X-Request-ID."),
        },
    }
    not_ready = {
        "description": "Erro not_ready, com o estado de cada componente.",
        "allOf": [
            _ref("Problem"),
            {
                "type": "object",
                "required": ["checks"],
                "properties": {
                    "checks": {
                        "type": "object",
                        "description": "Estado de cada componente: ok, failed ou timeout.",
                        "additionalProperties": {"enum": ["ok", "failed", "timeout"]},
                    }
                },
            },
        ],
    }
    return {"Problem": problem, "NotReadyProblem": not_ready}


def _operation_schemas() -> dict[str, Any]:
    return {
        "Health": _object(
            "O processo está no ar.",
            {"status": {"const": "ok", "description": "Sempre ok."}},
        ),
        "Readiness": _object(
            "Todos os componentes responderam.",
            {
                "status": {"const": "ready", "description": "Sempre ready."},
                "checks": {
                    "type": "object",
                    "description": "Estado de cada componente verificado.",
                    "additionalProperties": {"const": "ok"},
                },
            },
        ),
    }


def _search_request_schema(max_per_page: int) -> dict[str, Any]:
    default_per_page = min(50, max_per_page)

    def optional_list(description: str, items: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "type": ["array", "null"],
            "description": description,
            "items": items or {"type": "string"},
        }

    def optional_flag(description: str, default: bool | None) -> dict[str, Any]:
        return {"type": ["boolean", "null"], "description": description, "default": default}

    return {
        "type": "object",
        "description": (
            "Critérios de uma busca de pré-leads. Campos desconhecidos são rejeitados. Em "
            "qualquer campo opcional, null vale o mesmo que não enviar o campo."
        ),
        "additionalProperties": False,
        "required": ["cnaes"],
        "properties": {
            "cnaes": {
                "type": "array",
                "description": (
                    f"Subclasses CNAE com 7 dígitos, como 6204000 ou 6204-0/00; de 1 a {MAX_CNAES}."
                ),
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": MAX_CNAES,
            },
            "include_secondary": optional_flag(
                "Inclui estabelecimentos que têm o CNAE como atividade secundária.", False
            ),
            "uf": {
                "type": ["string", "null"],
                "description": (
                    "Sigla da UF, como SP, ou EX para o exterior. Pode ficar de fora quando "
                    "todos os municípios informados são da mesma UF."
                ),
            },
            "municipio_ibge": optional_list(
                f"Códigos IBGE de município, com 7 dígitos, como 3550308; até "
                f"{MAX_MUNICIPALITIES}.",
                {"type": "string", "pattern": "^[0-9]{7}$"},
            ),
            "registration_status": {
                **optional_list(
                    "Situações cadastrais, por nome ou código: ATIVA (02), SUSPENSA (03), "
                    "INAPTA (04), BAIXADA (08) ou NULA (01). Sem este campo, só ATIVA."
                ),
                "default": ["ATIVA"],
            },
            "company_size": optional_list(
                "Portes, por nome ou código: NAO_INFORMADO (00), ME (01), EPP (03) ou "
                "DEMAIS (05). Sem este campo, todos os portes."
            ),
            "opened_from": _text(
                "Abertos nesta data ou depois (AAAA-MM-DD).", nullable=True, fmt="date"
            ),
            "opened_to": _text(
                "Abertos nesta data ou antes (AAAA-MM-DD).", nullable=True, fmt="date"
            ),
            "share_capital_min": {
                "type": ["number", "string", "null"],
                "description": "Capital social mínimo, em reais, como número ou texto decimal.",
            },
            "share_capital_max": {
                "type": ["number", "string", "null"],
                "description": "Capital social máximo, em reais, como número ou texto decimal.",
            },
            "simples": optional_flag(
                "true: só optantes do Simples Nacional; false: só não optantes; null: todos.",
                None,
            ),
            "mei": optional_flag("true: só MEI; false: só quem não é MEI; null: todos.", None),
            "has_phone": {
                "type": ["string", "null"],
                "enum": ["any", "mobile", "landline", None],
                "description": (
                    "any: com algum telefone válido; mobile: com celular; landline: com "
                    "telefone fixo; null: com ou sem telefone."
                ),
            },
            "has_email": optional_flag(
                "true: só com e-mail válido; false: só sem e-mail válido; null: todos.", None
            ),
            "exclude_shared_contacts": optional_flag(
                "Conta só contatos próprios: telefones e e-mails repetidos em muitos "
                "estabelecimentos (em geral, do contador) não valem para has_phone e "
                "has_email, e quem só tem contatos assim fica de fora.",
                False,
            ),
            "head_office_only": optional_flag("Só matrizes, sem filiais.", False),
            "exclude_existing": optional_flag(
                "Deixa de fora CNPJs que já são pré-leads ou leads do seu tenant.", False
            ),
            "source": {
                "type": ["string", "null"],
                "enum": ["local", "auto", "api-cnaes", None],
                "default": "auto",
                "description": (
                    "Onde buscar. local: só a base local. auto: a base local e, quando ela não "
                    "tem nenhum resultado, a api-cnaes (se configurada). api-cnaes: as empresas "
                    "da api-cnaes, consultada no máximo uma vez por busca dentro do prazo do "
                    "cache; responde 409 (api_cnaes_off) quando a api-cnaes não está "
                    "configurada."
                ),
            },
            "page": {
                "type": ["integer", "null"],
                "minimum": 1,
                "default": 1,
                "description": "Página pedida, a partir de 1.",
            },
            "per_page": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": max_per_page,
                "default": default_per_page,
                "description": f"Itens por página, de 1 a {max_per_page}.",
            },
        },
    }


def _registry_schemas() -> dict[str, Any]:
    return {
        "CodedValue": _object(
            "Um código da Receita Federal com sua descrição (null quando a tabela não a tem).",
            {
                "code": _text("O código, como a Receita o publica."),
                "description": _text("A descrição do código.", nullable=True),
            },
        ),
        "Municipality": _object(
            "Município do endereço.",
            {
                "ibge_code": _text("Código IBGE, com 7 dígitos.", nullable=True),
                "tom_code": _text("Código TOM, usado pela Receita.", nullable=True),
                "name": _text("Nome do município.", nullable=True),
            },
        ),
        "Address": _object(
            "Endereço do estabelecimento, como consta na Receita.",
            {
                "street_type": _text("Tipo de logradouro, como RUA ou AVENIDA.", nullable=True),
                "street": _text("Logradouro.", nullable=True),
                "number": _text("Número.", nullable=True),
                "complement": _text("Complemento.", nullable=True),
                "district": _text("Bairro.", nullable=True),
                "cep": _text("CEP, com 8 dígitos.", nullable=True),
                "uf": _text("Sigla da UF.", nullable=True),
                "municipality": _ref("Municipality"),
            },
        ),
        "Phone": _object(
            "Telefone do estabelecimento.",
            {
                "number": _text(
                    "Número no formato E.164 (+55...), ou só os dígitos quando inválido."
                ),
                "kind": {
                    "enum": ["mobile", "landline", "invalid"],
                    "description": "mobile: celular; landline: fixo; invalid: número inválido.",
                },
                "shared": {
                    "type": "boolean",
                    "description": "Número repetido em muitos estabelecimentos (em geral, do "
                    "contador).",
                },
            },
        ),
        "Email": _object(
            "E-mail do estabelecimento.",
            {
                "address": _text("Endereço de e-mail."),
                "valid": {"type": "boolean", "description": "O endereço tem formato válido."},
                "shared": {
                    "type": "boolean",
                    "description": "E-mail repetido em muitos estabelecimentos (em geral, do "
                    "contador).",
                },
            },
        ),
        "PreLead": _object("Um estabelecimento encontrado na busca.", _prelead_properties()),
        "PageMeta": _object(
            "Posição desta página no resultado.",
            {
                "page": {"type": "integer", "minimum": 1, "description": "Esta página."},
                "per_page": {"type": "integer", "minimum": 1, "description": "Itens por página."},
                "total_items": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Itens em todas as páginas.",
                },
                "total_pages": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Número de páginas.",
                },
            },
        ),
        "SearchWarning": _object(
            "Aviso sobre uma resposta que veio mesmo assim.",
            {
                "code": {
                    "type": "string",
                    "description": (
                        "Código estável: api_cnaes_timeout, api_cnaes_unavailable, "
                        "api_cnaes_rate_limited ou api_cnaes_failed (a api-cnaes falhou e "
                        "vieram só os resultados locais), ou api_cnaes_partial (a api-cnaes tem "
                        "mais resultados do que os guardados)."
                    ),
                },
                "message": _text("O aviso, para pessoas."),
            },
        ),
        "SearchPageMeta": {
            "description": "Posição desta página, a origem dos resultados e os avisos.",
            "allOf": [
                _ref("PageMeta"),
                _object(
                    "Origem e avisos da busca.",
                    {
                        "source": {
                            "enum": ["local", "api-cnaes"],
                            "description": (
                                "local: base local do CNPJ; api-cnaes: empresas obtidas da "
                                "api-cnaes e guardadas."
                            ),
                        },
                        "warnings": {"type": "array", "items": _ref("SearchWarning")},
                    },
                ),
            ],
        },
        "PreLeadPage": _object(
            "Uma página do resultado da busca.",
            {
                "meta": _ref("SearchPageMeta"),
                "data": {"type": "array", "items": _ref("PreLead")},
            },
        ),
        **_company_detail_schemas(),
    }


def _prelead_properties() -> dict[str, Any]:
    return {
        "cnpj": _text("CNPJ com 14 caracteres, sem pontuação."),
        "cnpj_formatted": _text("CNPJ com pontuação, como 11.222.333/0001-81."),
        "legal_name": _text("Razão social.", nullable=True),
        "trade_name": _text("Nome fantasia.", nullable=True),
        "head_office": {"type": "boolean", "description": "true para matriz, false para filial."},
        "registration_status": _ref("CodedValue"),
        "opening_date": _text("Data de abertura.", nullable=True, fmt="date"),
        "cnae_primary": _ref("CodedValue"),
        "cnaes_secondary": {
            "type": "array",
            "description": "CNAEs secundários, com 7 dígitos.",
            "items": {"type": "string"},
        },
        "company_size": _nullable_ref("CodedValue"),
        "share_capital": _text("Capital social em reais, como texto decimal.", nullable=True),
        "simples_opted": {
            "type": ["boolean", "null"],
            "description": "Optante do Simples Nacional; null quando a base não informa.",
        },
        "mei_opted": {
            "type": ["boolean", "null"],
            "description": "Optante do MEI; null quando a base não informa.",
        },
        "address": _ref("Address"),
        "phones": {"type": "array", "items": _ref("Phone")},
        "email": _nullable_ref("Email"),
    }


def _company_detail_schemas() -> dict[str, Any]:
    coded_or_null = _nullable_ref("CodedValue")
    return {
        "CompanySummary": _object(
            "A empresa (CNPJ básico) a que o estabelecimento pertence.",
            {
                "cnpj_root": _text("CNPJ básico, com 8 caracteres."),
                "legal_name": _text("Razão social.", nullable=True),
                "legal_name_had_cpf": {
                    "type": "boolean",
                    "description": (
                        "A razão social terminava com o CPF do titular, agora mascarado."
                    ),
                },
                "legal_nature": coded_or_null,
                "responsible_qualification": coded_or_null,
                "share_capital": _text("Capital social em reais.", nullable=True),
                "company_size": coded_or_null,
                "federative_entity": _text("Ente federativo responsável.", nullable=True),
            },
        ),
        "PartnerRepresentative": _object(
            "Representante legal do sócio.",
            {
                "document": _text("CPF do representante, como a Receita publica.", nullable=True),
                "name": _text("Nome do representante.", nullable=True),
                "qualification": coded_or_null,
            },
        ),
        "Partner": _object(
            "Sócio da empresa.",
            {
                "type": coded_or_null,
                "name": _text("Nome ou razão social do sócio.", nullable=True),
                "document": _text("CPF ou CNPJ do sócio, como a Receita publica.", nullable=True),
                "qualification": coded_or_null,
                "entry_date": _text("Data de entrada na sociedade.", nullable=True, fmt="date"),
                "country": coded_or_null,
                "representative": _nullable_ref("PartnerRepresentative"),
                "age_range": coded_or_null,
            },
        ),
        "TaxRegime": _object(
            "Opção pelo Simples Nacional ou pelo MEI.",
            {
                "opted": {"type": ["boolean", "null"], "description": "Optante hoje."},
                "since": _text("Data da opção.", nullable=True, fmt="date"),
                "until": _text("Data da exclusão.", nullable=True, fmt="date"),
            },
        ),
        "Snapshot": _object(
            "A carga da base do CNPJ de onde vieram estes dados.",
            {
                "run_id": _text("Identificador da carga.", fmt="uuid"),
                "reference": _text("Mês de referência dos arquivos da Receita.", nullable=True),
                "loaded_at": _text("Quando a carga terminou.", fmt="date-time"),
            },
        ),
        "CompanyDetail": {
            "description": "O estabelecimento completo: os campos da busca e mais os abaixo.",
            "allOf": [
                _ref("PreLead"),
                _object("Campos só da consulta por CNPJ.", _detail_only_properties()),
            ],
        },
        "CompanyDetailEnvelope": _object(
            "Resposta da consulta por CNPJ.", {"data": _ref("CompanyDetail")}
        ),
    }


def _detail_only_properties() -> dict[str, Any]:
    coded_or_null = _nullable_ref("CodedValue")
    return {
        "status_date": _text("Data da situação cadastral.", nullable=True, fmt="date"),
        "status_reason": coded_or_null,
        "special_status": _text("Situação especial.", nullable=True),
        "special_status_date": _text("Data da situação especial.", nullable=True, fmt="date"),
        "country": coded_or_null,
        "foreign_city": _text("Cidade no exterior.", nullable=True),
        "quality_flags": {
            "type": "array",
            "description": "Avisos sobre dados corrigidos ou suspeitos na carga.",
            "items": {"type": "string"},
        },
        "cnaes_secondary_descriptions": {
            "type": "array",
            "description": "Os CNAEs secundários, na ordem da Receita, com a descrição de cada um.",
            "items": _ref("CodedValue"),
        },
        "company": _nullable_ref("CompanySummary"),
        "partners": {"type": "array", "items": _ref("Partner")},
        "simples": _nullable_ref("TaxRegime"),
        "mei": _nullable_ref("TaxRegime"),
        "snapshot": _nullable_ref("Snapshot"),
        "source": {
            "enum": ["local", "api-cnaes"],
            "description": (
                "local: base local do CNPJ; api-cnaes: obtido da api-cnaes e guardado, sem "
                "sócios nem carga."
            ),
        },
    }
