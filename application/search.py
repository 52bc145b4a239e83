"""Find pre-leads in the registry and read one company in full.

Both go through the read-side ``CompanyQueries`` port: search results are
projections for a list, not aggregates to change.

When an external company source is configured, both fall back to it. A
search in ``auto`` mode that finds nothing locally sends the criteria to the
source, stores what comes back in ``ExternalCompanyStore`` and returns a page of
the stored rows. The same query within ``search_ttl`` is served from the
stored rows without calling the source again, in ``auto`` and ``api-cnaes``
mode alike, so a paid query runs once per TTL. A failing source does not fail
the search, because the local results come back with a warning.

NOTE: two identical searches that start together both call the source,
because nothing locks the query key while the first one fetches.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import structlog

from application.company_source import CompanySource, CompanySourceError, SourceErrorKind
from application.external_companies import (
    API_CNAES,
    ExternalCompany,
    ExternalCompanyStore,
    ExternalSourceFailed,
    ExternalSourceOff,
    StoredSearch,
    normalise_company,
    query_key,
    source_query,
)
from domain.cnpj import Cnpj
from domain.errors import InvalidSearch, NotFound
from domain.search import Page, PageRequest, SearchCriteria

log = structlog.get_logger(__name__)

#: Name reported as ``meta.source`` for results of the local registry.
LOCAL = "local"

#: How long the rows stored for a query sent to the external source serve that query.
DEFAULT_SEARCH_TTL = dt.timedelta(hours=12)
#: Companies one fallback search fetches and stores at most; beyond it the page warns.
DEFAULT_MAX_FETCHED = 1000
#: Page size of the fetch from the external source, the largest its client walks with.
FETCH_PAGE_SIZE = 100


class SearchSource(enum.StrEnum):
    """Search scope: ``auto`` falls back to api-cnaes when the registry has no result."""

    LOCAL = "local"
    AUTO = "auto"
    API_CNAES = "api-cnaes"


@attrs.frozen
class SearchWarning:
    """Notice about a page that was still returned: a stable code and a pt-BR message."""

    code: str
    message: str


@attrs.frozen
class SourcedPage(Page):
    """A page of search results with the source it came from and its warnings."""

    source: str = LOCAL
    warnings: tuple[SearchWarning, ...] = ()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CompanyQueries(Protocol):
    async def unknown_cnaes(self, codes: tuple[str, ...]) -> list[str]:
        """Return the codes absent from the registry's CNAE table (none when it is empty)."""

    async def unknown_municipalities(self, codes: tuple[str, ...]) -> list[str]:
        """Return the IBGE codes no municipality of the live month has (none when it has none)."""

    async def search(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
    ) -> Page:
        """Return one page of establishments matching ``criteria``, ordered by CNPJ."""

    async def establishment(self, cnpj: Cnpj) -> dict[str, Any] | None:
        """Return the establishment with its company, partners and Simples data, codes resolved."""


class SearchPreLeads:
    """Search the registry for pre-leads; selecting them comes later and costs nothing.

    Without ``source`` and ``store`` the search is local only, and a request
    for ``api-cnaes`` raises ``ExternalSourceOff``.
    """

    def __init__(
        self,
        queries: CompanyQueries,
        source: CompanySource | None = None,
        store: ExternalCompanyStore | None = None,
        *,
        search_ttl: dt.timedelta = DEFAULT_SEARCH_TTL,
        max_fetched: int = DEFAULT_MAX_FETCHED,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._queries = queries
        self._source = source
        self._store = store
        self._search_ttl = search_ttl
        self._max_fetched = max_fetched
        self._clock = clock

    async def __call__(
        self,
        criteria: SearchCriteria,
        page: PageRequest,
        tenant_id: str | None = None,
        source: SearchSource = SearchSource.AUTO,
    ) -> SourcedPage:
        await self._check_criteria(criteria, tenant_id)

        external = self._external()
        if source is SearchSource.API_CNAES and external is None:
            raise ExternalSourceOff(
                "A busca na api-cnaes está desligada nesta instalação (API_CNAES_URL não "
                'configurada). Use "source": "local" ou "auto", ou peça ao administrador do '
                "Garimpo para configurar a api-cnaes.",
                field="source",
            )

        local: Page | None = None
        if source is not SearchSource.API_CNAES:
            local = await self._queries.search(criteria, page, tenant_id)
            if source is SearchSource.LOCAL or local.total_items > 0 or external is None:
                return _checked(_sourced(local, LOCAL), page)

        assert external is not None
        company_source, store = external
        try:
            stored = await self._fetch(company_source, store, criteria)
        except CompanySourceError as error:
            warning = _failure_warning(error)
            log.warning(
                "external_search_failed",
                source=API_CNAES,
                kind=error.kind.value,
                status=error.status,
                error_code=error.code,
                error=error.message,
                warning=warning.code,
            )
            if local is None:
                local = await self._queries.search(criteria, page, tenant_id)
            return _checked(_sourced(local, LOCAL, (warning,)), page)

        found = await store.search(criteria, page, tenant_id)
        warnings: tuple[SearchWarning, ...] = ()
        if stored.stored_items < stored.total_items:
            warnings = (_partial_warning(stored),)
        return _checked(_sourced(found, API_CNAES, warnings), page)

    def _external(self) -> tuple[CompanySource, ExternalCompanyStore] | None:
        if self._source is None or self._store is None:
            return None
        return self._source, self._store

    async def _check_criteria(self, criteria: SearchCriteria, tenant_id: str | None) -> None:
        unknown = await self._queries.unknown_cnaes(criteria.cnaes)
        if unknown:
            raise InvalidSearch(
                f"CNAE desconhecido: {', '.join(unknown)}. Confira o código da subclasse.",
                field="cnaes",
                code="unknown_cnae",
            )
        missing = await self._queries.unknown_municipalities(criteria.municipalities)
        if missing:
            raise InvalidSearch(
                f"Município não encontrado na base atual: {', '.join(missing)}. Confira o código "
                "IBGE; se ele estiver certo, a última carga não trouxe a tabela de municípios "
                "com o código IBGE dele.",
                field="municipio_ibge",
                code="unknown_municipality",
            )
        if criteria.exclude_existing and tenant_id is None:
            raise InvalidSearch(
                "Excluir pré-leads e leads existentes exige um tenant autenticado.",
                field="exclude_existing",
                code="tenant_required",
            )

    async def _fetch(
        self, source: CompanySource, store: ExternalCompanyStore, criteria: SearchCriteria
    ) -> StoredSearch:
        """Return the stored search for ``criteria``, fetching it from the source when stale."""
        query = source_query(criteria)
        key = query_key(API_CNAES, query)
        now = self._clock()
        recent = await store.recent_search(key, now - self._search_ttl)
        if recent is not None:
            log.info("external_search_reused", source=API_CNAES, query_key=key)
            return recent

        companies: dict[str, ExternalCompany] = {}
        received = 0
        total = 0
        page_number = 1
        try:
            while received < self._max_fetched:
                result = await source.search(query, page=page_number, per_page=FETCH_PAGE_SIZE)
                total = result.total_items
                received += len(result.items)
                for raw in result.items:
                    company = normalise_company(raw)
                    if company is not None and len(companies) < self._max_fetched:
                        companies[company.cnpj] = company
                if not result.items or received >= total:
                    break
                page_number += 1
        except CompanySourceError:
            # Keep the pages already paid for; the search record is left out,
            # so the next request calls the source again.
            if companies:
                await store.save_companies(list(companies.values()), API_CNAES, now)
            raise

        search = StoredSearch(
            query_key=key,
            source=API_CNAES,
            query=query,
            fetched_at=now,
            total_items=max(total, len(companies)),
            stored_items=len(companies),
        )
        await store.save_search(list(companies.values()), search)
        log.info(
            "external_search_stored",
            source=API_CNAES,
            query_key=key,
            total_items=search.total_items,
            stored_items=search.stored_items,
            pages=page_number,
        )
        return search


def _sourced(page: Page, source: str, warnings: tuple[SearchWarning, ...] = ()) -> SourcedPage:
    return SourcedPage(
        items=page.items,
        page=page.page,
        per_page=page.per_page,
        total_items=page.total_items,
        source=source,
        warnings=warnings,
    )


def _checked(result: SourcedPage, page: PageRequest) -> SourcedPage:
    if page.page > 1 and page.page > result.total_pages:
        raise InvalidSearch(
            f"A página {page.page} não existe: a busca tem {result.total_pages} página(s).",
            field="page",
            code="page_out_of_range",
        )
    return result


_LOCAL_ONLY = "Mostramos só os resultados da base local."

#: Warning code and pt-BR text for each way the external source can fail.
_FAILURE_WARNINGS = {
    SourceErrorKind.TIMEOUT: SearchWarning(
        "api_cnaes_timeout", f"A api-cnaes não respondeu a tempo. {_LOCAL_ONLY}"
    ),
    SourceErrorKind.UNAVAILABLE: SearchWarning(
        "api_cnaes_unavailable",
        f"A api-cnaes está indisponível no momento; tente de novo em alguns minutos. {_LOCAL_ONLY}",
    ),
    SourceErrorKind.RATE_LIMITED: SearchWarning(
        "api_cnaes_rate_limited",
        "A api-cnaes recusou a consulta por excesso de requisições; tente de novo em alguns "
        f"minutos. {_LOCAL_ONLY}",
    ),
    SourceErrorKind.SERVER_ERROR: SearchWarning(
        "api_cnaes_failed", f"A api-cnaes respondeu com erro. {_LOCAL_ONLY}"
    ),
    SourceErrorKind.CLIENT_ERROR: SearchWarning(
        "api_cnaes_failed", f"A api-cnaes recusou a consulta. {_LOCAL_ONLY}"
    ),
}


def _failure_warning(error: CompanySourceError) -> SearchWarning:
    return _FAILURE_WARNINGS[error.kind]


def _partial_warning(search: StoredSearch) -> SearchWarning:
    return SearchWarning(
        "api_cnaes_partial",
        f"A api-cnaes tem {search.total_items} resultados para esta busca e guardamos os "
        f"primeiros {search.stored_items}. Filtre por município ou por menos CNAEs para ver "
        "os demais.",
    )


class GetCompany:
    """Read one establishment by CNPJ with its company, partners and Simples data.

    A CNPJ missing from the registry is looked up in the external source when
    there is one: a stored copy younger than ``ttl`` answers at once, and a
    fetched company is stored before it is returned.
    """

    def __init__(
        self,
        queries: CompanyQueries,
        source: CompanySource | None = None,
        store: ExternalCompanyStore | None = None,
        *,
        ttl: dt.timedelta = DEFAULT_SEARCH_TTL,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._queries = queries
        self._source = source
        self._store = store
        self._ttl = ttl
        self._clock = clock

    async def __call__(self, cnpj_text: str) -> dict[str, Any]:
        cnpj = Cnpj.parse(cnpj_text)
        found = await self._queries.establishment(cnpj)
        if found is not None:
            return {**found, "source": LOCAL}
        if self._source is None or self._store is None:
            raise _company_not_found(cnpj, "na base atual")

        now = self._clock()
        stored = await self._store.company(cnpj)
        if stored is not None and stored[1] >= now - self._ttl:
            return stored[0]

        try:
            raw = await self._source.get_company(cnpj.value)
        except CompanySourceError as error:
            log.warning(
                "external_company_fetch_failed",
                source=API_CNAES,
                cnpj=cnpj.value,
                kind=error.kind.value,
                status=error.status,
                error_code=error.code,
                error=error.message,
            )
            if stored is not None:
                # An older copy beats no answer while the source is down.
                return stored[0]
            raise ExternalSourceFailed(
                f"O CNPJ {cnpj.formatted()} não está na base local e a api-cnaes não pôde ser "
                "consultada agora. Tente de novo em alguns minutos.",
                code="api_cnaes_unavailable",
            ) from error

        company = normalise_company(raw) if raw is not None else None
        if company is None or company.cnpj != cnpj.value:
            raise _company_not_found(cnpj, "na base atual nem na api-cnaes")
        await self._store.save_companies([company], API_CNAES, now)

        saved = await self._store.company(cnpj)
        if saved is None:
            raise _company_not_found(cnpj, "na base atual nem na api-cnaes")
        return saved[0]


def _company_not_found(cnpj: Cnpj, where: str) -> NotFound:
    return NotFound(
        f"Nenhum estabelecimento com o CNPJ {cnpj.formatted()} {where}.",
        field="cnpj",
        code="company_not_found",
    )
