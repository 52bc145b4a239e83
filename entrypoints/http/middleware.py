"""Middlewares of the HTTP API: request id and access log, and errors.

``create_app`` installs them outermost first. The request id middleware wraps
everything, so even error responses carry the id. The error middleware wraps
authentication (``entrypoints.http.auth``) and rate limiting, so their
refusals become problem responses.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    RuleViolation,
    TooManyAttempts,
)
from entrypoints.http.problems import ProblemError, problem_response

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

REQUEST_ID_KEY = web.RequestKey("request_id", str)
#: The tenant a tenant route works on; set by the authentication middleware.
TENANT_ID_KEY = web.RequestKey("tenant_id", str)
#: The ``code`` of the problem response, for the access log line.
_PROBLEM_CODE_KEY = web.RequestKey("problem_code", str)
#: Headers that every response to the request carries, problem responses
#: included. The rate limiter puts its RateLimit fields here.
RESPONSE_HEADERS_KEY = web.RequestKey("response_headers", dict[str, str])

#: Incoming request ids are kept only when they look like an id, so a client
#: cannot put arbitrary text into our logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

#: HTTP status of each kind of domain error; anything else is a 400.
_DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    RuleViolation: 422,
}

_INTERNAL_ERROR_DETAIL = (
    "Ocorreu um erro interno inesperado. Tente novamente em instantes; se o erro "
    "continuar, informe o request_id ao suporte."
)


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
    except TooManyAttempts as error:
        return _problem(
            request,
            429,
            error.code,
            error.detail,
            headers={"Retry-After": str(error.retry_after)},
            extensions={**error.extensions, "retry_after": error.retry_after},
        )
    except AuthenticationFailed as error:
        return _problem(
            request,
            401,
            error.code,
            error.detail,
            field=error.field,
            headers={"WWW-Authenticate": f'Bearer realm="garimpo", error="{_bearer_error(error)}"'},
        )
    except DomainError as error:
        status = next(
            (mapped for cls, mapped in _DOMAIN_STATUS.items() if isinstance(error, cls)), 400
        )
        # Some errors carry machine-readable details for the client, such as
        # the available credits of InsufficientCredits.
        return _problem(
            request,
            status,
            error.code,
            error.detail,
            field=error.field,
            extensions=getattr(error, "extensions", None),
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _http_exception_problem(request, error)
    except Exception:
        log.exception("http_unhandled_error", method=request.method, path=request.path)
        return _problem(request, 500, "internal_error", _INTERNAL_ERROR_DETAIL)


def _bearer_error(error: AuthenticationFailed) -> str:
    """RFC 6750 error name: no credentials at all is a bare challenge, anything else a bad token."""
    return "invalid_request" if error.code == "authentication_required" else "invalid_token"


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
        headers={**request.get(RESPONSE_HEADERS_KEY, {}), **(headers or {})},
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
