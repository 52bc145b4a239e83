"""Selection routes: make a batch of pre-leads from CNPJs or a search, read, rename, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from application.selections import SelectionItemView
from domain.selections import Selection, SelectionFlag
from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import (
    SERVICES_KEY,
    invalid_field,
    json_ok,
    json_page,
    optional_int,
    page_from_query,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    use_case,
)
from entrypoints.http.routes_registry import parse_search_body, parse_search_source

_CREATE_FIELDS = frozenset({"name", "cnpjs", "search", "limit"})
_SEARCH_PAGING = frozenset({"page", "per_page"})
_WHAT = "Seleção"


def register_routes(app: web.Application) -> None:
    base = "/v1/preleads/selections"
    app.router.add_get(base, handle_list, allow_head=False)
    app.router.add_post(base, handle_create)
    app.router.add_get(base + "/{selection_id}", handle_get, allow_head=False)
    app.router.add_patch(base + "/{selection_id}", handle_rename)
    app.router.add_delete(base + "/{selection_id}", handle_delete)
    app.router.add_get(base + "/{selection_id}/items", handle_items, allow_head=False)


def selection_json(selection: Selection) -> dict[str, Any]:
    return {
        "id": selection.id,
        "name": selection.name,
        "origin": str(selection.origin),
        "criteria": selection.criteria,
        "item_count": selection.item_count,
        "flag_counts": dict(selection.flag_counts),
        "status_counts": dict(selection.status_counts),
        "created_by": selection.created_by_label,
        "created_at": selection.created_at.isoformat(),
        "updated_at": selection.updated_at.isoformat(),
    }


def item_json(item: SelectionItemView) -> dict[str, Any]:
    company = item.company
    return {
        "prelead_id": item.prelead_id,
        "cnpj": item.cnpj,
        "position": item.position,
        "status": str(item.status),
        "flags": [str(flag) for flag in item.flags],
        "lead_id": item.lead_id,
        "company": None
        if company is None
        else {
            "legal_name": company.legal_name,
            "trade_name": company.trade_name,
            "cnae_primary": company.cnae_primary,
            "uf": company.uf,
            "municipio_ibge": company.ibge_code,
            "has_phone": bool(company.phones),
            "has_email": company.email is not None,
            "source": company.source,
        },
    }


async def handle_create(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, _CREATE_FIELDS)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid_field("name", "O campo 'name' deve ser um texto.")

    has_cnpjs, has_search = body.get("cnpjs") is not None, body.get("search") is not None
    if has_cnpjs == has_search:
        raise invalid_field(
            "cnpjs",
            "Informe 'cnpjs' (uma lista de CNPJs) ou 'search' (os critérios de uma busca), "
            "um dos dois.",
        )

    selections = await use_case(request, "selections")
    if has_cnpjs:
        cnpjs = body["cnpjs"]
        if not isinstance(cnpjs, list) or not all(isinstance(item, str) for item in cnpjs):
            raise invalid_field("cnpjs", "O campo 'cnpjs' deve ser uma lista de textos.")
        if body.get("limit") is not None:
            raise invalid_field(
                "limit", "O campo 'limit' vale só para seleções feitas de uma busca."
            )
        selection = await selections.create_from_cnpjs(
            actor_of(request), tenant_of(request), name, cnpjs
        )
    else:
        search = body["search"]
        if not isinstance(search, dict):
            raise invalid_field("search", "O campo 'search' deve ser um objeto com os critérios.")
        paging = sorted(_SEARCH_PAGING & set(search))
        if paging:
            raise invalid_field(
                f"search.{paging[0]}",
                "Uma seleção congela todos os resultados da busca: não informe página.",
            )
        max_per_page = request.app[SERVICES_KEY].max_per_page
        criteria, _ = parse_search_body(search, max_per_page=max_per_page)
        selection = await selections.create_from_search(
            actor_of(request),
            tenant_of(request),
            name,
            criteria,
            search,
            optional_int(body, "limit"),
            source=parse_search_source(search),
        )
    return json_ok(selection_json(selection), status=201)


async def handle_list(request: web.Request) -> web.Response:
    selections = await use_case(request, "selections")
    page = await selections.list(tenant_of(request), page_from_query(request))
    return json_page(page, selection_json)


async def handle_get(request: web.Request) -> web.Response:
    selection_id = path_uuid(request, "selection_id", what=_WHAT)
    selections = await use_case(request, "selections")
    return json_ok(selection_json(await selections.get(tenant_of(request), selection_id)))


async def handle_items(request: web.Request) -> web.Response:
    selection_id = path_uuid(request, "selection_id", what=_WHAT)
    flag = None
    raw = request.query.get("flag")
    if raw:
        try:
            flag = SelectionFlag(raw)
        except ValueError:
            names = ", ".join(str(value) for value in SelectionFlag)
            raise invalid_field(
                "flag", f"Sinal desconhecido '{raw}'. Use um de: {names}."
            ) from None

    selections = await use_case(request, "selections")
    page = await selections.items(tenant_of(request), selection_id, page_from_query(request), flag)
    return json_page(page, item_json)


async def handle_rename(request: web.Request) -> web.Response:
    selection_id = path_uuid(request, "selection_id", what=_WHAT)
    body = await read_json_object(request)
    reject_unknown_keys(body, frozenset({"name"}))
    name = body.get("name")
    if not isinstance(name, str):
        raise invalid_field("name", "O campo 'name' é obrigatório e deve ser um texto.")

    selections = await use_case(request, "selections")
    selection = await selections.rename(actor_of(request), tenant_of(request), selection_id, name)
    return json_ok(selection_json(selection))


async def handle_delete(request: web.Request) -> web.Response:
    selection_id = path_uuid(request, "selection_id", what=_WHAT)
    selections = await use_case(request, "selections")
    await selections.delete(actor_of(request), tenant_of(request), selection_id)
    return web.Response(status=204)
