"""Routes of the HTTP API and the translation between their JSON and the use cases.

Handlers read the services from the application (``SERVICES_KEY``) and the
tenant from the request (``TENANT_ID_KEY``, set by the tenant middleware).
Every route here must also be described in ``entrypoints.http.openapi``; a
contract test checks that both agree.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from aiohttp import web

from application.external_companies import ExternalSourceFailed
from application.search import LOCAL, SearchSource, SourcedPage
from domain.search import Page, PageRequest, PhoneRequirement, SearchCriteria
from entrypoints.http.context import (
    OPENAPI_DOCUMENT_KEY,
    SERVICES_KEY,
    page_meta,
    read_json_object,
)
from entrypoints.http.middleware import TENANT_ID_KEY
from entrypoints.http.problems import ProblemError

log = structlog.get_logger(__name__)


#: Time each readiness check may take before its component counts as down.
READINESS_TIMEOUT_SECONDS = 2.0

DEFAULT_PER_PAGE = 50

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def register_routes(app: web.Application) -> None:
    """Add every route of the API to ``app``."""
    app.router.add_get("/health", handle_health, allow_head=False)
    app.router.add_get("/ready", handle_readiness, allow_head=False)
    app.router.add_post("/v1/preleads/search", handle_search_preleads)
    # The pattern lets a formatted CNPJ through, slash included (12.ABC.345/01DE-35).
    app.router.add_get("/v1/companies/{cnpj:[^{}]+}", handle_get_company, allow_head=False)
    app.router.add_get("/v1/openapi.json", handle_openapi_document, allow_head=False)


# --- handlers --------------------------------------------------------------


async def handle_health(_request: web.Request) -> web.Response:
    """Return 200 while the process serves requests; touches no database or network."""
    return web.json_response({"status": "ok"})


async def handle_readiness(request: web.Request) -> web.Response:
    """Run every readiness check at once and respond 503 when any component is down."""
    checks = request.app[SERVICES_KEY].readiness
    names = list(checks)
    outcomes = await asyncio.gather(*(_run_check(name, checks[name]) for name in names))
    results = dict(zip(names, outcomes, strict=True))

    failing = [name for name, outcome in results.items() if outcome != "ok"]
    if failing:
        raise ProblemError(
            503,
            "not_ready",
            f"Componentes indisponíveis: {', '.join(failing)}. Tente novamente em instantes.",
            extensions={"checks": results},
        )
    return web.json_response({"status": "ready", "checks": results}, dumps=_dumps)


async def _run_check(name: str, check: Callable[[], Awaitable[None]]) -> str:
    """Run one readiness check; return ``ok``, ``timeout`` or ``failed``."""
    try:
        await asyncio.wait_for(check(), timeout=READINESS_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning(
            "readiness_check_timed_out", component=name, timeout_s=READINESS_TIMEOUT_SECONDS
        )
        return "timeout"
    except Exception as error:
        log.warning(
            "readiness_check_failed",
            component=name,
            error_type=type(error).__name__,
            error=str(error),
        )
        return "failed"
    return "ok"


async def handle_search_preleads(request: web.Request) -> web.Response:
    """Search pre-leads for the authenticated tenant and return one page."""
    services = request.app[SERVICES_KEY]
    body = await read_json_object(request)
    criteria, page_request = parse_search_body(body, max_per_page=services.max_per_page)
    source = parse_search_source(body)

    page = await services.search_preleads(criteria, page_request, request[TENANT_ID_KEY], source)
    return web.json_response({"meta": search_meta(page), "data": list(page.items)}, dumps=_dumps)


def search_meta(page: Page) -> dict[str, Any]:
    """Build the search page's ``meta``: paging, the source it came from and any warnings."""
    source = page.source if isinstance(page, SourcedPage) else LOCAL
    warnings = page.warnings if isinstance(page, SourcedPage) else ()
    return {
        **page_meta(page),
        "source": source,
        "warnings": [{"code": w.code, "message": w.message} for w in warnings],
    }


async def handle_get_company(request: web.Request) -> web.Response:
    """Return one establishment with its company, partners and Simples data."""
    services = request.app[SERVICES_KEY]
    try:
        company = await services.get_company(request.match_info["cnpj"])
    except ExternalSourceFailed as error:
        raise ProblemError(503, error.code, error.detail, field="cnpj") from error
    return web.json_response({"data": company}, dumps=_dumps)


async def handle_openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOCUMENT_KEY], dumps=_dumps)


# --- JSON bodies -----------------------------------------------------------


def _invalid_field(field: str, detail: str) -> ProblemError:
    return ProblemError(400, "invalid_field", detail, field=field)


#: Keys of the search body. In every optional key, null means "not informed".
SEARCH_BODY_KEYS = (
    "cnaes",
    "include_secondary",
    "uf",
    "municipio_ibge",
    "registration_status",
    "company_size",
    "opened_from",
    "opened_to",
    "share_capital_min",
    "share_capital_max",
    "simples",
    "mei",
    "has_phone",
    "has_email",
    "exclude_shared_contacts",
    "head_office_only",
    "exclude_existing",
    "source",
    "page",
    "per_page",
)


def parse_search_body(
    body: Mapping[str, Any], *, max_per_page: int
) -> tuple[SearchCriteria, PageRequest]:
    """Turn a search body into validated criteria and a page request.

    Type errors raise ProblemError ``invalid_field`` naming the key; rule
    violations (unknown codes, ranges) raise the domain's InvalidSearch.
    """
    unknown = [key for key in body if key not in SEARCH_BODY_KEYS]
    if unknown:
        raise _invalid_field(
            unknown[0],
            f"O campo '{unknown[0]}' não existe na busca. "
            f"Campos aceitos: {', '.join(SEARCH_BODY_KEYS)}.",
        )

    cnaes = _string_list(body, "cnaes")
    if cnaes is None:
        raise _invalid_field("cnaes", "O campo 'cnaes' é obrigatório: informe ao menos um CNAE.")

    criteria = SearchCriteria.create(
        cnaes=cnaes,
        uf=_optional_string(body, "uf"),
        municipalities=_string_list(body, "municipio_ibge"),
        registration_statuses=_string_list(body, "registration_status") or ["ATIVA"],
        company_sizes=_string_list(body, "company_size"),
        include_secondary=_flag(body, "include_secondary"),
        opened_from=_optional_date(body, "opened_from"),
        opened_to=_optional_date(body, "opened_to"),
        share_capital_min=_optional_money(body, "share_capital_min"),
        share_capital_max=_optional_money(body, "share_capital_max"),
        simples=_optional_bool(body, "simples"),
        mei=_optional_bool(body, "mei"),
        phone=_phone_requirement(body, "has_phone"),
        has_email=_optional_bool(body, "has_email"),
        exclude_shared_contacts=_flag(body, "exclude_shared_contacts"),
        head_office_only=_flag(body, "head_office_only"),
        exclude_existing=_flag(body, "exclude_existing"),
    )
    page_request = PageRequest.create(
        page=_integer(body, "page", default=1),
        per_page=_integer(body, "per_page", default=min(DEFAULT_PER_PAGE, max_per_page)),
        max_per_page=max_per_page,
    )
    return criteria, page_request


def parse_search_source(body: Mapping[str, Any]) -> SearchSource:
    """Read ``source`` (local, auto or api-cnaes); absent or null means auto."""
    value = body.get("source")
    if value is None:
        return SearchSource.AUTO
    if isinstance(value, str):
        try:
            return SearchSource(value)
        except ValueError:
            pass
    raise _invalid_field(
        "source", 'O campo \'source\' deve ser "local", "auto", "api-cnaes" ou null.'
    )


def _string_list(body: Mapping[str, Any], field: str) -> list[str] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list):
        example = json.dumps([value] if isinstance(value, str) else ["..."], ensure_ascii=False)
        raise _invalid_field(
            field, f"O campo '{field}' deve ser uma lista de textos, como {example}."
        )
    for position, item in enumerate(value, start=1):
        if not isinstance(item, str):
            raise _invalid_field(
                field,
                f"O campo '{field}' deve ser uma lista de textos; "
                f"o item {position} é {json.dumps(item, ensure_ascii=False)}.",
            )
    return value


def _optional_string(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or isinstance(value, str):
        return value
    raise _invalid_field(field, f"O campo '{field}' deve ser um texto.")


def _optional_bool(body: Mapping[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise _invalid_field(field, f"O campo '{field}' deve ser true, false ou null.")


def _flag(body: Mapping[str, Any], field: str) -> bool:
    return bool(_optional_bool(body, field))


def _optional_date(body: Mapping[str, Any], field: str) -> dt.date | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _invalid_field(
        field, f"O campo '{field}' deve ser uma data no formato AAAA-MM-DD, como 2020-01-31."
    )


def _optional_money(body: Mapping[str, Any], field: str) -> Decimal | None:
    """Read a number or a decimal string; floats go through ``str`` to keep their digits."""
    value = body.get(field)
    if value is None:
        return None

    amount: Decimal | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        amount = Decimal(str(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            amount = None

    if amount is None or not amount.is_finite():
        raise _invalid_field(
            field,
            f"O campo '{field}' deve ser um valor em reais, como número (150000.50) "
            'ou texto ("150000.50").',
        )
    return amount


def _phone_requirement(body: Mapping[str, Any], field: str) -> PhoneRequirement | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return PhoneRequirement(value)
        except ValueError:
            pass
    raise _invalid_field(
        field, f'O campo \'{field}\' deve ser "any", "mobile", "landline" ou null.'
    )


def _integer(body: Mapping[str, Any], field: str, *, default: int) -> int:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _invalid_field(field, f"O campo '{field}' deve ser um número inteiro.")
