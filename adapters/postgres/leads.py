"""Leads and their encrypted contacts in PostgreSQL, one tenant at a time.

Row-level security limits every statement to the tenant of the transaction,
so no query here filters by tenant itself; inserts name it from the setting.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg

from adapters.postgres.ids import optional_uuid, parse_uuid
from adapters.postgres.sql import SqlParams
from application.leads import StoredContact
from domain.audit import Actor
from domain.leads import (
    Classification,
    Lead,
    LeadEventKind,
    LeadFilter,
    LeadOrigin,
    ReviewStatus,
    fold,
)
from domain.search import Page, PageRequest

#: A CNPJ, or part of one, written with its dots, slash and dash.
_FORMATTED_CNPJ = re.compile(r"(?=.*[0-9])(?=.*[./-])[0-9A-Za-z./-]+")

#: Key space of the advisory lock that serialises a tenant's lead admissions.
_INTAKE_LOCK_SPACE = 0x6C65_6164  # "lead"

_COLUMNS = """
    id, cnpj, prelead_id, origin, pipeline_id, stage_id, stage_entered_at, owner_id,
    classification, classification_rule, company_name, trade_name, cnae, uf,
    municipality_ibge, notes, tags, custom_fields, close_reason, review_status,
    duplicate_of, merged_into, created_at, updated_at
"""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _lead(row: asyncpg.Record) -> Lead:
    custom = row["custom_fields"]
    return Lead(
        id=str(row["id"]),
        cnpj=row["cnpj"],
        origin=LeadOrigin(row["origin"]),
        pipeline_id=str(row["pipeline_id"]),
        stage_id=str(row["stage_id"]),
        stage_entered_at=row["stage_entered_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        prelead_id=_text(row["prelead_id"]),
        owner_id=_text(row["owner_id"]),
        classification=Classification(row["classification"]) if row["classification"] else None,
        classification_rule=row["classification_rule"],
        company_name=row["company_name"],
        trade_name=row["trade_name"],
        cnae=row["cnae"],
        uf=row["uf"],
        municipality_ibge=row["municipality_ibge"],
        notes=row["notes"],
        tags=tuple(row["tags"]),
        custom_fields=json.loads(custom) if isinstance(custom, str) else dict(custom),
        close_reason=row["close_reason"],
        review_status=ReviewStatus(row["review_status"]) if row["review_status"] else None,
        duplicate_of=_text(row["duplicate_of"]),
        merged_into=_text(row["merged_into"]),
    )


def _where(where: LeadFilter) -> tuple[str, list[Any]]:
    """SQL conditions and their arguments for a lead filter."""
    params = SqlParams()
    clauses: list[str] = []

    if not where.include_merged:
        clauses.append("merged_into IS NULL")
    if where.review_status is not None:
        clauses.append(f"review_status = {params.add(str(where.review_status))}")
    else:
        # A possible duplicate waits for review outside the pipeline lists.
        clauses.append("review_status IS NULL")

    exact = {
        "stage_id": parse_uuid(where.stage_id) if where.stage_id else None,
        "pipeline_id": parse_uuid(where.pipeline_id) if where.pipeline_id else None,
        "owner_id": parse_uuid(where.owner_id) if where.owner_id else None,
        "classification": str(where.classification) if where.classification else None,
        "origin": str(where.origin) if where.origin else None,
        "cnae": where.cnae,
        "uf": where.uf,
        "municipality_ibge": where.municipality_ibge,
    }
    for column, value in exact.items():
        if value is not None:
            clauses.append(f"{column} = {params.add(value)}")

    if where.tag is not None:
        # Tags are unique ignoring case, so the filter ignores case too.
        tag = params.add(where.tag.casefold())
        clauses.append(f"EXISTS (SELECT 1 FROM unnest(tags) AS t WHERE lower(t) = {tag})")
    zone = zoneinfo.ZoneInfo(where.timezone)
    if where.created_from is not None:
        start = dt.datetime.combine(where.created_from, dt.time(), zone)
        clauses.append(f"created_at >= {params.add(start)}")
    if where.created_to is not None:
        end = dt.datetime.combine(where.created_to + dt.timedelta(days=1), dt.time(), zone)
        clauses.append(f"created_at < {params.add(end)}")
    if where.text:
        text = where.text
        if _FORMATTED_CNPJ.fullmatch(text.strip()):
            # 12.345.678/0001-90 is searched as the 14 characters it stands for.
            text = re.sub(r"[./-]", "", text.strip())
        pattern = fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"search_text LIKE {params.add(f'%{pattern}%')}")
    return " AND ".join(clauses), params.values


def _stored(row: asyncpg.Record) -> StoredContact:
    return StoredContact(
        kind=row["kind"],
        value_encrypted=bytes(row["value_encrypted"]),
        value_hash=bytes(row["value_hash"]),
        valid=row["valid"],
        source=row["source"],
        phone_type=row["phone_type"],
        whatsapp=row["whatsapp"],
        problem=row["problem"],
    )


class PostgresLeads:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_intake(self) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(app_tenant()::text))", _INTAKE_LOCK_SPACE
        )

    async def find_by_cnpj(self, cnpj: str) -> Lead | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM lead WHERE cnpj = $1", cnpj)
        return None if row is None else _lead(row)

    async def get(self, lead_id: str, *, for_update: bool = False) -> Lead | None:
        key = parse_uuid(lead_id)
        if key is None:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM lead WHERE id = $1{lock}", key)
        return None if row is None else _lead(row)

    async def contacts(self, lead_ids: Sequence[str]) -> dict[str, list[StoredContact]]:
        if not lead_ids:
            return {}
        rows = await self.conn.fetch(
            "SELECT lead_id, kind, value_encrypted, value_hash, valid, source, phone_type, "
            "whatsapp, problem FROM lead_contact WHERE lead_id = ANY($1::uuid[]) "
            "ORDER BY lead_id, kind DESC, created_at, id",
            [uuid.UUID(lead_id) for lead_id in lead_ids],
        )
        found: dict[str, list[StoredContact]] = {}
        for row in rows:
            found.setdefault(str(row["lead_id"]), []).append(_stored(row))
        return found

    async def sharing_contacts(self, hashes: Sequence[tuple[str, bytes]]) -> list[str]:
        rows = await self.conn.fetch(
            """
            SELECT l.id
              FROM lead l
             WHERE l.merged_into IS NULL
               AND EXISTS (
                   SELECT 1 FROM lead_contact c
                    JOIN unnest($1::text[], $2::bytea[]) AS h (kind, value_hash)
                      ON c.kind = h.kind AND c.value_hash = h.value_hash
                    WHERE c.lead_id = l.id AND c.valid)
             ORDER BY l.review_status IS NOT NULL, l.created_at, l.id
            """,
            [kind for kind, _ in hashes],
            [value for _, value in hashes],
        )
        return [str(row["id"]) for row in rows]

    async def add(self, lead: Lead, text: str, contacts: Sequence[StoredContact]) -> bool:
        inserted = await self.conn.fetchval(
            """
            INSERT INTO lead (
                tenant_id, cnpj, id, prelead_id, origin, pipeline_id, stage_id, stage_entered_at,
                owner_id, classification, classification_rule, company_name, trade_name, cnae,
                uf, municipality_ibge, tags, review_status, duplicate_of, search_text,
                created_at, updated_at)
            VALUES (app_tenant(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                    $15, $16, $17, $18, $19, $20, $20)
            ON CONFLICT DO NOTHING
            RETURNING true
            """,
            lead.cnpj,
            uuid.UUID(lead.id),
            optional_uuid(lead.prelead_id),
            str(lead.origin),
            uuid.UUID(lead.pipeline_id),
            uuid.UUID(lead.stage_id),
            lead.stage_entered_at,
            optional_uuid(lead.owner_id),
            str(lead.classification) if lead.classification else None,
            lead.classification_rule,
            lead.company_name,
            lead.trade_name,
            lead.cnae,
            lead.uf,
            lead.municipality_ibge,
            list(lead.tags),
            str(lead.review_status) if lead.review_status else None,
            optional_uuid(lead.duplicate_of),
            text,
            lead.created_at,
        )
        if not inserted:
            return False
        if contacts:
            await self.conn.executemany(
                "INSERT INTO lead_contact (tenant_id, lead_id, kind, value_encrypted, value_hash, "
                "phone_type, whatsapp, valid, problem, source) "
                "VALUES (app_tenant(), $1, $2, $3, $4, $5, $6, $7, $8, $9)",
                [
                    (
                        uuid.UUID(lead.id), c.kind, c.value_encrypted, c.value_hash,
                        c.phone_type, c.whatsapp, c.valid, c.problem, c.source,
                    )
                    for c in contacts
                ],
            )  # fmt: skip
        return True

    async def save(self, lead: Lead, text: str) -> None:
        await self.conn.execute(
            """
            UPDATE lead SET
                pipeline_id = $2, stage_id = $3, stage_entered_at = $4, owner_id = $5,
                notes = $6, tags = $7, custom_fields = $8::jsonb, close_reason = $9,
                review_status = $10, duplicate_of = $11, merged_into = $12,
                search_text = $13, updated_at = $14
            WHERE id = $1
            """,
            uuid.UUID(lead.id),
            uuid.UUID(lead.pipeline_id),
            uuid.UUID(lead.stage_id),
            lead.stage_entered_at,
            optional_uuid(lead.owner_id),
            lead.notes,
            list(lead.tags),
            json.dumps(dict(lead.custom_fields), ensure_ascii=False),
            lead.close_reason,
            str(lead.review_status) if lead.review_status else None,
            optional_uuid(lead.duplicate_of),
            optional_uuid(lead.merged_into),
            text,
            lead.updated_at,
        )

    async def add_event(
        self,
        lead_id: str,
        kind: LeadEventKind,
        actor: Actor,
        at: dt.datetime,
        *,
        from_stage_id: str | None = None,
        to_stage_id: str | None = None,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO lead_event (tenant_id, lead_id, kind, from_stage_id, to_stage_id, "
            "reason, data, actor_type, actor_id, actor_label, occurred_at) "
            "VALUES (app_tenant(), $1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)",
            uuid.UUID(lead_id),
            str(kind),
            optional_uuid(from_stage_id),
            optional_uuid(to_stage_id),
            reason,
            json.dumps(dict(data or {}), ensure_ascii=False),
            str(actor.type),
            actor.id,
            actor.label,
            at,
        )

    async def list(self, where: LeadFilter, page: PageRequest) -> Page:
        conditions, args = _where(where)
        total = await self.conn.fetchval(f"SELECT count(*) FROM lead WHERE {conditions}", *args)
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM lead WHERE {conditions} "
            f"ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
            *args,
            page.per_page,
            page.offset,
        )
        return Page(
            items=tuple(_lead(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def export(self, where: LeadFilter) -> AsyncIterator[Lead]:
        conditions, args = _where(where)
        cursor = self.conn.cursor(
            f"SELECT {_COLUMNS} FROM lead WHERE {conditions} ORDER BY created_at, id",
            *args,
            prefetch=500,
        )
        async for row in cursor:
            yield _lead(row)

    async def leads_by_cnpj(self, cnpjs: Sequence[str]) -> dict[str, str]:
        # A merged lead's CNPJ is the lead it joined: the company is a lead already.
        rows = await self.conn.fetch(
            "SELECT cnpj, coalesce(merged_into, id) AS id FROM lead WHERE cnpj = ANY($1::text[])",
            list(cnpjs),
        )
        return {row["cnpj"]: str(row["id"]) for row in rows}

    async def account_in_tenant(self, account_id: str) -> bool:
        key = parse_uuid(account_id)
        if key is None:
            return False
        return bool(
            await self.conn.fetchval(
                "SELECT 1 FROM account WHERE id = $1 AND tenant_id = app_tenant() "
                "AND status = 'active'",
                key,
            )
        )

    async def absorb_contacts(self, lead_id: str, merged_id: str) -> None:
        await self.conn.execute(
            """
            INSERT INTO lead_contact (tenant_id, lead_id, kind, value_encrypted, value_hash,
                                      phone_type, whatsapp, valid, problem, source, created_at)
            SELECT tenant_id, $1, kind, value_encrypted, value_hash, phone_type, whatsapp,
                   valid, problem, source, created_at
              FROM lead_contact WHERE lead_id = $2
            ON CONFLICT (lead_id, kind, value_hash) DO NOTHING
            """,
            uuid.UUID(lead_id),
            uuid.UUID(merged_id),
        )

    async def stage_names(self) -> dict[str, str]:
        rows = await self.conn.fetch("SELECT id, name FROM pipeline_stage")
        return {str(row["id"]): row["name"] for row in rows}

    async def owner_names(self) -> dict[str, str]:
        rows = await self.conn.fetch("SELECT id, name FROM account WHERE tenant_id = app_tenant()")
        return {str(row["id"]): row["name"] for row in rows}
