"""Backoff, Retry-After parsing, the circuit breaker and the api-cnaes settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from adapters.api_cnaes.breaker import BreakerState, CircuitBreaker
from adapters.api_cnaes.retry import backoff_delay, parse_retry_after
from entrypoints.settings import SettingsError, load_settings

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


# Retry-After --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
        ("²", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_retry_after_future_date() -> None:
    header = format_datetime(NOW + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after(header, NOW) == pytest.approx(30.0)


def test_retry_after_past_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0


def test_retry_after_date_without_zone() -> None:
    # The obsolete "-0000" zone parses to a naive datetime; it still means UTC.
    header = "Mon, 02 Mar 2026 12:00:45 -0000"

    assert parse_retry_after(header, NOW) == pytest.approx(45.0)


# Backoff ------------------------------------------------------------------


def _upper_bound(low: float, high: float) -> float:
    return high


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (20, 30.0)],
)
def test_backoff_ceiling_doubles_then_caps(attempt: int, ceiling: float) -> None:
    delay = backoff_delay(attempt, base_seconds=0.5, max_seconds=30.0, uniform=_upper_bound)

    assert delay == ceiling


def test_backoff_full_jitter_within_bounds() -> None:
    generator = random.Random(7)
    delays = [
        backoff_delay(3, base_seconds=0.5, max_seconds=30.0, uniform=generator.uniform)
        for _ in range(500)
    ]

    assert min(delays) >= 0.0
    assert max(delays) <= 4.0
    # Full jitter spreads delays over the whole range, not near the ceiling only.
    assert min(delays) < 0.5
    assert max(delays) > 3.5


# Circuit breaker ----------------------------------------------------------


class ManualClock:
    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


def test_breaker_opens_at_threshold() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=10, clock=clock)

    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED

    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.seconds_until_retry() == 10


def test_breaker_success_resets_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=ManualClock())

    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()

    assert breaker.state is BreakerState.CLOSED


def test_breaker_half_open_allows_one_trial() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=clock)
    breaker.record_failure()

    clock.value = 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()

    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_breaker_released_trial_allows_another() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=clock)
    breaker.record_failure()
    clock.value = 10

    assert breaker.allow()
    breaker.release()

    assert breaker.allow()


def test_breaker_rejects_zero_threshold() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0, cooldown_seconds=10)


# Settings -----------------------------------------------------------------


def test_settings_api_cnaes_off_by_default(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=tmp_path / "missing.env")

    assert settings.api_cnaes_url is None
    assert settings.api_cnaes_key is None
    assert settings.api_cnaes_connect_timeout_seconds == 3
    assert settings.api_cnaes_read_timeout_seconds == 10
    assert settings.api_cnaes_max_retries == 3
    assert settings.api_cnaes_cache_ttl_seconds == 43200
    assert settings.api_cnaes_miss_ttl_seconds == 900
    assert settings.api_cnaes_breaker_failures == 5
    assert settings.api_cnaes_breaker_cooldown_seconds == 30


def test_settings_api_cnaes_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "API_CNAES_URL": "http://127.0.0.1:9100/",
            "API_CNAES_KEY": "local-key",
            "API_CNAES_MAX_RETRIES": "0",
            "API_CNAES_CACHE_TTL_SECONDS": "86400",
        },
        env_file=tmp_path / "missing.env",
    )

    assert settings.api_cnaes_url == "http://127.0.0.1:9100"
    assert settings.api_cnaes_key == "local-key"
    assert "local-key" not in repr(settings)
    assert settings.api_cnaes_max_retries == 0
    assert settings.api_cnaes_cache_ttl_seconds == 86400


@pytest.mark.parametrize("ttl", ["43199", "86401", "soon"])
def test_settings_cache_ttl_out_of_range(tmp_path: Path, ttl: str) -> None:
    with pytest.raises(SettingsError, match="API_CNAES_CACHE_TTL_SECONDS"):
        load_settings({"API_CNAES_CACHE_TTL_SECONDS": ttl}, env_file=tmp_path / "missing.env")


def test_settings_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="API_CNAES_URL"):
        load_settings({"API_CNAES_URL": "ftp://127.0.0.1/"}, env_file=tmp_path / "missing.env")
