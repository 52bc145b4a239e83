"""A local fake of the api-cnaes companies API, on 127.0.0.1, with faults on demand.

It speaks the wire format described in ``adapters.api_cnaes.client``: an
``X-API-KEY`` header on every request (401 when wrong or missing), companies
as objects with a 14-character string ``cnpj``, pages as ``{"data", "meta"}``
and errors as ``{"error": {"code", "message"}}``.

Faults are programmed per route (``get``, ``list``, ``search``, ``health``):
a queued fault applies to the next requests of that route, once each, and a
persistent fault to all of them until cleared. ``page_sizes`` and
``page_shifts`` make pages longer, shorter or overlapping the previous one.
``calls`` counts the requests each route received, and ``search_queries``
keeps the query of each search. In a search query, a list value matches any
of its items.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import attrs
from aiohttp import web

from domain.cnpj import check_digits
from tests.support.http_server import LoopbackServer

API_KEY = "garimpo-fake-api-cnaes-key"
ROUTES = ("get", "list", "search", "health")


def make_cnpj(number: int, *, alphanumeric: bool = False) -> str:
    """Build a valid CNPJ from ``number``; ``alphanumeric`` puts letters in the root."""
    base = f"{number:012d}"
    if alphanumeric:
        base = "AB" + base[2:]
    return base + check_digits(base)


def make_companies(count: int, *, uf: str = "SP", cnae: str = "6201501") -> list[dict[str, Any]]:
    """Build ``count`` companies; every tenth one has an alphanumeric CNPJ."""
    return [
        {
            "cnpj": make_cnpj(index + 1, alphanumeric=index % 10 == 9),
            "razao_social": f"Empresa {index + 1} Ltda",
            "uf": uf,
            "cnae_fiscal": cnae,
        }
        for index in range(count)
    ]


@attrs.frozen(kw_only=True)
class Fault:
    """What the fake does to one request: wait ``delay_seconds``, then maybe fail.

    ``status`` None returns the normal response after the delay. ``body`` replaces the
    JSON error body with raw text, to exercise a client's fallbacks.
    """

    delay_seconds: float = 0.0
    status: int | None = None
    code: str = "internal_error"
    message: str = "Erro interno no servidor"
    retry_after: str | None = None
    body: str | None = None


class FakeApiCnaes(LoopbackServer):
    """An in-memory api-cnaes on 127.0.0.1; use it as an async context manager."""

    def __init__(self, companies: list[dict[str, Any]] | None = None) -> None:
        self.companies: list[dict[str, Any]] = list(companies or [])
        self.api_key = API_KEY
        self.calls: Counter[str] = Counter()
        #: The ``query`` object of every search request, in arrival order.
        self.search_queries: list[Any] = []
        #: Requested page number to the number of items that page returns.
        self.page_sizes: dict[int, int] = {}
        #: Requested page number to how many items of the previous page it repeats.
        self.page_shifts: dict[int, int] = {}
        self._queued: dict[str, list[Fault]] = {route: [] for route in ROUTES}
        self._persistent: dict[str, Fault | None] = dict.fromkeys(ROUTES)

        app = web.Application()
        app.router.add_get("/companies/{cnpj}", self._get_company)
        app.router.add_get("/companies", self._list_companies)
        app.router.add_post("/companies/search", self._search)
        app.router.add_get("/health", self._health)
        super().__init__(app)

    # Programming faults ---------------------------------------------------

    def fail(self, route: str, times: int, fault: Fault) -> None:
        """Apply ``fault`` to the next ``times`` requests of ``route``."""
        self._queued[route].extend([fault] * times)

    def always(self, route: str, fault: Fault | None) -> None:
        """Apply ``fault`` to every request of ``route``; None clears it."""
        self._persistent[route] = fault

    # Request handling -----------------------------------------------------

    async def _apply_faults(self, route: str, request: web.Request) -> web.Response | None:
        self.calls[route] += 1
        if request.headers.get("X-API-KEY") != self.api_key:
            return _error(401, "unauthorized", "Chave de API ausente ou inválida")

        fault = self._queued[route].pop(0) if self._queued[route] else self._persistent[route]
        if fault is None:
            return None
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.status is None:
            return None

        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.body is not None:
            return web.Response(status=fault.status, text=fault.body, headers=headers)
        return _error(fault.status, fault.code, fault.message, headers)

    async def _get_company(self, request: web.Request) -> web.Response:
        if (failure := await self._apply_faults("get", request)) is not None:
            return failure
        cnpj = request.match_info["cnpj"]
        for company in self.companies:
            if company["cnpj"] == cnpj:
                return web.json_response(company)
        return _error(404, "not_found", f"CNPJ {cnpj} não encontrado")

    async def _list_companies(self, request: web.Request) -> web.Response:
        if (failure := await self._apply_faults("list", request)) is not None:
            return failure
        filters = dict(request.query)
        try:
            page = int(filters.pop("page", "1"))
            per_page = int(filters.pop("per_page", "100"))
        except ValueError:
            return _error(400, "invalid_pagination", "page e per_page devem ser números inteiros")
        return self._page(filters, page, per_page)

    async def _search(self, request: web.Request) -> web.Response:
        if (failure := await self._apply_faults("search", request)) is not None:
            return failure
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid_body", "O corpo da requisição deve ser JSON")
        query = body.get("query")
        self.search_queries.append(query)
        page = body.get("page", 1)
        per_page = body.get("per_page", 100)
        if (
            not isinstance(query, dict)
            or not isinstance(page, int)
            or not isinstance(per_page, int)
        ):
            return _error(
                400, "invalid_query", "query deve ser um objeto e page, per_page inteiros"
            )
        return self._page(query, page, per_page)

    async def _health(self, request: web.Request) -> web.Response:
        if (failure := await self._apply_faults("health", request)) is not None:
            return failure
        return web.json_response({"status": "ok"})

    def _page(self, filters: dict[str, Any], page: int, per_page: int) -> web.Response:
        if page < 1 or per_page < 1:
            return _error(400, "invalid_pagination", "page e per_page devem ser maiores que zero")
        matches = [company for company in self.companies if _matches(company, filters)]

        # Each page starts where the one before ended, so a short, long or
        # shifted page moves the later ones instead of skipping items.
        start = 0
        for number in range(1, page):
            start = max(0, start - self.page_shifts.get(number, 0))
            start += self.page_sizes.get(number, per_page)
        start = max(0, start - self.page_shifts.get(page, 0))
        size = self.page_sizes.get(page, per_page)
        items = matches[start : start + size]

        total = len(matches)
        meta = {
            "page": page,
            "per_page": per_page,
            "total_items": total,
            "total_pages": -(-total // per_page),
        }
        return web.json_response({"data": items, "meta": meta})


def _matches(company: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Return True when every filter matches; a list value matches any of its items.

    ``incluir_cnaes_secundarios: true`` lets ``cnae_fiscal`` match a code of
    ``cnaes_secundarios`` too.
    """
    conditions = dict(filters)
    secondary = conditions.pop("incluir_cnaes_secundarios", False) is True
    for field, value in conditions.items():
        wanted = {str(item) for item in value} if isinstance(value, list) else {str(value)}
        if str(company.get(field)) in wanted:
            continue
        if secondary and field == "cnae_fiscal":
            codes = {
                str(item.get("codigo") if isinstance(item, dict) else item)
                for item in company.get("cnaes_secundarios") or []
            }
            if codes & wanted:
                continue
        return False
    return True


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )
