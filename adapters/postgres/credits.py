"""The credit ledger in PostgreSQL: each operation is one call of a posting function.

The functions (migration 0005) lock the tenant's account row, check the
idempotency key, append the entries and move the balance in one statement, so
the lock is held for a single round trip. Their errors arrive as RAISE
messages that name the rule; this module turns each into the domain error.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from application.credits import (
    Captured,
    LedgerFilter,
    Posted,
    Released,
)
from domain.audit import Actor
from domain.credits import (
    CaptureStatus,
    CreditBalance,
    EntryAlreadyReversed,
    EntryKind,
    EntryNotFound,
    EntryNotReversible,
    HoldResult,
    InsufficientCredits,
    LedgerEntry,
    PreLeadNotFound,
    ReleaseReason,
    ReleaseStatus,
)
from domain.search import Page, PageRequest

_ENTRY_COLUMNS = """
    id, tenant_id, seq, kind, amount, held_change, balance_before, balance_after,
    held_before, held_after, reason, reference_type, reference_id, reverses_entry_id,
    idempotency_key, actor_type, actor_id, actor_label, created_at,
    (SELECT lot.expires_at FROM credit_lot lot WHERE lot.grant_entry_id = credit_entry.id)
        AS expires_at
"""

#: Entries read per round trip while streaming an export.
_STREAM_BATCH = 2000


def _actor_args(actor: Actor) -> tuple[str, str | None, str | None]:
    return actor.type.value, actor.id, actor.label


def _uuid(value: str, error: Exception) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise error from None


def _entry(row: asyncpg.Record) -> LedgerEntry:
    return LedgerEntry(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        seq=row["seq"],
        kind=EntryKind(row["kind"]),
        amount=row["amount"],
        held_change=row["held_change"],
        balance_before=row["balance_before"],
        balance_after=row["balance_after"],
        held_before=row["held_before"],
        held_after=row["held_after"],
        reason=row["reason"],
        reference_type=row["reference_type"],
        reference_id=row["reference_id"],
        reverses_entry_id=str(row["reverses_entry_id"]) if row["reverses_entry_id"] else None,
        idempotency_key=row["idempotency_key"],
        actor_type=row["actor_type"],
        actor_id=row["actor_id"],
        actor_label=row["actor_label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


def _translate(error: asyncpg.RaiseError, requested: int | None = None) -> Exception:
    """Turn a posting function's RAISE into the domain error it stands for.

    ``requested`` is the number of credits the caller's operation takes from
    the available ones, for the functions whose error does not report it.
    """
    message = error.args[0] if error.args else ""
    if message == "insufficient_credits":
        detail = json.loads(error.detail or "{}")
        available = detail.get("available", 0)
        return InsufficientCredits(
            available=available,
            requested=detail.get("requested", requested if requested else available + 1),
            balance=detail.get("balance", 0),
            held=detail.get("held", 0),
            qualification="requested" in detail,
        )
    if message == "entry_not_found":
        return EntryNotFound()
    if message == "entry_not_reversible":
        return EntryNotReversible(
            "Só concessões, débitos, ajustes e expirações podem ser estornados; "
            "uma reserva termina com débito ou liberação.",
            field="entry_id",
        )
    if message == "entry_already_reversed":
        return EntryAlreadyReversed()
    if message == "prelead_not_found":
        return PreLeadNotFound()
    return error


class PostgresCreditLedger:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def _call(
        self, query: str, *args: Any, requested: int | None = None
    ) -> list[asyncpg.Record]:
        try:
            return await self._conn.fetch(query, *args)
        except asyncpg.RaiseError as error:
            translated = _translate(error, requested)
            if translated is error:
                raise
            raise translated from None
        except asyncpg.CheckViolationError as error:
            # The posting functions check the balance before writing; a CHECK
            # firing anyway means a reversal or adjustment would eat held credits.
            if error.constraint_name and "held" in error.constraint_name:
                raise InsufficientCredits(
                    available=0, requested=requested or 1, balance=0, held=0
                ) from None
            raise

    async def post(
        self,
        tenant_id: str,
        kind: EntryKind,
        amount: int,
        *,
        idempotency_key: str,
        actor: Actor,
        reason: str | None = None,
        reference_type: str | None = None,
        reference_id: str | None = None,
        reverses: str | None = None,
        expires_at: dt.datetime | None = None,
    ) -> Posted:
        reverses_id = _uuid(reverses, EntryNotFound()) if reverses else None
        # A reversal takes back what the original entry gave, and only the
        # ledger records that amount. Read it so a rejection gives the credits needed.
        taken = -amount
        if reverses_id is not None:
            original = await self._conn.fetchval(
                "SELECT amount FROM credit_entry WHERE id = $1", reverses_id
            )
            taken = original or 0
        rows = await self._call(
            "SELECT * FROM credit_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            uuid.UUID(tenant_id),
            kind.value,
            amount,
            idempotency_key,
            reason,
            reference_type,
            reference_id,
            reverses_id,
            expires_at,
            *_actor_args(actor),
            requested=taken if taken > 0 else None,
        )
        head = rows[0]
        return Posted(
            entry_id=str(head["entry_id"]),
            created=head["status"] == "posted",
            settled_preleads=tuple(str(row["prelead_id"]) for row in rows[1:]),
        )

    async def hold(
        self,
        tenant_id: str,
        prelead_ids: Sequence[str],
        *,
        job_id: str | None,
        expires_at: dt.datetime,
        partial: bool,
        actor: Actor,
    ) -> HoldResult:
        ids = [_uuid(value, PreLeadNotFound()) for value in prelead_ids]
        rows = await self._call(
            "SELECT * FROM credit_hold_many($1, $2, $3, $4, $5, $6, $7, $8)",
            uuid.UUID(tenant_id),
            ids,
            uuid.UUID(job_id) if job_id else None,
            expires_at,
            partial,
            *_actor_args(actor),
        )
        summary = rows[-1]
        by_status: dict[str, list[str]] = {"held": [], "already_held": [], "not_covered": []}
        for row in rows[:-1]:
            by_status[row["status"]].append(str(row["prelead_id"]))
        return HoldResult(
            held=tuple(by_status["held"]),
            already_held=tuple(by_status["already_held"]),
            not_covered=tuple(by_status["not_covered"]),
            available_before=summary["available_before"],
            available_after=summary["available_after"],
        )

    async def capture(
        self, tenant_id: str, prelead_id: str, *, lead_reference: str | None, actor: Actor
    ) -> Captured:
        rows = await self._call(
            "SELECT * FROM credit_capture($1, $2, $3, $4, $5, $6)",
            uuid.UUID(tenant_id),
            _uuid(prelead_id, PreLeadNotFound()),
            lead_reference,
            *_actor_args(actor),
        )
        row = rows[0]
        return Captured(
            status=CaptureStatus(row["status"]),
            entry_id=str(row["entry_id"]) if row["entry_id"] else None,
        )

    async def release(
        self,
        tenant_id: str,
        *,
        prelead_id: str | None = None,
        hold_id: str | None = None,
        reason: ReleaseReason,
        actor: Actor,
    ) -> Released:
        rows = await self._call(
            "SELECT * FROM credit_release($1, $2, $3, $4, $5, $6, $7)",
            uuid.UUID(tenant_id),
            _uuid(prelead_id, PreLeadNotFound()) if prelead_id else None,
            uuid.UUID(hold_id) if hold_id else None,
            reason.value,
            *_actor_args(actor),
        )
        head = rows[0]
        return Released(
            status=ReleaseStatus(head["status"]),
            entry_id=str(head["entry_id"]) if head["entry_id"] else None,
            settled_preleads=tuple(str(row["prelead_id"]) for row in rows[1:]),
        )

    async def expire_lots(self, tenant_id: str, now: dt.datetime, actor: Actor) -> list[Posted]:
        rows = await self._call(
            "SELECT * FROM credit_expire_lots($1, $2, $3, $4, $5)",
            uuid.UUID(tenant_id),
            now,
            *_actor_args(actor),
        )
        return [
            Posted(
                entry_id=str(row["entry_id"]),
                created=True,
            )
            for row in rows
        ]

    async def balance(self, tenant_id: str) -> CreditBalance:
        row = await self._conn.fetchrow(
            """
            SELECT coalesce(a.balance, 0) AS balance, coalesce(a.held, 0) AS held,
                   (SELECT count(*) FROM credit_pending p
                     WHERE p.tenant_id = $1 AND p.settled_entry_id IS NULL) AS pending
              FROM (SELECT $1::uuid AS tenant_id) t
              LEFT JOIN credit_account a USING (tenant_id)
            """,
            uuid.UUID(tenant_id),
        )
        assert row is not None
        return CreditBalance(
            balance=row["balance"], held=row["held"], pending_captures=row["pending"]
        )

    async def entry(self, entry_id: str) -> LedgerEntry | None:
        try:
            key = uuid.UUID(str(entry_id))
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_ENTRY_COLUMNS} FROM credit_entry WHERE id = $1", key
        )
        return _entry(row) if row else None

    @staticmethod
    def _where(filters: LedgerFilter, args: list[Any]) -> str:
        # Row-level security keeps the scope's tenant; the filters narrow it.
        clauses = ["true"]
        if filters.since is not None:
            args.append(filters.since)
            clauses.append(f"created_at >= ${len(args)}")
        if filters.until is not None:
            args.append(filters.until)
            clauses.append(f"created_at < ${len(args)}")
        if filters.kinds:
            args.append(sorted(kind.value for kind in filters.kinds))
            clauses.append(f"kind = ANY (${len(args)}::text[])")
        return " AND ".join(clauses)

    async def entries(self, filters: LedgerFilter, page: PageRequest) -> Page:
        args: list[Any] = []
        where = self._where(filters, args)
        total = await self._conn.fetchval(f"SELECT count(*) FROM credit_entry WHERE {where}", *args)
        rows = await self._conn.fetch(
            f"SELECT {_ENTRY_COLUMNS} FROM credit_entry WHERE {where} "
            f"ORDER BY created_at DESC, seq DESC OFFSET ${len(args) + 1} LIMIT ${len(args) + 2}",
            *args,
            page.offset,
            page.per_page,
        )
        return Page(
            items=tuple(_entry(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    async def stream(self, filters: LedgerFilter) -> AsyncIterator[LedgerEntry]:
        args: list[Any] = []
        where = self._where(filters, args)
        query = f"SELECT {_ENTRY_COLUMNS} FROM credit_entry WHERE {where} ORDER BY seq"
        # A server-side cursor keeps memory flat on a statement of any length.
        async for row in self._conn.cursor(query, *args, prefetch=_STREAM_BATCH):
            yield _entry(row)

    async def open_holds_of_job(self, job_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT id FROM credit_hold WHERE job_id = $1 AND state = 'open' ORDER BY created_at",
            uuid.UUID(job_id),
        )
        return [str(row["id"]) for row in rows]

    async def expired_holds(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        rows = await self._conn.fetch(
            "SELECT tenant_id, id FROM credit_hold WHERE state = 'open' AND expires_at <= $1 "
            "ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
        return [(str(row["tenant_id"]), str(row["id"])) for row in rows]

    async def tenants_with_expired_lots(self, now: dt.datetime) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT DISTINCT tenant_id FROM credit_lot WHERE remaining > 0 AND expires_at <= $1",
            now,
        )
        return [str(row["tenant_id"]) for row in rows]
