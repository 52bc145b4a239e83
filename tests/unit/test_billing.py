"""Billing rules without I/O: following Stripe's state, overdue periods, Stripe payload mapping."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import stripe

from adapters.stripe.gateway import (
    checkout_from_stripe,
    event_from_stripe,
    invoice_from_stripe,
    subscription_from_stripe,
)
from application.billing import Billing
from application.billing_sync import BillingSync, overdue_warning_text
from domain.audit import SYSTEM_ACTOR
from domain.billing import (
    BillingDisabled,
    BillingEvent,
    InvalidSignature,
    RemoteInvoice,
    RemoteSubscription,
    Subscription,
    credit_expiry,
    current_subscription,
    follow,
    settle,
)
from entrypoints.settings import SettingsError, load_settings
from tests.support.fake_stripe import decode_form, sign_payload

T0 = dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(days=7)
TENANT = "7d3f1c2e-0000-4000-8000-000000000001"
PLAN = "7d3f1c2e-0000-4000-8000-0000000000aa"


def remote(status: str, **fields: object) -> RemoteSubscription:
    values: dict[str, object] = {
        "id": "sub_1",
        "customer_id": "cus_1",
        "status": status,
        "price_id": "price_1",
        **fields,
    }
    return RemoteSubscription(**values)  # type: ignore[arg-type]


def followed(existing: Subscription | None, status: str, at: dt.datetime) -> Subscription:
    return follow(
        existing, remote(status), tenant_id=TENANT, plan_id=PLAN, now=at, grace=GRACE
    ).subscription


# --- follow and settle -------------------------------------------------------------


def test_follow_opens_overdue_period_with_grace() -> None:
    active = followed(None, "active", T0)

    result = follow(active, remote("past_due"), tenant_id=TENANT, plan_id=PLAN, now=T0, grace=GRACE)

    assert result.became_overdue is True
    assert result.subscription.past_due_since == T0
    assert result.subscription.grace_until == T0 + GRACE


def test_follow_keeps_the_first_overdue_moment() -> None:
    overdue = followed(followed(None, "active", T0), "past_due", T0)
    later = T0 + dt.timedelta(days=2)

    result = follow(
        overdue, remote("unpaid"), tenant_id=TENANT, plan_id=PLAN, now=later, grace=GRACE
    )

    assert result.became_overdue is False
    assert result.subscription.past_due_since == T0
    assert result.subscription.grace_until == T0 + GRACE
    assert result.subscription.updated_at == later


def test_follow_closes_overdue_period_when_active_again() -> None:
    overdue = followed(followed(None, "active", T0), "past_due", T0)

    active = followed(overdue, "active", T0 + dt.timedelta(days=1))

    assert active.past_due_since is None
    assert active.grace_until is None


def test_follow_keeps_overdue_period_of_a_cancelled_debt() -> None:
    overdue = followed(followed(None, "active", T0), "past_due", T0)

    cancelled = followed(overdue, "canceled", T0 + dt.timedelta(days=1))

    assert cancelled.status == "canceled"
    assert cancelled.grace_until == T0 + GRACE
    assert cancelled.grace_expired(T0 + GRACE)
    assert not cancelled.grace_expired(T0 + GRACE - dt.timedelta(seconds=1))


def test_follow_keeps_unknown_plan() -> None:
    first = followed(None, "incomplete", T0)

    later = follow(
        first,
        remote("active", price_id="price_unknown"),
        tenant_id=TENANT,
        plan_id=None,
        now=T0 + dt.timedelta(hours=1),
        grace=GRACE,
    ).subscription

    assert later.plan_id == PLAN
    assert later.price_id == "price_unknown"
    assert later.created_at == T0


def test_settle_closes_period_unless_still_overdue() -> None:
    overdue = followed(followed(None, "active", T0), "past_due", T0)
    cancelled = followed(overdue, "canceled", T0)

    assert settle(overdue, T0).past_due_since == T0
    assert settle(cancelled, T0).past_due_since is None
    assert settle(cancelled, T0).grace_until is None


def test_current_subscription_prefers_newest_live_one() -> None:
    old_live = followed(None, "active", T0)
    new_cancelled = followed(None, "canceled", T0 + dt.timedelta(days=1))
    new_cancelled = attrs.evolve(new_cancelled, id="sub_2")

    assert current_subscription([]) is None
    assert current_subscription([new_cancelled, old_live]) == old_live
    assert current_subscription([new_cancelled]) == new_cancelled


def test_credit_expiry() -> None:
    assert credit_expiry(T0, None) is None
    assert credit_expiry(T0, 30) == T0 + dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("reason", "grants"),
    [
        ("subscription_create", True),
        ("subscription_cycle", True),
        ("subscription_update", False),
        ("manual", False),
        (None, False),
    ],
)
def test_only_period_invoices_grant_credits(reason: str | None, grants: bool) -> None:
    invoice = RemoteInvoice(
        id="in_1",
        customer_id="cus_1",
        subscription_id="sub_1",
        status="paid",
        billing_reason=reason,
    )

    assert invoice.opens_period is grants


# --- Stripe payloads to domain values ----------------------------------------------


def test_subscription_mapping_reads_items_and_metadata() -> None:
    mapped = subscription_from_stripe(
        {
            "id": "sub_1",
            "object": "subscription",
            "customer": {"id": "cus_1", "object": "customer"},
            "status": "past_due",
            "metadata": {"tenant_id": TENANT},
            "cancel_at_period_end": True,
            "canceled_at": None,
            "latest_invoice": "in_9",
            "items": {
                "data": [
                    {
                        "price": {"id": "price_1", "metadata": {"plan_id": PLAN}},
                        "current_period_start": 1_800_000_000,
                        "current_period_end": 1_802_592_000,
                    }
                ]
            },
        }
    )

    assert mapped.customer_id == "cus_1"
    assert mapped.tenant_id == TENANT
    assert mapped.plan_id == PLAN
    assert mapped.price_id == "price_1"
    assert mapped.current_period_start == dt.datetime.fromtimestamp(1_800_000_000, dt.UTC)
    assert mapped.cancel_at_period_end is True
    assert mapped.latest_invoice_id == "in_9"


def test_subscription_mapping_reads_older_api_versions() -> None:
    mapped = subscription_from_stripe(
        {
            "id": "sub_1",
            "customer": "cus_1",
            "status": "active",
            "current_period_start": 1_800_000_000,
            "current_period_end": 1_802_592_000,
            "plan": {"id": "price_old"},
            "items": {"data": []},
        }
    )

    assert mapped.price_id == "price_old"
    assert mapped.current_period_end == dt.datetime.fromtimestamp(1_802_592_000, dt.UTC)
    assert mapped.tenant_id is None


def test_invoice_mapping_reads_parent_and_line_prices() -> None:
    mapped = invoice_from_stripe(
        {
            "id": "in_1",
            "customer": "cus_1",
            "status": "paid",
            "billing_reason": "subscription_cycle",
            "hosted_invoice_url": "http://127.0.0.1:9/i/in_1",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": "sub_1",
                    "metadata": {"tenant_id": TENANT},
                },
            },
            "lines": {
                "data": [
                    {"pricing": {"price_details": {"price": "price_1", "product": "prod_1"}}},
                    {"pricing": {"price_details": {"price": "price_1", "product": "prod_1"}}},
                    {"price": {"id": "price_2"}},
                ]
            },
        }
    )

    assert mapped.subscription_id == "sub_1"
    assert mapped.tenant_id == TENANT
    assert mapped.price_ids == ("price_1", "price_2")
    assert mapped.paid is True


def test_invoice_mapping_of_an_invoice_without_subscription() -> None:
    mapped = invoice_from_stripe({"id": "in_1", "customer": None, "status": "open"})

    assert (mapped.subscription_id, mapped.customer_id, mapped.price_ids) == (None, None, ())


def test_checkout_mapping_prefers_client_reference_id() -> None:
    mapped = checkout_from_stripe(
        {
            "id": "cs_test_1",
            "status": "complete",
            "customer": "cus_1",
            "subscription": "sub_1",
            "client_reference_id": TENANT,
            "metadata": {"tenant_id": "another", "plan_id": PLAN},
        }
    )

    assert (mapped.tenant_id, mapped.plan_id, mapped.subscription_id) == (TENANT, PLAN, "sub_1")


def test_event_mapping_takes_the_object_id() -> None:
    event = event_from_stripe(
        {
            "id": "evt_1",
            "type": "invoice.paid",
            "created": 1_800_000_000,
            "data": {"object": {"id": "in_1", "status": "open"}},
        }
    )

    assert (event.id, event.type, event.object_id) == ("evt_1", "invoice.paid", "in_1")
    assert event.created == dt.datetime.fromtimestamp(1_800_000_000, dt.UTC)


# --- the warning e-mail --------------------------------------------------------------


def test_overdue_warning_names_deadline_and_payment_page() -> None:
    deadline = dt.datetime(2027, 1, 12, 9, 30)

    with_link = overdue_warning_text("Distribuidora Horizonte", "Pro", deadline, "http://x/i/in_1")
    without_link = overdue_warning_text("Distribuidora Horizonte", None, deadline, None)

    assert "12/01/2027 às 09:30" in with_link
    assert "(plano Pro)" in with_link
    assert "http://x/i/in_1" in with_link
    assert "área de assinatura do Garimpo" in without_link
    assert "plano" not in without_link.split("\n")[2]


# --- settings ----------------------------------------------------------------------


def test_settings_read_stripe_variables(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "STRIPE_API_KEY": "sk_test_123",
            "STRIPE_WEBHOOK_SECRET": "whsec_123",
            "STRIPE_API_BASE": "http://127.0.0.1:12111/",
            "STRIPE_WEBHOOK_TOLERANCE_SECONDS": "120",
            "BILLING_GRACE_DAYS": "3",
            "PUBLIC_BASE_URL": "http://127.0.0.1:9000/",
            "BILLING_CANCEL_URL": "http://127.0.0.1:9000/planos",
        },
        env_file=tmp_path / "missing.env",
    )

    assert settings.stripe_api_key == "sk_test_123"
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_webhook_tolerance_seconds == 120
    assert settings.billing_grace_days == 3
    assert settings.billing_return_urls() == (
        "http://127.0.0.1:9000/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "http://127.0.0.1:9000/planos",
        "http://127.0.0.1:9000/billing",
    )
    assert "sk_test_123" not in repr(settings)
    assert "whsec_123" not in repr(settings)


def test_settings_without_stripe_key_leave_billing_off(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=tmp_path / "missing.env")

    assert settings.stripe_api_key is None
    assert settings.stripe_api_base is None
    assert settings.billing_grace_days == 7
    assert settings.billing_return_urls()[2] == "http://127.0.0.1:8080/billing"


@pytest.mark.parametrize("name", ["STRIPE_API_BASE", "PUBLIC_BASE_URL", "BILLING_SUCCESS_URL"])
def test_settings_refuse_a_url_without_scheme(tmp_path: Path, name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: "127.0.0.1:8080"}, env_file=tmp_path / "missing.env")


# --- the fake's wire format ----------------------------------------------------------


def test_fake_decodes_stripe_bracket_syntax() -> None:
    form = decode_form(
        [
            ("metadata[tenant_id]", "t1"),
            ("line_items[0][price]", "price_1"),
            ("line_items[0][quantity]", "1"),
            ("line_items[1][price]", "price_2"),
            ("subscription_data[metadata][plan_id]", "p1"),
            ("mode", "subscription"),
        ]
    )

    assert form == {
        "metadata": {"tenant_id": "t1"},
        "line_items": [{"price": "price_1", "quantity": "1"}, {"price": "price_2"}],
        "subscription_data": {"metadata": {"plan_id": "p1"}},
        "mode": "subscription",
    }


def test_fake_signature_is_accepted_by_the_stripe_package() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event"}).encode()
    header = sign_payload(payload, "whsec_test")

    assert stripe.WebhookSignature.verify_header(payload, header, "whsec_test", 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload + b" ", header, "whsec_test", 300)


# --- use cases with fakes ------------------------------------------------------------


class UntouchedStore:
    """A unit of work that fails the test when a use case opens any scope."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def _refuse(self, kind: str) -> Any:
        self.opened.append(kind)
        raise AssertionError(f"a {kind} scope was opened")

    def tenant(self, tenant_id: str) -> Any:
        return self._refuse("tenant")

    def host(self) -> Any:
        return self._refuse("host")

    def statements(self, tenant_id: str) -> Any:
        return self._refuse("statements")

    def unscoped(self) -> Any:
        return self._refuse("unscoped")


class RefusingGateway:
    """A gateway whose every webhook fails the signature check."""

    def verify_event(self, payload: bytes, signature: str | None) -> BillingEvent:
        raise InvalidSignature()


async def test_invalid_signature_stores_nothing() -> None:
    store = UntouchedStore()
    sync = BillingSync(
        store,  # type: ignore[arg-type]
        RefusingGateway(),  # type: ignore[arg-type]
        tenants=None,  # type: ignore[arg-type]
        credits=None,  # type: ignore[arg-type]
        email=None,  # type: ignore[arg-type]
        grace=GRACE,
    )

    with pytest.raises(InvalidSignature):
        await sync.handle_webhook(b'{"id": "evt_1"}', "t=1,v1=00")

    assert store.opened == []


async def test_without_gateway_billing_is_disabled() -> None:
    store = UntouchedStore()
    billing = Billing(store, None)  # type: ignore[arg-type]
    sync = BillingSync(
        store,  # type: ignore[arg-type]
        None,
        tenants=None,  # type: ignore[arg-type]
        credits=None,  # type: ignore[arg-type]
        email=None,  # type: ignore[arg-type]
        grace=GRACE,
    )

    for call in (
        billing.checkout(SYSTEM_ACTOR, TENANT, PLAN),
        billing.portal(SYSTEM_ACTOR, TENANT),
        billing.sync_plan(SYSTEM_ACTOR, PLAN),
        sync.handle_webhook(b"{}", None),
    ):
        with pytest.raises(BillingDisabled):
            await call
    assert await sync.suspend_overdue(SYSTEM_ACTOR) == 0
    assert billing.enabled is False
    assert store.opened == []
