"""Following the payment provider: Stripe webhooks and the sweep of overdue subscriptions.

An event only signals that something changed. Each handler fetches the current
subscription, invoice or checkout session from the provider and applies
that, so late, repeated and reordered deliveries all end in the provider's
current state. Every effect is idempotent: a subscription copy is replaced
whole, and each invoice grants credits once, under the key ``invoice:<id>``.
The event id is stored only after the effects, so a crash in between leaves
the event unrecorded and the provider's redelivery applies the effects again.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import attrs
import structlog

from application.billing import BillingGateway, require_gateway
from application.credits import Credits
from application.ports import EmailMessage, EmailSender, Scope, UnitOfWork
from application.tenancy import TenantChanges, Tenants
from domain.accounts import AccountStatus
from domain.audit import Actor, ActorType, AuditEvent, changed_fields
from domain.billing import (
    LIVE,
    NONPAYMENT_REASON,
    BillingEvent,
    BillingProviderUnavailable,
    InvalidSignature,
    RemoteInvoice,
    Subscription,
    UnknownPrice,
    credit_expiry,
    follow,
    settle,
)
from domain.errors import DomainError
from domain.identity import Role
from domain.tenancy import TenantStatus

log = structlog.get_logger(__name__)

#: Actor of every change that follows a Stripe event.
STRIPE_ACTOR = Actor(type=ActorType.SYSTEM, label="stripe")

#: Purpose of the e-mail that warns a tenant of a failed charge.
OVERDUE_WARNING = "billing_overdue"

#: Most tenant admins that receive the overdue warning, besides the contact e-mail.
MAX_WARNED_ADMINS = 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class WebhookReceipt:
    event_id: str
    #: Result of processing: credits_granted, applied, duplicate, or ignored_<reason>.
    outcome: str


@attrs.frozen(kw_only=True)
class _Followed:
    tenant_id: str
    subscription: Subscription


class BillingSync:
    """Applies what the provider reports: webhooks, and suspension once a grace period ends."""

    def __init__(
        self,
        uow: UnitOfWork,
        gateway: BillingGateway | None,
        tenants: Tenants,
        credits: Credits,
        email: EmailSender,
        *,
        grace: dt.timedelta,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._tenants = tenants
        self._credits = credits
        self._email = email
        self._grace = grace
        self._clock = clock

    # --- webhooks ----------------------------------------------------------------

    async def handle_webhook(self, payload: bytes, signature: str | None) -> WebhookReceipt:
        """Verify, apply and record one delivery; a recorded event id changes nothing.

        Raises InvalidSignature before reading anything from an unsigned or
        altered body. Raises BillingProviderUnavailable when the current
        objects cannot be fetched, and UnknownPrice for a paid invoice of no
        plan. The event then stays unrecorded, so Stripe's retry applies it.
        """
        gateway = require_gateway(self._gateway)
        try:
            event = gateway.verify_event(payload, signature)
        except InvalidSignature:
            log.warning(
                "stripe_webhook_rejected",
                reason="invalid_signature",
                signature_present=bool(signature),
                body_bytes=len(payload),
            )
            raise

        async with self._uow.unscoped() as scope:
            if await scope.stripe_events.seen(event.id):
                log.info("stripe_event_duplicate", event_id=event.id, type=event.type)
                return WebhookReceipt(event_id=event.id, outcome="duplicate")

        outcome = await self._apply(gateway, event)

        async with self._uow.unscoped() as scope:
            first = await scope.stripe_events.record(event, outcome)
        log.info(
            "stripe_event_processed",
            event_id=event.id,
            type=event.type,
            object_id=event.object_id,
            outcome=outcome,
            first_delivery=first,
        )
        return WebhookReceipt(event_id=event.id, outcome=outcome if first else "duplicate")

    async def _apply(self, gateway: BillingGateway, event: BillingEvent) -> str:
        if event.object_id is None:
            return "ignored_without_object"
        if event.type == "checkout.session.completed":
            return await self._checkout_completed(gateway, event.object_id)
        if event.type in {
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        }:
            followed = await self._follow_subscription(gateway, event.object_id)
            return "applied" if followed is not None else "ignored_unknown_subscription"
        if event.type == "invoice.paid":
            return await self._invoice_paid(gateway, event.object_id)
        if event.type == "invoice.payment_failed":
            return await self._invoice_failed(gateway, event.object_id)
        return "ignored_type"

    async def _checkout_completed(self, gateway: BillingGateway, session_id: str) -> str:
        session = await gateway.checkout(session_id)
        if session is None:
            return "ignored_missing_object"
        tenant_id = await self._tenant_for(session.tenant_id, session.customer_id)
        if tenant_id is None:
            log.warning("stripe_checkout_without_tenant", session_id=session_id)
            return "ignored_unknown_tenant"

        if session.customer_id is not None:
            await self._link_customer(tenant_id, session.customer_id)
        if session.status != "complete":
            return "ignored_incomplete_checkout"

        # The tenant bought this plan. That stays true whatever state the
        # subscription has reached by the time this event is processed.
        if session.plan_id is not None:
            await self._follow_plan(tenant_id, session.plan_id)
        if session.subscription_id is not None:
            await self._follow_subscription(gateway, session.subscription_id, tenant_hint=tenant_id)
        return "applied"

    async def _invoice_paid(self, gateway: BillingGateway, invoice_id: str) -> str:
        invoice = await gateway.invoice(invoice_id)
        if invoice is None:
            return "ignored_missing_object"

        followed = None
        if invoice.subscription_id is not None:
            followed = await self._follow_subscription(
                gateway,
                invoice.subscription_id,
                tenant_hint=invoice.tenant_id,
                invoice_url=invoice.hosted_invoice_url,
            )
        tenant_id = (
            followed.tenant_id
            if followed is not None
            else await self._tenant_for(invoice.tenant_id, invoice.customer_id)
        )
        if tenant_id is None:
            log.warning("stripe_invoice_without_tenant", invoice_id=invoice.id)
            return "ignored_unknown_tenant"
        if not invoice.paid:
            return "ignored_unpaid_invoice"

        outcome = "applied"
        if invoice.opens_period:
            plan_id = await self._plan_of_invoice(invoice, followed)
            granted = await self._grant_period(tenant_id, invoice, plan_id)
            outcome = "credits_granted" if granted else "applied_plan_without_credits"

        if followed is not None:
            await self._settle(tenant_id, followed.subscription.id)
        await self._reactivate_if_settled(tenant_id)
        return outcome

    async def _invoice_failed(self, gateway: BillingGateway, invoice_id: str) -> str:
        invoice = await gateway.invoice(invoice_id)
        if invoice is None:
            return "ignored_missing_object"
        if invoice.subscription_id is None:
            return "ignored_without_subscription"

        # The subscription's status decides whether the tenant is overdue,
        # so the warning and the grace period start when it turns past_due.
        followed = await self._follow_subscription(
            gateway,
            invoice.subscription_id,
            tenant_hint=invoice.tenant_id,
            invoice_url=invoice.hosted_invoice_url,
        )
        return "applied" if followed is not None else "ignored_unknown_subscription"

    # --- the subscription copy -------------------------------------------------------

    async def _follow_subscription(
        self,
        gateway: BillingGateway,
        subscription_id: str,
        *,
        tenant_hint: str | None = None,
        invoice_url: str | None = None,
    ) -> _Followed | None:
        """Fetch the subscription, store its state, and act on what changed."""
        remote = await gateway.subscription(subscription_id)
        if remote is None:
            log.warning("stripe_subscription_missing", subscription_id=subscription_id)
            return None
        tenant_id = await self._tenant_for(remote.tenant_id or tenant_hint, remote.customer_id)
        if tenant_id is None:
            log.warning(
                "stripe_subscription_without_tenant",
                subscription_id=remote.id,
                customer_id=remote.customer_id,
            )
            return None
        plan_id = await self._plan_of_price(remote.price_id, remote.plan_id)

        async with self._uow.tenant(tenant_id) as scope:
            await scope.subscriptions.lock(remote.id)
            existing = await scope.subscriptions.get(remote.id)
            followed = follow(
                existing,
                remote,
                tenant_id=tenant_id,
                plan_id=plan_id,
                now=self._clock(),
                grace=self._grace,
            )
            await _store(scope, existing, followed.subscription)
        subscription = followed.subscription

        if followed.became_overdue:
            if invoice_url is None and remote.latest_invoice_id is not None:
                latest = await gateway.invoice(remote.latest_invoice_id)
                invoice_url = latest.hosted_invoice_url if latest is not None else None
            await self._warn_overdue(subscription, invoice_url)
        if subscription.status in LIVE and subscription.plan_id is not None:
            await self._follow_plan(tenant_id, subscription.plan_id)
        await self._reactivate_if_settled(tenant_id)
        return _Followed(tenant_id=tenant_id, subscription=subscription)

    async def _settle(self, tenant_id: str, subscription_id: str) -> None:
        async with self._uow.tenant(tenant_id) as scope:
            await scope.subscriptions.lock(subscription_id)
            existing = await scope.subscriptions.get(subscription_id)
            if existing is not None:
                await _store(scope, existing, settle(existing, self._clock()))

    # --- tenants, plans and credits ------------------------------------------------

    async def _tenant_for(self, tenant_hint: str | None, customer_id: str | None) -> str | None:
        """Return the tenant named in the metadata, else the tenant of the customer."""
        async with self._uow.host() as scope:
            if tenant_hint is not None:
                tenant = await scope.tenants.get(tenant_hint)
                if tenant is not None:
                    return tenant.id
            if customer_id is not None:
                return await scope.stripe_ids.tenant_of_customer(customer_id)
        return None

    async def _link_customer(self, tenant_id: str, customer_id: str) -> None:
        async with self._uow.host() as scope:
            stored = await scope.stripe_ids.link_customer(tenant_id, customer_id)
        if stored != customer_id:
            log.warning(
                "stripe_customer_mismatch",
                tenant_id=tenant_id,
                stored_customer_id=stored,
                event_customer_id=customer_id,
            )

    async def _plan_of_price(self, price_id: str | None, plan_hint: str | None) -> str | None:
        """Return the plan selling ``price_id``, else the plan named in the price's metadata."""
        async with self._uow.host() as scope:
            if price_id is not None:
                plan_id = await scope.stripe_ids.plan_of_price(price_id)
                if plan_id is not None:
                    return plan_id
            if plan_hint is not None:
                plan = await scope.plans.get(plan_hint)
                if plan is not None:
                    return plan.id
        return None

    async def _plan_of_invoice(self, invoice: RemoteInvoice, followed: _Followed | None) -> str:
        for price_id in invoice.price_ids:
            plan_id = await self._plan_of_price(price_id, None)
            if plan_id is not None:
                return plan_id
        if followed is not None and followed.subscription.plan_id is not None:
            return followed.subscription.plan_id

        log.error(
            "stripe_invoice_of_unknown_price", invoice_id=invoice.id, prices=invoice.price_ids
        )
        prices = ", ".join(invoice.price_ids) or "nenhum"
        raise UnknownPrice(
            f"A fatura {invoice.id} cobra um preço que nenhum plano do Garimpo vende "
            f"(preços: {prices}). Sincronize o plano com POST /v1/host/plans/{{plan_id}}/"
            "stripe-sync; o Stripe reenviará o evento."
        )

    async def _grant_period(self, tenant_id: str, invoice: RemoteInvoice, plan_id: str) -> bool:
        """Grant the plan's monthly credits for a paid period invoice, once per invoice."""
        async with self._uow.host() as scope:
            plan = await scope.plans.get(plan_id)
            billing = await scope.stripe_ids.plan_billing(plan_id)
        assert plan is not None, "plan ids come from the plan table"
        credits = plan.limits.monthly_credits
        if credits <= 0:
            return False

        validity = billing.credit_validity_days if billing is not None else None
        entry = await self._credits.grant(
            STRIPE_ACTOR,
            tenant_id,
            credits,
            reason=f"Créditos mensais do plano {plan.name}, fatura {invoice.id}",
            idempotency_key=f"invoice:{invoice.id}",
            reference_type="invoice",
            reference_id=invoice.id,
            expires_at=credit_expiry(self._clock(), validity),
        )
        log.info(
            "billing_credits_granted",
            tenant_id=tenant_id,
            invoice_id=invoice.id,
            entry_id=entry.id,
            amount=credits,
        )
        return True

    async def _follow_plan(self, tenant_id: str, plan_id: str) -> None:
        """Put the tenant on the plan it pays for, so its limits follow the purchase."""
        async with self._uow.host() as scope:
            tenant = await scope.tenants.get(tenant_id)
        if tenant is None or tenant.plan_id == plan_id or tenant.status is TenantStatus.DELETED:
            return
        try:
            await self._tenants.update(STRIPE_ACTOR, tenant_id, TenantChanges(plan_id=plan_id))
        except DomainError as error:
            # An archived or unknown plan: the tenant keeps its plan and the
            # host decides.
            log.warning(
                "billing_plan_not_followed", tenant_id=tenant_id, plan_id=plan_id, code=error.code
            )

    async def _reactivate_if_settled(self, tenant_id: str) -> None:
        """End a suspension for non-payment once no subscription of the tenant is overdue."""
        async with self._uow.host() as scope:
            tenant = await scope.tenants.get(tenant_id)
            if (
                tenant is None
                or tenant.status is not TenantStatus.SUSPENDED
                or tenant.status_reason != NONPAYMENT_REASON
            ):
                return
            subscriptions = await scope.subscriptions.of_tenant(tenant_id)
        if any(item.overdue for item in subscriptions):
            return
        await self._tenants.reactivate(STRIPE_ACTOR, tenant_id)
        log.info("tenant_reactivated_after_payment", tenant_id=tenant_id)

    async def _warn_overdue(self, subscription: Subscription, invoice_url: str | None) -> None:
        """E-mail the tenant's contact and admins that the charge failed and when access stops."""
        async with self._uow.tenant(subscription.tenant_id) as scope:
            tenant = await scope.tenants.get(subscription.tenant_id)
            plan = await scope.plans.get(subscription.plan_id) if subscription.plan_id else None
            _total, admins = await scope.accounts.list(
                role=Role.ADMIN, status=AccountStatus.ACTIVE, offset=0, limit=MAX_WARNED_ADMINS
            )
        if tenant is None:
            return

        candidates = [tenant.contact_email, *(admin.email for admin in admins)]
        recipients = [address for address in dict.fromkeys(candidates) if address]
        if not recipients:
            log.warning("billing_warning_without_recipient", tenant_id=tenant.id)
            return

        assert subscription.grace_until is not None, "an overdue period has a grace period"
        deadline = subscription.grace_until.astimezone(zoneinfo.ZoneInfo(tenant.settings.timezone))
        text = overdue_warning_text(tenant.name, plan.name if plan else None, deadline, invoice_url)
        # NOTE: the warning goes out after the overdue period is stored, so a
        # crash between the two loses it. A redelivered event finds the period
        # open and does not warn again.
        for address in recipients:
            message = EmailMessage(
                to=address,
                subject="Não conseguimos cobrar a assinatura do Garimpo",
                text=text,
                purpose=OVERDUE_WARNING,
            )
            try:
                await self._email.send(message)
            except Exception:
                log.exception(
                    "billing_warning_not_sent",
                    tenant_id=tenant.id,
                    subscription_id=subscription.id,
                )

    # --- the overdue sweep ---------------------------------------------------------

    async def suspend_overdue(self, actor: Actor) -> int:
        """Suspend tenants whose overdue period outlasted the grace period; return how many.

        Each subscription is fetched from the provider first, so a payment
        whose webhook was lost still counts. A tenant whose subscriptions
        cannot be fetched waits for the next round.
        """
        if self._gateway is None:
            return 0
        gateway = self._gateway
        now = self._clock()
        async with self._uow.host() as scope:
            due = await scope.subscriptions.grace_expired(now)

        suspended = 0
        for tenant_id in sorted({item.tenant_id for item in due}):
            try:
                for item in due:
                    if item.tenant_id == tenant_id:
                        await self._follow_subscription(gateway, item.id)
            except BillingProviderUnavailable:
                log.warning("billing_refresh_failed", tenant_id=tenant_id)
                continue
            suspended += await self._suspend_if_overdue(actor, tenant_id, now)
        return suspended

    async def _suspend_if_overdue(self, actor: Actor, tenant_id: str, now: dt.datetime) -> bool:
        async with self._uow.host() as scope:
            tenant = await scope.tenants.get(tenant_id)
            subscriptions = await scope.subscriptions.of_tenant(tenant_id)
        # A tenant suspended by the host for another reason keeps that reason.
        if tenant is None or tenant.status is not TenantStatus.ACTIVE:
            return False
        if not any(item.grace_expired(now) for item in subscriptions):
            return False
        await self._tenants.suspend(actor, tenant_id, NONPAYMENT_REASON)
        log.warning("tenant_suspended_for_nonpayment", tenant_id=tenant_id)
        return True


async def _store(scope: Scope, existing: Subscription | None, updated: Subscription) -> None:
    """Save the copy and audit what changed; an unchanged copy is not written at all."""
    if existing is not None and attrs.evolve(updated, updated_at=existing.updated_at) == existing:
        return
    await scope.subscriptions.save(updated)
    before, after = changed_fields(
        existing.to_json() if existing is not None else {}, updated.to_json()
    )
    await scope.audit.record(
        AuditEvent(
            action="billing.subscription_changed",
            actor=STRIPE_ACTOR,
            tenant_id=updated.tenant_id,
            target_type="subscription",
            target_id=updated.id,
            before=before or None,
            after=after,
        )
    )


def overdue_warning_text(
    tenant_name: str, plan_name: str | None, deadline: dt.datetime, invoice_url: str | None
) -> str:
    """Build the pt-BR body of the overdue warning; ``deadline`` is in the tenant's timezone."""
    plan = f" (plano {plan_name})" if plan_name else ""
    where = (
        f"Pague a fatura ou troque o cartão nesta página: {invoice_url}"
        if invoice_url
        else "Pague a fatura ou troque o cartão na área de assinatura do Garimpo."
    )
    return (
        f"Olá, {tenant_name}.\n\n"
        f"Não conseguimos cobrar a assinatura do Garimpo{plan}. O acesso continua liberado "
        f"até {deadline:%d/%m/%Y} às {deadline:%H:%M}; depois disso, a conta fica suspensa "
        "até o pagamento.\n\n"
        f"{where}\n\n"
        "Se o pagamento já foi feito, desconsidere esta mensagem.\n\n"
        "Equipe Garimpo"
    )
