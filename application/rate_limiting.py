"""Request rate limits per tenant and per caller, kept as token buckets.

Every authenticated request takes one token from two buckets at once: its
tenant's, shared by every user and key of the tenant, and the caller's own
(the API key or the user account). It passes only when both hold a token, and
a refusal takes a token from neither. A bucket holds one minute's worth of
requests (the plan's ``requests_per_minute``) and refills continuously at a
sixtieth of that per second, so a client that was quiet for a minute may
spend its whole minute in one burst.

Host callers working outside any tenant have only their own bucket, sized by
the host setting. The limiter fails open: when its store cannot answer in
time, the request passes and the failure is logged.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

import attrs
import structlog

from application.authentication import TenantState
from domain.identity import Principal, PrincipalKind

log = structlog.get_logger(__name__)

#: Seconds a bucket's capacity stands for: the plans count requests per minute.
WINDOW_SECONDS = 60


class BucketKind(enum.StrEnum):
    TENANT = "tenant"
    API_KEY = "api_key"
    ACCOUNT = "account"


@attrs.frozen
class Bucket:
    """One token bucket: whose it is and how large."""

    kind: BucketKind
    owner_id: str
    #: Capacity, which is also the number of tokens refilled per window.
    limit: int = attrs.field()
    window_seconds: float = WINDOW_SECONDS

    @limit.validator
    def _check_limit(self, _attribute: object, value: int) -> None:
        if value < 1:
            raise ValueError(f"a bucket needs a limit of at least 1, got {value}")

    @property
    def key(self) -> str:
        """Identity of the bucket in the store, without the store's own prefix."""
        return f"{self.kind}:{self.owner_id}"


@attrs.frozen(kw_only=True)
class RateDecision:
    """The outcome of taking a token, described by the tighter of the buckets.

    The tighter bucket is the one that makes the caller wait longest for the
    next token. When no bucket makes it wait, it is the one with the fewest
    tokens left.
    """

    allowed: bool
    bucket: Bucket
    #: Whole tokens left in the tighter bucket after this request.
    remaining: int
    #: Seconds until every bucket has a token again, or 0 when each has one now.
    retry_after: float
    #: Seconds until the tighter bucket is full again.
    reset_after: float

    @property
    def limit(self) -> int:
        return self.bucket.limit


class RateLimiterUnavailable(Exception):
    """Raised by a RateLimiter when its store fails or does not respond in time."""


class RateLimiter(Protocol):
    async def acquire(self, buckets: Sequence[Bucket]) -> RateDecision:
        """Take one token from every bucket atomically, or from none when any is empty.

        Raises RateLimiterUnavailable when the store is down or too slow.
        """
        ...


@attrs.frozen(kw_only=True)
class RateLimitPolicy:
    """Sizes of the buckets each caller draws on."""

    #: Limit of a tenant without a plan.
    default_requests_per_minute: int
    #: Limit of a host admin or host API key on its own bucket.
    host_requests_per_minute: int

    def buckets(self, principal: Principal, tenant: TenantState | None) -> tuple[Bucket, ...]:
        """Return the tenant's bucket (when the request works inside one), then the caller's."""
        caller_kind = (
            BucketKind.API_KEY if principal.kind is PrincipalKind.API_KEY else BucketKind.ACCOUNT
        )
        tenant_id = principal.effective_tenant
        if tenant_id is None:
            return (Bucket(caller_kind, principal.id, self.host_requests_per_minute),)

        tenant_limit = self.default_requests_per_minute
        if tenant is not None and tenant.requests_per_minute is not None:
            tenant_limit = tenant.requests_per_minute
        # A host admin acting inside a tenant keeps the host-sized bucket of
        # its account, so that bucket has one size whichever tenant it enters.
        caller_limit = self.host_requests_per_minute if principal.is_host else tenant_limit
        return (
            Bucket(BucketKind.TENANT, tenant_id, tenant_limit),
            Bucket(caller_kind, principal.id, caller_limit),
        )


class LimitRequests:
    """Take a token for one authenticated request; None means the limiter could not decide."""

    def __init__(self, limiter: RateLimiter, policy: RateLimitPolicy) -> None:
        self._limiter = limiter
        self._policy = policy
        self._consecutive_failures = 0

    async def __call__(
        self, principal: Principal, tenant: TenantState | None
    ) -> RateDecision | None:
        buckets = self._policy.buckets(principal, tenant)
        try:
            decision = await self._limiter.acquire(buckets)
        except RateLimiterUnavailable as error:
            # Fail open: the API stays available while the limiter's store is
            # down, at the cost of not enforcing the limits meanwhile.
            self._consecutive_failures += 1
            log.error(
                "rate_limit_unavailable",
                error=str(error),
                consecutive_failures=self._consecutive_failures,
                tenant_id=principal.effective_tenant,
                principal_id=principal.id,
            )
            return None

        self._consecutive_failures = 0
        return decision
