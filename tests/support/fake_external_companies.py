"""In-memory fakes of the ``CompanySource`` and ``ExternalCompanyStore`` ports.

They let HTTP and use-case tests turn api-cnaes on without a network or a
database. The adapters themselves are tested against the local fake server
and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from application.company_source import (
    Company,
    CompanySourceError,
    SourceErrorKind,
    SourcePage,
)
from application.external_companies import ExternalCompany, StoredSearch
from domain.cnpj import Cnpj
from domain.search import Page, PageRequest, SearchCriteria


class MemoryCompanySource:
    """A company source over a list of companies; ``failure`` makes every call raise it."""

    def __init__(self, companies: Sequence[Company] = ()) -> None:
        self.companies = list(companies)
        self.failure: CompanySourceError | None = None

    def fail_with(self, kind: SourceErrorKind, status: int | None = None) -> None:
        self.failure = CompanySourceError(kind, status, kind.value, "falha simulada")

    async def get_company(self, cnpj: str) -> Company | None:
        if self.failure is not None:
            raise self.failure
        return next((c for c in self.companies if c["cnpj"] == cnpj), None)

    async def list_companies(
        self, *, page: int = 1, per_page: int = 100, **filters: str | int
    ) -> SourcePage:
        return await self.search(filters, page=page, per_page=per_page)

    async def search(
        self, query: Mapping[str, Any], *, page: int = 1, per_page: int = 100
    ) -> SourcePage:
        if self.failure is not None:
            raise self.failure
        start = (page - 1) * per_page
        items = self.companies[start : start + per_page]
        return SourcePage(items, page, per_page, len(self.companies))

    async def walk_search(self, query: Mapping[str, Any]) -> AsyncIterator[Company]:
        for company in self.companies:
            yield company

    async def health(self) -> bool:
        return self.failure is None


class MemoryExternalStore:
    """Stores companies and searches in dicts; the search matches UF and primary CNAE only."""

    def __init__(self) -> None:
        self.companies: dict[str, tuple[ExternalCompany, str, dt.datetime]] = {}
        self.searches: dict[str, StoredSearch] = {}

    async def recent_search(self, query_key: str, since: dt.datetime) -> StoredSearch | None:
        search = self.searches.get(query_key)
        return search if search is not None and search.fetched_at >= since else None

    async def save_search(self, companies: Sequence[ExternalCompany], search: StoredSearch) -> None:
        await self.save_companies(companies, search.source, search.fetched_at)
        self.searches[search.query_key] = search

    async def save_companies(
        self, companies: Sequence[ExternalCompany], source: str, fetched_at: dt.datetime
    ) -> None:
        for company in companies:
            self.companies[company.cnpj] = (company, source, fetched_at)

    async def search(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
    ) -> Page:
        matched = sorted(
            cnpj
            for cnpj, (company, _source, _at) in self.companies.items()
            if company.uf == criteria.uf and company.cnae_primary in criteria.cnaes
        )
        chosen = matched[page.offset : page.offset + page.per_page]
        items = tuple({"cnpj": cnpj} for cnpj in chosen)
        return Page(items=items, page=page.page, per_page=page.per_page, total_items=len(matched))

    async def company(self, cnpj: Cnpj) -> tuple[dict[str, Any], dt.datetime] | None:
        stored = self.companies.get(cnpj.value)
        if stored is None:
            return None
        company, source, fetched_at = stored
        return {"cnpj": company.cnpj, "source": source}, fetched_at
