"""Qualification work on Dramatiq over Redis.

The API and the workers share the queue names below. The API only puts
messages on the queue; the worker process declares the actors that run
them (``entrypoints.worker``). Messages are built by name, so the API need
not import the worker's code.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

QUEUE = "qualification"
ADVANCE_ACTOR = "qualification_advance"
DISPATCH_ACTOR = "qualification_dispatch"

#: A step that keeps failing is retried a few times; the flow's lease then
#: runs out and the next dispatch round claims it again.
MAX_RETRIES = 3
#: A step waits on one provider call with its own timeouts; a minute is ample.
STEP_TIME_LIMIT_MS = 60_000


def build_broker(redis_url: str, *, namespace: str = "garimpo") -> RedisBroker:
    broker = RedisBroker(
        url=redis_url,
        namespace=namespace,
        middleware=[
            AgeLimit(),
            TimeLimit(time_limit=STEP_TIME_LIMIT_MS),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(max_retries=MAX_RETRIES, min_backoff=500, max_backoff=10_000),
        ],
    )
    broker.declare_queue(QUEUE)
    return broker


class DramatiqScheduler:
    """Queues qualification steps for the workers."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def advance(self, tenant_id: str, flow_id: str) -> None:
        self._enqueue(ADVANCE_ACTOR, (tenant_id, flow_id))

    def kick(self) -> None:
        self._enqueue(DISPATCH_ACTOR, ())

    def _enqueue(self, actor_name: str, args: tuple[str, ...]) -> None:
        message: dramatiq.Message[object] = dramatiq.Message(
            queue_name=QUEUE, actor_name=actor_name, args=args, kwargs={}, options={}
        )
        self._broker.enqueue(message)
