"""CRM routes: pipelines and stages, custom fields of leads, and each lead's timeline.

Bodies are checked here for shape and JSON types (400 ``invalid_field``); the
use cases check the business rules (422), existence (404) and clashes (409).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp import web

from application.lead_fields import FieldChanges
from application.pipelines import PipelineView, StageInput
from application.timeline import TaskChanges, TaskFilter
from domain.identity import Permission
from domain.leads import LeadEvent, LeadField
from domain.timeline import Interaction, Note, Task, TimelineEntry, TimelineType
from entrypoints.http.auth import actor_of, principal_of, tenant_of
from entrypoints.http.context import (
    invalid_field,
    json_ok,
    json_page,
    optional_int,
    optional_string_list,
    page_from_query,
    parse_aware_datetime,
    path_uuid,
    query_uuid,
    read_json_object,
    reject_unknown_keys,
    use_case,
)

_PIPELINE_CREATE_FIELDS = frozenset({"name", "stages"})
_PIPELINE_UPDATE_FIELDS = frozenset({"name", "is_default"})
_STAGE_FIELDS = frozenset({"name", "kind", "position"})
_FIELD_CREATE_FIELDS = frozenset({"key", "label", "type", "choices", "required", "position"})
_FIELD_UPDATE_FIELDS = frozenset({"label", "type", "choices", "required", "position"})
_NOTE_FIELDS = frozenset({"body"})
_TASK_CREATE_FIELDS = frozenset({"title", "due_at", "assignee_id"})
_TASK_UPDATE_FIELDS = frozenset({"title", "due_at", "assignee_id", "done"})
_INTERACTION_FIELDS = frozenset({"channel", "direction", "content", "occurred_at"})

#: Maximum length of any string field, checked before the domain's own limits
#: so that a faulty client cannot send megabytes in one name.
_MAX_TEXT = 20000


def register_routes(app: web.Application) -> None:
    pipelines = "/v1/pipelines"
    pipeline = pipelines + "/{pipeline_id}"
    app.router.add_get(pipelines, handle_list_pipelines, allow_head=False)
    app.router.add_post(pipelines, handle_create_pipeline)
    app.router.add_get(pipeline, handle_get_pipeline, allow_head=False)
    app.router.add_patch(pipeline, handle_update_pipeline)
    app.router.add_delete(pipeline, handle_remove_pipeline)
    app.router.add_post(pipeline + "/stages", handle_add_stage)
    app.router.add_patch(pipeline + "/stages/{stage_id}", handle_update_stage)
    app.router.add_delete(pipeline + "/stages/{stage_id}", handle_remove_stage)

    fields = "/v1/leads/fields"
    app.router.add_get(fields, handle_list_fields, allow_head=False)
    app.router.add_post(fields, handle_create_field)
    app.router.add_patch(fields + "/{key}", handle_update_field)
    app.router.add_delete(fields + "/{key}", handle_remove_field)

    lead = "/v1/leads/{lead_id}"
    app.router.add_get(lead + "/timeline", handle_timeline, allow_head=False)
    app.router.add_post(lead + "/notes", handle_add_note)
    app.router.add_delete(lead + "/notes/{note_id}", handle_remove_note)
    app.router.add_post(lead + "/tasks", handle_add_task)
    app.router.add_patch(lead + "/tasks/{task_id}", handle_update_task)
    app.router.add_post(lead + "/interactions", handle_log_interaction)
    app.router.add_get("/v1/tasks", handle_open_tasks, allow_head=False)


# --- rendering ---------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def pipeline_json(view: PipelineView) -> dict[str, Any]:
    stages = [
        {
            "id": stage.id,
            "name": stage.name,
            "position": stage.position,
            "kind": stage.kind.value,
            "lead_count": view.lead_counts.get(stage.id, 0),
        }
        for stage in view.pipeline.stages
    ]
    return {
        "id": view.pipeline.id,
        "name": view.pipeline.name,
        "is_default": view.pipeline.is_default,
        "lead_count": sum(stage["lead_count"] for stage in stages),
        "stages": stages,
    }


def field_json(field: LeadField) -> dict[str, Any]:
    return {
        "key": field.key,
        "label": field.label,
        "type": field.type.value,
        "choices": list(field.choices),
        "required": field.required,
        "position": field.position,
    }


def note_json(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "lead_id": note.lead_id,
        "body": note.body,
        "author_id": note.author_id,
        "author_label": note.author_label,
        "created_at": _time(note.created_at),
    }


def task_json(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "lead_id": task.lead_id,
        "title": task.title,
        "due_at": _time(task.due_at),
        "assignee_id": task.assignee_id,
        "done": task.done,
        "done_at": _time(task.done_at),
        "done_by_label": task.done_by_label,
        "created_by": task.created_by,
        "created_by_label": task.created_by_label,
        "created_at": _time(task.created_at),
    }


def interaction_json(interaction: Interaction) -> dict[str, Any]:
    return {
        "id": interaction.id,
        "lead_id": interaction.lead_id,
        "channel": interaction.channel,
        "direction": interaction.direction,
        "content": interaction.content,
        "status": interaction.status,
        "provider": interaction.provider,
        "occurred_at": _time(interaction.occurred_at),
        "created_by": interaction.created_by,
        "created_by_label": interaction.created_by_label,
        "created_at": _time(interaction.created_at),
    }


def event_json(event: LeadEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": str(event.kind),
        "from_stage_id": event.from_stage_id,
        "to_stage_id": event.to_stage_id,
        "reason": event.reason,
        "data": dict(event.data),
        "actor_type": event.actor_type,
        "actor_label": event.actor_label,
    }


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    """Render a timeline item: its type and time, then the fields of the item itself."""
    item = entry.item
    if isinstance(item, Note):
        fields = note_json(item)
    elif isinstance(item, Task):
        fields = task_json(item)
    elif isinstance(item, Interaction):
        fields = interaction_json(item)
    else:
        fields = event_json(item)
    return {"type": entry.type.value, **fields, "occurred_at": _time(entry.occurred_at)}


# --- body and query parsing --------------------------------------------------


def _string(body: dict[str, Any], field: str, *, required: bool) -> str | None:
    """Read a string field; return None when it is absent (or null) and not required."""
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise invalid_field(field, f"O campo '{field}' é obrigatório e deve ser um texto.")
    if len(value) > _MAX_TEXT:
        raise invalid_field(field, f"O campo '{field}' pode ter no máximo {_MAX_TEXT} caracteres.")
    return value


def _required_string(body: dict[str, Any], field: str) -> str:
    value = _string(body, field, required=True)
    assert value is not None
    return value


def _optional_string(body: dict[str, Any], field: str) -> str | None:
    if field in body and body[field] is None:
        raise invalid_field(field, f"O campo '{field}' deve ser um texto, não null.")
    return _string(body, field, required=False)


def _optional_bool(body: dict[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise invalid_field(field, f"O campo '{field}' deve ser true ou false.")


def parse_timestamp(value: Any, field: str) -> dt.datetime:
    return parse_aware_datetime(value, field, example="2026-12-05T14:30:00-03:00")


def _optional_timestamp(body: dict[str, Any], field: str) -> dt.datetime | None:
    value = body.get(field)
    return None if value is None else parse_timestamp(value, field)


def _optional_uuid(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise invalid_field(field, f"O campo '{field}' deve ser um identificador UUID.")


def _not_empty(body: dict[str, Any], known: frozenset[str]) -> None:
    if not body:
        raise invalid_field(
            sorted(known)[0],
            f"Informe ao menos um campo para alterar: {', '.join(sorted(known))}.",
        )


def _stages(body: dict[str, Any]) -> list[StageInput]:
    value = body.get("stages")
    if not isinstance(value, list) or not value:
        raise invalid_field("stages", "O campo 'stages' deve ser uma lista de etapas.")
    stages = []
    for index, item in enumerate(value):
        where = f"stages[{index}]"
        if not isinstance(item, dict):
            raise invalid_field(where, f"{where} deve ser um objeto com name e kind.")
        unknown = sorted(set(item) - {"name", "kind"})
        if unknown:
            raise invalid_field(
                f"{where}.{unknown[0]}", f"Campo desconhecido em {where}: '{unknown[0]}'."
            )
        name, kind = item.get("name"), item.get("kind")
        if not isinstance(name, str) or len(name) > _MAX_TEXT:
            raise invalid_field(f"{where}.name", f"{where}.name deve ser um texto.")
        if not isinstance(kind, str):
            raise invalid_field(f"{where}.kind", f"{where}.kind deve ser um texto.")
        stages.append(StageInput(name=name, kind=kind))
    return stages


def _timeline_types(request: web.Request) -> frozenset[TimelineType]:
    raw = request.query.get("types")
    if raw is None or not raw.strip():
        return frozenset(TimelineType)
    types = set()
    for part in raw.split(","):
        try:
            types.add(TimelineType(part.strip()))
        except ValueError:
            accepted = ", ".join(kind.value for kind in TimelineType)
            raise invalid_field(
                "types", f"Tipo desconhecido em 'types': '{part.strip()}'. Use {accepted}."
            ) from None
    return frozenset(types)


def _field_key(request: web.Request) -> str:
    return request.match_info["key"]


# --- pipelines -----------------------------------------------------------------


async def handle_list_pipelines(request: web.Request) -> web.Response:
    pipelines = await use_case(request, "crm_pipelines")
    page = await pipelines.list(tenant_of(request), page_from_query(request))
    return json_page(page, pipeline_json)


async def handle_create_pipeline(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _PIPELINE_CREATE_FIELDS)
    name = _required_string(body, "name")
    stages = _stages(body)

    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.create(actor_of(request), tenant_of(request), name=name, stages=stages)
    return json_ok(pipeline_json(view), status=201)


async def handle_get_pipeline(request: web.Request) -> web.Response:
    pipeline_id = path_uuid(request, "pipeline_id", what="Funil")
    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.get(tenant_of(request), pipeline_id)
    return json_ok(pipeline_json(view))


async def handle_update_pipeline(request: web.Request) -> web.Response:
    pipeline_id = path_uuid(request, "pipeline_id", what="Funil")
    body = await read_json_object(request)
    reject_unknown_keys(body, _PIPELINE_UPDATE_FIELDS)
    _not_empty(body, _PIPELINE_UPDATE_FIELDS)
    name = _optional_string(body, "name")
    is_default = _optional_bool(body, "is_default")

    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.update(
        actor_of(request), tenant_of(request), pipeline_id, name=name, is_default=is_default
    )
    return json_ok(pipeline_json(view))


async def handle_remove_pipeline(request: web.Request) -> web.Response:
    pipeline_id = path_uuid(request, "pipeline_id", what="Funil")
    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.remove(actor_of(request), tenant_of(request), pipeline_id)
    return json_ok(pipeline_json(view))


async def handle_add_stage(request: web.Request) -> web.Response:
    pipeline_id = path_uuid(request, "pipeline_id", what="Funil")
    body = await read_json_object(request)
    reject_unknown_keys(body, _STAGE_FIELDS)
    name = _required_string(body, "name")
    kind = _required_string(body, "kind")
    position = optional_int(body, "position")

    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.add_stage(
        actor_of(request), tenant_of(request), pipeline_id, name=name, kind=kind, position=position
    )
    return json_ok(pipeline_json(view), status=201)


async def handle_update_stage(request: web.Request) -> web.Response:
    pipeline_id = path_uuid(request, "pipeline_id", what="Funil")
    stage_id = path_uuid(request, "stage_id", what="Etapa")
    body = await read_json_object(request)
    reject_unknown_keys(body, _STAGE_FIELDS)
    _not_empty(body, _STAGE_FIELDS)
    name = _optional_string(body, "name")
    kind = _optional_string(body, "kind")
    position = optional_int(body, "position")

    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.update_stage(
        actor_of(request),
        tenant_of(request),
        pipeline_id,
        stage_id,
        name=name,
        kind=kind,
        position=position,
    )
    return json_ok(pipeline_json(view))


async def handle_remove_stage(request: web.Request) -> web.Response:
    pipeline_id = path_uuid(request, "pipeline_id", what="Funil")
    stage_id = path_uuid(request, "stage_id", what="Etapa")
    move_to = query_uuid(request, "move_to")

    pipelines = await use_case(request, "crm_pipelines")
    view = await pipelines.remove_stage(
        actor_of(request), tenant_of(request), pipeline_id, stage_id, move_to=move_to
    )
    return json_ok(pipeline_json(view))


# --- custom fields -------------------------------------------------------------


async def handle_list_fields(request: web.Request) -> web.Response:
    fields = await use_case(request, "crm_lead_fields")
    page = await fields.list(tenant_of(request), page_from_query(request))
    return json_page(page, field_json)


async def handle_create_field(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _FIELD_CREATE_FIELDS)
    key = _required_string(body, "key")
    label = _required_string(body, "label")
    type_ = _required_string(body, "type")
    choices = optional_string_list(body, "choices") or []
    required = _optional_bool(body, "required") or False
    position = optional_int(body, "position")

    fields = await use_case(request, "crm_lead_fields")
    field = await fields.create(
        actor_of(request),
        tenant_of(request),
        key=key,
        label=label,
        type_=type_,
        choices=choices,
        required=required,
        position=position,
    )
    return json_ok(field_json(field), status=201)


async def handle_update_field(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _FIELD_UPDATE_FIELDS)
    _not_empty(body, _FIELD_UPDATE_FIELDS)
    changes = FieldChanges(
        label=_optional_string(body, "label"),
        type=_optional_string(body, "type"),
        choices=optional_string_list(body, "choices"),
        required=_optional_bool(body, "required"),
        position=optional_int(body, "position"),
    )

    fields = await use_case(request, "crm_lead_fields")
    field = await fields.update(actor_of(request), tenant_of(request), _field_key(request), changes)
    return json_ok(field_json(field))


async def handle_remove_field(request: web.Request) -> web.Response:
    fields = await use_case(request, "crm_lead_fields")
    field = await fields.remove(actor_of(request), tenant_of(request), _field_key(request))
    return json_ok(field_json(field))


# --- timeline, notes, tasks, interactions ----------------------------------------


async def handle_timeline(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what="Lead")
    types = _timeline_types(request)
    timeline = await use_case(request, "lead_timeline")
    page = await timeline.timeline(tenant_of(request), lead_id, page_from_query(request), types)
    return json_page(page, entry_json)


async def handle_add_note(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what="Lead")
    body = await read_json_object(request)
    reject_unknown_keys(body, _NOTE_FIELDS)
    text = _required_string(body, "body")

    timeline = await use_case(request, "lead_timeline")
    note = await timeline.add_note(actor_of(request), tenant_of(request), lead_id, text)
    return json_ok(note_json(note), status=201)


async def handle_remove_note(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what="Lead")
    note_id = path_uuid(request, "note_id", what="Nota")
    # Admins remove any note: the same permission that lets them shape the CRM.
    is_admin = principal_of(request).can(Permission.CRM_MANAGE)

    timeline = await use_case(request, "lead_timeline")
    note = await timeline.remove_note(
        actor_of(request), tenant_of(request), lead_id, note_id, is_admin=is_admin
    )
    return json_ok(note_json(note))


async def handle_add_task(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what="Lead")
    body = await read_json_object(request)
    reject_unknown_keys(body, _TASK_CREATE_FIELDS)
    title = _required_string(body, "title")
    due_at = _optional_timestamp(body, "due_at")
    assignee_id = _optional_uuid(body, "assignee_id")

    timeline = await use_case(request, "lead_timeline")
    task = await timeline.add_task(
        actor_of(request),
        tenant_of(request),
        lead_id,
        title=title,
        due_at=due_at,
        assignee_id=assignee_id,
    )
    return json_ok(task_json(task), status=201)


async def handle_update_task(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what="Lead")
    task_id = path_uuid(request, "task_id", what="Tarefa")
    body = await read_json_object(request)
    reject_unknown_keys(body, _TASK_UPDATE_FIELDS)
    _not_empty(body, _TASK_UPDATE_FIELDS)
    # null in due_at or assignee_id clears it; a key left out keeps the value.
    changes = TaskChanges(
        title=_optional_string(body, "title"),
        due_at=_optional_timestamp(body, "due_at"),
        clear_due_at="due_at" in body and body["due_at"] is None,
        assignee_id=_optional_uuid(body, "assignee_id"),
        clear_assignee="assignee_id" in body and body["assignee_id"] is None,
        done=_optional_bool(body, "done"),
    )

    timeline = await use_case(request, "lead_timeline")
    task = await timeline.update_task(
        actor_of(request), tenant_of(request), lead_id, task_id, changes
    )
    return json_ok(task_json(task))


async def handle_open_tasks(request: web.Request) -> web.Response:
    due_before = request.query.get("due_before")
    overdue = request.query.get("overdue", "").strip().lower()
    if overdue not in ("", "true", "false"):
        raise invalid_field("overdue", "O parâmetro 'overdue' deve ser true ou false.")
    task_filter = TaskFilter(
        assignee_id=query_uuid(request, "assignee_id"),
        due_before=parse_timestamp(due_before, "due_before") if due_before else None,
        overdue_at=dt.datetime.now(dt.UTC) if overdue == "true" else None,
    )

    timeline = await use_case(request, "lead_timeline")
    page = await timeline.open_tasks(tenant_of(request), task_filter, page_from_query(request))
    return json_page(page, task_json)


async def handle_log_interaction(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what="Lead")
    body = await read_json_object(request)
    reject_unknown_keys(body, _INTERACTION_FIELDS)
    channel = _required_string(body, "channel")
    direction = _required_string(body, "direction")
    content = _string(body, "content", required=False)
    occurred_at = _optional_timestamp(body, "occurred_at")

    timeline = await use_case(request, "lead_timeline")
    interaction = await timeline.log_interaction(
        actor_of(request),
        tenant_of(request),
        lead_id,
        channel=channel,
        direction=direction,
        content=content,
        occurred_at=occurred_at,
    )
    return json_ok(interaction_json(interaction), status=201)
