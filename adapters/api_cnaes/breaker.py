"""A circuit breaker that stops calling api-cnaes while it keeps failing."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failed calls, for ``cooldown_seconds``.

    After the cool-down one trial call goes through (half-open): its success
    closes the breaker and its failure opens it again for another cool-down.
    Other calls made while the trial is in flight are rejected. The state
    lives in this object, so each process keeps its own breaker.
    """

    def __init__(
        self,
        *,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        name: str = "api_cnaes",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._name = name
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """Tell whether a call may go out now. In the half-open state this reserves the one trial call."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("circuit_breaker_closed", breaker=self._name)
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        self._failures += 1
        if was_trial or self._failures >= self._threshold:
            self._opened_at = self._clock()
            log.warning(
                "circuit_breaker_opened",
                breaker=self._name,
                consecutive_failures=self._failures,
                cooldown_seconds=self._cooldown,
            )

    def release(self) -> None:
        """Free the half-open trial slot when the trial call ended without an outcome (cancelled)."""
        self._trial_in_flight = False

    def seconds_until_retry(self) -> float:
        """Return the seconds left in the cool-down (0 when the breaker is not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._cooldown - (self._clock() - self._opened_at))
