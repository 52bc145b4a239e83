"""Pre-lead search criteria: what a sales rep may ask for, validated before any query.

Codes follow Receita's layout: registration status ``02`` is ATIVA, company
size ``01`` is micro empresa, and so on. Users may write the names instead.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal

import attrs

from domain.errors import InvalidSearch
from domain.municipality import IBGE_STATE_PREFIXES, UFS

UF_BY_IBGE_PREFIX = {prefix: uf for uf, prefix in IBGE_STATE_PREFIXES.items()}

#: Situação cadastral codes of the Estabelecimentos file.
REGISTRATION_STATUS = {
    "01": "NULA",
    "02": "ATIVA",
    "03": "SUSPENSA",
    "04": "INAPTA",
    "08": "BAIXADA",
}
#: Porte codes of the Empresas file (the layout PDF prints 1/2/03/05; the data has 00/01/03/05).
COMPANY_SIZE = {"00": "NÃO INFORMADO", "01": "MICRO EMPRESA", "03": "EMPRESA DE PEQUENO PORTE",
                "05": "DEMAIS"}  # fmt: skip
_COMPANY_SIZE_NAMES = {"NAO_INFORMADO": "00", "ME": "01", "MICRO_EMPRESA": "01", "EPP": "03",
                       "EMPRESA_DE_PEQUENO_PORTE": "03", "DEMAIS": "05"}  # fmt: skip

MAX_CNAES = 50
MAX_MUNICIPALITIES = 100

_CNAE_FORMATTING = re.compile(r"[.\-/\s]")
_CNAE = re.compile(r"[0-9]{7}")
_IBGE = re.compile(r"[0-9]{7}")


class PhoneRequirement(enum.StrEnum):
    ANY = "any"
    MOBILE = "mobile"
    LANDLINE = "landline"


def parse_cnae(text: str) -> str:
    """Accept ``6204000`` or the formatted ``6204-0/00`` and return the 7 digits."""
    code = _CNAE_FORMATTING.sub("", text)
    if not _CNAE.fullmatch(code):
        raise InvalidSearch(
            f"CNAE inválido '{text}': informe a subclasse com 7 dígitos, como 6204000 ou 6204-0/00.",
            field="cnaes",
            code="invalid_cnae",
        )
    return code


def parse_registration_status(text: str) -> str:
    upper = text.strip().upper()
    if upper in REGISTRATION_STATUS:
        return upper
    for code, name in REGISTRATION_STATUS.items():
        if name == upper:
            return code
    raise InvalidSearch(
        f"Situação cadastral inválida '{text}': use ATIVA, BAIXADA, INAPTA, SUSPENSA ou NULA.",
        field="registration_status",
        code="invalid_registration_status",
    )


def parse_company_size(text: str) -> str:
    upper = text.strip().upper()
    if upper in COMPANY_SIZE:
        return upper
    if upper in _COMPANY_SIZE_NAMES:
        return _COMPANY_SIZE_NAMES[upper]
    raise InvalidSearch(
        f"Porte inválido '{text}': use ME, EPP, DEMAIS ou NAO_INFORMADO.",
        field="company_size",
        code="invalid_company_size",
    )


@attrs.frozen(kw_only=True)
class SearchCriteria:
    """A validated pre-lead search. Build it with :meth:`create`."""

    cnaes: tuple[str, ...]
    include_secondary: bool = False
    uf: str
    municipalities: tuple[str, ...] = ()
    registration_statuses: tuple[str, ...] = ("02",)
    company_sizes: tuple[str, ...] = ()
    opened_from: dt.date | None = None
    opened_to: dt.date | None = None
    share_capital_min: Decimal | None = None
    share_capital_max: Decimal | None = None
    simples: bool | None = None
    mei: bool | None = None
    phone: PhoneRequirement | None = None
    has_email: bool | None = None
    exclude_shared_contacts: bool = False
    head_office_only: bool = False
    exclude_existing: bool = False

    @classmethod
    def create(
        cls,
        *,
        cnaes: list[str],
        uf: str | None = None,
        municipalities: list[str] | None = None,
        registration_statuses: list[str] | None = None,
        company_sizes: list[str] | None = None,
        **filters: object,
    ) -> SearchCriteria:
        """Validate raw values (as typed by a person) and build the criteria."""
        if not cnaes:
            raise InvalidSearch("Informe ao menos um CNAE.", field="cnaes", code="missing_cnae")
        if len(cnaes) > MAX_CNAES:
            raise InvalidSearch(
                f"No máximo {MAX_CNAES} CNAEs por busca; foram informados {len(cnaes)}.",
                field="cnaes",
                code="too_many_cnaes",
            )
        codes = tuple(dict.fromkeys(parse_cnae(c) for c in cnaes))

        municipalities = municipalities or []
        if len(municipalities) > MAX_MUNICIPALITIES:
            raise InvalidSearch(
                f"No máximo {MAX_MUNICIPALITIES} municípios por busca.",
                field="municipio_ibge",
                code="too_many_municipalities",
            )
        for code in municipalities:
            if not _IBGE.fullmatch(code) or code[:2] not in UF_BY_IBGE_PREFIX:
                raise InvalidSearch(
                    f"Código IBGE de município inválido '{code}': são 7 dígitos que começam "
                    "pelo código do estado (35 em SP), como 3550308.",
                    field="municipio_ibge",
                    code="invalid_municipality",
                )

        resolved_uf = _resolve_uf(uf, municipalities)

        statuses = tuple(
            dict.fromkeys(parse_registration_status(s) for s in (registration_statuses or ["02"]))
        )
        sizes = tuple(dict.fromkeys(parse_company_size(s) for s in (company_sizes or [])))

        criteria = cls(
            cnaes=codes,
            uf=resolved_uf,
            municipalities=tuple(dict.fromkeys(municipalities)),
            registration_statuses=statuses,
            company_sizes=sizes,
            **filters,  # type: ignore[arg-type]
        )
        criteria._check_ranges()
        return criteria

    def _check_ranges(self) -> None:
        if self.opened_from and self.opened_to and self.opened_from > self.opened_to:
            raise InvalidSearch(
                "A data de abertura inicial é posterior à final.",
                field="opened_from",
                code="invalid_range",
            )
        low, high = self.share_capital_min, self.share_capital_max
        if (low is not None and low < 0) or (high is not None and high < 0):
            raise InvalidSearch(
                "O capital social não pode ser negativo.",
                field="share_capital_min",
                code="invalid_range",
            )
        if low is not None and high is not None and low > high:
            raise InvalidSearch(
                "O capital social mínimo é maior que o máximo.",
                field="share_capital_min",
                code="invalid_range",
            )


def _resolve_uf(uf: str | None, municipalities: list[str]) -> str:
    """Take the UF as given, or from the municipalities' IBGE codes, and check they agree."""
    states = {UF_BY_IBGE_PREFIX[code[:2]] for code in municipalities}
    if uf is None or uf.strip() == "":
        if len(states) == 1:
            return states.pop()
        raise InvalidSearch(
            "Informe a UF (ou municípios de uma só UF).", field="uf", code="missing_uf"
        )

    normalised = uf.strip().upper()
    if normalised not in UFS:
        raise InvalidSearch(
            f"UF inválida '{uf}': use a sigla de um dos 27 estados, ou EX para o exterior.",
            field="uf",
            code="invalid_uf",
        )
    outside = sorted(c for c in municipalities if UF_BY_IBGE_PREFIX[c[:2]] != normalised)
    if outside:
        raise InvalidSearch(
            f"Municípios fora da UF {normalised}: {', '.join(outside)}.",
            field="municipio_ibge",
            code="municipality_outside_uf",
        )
    return normalised


@attrs.frozen
class PageRequest:
    page: int = 1
    per_page: int = 50

    @classmethod
    def create(cls, page: int, per_page: int, max_per_page: int) -> PageRequest:
        if page < 1:
            raise InvalidSearch("A página começa em 1.", field="page", code="invalid_page")
        if not 1 <= per_page <= max_per_page:
            raise InvalidSearch(
                f"per_page deve estar entre 1 e {max_per_page}.",
                field="per_page",
                code="invalid_per_page",
            )
        return cls(page, per_page)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@attrs.frozen
class Page:
    """One page of results and the totals the ``meta`` block reports."""

    items: tuple[object, ...]
    page: int
    per_page: int
    total_items: int

    @property
    def total_pages(self) -> int:
        return (self.total_items + self.per_page - 1) // self.per_page
