"""Problem details (RFC 9457) for every error response of the HTTP API.

A problem body carries ``type`` (a URN built from ``code``), ``title``,
``status``, ``detail`` (pt-BR, for people), ``code`` (stable, for programs),
``field`` when one input value is at fault, and ``request_id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:garimpo:problem:"

#: pt-BR titles per HTTP status. A problem type maps to one status, so its
#: title stays the same from one occurrence to the next, as RFC 9457 recommends.
_TITLES = {
    400: "Requisição inválida",
    401: "Autenticação necessária",
    403: "Acesso negado",
    404: "Recurso não encontrado",
    405: "Método não permitido",
    409: "Conflito com o estado atual",
    413: "Corpo da requisição grande demais",
    422: "Regra de negócio não atendida",
    429: "Requisições demais",
    500: "Erro interno",
    503: "Serviço indisponível",
}


class ProblemError(Exception):
    """Raised by handlers and middlewares for a failure that is not a domain rule.

    Authentication, malformed bodies and readiness use it; the error
    middleware turns it into a problem response.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


def problem_title(status: int) -> str:
    """Return the pt-BR title for ``status``."""
    if status in _TITLES:
        return _TITLES[status]
    return "Erro no servidor" if status >= 500 else "Requisição não atendida"


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str,
    field: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the JSON object of one problem."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": problem_title(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        body["field"] = field
    body["request_id"] = request_id
    if extensions:
        body.update(extensions)
    return body


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> web.Response:
    """Build an ``application/problem+json`` response."""
    body = problem_body(
        status, code, detail, request_id=request_id, field=field, extensions=extensions
    )
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
        headers=headers,
    )
