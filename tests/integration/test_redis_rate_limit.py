"""The Redis token buckets against the real Redis: atomicity, refill, the two-bucket rule, failures.

Every test works under its own key prefix. Most buckets use a window of an
hour, so refill during a test stays far below one token and counts are exact
whatever the speed of the machine.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from adapters.redis.rate_limit import RedisRateLimiter
from application.rate_limiting import Bucket, BucketKind, RateLimiterUnavailable

HOUR = 3600.0


@pytest.fixture
def key_prefix() -> str:
    return f"test:rate:{uuid.uuid4().hex}:"


@pytest.fixture
async def client(redis_url: str, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = aioredis.Redis.from_url(redis_url)
    try:
        yield redis_client
    finally:
        stale = [key async for key in redis_client.scan_iter(match=f"{key_prefix}*")]
        if stale:
            await redis_client.delete(*stale)
        await redis_client.aclose()


@pytest.fixture
def limiter(client: aioredis.Redis, key_prefix: str) -> RedisRateLimiter:
    return RedisRateLimiter(client, key_prefix=key_prefix)


def tenant_bucket(limit: int, window: float = HOUR) -> Bucket:
    return Bucket(BucketKind.TENANT, "tenant-1", limit, window)


def key_bucket(limit: int, owner: str = "key-1", window: float = HOUR) -> Bucket:
    return Bucket(BucketKind.API_KEY, owner, limit, window)


def free_loopback_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, read, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never responds, like a hung Redis."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


# --- atomicity -----------------------------------------------------------------


async def test_concurrent_requests_take_exactly_capacity(
    redis_url: str, key_prefix: str, client: aioredis.Redis
) -> None:
    capacity, attempts, connections = 10, 60, 4
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(connections)]
    limiters = [RedisRateLimiter(each, key_prefix=key_prefix) for each in clients]
    bucket = tenant_bucket(capacity)
    try:
        decisions = await asyncio.gather(
            *(limiters[i % connections].acquire([bucket]) for i in range(attempts))
        )
    finally:
        for each in clients:
            await each.aclose()

    allowed = [decision for decision in decisions if decision.allowed]
    assert len(allowed) == capacity
    # Each accepted request saw its own level: no two read the same one.
    assert sorted(decision.remaining for decision in allowed) == list(range(capacity))
    assert all(decision.retry_after > 0 for decision in decisions if not decision.allowed)


async def test_concurrent_requests_over_two_buckets(
    redis_url: str, key_prefix: str, client: aioredis.Redis
) -> None:
    # The key allows 8, its tenant 5; a second key of the tenant takes the rest.
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
    limiters = [RedisRateLimiter(each, key_prefix=key_prefix) for each in clients]
    tenant = tenant_bucket(5)
    first_key, second_key = key_bucket(8, "key-1"), key_bucket(8, "key-2")
    try:
        decisions = await asyncio.gather(
            *(
                limiters[i % 3].acquire([tenant, first_key if i % 2 else second_key])
                for i in range(40)
            )
        )
    finally:
        for each in clients:
            await each.aclose()

    assert sum(decision.allowed for decision in decisions) == 5
    first_alone = await RedisRateLimiter(client, key_prefix=key_prefix).acquire([first_key])
    second_alone = await RedisRateLimiter(client, key_prefix=key_prefix).acquire([second_key])
    # Together the keys were debited exactly the 5 tokens the tenant let through.
    assert (8 - 1 - first_alone.remaining) + (8 - 1 - second_alone.remaining) == 5


# --- the two-bucket rule --------------------------------------------------------


async def test_exhausted_key_debits_tenant_nothing(limiter: RedisRateLimiter) -> None:
    tenant, key = tenant_bucket(10), key_bucket(2)

    assert (await limiter.acquire([tenant, key])).allowed
    assert (await limiter.acquire([tenant, key])).allowed
    refused = await limiter.acquire([tenant, key])

    assert not refused.allowed
    assert refused.bucket == key
    assert refused.remaining == 0
    assert refused.retry_after > 0
    # 10 - 2 accepted requests, and now one more taken from the tenant alone.
    assert (await limiter.acquire([tenant])).remaining == 7


async def test_exhausted_tenant_debits_key_nothing(limiter: RedisRateLimiter) -> None:
    tenant = tenant_bucket(2)
    busy_key, idle_key = key_bucket(10, "key-busy"), key_bucket(10, "key-idle")

    assert (await limiter.acquire([tenant, busy_key])).allowed
    assert (await limiter.acquire([tenant, busy_key])).allowed
    refused = await limiter.acquire([tenant, idle_key])

    assert not refused.allowed
    assert refused.bucket == tenant
    assert refused.limit == 2
    # The refusal took nothing from the idle key: this is its first token.
    assert (await limiter.acquire([idle_key])).remaining == 9


async def test_decision_names_tighter_bucket(limiter: RedisRateLimiter) -> None:
    tenant, key = tenant_bucket(10, window=60), key_bucket(3, window=60)

    decision = await limiter.acquire([tenant, key])

    assert decision.allowed
    assert decision.bucket == key
    assert decision.limit == 3
    assert decision.remaining == 2
    assert decision.retry_after == 0
    # One token back in 60 s / 3 = 20 s fills the key bucket again.
    assert 19 < decision.reset_after <= 20


async def test_first_request_sees_full_bucket(limiter: RedisRateLimiter) -> None:
    decision = await limiter.acquire([tenant_bucket(600, window=60)])

    assert decision.allowed
    assert decision.remaining == 599
    assert 0 < decision.reset_after <= 0.1


async def test_acquire_needs_a_bucket(limiter: RedisRateLimiter) -> None:
    with pytest.raises(ValueError, match="at least one bucket"):
        await limiter.acquire([])


# --- refill, expiry and resizing -------------------------------------------------


async def test_refill_after_waiting(limiter: RedisRateLimiter) -> None:
    # 120 per minute is 2 tokens a second, so the wait for one is at most 0.5 s.
    bucket = tenant_bucket(120, window=60)
    for _ in range(120):
        assert (await limiter.acquire([bucket])).allowed

    refused = None
    for _ in range(100):
        decision = await limiter.acquire([bucket])
        if not decision.allowed:
            refused = decision
            break
    assert refused is not None, "the bucket never ran dry"
    assert 0 < refused.retry_after <= 0.5
    assert refused.reset_after > refused.retry_after

    # A few milliseconds more than asked cover the rounding of the two clocks.
    await asyncio.sleep(refused.retry_after + 0.01)
    assert (await limiter.acquire([bucket])).allowed


async def test_key_expires_once_bucket_is_full(
    limiter: RedisRateLimiter, client: aioredis.Redis, key_prefix: str
) -> None:
    # 600 per minute refills one token in 100 ms.
    bucket = tenant_bucket(600, window=60)
    redis_key = key_prefix + bucket.key

    await limiter.acquire([bucket])

    ttl = await client.pttl(redis_key)
    assert 0 < ttl <= 100
    await asyncio.sleep(0.2)
    assert await client.exists(redis_key) == 0
    assert (await limiter.acquire([bucket])).remaining == 599


async def test_refusal_writes_nothing(
    limiter: RedisRateLimiter, client: aioredis.Redis, key_prefix: str
) -> None:
    bucket = tenant_bucket(1)
    redis_key = key_prefix + bucket.key
    await limiter.acquire([bucket])
    stored = await client.hgetall(redis_key)

    assert not (await limiter.acquire([bucket])).allowed
    assert await client.hgetall(redis_key) == stored


async def test_larger_capacity_applies_at_once(limiter: RedisRateLimiter) -> None:
    await limiter.acquire([tenant_bucket(2)])
    await limiter.acquire([tenant_bucket(2)])
    assert not (await limiter.acquire([tenant_bucket(2)])).allowed

    upgraded = await limiter.acquire([tenant_bucket(5)])

    assert upgraded.allowed
    assert upgraded.limit == 5
    # Empty, plus the 3 tokens of the upgrade, minus this request.
    assert upgraded.remaining == 2


async def test_smaller_capacity_caps_level(limiter: RedisRateLimiter) -> None:
    await limiter.acquire([tenant_bucket(10)])

    downgraded = await limiter.acquire([tenant_bucket(2)])
    assert downgraded.allowed
    assert downgraded.remaining == 1
    assert (await limiter.acquire([tenant_bucket(2)])).allowed
    assert not (await limiter.acquire([tenant_bucket(2)])).allowed


# --- Redis failures ---------------------------------------------------------------


async def test_unreachable_redis_raises_unavailable(key_prefix: str) -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_loopback_port()}/15")
    try:
        limiter = RedisRateLimiter(dead, key_prefix=key_prefix)
        with pytest.raises(RateLimiterUnavailable, match="Redis"):
            await limiter.acquire([tenant_bucket(5)])
    finally:
        await dead.aclose()


async def test_silent_redis_times_out(silent_server: int, key_prefix: str) -> None:
    hung = aioredis.Redis.from_url(f"redis://127.0.0.1:{silent_server}/15")
    try:
        limiter = RedisRateLimiter(hung, key_prefix=key_prefix, timeout=0.2)
        with pytest.raises(RateLimiterUnavailable, match="did not respond within 200 ms"):
            await limiter.acquire([tenant_bucket(5)])
    finally:
        await hung.aclose()


async def test_limiter_recovers_after_timeout(
    limiter: RedisRateLimiter, client: aioredis.Redis, key_prefix: str
) -> None:
    # A timeout cancels a command mid-flight; the pool must not hand out that
    # connection with the late reply still unread.
    impatient = RedisRateLimiter(client, key_prefix=key_prefix, timeout=0.000001)
    with pytest.raises(RateLimiterUnavailable):
        await impatient.acquire([key_bucket(5)])

    assert await client.ping()
    assert (await limiter.acquire([tenant_bucket(5)])).remaining == 4
