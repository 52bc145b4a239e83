"""The Stripe adapter of ``BillingGateway``, over the ``stripe`` package's ``StripeClient``.

Stripe's objects become the domain's ``Remote*`` values here, and nowhere
else reads a Stripe payload. The shapes follow the API version the package
pins (``stripe.api_version``): billing periods sit on the subscription items
and an invoice names its subscription under ``parent.subscription_details``.
Fields of older API versions are read too, for accounts that pin one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs
import stripe
import structlog

from domain.billing import (
    BillingEvent,
    BillingProviderUnavailable,
    CheckoutLink,
    InvalidSignature,
    RemoteCheckout,
    RemoteInvoice,
    RemoteSubscription,
    WebhookNotConfigured,
)
from domain.errors import DomainError
from domain.tenancy import Plan

log = structlog.get_logger(__name__)

#: Seconds a call to Stripe may take, connection included.
STRIPE_TIMEOUT_SECONDS = 30.0
#: Retries of a failed call. Stripe's client sends an idempotency key with
#: every POST, so a retried create does not create twice.
STRIPE_NETWORK_RETRIES = 2


@attrs.frozen(kw_only=True)
class StripeUrls:
    """Return addresses of Stripe's hosted pages, where the tenant's admin lands afterwards."""

    #: May hold ``{CHECKOUT_SESSION_ID}``, which Stripe fills in.
    checkout_success: str
    checkout_cancel: str
    portal_return: str


def open_stripe_client(
    api_key: str, api_base: str | None
) -> tuple[stripe.StripeClient, stripe.AIOHTTPClient]:
    """Build a client on its own aiohttp connection pool; ``api_base`` is only for a local fake.

    Return the client and its pool, which the caller closes.
    """
    http_client = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=STRIPE_TIMEOUT_SECONDS))
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=STRIPE_NETWORK_RETRIES,
        http_client=http_client,
    )
    return client, http_client


class StripeBillingGateway:
    """Products, prices, customers, hosted pages and the current state of Stripe's objects."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        urls: StripeUrls,
        webhook_secret: str | None,
        webhook_tolerance_seconds: int,
    ) -> None:
        self._client = client
        self._urls = urls
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance_seconds

    # --- catalogue -------------------------------------------------------------------

    async def ensure_product(self, plan: Plan, product_id: str | None) -> str:
        fields = {"name": plan.name, "metadata": {"plan_id": plan.id, "plan_code": plan.code}}
        if product_id is not None:
            found = await self._call(
                "products.update", self._client.v1.products.update_async(product_id, fields)
            )
            if found is not None:
                return str(found["id"])
            log.warning("stripe_product_missing", plan_id=plan.id, product_id=product_id)
            # The product was deleted at Stripe: the key of the first
            # creation would return it, so this one goes without a key.
            created = await self._call(
                "products.create", self._client.v1.products.create_async(fields)
            )
        else:
            created = await self._call(
                "products.create",
                self._client.v1.products.create_async(
                    fields, {"idempotency_key": f"garimpo-product-{plan.id}"}
                ),
            )
        return str(_required(created)["id"])

    async def ensure_price(self, plan: Plan, product_id: str, price_id: str | None) -> str:
        current = None
        if price_id is not None:
            current = await self._call(
                "prices.retrieve", self._client.v1.prices.retrieve_async(price_id)
            )
            if current is not None and _price_matches(current, plan, product_id):
                return price_id

        amount, currency = plan.limits.price_cents, plan.currency.lower()
        created = await self._call(
            "prices.create",
            self._client.v1.prices.create_async(
                {
                    "product": product_id,
                    "unit_amount": amount,
                    "currency": currency,
                    "recurring": {"interval": "month"},
                    "nickname": plan.name,
                    "metadata": {"plan_id": plan.id},
                },
                # A retried sync gets the same price back within Stripe's
                # 24-hour idempotency window. The replaced price is part of the
                # key, so going back to an earlier amount creates a new price.
                {
                    "idempotency_key": (
                        f"garimpo-price-{plan.id}-{product_id}-{amount}-{currency}-"
                        f"{price_id or 'first'}"
                    )
                },
            ),
        )
        new_id = str(_required(created)["id"])

        # Subscriptions on the old price keep it; it is only no longer sold.
        if current is not None and current.get("active") and price_id != new_id:
            await self._call(
                "prices.update",
                self._client.v1.prices.update_async(str(price_id), {"active": False}),
            )
        return new_id

    # --- customers and hosted pages -----------------------------------------------

    async def create_customer(self, tenant_id: str, name: str, email: str | None) -> str:
        fields: dict[str, Any] = {
            "name": name,
            "metadata": {"tenant_id": tenant_id},
            "preferred_locales": ["pt-BR"],
        }
        if email:
            fields["email"] = email
        created = await self._call(
            "customers.create",
            self._client.v1.customers.create_async(
                fields, {"idempotency_key": f"garimpo-customer-{tenant_id}"}
            ),
        )
        return str(_required(created)["id"])

    async def create_checkout(
        self, *, customer_id: str, price_id: str, tenant_id: str, plan_id: str
    ) -> CheckoutLink:
        metadata = {"tenant_id": tenant_id, "plan_id": plan_id}
        created = await self._call(
            "checkout.sessions.create",
            self._client.v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": tenant_id,
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "metadata": metadata,
                    "subscription_data": {"metadata": metadata},
                    "success_url": self._urls.checkout_success,
                    "cancel_url": self._urls.checkout_cancel,
                    "locale": "pt-BR",
                }
            ),
        )
        session = _required(created)
        return CheckoutLink(url=str(session["url"]), session_id=str(session["id"]))

    async def create_portal(self, customer_id: str) -> CheckoutLink:
        created = await self._call(
            "billing_portal.sessions.create",
            self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": self._urls.portal_return}
            ),
        )
        session = _required(created)
        return CheckoutLink(url=str(session["url"]), session_id=str(session["id"]))

    # --- current state ---------------------------------------------------------------

    async def subscription(self, subscription_id: str) -> RemoteSubscription | None:
        data = await self._call(
            "subscriptions.retrieve",
            self._client.v1.subscriptions.retrieve_async(subscription_id),
        )
        return subscription_from_stripe(data) if data is not None else None

    async def invoice(self, invoice_id: str) -> RemoteInvoice | None:
        data = await self._call(
            "invoices.retrieve", self._client.v1.invoices.retrieve_async(invoice_id)
        )
        return invoice_from_stripe(data) if data is not None else None

    async def checkout(self, session_id: str) -> RemoteCheckout | None:
        data = await self._call(
            "checkout.sessions.retrieve",
            self._client.v1.checkout.sessions.retrieve_async(session_id),
        )
        return checkout_from_stripe(data) if data is not None else None

    # --- webhooks --------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature: str | None) -> BillingEvent:
        if not self._webhook_secret:
            raise WebhookNotConfigured()
        try:
            # Stripe signs the body exactly as sent; nothing is parsed before this check.
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, self._tolerance
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError):
            raise InvalidSignature() from None
        try:
            return event_from_stripe(json.loads(payload))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DomainError(
                "O corpo do webhook não é um evento do Stripe.", code="invalid_stripe_event"
            ) from None

    async def _call(self, operation: str, pending: Any) -> dict[str, Any] | None:
        """Await one Stripe call; None when the object does not exist, else its fields."""
        try:
            result = await pending
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                return None
            _log_failure(operation, error)
            raise BillingProviderUnavailable() from error
        except stripe.StripeError as error:
            _log_failure(operation, error)
            raise BillingProviderUnavailable() from error
        fields: dict[str, Any] = result.to_dict()
        return fields


def _log_failure(operation: str, error: stripe.StripeError) -> None:
    log.error(
        "stripe_call_failed",
        operation=operation,
        error_type=type(error).__name__,
        http_status=error.http_status,
        stripe_code=error.code,
        request_id=error.request_id,
    )


def _required(fields: dict[str, Any] | None) -> dict[str, Any]:
    """Return the fields of an object just created; raise BillingProviderUnavailable for None.

    A create gets 404 when one of its parameters names an object Stripe no
    longer has, such as a product deleted in the dashboard a moment before.
    """
    if fields is None:
        raise BillingProviderUnavailable()
    return fields


def _price_matches(price: Mapping[str, Any], plan: Plan, product_id: str) -> bool:
    recurring = price.get("recurring") or {}
    return (
        bool(price.get("active"))
        and price.get("product") == product_id
        and price.get("unit_amount") == plan.limits.price_cents
        and price.get("currency") == plan.currency.lower()
        and recurring.get("interval") == "month"
        and recurring.get("interval_count", 1) == 1
    )


# --- Stripe objects to domain values ---------------------------------------------------


def _id(value: Any) -> str | None:
    """Return the id of a field that is either an id or an expanded object."""
    if isinstance(value, Mapping):
        found = value.get("id")
        return str(found) if found else None
    return str(value) if value else None


def _instant(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value), dt.UTC) if value is not None else None


def _metadata(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return str(value) if value else None


def subscription_from_stripe(data: Mapping[str, Any]) -> RemoteSubscription:
    items = (data.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    # Older API versions name the price ``plan``.
    price = item.get("price") or data.get("plan") or {}
    price_metadata = _metadata(price.get("metadata")) if isinstance(price, Mapping) else {}
    return RemoteSubscription(
        id=str(data["id"]),
        customer_id=_id(data.get("customer")) or "",
        status=str(data["status"]),
        price_id=_id(price),
        plan_id=_text(price_metadata.get("plan_id")),
        tenant_id=_text(_metadata(data.get("metadata")).get("tenant_id")),
        current_period_start=_instant(
            item.get("current_period_start", data.get("current_period_start"))
        ),
        current_period_end=_instant(item.get("current_period_end", data.get("current_period_end"))),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=_instant(data.get("canceled_at")),
        latest_invoice_id=_id(data.get("latest_invoice")),
    )


def invoice_from_stripe(data: Mapping[str, Any]) -> RemoteInvoice:
    details = (data.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or data.get("subscription")
    legacy_details = data.get("subscription_details") or {}
    metadata = _metadata(details.get("metadata") or legacy_details.get("metadata"))
    price_ids = []
    for line in (data.get("lines") or {}).get("data") or []:
        pricing = (line.get("pricing") or {}).get("price_details") or {}
        price_id = _id(pricing.get("price")) or _id(line.get("price"))
        if price_id and price_id not in price_ids:
            price_ids.append(price_id)
    return RemoteInvoice(
        id=str(data["id"]),
        customer_id=_id(data.get("customer")),
        subscription_id=_id(subscription),
        status=_text(data.get("status")),
        billing_reason=_text(data.get("billing_reason")),
        price_ids=tuple(price_ids),
        tenant_id=_text(metadata.get("tenant_id")),
        hosted_invoice_url=_text(data.get("hosted_invoice_url")),
    )


def checkout_from_stripe(data: Mapping[str, Any]) -> RemoteCheckout:
    metadata = _metadata(data.get("metadata"))
    return RemoteCheckout(
        id=str(data["id"]),
        status=_text(data.get("status")),
        customer_id=_id(data.get("customer")),
        subscription_id=_id(data.get("subscription")),
        tenant_id=_text(data.get("client_reference_id")) or _text(metadata.get("tenant_id")),
        plan_id=_text(metadata.get("plan_id")),
    )


def event_from_stripe(data: Mapping[str, Any]) -> BillingEvent:
    obj = (data.get("data") or {}).get("object") or {}
    return BillingEvent(
        id=str(data["id"]),
        type=str(data["type"]),
        created=_instant(data.get("created")) or dt.datetime.now(dt.UTC),
        object_id=_id(obj),
    )
