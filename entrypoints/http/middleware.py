"""Middlewares of the HTTP API: request id and access log, errors, tenant context.

``create_app`` installs them outermost first. The request id middleware wraps
everything, so even error responses carry the id. The error middleware wraps
the tenant middleware, so authentication failures become problem responses.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from domain.errors import DomainError, NotFound
from entrypoints.http.problems import ProblemError, problem_response

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
API_KEY_HEADER = "X-API-Key"

REQUEST_ID_KEY = web.RequestKey("request_id", str)
#: The authenticated tenant of a tenant route; set by the tenant middleware.
TENANT_ID_KEY = web.RequestKey("tenant_id", str)
#: The ``code`` of the problem response, for the access log line.
_PROBLEM_CODE_KEY = web.RequestKey("problem_code", str)

#: Incoming request ids are kept only when they look like an id, so a client
#: cannot put arbitrary text into our logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

#: Routes under /v1 that need no tenant: the API description, and the host
#: operator's routes, which get their own authentication.
_PUBLIC_V1_PATHS = frozenset({"/v1/openapi.json"})
_HOST_PREFIX = "/v1/host/"

_INTERNAL_ERROR_DETAIL = (
    "Ocorreu um erro interno inesperado. Tente novamente em instantes; se o erro "
    "continuar, informe o request_id ao suporte."
)

#: Resolves a request to its tenant id, or raises ProblemError with status 401.
Authenticator = Callable[[web.Request], Awaitable[str]]
#: Returns the tenant id of an API key, or None when the key is unknown or revoked.
ApiKeyResolver = Callable[[str], Awaitable[str | None]]


# --- request id and access log ---------------------------------------------


def choose_request_id(incoming: str | None) -> str:
    """Keep a well-formed incoming request id, else generate a uuid4 hex."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id for the request's logs, echo it, and log one access line.

    The access line has method, path (never the query string), status,
    duration and tenant id. Headers and bodies stay out of it because they
    carry API keys, phones and e-mails.
    """
    request_id = choose_request_id(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()

    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
        except web.HTTPException as http_exception:
            # Only statuses below 400 get here, because the error middleware
            # turns the others into problem responses.
            http_exception.headers[REQUEST_ID_HEADER] = request_id
            _log_access(request, http_exception.status, started)
            raise
        except asyncio.CancelledError:
            log.info(
                "http_request_cancelled",
                method=request.method,
                path=request.path,
                duration_ms=_elapsed_ms(started),
            )
            raise

        response.headers[REQUEST_ID_HEADER] = request_id
        _log_access(request, response.status, started)
    return response


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _log_access(request: web.Request, status: int, started: float) -> None:
    log.info(
        "http_request",
        method=request.method,
        path=request.path,
        status=status,
        duration_ms=_elapsed_ms(started),
        tenant_id=request.get(TENANT_ID_KEY),
        problem_code=request.get(_PROBLEM_CODE_KEY),
    )


# --- errors ----------------------------------------------------------------


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Convert every error into a problem+json response; no other code maps exceptions."""
    try:
        return await handler(request)
    except ProblemError as problem:
        return _problem(
            request,
            problem.status,
            problem.code,
            problem.detail,
            field=problem.field,
            headers=problem.headers,
            extensions=problem.extensions,
        )
    except DomainError as error:
        status = 404 if isinstance(error, NotFound) else 400
        return _problem(request, status, error.code, error.detail, field=error.field)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _http_exception_problem(request, error)
    except Exception:
        log.exception("http_unhandled_error", method=request.method, path=request.path)
        return _problem(request, 500, "internal_error", _INTERNAL_ERROR_DETAIL)


def _problem(
    request: web.Request,
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, object] | None = None,
) -> web.Response:
    request[_PROBLEM_CODE_KEY] = code
    return problem_response(
        status,
        code,
        detail,
        request_id=request[REQUEST_ID_KEY],
        field=field,
        headers=headers,
        extensions=extensions,
    )


def _http_exception_problem(request: web.Request, error: web.HTTPException) -> web.Response:
    """Translate aiohttp's own HTTP errors (routing, body size) into problems."""
    routing_error = request.match_info.http_exception is not None

    if isinstance(error, web.HTTPNotFound) and routing_error:
        detail = (
            f"Rota não encontrada: {request.method} {request.path}. "
            "Confira o caminho no documento OpenAPI em /v1/openapi.json."
        )
        return _problem(request, 404, "route_not_found", detail)

    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = sorted(error.allowed_methods)
        detail = (
            f"O método {request.method} não é aceito em {request.path}; use {', '.join(allowed)}."
        )
        return _problem(
            request, 405, "method_not_allowed", detail, headers={"Allow": ", ".join(allowed)}
        )

    if isinstance(error, web.HTTPRequestEntityTooLarge):
        detail = "O corpo da requisição é grande demais. Envie menos dados por requisição."
        return _problem(request, 413, "payload_too_large", detail)

    if isinstance(error, web.HTTPNotFound):
        return _problem(request, 404, "not_found", "O recurso pedido não foi encontrado.")

    detail = f"A requisição não pôde ser atendida (HTTP {error.status})."
    return _problem(request, error.status, f"http_{error.status}", detail)


# --- tenant context --------------------------------------------------------


def is_tenant_route(path_template: str) -> bool:
    """Tell whether a route template needs an authenticated tenant."""
    if not path_template.startswith("/v1/"):
        return False
    if path_template in _PUBLIC_V1_PATHS:
        return False
    return not path_template.startswith(_HOST_PREFIX)


def _matched_route_template(request: web.Request) -> str | None:
    """Return the template of the route that matched, or None when routing failed."""
    if request.match_info.http_exception is not None:
        return None
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def make_tenant_middleware(authenticate: Authenticator) -> Middleware:
    """Build the middleware that puts the tenant of every tenant route into the request.

    The decision uses the template of the matched route, not the raw path, so
    every tenant route is covered whatever its spelling. Unmatched paths pass
    through unauthenticated and end as 404 or 405.
    """

    @web.middleware
    async def tenant_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        template = _matched_route_template(request)
        if template is None or not is_tenant_route(template):
            return await handler(request)

        tenant_id = await authenticate(request)
        request[TENANT_ID_KEY] = tenant_id
        with structlog.contextvars.bound_contextvars(tenant_id=tenant_id):
            return await handler(request)

    return tenant_middleware


def api_key_authenticator(resolve_api_key: ApiKeyResolver) -> Authenticator:
    """Build an authenticator that reads an API key and resolves it to a tenant.

    The key comes from ``X-API-Key`` or, when that header is absent, from
    ``Authorization: Bearer <key>``.
    """

    async def authenticate(request: web.Request) -> str:
        key = _presented_api_key(request)
        if key is None:
            raise ProblemError(
                401,
                "authentication_required",
                "Esta rota exige autenticação. Envie a chave de API no cabeçalho "
                "X-API-Key ou em Authorization: Bearer <chave>.",
                headers={"WWW-Authenticate": 'Bearer realm="garimpo"'},
            )

        tenant_id = await resolve_api_key(key)
        if tenant_id is None:
            raise ProblemError(
                401,
                "invalid_api_key",
                "A chave de API é inválida ou foi revogada. Confira a chave ou peça uma nova ao administrador.",
                headers={"WWW-Authenticate": 'Bearer realm="garimpo", error="invalid_token"'},
            )
        return tenant_id

    return authenticate


def _presented_api_key(request: web.Request) -> str | None:
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if key:
        return key

    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None
