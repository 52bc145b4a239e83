"""Steps of assinatura.feature: Stripe billing over the real API, with a local fake of Stripe.

The fake runs on its own thread, because the steps block on the API's event
loop. The fake plays Stripe: it completes the checkout, renews, fails and
pays invoices, and returns the events Stripe would send. Each step delivers
them to the public webhook with a Stripe-Signature over the exact bytes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import asyncpg
import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from adapters.sandbox.email import SandboxEmailSender
from application.billing_sync import OVERDUE_WARNING
from entrypoints import maintenance
from entrypoints.container import provide
from entrypoints.http.auth import API_KEY_HEADER
from entrypoints.settings import Settings
from tests.support.fake_stripe import FakeStripe, ThreadedFakeStripe
from tests.support.identity import create_api_key, create_host_key

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("assinatura.feature")


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with ThreadedFakeStripe() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    """The session's settings with Stripe pointed at the fake, for ``garimpo_api``."""
    return attrs.evolve(
        settings,
        stripe_api_key=fake_stripe.api_key,
        stripe_webhook_secret=fake_stripe.webhook_secret,
        stripe_api_base=fake_stripe.base_url,
    )


@attrs.define
class BillingState:
    """What the steps of one scenario share."""

    suffix: str = attrs.field(factory=lambda: uuid.uuid4().hex[:8])
    host_key: str = ""
    #: Plan ids by the code the feature names.
    plans: dict[str, str] = attrs.field(factory=dict)
    tenant_id: str = ""
    tenant_key: str = ""
    contact_email: str = ""
    session_id: str = ""
    #: Every event delivered so far, oldest first.
    delivered: list[dict[str, Any]] = attrs.field(factory=list)

    def subscription_id(self, fake: FakeStripe) -> str:
        subscription: str = fake.checkout_sessions[self.session_id]["subscription"]
        return subscription


@pytest.fixture
def billing_state() -> BillingState:
    return BillingState()


def call(
    garimpo_api: GarimpoApi, key: str, method: str, path: str, body: dict[str, Any] | None = None
) -> ApiResponse:
    return garimpo_api.request(method, path, headers={API_KEY_HEADER: key}, body=body)


def deliver(
    garimpo_api: GarimpoApi,
    fake: FakeStripe,
    state: BillingState,
    events: list[dict[str, Any]],
) -> None:
    for event in events:
        delivery = fake.delivery(event)
        response = garimpo_api.post_bytes(
            "/v1/webhooks/stripe", delivery.body, headers={"Stripe-Signature": delivery.signature}
        )
        assert response.status == 200, response.body
        state.delivered.append(event)


def owner_execute(settings: Settings, garimpo_api: GarimpoApi, statement: str, *args: Any) -> None:
    async def execute() -> None:
        assert settings.database_url
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    garimpo_api.run(execute())


def subscription_state(garimpo_api: GarimpoApi, state: BillingState) -> dict[str, Any]:
    response = call(garimpo_api, state.tenant_key, "GET", "/v1/billing/subscription")
    assert response.status == 200, response.body
    subscription: dict[str, Any] = response.body["data"]["subscription"]
    return subscription


# --- steps -------------------------------------------------------------------------


@given(
    parsers.parse('que o plano "{code}" com {credits:d} créditos mensais está à venda pelo Stripe')
)
def plan_on_sale(
    garimpo_api: GarimpoApi,
    settings: Settings,
    billing_state: BillingState,
    code: str,
    credits: int,
) -> None:
    assert settings.database_url
    billing_state.host_key = garimpo_api.run(create_host_key(settings.database_url))
    body = {
        "code": f"{code}-{billing_state.suffix}",
        "name": "Pro mensal",
        "monthly_credits": credits,
        "price_cents": 49900,
        "max_users": 10,
        "messages_per_day": 1000,
        "requests_per_minute": 600,
    }
    created = call(garimpo_api, billing_state.host_key, "POST", "/v1/host/plans", body)
    assert created.status == 201, created.body
    plan_id = created.body["data"]["id"]
    synced = call(
        garimpo_api, billing_state.host_key, "POST", f"/v1/host/plans/{plan_id}/stripe-sync"
    )
    assert synced.status == 200, synced.body
    billing_state.plans[code] = plan_id


@given(parsers.parse('que a empresa "{name}" com o e-mail "{email}" está no plano "{code}"'))
def tenant_on_plan(
    garimpo_api: GarimpoApi,
    settings: Settings,
    billing_state: BillingState,
    name: str,
    email: str,
    code: str,
) -> None:
    assert settings.database_url
    body = {
        "name": f"{name} {billing_state.suffix}",
        "plan_id": billing_state.plans[code],
        "contact_email": email,
    }
    created = call(garimpo_api, billing_state.host_key, "POST", "/v1/host/tenants", body)
    assert created.status == 201, created.body
    billing_state.tenant_id = created.body["data"]["id"]
    billing_state.contact_email = email
    _key_id, billing_state.tenant_key = garimpo_api.run(
        create_api_key(settings.database_url, billing_state.tenant_id)
    )


@given(parsers.parse('que o administrador da empresa assina o plano "{code}" e paga no Stripe'))
@when(parsers.parse('o administrador da empresa assina o plano "{code}" e paga no Stripe'))
def subscribe_and_pay(
    garimpo_api: GarimpoApi, fake_stripe: FakeStripe, billing_state: BillingState, code: str
) -> None:
    response = call(
        garimpo_api,
        billing_state.tenant_key,
        "POST",
        "/v1/billing/checkout",
        {"plan_id": billing_state.plans[code]},
    )
    assert response.status == 201, response.body
    billing_state.session_id = response.body["data"]["session_id"]
    events = fake_stripe.complete_checkout(billing_state.session_id)
    deliver(garimpo_api, fake_stripe, billing_state, events)


@when("o Stripe envia de novo o aviso de fatura paga")
def invoice_paid_again(
    garimpo_api: GarimpoApi, fake_stripe: FakeStripe, billing_state: BillingState
) -> None:
    paid = [event for event in billing_state.delivered if event["type"] == "invoice.paid"]
    deliver(garimpo_api, fake_stripe, billing_state, paid[-1:])


@when("o Stripe renova a assinatura e a cobrança é aprovada")
def renewal_paid(
    garimpo_api: GarimpoApi, fake_stripe: FakeStripe, billing_state: BillingState
) -> None:
    events = fake_stripe.renew(billing_state.subscription_id(fake_stripe), paid=True)
    deliver(garimpo_api, fake_stripe, billing_state, events)


@when("o Stripe renova a assinatura e a cobrança falha")
def renewal_failed(
    garimpo_api: GarimpoApi, fake_stripe: FakeStripe, billing_state: BillingState
) -> None:
    events = fake_stripe.renew(billing_state.subscription_id(fake_stripe), paid=False)
    deliver(garimpo_api, fake_stripe, billing_state, events)


@when("a carência termina sem pagamento")
def grace_period_over(
    garimpo_api: GarimpoApi, settings: Settings, billing_state: BillingState
) -> None:
    # The grace period moves into the past, as if its days had gone by.
    owner_execute(
        settings,
        garimpo_api,
        "UPDATE billing_subscription SET grace_until = now() - interval '1 minute' "
        "WHERE tenant_id = $1 AND grace_until IS NOT NULL",
        uuid.UUID(billing_state.tenant_id),
    )
    counts = garimpo_api.run(maintenance.run_round(garimpo_api.container))
    assert counts is not None
    assert counts["suspend_overdue_tenants"] == 1


@when("a empresa paga a fatura em atraso")
def overdue_invoice_paid(
    garimpo_api: GarimpoApi, fake_stripe: FakeStripe, billing_state: BillingState
) -> None:
    invoice_id = fake_stripe.subscriptions[billing_state.subscription_id(fake_stripe)][
        "latest_invoice"
    ]
    deliver(garimpo_api, fake_stripe, billing_state, fake_stripe.pay(invoice_id))


@then(parsers.parse('a assinatura da empresa está "{status}"'))
def subscription_status(garimpo_api: GarimpoApi, billing_state: BillingState, status: str) -> None:
    assert subscription_state(garimpo_api, billing_state)["status"] == status


@then(parsers.parse('a assinatura da empresa está "{status}" com {days:d} dias de carência'))
def subscription_overdue(
    garimpo_api: GarimpoApi, billing_state: BillingState, status: str, days: int
) -> None:
    subscription = subscription_state(garimpo_api, billing_state)
    assert subscription["status"] == status
    since = dt.datetime.fromisoformat(subscription["past_due_since"])
    until = dt.datetime.fromisoformat(subscription["grace_until"])
    assert until - since == dt.timedelta(days=days)


@then(parsers.parse("o saldo da empresa é de {credits:d} créditos"))
def balance_is(
    garimpo_api: GarimpoApi, settings: Settings, billing_state: BillingState, credits: int
) -> None:
    async def balance() -> int:
        assert settings.database_url
        conn = await asyncpg.connect(settings.database_url)
        try:
            value = await conn.fetchval(
                "SELECT balance FROM credit_account WHERE tenant_id = $1",
                uuid.UUID(billing_state.tenant_id),
            )
        finally:
            await conn.close()
        return int(value or 0)

    assert garimpo_api.run(balance()) == credits


@then(parsers.parse('"{email}" recebe um aviso de cobrança com o endereço da fatura'))
def warning_sent(
    garimpo_api: GarimpoApi, fake_stripe: FakeStripe, billing_state: BillingState, email: str
) -> None:
    sender = garimpo_api.run(provide(garimpo_api.container.email_sender))
    assert isinstance(sender, SandboxEmailSender)
    [warning] = sender.sent_to(email, purpose=OVERDUE_WARNING)
    invoice_id = fake_stripe.subscriptions[billing_state.subscription_id(fake_stripe)][
        "latest_invoice"
    ]
    assert fake_stripe.invoices[invoice_id]["hosted_invoice_url"] in warning.text
    assert "o acesso continua liberado" in warning.text.lower()


@then("a empresa continua com acesso")
@then("a empresa volta a ter acesso")
def tenant_has_access(garimpo_api: GarimpoApi, billing_state: BillingState) -> None:
    response = call(garimpo_api, billing_state.tenant_key, "GET", "/v1/billing/subscription")
    assert response.status == 200, response.body


@then(parsers.parse('a empresa está suspensa com o motivo "{reason}"'))
def tenant_suspended(garimpo_api: GarimpoApi, billing_state: BillingState, reason: str) -> None:
    response = call(garimpo_api, billing_state.tenant_key, "GET", "/v1/billing/subscription")
    assert response.status == 403, response.body
    assert response.body["code"] == "tenant_suspended"
    assert reason in response.body["detail"]
