"""The per-address login throttle's store against the real Redis."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from adapters.redis.login_attempts import RedisLoginAttempts
from application.accounts import LoginAttemptsUnavailable

WINDOW = dt.timedelta(minutes=15)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        await connection.aclose()


@pytest.fixture
def prefix() -> str:
    return f"garimpo-test:{uuid.uuid4().hex}:"


async def test_failures_come_back_oldest_first(client: aioredis.Redis, prefix: str) -> None:
    attempts = RedisLoginAttempts(client, prefix=prefix)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    times = [now - dt.timedelta(seconds=s) for s in (3, 1, 2)]
    for moment in times:
        await attempts.add_failure("127.0.0.7", moment, keep_for=WINDOW)

    recent = await attempts.recent_failures("127.0.0.7", now - WINDOW)

    assert recent == sorted(times)
    assert await attempts.recent_failures("127.0.0.8", now - WINDOW) == []


async def test_failures_in_the_same_millisecond_all_count(
    client: aioredis.Redis, prefix: str
) -> None:
    attempts = RedisLoginAttempts(client, prefix=prefix)
    now = dt.datetime.now(dt.UTC)

    for _ in range(3):
        await attempts.add_failure("::1", now, keep_for=WINDOW)

    assert len(await attempts.recent_failures("::1", now - WINDOW)) == 3


async def test_old_failures_are_trimmed_and_key_expires(
    client: aioredis.Redis, prefix: str
) -> None:
    attempts = RedisLoginAttempts(client, prefix=prefix)
    now = dt.datetime.now(dt.UTC)
    await attempts.add_failure("127.0.0.9", now - dt.timedelta(minutes=20), keep_for=WINDOW)

    await attempts.add_failure("127.0.0.9", now, keep_for=WINDOW)

    key = f"{prefix}127.0.0.9"
    assert await client.zcard(key) == 1
    ttl = await client.pttl(key)
    assert 0 < ttl <= WINDOW.total_seconds() * 1000
    since_window = await attempts.recent_failures("127.0.0.9", now - WINDOW)
    assert len(since_window) == 1


async def test_unreachable_redis_raises_unavailable() -> None:
    # Nothing listens on port 1 of the loopback address.
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    attempts = RedisLoginAttempts(unreachable)
    now = dt.datetime.now(dt.UTC)
    try:
        with pytest.raises(LoginAttemptsUnavailable):
            await attempts.recent_failures("127.0.0.1", now - WINDOW)
        with pytest.raises(LoginAttemptsUnavailable):
            await attempts.add_failure("127.0.0.1", now, keep_for=WINDOW)
    finally:
        await unreachable.aclose()
