"""Tenant events published to webhook endpoints in the transaction of the change.

Enqueueing inside the same transaction as the change means an event exists
exactly when its change committed: a rolled-back move sends nothing, and a
committed one is delivered by the next round even if the process dies now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from application.ports import Scope
from domain.webhooks import event_envelope


async def publish(
    scope: Scope, tenant_id: str, event_type: str, data: dict[str, Any], occurred_at: dt.datetime
) -> str:
    """Queue one delivery of the event per subscribed endpoint; return the event id."""
    event_id = str(uuid.uuid4())
    envelope = event_envelope(event_id, event_type, tenant_id, occurred_at, data)
    for endpoint in await scope.webhooks.subscribed_endpoints(event_type):
        await scope.webhooks.enqueue(
            tenant_id, endpoint.id, event_id=event_id, event_type=event_type, payload=envelope
        )
    return event_id
