"""Periodic work: expired holds and credits, queued notifications, overdue subscriptions.

Each API process runs the steps every ``maintenance_interval_seconds``; the
CLI runs them once (``garimpo maintenance``). A PostgreSQL advisory lock lets
one process at a time run a round, so several API processes do not race for
the same rows. Every step is idempotent anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import text

from domain.audit import SYSTEM_ACTOR
from entrypoints.container import Container, provide

log = structlog.get_logger(__name__)

#: Key of the advisory lock that serialises maintenance rounds across processes.
_LOCK_KEY = 0x6761_7269_6D70_6F01  # "garimpo" + 1

Step = Callable[[Container], Awaitable[int]]


async def _release_expired_holds(container: Container) -> int:
    maintenance = await provide(container.credit_maintenance)
    released: int = await maintenance.release_expired_holds(SYSTEM_ACTOR)
    return released


async def _expire_credits(container: Container) -> int:
    maintenance = await provide(container.credit_maintenance)
    expired: int = await maintenance.expire_credits(SYSTEM_ACTOR)
    return expired


async def _suspend_overdue_tenants(container: Container) -> int:
    billing_sync = await provide(container.billing_sync)
    suspended: int = await billing_sync.suspend_overdue(SYSTEM_ACTOR)
    return suspended


async def _dispatch_notifications(container: Container) -> int:
    dispatcher = await provide(container.notification_dispatcher)
    sent: int = await dispatcher.dispatch_due()
    return sent


async def _deliver_webhooks(container: Container) -> int:
    deliveries = await provide(container.webhook_deliveries)
    delivered: int = await deliveries.deliver_due()
    return delivered


#: Name and coroutine of each step, in the order a round runs them.
STEPS: list[tuple[str, Step]] = [
    ("release_expired_holds", _release_expired_holds),
    ("expire_credits", _expire_credits),
    ("suspend_overdue_tenants", _suspend_overdue_tenants),
    # After the credit steps, so that the alerts they queue go out in the same round.
    ("dispatch_notifications", _dispatch_notifications),
    ("deliver_webhooks", _deliver_webhooks),
]


async def run_round(container: Container) -> dict[str, int] | None:
    """Run every step once; None when another process holds the round's lock."""
    engine = await provide(container.engine)
    async with engine.connect() as conn:
        locked = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK_KEY})
        ).scalar()
        if not locked:
            return None
        try:
            counts: dict[str, int] = {}
            for name, step in STEPS:
                # One failing step must not starve the others.
                try:
                    counts[name] = await step(container)
                except Exception:
                    log.exception("maintenance_step_failed", step=name)
                    counts[name] = -1
            return counts
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})


async def run_forever(container: Container, interval_seconds: float) -> None:
    """Run rounds until cancelled, logging what each round did."""
    while True:
        try:
            counts = await run_round(container)
            if counts and any(counts.values()):
                log.info("maintenance_round", **counts)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("maintenance_round_failed")
        await asyncio.sleep(interval_seconds)


def start(container: Container, interval_seconds: float) -> asyncio.Task[Any]:
    return asyncio.create_task(run_forever(container, interval_seconds), name="maintenance")
