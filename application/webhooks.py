"""Tenant webhooks: endpoint registration, the delivery log, and sending deliveries with retries.

An event (today only ``credits.low``, from the notification dispatcher)
becomes one ``webhook_delivery`` row per subscribed endpoint, keyed by
(endpoint, event id), so enqueueing the same event twice delivers it once.
``WebhookDeliveries.deliver_due`` claims due rows in batches with
``FOR UPDATE SKIP LOCKED`` and a lease, sends each outside the database
transaction, and records the outcome of every attempt on its row.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import structlog

from application.ports import UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.errors import NotFound
from domain.search import Page, PageRequest
from domain.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    MAX_ENDPOINTS_PER_TENANT,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointLimit,
    WebhookEndpointRemoved,
    WebhookTargetRefused,
    check_description,
    check_events,
    check_target_url,
    delivery_body,
    retry_at,
    signature_header,
)

log = structlog.get_logger(__name__)

#: How long a claimed delivery stays invisible to other dispatchers while it
#: is being sent; longer than any send, whose timeout is a few seconds.
DELIVERY_LEASE = dt.timedelta(minutes=2)
USER_AGENT = "Garimpo-Webhooks/1"
#: Maximum length of the error text kept on a delivery row.
MAX_ERROR_LENGTH = 500


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookTransportError(Exception):
    """Raised by a transport when no HTTP response came back; the message is pt-BR, for the tenant."""


class WebhookTransport(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url`` and return the HTTP status, without following redirects.

        Raises WebhookTargetRefused when the URL or an address it resolves to
        may not be called, and WebhookTransportError on a timeout or a
        connection failure.
        """
        ...


@attrs.frozen(kw_only=True)
class ClaimedDelivery:
    """A due delivery taken by one dispatcher, with what sending it needs."""

    delivery: WebhookDelivery
    url: str
    secret: str
    endpoint_removed: bool


@attrs.frozen(kw_only=True)
class AttemptOutcome:
    status: DeliveryStatus
    status_code: int | None
    error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None


class WebhookRepository(Protocol):
    """Endpoints and deliveries of the scope's tenant; the claims need a host scope."""

    async def add_endpoint(
        self,
        tenant_id: str,
        *,
        url: str,
        events: tuple[str, ...],
        secret: str,
        description: str | None,
    ) -> WebhookEndpoint: ...

    async def count_active_endpoints(self) -> int: ...

    async def lock_endpoints(self) -> None:
        """Serialise endpoint registrations of the scope's tenant until the transaction ends."""
        ...

    async def endpoints(self, page: PageRequest) -> Page:
        """Active endpoints, oldest first."""
        ...

    async def endpoint(
        self, endpoint_id: str, *, include_removed: bool = False
    ) -> WebhookEndpoint | None:
        """Return an active endpoint (or a removed one, when asked), or None when it is unknown or another tenant's."""
        ...

    async def disable_endpoint(self, endpoint_id: str, now: dt.datetime) -> None: ...

    async def subscribed_endpoints(self, event_type: str) -> list[WebhookEndpoint]: ...

    async def enqueue(
        self,
        tenant_id: str,
        endpoint_id: str,
        *,
        event_id: str,
        event_type: str,
        payload: dict[str, Any],
    ) -> bool:
        """Add a pending delivery; return False when this endpoint already has the event."""
        ...

    async def deliveries(self, endpoint_id: str, page: PageRequest) -> Page:
        """Deliveries to one endpoint, newest first."""
        ...

    async def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        """Return a delivery whose endpoint is still active, or None."""
        ...

    async def make_due(self, delivery_id: str, now: dt.datetime) -> None:
        """Put a delivery back in the queue, due now, whatever its status."""
        ...

    async def claim_due(
        self,
        now: dt.datetime,
        limit: int,
        lease_until: dt.datetime,
        *,
        tenant_id: str | None = None,
        delivery_id: str | None = None,
    ) -> list[ClaimedDelivery]:
        """Take due pending deliveries, skipping rows another dispatcher holds.

        Each claimed row gets ``next_attempt_at = lease_until``, so a
        dispatcher that dies mid-send leaves it to be tried again later.
        """
        ...

    async def record_attempt(self, delivery_id: str, outcome: AttemptOutcome) -> None: ...


class WebhookEndpoints:
    """A tenant's webhook endpoints and their delivery log."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        new_secret: Callable[[], str],
        allow_private_targets: bool,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._new_secret = new_secret
        self._allow_private = allow_private_targets
        self._clock = clock

    async def create(
        self,
        actor: Actor,
        tenant_id: str,
        *,
        url: Any,
        events: Any,
        description: Any = None,
    ) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint; return it and its secret, which is never shown again."""
        target = check_target_url(url, allow_private=self._allow_private)
        event_types = check_events(events)
        text = check_description(description)
        secret = self._new_secret()

        async with self._uow.tenant(tenant_id) as scope:
            await scope.webhooks.lock_endpoints()
            if await scope.webhooks.count_active_endpoints() >= MAX_ENDPOINTS_PER_TENANT:
                raise WebhookEndpointLimit()
            endpoint = await scope.webhooks.add_endpoint(
                tenant_id, url=target.url, events=event_types, secret=secret, description=text
            )
            await scope.audit.record(
                AuditEvent(
                    action="webhook_endpoint.created",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="webhook_endpoint",
                    target_id=endpoint.id,
                    after={"url": endpoint.url, "events": list(endpoint.events)},
                )
            )
        return endpoint, secret

    async def list(self, tenant_id: str, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.webhooks.endpoints(page)

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        async with self._uow.tenant(tenant_id) as scope:
            return await _existing_endpoint(scope.webhooks, endpoint_id)

    async def remove(self, actor: Actor, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        """Stop sending to an endpoint; its pending deliveries end as failed when their turn comes."""
        async with self._uow.tenant(tenant_id) as scope:
            endpoint = await _existing_endpoint(scope.webhooks, endpoint_id)
            now = self._clock()
            await scope.webhooks.disable_endpoint(endpoint.id, now)
            await scope.audit.record(
                AuditEvent(
                    action="webhook_endpoint.removed",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="webhook_endpoint",
                    target_id=endpoint.id,
                    before={"url": endpoint.url, "events": list(endpoint.events)},
                )
            )
        return attrs.evolve(endpoint, disabled_at=now)

    async def deliveries(self, tenant_id: str, endpoint_id: str, page: PageRequest) -> Page:
        """List an endpoint's deliveries, newest first; a removed endpoint keeps its history."""
        async with self._uow.tenant(tenant_id) as scope:
            endpoint = await _existing_endpoint(scope.webhooks, endpoint_id, include_removed=True)
            return await scope.webhooks.deliveries(endpoint.id, page)


async def _existing_endpoint(
    repository: WebhookRepository, endpoint_id: str, *, include_removed: bool = False
) -> WebhookEndpoint:
    endpoint = await repository.endpoint(endpoint_id, include_removed=include_removed)
    if endpoint is None:
        raise NotFound(f"Endpoint de webhook não encontrado: '{endpoint_id}'.")
    return endpoint


class WebhookDeliveries:
    """Sends due deliveries, records every attempt, and lets a tenant ask for a redelivery."""

    def __init__(
        self,
        uow: UnitOfWork,
        transport: WebhookTransport,
        *,
        clock: Callable[[], dt.datetime] = _now,
        jitter: Callable[[], float] = random.random,
        batch: int = 50,
    ) -> None:
        self._uow = uow
        self._transport = transport
        self._clock = clock
        self._jitter = jitter
        self._batch = batch

    async def deliver_due(self, *, tenant_id: str | None = None) -> int:
        """Send every due delivery (of one tenant, when given); return how many were delivered."""
        delivered = 0
        while True:
            now = self._clock()
            async with self._uow.host() as scope:
                claimed = await scope.webhooks.claim_due(
                    now, self._batch, now + DELIVERY_LEASE, tenant_id=tenant_id
                )
            for item in claimed:
                outcome = await self._attempt(item)
                delivered += outcome.status is DeliveryStatus.DELIVERED
            if len(claimed) < self._batch:
                return delivered

    async def redeliver(self, actor: Actor, tenant_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now, whatever its status, and return it with the outcome.

        A failing redelivery within the retry window stays pending and is
        retried as usual; past the window it ends as failed again.
        """
        async with self._uow.tenant(tenant_id) as scope:
            delivery = await scope.webhooks.delivery(delivery_id)
            if delivery is None:
                raise NotFound(f"Entrega de webhook não encontrada: '{delivery_id}'.")
            await scope.webhooks.make_due(delivery.id, self._clock())
            await scope.audit.record(
                AuditEvent(
                    action="webhook_delivery.redelivered",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="webhook_delivery",
                    target_id=delivery.id,
                    detail={"endpoint_id": delivery.endpoint_id, "event_id": delivery.event_id},
                )
            )

        now = self._clock()
        async with self._uow.host() as host_scope:
            claimed = await host_scope.webhooks.claim_due(
                now, 1, now + DELIVERY_LEASE, tenant_id=tenant_id, delivery_id=delivery.id
            )
        # An empty claim means another dispatcher is sending it right now.
        for item in claimed:
            await self._attempt(item)

        async with self._uow.tenant(tenant_id) as scope:
            current = await scope.webhooks.delivery(delivery.id)
        if current is None:
            raise WebhookEndpointRemoved()
        return current

    async def _attempt(self, claimed: ClaimedDelivery) -> AttemptOutcome:
        delivery = claimed.delivery
        attempted_at = self._clock()

        if claimed.endpoint_removed:
            outcome = AttemptOutcome(
                status=DeliveryStatus.FAILED,
                status_code=None,
                error="O endpoint foi removido antes da entrega.",
                next_attempt_at=None,
                delivered_at=None,
            )
        else:
            status_code, error = await self._send(claimed, attempted_at)
            outcome = self._outcome(delivery, attempted_at, status_code, error)

        async with self._uow.host() as scope:
            await scope.webhooks.record_attempt(delivery.id, outcome)
        log.info(
            "webhook_attempt",
            delivery_id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            tenant_id=delivery.tenant_id,
            event_type=delivery.event_type,
            attempt=delivery.attempts + 1,
            status=outcome.status.value,
            status_code=outcome.status_code,
            error=outcome.error,
        )
        return outcome

    async def _send(
        self, claimed: ClaimedDelivery, attempted_at: dt.datetime
    ) -> tuple[int | None, str | None]:
        delivery = claimed.delivery
        body = delivery_body(delivery.payload)
        timestamp = int(attempted_at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: delivery.event_type,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(claimed.secret, timestamp, body),
        }
        try:
            status_code = await self._transport.post(claimed.url, body, headers)
        except WebhookTargetRefused as refused:
            return None, refused.detail
        except WebhookTransportError as failure:
            return None, str(failure)
        if 200 <= status_code < 300:
            return status_code, None
        return status_code, f"O receptor respondeu HTTP {status_code}."

    def _outcome(
        self,
        delivery: WebhookDelivery,
        attempted_at: dt.datetime,
        status_code: int | None,
        error: str | None,
    ) -> AttemptOutcome:
        if error is None:
            return AttemptOutcome(
                status=DeliveryStatus.DELIVERED,
                status_code=status_code,
                error=None,
                next_attempt_at=None,
                delivered_at=attempted_at,
            )
        next_at = retry_at(delivery.created_at, attempted_at, delivery.attempts + 1, self._jitter())
        return AttemptOutcome(
            status=DeliveryStatus.PENDING if next_at else DeliveryStatus.FAILED,
            status_code=status_code,
            error=error[:MAX_ERROR_LENGTH],
            next_attempt_at=next_at,
            delivered_at=None,
        )
