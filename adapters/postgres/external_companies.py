"""The ``ExternalCompanyStore`` port over ``external_company`` and ``external_search``.

The search applies the filters of the registry search (``registry_queries``)
to the stored columns. Contacts are stored as E.164 phones and one valid
e-mail, so a phone's kind comes from its shape and the shared-contact check
looks the values up in ``registry.shared_contact`` of the live month.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import raw_connection
from adapters.postgres.sql import SqlParams, coded, not_selected_or_lead
from application.external_companies import ExternalCompany, StoredSearch
from domain.cnpj import Cnpj
from domain.search import (
    COMPANY_SIZE,
    REGISTRATION_STATUS,
    Page,
    PageRequest,
    PhoneRequirement,
    SearchCriteria,
)

#: E.164 shapes of Brazilian numbers: a mobile has 9 digits starting with 9 after
#: the area code, a landline 8 digits starting with 2 to 5 (see domain.normalization).
MOBILE_PATTERN = r"^\+55[0-9]{2}9[0-9]{8}$"
LANDLINE_PATTERN = r"^\+55[0-9]{2}[2-5][0-9]{7}$"
_PHONE_PATTERNS = {
    PhoneRequirement.ANY: r"^\+55[0-9]{2}(9[0-9]{8}|[2-5][0-9]{7})$",
    PhoneRequirement.MOBILE: MOBILE_PATTERN,
    PhoneRequirement.LANDLINE: LANDLINE_PATTERN,
}

_UPSERT = """
    INSERT INTO external_company (
        cnpj, source, fetched_at, legal_name, trade_name, cnae_primary, cnaes_secondary,
        uf, ibge_code, registration_status, company_size, share_capital, simples_opted,
        mei_opted, opening_date, is_head_office, phones, email, address, payload
    )
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19::jsonb, $20::jsonb)
    ON CONFLICT (cnpj) DO UPDATE SET
        source = EXCLUDED.source,
        fetched_at = EXCLUDED.fetched_at,
        legal_name = EXCLUDED.legal_name,
        trade_name = EXCLUDED.trade_name,
        cnae_primary = EXCLUDED.cnae_primary,
        cnaes_secondary = EXCLUDED.cnaes_secondary,
        uf = EXCLUDED.uf,
        ibge_code = EXCLUDED.ibge_code,
        registration_status = EXCLUDED.registration_status,
        company_size = EXCLUDED.company_size,
        share_capital = EXCLUDED.share_capital,
        simples_opted = EXCLUDED.simples_opted,
        mei_opted = EXCLUDED.mei_opted,
        opening_date = EXCLUDED.opening_date,
        is_head_office = EXCLUDED.is_head_office,
        phones = EXCLUDED.phones,
        email = EXCLUDED.email,
        address = EXCLUDED.address,
        payload = EXCLUDED.payload
"""

_SAVE_SEARCH = """
    INSERT INTO external_search (query_key, source, query, fetched_at, total_items, stored_items)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6)
    ON CONFLICT (query_key) DO UPDATE SET
        source = EXCLUDED.source,
        query = EXCLUDED.query,
        fetched_at = EXCLUDED.fetched_at,
        total_items = EXCLUDED.total_items,
        stored_items = EXCLUDED.stored_items
"""

_ITEM_SELECT = """
    SELECT x.cnpj, x.source, x.fetched_at, x.legal_name, x.trade_name, x.cnae_primary,
           x.cnaes_secondary, x.uf, x.ibge_code, x.registration_status, x.company_size,
           x.share_capital, x.simples_opted, x.mei_opted, x.opening_date, x.is_head_office,
           x.phones, x.email, x.address::text AS address_json,
           cn.description AS cnae_description,
           ARRAY(SELECT ph FROM unnest(x.phones) AS ph
                 WHERE EXISTS (SELECT 1 FROM registry.shared_contact sc
                               WHERE sc.kind = 'phone' AND sc.value = ph)) AS shared_phones,
           EXISTS (SELECT 1 FROM registry.shared_contact sc
                   WHERE sc.kind = 'email' AND sc.value = x.email) AS email_shared
"""


def _shared(kind: str, value: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM registry.shared_contact sc "
        f"WHERE sc.kind = '{kind}' AND sc.value = {value})"
    )


def build_external_search_sql(
    criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
) -> tuple[str, list[Any]]:
    """Return the search statement over ``external_company`` and its parameters."""
    params = SqlParams()
    where = [f"x.uf = {params.add(criteria.uf)}"]

    cnaes = params.add(list(criteria.cnaes))
    if criteria.include_secondary:
        where.append(
            f"(x.cnae_primary = ANY({cnaes}::text[]) OR x.cnaes_secondary && {cnaes}::text[])"
        )
    else:
        where.append(f"x.cnae_primary = ANY({cnaes}::text[])")

    if criteria.municipalities:
        where.append(f"x.ibge_code = ANY({params.add(list(criteria.municipalities))}::text[])")
    if criteria.registration_statuses:
        where.append(
            f"x.registration_status = ANY({params.add(list(criteria.registration_statuses))}::text[])"
        )
    if criteria.company_sizes:
        where.append(f"x.company_size = ANY({params.add(list(criteria.company_sizes))}::text[])")
    if criteria.head_office_only:
        where.append("x.is_head_office")
    if criteria.opened_from is not None:
        where.append(f"x.opening_date >= {params.add(criteria.opened_from)}")
    if criteria.opened_to is not None:
        where.append(f"x.opening_date <= {params.add(criteria.opened_to)}")
    if criteria.share_capital_min is not None:
        where.append(f"x.share_capital >= {params.add(criteria.share_capital_min)}")
    if criteria.share_capital_max is not None:
        where.append(f"x.share_capital <= {params.add(criteria.share_capital_max)}")
    if criteria.simples is not None:
        where.append(f"coalesce(x.simples_opted, false) = {params.add(criteria.simples)}")
    if criteria.mei is not None:
        where.append(f"coalesce(x.mei_opted, false) = {params.add(criteria.mei)}")

    where.extend(_contact_conditions(criteria, params))

    if criteria.exclude_existing and tenant_id is not None:
        tenant = params.add(uuid.UUID(tenant_id))
        where.extend(not_selected_or_lead("x.cnpj", tenant))

    limit = params.add(page.per_page)
    offset = params.add(page.offset)
    sql = f"""
        WITH matched AS MATERIALIZED (
            SELECT x.cnpj FROM external_company x WHERE {" AND ".join(where)}
        )
        SELECT t.total, p.*
        FROM (SELECT count(*) AS total FROM matched) t
        LEFT JOIN LATERAL (
            {_ITEM_SELECT}
            FROM (SELECT cnpj FROM matched ORDER BY cnpj LIMIT {limit} OFFSET {offset}) pg
            JOIN external_company x ON x.cnpj = pg.cnpj
            LEFT JOIN registry.cnae cn ON cn.code = x.cnae_primary
            ORDER BY x.cnpj
        ) p ON true
    """
    return sql, params.values


def _contact_conditions(criteria: SearchCriteria, params: SqlParams) -> list[str]:
    """Phone and e-mail filters; with ``exclude_shared_contacts`` only own contacts count."""
    shared_off = criteria.exclude_shared_contacts
    conditions: list[str] = []

    if criteria.phone is not None:
        pattern = params.add(_PHONE_PATTERNS[criteria.phone])
        own = f" AND NOT {_shared('phone', 'ph')}" if shared_off else ""
        conditions.append(
            f"EXISTS (SELECT 1 FROM unnest(x.phones) AS ph WHERE ph ~ {pattern}{own})"
        )

    own_email = f"(x.email IS NOT NULL AND NOT {_shared('email', 'x.email')})"
    email = own_email if shared_off else "x.email IS NOT NULL"
    if criteria.has_email is True:
        conditions.append(email)
    elif criteria.has_email is False:
        conditions.append(f"NOT coalesce({email}, false)")

    if shared_off:
        # Like the registry search: leave out companies whose every contact is
        # shared (typically their accountant's); those without any are kept.
        any_contact = "(cardinality(x.phones) > 0 OR x.email IS NOT NULL)"
        own_contact = (
            f"(EXISTS (SELECT 1 FROM unnest(x.phones) AS ph WHERE NOT {_shared('phone', 'ph')}) "
            f"OR {own_email})"
        )
        conditions.append(f"(NOT {any_contact} OR {own_contact})")
    return conditions


def _phone_kind(number: str) -> str:
    if number[5:6] == "9" and len(number) == 14:
        return "mobile"
    return "landline"


def external_item(row: asyncpg.Record) -> dict[str, Any]:
    """Project one stored company with the keys of a registry search result."""
    cnpj = Cnpj(row["cnpj"])
    address = json.loads(row["address_json"]) if row["address_json"] else {}
    shared_phones = set(row["shared_phones"] or [])
    size = row["company_size"]
    share_capital = row["share_capital"]
    return {
        "cnpj": cnpj.value,
        "cnpj_formatted": cnpj.formatted(),
        "legal_name": row["legal_name"],
        "trade_name": row["trade_name"],
        "head_office": bool(row["is_head_office"]),
        "registration_status": {
            "code": row["registration_status"],
            "description": REGISTRATION_STATUS.get(row["registration_status"] or ""),
        },
        "opening_date": row["opening_date"].isoformat() if row["opening_date"] else None,
        "cnae_primary": {"code": row["cnae_primary"], "description": row["cnae_description"]},
        "cnaes_secondary": list(row["cnaes_secondary"] or []),
        "company_size": coded(size, COMPANY_SIZE.get(size or "")),
        "share_capital": f"{share_capital:.2f}" if share_capital is not None else None,
        "simples_opted": row["simples_opted"],
        "mei_opted": row["mei_opted"],
        "address": {
            "street_type": address.get("street_type"),
            "street": address.get("street"),
            "number": address.get("number"),
            "complement": address.get("complement"),
            "district": address.get("district"),
            "cep": address.get("cep"),
            "uf": row["uf"],
            "municipality": {
                "ibge_code": row["ibge_code"],
                "tom_code": address.get("tom_code"),
                "name": address.get("municipality_name"),
            },
        },
        "phones": [
            {"number": number, "kind": _phone_kind(number), "shared": number in shared_phones}
            for number in row["phones"] or []
        ],
        "email": (
            {"address": row["email"], "valid": True, "shared": bool(row["email_shared"])}
            if row["email"] is not None
            else None
        ),
    }


def external_detail(row: asyncpg.Record) -> dict[str, Any]:
    """Project one stored company as a company detail; what the source lacks stays empty."""
    detail = external_item(row)
    cnpj = Cnpj(row["cnpj"])
    detail.update(
        {
            "status_date": None,
            "status_reason": None,
            "special_status": None,
            "special_status_date": None,
            "country": None,
            "foreign_city": None,
            "quality_flags": [],
            "cnaes_secondary_descriptions": [
                {"code": code, "description": None} for code in detail["cnaes_secondary"]
            ],
            "company": {
                "cnpj_root": cnpj.root,
                "legal_name": row["legal_name"],
                "legal_name_had_cpf": False,
                "legal_nature": None,
                "responsible_qualification": None,
                "share_capital": detail["share_capital"],
                "company_size": detail["company_size"],
                "federative_entity": None,
            },
            "partners": [],
            "simples": _regime(row["simples_opted"]),
            "mei": _regime(row["mei_opted"]),
            "snapshot": None,
            "source": row["source"],
        }
    )
    return detail


def _regime(opted: bool | None) -> dict[str, Any] | None:
    if opted is None:
        return None
    return {"opted": opted, "since": None, "until": None}


def _company_values(
    company: ExternalCompany, source: str, fetched_at: dt.datetime
) -> tuple[Any, ...]:
    return (
        company.cnpj,
        source,
        fetched_at,
        company.legal_name,
        company.trade_name,
        company.cnae_primary,
        list(company.cnaes_secondary),
        company.uf,
        company.ibge_code,
        company.registration_status,
        company.company_size,
        company.share_capital,
        company.simples_opted,
        company.mei_opted,
        company.opening_date,
        company.is_head_office,
        list(company.phones),
        company.email,
        json.dumps(dict(company.address), ensure_ascii=False),
        json.dumps(dict(company.payload), ensure_ascii=False, default=_json_default),
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class PostgresExternalCompanies:
    """Store of external companies and their searches; only ``exclude_existing`` reads tenant rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def recent_search(self, query_key: str, since: dt.datetime) -> StoredSearch | None:
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow(
                "SELECT query_key, source, query::text AS query_json, fetched_at, total_items, "
                "stored_items FROM external_search WHERE query_key = $1 AND fetched_at >= $2",
                query_key,
                since,
            )
        if row is None:
            return None
        return StoredSearch(
            query_key=row["query_key"],
            source=row["source"],
            query=json.loads(row["query_json"]),
            fetched_at=row["fetched_at"],
            total_items=row["total_items"],
            stored_items=row["stored_items"],
        )

    async def save_search(self, companies: Sequence[ExternalCompany], search: StoredSearch) -> None:
        async with raw_connection(self._engine) as conn, conn.transaction():
            await self._upsert(conn, companies, search.source, search.fetched_at)
            await conn.execute(
                _SAVE_SEARCH,
                search.query_key,
                search.source,
                json.dumps(dict(search.query), ensure_ascii=False, sort_keys=True),
                search.fetched_at,
                search.total_items,
                search.stored_items,
            )

    async def save_companies(
        self, companies: Sequence[ExternalCompany], source: str, fetched_at: dt.datetime
    ) -> None:
        async with raw_connection(self._engine) as conn, conn.transaction():
            await self._upsert(conn, companies, source, fetched_at)

    async def _upsert(
        self,
        conn: asyncpg.Connection,
        companies: Sequence[ExternalCompany],
        source: str,
        fetched_at: dt.datetime,
    ) -> None:
        if companies:
            await conn.executemany(
                _UPSERT, [_company_values(company, source, fetched_at) for company in companies]
            )

    async def search(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
    ) -> Page:
        sql, values = build_external_search_sql(criteria, page, tenant_id)
        async with raw_connection(self._engine) as conn, conn.transaction(readonly=True):
            if tenant_id is not None:
                # Row-level security on prelead and lead reads this setting.
                await conn.execute("SELECT set_config('garimpo.tenant_id', $1, true)", tenant_id)
            rows = await conn.fetch(sql, *values)
        total = rows[0]["total"] if rows else 0
        items = tuple(external_item(row) for row in rows if row["cnpj"] is not None)
        return Page(items=items, page=page.page, per_page=page.per_page, total_items=total)

    async def company(self, cnpj: Cnpj) -> tuple[dict[str, Any], dt.datetime] | None:
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow(
                f"""
                {_ITEM_SELECT}
                FROM external_company x
                LEFT JOIN registry.cnae cn ON cn.code = x.cnae_primary
                WHERE x.cnpj = $1
                """,
                cnpj.value,
            )
        if row is None:
            return None
        fetched_at: dt.datetime = row["fetched_at"]
        return external_detail(row), fetched_at
