"""Credit use cases: holds when qualification starts, captures and releases when it ends,
grants, adjustments and reversals by the host, and the reads behind the reports.

The ledger repository of a scope posts every operation atomically. It also
queues the low-balance alert in the transaction of the entry that crosses the
tenant's threshold. These use cases choose the operation, validate what
people typed and audit manual entries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import attrs

from application.ports import UnitOfWork
from domain.audit import Actor, ActorType, AuditEvent
from domain.credits import (
    DEFAULT_HOLD_LIFETIME,
    MAX_CREDITS_PER_ENTRY,
    CaptureStatus,
    CreditBalance,
    EntryKind,
    HoldResult,
    InvalidCreditOperation,
    LedgerEntry,
    ReleaseReason,
    ReleaseStatus,
    credit_amount,
    credit_reason,
)
from domain.errors import InvalidSearch
from domain.search import Page, PageRequest

#: Kind of the outbox notification the ledger queues when the available credits
#: fall to the tenant's threshold.
LOW_BALANCE_ALERT = "credits.low"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- what the ledger repository returns ------------------------------------------


@attrs.frozen(kw_only=True)
class Posted:
    entry_id: str
    #: False when the idempotency key had already produced this entry.
    created: bool
    #: Qualified pre-leads whose waiting capture this posting settled.
    settled_preleads: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Captured:
    status: CaptureStatus
    entry_id: str | None


@attrs.frozen(kw_only=True)
class Released:
    status: ReleaseStatus
    entry_id: str | None
    settled_preleads: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PostOutcome:
    entry: LedgerEntry
    #: False when the idempotency key had already produced ``entry``.
    created: bool


@attrs.frozen(kw_only=True)
class Coverage:
    """How many of the pre-leads a qualification would start with the credits available now."""

    requested: int
    balance: CreditBalance

    @property
    def covered(self) -> int:
        return max(0, min(self.requested, self.balance.available))

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "covered": self.covered,
            "missing": self.requested - self.covered,
            **self.balance.to_json(),
        }


@attrs.frozen(kw_only=True)
class LedgerFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    kinds: frozenset[EntryKind] = frozenset()

    def __attrs_post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise InvalidSearch(
                "O início do período deve ser anterior ao fim.",
                field="since",
                code="invalid_period",
            )


@attrs.frozen(kw_only=True)
class DailyUsage:
    day: dt.date
    captured: int
    held: int
    released: int


@attrs.frozen(kw_only=True)
class UserUsage:
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    captured: int
    held: int


@attrs.frozen(kw_only=True)
class CreditUsage:
    since: dt.datetime
    until: dt.datetime
    timezone: str
    by_day: tuple[DailyUsage, ...]
    by_user: tuple[UserUsage, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "timezone": self.timezone,
            "by_day": [
                {
                    "day": item.day.isoformat(),
                    "captured": item.captured,
                    "held": item.held,
                    "released": item.released,
                }
                for item in self.by_day
            ],
            "by_user": [
                {
                    "actor": {
                        "type": item.actor_type,
                        "id": item.actor_id,
                        "label": item.actor_label,
                    },
                    "captured": item.captured,
                    "held": item.held,
                }
                for item in self.by_user
            ],
        }


class CreditLedger(Protocol):
    """The ledger of the scope's tenant, posted under the tenant's account lock."""

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
        """Post a grant, adjustment, reversal or expiry; a used key returns its entry.

        Raises InsufficientCredits when the balance would fall below the held
        credits, EntryNotFound, EntryNotReversible or EntryAlreadyReversed.
        """
        ...

    async def hold(
        self,
        tenant_id: str,
        prelead_ids: Sequence[str],
        *,
        job_id: str | None,
        expires_at: dt.datetime,
        partial: bool,
        actor: Actor,
    ) -> HoldResult: ...

    async def capture(
        self, tenant_id: str, prelead_id: str, *, lead_reference: str | None, actor: Actor
    ) -> Captured: ...

    async def release(
        self,
        tenant_id: str,
        *,
        prelead_id: str | None = None,
        hold_id: str | None = None,
        reason: ReleaseReason,
        actor: Actor,
    ) -> Released: ...

    async def expire_lots(self, tenant_id: str, now: dt.datetime, actor: Actor) -> list[Posted]: ...

    async def balance(self, tenant_id: str) -> CreditBalance: ...

    async def entry(self, entry_id: str) -> LedgerEntry | None: ...

    async def entries(self, filters: LedgerFilter, page: PageRequest) -> Page: ...

    def stream(self, filters: LedgerFilter) -> AsyncIterator[LedgerEntry]:
        """Yield every entry matching ``filters``, oldest first, read in batches."""
        ...

    async def open_holds_of_job(self, job_id: str) -> list[str]:
        """Return the ids of the open holds a qualification job placed."""
        ...

    async def expired_holds(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        """Return (tenant id, hold id) of open holds past their expiry; needs a host scope."""
        ...

    async def tenants_with_expired_lots(self, now: dt.datetime) -> list[str]:
        """Return the tenants with unused credits past their date; needs a host scope."""
        ...


class QualificationCredits:
    """The credit side of a qualification: hold at the start, capture or release at the end."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        hold_lifetime: dt.timedelta = DEFAULT_HOLD_LIFETIME,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._hold_lifetime = hold_lifetime
        self._clock = clock

    async def hold(
        self,
        actor: Actor,
        tenant_id: str,
        prelead_ids: Sequence[str],
        *,
        job_id: str | None = None,
        partial: bool = False,
    ) -> HoldResult:
        """Hold one credit per pre-lead; without ``partial``, all of them or none.

        A pre-lead that already has an open hold keeps it and is not held twice.
        Raises InsufficientCredits, whose ``available`` gives how many the
        balance covers, so the caller can start with that many.
        """
        async with self._uow.statements(tenant_id) as scope:
            return await scope.credits.hold(
                tenant_id,
                prelead_ids,
                job_id=job_id,
                expires_at=self._clock() + self._hold_lifetime,
                partial=partial,
                actor=actor,
            )

    async def capture(
        self, actor: Actor, tenant_id: str, prelead_id: str, *, lead_reference: str | None = None
    ) -> Captured:
        """Charge a qualified pre-lead in a statement of its own.

        A use case that also creates the lead calls ``scope.credits.capture``
        inside its own tenant transaction instead, so the lead and its charge
        commit together. Here the statement commits on the server, which
        releases the account lock without a round trip back to this process.
        """
        async with self._uow.statements(tenant_id) as scope:
            return await scope.credits.capture(
                tenant_id, prelead_id, lead_reference=lead_reference, actor=actor
            )

    async def release(
        self, actor: Actor, tenant_id: str, prelead_id: str, *, reason: ReleaseReason
    ) -> Released:
        async with self._uow.statements(tenant_id) as scope:
            return await scope.credits.release(
                tenant_id, prelead_id=prelead_id, reason=reason, actor=actor
            )

    async def release_job(self, actor: Actor, tenant_id: str, job_id: str) -> int:
        """Release every open hold of a cancelled job; return how many were released."""
        async with self._uow.tenant(tenant_id) as scope:
            hold_ids = await scope.credits.open_holds_of_job(job_id)
            count = 0
            for hold_id in hold_ids:
                released = await scope.credits.release(
                    tenant_id, hold_id=hold_id, reason=ReleaseReason.CANCELLED, actor=actor
                )
                count += released.status is ReleaseStatus.RELEASED
        return count


class Credits:
    """Balances, statements and usage for tenants; grants, adjustments and reversals for the host."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], dt.datetime] = _now) -> None:
        self._uow = uow
        self._clock = clock

    async def balance(self, tenant_id: str) -> CreditBalance:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.credits.balance(tenant_id)

    async def coverage(self, tenant_id: str, requested: int) -> Coverage:
        """Say how many of ``requested`` pre-leads the available credits cover, before starting."""
        if requested < 1 or requested > MAX_CREDITS_PER_ENTRY:
            raise InvalidCreditOperation(
                "Informe quantos pré-leads a qualificação teria, de 1 em diante.",
                field="preleads",
            )
        return Coverage(requested=requested, balance=await self.balance(tenant_id))

    async def ledger(self, tenant_id: str, filters: LedgerFilter, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.credits.entries(filters, page)

    async def export(self, tenant_id: str, filters: LedgerFilter) -> AsyncIterator[LedgerEntry]:
        """Stream the statement for a file export, oldest entry first, in one snapshot."""
        async with self._uow.tenant(tenant_id) as scope:
            async for entry in scope.credits.stream(filters):
                yield entry

    async def grant(
        self,
        actor: Actor,
        tenant_id: str,
        amount: Any,
        *,
        reason: Any = None,
        idempotency_key: str | None = None,
        reference_type: str = "admin",
        reference_id: str | None = None,
        expires_at: dt.datetime | None = None,
    ) -> LedgerEntry:
        """Add credits: a purchase, a plan's period, a courtesy. A repeated key grants once."""
        outcome = await self.grant_outcome(
            actor,
            tenant_id,
            amount,
            reason=reason,
            idempotency_key=idempotency_key,
            reference_type=reference_type,
            reference_id=reference_id,
            expires_at=expires_at,
        )
        return outcome.entry

    async def grant_outcome(
        self,
        actor: Actor,
        tenant_id: str,
        amount: Any,
        *,
        reason: Any = None,
        idempotency_key: str | None = None,
        reference_type: str = "admin",
        reference_id: str | None = None,
        expires_at: dt.datetime | None = None,
    ) -> PostOutcome:
        """Grant like ``grant``, and tell whether this call posted the entry or replayed its key."""
        credits = credit_amount(amount)
        text = credit_reason(reason, required=False)
        if expires_at is not None and expires_at <= self._clock():
            raise InvalidSearch(
                "A validade dos créditos deve estar no futuro.",
                field="expires_at",
                code="invalid_credit_operation",
            )
        return await self._post(
            actor,
            tenant_id,
            EntryKind.GRANT,
            credits,
            reason=text,
            idempotency_key=idempotency_key,
            reference_type=reference_type,
            reference_id=reference_id if reference_id is not None else _actor_reference(actor),
            expires_at=expires_at,
        )

    async def adjust(
        self,
        actor: Actor,
        tenant_id: str,
        amount: Any,
        *,
        reason: Any,
        idempotency_key: str | None = None,
    ) -> LedgerEntry:
        """Post a host admin's correction, up or down, with a mandatory reason."""
        credits = credit_amount(amount, allow_negative=True)
        text = credit_reason(reason, required=True)
        outcome = await self._post(
            actor,
            tenant_id,
            EntryKind.ADJUSTMENT,
            credits,
            reason=text,
            idempotency_key=idempotency_key,
            reference_type="admin",
            reference_id=_actor_reference(actor),
        )
        return outcome.entry

    async def reverse(
        self,
        actor: Actor,
        tenant_id: str,
        entry_id: str,
        *,
        reason: Any,
        idempotency_key: str | None = None,
    ) -> LedgerEntry:
        """Undo an entry with a compensating one; a second reversal of it is refused.

        A retried request replays only with the same ``idempotency_key``; any
        other second reversal raises EntryAlreadyReversed.
        """
        text = credit_reason(reason, required=True)
        outcome = await self._post(
            actor,
            tenant_id,
            EntryKind.REVERSAL,
            0,
            reason=text,
            idempotency_key=idempotency_key,
            reference_type="entry",
            reference_id=entry_id,
            reverses=entry_id,
        )
        return outcome.entry

    async def _post(
        self,
        actor: Actor,
        tenant_id: str,
        kind: EntryKind,
        amount: int,
        *,
        reason: str | None,
        idempotency_key: str | None,
        reference_type: str,
        reference_id: str | None,
        reverses: str | None = None,
        expires_at: dt.datetime | None = None,
    ) -> PostOutcome:
        key = idempotency_key or f"{kind.value}:{uuid.uuid4()}"
        async with self._uow.tenant(tenant_id) as scope:
            posted = await scope.credits.post(
                tenant_id,
                kind,
                amount,
                idempotency_key=key,
                actor=actor,
                reason=reason,
                reference_type=reference_type,
                reference_id=reference_id,
                reverses=reverses,
                expires_at=expires_at,
            )
            entry = await scope.credits.entry(posted.entry_id)
            assert entry is not None, "a posted entry is readable in its own transaction"
            # Manual entries are audited; the ledger itself records system ones.
            if posted.created and actor.type is not ActorType.SYSTEM:
                await scope.audit.record(
                    AuditEvent(
                        action=f"credits.{kind.value}",
                        actor=actor,
                        tenant_id=tenant_id,
                        target_type="credit_entry",
                        target_id=entry.id,
                        after={
                            "amount": entry.amount,
                            "balance_after": entry.balance_after,
                            "reason": entry.reason,
                        },
                        detail={"reverses_entry_id": reverses} if reverses else None,
                    )
                )
        return PostOutcome(entry=entry, created=posted.created)


def _actor_reference(actor: Actor) -> str | None:
    return actor.id if actor.type in (ActorType.ACCOUNT, ActorType.API_KEY) else None


class CreditMaintenance:
    """Periodic work: release holds past their expiry and expire credits past their date."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], dt.datetime] = _now) -> None:
        self._uow = uow
        self._clock = clock

    async def release_expired_holds(self, actor: Actor, *, batch: int = 500) -> int:
        """Release the holds whose qualification did not end in time; return how many."""
        now = self._clock()
        released = 0
        async with self._uow.host() as host_scope:
            expired = await host_scope.credits.expired_holds(now, batch)
        for tenant_id, hold_id in expired:
            async with self._uow.tenant(tenant_id) as scope:
                result = await scope.credits.release(
                    tenant_id, hold_id=hold_id, reason=ReleaseReason.EXPIRED, actor=actor
                )
            released += result.status is ReleaseStatus.RELEASED
        return released

    async def expire_credits(self, actor: Actor) -> int:
        """Post an expiry for the unused credits of lots past their date; return how many entries."""
        now = self._clock()
        count = 0
        async with self._uow.host() as host_scope:
            tenants = await host_scope.credits.tenants_with_expired_lots(now)
        for tenant_id in tenants:
            async with self._uow.tenant(tenant_id) as scope:
                posted = await scope.credits.expire_lots(tenant_id, now, actor)
            count += len(posted)
        return count
