"""What every route module shares: the application keys, JSON bodies, pages, use cases.

Handlers translate HTTP into use-case calls and back; the helpers here keep
that translation the same in every module (problem codes, list envelopes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from domain.errors import NotFound
from domain.search import Page, PageRequest
from entrypoints.http.problems import ProblemError

if TYPE_CHECKING:
    from entrypoints.http.app import HttpServices

SERVICES_KEY: web.AppKey[HttpServices] = web.AppKey("services")
OPENAPI_DOCUMENT_KEY = web.AppKey("openapi_document", dict)

DEFAULT_PER_PAGE = 50

dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)


def json_ok(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Build a ``{"data": ...}`` response."""
    return web.json_response({"data": data}, status=status, headers=headers, dumps=dumps)


def json_page(page: Page, render: Callable[[Any], Any] | None = None) -> web.Response:
    """Build a list response: ``{"meta": {...}, "data": [...]}``, each item through ``render``."""
    items = [render(item) for item in page.items] if render else list(page.items)
    return web.json_response({"meta": page_meta(page), "data": items}, dumps=dumps)


async def use_case(request: web.Request, name: str) -> Any:
    """Return the use case ``name``, built by the container."""
    return await request.app[SERVICES_KEY].use_cases.get(name)


def page_from_query(request: web.Request) -> PageRequest:
    """Read ``page`` and ``per_page`` from the query string."""
    max_per_page = request.app[SERVICES_KEY].max_per_page
    page = _query_int(request, "page", 1)
    per_page = _query_int(request, "per_page", min(DEFAULT_PER_PAGE, max_per_page))
    return PageRequest.create(page, per_page, max_per_page)


def _query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_field(name, f"O parâmetro '{name}' deve ser um número inteiro.") from None


#: Nouns of path ids that take the feminine in "não encontrada".
_FEMININE = frozenset({"Chave", "Entrega", "Etapa", "Nota", "Seleção", "Tarefa"})


def path_uuid(request: web.Request, name: str, *, what: str = "Recurso") -> str:
    """A path id that must be a UUID; anything else cannot exist, so it is a 404."""
    raw = request.match_info[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        found = "encontrada" if what.split()[0] in _FEMININE else "encontrado"
        raise NotFound(f"{what} não {found}: '{raw}'.") from None


def query_uuid(request: web.Request, name: str) -> str | None:
    """Read an optional UUID from the query string; None when absent or empty."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise invalid_field(name, f"O parâmetro '{name}' deve ser um UUID.") from None


def parse_aware_datetime(value: Any, field: str, *, example: str) -> dt.datetime:
    """Parse an ISO 8601 date and time that carries its UTC offset, such as ``example``."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = dt.datetime.fromisoformat(value)
            if parsed.tzinfo is not None:
                return parsed
    raise invalid_field(
        field, f"O campo '{field}' deve ser uma data e hora ISO 8601 com fuso, como {example}."
    )


def optional_string_list(
    body: dict[str, Any], field: str, *, where: str | None = None
) -> list[str] | None:
    """Read an optional list of strings; ``where`` prefixes the field in errors (``leads[2]``)."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        name = f"{where}.{field}" if where else field
        raise invalid_field(name, f"O campo '{field}' deve ser uma lista de textos.")
    return value


def invalid_field(field: str, detail: str) -> ProblemError:
    return ProblemError(400, "invalid_field", detail, field=field)


def required_string(body: dict[str, Any], field: str, *, max_length: int = 500) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise invalid_field(field, f"O campo '{field}' é obrigatório e deve ser um texto.")
    if len(value) > max_length:
        raise invalid_field(field, f"O campo '{field}' pode ter no máximo {max_length} caracteres.")
    return value


def optional_string(body: dict[str, Any], field: str, *, max_length: int = 500) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    return required_string(body, field, max_length=max_length)


def optional_int(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise invalid_field(field, f"O campo '{field}' deve ser um número inteiro.")


def reject_unknown_keys(body: dict[str, Any], known: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise invalid_field(
            unknown[0],
            f"Campo desconhecido: '{unknown[0]}'. Campos aceitos: {', '.join(sorted(known))}.",
        )


def accept_quality(accept: str, media_type: str) -> float:
    """Return the quality the Accept header gives ``media_type``, from its most specific range."""
    main_type = media_type.split("/")[0]
    best_specificity, best_quality = 0, 0.0
    for part in accept.split(","):
        pieces = part.strip().split(";")
        media_range = pieces[0].strip().lower()
        if media_range == media_type:
            specificity = 3
        elif media_range == f"{main_type}/*":
            specificity = 2
        elif media_range == "*/*":
            specificity = 1
        else:
            continue
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                with contextlib.suppress(ValueError):
                    quality = float(value)
        if specificity > best_specificity:
            best_specificity, best_quality = specificity, quality
    return best_quality


def wants_csv(request: web.Request) -> bool:
    """True when ``?format=csv``, or when Accept prefers text/csv to JSON."""
    chosen = request.query.get("format")
    if chosen is not None:
        if chosen not in {"json", "csv"}:
            raise invalid_field("format", "O parâmetro 'format' é json ou csv.")
        return chosen == "csv"
    accept = request.headers.get("Accept", "")
    return accept_quality(accept, "text/csv") > accept_quality(accept, "application/json")


def page_meta(page: Page) -> dict[str, int]:
    """Build the ``meta`` block of a list response."""
    return {
        "page": page.page,
        "per_page": page.per_page,
        "total_items": page.total_items,
        "total_pages": page.total_pages,
    }


# --- JSON bodies -----------------------------------------------------------


class _NonFiniteNumber(ValueError):
    """Raised for NaN or Infinity in a body: Python's json module accepts them, JSON does not."""


def _reject_constant(name: str) -> Any:
    raise _NonFiniteNumber(name)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """Read the request body as a JSON object, or raise ProblemError ``invalid_json``."""
    raw = await request.read()
    if not raw.strip():
        raise _invalid_json("O corpo da requisição está vazio; envie um objeto JSON.")

    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise _invalid_json("O corpo da requisição não está em UTF-8.") from None
    except json.JSONDecodeError as error:
        raise _invalid_json(
            f"O corpo da requisição não é um JSON válido (linha {error.lineno}, "
            f"coluna {error.colno})."
        ) from None
    except _NonFiniteNumber as error:
        raise _invalid_json(f"O valor {error} não é aceito em JSON; envie um número.") from None
    except (ValueError, RecursionError):
        # Integers longer than Python's digit limit, or nesting deep enough to
        # exhaust the recursion limit.
        raise _invalid_json("O corpo da requisição não é um JSON válido.") from None

    if not isinstance(body, dict):
        raise _invalid_json("O corpo da requisição deve ser um objeto JSON, entre chaves {}.")
    return body


def _invalid_json(detail: str) -> ProblemError:
    return ProblemError(400, "invalid_json", detail)
