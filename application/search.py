"""Find pre-leads in the registry and read one company in full.

Both go through the read-side ``CompanyQueries`` port: search results are
projections for a list, not aggregates to change.
"""

from __future__ import annotations

from typing import Any, Protocol

from domain.cnpj import Cnpj
from domain.errors import InvalidSearch, NotFound
from domain.search import Page, PageRequest, SearchCriteria


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
    """Search the registry for pre-leads; selecting them comes later and costs nothing."""

    def __init__(self, queries: CompanyQueries) -> None:
        self._queries = queries

    async def __call__(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None = None
    ) -> Page:
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

        result = await self._queries.search(criteria, page, tenant_id)
        if page.page > 1 and page.page > result.total_pages:
            raise InvalidSearch(
                f"A página {page.page} não existe: a busca tem {result.total_pages} página(s).",
                field="page",
                code="page_out_of_range",
            )
        return result


class GetCompany:
    """Read one establishment by CNPJ with its company, partners and Simples data."""

    def __init__(self, queries: CompanyQueries) -> None:
        self._queries = queries

    async def __call__(self, cnpj_text: str) -> dict[str, Any]:
        cnpj = Cnpj.parse(cnpj_text)
        found = await self._queries.establishment(cnpj)
        if found is None:
            raise NotFound(
                f"Nenhum estabelecimento com o CNPJ {cnpj.formatted()} na base atual.",
                field="cnpj",
                code="company_not_found",
            )
        return found
