"""Failed logins per client address, kept in Redis sorted sets for the address throttle.

Each address has one sorted set whose members are failures scored by their
time in milliseconds. Old members are trimmed on every write and the key
expires with its newest member, so an address that stops failing costs
nothing after the window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from application.accounts import LoginAttemptsUnavailable

DEFAULT_PREFIX = "garimpo:login_failures:"
#: Seconds a Redis call may take before the throttle gives up on it; login
#: must not hang because Redis does.
DEFAULT_TIMEOUT = 0.5


def _millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class RedisLoginAttempts:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout

    def _key(self, address: str) -> str:
        return self._prefix + address

    async def recent_failures(self, address: str, since: dt.datetime) -> list[dt.datetime]:
        try:
            async with asyncio.timeout(self._timeout):
                scored = await self._client.zrangebyscore(
                    self._key(address), _millis(since), "+inf", withscores=True
                )
        except (RedisError, OSError, TimeoutError) as error:
            raise LoginAttemptsUnavailable(f"{type(error).__name__}: {error}") from error
        return [dt.datetime.fromtimestamp(score / 1000, dt.UTC) for _member, score in scored]

    async def add_failure(self, address: str, at: dt.datetime, *, keep_for: dt.timedelta) -> None:
        key = self._key(address)
        stamp = _millis(at)
        # The random part keeps two failures of the same millisecond apart.
        member = f"{stamp}:{uuid.uuid4().hex[:8]}"
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.zadd(key, {member: stamp})
                    pipe.zremrangebyscore(key, "-inf", stamp - int(keep_for.total_seconds() * 1000))
                    pipe.pexpire(key, int(keep_for.total_seconds() * 1000))
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as error:
            raise LoginAttemptsUnavailable(f"{type(error).__name__}: {error}") from error
