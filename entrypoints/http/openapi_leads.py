"""OpenAPI part: selections of pre-leads and the leads of the CRM."""

from __future__ import annotations

from typing import Any

from application.leads import MAX_IMPORT_ROWS
from domain.leads import MAX_TAGS, Classification, LeadOrigin
from domain.selections import DEFAULT_MAX_SELECTION_SIZE, SelectionFlag
from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    integer,
    json_content,
    obj,
    one_response,
    operation,
    page_of,
    page_response,
    path_id,
    query,
    ref,
    response_ref,
    text,
)

TAGS = [
    {
        "name": "Seleções",
        "description": (
            "Lotes de pré-leads escolhidos para qualificar. Selecionar não gasta crédito: o "
            "crédito é reservado só quando a qualificação começa, e debitado só do pré-lead "
            "qualificado. Cada pré-lead sinalizado (já é lead, descadastrado, sem contato, fora "
            "da base, em qualificação em outra seleção) continua na seleção com o sinal."
        ),
    },
    {
        "name": "Leads",
        "description": (
            "Os leads do CRM. Um lead nasce da qualificação (na etapa de tipo qualified do "
            "funil padrão) ou de uma importação manual gratuita (na primeira etapa aberta). "
            "Um CNPJ vira lead uma vez só; um lead de outro CNPJ com o mesmo telefone ou e-mail "
            "entra marcado como possível duplicado, fora das listas, até ser revisado."
        ),
    },
]

_FLAGS = ", ".join(str(flag) for flag in SelectionFlag)


def _lead_filters() -> list[dict[str, Any]]:
    uuid_schema = {"type": "string", "format": "uuid"}
    date_schema = {"type": "string", "format": "date"}
    return [
        query("stage_id", "Só leads nesta etapa.", uuid_schema),
        query("pipeline_id", "Só leads neste funil.", uuid_schema),
        query("owner_id", "Só leads deste responsável.", uuid_schema),
        query("classification", "Resultado da qualificação.", {"enum": [str(c) for c in Classification]}),
        query("origin", "Como o lead nasceu.", {"enum": [str(o) for o in LeadOrigin]}),
        query("review_status", "possible_duplicate lista os que aguardam revisão.", {"enum": ["possible_duplicate"]}),
        query("cnae", "CNAE principal (7 dígitos ou formatado).", {"type": "string"}),
        query("uf", "Sigla da UF.", {"type": "string"}),
        query("municipio_ibge", "Código IBGE do município.", {"type": "string"}),
        query("tag", "Etiqueta exata.", {"type": "string"}),
        query("created_from", "Criados a partir deste dia, no fuso horário da empresa.", date_schema),
        query("created_to", "Criados até este dia, inclusive, no fuso horário da empresa.", date_schema),
        query("q", "Texto na razão social, no nome fantasia, no CNPJ ou nas etiquetas, sem diferenciar maiúsculas nem acentos.", {"type": "string"}),
        query("include_merged", "true inclui os leads unidos a outro por duplicidade.", {"type": "boolean", "default": False}),
        query("format", "csv devolve a lista inteira em CSV (o mesmo que Accept: text/csv).", {"enum": ["json", "csv"]}),
    ]  # fmt: skip


def paths() -> dict[str, Any]:
    selection_id = path_id("selection_id", "Identificador da seleção.")
    lead_id = path_id("lead_id", "Identificador do lead.")
    base = "/v1/preleads/selections"
    return {
        base: {
            "get": operation(
                "listSelections",
                "Seleções",
                "Listar as seleções",
                "As seleções do tenant, da mais nova para a mais antiga.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de seleções.", "SelectionPage"),
            ),
            "post": operation(
                "createSelection",
                "Seleções",
                "Criar uma seleção de pré-leads",
                "Cria uma seleção a partir de uma lista de CNPJs ('cnpjs') ou dos critérios de uma "
                "busca ('search', os mesmos campos de POST /v1/preleads/search, sem página). Os "
                "resultados da busca são congelados neste momento, na ordem da busca. O limite é "
                f"o do plano (padrão {DEFAULT_MAX_SELECTION_SIZE}); uma busca maior que ele é "
                "recusada (selection_too_large) a menos que 'limit' diga quantos levar. CNPJs "
                "repetidos contam uma vez; um CNPJ inválido recusa a lista inteira "
                "(invalid_cnpjs), com as posições. Com 'source': 'api-cnaes' na busca e a api-cnaes "
                "desligada, a resposta é 409 (api_cnaes_off). Nenhum crédito é reservado nem "
                "debitado.",
                security="tenant",
                body=ref("SelectionCreate"),
                body_example={"name": "Padarias de Curitiba", "cnpjs": ["11222333000181"]},
                rules=True,
                responses={
                    **one_response(
                        "A seleção criada, com as contagens por sinal.", "Selection", "201"
                    ),
                    "409": response_ref("ApiCnaesOff"),
                },
            ),
        },
        base + "/{selection_id}": {
            "get": operation(
                "getSelection",
                "Seleções",
                "Consultar uma seleção",
                "A seleção com as contagens por sinal e por situação dos pré-leads.",
                security="tenant",
                parameters=[selection_id],
                responses=one_response("A seleção.", "Selection"),
            ),
            "patch": operation(
                "renameSelection",
                "Seleções",
                "Renomear uma seleção",
                "Troca o nome da seleção.",
                security="tenant",
                parameters=[selection_id],
                body=obj("O novo nome.", {"name": text("Nome, até 200 caracteres.")}),
                body_example={"name": "Padarias de Curitiba - março"},
                rules=True,
                responses=one_response("A seleção renomeada.", "Selection"),
            ),
            "delete": operation(
                "deleteSelection",
                "Seleções",
                "Excluir uma seleção",
                "Exclui a seleção. Os pré-leads, os leads e os créditos ficam como estão. Uma "
                "seleção com pré-leads em qualificação não pode ser excluída "
                "(selection_in_qualification).",
                security="tenant",
                parameters=[selection_id],
                responses={
                    "204": {"description": "Seleção excluída."},
                    "409": response_ref("Conflict"),
                },
            ),
        },
        base + "/{selection_id}/items": {
            "get": operation(
                "listSelectionItems",
                "Seleções",
                "Listar os pré-leads de uma seleção",
                "Os pré-leads na ordem da seleção, com a situação de cada um (selected, "
                "qualifying, qualified, not_interested, invalid, opt_out, no_answer), os sinais, "
                "o lead quando já existe e um resumo da empresa.",
                security="tenant",
                parameters=[
                    selection_id,
                    query(
                        "flag",
                        f"Só os pré-leads com este sinal: {_FLAGS}.",
                        {"enum": [str(f) for f in SelectionFlag]},
                    ),
                    *PAGE_PARAMETERS,
                ],  # fmt: skip
                responses=page_response("Uma página de pré-leads da seleção.", "SelectionItemPage"),
            )
        },
        "/v1/leads": {
            "get": operation(
                "listLeads",
                "Leads",
                "Listar os leads",
                "Os leads do tenant, do mais novo para o mais antigo, com filtros. Com "
                "format=csv (ou Accept: text/csv), a lista inteira sai em CSV para planilha em "
                "português (separador ';', UTF-8 com BOM, datas dd/mm/aaaa), uma coluna por "
                "campo personalizado.",
                security="tenant",
                parameters=[*_lead_filters(), *PAGE_PARAMETERS],
                responses={
                    "200": {
                        "description": "Uma página de leads, ou o CSV.",
                        "content": {
                            **json_content(ref("LeadPage")),
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    }
                },
                rules=True,
            )
        },
        "/v1/leads/import": {
            "post": operation(
                "importLeads",
                "Leads",
                "Importar leads manualmente",
                f"Cria até {MAX_IMPORT_ROWS} leads manuais, sem custo. Telefones e e-mails "
                "informados entram primeiro, e os da base ficam ao lado deles. Cada linha "
                "diz o resultado: created, already_lead (o CNPJ já era lead: nada muda) ou "
                "possible_duplicate (outro lead tem o mesmo telefone ou e-mail). Um CNPJ "
                "inválido recusa a importação inteira (invalid_cnpjs).",
                security="tenant",
                body=ref("LeadImport"),
                body_example={
                    "leads": [
                        {"cnpj": "11222333000181", "phones": ["(41) 98765-4321"], "tags": ["feira"]}
                    ],
                },
                rules=True,
                responses=one_response("O resultado por linha e o resumo.", "LeadImportResult"),
            )
        },
        "/v1/leads/{lead_id}": {
            "get": operation(
                "getLead",
                "Leads",
                "Consultar um lead",
                "O lead com os contatos (telefones em E.164 com tipo, e-mails com a verificação).",
                security="tenant",
                parameters=[lead_id],
                responses=one_response("O lead.", "Lead"),
            ),
            "patch": operation(
                "updateLead",
                "Leads",
                "Alterar um lead",
                "Muda o responsável, as observações, as etiquetas (até "
                f"{MAX_TAGS}) ou os campos personalizados. Em custom_fields, cada chave deve "
                "existir no esquema do tenant (GET /v1/leads/fields) e o valor seguir o tipo; "
                "null apaga o valor. Cada alteração registra um evento no histórico do lead.",
                security="tenant",
                parameters=[lead_id],
                body=ref("LeadUpdate"),
                body_example={"tags": ["prioridade"], "notes": "Ligar depois das 14h."},
                rules=True,
                responses=one_response("O lead alterado.", "Lead"),
            ),
        },
        "/v1/leads/{lead_id}/move": {
            "post": operation(
                "moveLead",
                "Leads",
                "Mover um lead de etapa",
                "Leva o lead a outra etapa (de qualquer funil do tenant) e registra o evento com "
                "quem e quando. Etapas de tipo won e lost exigem 'reason' (reason_required). "
                "Um lead que aguarda revisão de duplicidade não se move "
                "(duplicate_review_pending). Dispara o webhook lead.stage_changed.",
                security="tenant",
                parameters=[lead_id],
                body=ref("LeadMove"),
                body_example={
                    "stage_id": "0b9e8c1e-3f41-4f8e-9a7e-6c1f2a3b4c5d",
                    "reason": "Fechou contrato anual",
                },
                rules=True,
                responses=one_response("O lead na nova etapa.", "Lead"),
            )
        },
        "/v1/leads/{lead_id}/resolve-duplicate": {
            "post": operation(
                "resolveLeadDuplicate",
                "Leads",
                "Resolver um possível duplicado",
                "distinct: são empresas diferentes, e o lead passa a valer como os demais. "
                "duplicate: é a mesma empresa, e o lead é unido ao anterior (sai das listas e "
                "passa a responder 404).",
                security="tenant",
                parameters=[lead_id],
                body=obj(
                    "A decisão.",
                    {
                        "resolution": {
                            "enum": ["distinct", "duplicate"],
                            "description": "A decisão.",
                        }
                    },
                ),
                body_example={"resolution": "distinct"},
                rules=True,
                responses=one_response("O lead depois da revisão.", "Lead"),
            )
        },
    }


def schemas() -> dict[str, Any]:
    nullable_text = {"type": ["string", "null"]}
    string_list = {"type": "array", "items": {"type": "string"}}
    timestamp = {"type": "string", "format": "date-time"}
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    selection = obj(
        "Uma seleção de pré-leads.",
        {
            "id": text("Identificador.", fmt="uuid"),
            "name": text("Nome."),
            "origin": {"enum": ["cnpjs", "search"], "description": "De onde vieram os CNPJs."},
            "criteria": {
                "type": ["object", "null"],
                "description": "Os critérios da busca congelada, como foram enviados.",
            },
            "item_count": integer("Quantos pré-leads.", minimum=0),
            "flag_counts": {**counts, "description": f"Pré-leads por sinal ({_FLAGS})."},
            "status_counts": {**counts, "description": "Pré-leads por situação."},
            "created_by": {**nullable_text, "description": "Quem criou."},
            "created_at": timestamp,
            "updated_at": timestamp,
        },
    )
    company = obj(
        "Resumo da empresa, da base da Receita ou da api-cnaes.",
        {
            "legal_name": nullable_text,
            "trade_name": nullable_text,
            "cnae_primary": nullable_text,
            "uf": nullable_text,
            "municipio_ibge": nullable_text,
            "has_phone": {"type": "boolean"},
            "has_email": {"type": "boolean"},
            "source": text("registry ou api-cnaes."),
        },
    )
    item = obj(
        "Um pré-lead de uma seleção.",
        {
            "prelead_id": text("Identificador do pré-lead.", fmt="uuid"),
            "cnpj": text("CNPJ de 14 caracteres."),
            "position": integer("Posição na seleção, a partir de 1.", minimum=1),
            "status": text("Situação do pré-lead."),
            "flags": {"type": "array", "items": {"enum": [str(f) for f in SelectionFlag]}},
            "lead_id": {"type": ["string", "null"], "format": "uuid"},
            "company": {"anyOf": [company, {"type": "null"}]},
        },
    )
    contact = obj(
        "Um contato do lead.",
        {
            "kind": {"enum": ["phone", "email"]},
            "value": text("Telefone em E.164 ou e-mail."),
            "valid": {"type": "boolean"},
            "phone_type": {"type": ["string", "null"], "description": "mobile, landline ou other."},
            "whatsapp": {"enum": ["unknown", "yes", "no", None], "description": "Se um envio já provou WhatsApp; null em e-mails."},
            "problem": {**nullable_text, "description": "Por que o contato não vale."},
            "source": text("De onde veio o contato."),
        },
    )  # fmt: skip
    lead = obj(
        "Um lead do CRM.",
        {
            "id": text("Identificador.", fmt="uuid"),
            "cnpj": text("CNPJ de 14 caracteres."),
            "company_name": nullable_text,
            "trade_name": nullable_text,
            "cnae": nullable_text,
            "uf": nullable_text,
            "municipio_ibge": nullable_text,
            "origin": {"enum": [str(o) for o in LeadOrigin]},
            "prelead_id": {"type": ["string", "null"], "format": "uuid"},
            "pipeline_id": text("Funil.", fmt="uuid"),
            "stage_id": text("Etapa.", fmt="uuid"),
            "stage_entered_at": timestamp,
            "owner_id": {"type": ["string", "null"], "format": "uuid"},
            "classification": {"type": ["string", "null"]},
            "classification_rule": nullable_text,
            "notes": text("Observações."),
            "tags": string_list,
            "custom_fields": {"type": "object"},
            "close_reason": {**nullable_text, "description": "Motivo de ganho ou perda."},
            "review_status": {"type": ["string", "null"], "description": "possible_duplicate enquanto aguarda revisão."},
            "duplicate_of": {"type": ["string", "null"], "format": "uuid"},
            "merged_into": {"type": ["string", "null"], "format": "uuid", "description": "O lead ao qual este foi unido por duplicidade."},
            "contacts": {"type": "array", "items": contact},
            "created_at": timestamp,
            "updated_at": timestamp,
        },
    )  # fmt: skip
    return {
        "SelectionCreate": obj(
            "Uma lista de CNPJs ou os critérios de uma busca (um dos dois).",
            {
                "name": {**nullable_text, "description": "Nome; sem ele, a data e a hora."},
                "cnpjs": {**string_list, "description": "CNPJs, com ou sem máscara."},
                "search": {
                    "type": "object",
                    "description": "Critérios de POST /v1/preleads/search, sem page e per_page.",
                },
                "limit": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "Quantos resultados da busca levar.",
                },
            },
            required=[],
        ),  # fmt: skip
        "Selection": selection,
        "SelectionPage": page_of("Uma página de seleções.", "Selection"),
        "SelectionItem": item,
        "SelectionItemPage": page_of("Uma página de pré-leads da seleção.", "SelectionItem"),
        "Lead": lead,
        "LeadPage": page_of("Uma página de leads.", "Lead"),
        "LeadUpdate": obj(
            "Os campos a mudar; os ausentes ficam como estão.",
            {
                "owner_id": {"type": ["string", "null"], "format": "uuid"},
                "notes": nullable_text,
                "tags": string_list,
                "custom_fields": {"type": "object"},
            },
            required=[],
        ),
        "LeadMove": obj(
            "A etapa de destino.",
            {"stage_id": text("Etapa.", fmt="uuid"), "reason": nullable_text},
            required=["stage_id"],
        ),
        "LeadImport": obj(
            "Linhas a importar.",
            {
                "leads": {
                    "type": "array",
                    "maxItems": MAX_IMPORT_ROWS,
                    "items": obj(
                        "Uma linha.",
                        {
                            "cnpj": text("CNPJ."),
                            "company_name": nullable_text,
                            "phones": string_list,
                            "emails": string_list,
                            "tags": string_list,
                        },
                        required=["cnpj"],
                    ),
                },
                "owner_id": {"type": ["string", "null"], "format": "uuid"},
                "tags": string_list,
            },
            required=["leads"],
        ),
        "LeadImportResult": obj(
            "O resultado da importação.",
            {
                "summary": counts,
                "rows": {
                    "type": "array",
                    "items": obj(
                        "O resultado de uma linha.",
                        {
                            "position": integer("Linha, a partir de 1.", minimum=1),
                            "cnpj": text("CNPJ."),
                            "result": {"enum": ["created", "already_lead", "possible_duplicate"]},
                            "lead_id": text("O lead criado ou o que já existia.", fmt="uuid"),
                            "duplicate_of": {"type": ["string", "null"], "format": "uuid"},
                            "invalid_contacts": integer(
                                "Contatos guardados que não passaram na verificação (inválidos ou de domínio descartável); veja-os em GET /v1/leads/{id}.",
                                minimum=0,
                            ),
                        },
                    ),
                },
            },
        ),
    }
