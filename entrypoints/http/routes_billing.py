"""Billing routes: the tenant's subscription, checkout and portal, plan sync, Stripe's webhook.

The webhook is public: Stripe sends no credentials, and the Stripe-Signature
header over the raw body is what authenticates it, so the handler passes the
bytes on unread.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from domain.billing import BillingProviderUnavailable
from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import (
    json_ok,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    required_string,
    use_case,
)
from entrypoints.http.problems import ProblemError

STRIPE_SIGNATURE_HEADER = "Stripe-Signature"

Handler = Callable[[web.Request], Awaitable[web.Response]]


def register_routes(app: web.Application) -> None:
    app.router.add_get(
        "/v1/billing/subscription", _provider_errors(handle_subscription), allow_head=False
    )
    app.router.add_post("/v1/billing/checkout", _provider_errors(handle_checkout))
    app.router.add_post("/v1/billing/portal", _provider_errors(handle_portal))
    app.router.add_post("/v1/host/plans/{plan_id}/stripe-sync", _provider_errors(handle_sync_plan))
    app.router.add_post("/v1/webhooks/stripe", _provider_errors(handle_stripe_webhook))


def _provider_errors(handler: Handler) -> Handler:
    """Return 503 when Stripe is unreachable, so the caller or Stripe's redelivery retries."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except BillingProviderUnavailable as error:
            raise ProblemError(503, error.code, error.detail) from None

    return wrapped


async def handle_subscription(request: web.Request) -> web.Response:
    billing = await use_case(request, "billing")
    return json_ok(await billing.subscription(tenant_of(request)))


async def handle_checkout(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, {"plan_id"})
    plan_id = required_string(body, "plan_id", max_length=100)
    try:
        plan_id = str(uuid.UUID(plan_id))
    except ValueError:
        pass  # the use case reports it as an unknown plan

    billing = await use_case(request, "billing")
    link = await billing.checkout(actor_of(request), tenant_of(request), plan_id)
    return json_ok({"url": link.url, "session_id": link.session_id}, status=201)


async def handle_portal(request: web.Request) -> web.Response:
    billing = await use_case(request, "billing")
    link = await billing.portal(actor_of(request), tenant_of(request))
    return json_ok({"url": link.url}, status=201)


async def handle_sync_plan(request: web.Request) -> web.Response:
    plan_id = path_uuid(request, "plan_id", what="Plano")
    billing = await use_case(request, "billing")
    synced = await billing.sync_plan(actor_of(request), plan_id)
    return json_ok(synced.to_json())


async def handle_stripe_webhook(request: web.Request) -> web.Response:
    payload = await request.read()
    billing_sync = await use_case(request, "billing_sync")
    receipt = await billing_sync.handle_webhook(
        payload, request.headers.get(STRIPE_SIGNATURE_HEADER)
    )
    return json_ok({"event_id": receipt.event_id, "outcome": receipt.outcome})
