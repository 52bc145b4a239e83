"""Authentication routes under /v1/auth: login, refresh, logout, who am I, password reset, invitations.

Responses that carry tokens have ``Cache-Control: no-store`` (RFC 6749,
section 5.1), so no proxy or browser cache stores them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from entrypoints.http.auth import actor_of, principal_of
from entrypoints.http.context import (
    invalid_field,
    json_ok,
    optional_string,
    read_json_object,
    reject_unknown_keys,
    required_string,
    use_case,
)

#: Maximum length of an e-mail address in SMTP (RFC 5321: 64 + 1 + 255).
MAX_EMAIL_LENGTH = 320
#: Maximum length of a password read from a request. Longer ones cannot be
#: valid (new passwords stop at 256) and would only cost hashing time.
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_LENGTH = 200

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def register_routes(app: web.Application) -> None:
    app.router.add_post("/v1/auth/login", handle_login)
    app.router.add_post("/v1/auth/refresh", handle_refresh)
    app.router.add_post("/v1/auth/logout", handle_logout)
    app.router.add_get("/v1/auth/me", handle_me, allow_head=False)
    app.router.add_post("/v1/auth/password-reset", handle_password_reset)
    app.router.add_post("/v1/auth/password-reset/confirm", handle_password_reset_confirm)
    app.router.add_post("/v1/auth/invitations/accept", handle_accept_invitation)


def password_field(body: dict[str, Any], field: str = "password") -> str:
    """Read a password exactly as typed: spaces count, so it is not trimmed."""
    value = body.get(field)
    if not isinstance(value, str) or value == "":
        raise invalid_field(field, f"O campo '{field}' é obrigatório e deve ser um texto.")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise invalid_field(
            field, f"O campo '{field}' pode ter no máximo {MAX_PASSWORD_LENGTH} caracteres."
        )
    return value


async def handle_login(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"email", "password"})
    email = required_string(body, "email", max_length=MAX_EMAIL_LENGTH)
    password = password_field(body)

    sessions = await use_case(request, "sessions")
    issued = await sessions.login(email, password, actor_of(request))
    return json_ok(issued.to_json(), headers=NO_STORE)


async def handle_refresh(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"refresh_token"})
    refresh_token = required_string(body, "refresh_token", max_length=MAX_TOKEN_LENGTH)

    sessions = await use_case(request, "sessions")
    issued = await sessions.refresh(refresh_token.strip(), actor_of(request))
    return json_ok(issued.to_json(), headers=NO_STORE)


async def handle_logout(request: web.Request) -> web.Response:
    body = await read_json_object(request) if request.can_read_body else {}
    reject_unknown_keys(body, {"all_sessions"})
    all_sessions = body.get("all_sessions", False)
    if not isinstance(all_sessions, bool):
        raise invalid_field("all_sessions", "O campo 'all_sessions' deve ser true ou false.")

    sessions = await use_case(request, "sessions")
    await sessions.logout(principal_of(request), actor_of(request), all_sessions=all_sessions)
    return web.Response(status=204)


async def handle_me(request: web.Request) -> web.Response:
    sessions = await use_case(request, "sessions")
    return json_ok(await sessions.current(principal_of(request)), headers=NO_STORE)


async def handle_password_reset(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"email"})
    email = required_string(body, "email", max_length=MAX_EMAIL_LENGTH)

    resets = await use_case(request, "password_resets")
    await resets.request(email, actor_of(request))
    # The response is the same whether or not the e-mail has an account.
    return json_ok(
        {
            "detail": "Se houver uma conta ativa com este e-mail, enviamos para ele um código "
            "para redefinir a senha, válido por 1 hora."
        },
        status=202,
    )


async def handle_password_reset_confirm(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"token", "password"})
    token = required_string(body, "token", max_length=MAX_TOKEN_LENGTH)
    password = password_field(body)

    resets = await use_case(request, "password_resets")
    await resets.confirm(token.strip(), password, actor_of(request))
    return web.Response(status=204)


async def handle_accept_invitation(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"token", "name", "password"})
    token = required_string(body, "token", max_length=MAX_TOKEN_LENGTH)
    name = optional_string(body, "name", max_length=200)
    password = password_field(body)

    sessions = await use_case(request, "sessions")
    issued = await sessions.accept_invitation(token.strip(), password, actor_of(request), name=name)
    return json_ok(issued.to_json(), headers=NO_STORE)
