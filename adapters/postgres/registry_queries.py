"""Read side of the registry: pre-lead search and the company page, in plain SQL.

The search query is assembled from the filters actually used, so PostgreSQL
plans each shape on its own instead of one catch-all plan with ``$n IS NULL
OR ...`` branches. Every value travels as a bind parameter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import raw_connection
from adapters.postgres.sql import SqlParams, coded, not_selected_or_lead
from domain.cnpj import Cnpj
from domain.registry_codes import AGE_RANGE, PARTNER_TYPE
from domain.search import (
    COMPANY_SIZE,
    REGISTRATION_STATUS,
    Page,
    PageRequest,
    PhoneRequirement,
    SearchCriteria,
)

_VALID_PHONE_KINDS = ["mobile", "landline"]


def _own(column: str, kind: str) -> str:
    """SQL that is true when ``column``'s contact is not shared by many establishments."""
    return (
        f"NOT EXISTS (SELECT 1 FROM registry.shared_contact sc "
        f"WHERE sc.kind = '{kind}' AND sc.value = {column})"
    )


def build_search_sql(
    criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
) -> tuple[str, list[Any]]:
    """Return the search statement and its parameters for ``criteria``."""
    params = SqlParams()
    where: list[str] = []
    joins: list[str] = []

    where.append(f"e.uf = {params.add(criteria.uf)}")

    cnaes = params.add(list(criteria.cnaes))
    if criteria.include_secondary:
        where.append(
            f"(e.cnae_primary = ANY({cnaes}::text[]) OR e.cnaes_secondary && {cnaes}::text[])"
        )
    else:
        where.append(f"e.cnae_primary = ANY({cnaes}::text[])")

    if criteria.municipalities:
        where.append(f"e.ibge_code = ANY({params.add(list(criteria.municipalities))}::text[])")
    if criteria.registration_statuses:
        where.append(
            f"e.registration_status = ANY({params.add(list(criteria.registration_statuses))}::text[])"
        )
    if criteria.head_office_only:
        where.append("e.is_head_office")
    if criteria.opened_from is not None:
        where.append(f"e.opening_date >= {params.add(criteria.opened_from)}")
    if criteria.opened_to is not None:
        where.append(f"e.opening_date <= {params.add(criteria.opened_to)}")

    needs_company = (
        criteria.company_sizes
        or criteria.share_capital_min is not None
        or criteria.share_capital_max is not None
    )
    if needs_company:
        joins.append("JOIN registry.company c ON c.cnpj_root = e.cnpj_root")
        if criteria.company_sizes:
            where.append(
                f"c.company_size = ANY({params.add(list(criteria.company_sizes))}::text[])"
            )
        if criteria.share_capital_min is not None:
            where.append(f"c.share_capital >= {params.add(criteria.share_capital_min)}")
        if criteria.share_capital_max is not None:
            where.append(f"c.share_capital <= {params.add(criteria.share_capital_max)}")

    if criteria.simples is not None or criteria.mei is not None:
        joins.append("LEFT JOIN registry.simples s ON s.cnpj_root = e.cnpj_root")
        if criteria.simples is not None:
            where.append(f"coalesce(s.simples_opted, false) = {params.add(criteria.simples)}")
        if criteria.mei is not None:
            where.append(f"coalesce(s.mei_opted, false) = {params.add(criteria.mei)}")

    where.extend(_contact_conditions(criteria, params))

    if criteria.exclude_existing and tenant_id is not None:
        tenant = params.add(uuid.UUID(tenant_id))
        where.extend(not_selected_or_lead("e.cnpj", tenant))

    limit = params.add(page.per_page)
    offset = params.add(page.offset)
    sql = f"""
        WITH matched AS MATERIALIZED (
            SELECT e.cnpj, e.uf
            FROM registry.establishment e
            {" ".join(joins)}
            WHERE {" AND ".join(where)}
        )
        SELECT t.total, p.*
        FROM (SELECT count(*) AS total FROM matched) t
        LEFT JOIN LATERAL (
            {_DETAIL_SELECT}
            FROM (SELECT cnpj, uf FROM matched ORDER BY cnpj LIMIT {limit} OFFSET {offset}) pg
            JOIN registry.establishment e ON e.cnpj = pg.cnpj AND e.uf = pg.uf
            {_DETAIL_JOINS}
            ORDER BY e.cnpj
        ) p ON true
    """
    return sql, params.values


def _contact_conditions(criteria: SearchCriteria, params: SqlParams) -> list[str]:
    """Conditions on phones and e-mail; with ``exclude_shared_contacts`` only own contacts count."""
    shared_off = criteria.exclude_shared_contacts

    def own(column: str, kind: str) -> str:
        return f" AND {_own(column, kind)}" if shared_off else ""

    conditions: list[str] = []
    if criteria.phone is not None:
        kinds = (
            _VALID_PHONE_KINDS if criteria.phone is PhoneRequirement.ANY else [criteria.phone.value]
        )
        placeholder = params.add(kinds)
        conditions.append(
            f"((e.phone1_kind = ANY({placeholder}::text[]){own('e.phone1', 'phone')}) "
            f"OR (e.phone2_kind = ANY({placeholder}::text[]){own('e.phone2', 'phone')}))"
        )

    own_email = f"(e.email_valid{own('e.email', 'email')})"
    if criteria.has_email is True:
        conditions.append(own_email)
    elif criteria.has_email is False:
        conditions.append(f"NOT coalesce({own_email}, false)")

    if shared_off:
        # Leave out establishments whose every working contact belongs to
        # someone else, typically their accountant. Establishments with no
        # contact at all are left to the has_phone and has_email filters.
        valid = "('mobile', 'landline')"
        # coalesce: a missing phone makes IN null, and NOT null would drop the row.
        any_contact = f"coalesce(e.phone1_kind IN {valid} OR e.phone2_kind IN {valid} OR e.email_valid, false)"
        own_contact = (
            f"((e.phone1_kind IN {valid} AND {_own('e.phone1', 'phone')}) "
            f"OR (e.phone2_kind IN {valid} AND {_own('e.phone2', 'phone')}) "
            f"OR (coalesce(e.email_valid, false) AND {_own('e.email', 'email')}))"
        )
        conditions.append(f"(NOT {any_contact} OR {own_contact})")
    return conditions


_DETAIL_SELECT = """
    SELECT e.*,
           c.legal_name, c.company_size, c.share_capital,
           s.simples_opted, s.mei_opted,
           cn.description AS cnae_description,
           m.name AS municipality_name,
           EXISTS (SELECT 1 FROM registry.shared_contact sc
                   WHERE sc.kind = 'email' AND sc.value = e.email) AS email_shared,
           EXISTS (SELECT 1 FROM registry.shared_contact sc
                   WHERE sc.kind = 'phone' AND sc.value = e.phone1) AS phone1_shared,
           EXISTS (SELECT 1 FROM registry.shared_contact sc
                   WHERE sc.kind = 'phone' AND sc.value = e.phone2) AS phone2_shared,
           EXISTS (SELECT 1 FROM registry.shared_contact sc
                   WHERE sc.kind = 'phone' AND sc.value = e.fax) AS fax_shared
"""

_DETAIL_JOINS = """
    LEFT JOIN registry.company c ON c.cnpj_root = e.cnpj_root
    LEFT JOIN registry.simples s ON s.cnpj_root = e.cnpj_root
    LEFT JOIN registry.cnae cn ON cn.code = e.cnae_primary
    LEFT JOIN registry.municipality m ON m.tom_code = e.tom_code
"""


def _iso(value: Any) -> str | None:
    """ISO 8601 text of a date; dates read from to_jsonb arrive as that text already."""
    if value is None or isinstance(value, str):
        return value
    return str(value.isoformat())


def _money(value: Any) -> str | None:
    return f"{value:.2f}" if value is not None else None


def search_item(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """Project one establishment row (with its company columns) as a search result."""
    cnpj = Cnpj(row["cnpj"])
    phones = []
    seen: set[str] = set()
    for column in ("phone1", "phone2", "fax"):
        number = row[column]
        # Receita often repeats one number in two columns; list it once.
        if number is None or number in seen:
            continue
        seen.add(number)
        phones.append(
            {
                "number": number,
                "kind": row[f"{column}_kind"],
                "shared": bool(row[f"{column}_shared"]),
            }
        )
    email = (
        {
            "address": row["email"],
            "valid": bool(row["email_valid"]),
            "shared": bool(row["email_shared"]),
        }
        if row["email"] is not None
        else None
    )
    size = row["company_size"]
    return {
        "cnpj": cnpj.value,
        "cnpj_formatted": cnpj.formatted(),
        "legal_name": row["legal_name"],
        "trade_name": row["trade_name"],
        "head_office": row["is_head_office"],
        "registration_status": {
            "code": row["registration_status"],
            "description": REGISTRATION_STATUS.get(row["registration_status"] or ""),
        },
        "opening_date": _iso(row["opening_date"]),
        "cnae_primary": {"code": row["cnae_primary"], "description": row["cnae_description"]},
        "cnaes_secondary": list(row["cnaes_secondary"] or []),
        "company_size": coded(size, COMPANY_SIZE.get(size or "")),
        "share_capital": _money(row["share_capital"]),
        "simples_opted": row["simples_opted"],
        "mei_opted": row["mei_opted"],
        "address": {
            "street_type": row["street_type"],
            "street": row["street"],
            "number": row["street_number"],
            "complement": row["complement"],
            "district": row["district"],
            "cep": row["cep"],
            "uf": row["uf"],
            "municipality": {
                "ibge_code": row["ibge_code"],
                "tom_code": row["tom_code"],
                "name": row["municipality_name"],
            },
        },
        "phones": phones,
        "email": email,
    }


class PostgresCompanyQueries:
    """The ``CompanyQueries`` port over the live registry schema."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def unknown_cnaes(self, codes: tuple[str, ...]) -> list[str]:
        async with raw_connection(self._engine) as conn:
            rows = await conn.fetch(
                """
                SELECT requested.code
                FROM unnest($1::text[]) AS requested(code)
                WHERE NOT EXISTS (SELECT 1 FROM registry.cnae c WHERE c.code = requested.code)
                  AND EXISTS (SELECT 1 FROM registry.cnae)
                """,
                list(codes),
            )
        return [row["code"] for row in rows]

    async def unknown_municipalities(self, codes: tuple[str, ...]) -> list[str]:
        if not codes:
            return []
        async with raw_connection(self._engine) as conn:
            rows = await conn.fetch(
                """
                SELECT requested.code
                FROM unnest($1::text[]) AS requested(code)
                WHERE NOT EXISTS (
                    SELECT 1 FROM registry.municipality m WHERE m.ibge_code = requested.code
                )
                  AND EXISTS (SELECT 1 FROM registry.municipality)
                """,
                list(codes),
            )
        return [row["code"] for row in rows]

    async def search(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
    ) -> Page:
        sql, values = build_search_sql(criteria, page, tenant_id)
        async with raw_connection(self._engine) as conn, conn.transaction(readonly=True):
            if tenant_id is not None:
                # Row-level security on prelead and lead reads this setting.
                await conn.execute("SELECT set_config('garimpo.tenant_id', $1, true)", tenant_id)
            rows = await conn.fetch(sql, *values)
        total = rows[0]["total"] if rows else 0
        items = tuple(search_item(row) for row in rows if row["cnpj"] is not None)
        return Page(items=items, page=page.page, per_page=page.per_page, total_items=total)

    async def establishment(self, cnpj: Cnpj) -> dict[str, Any] | None:
        # One statement: one round trip, and one snapshot of the registry even
        # if a new month is published while the detail is read.
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow(_ESTABLISHMENT_DETAIL, cnpj.value)
        if row is None:
            return None
        company = _json_object(row["company_json"])
        partners = _json_object(row["partners_json"]) or []
        simples = _json_object(row["simples_json"])
        snapshot = (
            {
                "run_id": row["snapshot_run_id"],
                "reference": row["snapshot_reference"],
                "loaded_at": row["snapshot_loaded_at"],
            }
            if row["snapshot_run_id"] is not None
            else None
        )

        detail = search_item(row)
        detail.update(
            {
                "status_date": _iso(row["status_date"]),
                "status_reason": coded(row["status_reason_code"], row["status_reason_description"]),
                "special_status": row["special_status"],
                "special_status_date": _iso(row["special_status_date"]),
                "country": coded(row["country_code"], row["country_description"]),
                "foreign_city": row["foreign_city"],
                "quality_flags": list(row["quality_flags"]),
                "cnaes_secondary_descriptions": _json_list(row["cnaes_secondary_described"]),
                "company": _company(company),
                "partners": [_partner(p) for p in partners],
                "simples": _regime(simples, "simples"),
                "mei": _regime(simples, "mei"),
                "snapshot": (
                    {
                        "run_id": str(snapshot["run_id"]),
                        "reference": snapshot["reference"],
                        "loaded_at": snapshot["loaded_at"].isoformat(),
                    }
                    if snapshot is not None
                    else None
                ),
            }
        )
        return detail


_ESTABLISHMENT_DETAIL = f"""
    WITH e AS (
        {_DETAIL_SELECT},
               sr.description AS status_reason_description,
               co.description AS country_description,
               (SELECT json_agg(json_build_object('code', s.code, 'description', c2.description)
                                ORDER BY s.position)
                FROM unnest(e.cnaes_secondary) WITH ORDINALITY AS s(code, position)
                LEFT JOIN registry.cnae c2 ON c2.code = s.code) AS cnaes_secondary_described
        FROM registry.establishment e
        {_DETAIL_JOINS}
        LEFT JOIN registry.status_reason sr ON sr.code = e.status_reason_code
        LEFT JOIN registry.country co ON co.code = e.country_code
        WHERE e.cnpj = $1
    )
    SELECT e.*,
           (SELECT to_jsonb(x) FROM (
                SELECT c.*, ln.description AS legal_nature_description,
                       q.description AS qualification_description
                FROM registry.company c
                LEFT JOIN registry.legal_nature ln ON ln.code = c.legal_nature_code
                LEFT JOIN registry.partner_qualification q
                       ON q.code = c.responsible_qualification_code
                WHERE c.cnpj_root = e.cnpj_root) x)::text AS company_json,
           (SELECT jsonb_agg(to_jsonb(x) ORDER BY x.name, x.source_file_id, x.source_line) FROM (
                SELECT p.*, q.description AS qualification_description,
                       rq.description AS representative_qualification_description,
                       co.description AS country_description
                FROM registry.partner p
                LEFT JOIN registry.partner_qualification q ON q.code = p.qualification_code
                LEFT JOIN registry.partner_qualification rq
                       ON rq.code = p.representative_qualification_code
                LEFT JOIN registry.country co ON co.code = p.country_code
                WHERE p.cnpj_root = e.cnpj_root) x)::text AS partners_json,
           (SELECT to_jsonb(si) FROM registry.simples si
            WHERE si.cnpj_root = e.cnpj_root)::text AS simples_json,
           sn.run_id AS snapshot_run_id,
           sn.reference AS snapshot_reference,
           sn.loaded_at AS snapshot_loaded_at
    FROM e
    LEFT JOIN LATERAL (SELECT run_id, reference, loaded_at FROM registry.snapshot LIMIT 1) sn
           ON true
"""


def _json_object(text: str | None) -> Any:
    """Decode a row built with to_jsonb; numbers as Decimal, so share capital keeps its cents."""
    return json.loads(text, parse_float=Decimal) if text is not None else None


def _json_list(value: Any) -> list[Any]:
    """Read a json column: SQLAlchemy's pool registers a codec that decodes it, plain asyncpg does not."""
    if value is None:
        return []
    if isinstance(value, str):
        decoded: list[Any] = json.loads(value)
        return decoded
    return list(value)


def _company(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    size = row["company_size"]
    return {
        "cnpj_root": row["cnpj_root"],
        "legal_name": row["legal_name"],
        "legal_name_had_cpf": row["legal_name_had_cpf"],
        "legal_nature": coded(row["legal_nature_code"], row["legal_nature_description"]),
        "responsible_qualification": coded(
            row["responsible_qualification_code"], row["qualification_description"]
        ),
        "share_capital": _money(row["share_capital"]),
        "company_size": coded(size, COMPANY_SIZE.get(size or "")),
        "federative_entity": row["federative_entity"],
    }


def _partner(row: Mapping[str, Any]) -> dict[str, Any]:
    representative = None
    if row["representative_document"] or row["representative_name"]:
        representative = {
            "document": row["representative_document"],
            "name": row["representative_name"],
            "qualification": coded(
                row["representative_qualification_code"],
                row["representative_qualification_description"],
            ),
        }
    return {
        "type": coded(row["partner_type"], PARTNER_TYPE.get(row["partner_type"] or "")),
        "name": row["name"],
        "document": row["document"],
        "qualification": coded(row["qualification_code"], row["qualification_description"]),
        "entry_date": _iso(row["entry_date"]),
        "country": coded(row["country_code"], row["country_description"]),
        "representative": representative,
        "age_range": coded(row["age_range"], AGE_RANGE.get(row["age_range"] or "")),
    }


def _regime(row: Mapping[str, Any] | None, prefix: str) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "opted": row[f"{prefix}_opted"],
        "since": _iso(row[f"{prefix}_since"]),
        "until": _iso(row[f"{prefix}_until"]),
    }
