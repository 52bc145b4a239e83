"""Billing use cases: checkout and the billing portal for tenants, Stripe prices for plans.

The payment provider sits behind ``BillingGateway``. A deployment without
Stripe has no gateway: plans then work with credits granted by the host, and
every billing operation raises ``BillingDisabled``. What the provider reports
back (webhooks, the overdue sweep) lives in ``application.billing_sync``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from application.ports import UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.billing import (
    LIVE,
    BillingDisabled,
    BillingEvent,
    CheckoutLink,
    NoBillingCustomer,
    PlanNotForSale,
    RemoteCheckout,
    RemoteInvoice,
    RemoteSubscription,
    Subscription,
    SubscriptionExists,
    current_subscription,
)
from domain.errors import DomainError, NotFound
from domain.tenancy import Plan


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- ports -----------------------------------------------------------------------


class BillingGateway(Protocol):
    """The payment provider's API. Methods raise BillingProviderUnavailable when it cannot be reached."""

    async def ensure_product(self, plan: Plan, product_id: str | None) -> str:
        """Create or update the provider's product for ``plan``; return its id."""
        ...

    async def ensure_price(self, plan: Plan, product_id: str, price_id: str | None) -> str:
        """Return a monthly price of ``product_id`` that charges the plan's price now.

        ``price_id`` is kept when it still matches; otherwise a new price is
        created and the old one deactivated, since a price's amount never changes.
        """
        ...

    async def create_customer(self, tenant_id: str, name: str, email: str | None) -> str:
        """Create the provider's customer for a tenant; a retry returns the same customer."""
        ...

    async def create_checkout(
        self, *, customer_id: str, price_id: str, tenant_id: str, plan_id: str
    ) -> CheckoutLink:
        """Open a hosted checkout page that subscribes ``customer_id`` to ``price_id``."""
        ...

    async def create_portal(self, customer_id: str) -> CheckoutLink:
        """Open a hosted page where the customer manages its subscription and cards."""
        ...

    async def subscription(self, subscription_id: str) -> RemoteSubscription | None:
        """Return the subscription as the provider has it now; None when it does not exist."""
        ...

    async def invoice(self, invoice_id: str) -> RemoteInvoice | None:
        """Return the invoice as the provider has it now; None when it does not exist."""
        ...

    async def checkout(self, session_id: str) -> RemoteCheckout | None:
        """Return the checkout session as the provider has it now; None when it does not exist."""
        ...

    def verify_event(self, payload: bytes, signature: str | None) -> BillingEvent:
        """Check the webhook signature over the raw body, then read the event.

        Raises InvalidSignature when the signature is missing, stale or does
        not match, and WebhookNotConfigured when there is no signing secret.
        """
        ...


@attrs.frozen(kw_only=True)
class PlanBilling:
    """The provider's product and price of a plan, and the validity of its credits."""

    plan_id: str
    stripe_product_id: str | None = None
    stripe_price_id: str | None = None
    #: Days the credits of each paid period stay usable; None keeps them until used.
    credit_validity_days: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "stripe_product_id": self.stripe_product_id,
            "stripe_price_id": self.stripe_price_id,
            "credit_validity_days": self.credit_validity_days,
        }


class StripeIdRepository(Protocol):
    """The provider's ids stored on plans and tenants."""

    async def plan_billing(self, plan_id: str) -> PlanBilling | None: ...

    async def set_plan_prices(self, plan_id: str, product_id: str, price_id: str) -> None: ...

    async def plan_of_price(self, price_id: str) -> str | None:
        """Return the plan whose current price is ``price_id``."""
        ...

    async def customer_of(self, tenant_id: str) -> str | None: ...

    async def link_customer(self, tenant_id: str, customer_id: str) -> str:
        """Store the tenant's customer unless it has one already; return the one stored.

        Needs a host scope, because a tenant may change only its settings.
        """
        ...

    async def tenant_of_customer(self, customer_id: str) -> str | None:
        """Return the tenant of a customer; needs a host scope."""
        ...


class SubscriptionRepository(Protocol):
    """Garimpo's copies of the provider's subscriptions."""

    async def lock(self, subscription_id: str) -> None:
        """Serialise work on one subscription until the transaction ends, even before its row exists."""
        ...

    async def get(self, subscription_id: str) -> Subscription | None: ...

    async def save(self, subscription: Subscription) -> None:
        """Insert the subscription, or replace every field of the stored copy."""
        ...

    async def of_tenant(self, tenant_id: str) -> list[Subscription]:
        """Return the tenant's subscriptions, newest first."""
        ...

    async def grace_expired(self, now: dt.datetime) -> list[Subscription]:
        """Return subscriptions of active tenants whose grace period ended; needs a host scope.

        Suspended tenants are left out, so the sweep does not fetch their
        subscriptions from the provider again every round.
        """
        ...


class StripeEventRepository(Protocol):
    """Provider events already processed, one row per event id."""

    async def seen(self, event_id: str) -> bool: ...

    async def record(self, event: BillingEvent, outcome: str) -> bool:
        """Store the event's id; return False when another delivery stored it first."""
        ...


# --- use cases -------------------------------------------------------------------


def require_gateway(gateway: BillingGateway | None, *, for_host: bool = False) -> BillingGateway:
    if gateway is None:
        raise BillingDisabled(for_host=for_host)
    return gateway


class Billing:
    """A tenant's subscription: read it, buy one through checkout, manage it in the portal.

    The host puts plans on sale with ``sync_plan``, which creates their
    product and monthly price at the provider.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        gateway: BillingGateway | None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._gateway is not None

    async def subscription(self, tenant_id: str) -> dict[str, Any]:
        """Return whether billing is on and the tenant's current subscription, if any."""
        async with self._uow.tenant(tenant_id) as scope:
            subscriptions = await scope.subscriptions.of_tenant(tenant_id)
        current = current_subscription(subscriptions)
        return {
            "billing_enabled": self.enabled,
            "subscription": current.to_json() if current is not None else None,
        }

    async def checkout(self, actor: Actor, tenant_id: str, plan_id: str) -> CheckoutLink:
        """Open a checkout page for ``plan_id``, creating the tenant's customer on first use.

        Raises PlanNotForSale for an archived plan or one without a price,
        and SubscriptionExists when the tenant already has a live subscription
        (plan changes go through the portal).
        """
        gateway = require_gateway(self._gateway)

        async with self._uow.host() as scope:
            plan = await scope.plans.get(plan_id)
            if plan is None:
                raise DomainError(
                    f"Plano não encontrado: '{plan_id}'.", field="plan_id", code="unknown_plan"
                )
            billing = await scope.stripe_ids.plan_billing(plan.id)
            tenant = await scope.tenants.get(tenant_id)
            assert tenant is not None, "the authentication middleware let a live tenant in"
            customer_id = await scope.stripe_ids.customer_of(tenant_id)
            subscriptions = await scope.subscriptions.of_tenant(tenant_id)

        _check_for_sale(plan, billing)
        assert billing is not None and billing.stripe_price_id is not None
        live = [item for item in subscriptions if item.status in LIVE]
        if live:
            raise SubscriptionExists(
                f"A sua empresa já tem uma assinatura ({live[0].status}). Para trocar de plano "
                "ou de cartão, use o portal de cobrança (POST /v1/billing/portal).",
                field="plan_id",
            )

        if customer_id is None:
            created = await gateway.create_customer(tenant.id, tenant.name, tenant.contact_email)
            async with self._uow.host() as scope:
                customer_id = await scope.stripe_ids.link_customer(tenant.id, created)

        link = await gateway.create_checkout(
            customer_id=customer_id,
            price_id=billing.stripe_price_id,
            tenant_id=tenant.id,
            plan_id=plan.id,
        )
        async with self._uow.tenant(tenant_id) as scope:
            await scope.audit.record(
                AuditEvent(
                    action="billing.checkout_started",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="plan",
                    target_id=plan.id,
                    detail={"session_id": link.session_id},
                )
            )
        return link

    async def portal(self, actor: Actor, tenant_id: str) -> CheckoutLink:
        """Open the billing portal of the tenant's customer; raise NoBillingCustomer before any checkout."""
        gateway = require_gateway(self._gateway)

        async with self._uow.tenant(tenant_id) as scope:
            customer_id = await scope.stripe_ids.customer_of(tenant_id)
        if customer_id is None:
            raise NoBillingCustomer(
                "A sua empresa ainda não tem assinatura. Escolha um plano em "
                "POST /v1/billing/checkout."
            )

        link = await gateway.create_portal(customer_id)
        async with self._uow.tenant(tenant_id) as scope:
            await scope.audit.record(
                AuditEvent(
                    action="billing.portal_opened",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="tenant",
                    target_id=tenant_id,
                )
            )
        return link

    async def sync_plan(self, actor: Actor, plan_id: str) -> PlanBilling:
        """Create or update the plan's product and monthly price at the provider, and store their ids."""
        gateway = require_gateway(self._gateway, for_host=True)

        async with self._uow.host() as scope:
            plan = await scope.plans.get(plan_id)
            if plan is None:
                raise NotFound(f"Plano não encontrado: '{plan_id}'.", code="plan_not_found")
            before = await scope.stripe_ids.plan_billing(plan.id) or PlanBilling(plan_id=plan.id)

        # The provider calls run outside any transaction, so a slow response
        # does not hold a database connection.
        product_id = await gateway.ensure_product(plan, before.stripe_product_id)
        price_id = await gateway.ensure_price(plan, product_id, before.stripe_price_id)

        after = attrs.evolve(before, stripe_product_id=product_id, stripe_price_id=price_id)
        async with self._uow.host() as scope:
            await scope.stripe_ids.set_plan_prices(plan.id, product_id, price_id)
            if after != before:
                await scope.audit.record(
                    AuditEvent(
                        action="plan.stripe_synced",
                        actor=actor,
                        target_type="plan",
                        target_id=plan.id,
                        before=before.to_json(),
                        after=after.to_json(),
                    )
                )
        return after


def _check_for_sale(plan: Plan, billing: PlanBilling | None) -> None:
    if plan.archived:
        raise PlanNotForSale(
            f"O plano '{plan.name}' está arquivado e não é mais vendido. Escolha outro plano.",
            field="plan_id",
        )
    if billing is None or billing.stripe_price_id is None:
        raise PlanNotForSale(
            f"O plano '{plan.name}' ainda não está à venda pelo Stripe. Peça ao administrador "
            "do Garimpo para sincronizá-lo.",
            field="plan_id",
        )
