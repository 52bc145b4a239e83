"""A lead's timeline: notes, tasks, interactions logged by users, and the lead's events.

The timeline merges four kinds of entries in one list, newest first. An
interaction logged by a user (a call, a meeting, a message sent outside
Garimpo) has status ``logged``. Sends made by the messaging workers carry
the provider's statuses instead.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from domain.errors import RuleViolation
from domain.leads import LeadEvent

MAX_NOTE_LENGTH = 20000
MAX_TASK_TITLE_LENGTH = 300
MAX_INTERACTION_CONTENT_LENGTH = 20000
#: How far ahead of the server's clock a logged interaction may be dated,
#: for clients whose clocks run a little fast.
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Status of an interaction that a user recorded by hand.
LOGGED_STATUS = "logged"


class TimelineType(enum.StrEnum):
    EVENT = "event"
    INTERACTION = "interaction"
    NOTE = "note"
    TASK = "task"


class Channel(enum.StrEnum):
    PHONE = "phone"
    MEETING = "meeting"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    EMAIL = "email"
    OTHER = "other"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


@attrs.frozen(kw_only=True)
class Note:
    id: str
    lead_id: str
    body: str
    author_id: str | None
    author_label: str | None
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class Task:
    id: str
    lead_id: str
    title: str
    due_at: dt.datetime | None
    assignee_id: str | None
    done_at: dt.datetime | None
    done_by_label: str | None
    created_by: str | None
    created_by_label: str | None
    created_at: dt.datetime

    @property
    def done(self) -> bool:
        return self.done_at is not None


@attrs.frozen(kw_only=True)
class Interaction:
    id: str
    lead_id: str
    channel: str
    direction: str
    #: The message body or call summary, decrypted; None when none was stored.
    content: str | None
    status: str
    provider: str | None
    occurred_at: dt.datetime
    created_by: str | None
    created_by_label: str | None
    created_at: dt.datetime


@attrs.frozen
class TimelineEntry:
    type: TimelineType
    occurred_at: dt.datetime
    item: LeadEvent | Interaction | Note | Task


def note_body(value: str) -> str:
    """Trim a note's body and check its length; inner line breaks are kept."""
    body = value.strip()
    if not 1 <= len(body) <= MAX_NOTE_LENGTH:
        raise RuleViolation(
            f"A nota deve ter de 1 a {MAX_NOTE_LENGTH} caracteres.",
            field="body",
            code="invalid_note",
        )
    return body


def task_title(value: str) -> str:
    title = " ".join(value.split())
    if not 1 <= len(title) <= MAX_TASK_TITLE_LENGTH:
        raise RuleViolation(
            f"O título da tarefa deve ter de 1 a {MAX_TASK_TITLE_LENGTH} caracteres.",
            field="title",
            code="invalid_task_title",
        )
    return title


def interaction_content(value: str | None) -> str | None:
    """Trim the content of a logged interaction; an empty one is stored as None."""
    if value is None:
        return None
    content = value.strip()
    if len(content) > MAX_INTERACTION_CONTENT_LENGTH:
        raise RuleViolation(
            f"O conteúdo da interação tem {len(content)} caracteres; o máximo é "
            f"{MAX_INTERACTION_CONTENT_LENGTH}.",
            field="content",
            code="content_too_long",
        )
    return content or None


def interaction_time(occurred_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When a logged interaction happened: ``now`` when not given, never in the future."""
    if occurred_at is None:
        return now
    if occurred_at > now + CLOCK_SKEW:
        raise RuleViolation(
            "A data da interação está no futuro; registre interações que já aconteceram.",
            field="occurred_at",
            code="occurred_at_in_future",
        )
    return occurred_at
