"""What the qualification use cases need from storage and from the job queue.

The repository works inside one tenant's transaction, except ``due_jobs``
and the three ``route_*`` lookups. Those run without a tenant and return
which tenant a job or an inbound message belongs to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from domain.audit import Actor
from domain.errors import Conflict
from domain.qualification import Channel, DeliveryStatus, Flow
from domain.search import Page, PageRequest
from domain.selections import PreleadStatus


class SenderTaken(Conflict):
    code = "sender_taken"

    def __init__(self) -> None:
        super().__init__(
            "Este número ou endereço já está cadastrado como remetente no Garimpo; use outro."
        )


@attrs.frozen(kw_only=True)
class Progress:
    total: int
    #: Flows with no message out yet.
    queued: int
    sent: int
    delivered: int
    read: int
    failed: int
    replied: int
    in_review: int
    outcomes: Mapping[str, int]
    #: Messages handed to a provider whose outcome is not recorded yet.
    sending: int = 0
    #: When the next waiting send is due; None when no flow waits to send.
    next_send_at: dt.datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "queued": self.queued,
            "sending": self.sending,
            "next_send_at": None if self.next_send_at is None else self.next_send_at.isoformat(),
            "sent": self.sent,
            "delivered": self.delivered,
            "read": self.read,
            "failed": self.failed,
            "replied": self.replied,
            "in_review": self.in_review,
            "classified": dict(self.outcomes),
        }


@attrs.frozen(kw_only=True)
class Job:
    id: str
    tenant_id: str
    selection_id: str
    state: str
    orchestrator: str
    total: int
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    created_by_label: str | None = None
    progress: Progress | None = None


@attrs.frozen(kw_only=True)
class Candidate:
    """A selection item about to be qualified, with what the selection knew of it."""

    prelead_id: str
    cnpj: str
    status: PreleadStatus
    flags: tuple[str, ...]


@attrs.frozen(kw_only=True)
class NewFlow:
    flow: Flow
    phone_encrypted: bytes | None
    phone_hash: bytes | None
    email_encrypted: bytes | None
    email_hash: bytes | None


@attrs.frozen(kw_only=True)
class StoredFlow:
    id: str
    tenant_id: str
    job_id: str
    job_state: str
    job_orchestrator: str
    cnpj: str
    flow: Flow
    phone_encrypted: bytes | None
    phone_hash: bytes | None
    email_encrypted: bytes | None
    email_hash: bytes | None
    lease_until: dt.datetime | None
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class SendRecord:
    idempotency_key: str
    flow_id: str | None
    channel: Channel
    state: str
    sender: str | None
    provider: str | None
    provider_message_id: str | None
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class Sender:
    id: str
    channel: Channel
    address: str
    provider_ref: str | None
    limit_per_period: int
    period_seconds: int
    active: bool
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class SenderLoad:
    sender: Sender
    #: Sends from this sender within its current period.
    used: int
    #: The oldest of those sends: one more send is possible once it leaves the period.
    oldest: dt.datetime | None


@attrs.frozen(kw_only=True)
class DueStep:
    flow_id: str
    job_id: str
    prelead_id: str
    action: str
    channel: Channel | None
    due_at: dt.datetime


@attrs.frozen(kw_only=True)
class ReviewItem:
    flow_id: str
    job_id: str
    prelead_id: str
    cnpj: str
    channel: Channel | None
    rule: str | None
    reply_encrypted: bytes | None
    replied_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class UnmatchedReply:
    id: str
    provider: str
    channel: Channel
    sender_encrypted: bytes
    body_encrypted: bytes
    recipient: str | None
    received_at: dt.datetime


@attrs.frozen(kw_only=True)
class InteractionStatusChange:
    interaction_id: str
    flow_id: str | None
    channel: Channel
    previous: DeliveryStatus
    current: DeliveryStatus
    #: True when this message is the current send of a live flow.
    current_send: bool


class QualificationRepository(Protocol):
    # --- jobs ---------------------------------------------------------------
    async def candidates(self, selection_id: str) -> list[Candidate]: ...

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
    ) -> str: ...

    async def job(self, job_id: str, *, for_update: bool = False) -> Job | None: ...

    async def jobs(self, page: PageRequest, selection_id: str | None) -> Page: ...

    async def job_state_for_send(self, job_id: str) -> str | None:
        """Read the job's state and keep it from changing until the caller's commit."""
        ...

    async def set_job_state(
        self, job_id: str, state: str, now: dt.datetime, *, finished: bool = False
    ) -> None: ...

    async def progress(self, job_id: str) -> Progress: ...

    async def unfinished_flows(self, job_id: str) -> int: ...

    # --- flows --------------------------------------------------------------
    async def add_flows(self, tenant_id: str, job_id: str, flows: Sequence[NewFlow]) -> None: ...

    async def flow(self, flow_id: str, *, for_update: bool = False) -> StoredFlow | None: ...

    async def flow_of_prelead(self, prelead_id: str) -> StoredFlow | None: ...

    async def save_flow(
        self, flow_id: str, flow: Flow, now: dt.datetime, *, lease_until: dt.datetime | None = None
    ) -> None: ...

    async def wake_waiting_sends(self, now: dt.datetime, *, job_id: str | None) -> int:
        """Make every send waiting for a later time due now (of one job, or of the tenant).

        Each is checked again by its next step, and waits again if it must.
        """
        ...

    async def claim_due(
        self, job_id: str, now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[str]: ...

    async def due_steps(self, now: dt.datetime, page: PageRequest) -> Page: ...

    async def live_flow_ids(self, job_id: str) -> list[str]: ...

    async def flows_by_contact(self, hashes: Sequence[bytes]) -> list[str]: ...

    async def reviews(self, page: PageRequest) -> Page: ...

    async def set_prelead_status(
        self, prelead_ids: Sequence[str], status: PreleadStatus, now: dt.datetime
    ) -> None: ...

    # --- sends --------------------------------------------------------------
    async def send_record(self, idempotency_key: str) -> SendRecord | None: ...

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
        """Record a send about to go out; False when the key was recorded before."""
        ...

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
    ) -> None: ...

    async def sends_since(self, since: dt.datetime) -> int: ...

    async def lock_sending(self) -> None:
        """Serialise the checks of daily and sender limits of the tenant until the commit."""
        ...

    async def sender_loads(
        self, channel: Channel, now: dt.datetime, margin: dt.timedelta
    ) -> list[SenderLoad]:
        """Return each sender of ``channel`` with its sends in the last period plus ``margin``."""
        ...

    async def senders(self, page: PageRequest) -> Page: ...

    async def add_sender(
        self,
        tenant_id: str,
        channel: Channel,
        address: str,
        provider_ref: str | None,
        limit_per_period: int,
        period_seconds: int,
    ) -> Sender: ...

    async def link_interactions(self, prelead_id: str, lead_id: str) -> None:
        """Put the pre-lead's qualification messages on the lead's timeline."""
        ...

    async def remove_sender(self, sender_id: str) -> bool: ...

    # --- interactions and provider events ----------------------------------
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
        """Add an interaction; None when the provider message id was stored before."""
        ...

    async def last_inbound(self, prelead_id: str) -> tuple[bytes | None, dt.datetime] | None: ...

    async def report_status(
        self,
        provider: str,
        provider_message_id: str | None,
        idempotency_key: str | None,
        reported: DeliveryStatus,
        at: dt.datetime,
        error_code: str | None,
    ) -> InteractionStatusChange | None: ...

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
        """Keep an event id; False when it was kept before."""
        ...

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
    ) -> None: ...

    async def unmatched(self, page: PageRequest) -> Page:
        """List the scope's tenant's unmatched replies; in a host scope, those of no tenant."""
        ...

    async def add_opt_out(
        self, tenant_id: str | None, kind: str, value_hash: bytes, source: str
    ) -> bool:
        """Add to the tenant's list (or the global one for None); False when already there."""
        ...

    # --- routing of inbound messages and due work (no tenant) -------------
    async def due_jobs(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        """Return (tenant id, job id) of running built-in jobs with a step due."""
        ...

    async def route_contact(self, hashes: Sequence[bytes]) -> list[tuple[str, str]]: ...

    async def route_message(
        self, provider: str, provider_message_id: str | None, idempotency_key: str | None
    ) -> str | None: ...

    async def route_sender(self, channel: Channel, address: str) -> str | None: ...


class QualificationScheduler(Protocol):
    """Hands due work to the workers."""

    def advance(self, tenant_id: str, flow_id: str, *, delay: dt.timedelta | None = None) -> None:
        """Queue one step of a flow, to run after ``delay`` when given."""
        ...

    def kick(self) -> None:
        """Ask a worker to look for due steps now, without waiting for its next round."""
        ...
