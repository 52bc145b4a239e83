"""Subscriptions billed by the payment provider, and the rules that follow their state.

The provider (Stripe) owns the truth about a subscription and its invoices.
Garimpo keeps a copy of each subscription's current state, grants a plan's
monthly credits once per paid period invoice, and counts a grace period from
the moment a subscription falls overdue. Past the grace period the tenant is
suspended; paying brings it back.

The copy is always rebuilt from the provider's current objects, never from
an event's payload, so events may arrive late, twice or out of order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from domain.errors import Conflict, DomainError

#: Stripe subscription statuses that give the tenant a paid plan.
GOOD_STANDING = frozenset({"active", "trialing"})
#: Statuses of a subscription whose latest invoice is unpaid after a failed charge.
OVERDUE = frozenset({"past_due", "unpaid"})
#: Statuses that stop a tenant from starting a second subscription.
LIVE = GOOD_STANDING | OVERDUE

#: The invoice reasons that open a billing period: the first invoice of a
#: subscription and each renewal. Proration and manual invoices grant nothing,
#: so changing plans back and forth inside a period cannot collect credits.
PERIOD_INVOICE_REASONS = frozenset({"subscription_create", "subscription_cycle"})

#: Reason of a suspension for non-payment. Users of the tenant read it in the
#: 403 they receive, and only a suspension with this reason ends by itself
#: when the tenant pays.
NONPAYMENT_REASON = "Pagamento da assinatura pendente"

#: Days a tenant keeps access after its subscription falls overdue.
DEFAULT_GRACE_DAYS = 7


class BillingDisabled(Conflict):
    """Raised when a billing operation is asked of a deployment without Stripe."""

    code = "billing_disabled"

    def __init__(self, *, for_host: bool = False) -> None:
        advice = (
            "Configure STRIPE_API_KEY e STRIPE_WEBHOOK_SECRET para vender planos pelo Stripe; "
            "sem eles, conceda os créditos em /v1/host/tenants/{id}/credits/grants."
            if for_host
            else "Os créditos são concedidos pelo administrador do host; fale com ele para "
            "contratar ou mudar de plano."
        )
        super().__init__(
            f"A cobrança pelo Stripe não está ativada nesta instalação do Garimpo. {advice}"
        )


class WebhookNotConfigured(Conflict):
    """Raised when a Stripe event arrives but no webhook signing secret is configured."""

    code = "stripe_webhook_not_configured"

    def __init__(self) -> None:
        super().__init__(
            "Esta instalação não tem o segredo de assinatura dos webhooks do Stripe "
            "(STRIPE_WEBHOOK_SECRET); o evento não foi processado."
        )


class InvalidSignature(DomainError):
    """Raised when a webhook's Stripe-Signature header is missing or does not match its body."""

    code = "invalid_signature"

    def __init__(self) -> None:
        super().__init__(
            "A assinatura do webhook (cabeçalho Stripe-Signature) está ausente, expirou ou não "
            "confere com o corpo recebido. O evento foi descartado.",
            field="Stripe-Signature",
        )


class BillingProviderUnavailable(DomainError):
    """Raised when Stripe cannot be reached or returns an error of its own."""

    code = "billing_provider_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "O Stripe não respondeu como esperado. Tente de novo em alguns minutos; se o erro "
            "continuar, informe o request_id ao suporte."
        )


class UnknownPrice(Conflict):
    """Raised when a paid invoice bills a price that no plan of Garimpo sells."""

    code = "unknown_stripe_price"


class PlanNotForSale(Conflict):
    """Raised when a tenant picks a plan that has no Stripe price or is archived."""

    code = "plan_not_for_sale"


class SubscriptionExists(Conflict):
    """Raised when a tenant with a live subscription starts a second checkout."""

    code = "subscription_exists"


class NoBillingCustomer(Conflict):
    """Raised when a tenant that never subscribed requests the billing portal."""

    code = "no_billing_customer"


# --- the provider's current objects -------------------------------------------------


@attrs.frozen(kw_only=True)
class RemoteSubscription:
    """A subscription as the provider returns it at this moment."""

    id: str
    customer_id: str
    status: str
    price_id: str | None
    #: The Garimpo plan named in the price's metadata, when the price has one.
    plan_id: str | None = None
    #: The tenant named in the subscription's metadata, when it has one.
    tenant_id: str | None = None
    current_period_start: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: dt.datetime | None = None
    latest_invoice_id: str | None = None


@attrs.frozen(kw_only=True)
class RemoteInvoice:
    """An invoice as the provider returns it at this moment."""

    id: str
    customer_id: str | None
    subscription_id: str | None
    #: draft, open, paid, uncollectible or void.
    status: str | None
    billing_reason: str | None
    #: Prices billed on the invoice's lines.
    price_ids: tuple[str, ...] = ()
    #: The tenant named in the subscription metadata copied onto the invoice.
    tenant_id: str | None = None
    #: The provider's page where the customer can pay the invoice.
    hosted_invoice_url: str | None = None

    @property
    def paid(self) -> bool:
        return self.status == "paid"

    @property
    def opens_period(self) -> bool:
        """Tell whether paying this invoice grants a period's credits."""
        return self.billing_reason in PERIOD_INVOICE_REASONS


@attrs.frozen(kw_only=True)
class RemoteCheckout:
    """A checkout session as the provider returns it at this moment."""

    id: str
    #: open, complete or expired.
    status: str | None
    customer_id: str | None
    subscription_id: str | None
    #: client_reference_id, else the session's metadata.
    tenant_id: str | None = None
    #: The plan the tenant picked, from the session's metadata.
    plan_id: str | None = None


@attrs.frozen(kw_only=True)
class BillingEvent:
    """A verified provider event: its id, type and the id of the object it is about."""

    id: str
    type: str
    created: dt.datetime
    object_id: str | None


@attrs.frozen(kw_only=True)
class CheckoutLink:
    """A hosted page the tenant's admin is sent to: checkout or the billing portal."""

    url: str
    session_id: str


# --- Garimpo's copy ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Subscription:
    """Garimpo's copy of one subscription, with the overdue period Garimpo counts itself."""

    id: str
    tenant_id: str
    customer_id: str
    price_id: str | None
    plan_id: str | None
    status: str
    current_period_start: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    cancel_at_period_end: bool = False
    #: Start of the current overdue period; None while the subscription is paid up.
    past_due_since: dt.datetime | None = None
    #: End of the grace period of the current overdue period.
    grace_until: dt.datetime | None = None
    canceled_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def overdue(self) -> bool:
        """Tell whether an overdue period is open (it may outlive the status, see ``follow``)."""
        return self.past_due_since is not None

    def grace_expired(self, now: dt.datetime) -> bool:
        return self.grace_until is not None and self.grace_until <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "plan_id": self.plan_id,
            "current_period_start": _iso(self.current_period_start),
            "current_period_end": _iso(self.current_period_end),
            "cancel_at_period_end": self.cancel_at_period_end,
            "past_due_since": _iso(self.past_due_since),
            "grace_until": _iso(self.grace_until),
            "canceled_at": _iso(self.canceled_at),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@attrs.frozen(kw_only=True)
class Followed:
    """The copy after following the provider, and whether an overdue period just opened."""

    subscription: Subscription
    became_overdue: bool


def follow(
    existing: Subscription | None,
    remote: RemoteSubscription,
    *,
    tenant_id: str,
    plan_id: str | None,
    now: dt.datetime,
    grace: dt.timedelta,
) -> Followed:
    """Copy the provider's current state onto Garimpo's copy.

    An overdue period opens when the status becomes past_due or unpaid, with
    the grace period counted from ``now``, and closes when the status is
    active or trialing again. A subscription cancelled while overdue keeps
    its overdue period: the debt is still unpaid, so the grace period still
    runs out. ``settle`` closes it when the invoice is paid after all.
    """
    past_due_since = existing.past_due_since if existing else None
    grace_until = existing.grace_until if existing else None
    became_overdue = False

    if remote.status in OVERDUE and past_due_since is None:
        past_due_since = now
        grace_until = now + grace
        became_overdue = True
    elif remote.status in GOOD_STANDING:
        past_due_since = None
        grace_until = None

    # A price without a known plan keeps the plan seen before.
    if plan_id is None and existing is not None:
        plan_id = existing.plan_id

    subscription = Subscription(
        id=remote.id,
        tenant_id=tenant_id,
        customer_id=remote.customer_id,
        price_id=remote.price_id,
        plan_id=plan_id,
        status=remote.status,
        current_period_start=remote.current_period_start,
        current_period_end=remote.current_period_end,
        cancel_at_period_end=remote.cancel_at_period_end,
        past_due_since=past_due_since,
        grace_until=grace_until,
        canceled_at=remote.canceled_at,
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    return Followed(subscription=subscription, became_overdue=became_overdue)


def settle(subscription: Subscription, now: dt.datetime) -> Subscription:
    """Close the overdue period after one of the subscription's invoices was paid.

    A subscription whose status is still past_due or unpaid has another
    unpaid invoice, so its overdue period stays open.
    """
    if not subscription.overdue or subscription.status in OVERDUE:
        return subscription
    return attrs.evolve(subscription, past_due_since=None, grace_until=None, updated_at=now)


def credit_expiry(now: dt.datetime, validity_days: int | None) -> dt.datetime | None:
    """Return when credits granted ``now`` expire; None when the plan sets no validity."""
    if validity_days is None:
        return None
    return now + dt.timedelta(days=validity_days)


def current_subscription(subscriptions: list[Subscription]) -> Subscription | None:
    """Return the subscription shown as the tenant's own: the newest live one, else the newest."""
    if not subscriptions:
        return None
    newest_first = sorted(subscriptions, key=lambda item: item.created_at, reverse=True)
    live = [item for item in newest_first if item.status in LIVE]
    return live[0] if live else newest_first[0]
