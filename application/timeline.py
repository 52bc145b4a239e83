"""A lead's timeline and the work logged on it: notes, tasks and interactions.

The timeline merges the lead's events, interactions, notes and tasks in one
list, newest first. Interaction content is personal data. This module
encrypts it with the ``PersonalDataCipher`` before it reaches the repository
and decrypts it when the timeline is read, so the database stores only
ciphertext. A lead of another tenant, an unknown id and a merged lead all answer
404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

import attrs
import structlog

from application.personal_data import PersonalDataCipher
from application.ports import Scope, UnitOfWork
from domain.accounts import AccountStatus
from domain.audit import Actor, AuditEvent
from domain.errors import NotFound, PermissionDenied, RuleViolation
from domain.search import Page, PageRequest
from domain.timeline import (
    Channel,
    Direction,
    Interaction,
    Note,
    Task,
    TimelineEntry,
    TimelineType,
    interaction_content,
    interaction_time,
    note_body,
    task_title,
)

log = structlog.get_logger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class StoredInteraction:
    """An interaction row as stored, with its content still encrypted."""

    id: str
    lead_id: str
    channel: str
    direction: str
    content_encrypted: bytes | None
    status: str
    provider: str | None
    occurred_at: dt.datetime
    created_by: str | None
    created_by_label: str | None
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class NewInteraction:
    lead_id: str
    channel: Channel
    direction: Direction
    content_encrypted: bytes | None
    occurred_at: dt.datetime
    actor: Actor


@attrs.frozen(kw_only=True)
class TaskFilter:
    """Filters of the open task list; a None filter matches every task."""

    assignee_id: str | None = None
    due_before: dt.datetime | None = None
    #: Only tasks whose due time is before this instant (the request's "now").
    overdue_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class TaskChanges:
    """Changes requested by a PATCH of a task; a None value keeps the stored one."""

    title: str | None = None
    due_at: dt.datetime | None = None
    clear_due_at: bool = False
    assignee_id: str | None = None
    clear_assignee: bool = False
    done: bool | None = None


class TimelineRepository(Protocol):
    async def lead_exists(self, lead_id: str) -> bool:
        """Tell whether the tenant has this lead and it has not been merged into another."""
        ...

    async def entries(
        self, lead_id: str, types: frozenset[TimelineType], page: PageRequest
    ) -> Page:
        """Return one page of the lead's timeline, newest first.

        Items are TimelineEntry values whose interaction items are
        StoredInteraction, still encrypted.
        """
        ...

    async def add_note(self, lead_id: str, body: str, actor: Actor) -> Note: ...

    async def note(self, lead_id: str, note_id: str) -> Note | None: ...

    async def remove_note(self, note_id: str) -> None: ...

    async def add_task(
        self,
        lead_id: str,
        title: str,
        *,
        due_at: dt.datetime | None,
        assignee_id: str | None,
        actor: Actor,
    ) -> Task: ...

    async def task_for_update(self, lead_id: str, task_id: str) -> Task | None: ...

    async def save_task(self, task: Task) -> Task:
        """Store a task's title, due time, assignee and completion, and return it as stored."""
        ...

    async def open_tasks(self, task_filter: TaskFilter, page: PageRequest) -> Page:
        """Open tasks of leads that are not merged, the earliest due first, undated last."""
        ...

    async def add_interaction(self, interaction: NewInteraction) -> StoredInteraction: ...


class LeadTimeline:
    """Read a lead's timeline and add notes, tasks and logged interactions to it."""

    def __init__(
        self,
        uow: UnitOfWork,
        cipher: PersonalDataCipher,
        *,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._clock = clock

    async def timeline(
        self,
        tenant_id: str,
        lead_id: str,
        page: PageRequest,
        types: frozenset[TimelineType] = frozenset(TimelineType),
    ) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            await _existing_lead(scope, lead_id)
            found = await scope.timeline.entries(lead_id, types, page)
        entries = tuple(self._readable(entry) for entry in found.items)
        return attrs.evolve(found, items=entries)

    async def add_note(self, actor: Actor, tenant_id: str, lead_id: str, body: str) -> Note:
        text = note_body(body)
        async with self._uow.tenant(tenant_id) as scope:
            await _existing_lead(scope, lead_id)
            return await scope.timeline.add_note(lead_id, text, actor)

    async def remove_note(
        self, actor: Actor, tenant_id: str, lead_id: str, note_id: str, *, is_admin: bool
    ) -> Note:
        """Delete a note; only its author or an admin may."""
        async with self._uow.tenant(tenant_id) as scope:
            await _existing_lead(scope, lead_id)
            note = await scope.timeline.note(lead_id, note_id)
            if note is None:
                raise NotFound(f"Nota não encontrada: '{note_id}'.")
            if not is_admin and (actor.id is None or actor.id != note.author_id):
                raise PermissionDenied(
                    "Só o autor da nota ou um administrador pode removê-la.",
                    code="note_author_required",
                )
            await scope.timeline.remove_note(note.id)
            await scope.audit.record(
                AuditEvent(
                    action="lead_note.removed",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="lead_note",
                    target_id=note.id,
                    detail={"lead_id": lead_id, "author_id": note.author_id},
                )
            )
        return note

    async def add_task(
        self,
        actor: Actor,
        tenant_id: str,
        lead_id: str,
        *,
        title: str,
        due_at: dt.datetime | None = None,
        assignee_id: str | None = None,
    ) -> Task:
        clean_title = task_title(title)
        async with self._uow.tenant(tenant_id) as scope:
            await _existing_lead(scope, lead_id)
            if assignee_id is not None:
                await _check_assignee(scope, tenant_id, assignee_id)
            return await scope.timeline.add_task(
                lead_id, clean_title, due_at=due_at, assignee_id=assignee_id, actor=actor
            )

    async def update_task(
        self, actor: Actor, tenant_id: str, lead_id: str, task_id: str, changes: TaskChanges
    ) -> Task:
        title = None if changes.title is None else task_title(changes.title)
        async with self._uow.tenant(tenant_id) as scope:
            await _existing_lead(scope, lead_id)
            task = await scope.timeline.task_for_update(lead_id, task_id)
            if task is None:
                raise NotFound(f"Tarefa não encontrada: '{task_id}'.")
            if changes.assignee_id is not None and changes.assignee_id != task.assignee_id:
                await _check_assignee(scope, tenant_id, changes.assignee_id)

            updated = attrs.evolve(
                task,
                title=title if title is not None else task.title,
                due_at=None if changes.clear_due_at else (changes.due_at or task.due_at),
                assignee_id=(
                    None if changes.clear_assignee else (changes.assignee_id or task.assignee_id)
                ),
            )
            if changes.done is True and not task.done:
                updated = attrs.evolve(updated, done_at=self._clock(), done_by_label=actor.label)
            if changes.done is False:
                updated = attrs.evolve(updated, done_at=None, done_by_label=None)
            if updated == task:
                return task
            return await scope.timeline.save_task(updated)

    async def open_tasks(self, tenant_id: str, task_filter: TaskFilter, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.timeline.open_tasks(task_filter, page)

    async def log_interaction(
        self,
        actor: Actor,
        tenant_id: str,
        lead_id: str,
        *,
        channel: str,
        direction: str,
        content: str | None,
        occurred_at: dt.datetime | None = None,
    ) -> Interaction:
        """Record a call, meeting or message that a user had with the lead, status ``logged``."""
        kind = _channel(channel)
        way = _direction(direction)
        text = interaction_content(content)
        when = interaction_time(occurred_at, self._clock())

        async with self._uow.tenant(tenant_id) as scope:
            await _existing_lead(scope, lead_id)
            stored = await scope.timeline.add_interaction(
                NewInteraction(
                    lead_id=lead_id,
                    channel=kind,
                    direction=way,
                    content_encrypted=None if text is None else self._cipher.encrypt(text),
                    occurred_at=when,
                    actor=actor,
                )
            )
        return self._decrypted(stored)

    def _readable(self, entry: object) -> TimelineEntry:
        assert isinstance(entry, TimelineEntry)
        if isinstance(entry.item, StoredInteraction):
            return attrs.evolve(entry, item=self._decrypted(entry.item))
        return entry

    def _decrypted(self, stored: StoredInteraction) -> Interaction:
        content = None
        if stored.content_encrypted is not None:
            try:
                content = self._cipher.decrypt(stored.content_encrypted)
            except ValueError:
                # Written under another PII_KEY: the rest of the timeline
                # still reads, with this one body left out.
                log.warning("interaction_content_unreadable", interaction_id=stored.id)
                content = None
        return Interaction(
            id=stored.id,
            lead_id=stored.lead_id,
            channel=stored.channel,
            direction=stored.direction,
            content=content,
            status=stored.status,
            provider=stored.provider,
            occurred_at=stored.occurred_at,
            created_by=stored.created_by,
            created_by_label=stored.created_by_label,
            created_at=stored.created_at,
        )


async def _existing_lead(scope: Scope, lead_id: str) -> None:
    if not await scope.timeline.lead_exists(lead_id):
        raise NotFound(f"Lead não encontrado: '{lead_id}'.")


async def _check_assignee(scope: Scope, tenant_id: str, assignee_id: str) -> None:
    """Check that the assignee is an invited or active user of the tenant, not a disabled one."""
    account = await scope.accounts.get(assignee_id)
    if account is None or account.tenant_id != tenant_id:
        raise RuleViolation(
            f"O responsável '{assignee_id}' não é um usuário deste tenant.",
            field="assignee_id",
            code="invalid_assignee",
        )
    if account.status is AccountStatus.DISABLED:
        raise RuleViolation(
            f"O usuário {account.email} está desativado e não pode receber tarefas.",
            field="assignee_id",
            code="invalid_assignee",
        )


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        accepted = ", ".join(member.value for member in Channel)
        raise RuleViolation(
            f"Canal inválido '{value}': use {accepted}.", field="channel", code="invalid_channel"
        ) from None


def _direction(value: str) -> Direction:
    try:
        return Direction(value)
    except ValueError:
        raise RuleViolation(
            f"Direção inválida '{value}': use outbound (enviada) ou inbound (recebida).",
            field="direction",
            code="invalid_direction",
        ) from None
