"""Qualification storage: jobs, flows, sends, sender pools, provider events and opt-outs."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg

from application.qualification_ports import (
    Candidate,
    DueStep,
    InteractionStatusChange,
    Job,
    NewFlow,
    Progress,
    ReviewItem,
    Sender,
    SenderLoad,
    SenderTaken,
    SendRecord,
    StoredFlow,
    UnmatchedReply,
)
from domain.audit import Actor
from domain.qualification import Channel, DeliveryStatus, Flow, FlowState, Outcome
from domain.qualification import next_delivery_status as advance_status
from domain.search import Page, PageRequest
from domain.selections import PreleadStatus

_FLOW_COLUMNS = """
    f.id, f.tenant_id, f.job_id, f.prelead_id, f.state, f.channel, f.remaining, f.attempt,
    f.next_action_at, f.outcome, f.reason, f.rule, f.phone_encrypted, f.phone_hash,
    f.email_encrypted, f.email_hash, f.lease_until, f.updated_at, p.cnpj, j.state AS job_state,
    j.orchestrator AS job_orchestrator
"""
_FLOW_FROM = """
    FROM qualification_flow f
    JOIN prelead p ON p.id = f.prelead_id
    JOIN qualification_job j ON j.id = f.job_id
"""

_JOB_COLUMNS = (
    "id, tenant_id, selection_id, state, orchestrator, total, created_at, updated_at, "
    "finished_at, created_by_label"
)


def _job(row: asyncpg.Record) -> Job:
    return Job(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        selection_id=str(row["selection_id"]),
        state=row["state"],
        orchestrator=row["orchestrator"],
        total=row["total"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        created_by_label=row["created_by_label"],
    )


def _flow(row: asyncpg.Record) -> StoredFlow:
    return StoredFlow(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        job_id=str(row["job_id"]),
        job_state=row["job_state"],
        job_orchestrator=row["job_orchestrator"],
        cnpj=row["cnpj"],
        flow=Flow(
            prelead_id=str(row["prelead_id"]),
            id=str(row["id"]),
            state=FlowState(row["state"]),
            remaining=tuple(Channel(value) for value in row["remaining"]),
            channel=None if row["channel"] is None else Channel(row["channel"]),
            attempt=row["attempt"],
            next_action_at=row["next_action_at"],
            outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
            reason=row["reason"],
            rule=row["rule"],
        ),
        phone_encrypted=row["phone_encrypted"],
        phone_hash=row["phone_hash"],
        email_encrypted=row["email_encrypted"],
        email_hash=row["email_hash"],
        lease_until=row["lease_until"],
        updated_at=row["updated_at"],
    )


def _sender(row: asyncpg.Record) -> Sender:
    return Sender(
        id=str(row["id"]),
        channel=Channel(row["channel"]),
        address=row["address"],
        provider_ref=row["provider_ref"],
        limit_per_period=row["limit_per_period"],
        period_seconds=row["period_seconds"],
        active=row["active"],
        created_at=row["created_at"],
    )


def _due_step(row: asyncpg.Record) -> DueStep:
    return DueStep(
        flow_id=str(row["id"]),
        job_id=str(row["job_id"]),
        prelead_id=str(row["prelead_id"]),
        action="send" if row["state"] == "sending" else "wait_over",
        channel=None if row["channel"] is None else Channel(row["channel"]),
        due_at=row["next_action_at"],
    )


def _review(row: asyncpg.Record) -> ReviewItem:
    return ReviewItem(
        flow_id=str(row["id"]),
        job_id=str(row["job_id"]),
        prelead_id=str(row["prelead_id"]),
        cnpj=row["cnpj"],
        channel=None if row["channel"] is None else Channel(row["channel"]),
        rule=row["rule"],
        reply_encrypted=row["content_encrypted"],
        replied_at=row["occurred_at"],
    )


def _unmatched(row: asyncpg.Record) -> UnmatchedReply:
    return UnmatchedReply(
        id=str(row["id"]),
        provider=row["provider"],
        channel=Channel(row["channel"]),
        sender_encrypted=row["sender_encrypted"],
        body_encrypted=row["body_encrypted"],
        recipient=row["recipient"],
        received_at=row["received_at"],
    )


def _uuids(values: Sequence[str]) -> list[uuid.UUID]:
    return [uuid.UUID(value) for value in values]


class PostgresQualification:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def _paged(
        self,
        columns: str,
        source: str,
        args: Sequence[Any],
        page: PageRequest,
        item: Callable[[asyncpg.Record], Any],
        *,
        order: str = "created_at DESC, id",
    ) -> Page:
        """Count the rows of ``source`` (its FROM and WHERE) and read one page of them."""
        total = await self.conn.fetchval(f"SELECT count(*) {source}", *args)
        limit, offset = len(args) + 1, len(args) + 2
        rows = await self.conn.fetch(
            f"SELECT {columns} {source} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}",
            *args,
            page.per_page,
            page.offset,
        )
        return Page(
            items=tuple(item(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=total,
        )

    # --- jobs ---------------------------------------------------------------------

    async def candidates(self, selection_id: str) -> list[Candidate]:
        rows = await self.conn.fetch(
            """
            SELECT i.prelead_id, p.cnpj, p.status,
                   CASE WHEN l.id IS NULL THEN '{}'::text[] ELSE ARRAY['already_lead'] END
                       || array_remove(i.flags, 'already_lead')
                       || CASE WHEN f.id IS NULL THEN '{}'::text[]
                               ELSE ARRAY['in_qualification'] END AS flags
              FROM selection_item i
              JOIN prelead p ON p.id = i.prelead_id
              LEFT JOIN lead l ON l.cnpj = p.cnpj
              LEFT JOIN qualification_flow f ON f.prelead_id = p.id AND f.state <> 'done'
             WHERE i.selection_id = $1
             ORDER BY i.position
             FOR UPDATE OF p
            """,
            uuid.UUID(selection_id),
        )
        return [
            Candidate(
                prelead_id=str(row["prelead_id"]),
                cnpj=row["cnpj"],
                status=PreleadStatus(row["status"]),
                flags=tuple(row["flags"]),
            )
            for row in rows
        ]

    async def create_job(
        self,
        tenant_id: str,
        selection_id: str,
        *,
        job_id: str,
        orchestrator: str,
        total: int,
        actor: Actor,
        now: dt.datetime,
    ) -> str:
        await self.conn.execute(
            """
            INSERT INTO qualification_job (id, tenant_id, selection_id, state, orchestrator, total,
                                           created_by, created_by_label, created_at, updated_at)
            VALUES ($8, $1, $2, 'running', $3, $4, $5, $6, $7, $7)
            """,
            uuid.UUID(tenant_id),
            uuid.UUID(selection_id),
            orchestrator,
            total,
            _actor_uuid(actor),
            actor.label,
            now,
            uuid.UUID(job_id),
        )
        return job_id

    async def job(self, job_id: str, *, for_update: bool = False) -> Job | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM qualification_job WHERE id = $1{lock}", uuid.UUID(job_id)
        )
        return None if row is None else _job(row)

    async def jobs(self, page: PageRequest, selection_id: str | None) -> Page:
        if selection_id is None:
            return await self._paged(_JOB_COLUMNS, "FROM qualification_job", (), page, _job)
        return await self._paged(
            _JOB_COLUMNS,
            "FROM qualification_job WHERE selection_id = $1",
            (uuid.UUID(selection_id),),
            page,
            _job,
        )

    async def job_state_for_send(self, job_id: str) -> str | None:
        # A share lock: pausing or cancelling (which update the row) waits for
        # this transaction, and every later step reads the new state.
        state: str | None = await self.conn.fetchval(
            "SELECT state FROM qualification_job WHERE id = $1 FOR SHARE", uuid.UUID(job_id)
        )
        return state

    async def set_job_state(
        self, job_id: str, state: str, now: dt.datetime, *, finished: bool = False
    ) -> None:
        await self.conn.execute(
            "UPDATE qualification_job SET state = $2, updated_at = $3, "
            "finished_at = CASE WHEN $4 THEN $3 ELSE finished_at END WHERE id = $1",
            uuid.UUID(job_id),
            state,
            now,
            finished,
        )

    async def progress(self, job_id: str) -> Progress:
        key = uuid.UUID(job_id)
        flows = await self.conn.fetchrow(
            """
            SELECT count(*) AS total,
                   count(*) FILTER (WHERE state = 'in_review') AS in_review,
                   min(next_action_at) FILTER (WHERE state = 'sending') AS next_send_at,
                   (SELECT count(*) FROM message_send m
                     WHERE m.flow_id IN (SELECT id FROM qualification_flow WHERE job_id = $1)
                       AND m.state = 'sending') AS sending
              FROM qualification_flow WHERE job_id = $1
            """,
            key,
        )
        outcomes = await self.conn.fetch(
            "SELECT outcome, count(*) AS n FROM qualification_flow "
            "WHERE job_id = $1 AND outcome IS NOT NULL GROUP BY outcome",
            key,
        )
        # Each flow is counted once, at the furthest point any of its messages reached.
        messages = await self.conn.fetchrow(
            """
            WITH reach AS (
                SELECT f.id,
                       bool_or(i.direction = 'inbound') AS replied,
                       max(CASE i.status WHEN 'read' THEN 3 WHEN 'delivered' THEN 2
                                         WHEN 'sent' THEN 1 ELSE 0 END)
                           FILTER (WHERE i.direction = 'outbound') AS furthest,
                       bool_or(i.status = 'failed') AS failed,
                       count(i.id) FILTER (WHERE i.direction = 'outbound') AS outbound
                  FROM qualification_flow f
                  LEFT JOIN interaction i
                         ON i.prelead_id = f.prelead_id AND i.created_at >= f.created_at
                 WHERE f.job_id = $1
                 GROUP BY f.id
            )
            SELECT count(*) FILTER (WHERE outbound = 0) AS queued,
                   count(*) FILTER (WHERE outbound > 0) AS sent,
                   count(*) FILTER (WHERE furthest >= 2) AS delivered,
                   count(*) FILTER (WHERE furthest >= 3) AS read,
                   count(*) FILTER (WHERE failed) AS failed,
                   count(*) FILTER (WHERE replied) AS replied
              FROM reach
            """,
            key,
        )
        return Progress(
            total=flows["total"],
            queued=messages["queued"],
            sent=messages["sent"],
            delivered=messages["delivered"],
            read=messages["read"],
            failed=messages["failed"],
            replied=messages["replied"],
            in_review=flows["in_review"],
            outcomes={row["outcome"]: row["n"] for row in outcomes},
            sending=flows["sending"],
            next_send_at=flows["next_send_at"],
        )

    async def unfinished_flows(self, job_id: str) -> int:
        count: int = await self.conn.fetchval(
            "SELECT count(*) FROM qualification_flow WHERE job_id = $1 AND state <> 'done'",
            uuid.UUID(job_id),
        )
        return count

    # --- flows --------------------------------------------------------------------

    async def add_flows(self, tenant_id: str, job_id: str, flows: Sequence[NewFlow]) -> None:
        await self.conn.executemany(
            """
            INSERT INTO qualification_flow (
                tenant_id, job_id, prelead_id, state, channel, remaining, attempt, next_action_at,
                phone_encrypted, phone_hash, email_encrypted, email_hash, id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            [
                (
                    uuid.UUID(tenant_id),
                    uuid.UUID(job_id),
                    uuid.UUID(new.flow.prelead_id),
                    new.flow.state.value,
                    None if new.flow.channel is None else new.flow.channel.value,
                    [channel.value for channel in new.flow.remaining],
                    new.flow.attempt,
                    new.flow.next_action_at,
                    new.phone_encrypted,
                    new.phone_hash,
                    new.email_encrypted,
                    new.email_hash,
                    uuid.UUID(new.flow.id),
                )
                for new in flows
            ],
        )

    async def flow(self, flow_id: str, *, for_update: bool = False) -> StoredFlow | None:
        lock = " FOR UPDATE OF f" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_FLOW_COLUMNS} {_FLOW_FROM} WHERE f.id = $1{lock}", uuid.UUID(flow_id)
        )
        return None if row is None else _flow(row)

    async def flow_of_prelead(self, prelead_id: str) -> StoredFlow | None:
        row = await self.conn.fetchrow(
            f"SELECT {_FLOW_COLUMNS} {_FLOW_FROM} WHERE f.prelead_id = $1 "
            "ORDER BY f.created_at DESC LIMIT 1",
            uuid.UUID(prelead_id),
        )
        return None if row is None else _flow(row)

    async def save_flow(
        self, flow_id: str, flow: Flow, now: dt.datetime, *, lease_until: dt.datetime | None = None
    ) -> None:
        await self.conn.execute(
            """
            UPDATE qualification_flow
               SET state = $2, channel = $3, remaining = $4, attempt = $5, next_action_at = $6,
                   outcome = $7, reason = $8, rule = $9, lease_until = $10, updated_at = $11
             WHERE id = $1
            """,
            uuid.UUID(flow_id),
            flow.state.value,
            None if flow.channel is None else flow.channel.value,
            [channel.value for channel in flow.remaining],
            flow.attempt,
            flow.next_action_at,
            None if flow.outcome is None else flow.outcome.value,
            flow.reason,
            flow.rule,
            lease_until,
            now,
        )

    async def wake_waiting_sends(self, now: dt.datetime, *, job_id: str | None) -> int:
        condition = "" if job_id is None else " AND job_id = $2"
        args: list[Any] = [now] if job_id is None else [now, uuid.UUID(job_id)]
        woken: str = await self.conn.execute(
            "UPDATE qualification_flow SET next_action_at = $1, lease_until = NULL "
            f"WHERE state = 'sending' AND next_action_at > $1{condition}",
            *args,
        )
        return int(woken.split()[-1])

    async def claim_due(
        self, job_id: str, now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[str]:
        rows = await self.conn.fetch(
            """
            UPDATE qualification_flow SET lease_until = $3
             WHERE id IN (
                   SELECT id FROM qualification_flow
                    WHERE job_id = $1 AND state IN ('sending', 'awaiting_reply')
                      AND next_action_at <= $2
                      AND (lease_until IS NULL OR lease_until < $2)
                    ORDER BY next_action_at
                    LIMIT $4
                    FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            uuid.UUID(job_id),
            now,
            lease_until,
            limit,
        )
        return [str(row["id"]) for row in rows]

    async def due_steps(self, now: dt.datetime, page: PageRequest) -> Page:
        return await self._paged(
            "f.id, f.job_id, f.prelead_id, f.state, f.channel, f.next_action_at",
            """
              FROM qualification_flow f
              JOIN qualification_job j ON j.id = f.job_id
             WHERE j.state = 'running' AND f.state IN ('sending', 'awaiting_reply')
               AND f.next_action_at <= $1
            """,
            (now,),
            page,
            _due_step,
            order="f.next_action_at, f.id",
        )

    async def live_flow_ids(self, job_id: str) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT id FROM qualification_flow WHERE job_id = $1 AND state <> 'done' ORDER BY id",
            uuid.UUID(job_id),
        )
        return [str(row["id"]) for row in rows]

    async def flows_by_contact(self, hashes: Sequence[bytes]) -> list[str]:
        # Live flows first, then the latest finished one, for a late reply.
        rows = await self.conn.fetch(
            """
            SELECT id FROM qualification_flow
             WHERE phone_hash = ANY ($1::bytea[]) OR email_hash = ANY ($1::bytea[])
             ORDER BY (state <> 'done') DESC, updated_at DESC
             LIMIT 20
            """,
            list(hashes),
        )
        return [str(row["id"]) for row in rows]

    async def reviews(self, page: PageRequest) -> Page:
        return await self._paged(
            "f.id, f.job_id, f.prelead_id, p.cnpj, f.channel, f.rule, "
            "r.content_encrypted, r.occurred_at",
            """
              FROM qualification_flow f
              JOIN prelead p ON p.id = f.prelead_id
              LEFT JOIN LATERAL (
                   SELECT content_encrypted, occurred_at FROM interaction i
                    WHERE i.prelead_id = f.prelead_id AND i.direction = 'inbound'
                    ORDER BY occurred_at DESC LIMIT 1) r ON true
             WHERE f.state = 'in_review'
            """,
            (),
            page,
            _review,
            order="f.updated_at, f.id",
        )

    async def set_prelead_status(
        self, prelead_ids: Sequence[str], status: PreleadStatus, now: dt.datetime
    ) -> None:
        await self.conn.execute(
            "UPDATE prelead SET status = $2, updated_at = $3 WHERE id = ANY ($1::uuid[])",
            _uuids(prelead_ids),
            status.value,
            now,
        )

    # --- sends --------------------------------------------------------------------

    async def send_record(self, idempotency_key: str) -> SendRecord | None:
        row = await self.conn.fetchrow(
            "SELECT idempotency_key, flow_id, channel, state, sender, provider, "
            "provider_message_id, created_at FROM message_send WHERE idempotency_key = $1",
            idempotency_key,
        )
        if row is None:
            return None
        return SendRecord(
            idempotency_key=row["idempotency_key"],
            flow_id=None if row["flow_id"] is None else str(row["flow_id"]),
            channel=Channel(row["channel"]),
            state=row["state"],
            sender=row["sender"],
            provider=row["provider"],
            provider_message_id=row["provider_message_id"],
            created_at=row["created_at"],
        )

    async def begin_send(
        self,
        tenant_id: str,
        idempotency_key: str,
        *,
        flow_id: str | None,
        channel: Channel,
        sender: str | None,
        now: dt.datetime,
    ) -> bool:
        inserted = await self.conn.fetchval(
            """
            INSERT INTO message_send (tenant_id, idempotency_key, flow_id, channel, sender, state,
                                      created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, 'sending', $6, $6)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            uuid.UUID(tenant_id),
            idempotency_key,
            None if flow_id is None else uuid.UUID(flow_id),
            channel.value,
            sender,
            now,
        )
        return bool(inserted)

    async def finish_send(
        self,
        idempotency_key: str,
        *,
        state: str,
        provider: str | None,
        provider_message_id: str | None,
        interaction_id: str | None,
        error_code: str | None,
        now: dt.datetime,
    ) -> None:
        await self.conn.execute(
            """
            UPDATE message_send
               SET state = $2, provider = coalesce($3, provider),
                   provider_message_id = coalesce($4, provider_message_id),
                   interaction_id = coalesce($5, interaction_id), error_code = $6, updated_at = $7
             WHERE idempotency_key = $1
            """,
            idempotency_key,
            state,
            provider,
            provider_message_id,
            None if interaction_id is None else uuid.UUID(interaction_id),
            error_code,
            now,
        )

    async def sends_since(self, since: dt.datetime) -> int:
        # Failed sends count too: the provider saw them, and a daily limit
        # protects the tenant's sender reputation as much as its budget.
        count: int = await self.conn.fetchval(
            "SELECT count(*) FROM message_send WHERE created_at >= $1 AND flow_id IS NOT NULL",
            since,
        )
        return count

    async def lock_sending(self) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('qualification_send:' || app_tenant(), 0))"
        )

    async def sender_loads(
        self, channel: Channel, now: dt.datetime, margin: dt.timedelta
    ) -> list[SenderLoad]:
        rows = await self.conn.fetch(
            """
            SELECT s.*, u.used, u.oldest
              FROM sender_number s
              LEFT JOIN LATERAL (
                   SELECT count(*) AS used, min(m.created_at) AS oldest
                     FROM message_send m
                    WHERE m.tenant_id = s.tenant_id AND m.sender = s.address
                      AND m.created_at > $2::timestamptz - $3::interval
                                         - make_interval(secs => s.period_seconds)) u ON true
             WHERE s.channel = $1
             ORDER BY s.created_at, s.id
            """,
            channel.value,
            now,
            margin,
        )
        return [
            SenderLoad(sender=_sender(row), used=row["used"] or 0, oldest=row["oldest"])
            for row in rows
        ]

    async def senders(self, page: PageRequest) -> Page:
        return await self._paged(
            "*", "FROM sender_number", (), page, _sender, order="channel, created_at, id"
        )

    async def add_sender(
        self,
        tenant_id: str,
        channel: Channel,
        address: str,
        provider_ref: str | None,
        limit_per_period: int,
        period_seconds: int,
    ) -> Sender:
        try:
            row = await self.conn.fetchrow(
                """
                INSERT INTO sender_number (tenant_id, channel, address, provider_ref,
                                           limit_per_period, period_seconds)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING *
                """,
                uuid.UUID(tenant_id),
                channel.value,
                address,
                provider_ref,
                limit_per_period,
                period_seconds,
            )
        except asyncpg.UniqueViolationError:
            raise SenderTaken() from None
        return _sender(row)

    async def link_interactions(self, prelead_id: str, lead_id: str) -> None:
        await self.conn.execute(
            "UPDATE interaction SET lead_id = $2 WHERE prelead_id = $1 AND lead_id IS NULL",
            uuid.UUID(prelead_id),
            uuid.UUID(lead_id),
        )

    async def remove_sender(self, sender_id: str) -> bool:
        removed = await self.conn.fetchval(
            "DELETE FROM sender_number WHERE id = $1 RETURNING true", uuid.UUID(sender_id)
        )
        return bool(removed)

    # --- interactions and events ------------------------------------------------------

    async def add_interaction(
        self,
        tenant_id: str,
        *,
        prelead_id: str,
        channel: Channel,
        direction: str,
        content_encrypted: bytes | None,
        provider: str | None,
        provider_message_id: str | None,
        status: str,
        occurred_at: dt.datetime,
    ) -> str | None:
        interaction_id = await self.conn.fetchval(
            """
            INSERT INTO interaction (tenant_id, prelead_id, lead_id, channel, direction,
                                     content_encrypted, provider, provider_message_id, status,
                                     occurred_at, sent_at, created_by_label)
            VALUES ($1, $2, (SELECT coalesce(l.merged_into, l.id) FROM lead l
                              WHERE l.prelead_id = $2), $3, $4, $5, $6, $7, $8, $9,
                    CASE WHEN $4 = 'outbound' THEN $9::timestamptz END, 'garimpo')
            ON CONFLICT (provider, provider_message_id) WHERE provider_message_id IS NOT NULL
            DO NOTHING
            RETURNING id
            """,
            uuid.UUID(tenant_id),
            uuid.UUID(prelead_id),
            channel.value,
            direction,
            content_encrypted,
            provider,
            provider_message_id,
            status,
            occurred_at,
        )
        return None if interaction_id is None else str(interaction_id)

    async def last_inbound(self, prelead_id: str) -> tuple[bytes | None, dt.datetime] | None:
        row = await self.conn.fetchrow(
            "SELECT content_encrypted, occurred_at FROM interaction "
            "WHERE prelead_id = $1 AND direction = 'inbound' ORDER BY occurred_at DESC LIMIT 1",
            uuid.UUID(prelead_id),
        )
        return None if row is None else (row["content_encrypted"], row["occurred_at"])

    async def report_status(
        self,
        provider: str,
        provider_message_id: str | None,
        idempotency_key: str | None,
        reported: DeliveryStatus,
        at: dt.datetime,
        error_code: str | None,
    ) -> InteractionStatusChange | None:
        row = await self.conn.fetchrow(
            """
            SELECT i.id, i.status, i.channel, m.flow_id, m.idempotency_key
              FROM message_send m
              JOIN interaction i ON i.id = m.interaction_id
             WHERE (m.provider = $1 AND m.provider_message_id = $2)
                OR ($3::text IS NOT NULL AND m.idempotency_key = $3)
             LIMIT 1
             FOR UPDATE OF i
            """,
            provider,
            provider_message_id,
            idempotency_key,
        )
        if row is None:
            return None
        previous = DeliveryStatus(row["status"]) if row["status"] != "received" else None
        if previous is None:
            return None
        current = advance_status(previous, reported)
        column = {
            DeliveryStatus.DELIVERED: "delivered_at",
            DeliveryStatus.READ: "read_at",
            DeliveryStatus.FAILED: "failed_at",
        }.get(reported)
        # A failure after delivery keeps the status and still records when and why.
        stamp = f", {column} = coalesce({column}, $4::timestamptz)" if column else ""
        await self.conn.execute(
            f"UPDATE interaction SET status = $2, error_code = coalesce($3, error_code){stamp} "
            "WHERE id = $1",
            row["id"],
            current.value,
            error_code,
            *([at] if column else []),
        )
        current_send = False
        if row["flow_id"] is not None:
            flow = await self.conn.fetchrow(
                "SELECT id, state, channel, attempt FROM qualification_flow WHERE id = $1",
                row["flow_id"],
            )
            if flow is not None and flow["state"] == "awaiting_reply":
                key = f"qualify:{flow['id']}:{flow['channel']}:{flow['attempt']}"
                current_send = key == row["idempotency_key"]
        return InteractionStatusChange(
            interaction_id=str(row["id"]),
            flow_id=None if row["flow_id"] is None else str(row["flow_id"]),
            channel=Channel(row["channel"]),
            previous=previous,
            current=current,
            current_send=current_send,
        )

    async def record_event(
        self,
        provider: str,
        event_id: str,
        *,
        tenant_id: str | None,
        kind: str,
        provider_message_id: str | None,
        detail: Mapping[str, object],
    ) -> bool:
        inserted = await self.conn.fetchval(
            """
            INSERT INTO provider_event (provider, event_id, tenant_id, kind, provider_message_id,
                                        detail)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            provider,
            event_id,
            None if tenant_id is None else uuid.UUID(tenant_id),
            kind,
            provider_message_id,
            json.dumps(dict(detail)),
        )
        return bool(inserted)

    async def add_unmatched(
        self,
        *,
        tenant_id: str | None,
        provider: str,
        channel: Channel,
        provider_message_id: str,
        sender_hash: bytes,
        sender_encrypted: bytes,
        body_encrypted: bytes,
        recipient: str | None,
        received_at: dt.datetime,
    ) -> None:
        await self.conn.execute(
            """
            INSERT INTO unmatched_reply (tenant_id, provider, channel, provider_message_id,
                                         sender_hash, sender_encrypted, body_encrypted, recipient,
                                         received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            None if tenant_id is None else uuid.UUID(tenant_id),
            provider,
            channel.value,
            provider_message_id,
            sender_hash,
            sender_encrypted,
            body_encrypted,
            recipient,
            received_at,
        )

    async def unmatched(self, page: PageRequest) -> Page:
        # A tenant's scope lists its own; the host's, those no tenant claimed.
        return await self._paged(
            "*",
            "FROM unmatched_reply WHERE tenant_id IS NOT DISTINCT FROM app_tenant()",
            (),
            page,
            _unmatched,
            order="received_at DESC, id",
        )

    async def add_opt_out(
        self, tenant_id: str | None, kind: str, value_hash: bytes, source: str
    ) -> bool:
        inserted = await self.conn.fetchval(
            """
            INSERT INTO opt_out (tenant_id, kind, value_hash, source) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            None if tenant_id is None else uuid.UUID(tenant_id),
            kind,
            value_hash,
            source,
        )
        return bool(inserted)

    # --- routing, without a tenant -----------------------------------------------------

    async def due_jobs(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        rows = await self.conn.fetch("SELECT * FROM qualification_due_jobs($1, $2)", now, limit)
        return [(str(row["tenant_id"]), str(row["job_id"])) for row in rows]

    async def route_contact(self, hashes: Sequence[bytes]) -> list[tuple[str, str]]:
        rows = await self.conn.fetch(
            "SELECT * FROM qualification_contact_tenants($1::bytea[])", list(hashes)
        )
        return [(str(row["tenant_id"]), str(row["flow_id"])) for row in rows]

    async def route_message(
        self, provider: str, provider_message_id: str | None, idempotency_key: str | None
    ) -> str | None:
        tenant_id = await self.conn.fetchval(
            "SELECT qualification_message_tenant($1, $2, $3)",
            provider,
            provider_message_id,
            idempotency_key,
        )
        return None if tenant_id is None else str(tenant_id)

    async def route_sender(self, channel: Channel, address: str) -> str | None:
        tenant_id = await self.conn.fetchval(
            "SELECT sender_number_tenant($1, $2)", channel.value, address
        )
        return None if tenant_id is None else str(tenant_id)


def _actor_uuid(actor: Actor) -> uuid.UUID | None:
    try:
        return None if actor.id is None else uuid.UUID(actor.id)
    except ValueError:
        return None
