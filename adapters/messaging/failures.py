"""How a provider's error code and HTTP status decide whether the qualification flow retries."""

from __future__ import annotations

from collections.abc import Set

from domain.qualification import SendFailure


def classify_provider_error(
    http_status: int | None,
    code: int | None,
    *,
    not_on_channel: Set[int],
    retryable: Set[int],
) -> SendFailure:
    """Return how the flow should treat a provider error.

    The error code decides first: a code in ``not_on_channel`` moves the flow
    to the next channel, and a code in ``retryable`` may pass. Any other code
    falls back to the HTTP status. No status (no response), 429 and 5xx may
    pass, and every other status is final.
    """
    if code in not_on_channel:
        return SendFailure.NOT_ON_CHANNEL
    if code in retryable:
        return SendFailure.RETRYABLE
    if http_status is None or http_status == 429 or http_status >= 500:
        return SendFailure.RETRYABLE
    return SendFailure.PERMANENT
