"""OpenAPI part: pipelines and stages, custom fields of leads, and each lead's timeline."""

from __future__ import annotations

from typing import Any

from domain.leads import MAX_CHOICES, MAX_CUSTOM_FIELDS, FieldType, LeadEventKind, StageKind
from domain.pipelines import (
    MAX_PIPELINE_NAME_LENGTH,
    MAX_PIPELINES,
    MAX_STAGE_NAME_LENGTH,
    MAX_STAGES,
    STAGE_REMOVED_REASON,
)
from domain.timeline import (
    MAX_INTERACTION_CONTENT_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_TASK_TITLE_LENGTH,
    Channel,
    Direction,
    TimelineType,
)
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
    response_ref,
    text,
)

TAGS = [
    {
        "name": "Funis",
        "description": (
            "Os funis de vendas do tenant e as etapas de cada um. Todo tenant começa com o "
            "funil padrão 'Funil de vendas' (Novo, Em contato, Qualificado, Proposta, Ganho, "
            "Perdido). Cada funil tem ao menos uma etapa open, exatamente uma qualified (onde a "
            "qualificação coloca os leads), ao menos uma won e uma lost, com nomes diferentes "
            "entre si (sem distinguir maiúsculas). As posições das etapas vão de 0 a n-1, sem "
            "buracos. Ler exige leads:read; alterar exige crm:manage."
        ),
    },
    {
        "name": "Campos personalizados",
        "description": (
            "Os campos personalizados dos leads do tenant: chave, rótulo e tipo (text, number, "
            "date, boolean ou choice). Os valores ficam em custom_fields de cada lead."
        ),
    },
    {
        "name": "Linha do tempo",
        "description": (
            "A linha do tempo de um lead junta eventos (mudanças de etapa, edições), interações "
            "(ligações, reuniões, mensagens), notas e tarefas, da mais nova para a mais antiga. "
            "Um lead de outro tenant, inexistente ou mesclado a outro responde 404."
        ),
    },
]

_STAGE_KINDS = [kind.value for kind in StageKind]
_TIMESTAMP_EXAMPLE = "2026-12-10T14:30:00-03:00"


def _field_key_parameter() -> dict[str, Any]:
    return {
        "name": "key",
        "in": "path",
        "required": True,
        "description": "Chave do campo personalizado.",
        "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
    }


def paths() -> dict[str, Any]:
    return {**_pipeline_paths(), **_field_paths(), **_timeline_paths()}


def _pipeline_paths() -> dict[str, Any]:
    pipeline_id = path_id("pipeline_id", "Identificador do funil.")
    stage_id = path_id("stage_id", "Identificador da etapa.")
    base = "/v1/pipelines"
    return {
        base: {
            "get": operation(
                "listPipelines",
                "Funis",
                "Listar os funis",
                "Os funis do tenant, o padrão primeiro e os outros por nome, cada um com as "
                "etapas em ordem e quantos leads há em cada etapa (leads mesclados não contam).",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de funis.", "PipelinePage"),
            ),
            "post": operation(
                "createPipeline",
                "Funis",
                "Criar um funil",
                "Cria um funil com as etapas na ordem informada. As regras das etapas estão na "
                f"descrição do grupo Funis; cada tenant tem até {MAX_PIPELINES} funis e cada "
                f"funil até {MAX_STAGES} etapas. Um nome já usado por outro funil responde 409 "
                "(pipeline_name_taken). O funil novo não é o padrão; use PATCH para torná-lo.",
                security="tenant",
                body=ref("PipelineCreate"),
                body_example={
                    "name": "Funil de parcerias",
                    "stages": [
                        {"name": "Prospecção", "kind": "open"},
                        {"name": "Qualificado", "kind": "qualified"},
                        {"name": "Negociação", "kind": "open"},
                        {"name": "Fechado", "kind": "won"},
                        {"name": "Descartado", "kind": "lost"},
                    ],
                },
                responses={
                    **one_response("O funil criado.", "Pipeline", "201"),
                    "409": response_ref("Conflict"),
                },
                rules=True,
            ),
        },
        base + "/{pipeline_id}": {
            "get": operation(
                "getPipeline",
                "Funis",
                "Consultar um funil",
                "O funil, com as etapas em ordem e quantos leads há em cada uma.",
                security="tenant",
                parameters=[pipeline_id],
                responses=one_response("O funil.", "Pipeline"),
            ),
            "patch": operation(
                "updatePipeline",
                "Funis",
                "Renomear um funil ou torná-lo o padrão",
                "Muda o nome e/ou marca o funil como padrão (is_default: true); o padrão anterior "
                "deixa de ser. is_default: false no funil padrão responde 422 "
                "(default_pipeline_required), porque o tenant sempre tem um funil padrão.",
                security="tenant",
                parameters=[pipeline_id],
                body=ref("PipelineUpdate"),
                body_example={"name": "Funil de parcerias 2027", "is_default": True},
                responses={
                    **one_response("O funil alterado.", "Pipeline"),
                    "409": response_ref("Conflict"),
                },
                rules=True,
            ),
            "delete": operation(
                "removePipeline",
                "Funis",
                "Remover um funil",
                "Remove o funil e as etapas dele. O funil padrão responde 409 "
                "(pipeline_is_default), e um funil que ainda tem leads, mesclados inclusive, "
                "responde 409 (pipeline_has_leads).",
                security="tenant",
                parameters=[pipeline_id],
                responses={
                    **one_response("O funil removido, como estava.", "Pipeline"),
                    "409": response_ref("Conflict"),
                },
            ),
        },
        base + "/{pipeline_id}/stages": {
            "post": operation(
                "addPipelineStage",
                "Funis",
                "Adicionar uma etapa",
                "Insere uma etapa na posição informada (de 0 ao número de etapas; sem position, "
                "no fim) e desloca as seguintes. O funil precisa continuar dentro das regras.",
                security="tenant",
                parameters=[pipeline_id],
                body=ref("PipelineStageCreate"),
                body_example={"name": "Reunião marcada", "kind": "open", "position": 2},
                responses=one_response("O funil com a etapa nova.", "Pipeline", "201"),
                rules=True,
            )
        },
        base + "/{pipeline_id}/stages/{stage_id}": {
            "patch": operation(
                "updatePipelineStage",
                "Funis",
                "Alterar uma etapa",
                "Renomeia, muda de posição (as outras se reorganizam, sem buracos) ou troca o "
                "tipo da etapa, desde que o funil continue dentro das regras. Uma etapa com leads "
                "não passa de ou para won/lost (422 stage_has_leads): mova os leads antes.",
                security="tenant",
                parameters=[pipeline_id, stage_id],
                body=ref("PipelineStageUpdate"),
                body_example={"name": "Proposta enviada", "position": 3},
                responses=one_response("O funil com a etapa alterada.", "Pipeline"),
                rules=True,
            ),
            "delete": operation(
                "removePipelineStage",
                "Funis",
                "Remover uma etapa",
                "Remove a etapa, se o funil continuar dentro das regras. Se ela tem leads, "
                "informe move_to: os leads vão para essa etapa do mesmo funil, e cada um ganha "
                f"um evento stage_changed com o motivo '{STAGE_REMOVED_REASON}'. Remover uma "
                "etapa nunca encerra nem reabre leads: os de uma etapa won ou lost vão para outra "
                "do mesmo tipo, os das outras para uma etapa open ou qualified.",
                security="tenant",
                parameters=[
                    pipeline_id,
                    stage_id,
                    query(
                        "move_to",
                        "Etapa do mesmo funil que recebe os leads da etapa removida.",
                        {"type": "string", "format": "uuid"},
                    ),
                ],
                responses=one_response("O funil sem a etapa.", "Pipeline"),
                rules=True,
            ),
        },
    }


def _field_paths() -> dict[str, Any]:
    key = _field_key_parameter()
    base = "/v1/leads/fields"
    return {
        base: {
            "get": operation(
                "listCustomFields",
                "Campos personalizados",
                "Listar os campos personalizados",
                "Os campos personalizados dos leads, na ordem de position.",
                security="tenant",
                parameters=PAGE_PARAMETERS,
                responses=page_response("Uma página de campos.", "CustomFieldPage"),
            ),
            "post": operation(
                "createCustomField",
                "Campos personalizados",
                "Criar um campo personalizado",
                "Define um campo novo. A chave usa letras minúsculas sem acento, dígitos e '_', "
                "começa por letra e tem até 40 caracteres; ela não muda depois. Um campo choice "
                f"precisa de 1 a {MAX_CHOICES} opções. Cada tenant tem até {MAX_CUSTOM_FIELDS} "
                "campos. Sem position, o campo vai para o fim. Uma chave já usada responde 409 "
                "(field_key_taken).",
                security="tenant",
                body=ref("CustomFieldCreate"),
                body_example={
                    "key": "numero_funcionarios",
                    "label": "Número de funcionários",
                    "type": "number",
                },
                responses={
                    **one_response("O campo criado.", "CustomField", "201"),
                    "409": response_ref("Conflict"),
                },
                rules=True,
            ),
        },
        base + "/{key}": {
            "patch": operation(
                "updateCustomField",
                "Campos personalizados",
                "Alterar um campo personalizado",
                "Muda o rótulo, as opções, a obrigatoriedade ou a posição. O tipo não muda (422 "
                "field_type_immutable): crie outro campo. Valores já gravados nos leads ficam "
                "como estão, mesmo fora das novas opções; a obrigatoriedade vale na próxima "
                "alteração de cada lead.",
                security="tenant",
                parameters=[key],
                body=ref("CustomFieldUpdate"),
                body_example={"label": "Funcionários (aprox.)", "required": True},
                responses=one_response("O campo alterado.", "CustomField"),
                rules=True,
            ),
            "delete": operation(
                "removeCustomField",
                "Campos personalizados",
                "Remover um campo personalizado",
                "Remove a definição do campo. Os valores gravados nos leads com essa chave são "
                "mantidos em custom_fields; nenhum dado é apagado.",
                security="tenant",
                parameters=[key],
                responses=one_response("A definição removida, como estava.", "CustomField"),
            ),
        },
    }


def _timeline_paths() -> dict[str, Any]:
    lead_id = path_id("lead_id", "Identificador do lead.")
    base = "/v1/leads/{lead_id}"
    types = ", ".join(kind.value for kind in TimelineType)
    return {
        base + "/timeline": {
            "get": operation(
                "getLeadTimeline",
                "Linha do tempo",
                "Consultar a linha do tempo de um lead",
                "Eventos, interações, notas e tarefas do lead numa lista só, da mais nova para a "
                "mais antiga por occurred_at: a data do evento ou da interação, a criação da nota "
                "ou da tarefa. O conteúdo das interações vem decifrado.",
                security="tenant",
                parameters=[
                    lead_id,
                    query(
                        "types",
                        f"Tipos a incluir, separados por vírgula ({types}); sem ele, todos.",
                        {"type": "string", "example": "note,task"},
                    ),
                    *PAGE_PARAMETERS,
                ],
                responses=page_response("Uma página da linha do tempo.", "TimelinePage"),
            )
        },
        base + "/notes": {
            "post": operation(
                "createLeadNote",
                "Linha do tempo",
                "Adicionar uma nota",
                f"Uma nota de texto livre (até {MAX_NOTE_LENGTH} caracteres) na linha do tempo do "
                "lead, com o autor.",
                security="tenant",
                parameters=[lead_id],
                body=ref("LeadNoteCreate"),
                body_example={"body": "Cliente pediu retorno depois do feriado."},
                responses=one_response("A nota criada.", "LeadNote", "201"),
                rules=True,
            )
        },
        base + "/notes/{note_id}": {
            "delete": operation(
                "removeLeadNote",
                "Linha do tempo",
                "Remover uma nota",
                "Remove a nota. Só o autor ou quem tem crm:manage (administradores) pode; os "
                "outros recebem 403 (note_author_required).",
                security="tenant",
                parameters=[lead_id, path_id("note_id", "Identificador da nota.")],
                responses=one_response("A nota removida, como estava.", "LeadNote"),
            )
        },
        base + "/tasks": {
            "post": operation(
                "createLeadTask",
                "Linha do tempo",
                "Criar uma tarefa",
                "Uma tarefa do lead, com prazo opcional (ISO 8601 com fuso) e responsável "
                "opcional, que deve ser um usuário convidado ou ativo do tenant (422 "
                "invalid_assignee).",
                security="tenant",
                parameters=[lead_id],
                body=ref("LeadTaskCreate"),
                body_example={"title": "Ligar para o financeiro", "due_at": _TIMESTAMP_EXAMPLE},
                responses=one_response("A tarefa criada.", "LeadTask", "201"),
                rules=True,
            )
        },
        base + "/tasks/{task_id}": {
            "patch": operation(
                "updateLeadTask",
                "Linha do tempo",
                "Alterar uma tarefa",
                "Muda título, prazo, responsável ou conclusão (done: true conclui, false reabre). "
                "null em due_at ou assignee_id remove o valor; um campo ausente fica como está.",
                security="tenant",
                parameters=[lead_id, path_id("task_id", "Identificador da tarefa.")],
                body=ref("LeadTaskUpdate"),
                body_example={"done": True},
                responses=one_response("A tarefa alterada.", "LeadTask"),
                rules=True,
            )
        },
        base + "/interactions": {
            "post": operation(
                "logLeadInteraction",
                "Linha do tempo",
                "Registrar uma interação",
                "Registra uma ligação, reunião ou mensagem feita fora do Garimpo, com situação "
                "logged. O conteúdo é guardado cifrado. occurred_at (ISO 8601 com fuso) não pode "
                "estar no futuro; sem ele, vale o momento do registro.",
                security="tenant",
                parameters=[lead_id],
                body=ref("LeadInteractionCreate"),
                body_example={
                    "channel": "phone",
                    "direction": "outbound",
                    "content": "Falei com a compradora; pediu proposta por e-mail.",
                    "occurred_at": "2026-12-01T10:15:00-03:00",
                },
                responses=one_response("A interação registrada.", "LeadInteraction", "201"),
                rules=True,
            )
        },
        "/v1/tasks": {
            "get": operation(
                "listOpenTasks",
                "Linha do tempo",
                "Listar as tarefas abertas",
                "As tarefas não concluídas dos leads do tenant (leads mesclados ficam de fora), "
                "da que vence primeiro para a última; tarefas sem prazo vêm no fim.",
                security="tenant",
                parameters=[
                    query(
                        "assignee_id",
                        "Só as tarefas deste responsável.",
                        {"type": "string", "format": "uuid"},
                    ),
                    query(
                        "due_before",
                        "Só as tarefas com prazo antes deste momento (ISO 8601 com fuso).",
                        {"type": "string", "format": "date-time"},
                    ),
                    query(
                        "overdue",
                        "true: só as tarefas com prazo já vencido.",
                        {"type": "boolean"},
                    ),
                    *PAGE_PARAMETERS,
                ],
                responses=page_response("Uma página de tarefas.", "LeadTaskPage"),
            )
        },
    }


def schemas() -> dict[str, Any]:
    return {**_pipeline_schemas(), **_field_schemas(), **_timeline_schemas()}


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "additionalProperties": False}


def _pipeline_schemas() -> dict[str, Any]:
    kind = {
        "enum": _STAGE_KINDS,
        "description": (
            "open: em andamento; qualified: onde a qualificação coloca os leads; won: ganho; "
            "lost: perdido."
        ),
    }
    pipeline_name = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PIPELINE_NAME_LENGTH,
        "description": "Nome do funil, único no tenant.",
    }
    stage_name = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_STAGE_NAME_LENGTH,
        "description": "Nome da etapa, único no funil.",
    }
    position = {"type": "integer", "minimum": 0, "description": "Posição, a partir de 0."}
    return {
        "PipelineStage": obj(
            "Uma etapa do funil.",
            {
                "id": text("Identificador da etapa.", fmt="uuid"),
                "name": text("Nome da etapa."),
                "position": integer("Posição no funil, de 0 a n-1.", minimum=0),
                "kind": kind,
                "lead_count": integer("Leads na etapa, sem os mesclados.", minimum=0),
            },
        ),
        "Pipeline": obj(
            "Um funil de vendas.",
            {
                "id": text("Identificador do funil.", fmt="uuid"),
                "name": text("Nome do funil."),
                "is_default": {"type": "boolean", "description": "Se é o funil padrão."},
                "lead_count": integer("Leads no funil, sem os mesclados.", minimum=0),
                "stages": {
                    "type": "array",
                    "items": ref("PipelineStage"),
                    "description": "As etapas, em ordem de posição.",
                },
            },
        ),
        "PipelinePage": page_of("Uma página de funis.", "Pipeline"),
        "PipelineCreate": _closed(
            obj(
                "Um funil novo.",
                {
                    "name": pipeline_name,
                    "stages": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_STAGES,
                        "description": "As etapas, na ordem do funil.",
                        "items": _closed(obj("Uma etapa.", {"name": stage_name, "kind": kind})),
                    },
                },
            )
        ),
        "PipelineUpdate": _closed(
            obj(
                "O que muda no funil; informe ao menos um campo.",
                {
                    "name": pipeline_name,
                    "is_default": {
                        "type": "boolean",
                        "description": "true torna este funil o padrão.",
                    },
                },
                required=[],
            )
        ),
        "PipelineStageCreate": _closed(
            obj(
                "Uma etapa nova.",
                {"name": stage_name, "kind": kind, "position": position},
                required=["name", "kind"],
            )
        ),
        "PipelineStageUpdate": _closed(
            obj(
                "O que muda na etapa; informe ao menos um campo.",
                {"name": stage_name, "kind": kind, "position": position},
                required=[],
            )
        ),
    }


def _field_schemas() -> dict[str, Any]:
    field_type = {
        "enum": [kind.value for kind in FieldType],
        "description": "text, number, date (AAAA-MM-DD), boolean ou choice (uma das opções).",
    }
    label = {"type": "string", "minLength": 1, "maxLength": 80, "description": "Rótulo."}
    choices = {
        "type": "array",
        "items": {"type": "string"},
        "maxItems": MAX_CHOICES,
        "description": "Opções de um campo choice; outros tipos não aceitam opções.",
    }
    required = {"type": "boolean", "description": "Se todo lead precisa de um valor."}
    position = {"type": "integer", "minimum": 0, "description": "Posição, a partir de 0."}
    return {
        "CustomField": obj(
            "Um campo personalizado dos leads.",
            {
                "key": text("Chave do campo em custom_fields."),
                "label": text("Rótulo mostrado às pessoas."),
                "type": field_type,
                "choices": {**choices, "description": "Opções, se o campo é choice."},
                "required": required,
                "position": integer("Posição, de 0 a n-1.", minimum=0),
            },
        ),
        "CustomFieldPage": page_of("Uma página de campos personalizados.", "CustomField"),
        "CustomFieldCreate": _closed(
            obj(
                "Um campo novo.",
                {
                    "key": {
                        "type": "string",
                        "pattern": "^[a-z][a-z0-9_]{0,39}$",
                        "description": "Chave do campo; não muda depois.",
                    },
                    "label": label,
                    "type": field_type,
                    "choices": choices,
                    "required": required,
                    "position": position,
                },
                required=["key", "label", "type"],
            )
        ),
        "CustomFieldUpdate": _closed(
            obj(
                "O que muda no campo; informe ao menos um campo.",
                {
                    "label": label,
                    "type": {
                        **field_type,
                        "description": "Aceito só se igual ao tipo atual; o tipo não muda.",
                    },
                    "choices": choices,
                    "required": required,
                    "position": position,
                },
                required=[],
            )
        ),
    }


def _timeline_schemas() -> dict[str, Any]:
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    note = {
        "id": text("Identificador da nota.", fmt="uuid"),
        "lead_id": text("O lead.", fmt="uuid"),
        "body": text("Texto da nota."),
        "author_id": text("Usuário ou chave que escreveu a nota.", nullable=True),
        "author_label": text("E-mail do usuário ou nome da chave.", nullable=True),
        "created_at": text("Quando a nota foi criada.", fmt="date-time"),
    }
    task = {
        "id": text("Identificador da tarefa.", fmt="uuid"),
        "lead_id": text("O lead.", fmt="uuid"),
        "title": text("Título."),
        "due_at": {**timestamp, "description": "Prazo."},
        "assignee_id": text("Usuário responsável.", nullable=True),
        "done": {"type": "boolean", "description": "Se está concluída."},
        "done_at": {**timestamp, "description": "Quando foi concluída."},
        "done_by_label": text("Quem concluiu.", nullable=True),
        "created_by": text("Usuário ou chave que criou a tarefa.", nullable=True),
        "created_by_label": text("E-mail do usuário ou nome da chave.", nullable=True),
        "created_at": text("Quando a tarefa foi criada.", fmt="date-time"),
    }
    interaction = {
        "id": text("Identificador da interação.", fmt="uuid"),
        "lead_id": text("O lead.", fmt="uuid"),
        "channel": {"enum": [channel.value for channel in Channel], "description": "Canal."},
        "direction": {
            "enum": [direction.value for direction in Direction],
            "description": "outbound: feita pela empresa; inbound: feita pelo lead.",
        },
        "content": text("Conteúdo ou resumo, decifrado.", nullable=True),
        "status": text(
            "logged para interações registradas por usuários; as situações do "
            "provedor para envios automáticos."
        ),
        "provider": text("Provedor do envio automático; null se registrada à mão.", nullable=True),
        "occurred_at": text("Quando aconteceu.", fmt="date-time"),
        "created_by": text("Usuário ou chave que registrou.", nullable=True),
        "created_by_label": text("E-mail do usuário ou nome da chave.", nullable=True),
        "created_at": text("Quando foi registrada.", fmt="date-time"),
    }
    event = {
        "id": text("Identificador do evento.", fmt="uuid"),
        "kind": {
            "type": "string",
            "examples": [kind.value for kind in LeadEventKind],
            "description": "O que aconteceu com o lead. Novos tipos podem surgir: trate um tipo "
            "desconhecido como informativo.",
        },
        "from_stage_id": text("Etapa de origem, numa mudança de etapa.", nullable=True),
        "to_stage_id": text("Etapa de destino, numa mudança de etapa.", nullable=True),
        "reason": text("Motivo informado.", nullable=True),
        "data": {"type": "object", "description": "Detalhes do evento."},
        "actor_type": text("Quem causou: account, api_key ou system."),
        "actor_label": text("E-mail do usuário ou nome da chave.", nullable=True),
    }

    def item(kind: TimelineType, description: str, fields: dict[str, Any]) -> dict[str, Any]:
        return obj(
            description,
            {
                "type": {"const": kind.value, "description": "Tipo do item."},
                "occurred_at": text("Momento que ordena o item.", fmt="date-time"),
                **{name: schema for name, schema in fields.items() if name != "occurred_at"},
            },
        )

    return {
        "LeadNote": obj("Uma nota do lead.", note),
        "LeadTask": obj("Uma tarefa do lead.", task),
        "LeadTaskPage": page_of("Uma página de tarefas.", "LeadTask"),
        "LeadInteraction": obj("Uma interação com o lead.", interaction),
        "TimelineItem": {
            "description": "Um item da linha do tempo; type diz quais campos ele traz.",
            "oneOf": [
                item(TimelineType.EVENT, "Um evento do lead.", event),
                item(TimelineType.INTERACTION, "Uma interação.", interaction),
                item(TimelineType.NOTE, "Uma nota.", note),
                item(TimelineType.TASK, "Uma tarefa.", task),
            ],
        },
        "TimelinePage": page_of("Uma página da linha do tempo.", "TimelineItem"),
        "LeadNoteCreate": _closed(
            obj(
                "Uma nota nova.",
                {
                    "body": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_NOTE_LENGTH,
                        "description": "Texto da nota.",
                    }
                },
            )
        ),
        "LeadTaskCreate": _closed(
            obj(
                "Uma tarefa nova.",
                {
                    "title": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_TASK_TITLE_LENGTH,
                        "description": "Título.",
                    },
                    "due_at": {**timestamp, "description": "Prazo, ISO 8601 com fuso."},
                    "assignee_id": {
                        "type": ["string", "null"],
                        "format": "uuid",
                        "description": "Usuário responsável, do tenant.",
                    },
                },
                required=["title"],
            )
        ),
        "LeadTaskUpdate": _closed(
            obj(
                "O que muda na tarefa; informe ao menos um campo.",
                {
                    "title": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_TASK_TITLE_LENGTH,
                        "description": "Título.",
                    },
                    "due_at": {**timestamp, "description": "Prazo; null remove."},
                    "assignee_id": {
                        "type": ["string", "null"],
                        "format": "uuid",
                        "description": "Responsável; null remove.",
                    },
                    "done": {"type": "boolean", "description": "true conclui; false reabre."},
                },
                required=[],
            )
        ),
        "LeadInteractionCreate": _closed(
            obj(
                "Uma interação registrada por um usuário.",
                {
                    "channel": interaction["channel"],
                    "direction": interaction["direction"],
                    "content": {
                        "type": ["string", "null"],
                        "maxLength": MAX_INTERACTION_CONTENT_LENGTH,
                        "description": "O que foi dito ou combinado; guardado cifrado.",
                    },
                    "occurred_at": {
                        **timestamp,
                        "description": "Quando aconteceu, ISO 8601 com fuso; sem ele, agora.",
                    },
                },
                required=["channel", "direction"],
            )
        ),
    }
