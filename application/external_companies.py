"""Companies fetched from an external source, normalised and stored for later searches.

api-cnaes returns companies as plain dicts whose field names follow the
Receita layout as public CNPJ APIs spell it (``razao_social``,
``cnae_fiscal``, ``codigo_municipio_ibge``, ``ddd_telefone_1``...).
:func:`normalise_company` turns one of them into an :class:`ExternalCompany`
with the same codes and formats as the local registry: CNAE with 7 digits,
situação cadastral and porte as Receita codes, phones in E.164, e-mail lower
case. :func:`source_query` maps search criteria to the source's structured
query.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs
import structlog

from domain.cnpj import Cnpj
from domain.errors import Conflict, DomainError
from domain.normalization import PhoneKind, clean_text, normalize_email, normalize_phone
from domain.search import (
    COMPANY_SIZE,
    REGISTRATION_STATUS,
    Page,
    PageRequest,
    SearchCriteria,
    parse_company_size,
)

log = structlog.get_logger(__name__)

#: Name stored in ``external_company.source`` and reported as ``meta.source``.
API_CNAES = "api-cnaes"

_NON_DIGIT = re.compile(r"[^0-9]")
_STATUS_BY_NAME = {name: code for code, name in REGISTRATION_STATUS.items()}
_CENTS = decimal.Decimal("0.01")


@attrs.frozen(kw_only=True)
class ExternalCompany:
    """One establishment from an external source, in the registry's codes and formats."""

    cnpj: str
    legal_name: str | None = None
    trade_name: str | None = None
    cnae_primary: str | None = None
    cnaes_secondary: tuple[str, ...] = ()
    uf: str | None = None
    ibge_code: str | None = None
    #: Situação cadastral code, such as ``02`` for ATIVA.
    registration_status: str | None = None
    #: Porte code, such as ``01`` for micro empresa.
    company_size: str | None = None
    share_capital: decimal.Decimal | None = None
    simples_opted: bool | None = None
    mei_opted: bool | None = None
    opening_date: dt.date | None = None
    is_head_office: bool
    #: Valid mobile and landline numbers in E.164, without repeats.
    phones: tuple[str, ...] = ()
    #: Lower-cased address; None when absent or not a valid address.
    email: str | None = None
    #: Keys of the search results' ``address`` object, minus ``municipality.name`` moved in.
    address: Mapping[str, Any] = attrs.field(factory=dict)
    #: The company exactly as the source returned it.
    payload: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class StoredSearch:
    """A structured query sent to the source: when it ran and how much it returned."""

    query_key: str
    source: str
    query: Mapping[str, Any]
    fetched_at: dt.datetime
    #: Results the source reported for the query.
    total_items: int
    #: Results fetched and stored; fewer than ``total_items`` when the fetch stopped at its cap.
    stored_items: int


class ExternalCompanyStore(Protocol):
    """Storage of external companies and of the searches that brought them."""

    async def recent_search(self, query_key: str, since: dt.datetime) -> StoredSearch | None:
        """Return the search stored under ``query_key`` if it ran at or after ``since``."""
        ...

    async def save_search(self, companies: Sequence[ExternalCompany], search: StoredSearch) -> None:
        """Upsert ``companies`` and record ``search``, in one transaction."""
        ...

    async def save_companies(
        self, companies: Sequence[ExternalCompany], source: str, fetched_at: dt.datetime
    ) -> None:
        """Upsert ``companies`` without recording a search."""
        ...

    async def search(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
    ) -> Page:
        """Return one page of stored companies matching ``criteria``, ordered by CNPJ."""
        ...

    async def company(self, cnpj: Cnpj) -> tuple[dict[str, Any], dt.datetime] | None:
        """Return the stored company as a company detail, with when it was fetched."""
        ...


class ExternalSourceOff(Conflict):
    """Raised when a request names the external source and the deployment has none (409)."""

    code = "api_cnaes_off"


class ExternalSourceFailed(Exception):
    """Raised when the external source failed and nothing stored can stand in for it."""

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def source_query(criteria: SearchCriteria) -> dict[str, Any]:
    """Map criteria to the source's structured query: UF, CNAE and municipality only.

    A single value travels as a string and several as a list, read by the
    source as "any of". The other filters (situação, porte, contacts...)
    apply to the stored rows, so one fetch serves every variation of them.

    NOTE: these keys and the "list means any of" reading are what the local
    fake server implements. The wire format documented in the client names
    no query keys, so check them against the real api-cnaes.
    """
    query: dict[str, Any] = {"uf": criteria.uf, "cnae_fiscal": _one_or_many(criteria.cnaes)}
    if criteria.include_secondary:
        query["incluir_cnaes_secundarios"] = True
    if criteria.municipalities:
        query["codigo_municipio_ibge"] = _one_or_many(criteria.municipalities)
    return query


def query_key(source: str, query: Mapping[str, Any]) -> str:
    """Hash ``query`` with its source name into the key of ``external_search``."""
    canonical = json.dumps({"source": source, "query": query}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _one_or_many(values: tuple[str, ...]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


# --- normalisation of the source's companies --------------------------------


def normalise_company(raw: Mapping[str, Any]) -> ExternalCompany | None:
    """Normalise one company of the source; None when its CNPJ is missing or invalid."""
    cnpj = _cnpj(raw.get("cnpj"))
    if cnpj is None:
        log.warning("external_company_invalid_cnpj", cnpj=str(raw.get("cnpj"))[:32])
        return None

    return ExternalCompany(
        cnpj=cnpj.value,
        legal_name=_text(raw.get("razao_social")),
        trade_name=_text(raw.get("nome_fantasia")),
        cnae_primary=_cnae(raw.get("cnae_fiscal")),
        cnaes_secondary=_secondary_cnaes(raw.get("cnaes_secundarios")),
        uf=_uf(raw.get("uf")),
        ibge_code=_ibge(raw.get("codigo_municipio_ibge")),
        registration_status=_registration_status(raw),
        company_size=_company_size(raw),
        share_capital=_money(raw.get("capital_social")),
        simples_opted=_bool(raw.get("opcao_pelo_simples")),
        mei_opted=_bool(raw.get("opcao_pelo_mei")),
        opening_date=_date(raw.get("data_inicio_atividade")),
        is_head_office=_head_office(raw.get("identificador_matriz_filial"), cnpj),
        phones=_phones(raw),
        email=_email(raw.get("email")),
        address=_address(raw),
        payload=dict(raw),
    )


def _cnpj(value: Any) -> Cnpj | None:
    if not isinstance(value, str):
        return None
    try:
        return Cnpj.parse(value)
    except DomainError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return clean_text(str(value))


def _code(value: Any, width: int) -> str | None:
    """Digits of a code sent as a number or text (``6201501``, ``"62.01-5-01"``), zero-padded."""
    if value is None or isinstance(value, bool):
        return None
    digits = _NON_DIGIT.sub("", str(value))
    if not digits or len(digits) > width:
        return None
    return digits.zfill(width)


def _cnae(value: Any) -> str | None:
    code = _code(value, 7)
    # 0 is no CNAE, and some CNPJ APIs send it to mean "none".
    return None if code is None or code == "0000000" else code


def _secondary_cnaes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    codes: list[str] = []
    for item in value:
        raw = item.get("codigo") if isinstance(item, Mapping) else item
        code = _cnae(raw)
        if code is not None and code not in codes:
            codes.append(code)
    return tuple(codes)


def _uf(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text is not None and len(text) == 2 else None


def _ibge(value: Any) -> str | None:
    # No zero-padding: every IBGE municipality code has 7 digits, starting with the state's.
    if value is None or isinstance(value, bool):
        return None
    digits = _NON_DIGIT.sub("", str(value))
    return digits if len(digits) == 7 else None


def _registration_status(raw: Mapping[str, Any]) -> str | None:
    for key in ("situacao_cadastral", "descricao_situacao_cadastral"):
        value = raw.get(key)
        if value is None:
            continue
        name = str(value).strip().upper()
        if name in _STATUS_BY_NAME:
            return _STATUS_BY_NAME[name]
        code = _code(value, 2)
        if code in REGISTRATION_STATUS:
            return code
    return None


def _company_size(raw: Mapping[str, Any]) -> str | None:
    code = _code(raw.get("codigo_porte"), 2)
    if code in COMPANY_SIZE:
        return code
    name = _text(raw.get("porte"))
    if name is None:
        return None
    try:
        return parse_company_size(name.replace(" ", "_").replace("Ã", "A"))
    except DomainError:
        return None


def _money(value: Any) -> decimal.Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return amount.quantize(_CENTS)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _head_office(value: Any, cnpj: Cnpj) -> bool:
    code = _code(value, 1)
    if code in ("1", "2"):
        return code == "1"
    # Without the flag, guess from the order part: most head offices are 0001.
    return cnpj.value[8:12] == "0001"


def _phones(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Valid numbers in E.164 from ``ddd_telefone_1``/``_2`` (area code first) and ``telefones``."""
    candidates: list[tuple[str, str]] = []
    for key in ("ddd_telefone_1", "ddd_telefone_2"):
        value = raw.get(key)
        if value is not None:
            digits = _NON_DIGIT.sub("", str(value))
            candidates.append((digits[:2], digits[2:]))

    listed = raw.get("telefones")
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, Mapping):
                candidates.append((str(item.get("ddd") or ""), str(item.get("numero") or "")))
            elif item is not None:
                digits = _NON_DIGIT.sub("", str(item))
                candidates.append((digits[:2], digits[2:]))

    phones: list[str] = []
    for ddd, number in candidates:
        if not number:
            continue
        phone = normalize_phone(ddd, number)
        if phone is None or phone.kind is PhoneKind.INVALID:
            continue
        if phone.value not in phones:
            phones.append(phone.value)
    return tuple(phones)


def _email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    email = normalize_email(value)
    return email.value if email is not None and email.is_valid else None


def _address(raw: Mapping[str, Any]) -> dict[str, Any]:
    cep = _NON_DIGIT.sub("", str(raw.get("cep") or ""))
    return {
        "street_type": _text(raw.get("descricao_tipo_de_logradouro")),
        "street": _text(raw.get("logradouro")),
        "number": _text(raw.get("numero")),
        "complement": _text(raw.get("complemento")),
        "district": _text(raw.get("bairro")),
        "cep": cep if len(cep) == 8 else None,
        "municipality_name": _text(raw.get("municipio")),
        "tom_code": _code(raw.get("codigo_municipio"), 4),
    }
