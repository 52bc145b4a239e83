"""Which buckets each caller draws from, and how LimitRequests fails open."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from structlog.testing import capture_logs

from application.authentication import TenantState
from application.rate_limiting import (
    Bucket,
    BucketKind,
    LimitRequests,
    RateDecision,
    RateLimiterUnavailable,
    RateLimitPolicy,
)
from domain.identity import Principal, PrincipalKind, Role
from domain.tenancy import TenantStatus

TENANT = "11111111-1111-1111-1111-111111111111"
POLICY = RateLimitPolicy(default_requests_per_minute=600, host_requests_per_minute=1200)


def tenant_state(requests_per_minute: int | None) -> TenantState:
    return TenantState(
        status=TenantStatus.ACTIVE, reason=None, requests_per_minute=requests_per_minute
    )


def tenant_key() -> Principal:
    return Principal(kind=PrincipalKind.API_KEY, id="key-1", tenant_id=TENANT, label="n8n")


def tenant_user() -> Principal:
    return Principal(
        kind=PrincipalKind.ACCOUNT, id="user-1", tenant_id=TENANT, role=Role.SALES, session_id="s"
    )


def host_admin() -> Principal:
    return Principal(
        kind=PrincipalKind.ACCOUNT,
        id="admin-1",
        tenant_id=None,
        role=Role.HOST_ADMIN,
        session_id="s",
    )


class FakeRateLimiter:
    """Records the buckets asked for; refuses when ``failure`` is set."""

    def __init__(self) -> None:
        self.requests: list[tuple[Bucket, ...]] = []
        self.failure: RateLimiterUnavailable | None = None

    async def acquire(self, buckets: Sequence[Bucket]) -> RateDecision:
        self.requests.append(tuple(buckets))
        if self.failure is not None:
            raise self.failure
        return RateDecision(
            allowed=True,
            bucket=buckets[0],
            remaining=buckets[0].limit - 1,
            retry_after=0,
            reset_after=1,
        )


def test_tenant_key_draws_on_plan_limit() -> None:
    buckets = POLICY.buckets(tenant_key(), tenant_state(30))

    assert buckets == (
        Bucket(BucketKind.TENANT, TENANT, 30),
        Bucket(BucketKind.API_KEY, "key-1", 30),
    )


def test_tenant_user_draws_on_account_bucket() -> None:
    buckets = POLICY.buckets(tenant_user(), tenant_state(45))

    assert buckets == (
        Bucket(BucketKind.TENANT, TENANT, 45),
        Bucket(BucketKind.ACCOUNT, "user-1", 45),
    )


@pytest.mark.parametrize("state", [tenant_state(None), None])
def test_tenant_without_plan_gets_default(state: TenantState | None) -> None:
    buckets = POLICY.buckets(tenant_key(), state)

    assert [bucket.limit for bucket in buckets] == [600, 600]


def test_host_caller_has_only_own_bucket() -> None:
    host_key = Principal(kind=PrincipalKind.API_KEY, id="host-key", tenant_id=None)

    assert POLICY.buckets(host_key, None) == (Bucket(BucketKind.API_KEY, "host-key", 1200),)
    assert POLICY.buckets(host_admin(), None) == (Bucket(BucketKind.ACCOUNT, "admin-1", 1200),)


def test_host_admin_inside_tenant_draws_on_both() -> None:
    acting = host_admin().acting_inside(TENANT)

    buckets = POLICY.buckets(acting, tenant_state(20))

    assert buckets == (
        Bucket(BucketKind.TENANT, TENANT, 20),
        Bucket(BucketKind.ACCOUNT, "admin-1", 1200),
    )


def test_bucket_rejects_zero_limit() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Bucket(BucketKind.TENANT, TENANT, 0)


def test_bucket_key_names_kind_and_owner() -> None:
    assert Bucket(BucketKind.API_KEY, "key-1", 5).key == "api_key:key-1"


async def test_limit_requests_returns_decision() -> None:
    limiter = FakeRateLimiter()
    limit = LimitRequests(limiter, POLICY)

    decision = await limit(tenant_key(), tenant_state(30))

    assert decision is not None
    assert decision.allowed
    assert limiter.requests == [POLICY.buckets(tenant_key(), tenant_state(30))]


async def test_limit_requests_fails_open_and_logs() -> None:
    limiter = FakeRateLimiter()
    limiter.failure = RateLimiterUnavailable("Redis did not answer within 200 ms")
    limit = LimitRequests(limiter, POLICY)

    with capture_logs() as logs:
        first = await limit(tenant_key(), tenant_state(30))
        second = await limit(tenant_key(), tenant_state(30))

    assert first is None
    assert second is None
    failures = [entry for entry in logs if entry["event"] == "rate_limit_unavailable"]
    assert len(failures) == 2
    assert all(entry["log_level"] == "error" for entry in failures)
    assert failures[0]["error"] == "Redis did not answer within 200 ms"
    assert failures[0]["tenant_id"] == TENANT
    assert [entry["consecutive_failures"] for entry in failures] == [1, 2]


async def test_failure_count_resets_after_success() -> None:
    limiter = FakeRateLimiter()
    limit = LimitRequests(limiter, POLICY)
    limiter.failure = RateLimiterUnavailable("Redis failed: connection refused")
    await limit(tenant_key(), None)
    limiter.failure = None
    await limit(tenant_key(), None)
    limiter.failure = RateLimiterUnavailable("Redis failed: connection refused")

    with capture_logs() as logs:
        await limit(tenant_key(), None)

    assert [entry["consecutive_failures"] for entry in logs] == [1]
