"""API key routes: the tenant's keys under /v1/api-keys, host keys under /v1/host/api-keys.

Both sets share handlers: the principal decides whose keys they are (the
tenant of the caller, or the host for a host admin).
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from entrypoints.http.auth import actor_of, principal_of
from entrypoints.http.context import (
    invalid_field,
    json_ok,
    json_page,
    optional_int,
    page_from_query,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    required_string,
    use_case,
)


def register_routes(app: web.Application) -> None:
    for base in ("/v1/api-keys", "/v1/host/api-keys"):
        app.router.add_get(base, handle_list, allow_head=False)
        app.router.add_post(base, handle_create)
        app.router.add_get(base + "/{key_id}", handle_get, allow_head=False)
        app.router.add_delete(base + "/{key_id}", handle_revoke)
        app.router.add_post(base + "/{key_id}/rotate", handle_rotate)


def _optional_datetime(body: dict[str, object], field: str) -> dt.datetime | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise invalid_field(
        field,
        f"O campo '{field}' deve ser uma data e hora ISO 8601 com fuso, "
        "como 2027-01-31T23:59:00-03:00.",
    )


async def handle_create(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"name", "scopes", "expires_at"})
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise invalid_field("scopes", "O campo 'scopes' deve ser uma lista de textos.")

    keys = await use_case(request, "api_keys")
    key, secret = await keys.create(
        principal_of(request),
        actor_of(request),
        name=required_string(body, "name", max_length=100),
        scopes=scopes,
        expires_at=_optional_datetime(body, "expires_at"),
    )
    return json_ok({**key.to_json(dt.datetime.now(dt.UTC)), "key": secret}, status=201)


async def handle_list(request: web.Request) -> web.Response:
    include = request.query.get("include_inactive", "false").lower()
    if include not in {"true", "false"}:
        raise invalid_field("include_inactive", "O parâmetro 'include_inactive' é true ou false.")
    keys = await use_case(request, "api_keys")
    page = await keys.list(
        principal_of(request), page_from_query(request), include_inactive=include == "true"
    )
    return json_page(page)


async def handle_get(request: web.Request) -> web.Response:
    key_id = path_uuid(request, "key_id", what="Chave de API")
    keys = await use_case(request, "api_keys")
    return json_ok(await keys.get(principal_of(request), key_id))


async def handle_revoke(request: web.Request) -> web.Response:
    key_id = path_uuid(request, "key_id", what="Chave de API")
    keys = await use_case(request, "api_keys")
    return json_ok(await keys.revoke(principal_of(request), actor_of(request), key_id))


async def handle_rotate(request: web.Request) -> web.Response:
    key_id = path_uuid(request, "key_id", what="Chave de API")
    body = await read_json_object(request) if request.can_read_body else {}
    reject_unknown_keys(body, {"overlap_seconds"})
    overlap = optional_int(body, "overlap_seconds")

    keys = await use_case(request, "api_keys")
    options = {} if overlap is None else {"overlap": dt.timedelta(seconds=overlap)}
    key, secret = await keys.rotate(principal_of(request), actor_of(request), key_id, **options)
    return json_ok({**key.to_json(dt.datetime.now(dt.UTC)), "key": secret}, status=201)
