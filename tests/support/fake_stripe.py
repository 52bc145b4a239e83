"""A local fake of Stripe's HTTP API, on 127.0.0.1, for the endpoints Garimpo calls.

It speaks Stripe's wire format. Requests are form-encoded with the bracket
syntax (``metadata[tenant_id]``, ``line_items[0][price]``) and carry a
Bearer secret key, and an ``Idempotency-Key`` replays the first response.
Responses are JSON objects with ``object`` and prefixed ids (cus_, prod_,
price_, cs_test_, sub_, in_, bps_), and ``{"error": {...}}`` bodies on 4xx.
Its state lives in memory, so
a test plays Stripe's side: it completes a checkout, renews a subscription,
fails or pays an invoice, cancels, and gets back the events Stripe would
send, which ``delivery`` signs the way Stripe does.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import attrs
import stripe
from aiohttp import web

from tests.support.http_server import LoopbackServer

API_KEY = "sk_test_garimpo_fake_stripe"
WEBHOOK_SECRET = "whsec_garimpo_fake_stripe_endpoint"

#: Seconds in the fake's billing month.
PERIOD_SECONDS = 30 * 24 * 3600


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Build a Stripe-Signature header: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">``."""
    moment = int(time.time()) if timestamp is None else timestamp
    signed = f"{moment}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Decode Stripe's bracket syntax into nested dicts, and lists for numeric keys."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@attrs.frozen
class StripeRequest:
    """One request the fake received: method, path, decoded form and idempotency key."""

    method: str
    path: str
    form: dict[str, Any]
    idempotency_key: str | None


@attrs.frozen
class Delivery:
    """A webhook delivery: the exact bytes and the Stripe-Signature header over them."""

    body: bytes
    signature: str
    event: dict[str, Any]


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class FakeStripe(LoopbackServer):
    """Stripe's API for customers, products, prices, checkout, portal, subscriptions, invoices."""

    def __init__(self, *, api_key: str = API_KEY, webhook_secret: str = WEBHOOK_SECRET) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        #: Unix time of the fake's clock; tests move it to renew periods.
        self.now = int(time.time())
        self.requests: list[StripeRequest] = []
        #: While True, every API call fails with 500, like an outage.
        self.failing = False

        self.customers: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        #: The price each checkout session sells; Stripe keeps line items apart too.
        self._session_prices: dict[str, str] = {}
        #: The subscription_data[metadata] of each checkout session.
        self._subscription_metadata: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = {}

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        super().__init__(app)

    def calls(self, method: str, path_prefix: str) -> list[StripeRequest]:
        return [
            request
            for request in self.requests
            if request.method == method and request.path.startswith(path_prefix)
        ]

    # --- HTTP ----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid API Key provided.")
        if self.failing:
            return _error(500, "An unknown error occurred.", error_type="api_error")

        pairs = list((await request.post()).items()) if request.method == "POST" else []
        pairs += list(request.query.items())
        form = decode_form([(key, str(value)) for key, value in pairs])
        key = request.headers.get("Idempotency-Key")
        self.requests.append(StripeRequest(request.method, request.path, form, key))

        if request.method == "POST" and key is not None and key in self._idempotent:
            stored_form, status, body = self._idempotent[key]
            if stored_form != form:
                return _error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    error_type="idempotency_error",
                )
            return web.json_response(body, status=status)

        try:
            body = self._route(request.method, request.path, form)
        except StripeError as error:
            return _error(error.status, error.message, code=error.code)
        if request.method == "POST" and key is not None:
            self._idempotent[key] = (form, 200, body)
        return web.json_response(body)

    def _route(self, method: str, path: str, form: dict[str, Any]) -> dict[str, Any]:
        routes: list[tuple[str, str, Any]] = [
            ("POST", r"/v1/customers", self._create_customer),
            ("GET", r"/v1/customers/(?P<id>[^/]+)", self._getter(self.customers, "customer")),
            ("POST", r"/v1/products", self._create_product),
            ("POST", r"/v1/products/(?P<id>[^/]+)", self._update_product),
            ("GET", r"/v1/products/(?P<id>[^/]+)", self._getter(self.products, "product")),
            ("POST", r"/v1/prices", self._create_price),
            ("POST", r"/v1/prices/(?P<id>[^/]+)", self._update_price),
            ("GET", r"/v1/prices/(?P<id>[^/]+)", self._getter(self.prices, "price")),
            ("POST", r"/v1/checkout/sessions", self._create_checkout),
            (
                "GET",
                r"/v1/checkout/sessions/(?P<id>[^/]+)",
                self._getter(self.checkout_sessions, "checkout.session"),
            ),
            ("POST", r"/v1/billing_portal/sessions", self._create_portal),
            (
                "GET",
                r"/v1/subscriptions/(?P<id>[^/]+)",
                self._getter(self.subscriptions, "subscription"),
            ),
            ("GET", r"/v1/invoices/(?P<id>[^/]+)", self._getter(self.invoices, "invoice")),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                return dict(handler(form, **match.groupdict()))
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _getter(self, store: dict[str, dict[str, Any]], kind: str) -> Any:
        def get(form: dict[str, Any], id: str) -> dict[str, Any]:
            if id not in store:
                raise StripeError(404, f"No such {kind}: '{id}'", code="resource_missing")
            return copy.deepcopy(store[id])

        return get

    def _create_customer(self, form: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": _new_id("cus_"),
            "object": "customer",
            "name": form.get("name"),
            "email": form.get("email"),
            "metadata": form.get("metadata", {}),
            "preferred_locales": form.get("preferred_locales", []),
            "created": self.now,
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return customer

    def _create_product(self, form: dict[str, Any]) -> dict[str, Any]:
        product = {
            "id": _new_id("prod_"),
            "object": "product",
            "active": True,
            "name": form["name"],
            "metadata": form.get("metadata", {}),
            "created": self.now,
            "livemode": False,
        }
        self.products[product["id"]] = product
        return product

    def _update_product(self, form: dict[str, Any], id: str) -> dict[str, Any]:
        product = self._getter(self.products, "product")(form, id)
        product.update({key: value for key, value in form.items() if key in {"name", "metadata"}})
        self.products[id] = product
        return product

    def _create_price(self, form: dict[str, Any]) -> dict[str, Any]:
        if form.get("product") not in self.products:
            raise StripeError(
                400, f"No such product: '{form.get('product')}'", code="resource_missing"
            )
        recurring = form.get("recurring", {})
        price = {
            "id": _new_id("price_"),
            "object": "price",
            "active": True,
            "currency": form["currency"],
            "unit_amount": int(form["unit_amount"]),
            "product": form["product"],
            "nickname": form.get("nickname"),
            "metadata": form.get("metadata", {}),
            "recurring": {
                "interval": recurring.get("interval"),
                "interval_count": int(recurring.get("interval_count", 1)),
                "usage_type": "licensed",
            },
            "type": "recurring",
            "created": self.now,
            "livemode": False,
        }
        self.prices[price["id"]] = price
        return price

    def _update_price(self, form: dict[str, Any], id: str) -> dict[str, Any]:
        price = self._getter(self.prices, "price")(form, id)
        if "active" in form:
            price["active"] = form["active"] == "true"
        self.prices[id] = price
        return price

    def _create_checkout(self, form: dict[str, Any]) -> dict[str, Any]:
        [item] = form["line_items"]
        if item["price"] not in self.prices:
            raise StripeError(400, f"No such price: '{item['price']}'", code="resource_missing")
        session_id = _new_id("cs_test_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "customer": form.get("customer"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": form.get("metadata", {}),
            "subscription": None,
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "locale": form.get("locale"),
            "url": f"{self.base_url}/c/pay/{session_id}",
            "created": self.now,
            "expires_at": self.now + 24 * 3600,
            "livemode": False,
        }
        self.checkout_sessions[session_id] = session
        self._session_prices[session_id] = item["price"]
        self._subscription_metadata[session_id] = form.get("subscription_data", {}).get(
            "metadata", {}
        )
        return session

    def _create_portal(self, form: dict[str, Any]) -> dict[str, Any]:
        if form.get("customer") not in self.customers:
            raise StripeError(
                400, f"No such customer: '{form.get('customer')}'", code="resource_missing"
            )
        session_id = _new_id("bps_")
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": form["customer"],
            "return_url": form.get("return_url"),
            "url": f"{self.base_url}/p/session/{session_id}",
            "created": self.now,
            "livemode": False,
        }
        self.portal_sessions[session_id] = session
        return session

    # --- Stripe's side of a subscription's life --------------------------------------

    def complete_checkout(self, session_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """The customer pays on the checkout page: subscription, first invoice, session done.

        The subscription starts incomplete and turns active when the first
        invoice is paid, as Stripe does; with ``paid=False`` it stays incomplete.
        Return the events, in the order Stripe usually sends them.
        """
        session = self.checkout_sessions[session_id]
        price = self.prices[self._session_prices[session_id]]
        subscription_id = _new_id("sub_")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": session["customer"],
            "status": "incomplete",
            "metadata": dict(self._subscription_metadata.get(session_id, {})),
            "cancel_at_period_end": False,
            "canceled_at": None,
            "currency": price["currency"],
            "created": self.now,
            "latest_invoice": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": _new_id("si_"),
                        "object": "subscription_item",
                        "price": copy.deepcopy(price),
                        "quantity": 1,
                        "subscription": subscription_id,
                        "current_period_start": self.now,
                        "current_period_end": self.now + PERIOD_SECONDS,
                    }
                ],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={subscription_id}",
            },
            "livemode": False,
        }
        self.subscriptions[subscription_id] = subscription
        events = [self.event("customer.subscription.created", subscription)]

        invoice = self._new_invoice(subscription, "subscription_create")
        events.append(self.event("invoice.created", invoice))
        session.update(subscription=subscription_id, status="complete")
        if paid:
            events += self.pay(invoice["id"])
            session["payment_status"] = "paid"
        events.append(self.event("checkout.session.completed", session))
        return events

    def renew(self, subscription_id: str, *, paid: bool) -> list[dict[str, Any]]:
        """Start the next period and charge its invoice; a failed charge makes it past_due."""
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        item["current_period_start"] = item["current_period_end"]
        item["current_period_end"] += PERIOD_SECONDS
        self.now = max(self.now, item["current_period_start"])

        invoice = self._new_invoice(subscription, "subscription_cycle")
        events = [self.event("invoice.created", invoice)]
        if paid:
            return events + self.pay(invoice["id"])
        invoice["attempt_count"] = 1
        subscription["status"] = "past_due"
        events.append(self.event("invoice.payment_failed", invoice))
        events.append(self.event("customer.subscription.updated", subscription))
        return events

    def pay(self, invoice_id: str) -> list[dict[str, Any]]:
        """The invoice is paid (a card retried, a new card): its subscription becomes active."""
        invoice = self.invoices[invoice_id]
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        subscription = self.subscriptions[invoice["parent"]["subscription_details"]["subscription"]]
        events = [self.event("invoice.paid", invoice)]
        if subscription["status"] != "active" and subscription["status"] != "canceled":
            subscription["status"] = "active"
            events.append(self.event("customer.subscription.updated", subscription))
        return events

    def cancel_at_period_end(self, subscription_id: str) -> list[dict[str, Any]]:
        subscription = self.subscriptions[subscription_id]
        subscription["cancel_at_period_end"] = True
        return [self.event("customer.subscription.updated", subscription)]

    def cancel(self, subscription_id: str) -> list[dict[str, Any]]:
        subscription = self.subscriptions[subscription_id]
        subscription.update(status="canceled", canceled_at=self.now)
        return [self.event("customer.subscription.deleted", subscription)]

    def set_subscription(self, subscription_id: str, **fields: Any) -> None:
        """Change fields of a subscription directly, as a dashboard edit would."""
        self.subscriptions[subscription_id].update(fields)

    def _new_invoice(self, subscription: dict[str, Any], reason: str) -> dict[str, Any]:
        item = subscription["items"]["data"][0]
        price = item["price"]
        invoice_id = _new_id("in_")
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "open",
            "billing_reason": reason,
            "currency": price["currency"],
            "amount_due": price["unit_amount"],
            "amount_paid": 0,
            "amount_remaining": price["unit_amount"],
            "attempt_count": 0,
            "hosted_invoice_url": f"{self.base_url}/i/{invoice_id}",
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": dict(subscription["metadata"]),
                },
            },
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": _new_id("il_"),
                        "object": "line_item",
                        "amount": price["unit_amount"],
                        "currency": price["currency"],
                        "quantity": 1,
                        "period": {
                            "start": item["current_period_start"],
                            "end": item["current_period_end"],
                        },
                        "pricing": {
                            "type": "price_details",
                            "price_details": {"price": price["id"], "product": price["product"]},
                            "unit_amount_decimal": str(price["unit_amount"]),
                        },
                    }
                ],
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "period_start": item["current_period_start"],
            "period_end": item["current_period_start"],
            "created": self.now,
            "livemode": False,
        }
        self.invoices[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    # --- webhooks --------------------------------------------------------------------

    def event(self, event_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A snapshot event: the object as it is at this moment, copied into the payload."""
        return {
            "id": _new_id("evt_"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": self.now,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": copy.deepcopy(dict(obj))},
        }

    def delivery(self, event: dict[str, Any], *, timestamp: int | None = None) -> Delivery:
        """Serialise ``event`` once and sign those exact bytes with the endpoint secret."""
        body = json.dumps(event).encode()
        return Delivery(
            body=body, signature=sign_payload(body, self.webhook_secret, timestamp), event=event
        )


class ThreadedFakeStripe:
    """A FakeStripe served from a thread with its own event loop, for synchronous tests.

    BDD steps block on the API's event loop, and a fake running on that
    loop would never respond to the API's calls, so this one runs beside it. Steps
    change the fake's state only between requests, never during one.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-stripe", daemon=True
        )
        self.fake: FakeStripe | None = None

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        self.fake = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self.fake

    async def _start(self) -> FakeStripe:
        fake = FakeStripe()
        return await fake.__aenter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self.fake is not None:
                stop = self.fake.__aexit__(None, None, None)
                asyncio.run_coroutine_threadsafe(stop, self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()


def _error(
    status: int, message: str, *, code: str | None = None, error_type: str = "invalid_request_error"
) -> web.Response:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["code"] = code
    return web.json_response({"error": error}, status=status)
