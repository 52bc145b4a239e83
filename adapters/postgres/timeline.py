"""A lead's timeline in PostgreSQL: events, interactions, notes and tasks of one tenant.

The page is chosen first from a UNION ALL of (type, id, time) over the four
tables, so ordering and counting happen in one query. The rows of that page
are then read from each table by id.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from adapters.postgres.ids import optional_text, optional_uuid, parse_uuid
from application.timeline import NewInteraction, StoredInteraction, TaskFilter
from domain.audit import Actor
from domain.leads import LeadEvent, LeadEventKind
from domain.search import Page, PageRequest
from domain.timeline import LOGGED_STATUS, Note, Task, TimelineEntry, TimelineType

#: Each timeline type: its table and the column that dates its entries.
_SOURCES = {
    TimelineType.EVENT: ("lead_event", "occurred_at"),
    TimelineType.INTERACTION: ("interaction", "occurred_at"),
    TimelineType.NOTE: ("lead_note", "created_at"),
    TimelineType.TASK: ("lead_task", "created_at"),
}

_NOTE_COLUMNS = "id, lead_id, body, author_id, author_label, created_at"
_TASK_COLUMNS = (
    "id, lead_id, title, due_at, assignee_id, done_at, done_by_label, created_by, "
    "created_by_label, created_at"
)
_INTERACTION_COLUMNS = (
    "id, lead_id, channel, direction, content_encrypted, status, provider, occurred_at, "
    "created_by, created_by_label, created_at"
)
_EVENT_COLUMNS = (
    "id, kind, occurred_at, actor_type, actor_label, from_stage_id, to_stage_id, reason, data"
)


def _note(row: asyncpg.Record) -> Note:
    return Note(
        id=str(row["id"]),
        lead_id=str(row["lead_id"]),
        body=row["body"],
        author_id=optional_text(row["author_id"]),
        author_label=row["author_label"],
        created_at=row["created_at"],
    )


def _task(row: asyncpg.Record) -> Task:
    return Task(
        id=str(row["id"]),
        lead_id=str(row["lead_id"]),
        title=row["title"],
        due_at=row["due_at"],
        assignee_id=optional_text(row["assignee_id"]),
        done_at=row["done_at"],
        done_by_label=row["done_by_label"],
        created_by=optional_text(row["created_by"]),
        created_by_label=row["created_by_label"],
        created_at=row["created_at"],
    )


def _interaction(row: asyncpg.Record) -> StoredInteraction:
    return StoredInteraction(
        id=str(row["id"]),
        lead_id=str(row["lead_id"]),
        channel=row["channel"],
        direction=row["direction"],
        content_encrypted=row["content_encrypted"],
        status=row["status"],
        provider=row["provider"],
        occurred_at=row["occurred_at"],
        created_by=optional_text(row["created_by"]),
        created_by_label=row["created_by_label"],
        created_at=row["created_at"],
    )


def _event_kind(value: str) -> LeadEventKind | str:
    # Rows written by a newer version may carry kinds this one does not know;
    # the timeline shows them as they are instead of failing.
    try:
        return LeadEventKind(value)
    except ValueError:
        return value


def _event(row: asyncpg.Record) -> LeadEvent:
    return LeadEvent(
        id=str(row["id"]),
        kind=_event_kind(row["kind"]),
        occurred_at=row["occurred_at"],
        actor_type=row["actor_type"],
        actor_label=row["actor_label"],
        from_stage_id=optional_text(row["from_stage_id"]),
        to_stage_id=optional_text(row["to_stage_id"]),
        reason=row["reason"],
        data=row["data"] if isinstance(row["data"], dict) else _json(row["data"]),
    )


def _json(text: str | None) -> dict[str, Any]:
    return dict(json.loads(text)) if text else {}


def _account_id(actor: Actor) -> uuid.UUID | None:
    """Return the actor's id when it is a UUID (accounts and API keys), None for the system."""
    return parse_uuid(actor.id) if actor.id else None


class PostgresTimeline:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lead_exists(self, lead_id: str) -> bool:
        key = parse_uuid(lead_id)
        if key is None:
            return False
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM lead WHERE id = $1 AND merged_into IS NULL)", key
            )
        )

    async def entries(
        self, lead_id: str, types: frozenset[TimelineType], page: PageRequest
    ) -> Page:
        key = uuid.UUID(lead_id)
        chosen = [kind for kind in TimelineType if kind in types]
        union = " UNION ALL ".join(
            f"SELECT '{kind.value}' AS type, id, {_SOURCES[kind][1]} AS at "
            f"FROM {_SOURCES[kind][0]} WHERE lead_id = $1"
            for kind in chosen
        )
        total = await self.conn.fetchval(f"SELECT count(*) FROM ({union}) AS entry", key)
        rows = await self.conn.fetch(
            f"SELECT type, id, at FROM ({union}) AS entry "
            "ORDER BY at DESC, type, id DESC OFFSET $2 LIMIT $3",
            key,
            page.offset,
            page.per_page,
        )

        ids: dict[TimelineType, list[uuid.UUID]] = {kind: [] for kind in TimelineType}
        for row in rows:
            ids[TimelineType(row["type"])].append(row["id"])
        items = await self._items(ids)
        entries = tuple(
            TimelineEntry(TimelineType(row["type"]), row["at"], items[row["id"]]) for row in rows
        )
        return Page(items=entries, page=page.page, per_page=page.per_page, total_items=int(total))

    async def _items(self, ids: dict[TimelineType, list[uuid.UUID]]) -> dict[uuid.UUID, Any]:
        items: dict[uuid.UUID, Any] = {}
        readers = (
            (TimelineType.EVENT, "lead_event", _EVENT_COLUMNS, _event),
            (TimelineType.INTERACTION, "interaction", _INTERACTION_COLUMNS, _interaction),
            (TimelineType.NOTE, "lead_note", _NOTE_COLUMNS, _note),
            (TimelineType.TASK, "lead_task", _TASK_COLUMNS, _task),
        )
        for kind, table, columns, build in readers:
            if not ids[kind]:
                continue
            rows = await self.conn.fetch(
                f"SELECT {columns} FROM {table} WHERE id = ANY ($1::uuid[])", ids[kind]
            )
            items.update((row["id"], build(row)) for row in rows)
        return items

    async def add_note(self, lead_id: str, body: str, actor: Actor) -> Note:
        row = await self.conn.fetchrow(
            "INSERT INTO lead_note (tenant_id, lead_id, body, author_id, author_label) "
            f"VALUES (app_tenant(), $1, $2, $3, $4) RETURNING {_NOTE_COLUMNS}",
            uuid.UUID(lead_id),
            body,
            _account_id(actor),
            actor.label,
        )
        return _note(row)

    async def note(self, lead_id: str, note_id: str) -> Note | None:
        key = parse_uuid(note_id)
        if key is None:
            return None
        row = await self.conn.fetchrow(
            f"SELECT {_NOTE_COLUMNS} FROM lead_note WHERE id = $1 AND lead_id = $2",
            key,
            uuid.UUID(lead_id),
        )
        return None if row is None else _note(row)

    async def remove_note(self, note_id: str) -> None:
        await self.conn.execute("DELETE FROM lead_note WHERE id = $1", uuid.UUID(note_id))

    async def add_task(
        self,
        lead_id: str,
        title: str,
        *,
        due_at: Any,
        assignee_id: str | None,
        actor: Actor,
    ) -> Task:
        row = await self.conn.fetchrow(
            "INSERT INTO lead_task (tenant_id, lead_id, title, due_at, assignee_id, created_by, "
            f"created_by_label) VALUES (app_tenant(), $1, $2, $3, $4, $5, $6) "
            f"RETURNING {_TASK_COLUMNS}",
            uuid.UUID(lead_id),
            title,
            due_at,
            optional_uuid(assignee_id),
            _account_id(actor),
            actor.label,
        )
        return _task(row)

    async def task_for_update(self, lead_id: str, task_id: str) -> Task | None:
        key = parse_uuid(task_id)
        if key is None:
            return None
        row = await self.conn.fetchrow(
            f"SELECT {_TASK_COLUMNS} FROM lead_task WHERE id = $1 AND lead_id = $2 FOR UPDATE",
            key,
            uuid.UUID(lead_id),
        )
        return None if row is None else _task(row)

    async def save_task(self, task: Task) -> Task:
        row = await self.conn.fetchrow(
            "UPDATE lead_task SET title = $2, due_at = $3, assignee_id = $4, done_at = $5, "
            f"done_by_label = $6 WHERE id = $1 RETURNING {_TASK_COLUMNS}",
            uuid.UUID(task.id),
            task.title,
            task.due_at,
            optional_uuid(task.assignee_id),
            task.done_at,
            task.done_by_label,
        )
        return _task(row)

    async def open_tasks(self, task_filter: TaskFilter, page: PageRequest) -> Page:
        conditions = ["t.done_at IS NULL", "l.merged_into IS NULL"]
        args: list[Any] = []
        if task_filter.assignee_id is not None:
            args.append(optional_uuid(task_filter.assignee_id))
            conditions.append(f"t.assignee_id = ${len(args)}")
        if task_filter.due_before is not None:
            args.append(task_filter.due_before)
            conditions.append(f"t.due_at < ${len(args)}")
        if task_filter.overdue_at is not None:
            args.append(task_filter.overdue_at)
            conditions.append(f"t.due_at < ${len(args)}")
        where = " AND ".join(conditions)
        source = f"FROM lead_task t JOIN lead l ON l.id = t.lead_id WHERE {where}"

        total = await self.conn.fetchval(f"SELECT count(*) {source}", *args)
        columns = ", ".join(f"t.{column.strip()}" for column in _TASK_COLUMNS.split(","))
        rows = await self.conn.fetch(
            f"SELECT {columns} {source} "
            f"ORDER BY t.due_at NULLS LAST, t.created_at, t.id "
            f"OFFSET ${len(args) + 1} LIMIT ${len(args) + 2}",
            *args,
            page.offset,
            page.per_page,
        )
        return Page(
            items=tuple(_task(row) for row in rows),
            page=page.page,
            per_page=page.per_page,
            total_items=int(total),
        )

    async def add_interaction(self, interaction: NewInteraction) -> StoredInteraction:
        row = await self.conn.fetchrow(
            "INSERT INTO interaction (tenant_id, lead_id, channel, direction, content_encrypted, "
            "status, occurred_at, created_by, created_by_label) "
            "VALUES (app_tenant(), $1, $2, $3, $4, $5, $6, $7, $8) "
            f"RETURNING {_INTERACTION_COLUMNS}",
            uuid.UUID(interaction.lead_id),
            interaction.channel.value,
            interaction.direction.value,
            interaction.content_encrypted,
            LOGGED_STATUS,
            interaction.occurred_at,
            _account_id(interaction.actor),
            interaction.actor.label,
        )
        return _interaction(row)
