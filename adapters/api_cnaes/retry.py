"""Backoff delays and ``Retry-After`` parsing for calls to api-cnaes."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff_delay(
    attempt: int,
    *,
    base_seconds: float,
    max_seconds: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Return the delay before retry number ``attempt`` (0 for the first retry).

    Full jitter: a uniform draw between 0 and ``base * 2**attempt``, capped at
    ``max_seconds``, so clients that failed together do not retry together.
    """
    ceiling = min(max_seconds, base_seconds * (2**attempt))
    return uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header into seconds to wait, or None when absent or invalid.

    RFC 9110 allows a count of seconds or an HTTP date. A date in the past
    returns 0. ``now`` defaults to the current UTC time.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None

    # ASCII digits only: str.isdigit() also accepts characters such as "²".
    if re.fullmatch(r"[0-9]+", text):
        return float(text)

    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are always GMT; the "-0000" form parses as naive.
        moment = moment.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (moment - current).total_seconds())
