"""Stripe billing through HTTP, against PostgreSQL and a local fake of Stripe's API.

Plans go on sale with stripe-sync, tenants subscribe through checkout, and
the fake plays Stripe's side: it completes checkouts, renews, fails and pays
invoices, cancels, and hands back the events Stripe would send. Each event is
delivered to the public webhook with a Stripe-Signature over its exact bytes,
and every response is checked against the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import attrs
import pytest

from adapters.sandbox.email import SandboxEmailSender
from application.billing_sync import OVERDUE_WARNING
from domain.billing import NONPAYMENT_REASON
from domain.identity import Role
from entrypoints import maintenance
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.fake_stripe import WEBHOOK_SECRET, Delivery, FakeStripe, sign_payload
from tests.support.identity import create_api_key, create_host_key, create_user_session

MONTHLY_CREDITS = 500


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe() as fake:
        yield fake


@pytest.fixture
def billing_settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return attrs.evolve(
        settings,
        stripe_api_key=fake_stripe.api_key,
        stripe_webhook_secret=fake_stripe.webhook_secret,
        stripe_api_base=fake_stripe.base_url,
        public_base_url="http://127.0.0.1:8080",
    )


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
def app_container(billing_settings: Settings) -> Container:
    return build_container(billing_settings)


async def contract_client(aiohttp_client: Any, container: Container) -> ContractClient:
    client = ContractClient(await aiohttp_client(build_app(container)))
    # Suspensions reach the auth cache through Redis once it listens.
    auth_state = await provide(container.auth_state)
    for _ in range(100):
        if auth_state.subscribed:
            break
        await asyncio.sleep(0.05)
    assert auth_state.subscribed
    return client


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> ContractClient:
    return await contract_client(aiohttp_client, app_container)


@pytest.fixture
async def host_key(database: str) -> str:
    return await create_host_key(database)


@attrs.frozen
class Customer:
    """A tenant of the test, its admin key and the admin's e-mail."""

    tenant_id: str
    key: str
    contact_email: str
    admin_email: str


async def plan_on_sale(
    api: ContractClient, host_key: str, *, monthly_credits: int = MONTHLY_CREDITS
) -> dict[str, Any]:
    body = {
        "code": unique("plano"),
        "name": "Pro mensal",
        "monthly_credits": monthly_credits,
        "price_cents": 49900,
        "max_users": 5,
        "messages_per_day": 1000,
        "requests_per_minute": 600,
    }
    plan: dict[str, Any] = (await api.call("POST", "/v1/host/plans", host_key, body)).data
    synced = await api.call("POST", f"/v1/host/plans/{plan['id']}/stripe-sync", host_key)
    plan["stripe"] = synced.data
    return plan


async def new_customer(api: ContractClient, host_key: str, database: str, plan_id: str) -> Customer:
    contact = f"financeiro-{uuid.uuid4().hex[:8]}@exemplo.com.br"
    body = {"name": unique("Distribuidora"), "plan_id": plan_id, "contact_email": contact}
    tenant = (await api.call("POST", "/v1/host/tenants", host_key, body)).data
    _key_id, key = await create_api_key(database, tenant["id"])
    _account, _session, admin_email = await create_user_session(database, tenant["id"], Role.ADMIN)
    return Customer(tenant["id"], key, contact, admin_email)


async def checkout(api: ContractClient, customer: Customer, plan_id: str) -> dict[str, Any]:
    result = await api.call("POST", "/v1/billing/checkout", customer.key, {"plan_id": plan_id})
    assert result.status == 201, result.body
    session: dict[str, Any] = result.data
    return session


async def deliver(api: ContractClient, delivery: Delivery) -> ApiResult:
    return await api.call(
        "POST",
        "/v1/webhooks/stripe",
        None,
        data=delivery.body,
        headers={"Stripe-Signature": delivery.signature},
    )


async def deliver_all(
    api: ContractClient, fake: FakeStripe, events: list[dict[str, Any]]
) -> list[str]:
    outcomes = []
    for event in events:
        result = await deliver(api, fake.delivery(event))
        assert result.status == 200, result.body
        outcomes.append(result.data["outcome"])
    return outcomes


def first_event(events: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    return next(event for event in events if event["type"] == event_type)


async def fetch(database: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database)
    try:
        return [dict(row) for row in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def ledger(database: str, tenant_id: str) -> list[dict[str, Any]]:
    return await fetch(
        database,
        "SELECT kind, amount, balance_after, reference_type, reference_id, idempotency_key "
        "FROM credit_entry WHERE tenant_id = $1 ORDER BY seq",
        uuid.UUID(tenant_id),
    )


async def balance(database: str, tenant_id: str) -> int:
    rows = await fetch(
        database, "SELECT balance FROM credit_account WHERE tenant_id = $1", uuid.UUID(tenant_id)
    )
    return int(rows[0]["balance"]) if rows else 0


async def subscription_rows(database: str, tenant_id: str) -> list[dict[str, Any]]:
    return await fetch(
        database,
        "SELECT * FROM billing_subscription WHERE tenant_id = $1 ORDER BY created_at",
        uuid.UUID(tenant_id),
    )


async def tenant_row(database: str, tenant_id: str) -> dict[str, Any]:
    [row] = await fetch(
        database,
        "SELECT status, status_reason, plan_id, stripe_customer_id FROM tenant WHERE id = $1",
        uuid.UUID(tenant_id),
    )
    return row


async def current_subscription(api: ContractClient, customer: Customer) -> dict[str, Any]:
    state = (await api.call("GET", "/v1/billing/subscription", customer.key)).data
    assert state["billing_enabled"] is True
    subscription: dict[str, Any] = state["subscription"]
    return subscription


# --- plans on sale -------------------------------------------------------------------


async def test_plan_sync_creates_product_and_monthly_price(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)

    product = fake_stripe.products[plan["stripe"]["stripe_product_id"]]
    price = fake_stripe.prices[plan["stripe"]["stripe_price_id"]]
    assert product["metadata"]["plan_id"] == plan["id"]
    assert product["name"] == "Pro mensal"
    assert price["unit_amount"] == 49900
    assert price["currency"] == "brl"
    assert price["recurring"]["interval"] == "month"
    assert price["product"] == product["id"]
    assert price["metadata"]["plan_id"] == plan["id"]

    [stored] = await fetch(
        database,
        "SELECT stripe_product_id, stripe_price_id FROM plan WHERE id = $1",
        uuid.UUID(plan["id"]),
    )
    assert stored["stripe_product_id"] == product["id"]
    assert stored["stripe_price_id"] == price["id"]


async def test_plan_sync_replaces_changed_price(
    api: ContractClient, host_key: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    first_price = plan["stripe"]["stripe_price_id"]

    again = await api.call("POST", f"/v1/host/plans/{plan['id']}/stripe-sync", host_key)
    assert again.data["stripe_price_id"] == first_price
    assert len(fake_stripe.prices) == 1

    await api.call("PATCH", f"/v1/host/plans/{plan['id']}", host_key, {"price_cents": 59900})
    repriced = await api.call("POST", f"/v1/host/plans/{plan['id']}/stripe-sync", host_key)

    new_price = repriced.data["stripe_price_id"]
    assert new_price != first_price
    assert repriced.data["stripe_product_id"] == plan["stripe"]["stripe_product_id"]
    assert fake_stripe.prices[new_price]["unit_amount"] == 59900
    assert fake_stripe.prices[first_price]["active"] is False

    # Back to the first amount: the deactivated price is not reused.
    await api.call("PATCH", f"/v1/host/plans/{plan['id']}", host_key, {"price_cents": 49900})
    restored = await api.call("POST", f"/v1/host/plans/{plan['id']}/stripe-sync", host_key)

    restored_price = restored.data["stripe_price_id"]
    assert restored_price not in {first_price, new_price}
    assert fake_stripe.prices[restored_price]["active"] is True
    assert fake_stripe.prices[restored_price]["unit_amount"] == 49900
    assert fake_stripe.prices[new_price]["active"] is False


async def test_plan_sync_of_unknown_plan_is_404(api: ContractClient, host_key: str) -> None:
    result = await api.call("POST", f"/v1/host/plans/{uuid.uuid4()}/stripe-sync", host_key)

    assert (result.status, result.body["code"]) == (404, "plan_not_found")


# --- checkout and portal -------------------------------------------------------------


async def test_checkout_creates_customer_and_session(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])

    session = await checkout(api, customer, plan["id"])

    assert session["session_id"].startswith("cs_test_")
    assert session["url"] == fake_stripe.checkout_sessions[session["session_id"]]["url"]
    [created] = fake_stripe.customers.values()
    assert created["metadata"] == {"tenant_id": customer.tenant_id}
    assert created["email"] == customer.contact_email
    assert (await tenant_row(database, customer.tenant_id))["stripe_customer_id"] == created["id"]

    [request] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    form = request.form
    assert form["mode"] == "subscription"
    assert form["customer"] == created["id"]
    assert form["client_reference_id"] == customer.tenant_id
    assert form["metadata"]["tenant_id"] == customer.tenant_id
    assert form["subscription_data"]["metadata"]["tenant_id"] == customer.tenant_id
    assert form["line_items"] == [{"price": plan["stripe"]["stripe_price_id"], "quantity": "1"}]
    assert form["success_url"].startswith("http://127.0.0.1:8080/billing/success")
    assert form["cancel_url"] == "http://127.0.0.1:8080/billing/cancel"


async def test_second_checkout_reuses_the_customer(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])

    await checkout(api, customer, plan["id"])
    await checkout(api, customer, plan["id"])

    assert len(fake_stripe.customers) == 1
    customers = {
        call.form["customer"] for call in fake_stripe.calls("POST", "/v1/checkout/sessions")
    }
    assert len(customers) == 1


async def test_checkout_refusals(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    not_synced = (
        await api.call(
            "POST",
            "/v1/host/plans",
            host_key,
            {
                "code": unique("sem-preco"),
                "name": "Sem preço",
                "monthly_credits": 10,
                "price_cents": 100,
                "max_users": 1,
                "messages_per_day": 1,
                "requests_per_minute": 60,
            },
        )
    ).data

    unsynced = await api.call(
        "POST", "/v1/billing/checkout", customer.key, {"plan_id": not_synced["id"]}
    )
    unknown = await api.call(
        "POST", "/v1/billing/checkout", customer.key, {"plan_id": str(uuid.uuid4())}
    )
    assert (unsynced.status, unsynced.body["code"]) == (409, "plan_not_for_sale")
    assert (unknown.status, unknown.body["code"]) == (400, "unknown_plan")

    session = await checkout(api, customer, plan["id"])
    await deliver_all(api, fake_stripe, fake_stripe.complete_checkout(session["session_id"]))
    second = await api.call("POST", "/v1/billing/checkout", customer.key, {"plan_id": plan["id"]})
    assert (second.status, second.body["code"]) == (409, "subscription_exists")


async def test_portal_needs_a_customer_then_opens(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])

    before = await api.call("POST", "/v1/billing/portal", customer.key)
    await checkout(api, customer, plan["id"])
    after = await api.call("POST", "/v1/billing/portal", customer.key)

    assert (before.status, before.body["code"]) == (409, "no_billing_customer")
    assert after.status == 201
    [portal] = fake_stripe.portal_sessions.values()
    assert after.data["url"] == portal["url"]
    assert portal["return_url"] == "http://127.0.0.1:8080/billing"


# --- webhooks: the four cases that must hold -----------------------------------------


async def test_updated_before_created_ends_active(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    events = fake_stripe.complete_checkout(session["session_id"])
    created = first_event(events, "customer.subscription.created")
    updated = first_event(events, "customer.subscription.updated")
    assert created["data"]["object"]["status"] == "incomplete"
    assert updated["data"]["object"]["status"] == "active"

    await deliver_all(api, fake_stripe, [updated, created])

    assert (await current_subscription(api, customer))["status"] == "active"
    [row] = await subscription_rows(database, customer.tenant_id)
    assert row["status"] == "active"
    assert row["plan_id"] == uuid.UUID(plan["id"])


async def test_invoice_paid_three_times_grants_once(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    paid = first_event(fake_stripe.complete_checkout(session["session_id"]), "invoice.paid")
    delivery = fake_stripe.delivery(paid)

    outcomes = [(await deliver(api, delivery)).data["outcome"] for _ in range(3)]

    assert outcomes == ["credits_granted", "duplicate", "duplicate"]
    entries = await ledger(database, customer.tenant_id)
    assert [(entry["kind"], entry["amount"]) for entry in entries] == [("grant", MONTHLY_CREDITS)]
    assert entries[0]["reference_type"] == "invoice"
    assert entries[0]["reference_id"] == paid["data"]["object"]["id"]
    assert await balance(database, customer.tenant_id) == MONTHLY_CREDITS
    stored = await fetch(database, "SELECT outcome FROM stripe_event WHERE id = $1", paid["id"])
    assert stored == [{"outcome": "credits_granted"}]


async def test_second_event_same_invoice_grants_once(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    paid = first_event(fake_stripe.complete_checkout(session["session_id"]), "invoice.paid")
    # Stripe gives each delivery attempt of a resent event the same id, but a
    # second event about the same invoice has its own.
    resent = fake_stripe.event("invoice.paid", paid["data"]["object"])

    await deliver_all(api, fake_stripe, [paid, resent])

    assert await balance(database, customer.tenant_id) == MONTHLY_CREDITS
    assert len(await ledger(database, customer.tenant_id)) == 1


async def test_reserialised_body_fails_signature(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    paid = first_event(fake_stripe.complete_checkout(session["session_id"]), "invoice.paid")
    delivery = fake_stripe.delivery(paid)
    reserialised = json.dumps(json.loads(delivery.body), sort_keys=True, indent=1).encode()
    assert reserialised != delivery.body
    assert json.loads(reserialised) == json.loads(delivery.body)

    refused = await deliver(api, Delivery(reserialised, delivery.signature, paid))

    assert (refused.status, refused.body["code"]) == (400, "invalid_signature")
    assert await fetch(database, "SELECT id FROM stripe_event WHERE id = $1", paid["id"]) == []
    assert await ledger(database, customer.tenant_id) == []
    assert await subscription_rows(database, customer.tenant_id) == []

    accepted = await deliver(api, delivery)

    assert accepted.data == {"event_id": paid["id"], "outcome": "credits_granted"}
    assert await balance(database, customer.tenant_id) == MONTHLY_CREDITS


def other_endpoint_signature(body: bytes) -> str:
    return sign_payload(body, "whsec_another_endpoint")


@pytest.mark.parametrize(
    "signer",
    [
        lambda body: None,
        lambda body: "",
        lambda body: "t=not-a-number,v1=abc",
        lambda body: sign_payload(body, WEBHOOK_SECRET).replace("v1=", "v0="),
        other_endpoint_signature,
    ],
    ids=["missing", "empty", "malformed", "other-scheme", "other-secret"],
)
async def test_bad_signatures_are_rejected(
    api: ContractClient, fake_stripe: FakeStripe, signer: Callable[[bytes], str | None]
) -> None:
    event = fake_stripe.event("invoice.paid", {"id": "in_qualquer", "object": "invoice"})
    body = json.dumps(event).encode()
    signature = signer(body)
    headers = {"Stripe-Signature": signature} if signature is not None else {}

    result = await api.call("POST", "/v1/webhooks/stripe", None, data=body, headers=headers)

    assert (result.status, result.body["code"]) == (400, "invalid_signature")


async def test_signature_older_than_the_tolerance_is_rejected(
    api: ContractClient, fake_stripe: FakeStripe, database: str
) -> None:
    event = fake_stripe.event("invoice.paid", {"id": "in_qualquer", "object": "invoice"})
    stale = fake_stripe.delivery(event, timestamp=int(dt.datetime.now(dt.UTC).timestamp()) - 301)

    result = await deliver(api, stale)

    assert (result.status, result.body["code"]) == (400, "invalid_signature")
    assert await fetch(database, "SELECT id FROM stripe_event WHERE id = $1", event["id"]) == []


async def scenario_step(
    api: ContractClient,
    fake: FakeStripe,
    ordered: list[dict[str, Any]],
    collected: list[dict[str, Any]],
    events_a: list[dict[str, Any]],
    events_b: list[dict[str, Any]],
) -> None:
    """Deliver tenant A's events at once, in order; keep tenant B's for later."""
    ordered.extend(events_a)
    await deliver_all(api, fake, events_a)
    collected.extend(events_b)


async def test_shuffled_replay_matches_ordered(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    first = await new_customer(api, host_key, database, plan["id"])
    second = await new_customer(api, host_key, database, plan["id"])
    session_a = await checkout(api, first, plan["id"])
    session_b = await checkout(api, second, plan["id"])
    ordered: list[dict[str, Any]] = []
    collected: list[dict[str, Any]] = []

    async def step(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]]) -> None:
        await scenario_step(api, fake_stripe, ordered, collected, events_a, events_b)

    # Both tenants live the same story, step by step, on the fake's one clock.
    await step(
        fake_stripe.complete_checkout(session_a["session_id"]),
        fake_stripe.complete_checkout(session_b["session_id"]),
    )
    sub_a = fake_stripe.checkout_sessions[session_a["session_id"]]["subscription"]
    sub_b = fake_stripe.checkout_sessions[session_b["session_id"]]["subscription"]
    await step(fake_stripe.renew(sub_a, paid=False), fake_stripe.renew(sub_b, paid=False))
    await step(
        fake_stripe.pay(fake_stripe.subscriptions[sub_a]["latest_invoice"]),
        fake_stripe.pay(fake_stripe.subscriptions[sub_b]["latest_invoice"]),
    )
    await step(fake_stripe.cancel_at_period_end(sub_a), fake_stripe.cancel_at_period_end(sub_b))
    await step(fake_stripe.cancel(sub_a), fake_stripe.cancel(sub_b))

    replay = collected + collected
    random.Random(20270105).shuffle(replay)
    outcomes = await deliver_all(api, fake_stripe, replay)

    assert outcomes.count("duplicate") >= len(collected)
    types = {event["type"] for event in collected}
    assert {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    } <= types

    entries_a = await ledger(database, first.tenant_id)
    entries_b = await ledger(database, second.tenant_id)
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries_a] == [
        ("grant", MONTHLY_CREDITS, MONTHLY_CREDITS),
        ("grant", MONTHLY_CREDITS, 2 * MONTHLY_CREDITS),
    ]
    assert sorted(e["amount"] for e in entries_b) == sorted(e["amount"] for e in entries_a)
    assert await balance(database, second.tenant_id) == await balance(database, first.tenant_id)

    ignored = {"id", "tenant_id", "customer_id", "created_at", "updated_at"}
    [row_a] = await subscription_rows(database, first.tenant_id)
    [row_b] = await subscription_rows(database, second.tenant_id)
    assert {k: v for k, v in row_b.items() if k not in ignored} == {
        k: v for k, v in row_a.items() if k not in ignored
    }
    assert row_a["status"] == "canceled"
    assert row_a["cancel_at_period_end"] is True
    assert row_a["past_due_since"] is None

    tenant_a = await tenant_row(database, first.tenant_id)
    tenant_b = await tenant_row(database, second.tenant_id)
    assert (tenant_b["status"], tenant_b["plan_id"]) == (tenant_a["status"], tenant_a["plan_id"])


# --- payment failed: warning, grace period, suspension, reactivation ---------------


async def expire_grace(database: str, tenant_id: str) -> None:
    """Move the grace period into the past, as if BILLING_GRACE_DAYS had gone by."""
    await fetch(
        database,
        "UPDATE billing_subscription SET grace_until = now() - interval '1 minute' "
        "WHERE tenant_id = $1 AND grace_until IS NOT NULL",
        uuid.UUID(tenant_id),
    )


async def test_payment_failed_grace_suspension_reactivation(
    api: ContractClient,
    host_key: str,
    database: str,
    fake_stripe: FakeStripe,
    app_container: Container,
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    await deliver_all(api, fake_stripe, fake_stripe.complete_checkout(session["session_id"]))
    subscription_id = fake_stripe.checkout_sessions[session["session_id"]]["subscription"]
    before_failure = dt.datetime.now(dt.UTC)

    failed = fake_stripe.renew(subscription_id, paid=False)
    await deliver_all(api, fake_stripe, failed)

    state = await current_subscription(api, customer)
    assert state["status"] == "past_due"
    past_due_since = dt.datetime.fromisoformat(state["past_due_since"])
    grace_until = dt.datetime.fromisoformat(state["grace_until"])
    assert past_due_since >= before_failure
    assert grace_until - past_due_since == dt.timedelta(days=7)

    sender = await provide(app_container.email_sender)
    assert isinstance(sender, SandboxEmailSender)
    invoice = first_event(failed, "invoice.payment_failed")["data"]["object"]
    for address in (customer.contact_email, customer.admin_email):
        [warning] = sender.sent_to(address, purpose=OVERDUE_WARNING)
        assert "Não conseguimos cobrar" in warning.text
        assert invoice["hosted_invoice_url"] in warning.text

    # A second delivery of the same failure does not warn again.
    await deliver_all(api, fake_stripe, [fake_stripe.event("invoice.payment_failed", invoice)])
    assert len(sender.sent_to(customer.contact_email, purpose=OVERDUE_WARNING)) == 1

    # Inside the grace period nothing happens.
    await maintenance.run_round(app_container)
    assert (await tenant_row(database, customer.tenant_id))["status"] == "active"

    await expire_grace(database, customer.tenant_id)
    counts = await maintenance.run_round(app_container)

    assert counts is not None
    assert counts["suspend_overdue_tenants"] == 1
    suspended = await tenant_row(database, customer.tenant_id)
    assert (suspended["status"], suspended["status_reason"]) == ("suspended", NONPAYMENT_REASON)
    refused = await api.call("GET", "/v1/billing/subscription", customer.key)
    assert (refused.status, refused.body["code"]) == (403, "tenant_suspended")

    await deliver_all(api, fake_stripe, fake_stripe.pay(invoice["id"]))

    reactivated = await tenant_row(database, customer.tenant_id)
    assert (reactivated["status"], reactivated["status_reason"]) == ("active", None)
    state = await current_subscription(api, customer)
    assert (state["status"], state["past_due_since"], state["grace_until"]) == (
        "active",
        None,
        None,
    )
    assert await balance(database, customer.tenant_id) == 2 * MONTHLY_CREDITS


async def test_sweep_refreshes_before_suspending(
    api: ContractClient,
    host_key: str,
    database: str,
    fake_stripe: FakeStripe,
    app_container: Container,
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    await deliver_all(api, fake_stripe, fake_stripe.complete_checkout(session["session_id"]))
    subscription_id = fake_stripe.checkout_sessions[session["session_id"]]["subscription"]
    await deliver_all(api, fake_stripe, fake_stripe.renew(subscription_id, paid=False))
    await expire_grace(database, customer.tenant_id)

    # The customer paid, but the webhooks of the payment never arrived.
    fake_stripe.pay(fake_stripe.subscriptions[subscription_id]["latest_invoice"])
    counts = await maintenance.run_round(app_container)

    assert counts is not None
    assert counts["suspend_overdue_tenants"] == 0
    assert (await tenant_row(database, customer.tenant_id))["status"] == "active"
    [row] = await subscription_rows(database, customer.tenant_id)
    assert (row["status"], row["grace_until"]) == ("active", None)


async def test_payment_keeps_host_suspension(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    events = fake_stripe.complete_checkout(session["session_id"])
    suspend = await api.call(
        "POST",
        f"/v1/host/tenants/{customer.tenant_id}/suspend",
        host_key,
        {"reason": "Uso indevido da API"},
    )
    assert suspend.status == 200

    await deliver_all(api, fake_stripe, events)

    row = await tenant_row(database, customer.tenant_id)
    assert (row["status"], row["status_reason"]) == ("suspended", "Uso indevido da API")


async def test_credit_validity_sets_expiry(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    await fetch(
        database, "UPDATE plan SET credit_validity_days = 45 WHERE id = $1", uuid.UUID(plan["id"])
    )
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])

    await deliver_all(api, fake_stripe, fake_stripe.complete_checkout(session["session_id"]))

    [lot] = await fetch(
        database,
        "SELECT expires_at, remaining FROM credit_lot WHERE tenant_id = $1",
        uuid.UUID(customer.tenant_id),
    )
    assert lot["remaining"] == MONTHLY_CREDITS
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=45)
    assert abs(lot["expires_at"] - expected) < dt.timedelta(minutes=5)


async def test_checkout_switches_tenant_plan(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    starter = await plan_on_sale(api, host_key, monthly_credits=50)
    pro = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, starter["id"])
    session = await checkout(api, customer, pro["id"])

    await deliver_all(api, fake_stripe, fake_stripe.complete_checkout(session["session_id"]))

    assert (await tenant_row(database, customer.tenant_id))["plan_id"] == uuid.UUID(pro["id"])
    assert await balance(database, customer.tenant_id) == MONTHLY_CREDITS


async def test_unknown_customer_event_ignored(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    events = fake_stripe.complete_checkout(session["session_id"])
    subscription_id = fake_stripe.checkout_sessions[session["session_id"]]["subscription"]
    # A subscription made in Stripe's dashboard for a customer Garimpo never created.
    fake_stripe.set_subscription(subscription_id, customer="cus_desconhecido", metadata={})
    updated = first_event(events, "customer.subscription.updated")

    outcomes = await deliver_all(api, fake_stripe, [updated])

    assert outcomes == ["ignored_unknown_subscription"]
    assert await subscription_rows(database, customer.tenant_id) == []


async def test_subscription_changes_are_audited(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    await deliver_all(api, fake_stripe, fake_stripe.complete_checkout(session["session_id"]))

    events = await fetch(
        database,
        "SELECT action, actor_type, actor_label, after FROM audit_event "
        "WHERE tenant_id = $1 AND action LIKE 'billing.%' ORDER BY id",
        uuid.UUID(customer.tenant_id),
    )

    actions = [event["action"] for event in events]
    assert actions[0] == "billing.checkout_started"
    assert "billing.subscription_changed" in actions
    changed = next(e for e in events if e["action"] == "billing.subscription_changed")
    assert (changed["actor_type"], changed["actor_label"]) == ("system", "stripe")
    assert json.loads(changed["after"])["status"] == "active"


# --- Stripe unreachable, and no Stripe at all ------------------------------------------


async def test_stripe_outage_returns_503(
    api: ContractClient, host_key: str, database: str, fake_stripe: FakeStripe
) -> None:
    plan = await plan_on_sale(api, host_key)
    customer = await new_customer(api, host_key, database, plan["id"])
    session = await checkout(api, customer, plan["id"])
    paid = first_event(fake_stripe.complete_checkout(session["session_id"]), "invoice.paid")
    delivery = fake_stripe.delivery(paid)

    fake_stripe.failing = True
    down = await deliver(api, delivery)
    portal = await api.call("POST", "/v1/billing/portal", customer.key)
    fake_stripe.failing = False
    redelivered = await deliver(api, delivery)

    assert (down.status, down.body["code"]) == (503, "billing_provider_unavailable")
    assert (portal.status, portal.body["code"]) == (503, "billing_provider_unavailable")
    assert redelivered.data["outcome"] == "credits_granted"
    assert await balance(database, customer.tenant_id) == MONTHLY_CREDITS


@pytest.fixture
async def api_without_stripe(aiohttp_client: Any, settings: Settings) -> ContractClient:
    return await contract_client(aiohttp_client, build_container(settings))


async def test_billing_disabled_without_stripe(
    api_without_stripe: ContractClient, database: str
) -> None:
    api = api_without_stripe
    host_key = await create_host_key(database)
    plan = (
        await api.call(
            "POST",
            "/v1/host/plans",
            host_key,
            {
                "code": unique("manual"),
                "name": "Manual",
                "monthly_credits": 10,
                "price_cents": 100,
                "max_users": 1,
                "messages_per_day": 1,
                "requests_per_minute": 60,
            },
        )
    ).data
    customer = await new_customer(api, host_key, database, plan["id"])

    state = await api.call("GET", "/v1/billing/subscription", customer.key)
    calls = [
        await api.call("POST", "/v1/billing/checkout", customer.key, {"plan_id": plan["id"]}),
        await api.call("POST", "/v1/billing/portal", customer.key),
        await api.call("POST", f"/v1/host/plans/{plan['id']}/stripe-sync", host_key),
        await api.call(
            "POST",
            "/v1/webhooks/stripe",
            None,
            data=b'{"id": "evt_1"}',
            headers={"Stripe-Signature": "t=1,v1=00"},
        ),
    ]

    assert state.data == {"billing_enabled": False, "subscription": None}
    for result in calls:
        assert (result.status, result.body["code"]) == (409, "billing_disabled")
        assert "Stripe não está ativada" in result.body["detail"]
    assert "fale com ele" in calls[0].body["detail"]
    assert "STRIPE_API_KEY" in calls[2].body["detail"]
