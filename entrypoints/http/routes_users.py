"""User routes: a tenant's users under /v1/users, the host admins under /v1/host/admins."""

from __future__ import annotations

from aiohttp import web

from entrypoints.http.auth import actor_of, principal_of
from entrypoints.http.context import (
    json_ok,
    json_page,
    page_from_query,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    required_string,
    use_case,
)
from entrypoints.http.problems import ProblemError
from entrypoints.http.routes_auth import MAX_EMAIL_LENGTH


def register_routes(app: web.Application) -> None:
    app.router.add_get("/v1/users", handle_list_users, allow_head=False)
    app.router.add_post("/v1/users", handle_invite_user)
    app.router.add_get("/v1/users/{user_id}", handle_get_user, allow_head=False)
    app.router.add_patch("/v1/users/{user_id}", handle_update_user)
    app.router.add_delete("/v1/users/{user_id}", handle_disable_user)
    app.router.add_get("/v1/host/admins", handle_list_host_admins, allow_head=False)
    app.router.add_post("/v1/host/admins", handle_invite_host_admin)


def _query_filter(request: web.Request, name: str) -> str | None:
    value = request.query.get(name, "").strip()
    return value or None


async def handle_list_users(request: web.Request) -> web.Response:
    users = await use_case(request, "tenant_users")
    page = await users.list(
        principal_of(request),
        page_from_query(request),
        role=_query_filter(request, "role"),
        status=_query_filter(request, "status"),
    )
    return json_page(page)


async def handle_invite_user(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"email", "name", "role"})
    users = await use_case(request, "tenant_users")
    user = await users.invite(
        principal_of(request),
        actor_of(request),
        email=required_string(body, "email", max_length=MAX_EMAIL_LENGTH),
        name=required_string(body, "name", max_length=200),
        role=required_string(body, "role", max_length=50),
    )
    return json_ok(user, status=201)


async def handle_get_user(request: web.Request) -> web.Response:
    user_id = path_uuid(request, "user_id", what="Usuário")
    users = await use_case(request, "tenant_users")
    return json_ok(await users.get(principal_of(request), user_id))


async def handle_update_user(request: web.Request) -> web.Response:
    user_id = path_uuid(request, "user_id", what="Usuário")
    body = await read_json_object(request)
    known = {"name", "role", "status"}
    reject_unknown_keys(body, known)
    if not body:
        raise ProblemError(
            400, "empty_update", "Informe ao menos um campo para alterar: name, role ou status."
        )
    changes = {
        field: required_string(body, field, max_length=200) for field in known if field in body
    }

    users = await use_case(request, "tenant_users")
    user = await users.update(principal_of(request), actor_of(request), user_id, **changes)
    return json_ok(user)


async def handle_disable_user(request: web.Request) -> web.Response:
    user_id = path_uuid(request, "user_id", what="Usuário")
    users = await use_case(request, "tenant_users")
    return json_ok(await users.disable(principal_of(request), actor_of(request), user_id))


async def handle_list_host_admins(request: web.Request) -> web.Response:
    admins = await use_case(request, "host_admins")
    page = await admins.list(page_from_query(request), status=_query_filter(request, "status"))
    return json_page(page)


async def handle_invite_host_admin(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"email", "name"})
    admins = await use_case(request, "host_admins")
    admin = await admins.invite(
        principal_of(request),
        actor_of(request),
        email=required_string(body, "email", max_length=MAX_EMAIL_LENGTH),
        name=required_string(body, "name", max_length=200),
    )
    return json_ok(admin, status=201)
