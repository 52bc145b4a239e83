"""Lead routes: the CRM list (JSON or CSV), read, edit, move, import, duplicate review."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from aiohttp import web

from adapters.export.leads_csv import LeadsCsv, export_filename
from application.leads import ImportOutcome, ImportRow, LeadChanges, Leads
from domain.leads import (
    Classification,
    DuplicateResolution,
    Lead,
    LeadFilter,
    LeadOrigin,
    ReviewStatus,
)
from domain.municipality import UFS
from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import (
    invalid_field,
    json_ok,
    json_page,
    optional_string_list,
    page_from_query,
    path_uuid,
    query_uuid,
    read_json_object,
    reject_unknown_keys,
    use_case,
    wants_csv,
)
from entrypoints.http.csv_stream import stream_csv

_WHAT = "Lead"
_UPDATE_FIELDS = frozenset({"owner_id", "notes", "tags", "custom_fields"})
_IMPORT_FIELDS = frozenset({"leads", "owner_id", "tags"})
_IMPORT_ROW_FIELDS = frozenset({"cnpj", "company_name", "phones", "emails", "tags"})


def register_routes(app: web.Application) -> None:
    # Fixed paths first: the router tries routes in order, and {lead_id} would take them.
    app.router.add_get("/v1/leads", handle_list, allow_head=False)
    app.router.add_post("/v1/leads/import", handle_import)
    app.router.add_get("/v1/leads/{lead_id}", handle_get, allow_head=False)
    app.router.add_patch("/v1/leads/{lead_id}", handle_update)
    app.router.add_post("/v1/leads/{lead_id}/move", handle_move)
    app.router.add_post("/v1/leads/{lead_id}/resolve-duplicate", handle_resolve)


def lead_json(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "cnpj": lead.cnpj,
        "company_name": lead.company_name,
        "trade_name": lead.trade_name,
        "cnae": lead.cnae,
        "uf": lead.uf,
        "municipio_ibge": lead.municipality_ibge,
        "origin": str(lead.origin),
        "prelead_id": lead.prelead_id,
        "pipeline_id": lead.pipeline_id,
        "stage_id": lead.stage_id,
        "stage_entered_at": lead.stage_entered_at.isoformat(),
        "owner_id": lead.owner_id,
        "classification": str(lead.classification) if lead.classification else None,
        "classification_rule": lead.classification_rule,
        "notes": lead.notes,
        "tags": list(lead.tags),
        "custom_fields": dict(lead.custom_fields),
        "close_reason": lead.close_reason,
        "review_status": str(lead.review_status) if lead.review_status else None,
        "duplicate_of": lead.duplicate_of,
        "merged_into": lead.merged_into,
        "contacts": [
            {
                "kind": contact.kind,
                "value": contact.value,
                "valid": contact.valid,
                "phone_type": contact.phone_type,
                # WhatsApp is a property of phones only.
                "whatsapp": contact.whatsapp if contact.kind == "phone" else None,
                "problem": contact.problem,
                "source": contact.source,
            }
            for contact in lead.contacts
        ],
        "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(),
    }


def _outcome_json(outcome: ImportOutcome) -> dict[str, Any]:
    return {
        "position": outcome.position,
        "cnpj": outcome.cnpj,
        "result": outcome.result,
        "lead_id": outcome.lead_id,
        "duplicate_of": outcome.duplicate_of,
        "invalid_contacts": outcome.invalid_contacts,
    }


# --- query filters -------------------------------------------------------------------


def _query_date(request: web.Request, name: str) -> dt.date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise invalid_field(name, f"O parâmetro '{name}' deve ser uma data AAAA-MM-DD.") from None


def _query_choice(request: web.Request, name: str, enum_type: Any) -> Any:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return enum_type(raw)
    except ValueError:
        names = ", ".join(str(value) for value in enum_type)
        raise invalid_field(
            name, f"Valor desconhecido '{raw}' em '{name}'. Use um de: {names}."
        ) from None


def lead_filter(request: web.Request) -> LeadFilter:
    query = request.query
    include_merged = query.get("include_merged", "false")
    if include_merged not in {"true", "false"}:
        raise invalid_field("include_merged", "O parâmetro 'include_merged' é true ou false.")
    uf = (query.get("uf") or "").strip().upper() or None
    if uf is not None and uf not in UFS:
        raise invalid_field("uf", f"UF inválida '{uf}': use a sigla, como SP ou PR.")
    cnae = re.sub(r"[.\-/\s]", "", query.get("cnae") or "") or None
    if cnae is not None and not re.fullmatch(r"[0-9]{7}", cnae):
        raise invalid_field(
            "cnae", "O parâmetro 'cnae' é a subclasse com 7 dígitos, como 6204000 ou 6204-0/00."
        )
    municipality = (query.get("municipio_ibge") or "").strip() or None
    if municipality is not None and not re.fullmatch(r"[0-9]{7}", municipality):
        raise invalid_field("municipio_ibge", "O parâmetro 'municipio_ibge' tem 7 dígitos.")
    return LeadFilter(
        stage_id=query_uuid(request, "stage_id"),
        pipeline_id=query_uuid(request, "pipeline_id"),
        owner_id=query_uuid(request, "owner_id"),
        classification=_query_choice(request, "classification", Classification),
        origin=_query_choice(request, "origin", LeadOrigin),
        review_status=_query_choice(request, "review_status", ReviewStatus),
        cnae=cnae,
        uf=uf,
        municipality_ibge=municipality,
        tag=query.get("tag") or None,
        created_from=_query_date(request, "created_from"),
        created_to=_query_date(request, "created_to"),
        text=(query.get("q") or "").strip() or None,
        include_merged=include_merged == "true",
    )


# --- handlers --------------------------------------------------------------------------


async def handle_list(request: web.Request) -> web.StreamResponse:
    where = lead_filter(request)
    leads = await use_case(request, "leads")
    if wants_csv(request):
        return await _stream_csv(request, leads, tenant_of(request), where)
    page = await leads.list(actor_of(request), tenant_of(request), where, page_from_query(request))
    return json_page(page, lead_json)


async def handle_get(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what=_WHAT)
    leads = await use_case(request, "leads")
    return json_ok(lead_json(await leads.get(actor_of(request), tenant_of(request), lead_id)))


async def handle_update(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what=_WHAT)
    body = await read_json_object(request)
    reject_unknown_keys(body, _UPDATE_FIELDS)

    changes: dict[str, Any] = {}
    if "owner_id" in body:
        owner = body["owner_id"]
        if owner is not None and not isinstance(owner, str):
            raise invalid_field(
                "owner_id", "O campo 'owner_id' deve ser o id de um usuário ou null."
            )
        changes["owner_id"] = owner
    if "notes" in body:
        notes = body["notes"]
        if notes is not None and not isinstance(notes, str):
            raise invalid_field("notes", "O campo 'notes' deve ser um texto.")
        changes["notes"] = notes or ""
    if "tags" in body:
        changes["tags"] = optional_string_list(body, "tags") or []
    if "custom_fields" in body:
        custom = body["custom_fields"]
        if not isinstance(custom, dict):
            raise invalid_field(
                "custom_fields",
                "O campo 'custom_fields' deve ser um objeto (chave do campo: valor).",
            )
        changes["custom_fields"] = custom

    leads = await use_case(request, "leads")
    lead = await leads.update(
        actor_of(request), tenant_of(request), lead_id, LeadChanges(**changes)
    )
    return json_ok(lead_json(lead))


async def handle_move(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what=_WHAT)
    body = await read_json_object(request)
    reject_unknown_keys(body, frozenset({"stage_id", "reason"}))
    stage_id = body.get("stage_id")
    if not isinstance(stage_id, str) or not stage_id:
        raise invalid_field(
            "stage_id", "O campo 'stage_id' é obrigatório: o id da etapa de destino."
        )
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise invalid_field("reason", "O campo 'reason' deve ser um texto.")

    leads = await use_case(request, "leads")
    lead = await leads.move(actor_of(request), tenant_of(request), lead_id, stage_id, reason)
    return json_ok(lead_json(lead))


async def handle_resolve(request: web.Request) -> web.Response:
    lead_id = path_uuid(request, "lead_id", what=_WHAT)
    body = await read_json_object(request)
    reject_unknown_keys(body, frozenset({"resolution"}))
    try:
        resolution = DuplicateResolution(body.get("resolution"))
    except ValueError:
        raise invalid_field(
            "resolution",
            "O campo 'resolution' é 'distinct' (empresas diferentes: o lead segue no funil) ou "
            "'duplicate' (mesma empresa: o lead é unido ao anterior).",
        ) from None

    leads = await use_case(request, "leads")
    lead = await leads.resolve_duplicate(actor_of(request), tenant_of(request), lead_id, resolution)
    return json_ok(lead_json(lead))


async def handle_import(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _IMPORT_FIELDS)
    rows_raw = body.get("leads")
    if not isinstance(rows_raw, list):
        raise invalid_field(
            "leads", "O campo 'leads' é obrigatório: uma lista de objetos com 'cnpj'."
        )

    rows = []
    for position, raw in enumerate(rows_raw, start=1):
        where = f"leads[{position}]"
        if not isinstance(raw, dict):
            raise invalid_field(where, f"A linha {position} deve ser um objeto com 'cnpj'.")
        unknown = sorted(set(raw) - _IMPORT_ROW_FIELDS)
        if unknown:
            raise invalid_field(
                f"{where}.{unknown[0]}",
                f"Campo desconhecido '{unknown[0]}' na linha {position}. "
                f"Campos aceitos: {', '.join(sorted(_IMPORT_ROW_FIELDS))}.",
            )
        cnpj = raw.get("cnpj")
        if not isinstance(cnpj, str):
            raise invalid_field(f"{where}.cnpj", f"A linha {position} precisa de 'cnpj' em texto.")
        name = raw.get("company_name")
        if name is not None and not isinstance(name, str):
            raise invalid_field(
                f"{where}.company_name", "O campo 'company_name' deve ser um texto."
            )
        rows.append(
            ImportRow(
                cnpj=cnpj,
                company_name=name,
                phones=tuple(optional_string_list(raw, "phones", where=where) or []),
                emails=tuple(optional_string_list(raw, "emails", where=where) or []),
                tags=tuple(optional_string_list(raw, "tags", where=where) or []),
            )
        )
    owner = body.get("owner_id")
    if owner is not None and not isinstance(owner, str):
        raise invalid_field("owner_id", "O campo 'owner_id' deve ser o id de um usuário.")

    leads = await use_case(request, "leads")
    outcomes = await leads.import_leads(
        actor_of(request),
        tenant_of(request),
        rows,
        owner_id=owner,
        tags=optional_string_list(body, "tags") or [],
    )
    summary = {
        result: sum(1 for outcome in outcomes if outcome.result == result)
        for result in ("created", "already_lead", "possible_duplicate")
    }
    return json_ok({"summary": summary, "rows": [_outcome_json(o) for o in outcomes]}, status=200)


# --- CSV ---------------------------------------------------------------------------------


async def _stream_csv(
    request: web.Request, leads: Leads, tenant_id: str, where: LeadFilter
) -> web.StreamResponse:
    labels = await leads.start_export(actor_of(request), tenant_id, where)
    today = dt.datetime.now(zoneinfo.ZoneInfo(labels.timezone)).date().isoformat()
    return await stream_csv(
        request,
        leads.export(tenant_id, where),
        LeadsCsv(labels.timezone, labels.stage_names, labels.owner_names, labels.fields),
        filename=export_filename(today),
        log_event="lead_export",
        tenant_id=tenant_id,
    )
