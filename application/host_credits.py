"""The host's credit operations on one tenant: grants, adjustments and reversals.

``Credits`` posts the entries, audits them, validates amounts and reasons,
tells a replayed grant from a new one and refuses a second reversal. This
module adds what the host API promises on top: a named tenant that exists
and is not deleted, and grant keys kept apart from keys of other sources.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from application.credit_reports import CreditReports
from application.credits import Credits, PostOutcome
from domain.audit import Actor
from domain.credits import IdempotencyKeyReused, LedgerEntry, credit_reason


def grant_key(idempotency_key: str) -> str:
    """Build the ledger's idempotency key of a host grant, apart from keys of other sources."""
    return f"host-grant:{idempotency_key}"


class HostCredits:
    def __init__(self, credits: Credits, reports: CreditReports) -> None:
        self._credits = credits
        self._reports = reports

    async def grant(
        self,
        actor: Actor,
        tenant_id: str,
        amount: Any,
        *,
        reason: Any = None,
        expires_at: dt.datetime | None = None,
        idempotency_key: str | None = None,
    ) -> PostOutcome:
        """Grant credits; a key used before returns the entry it produced.

        The same key with another amount or reason raises IdempotencyKeyReused,
        so a corrected grant sent under an old key is not silently dropped.
        """
        tenant = await self._reports.host_tenant_record(tenant_id, for_change=True)
        key = grant_key(idempotency_key) if idempotency_key is not None else None
        outcome = await self._credits.grant_outcome(
            actor,
            tenant.id,
            amount,
            reason=reason,
            idempotency_key=key,
            expires_at=expires_at,
        )
        if not outcome.created and (
            outcome.entry.amount != amount
            or outcome.entry.reason != credit_reason(reason, required=False)
        ):
            raise IdempotencyKeyReused()
        return outcome

    async def adjust(
        self, actor: Actor, tenant_id: str, amount: Any, *, reason: Any
    ) -> LedgerEntry:
        tenant = await self._reports.host_tenant_record(tenant_id, for_change=True)
        return await self._credits.adjust(actor, tenant.id, amount, reason=reason)

    async def reverse(
        self, actor: Actor, tenant_id: str, entry_id: str, *, reason: Any
    ) -> LedgerEntry:
        """Reverse an entry once; a later request for the same entry raises EntryAlreadyReversed."""
        tenant = await self._reports.host_tenant_record(tenant_id, for_change=True)
        return await self._credits.reverse(actor, tenant.id, entry_id, reason=reason)
