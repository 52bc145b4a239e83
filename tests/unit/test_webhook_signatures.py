"""Webhook signatures, retry times and the alert e-mail: pure functions, no network."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from application.notifications import low_balance_email
from domain.webhooks import (
    FIRST_RETRY_DELAY,
    MAX_RETRY_DELAY,
    RETRY_WINDOW,
    delivery_body,
    retry_at,
    sign,
    signature_header,
    verify_signature,
)

SECRET = "whsec_teste-do-segredo"
BODY = b'{"data":{"available":3,"threshold":10},"id":"e1","type":"credits.low"}'
NOW = 1_800_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert sign(SECRET, NOW, BODY) == expected
    assert signature_header(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"


def test_signature_verifies_on_the_raw_body() -> None:
    header = signature_header(SECRET, NOW, BODY)

    assert verify_signature(SECRET, header, BODY, now=NOW + 10)


def test_changed_body_fails_verification() -> None:
    header = signature_header(SECRET, NOW, BODY)

    assert not verify_signature(SECRET, header, BODY.replace(b"3", b"4"), now=NOW)


def test_other_secret_fails_verification() -> None:
    header = signature_header(SECRET, NOW, BODY)

    assert not verify_signature("whsec_outro", header, BODY, now=NOW)


def test_old_timestamp_fails_verification() -> None:
    header = signature_header(SECRET, NOW, BODY)

    assert not verify_signature(SECRET, header, BODY, now=NOW + 301)
    assert verify_signature(SECRET, header, BODY, now=NOW + 300)


def test_any_of_several_signatures_may_match() -> None:
    good = sign(SECRET, NOW, BODY)
    header = f"t={NOW},v1={'0' * 64},v1={good}"

    assert verify_signature(SECRET, header, BODY, now=NOW)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", f"v1={'0' * 64}", f"t={NOW}"])
def test_malformed_header_fails_verification(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_delivery_body_is_stable() -> None:
    envelope = {"type": "credits.low", "id": "e1", "data": {"threshold": 10, "available": 3}}

    assert delivery_body(envelope) == BODY
    assert delivery_body(dict(reversed(list(envelope.items())))) == BODY


def test_retry_delays_grow_and_stay_in_window() -> None:
    created = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

    first = retry_at(created, created, 1, jitter=0.999)
    second = retry_at(created, created, 2, jitter=0.999)
    late = retry_at(created, created, 30, jitter=0.999)

    assert first is not None
    assert second is not None
    assert late is not None
    assert first - created <= FIRST_RETRY_DELAY
    assert second - created > first - created
    assert late - created <= MAX_RETRY_DELAY


def test_retry_jitter_keeps_at_least_half_the_step() -> None:
    created = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

    low = retry_at(created, created, 3, jitter=0.0)
    high = retry_at(created, created, 3, jitter=0.999)

    assert low is not None
    assert high is not None
    assert low - created == FIRST_RETRY_DELAY * 4 / 2
    assert low < high


def test_retry_stops_after_the_window() -> None:
    created = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    near_end = created + RETRY_WINDOW - dt.timedelta(minutes=1)

    assert retry_at(created, created + RETRY_WINDOW, 40, jitter=0.5) is None
    assert retry_at(created, near_end, 40, jitter=0.5) == created + RETRY_WINDOW


def test_low_balance_email_is_portuguese() -> None:
    subject, text = low_balance_email("Distribuidora Horizonte", 3, 10)

    assert subject == "Saldo de créditos baixo: 3 créditos disponíveis"
    assert "Distribuidora Horizonte" in text
    assert "cai a 10 crédito(s) ou menos" in text


def test_low_balance_email_singular_and_zero() -> None:
    singular, _ = low_balance_email("X", 1, 5)
    empty, text = low_balance_email("X", 0, 0)

    assert singular.endswith("1 crédito disponível")
    assert empty.endswith("nenhum crédito disponível")
    assert "chega a zero" in text
