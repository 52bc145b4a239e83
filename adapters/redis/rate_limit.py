"""Token buckets in Redis: one Lua script refills and debits every bucket of a request at once.

Each bucket is a hash with its token level (``tokens``, fractional), the time
of its last debit (``at``, microseconds of the Redis clock) and its capacity
(``capacity``). The script reads the time with Redis ``TIME``, so every API
process refills against the same clock. A missing key is a full bucket, and
each write sets the key to expire when the bucket would be full again, so
idle callers leave nothing behind.

A plan change resizes the bucket on the next request: a larger capacity adds
the difference to the level, so an upgrade takes effect at once, and a
smaller one caps the level.

NOTE: the keys of one request go to one script call, which Redis Cluster
accepts only when they share a hash slot. A cluster deployment needs hash
tags (``{tenant id}``) in the keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from application.rate_limiting import Bucket, RateDecision, RateLimiterUnavailable

#: Prefix of every bucket key, so the buckets can be listed or removed together.
DEFAULT_KEY_PREFIX = "garimpo:rate:"
#: Seconds the limiter waits for Redis before letting the request through.
DEFAULT_TIMEOUT = 0.2

# KEYS: one key per bucket. ARGV: capacity and window in seconds of each
# bucket, in the order of KEYS. Returns {allowed (1 or 0), position in KEYS
# of the tighter bucket (1-based), whole tokens left in it, milliseconds until
# every bucket has a token, milliseconds until the tighter bucket is full}.
TOKEN_BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local count = #KEYS
local capacities = {}
local rates = {}
local levels = {}
local allowed = 1

for i = 1, count do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = capacity / (tonumber(ARGV[2 * i]) * 1000000)
  local level = capacity
  local stored = redis.call('HMGET', KEYS[i], 'tokens', 'at', 'capacity')
  if stored[1] and stored[2] then
    local elapsed = math.max(0, now - tonumber(stored[2]))
    level = tonumber(stored[1]) + elapsed * rate
    local stored_capacity = tonumber(stored[3])
    if stored_capacity and capacity > stored_capacity then
      level = level + capacity - stored_capacity
    end
    level = math.min(capacity, level)
  end
  capacities[i] = capacity
  rates[i] = rate
  levels[i] = level
  if level < 1 then
    allowed = 0
  end
end

if allowed == 1 then
  for i = 1, count do
    levels[i] = levels[i] - 1
    local until_full = math.ceil((capacities[i] - levels[i]) / rates[i] / 1000)
    -- tostring keeps only 14 digits, too few for microseconds since 1970.
    redis.call('HSET', KEYS[i], 'tokens', string.format('%.17g', levels[i]),
      'at', string.format('%.0f', now), 'capacity', string.format('%.17g', capacities[i]))
    redis.call('PEXPIRE', KEYS[i], math.max(1, until_full))
  end
end

local tighter = 1
local longest_wait = -1
for i = 1, count do
  local wait = 0
  if levels[i] < 1 then
    wait = (1 - levels[i]) / rates[i]
  end
  if wait > longest_wait or (wait == longest_wait and levels[i] < levels[tighter]) then
    tighter = i
    longest_wait = wait
  end
end

local until_full = (capacities[tighter] - levels[tighter]) / rates[tighter]
return {allowed, tighter, math.floor(levels[tighter]), math.ceil(longest_wait / 1000),
  math.ceil(until_full / 1000)}
"""


class RedisRateLimiter:
    """The RateLimiter port over Redis, one EVALSHA per request."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        # register_script sends EVALSHA and loads the script on NOSCRIPT, which
        # covers a Redis restart or failover that dropped the script cache.
        self._script = client.register_script(TOKEN_BUCKET_SCRIPT)
        self._key_prefix = key_prefix
        self._timeout = timeout

    async def acquire(self, buckets: Sequence[Bucket]) -> RateDecision:
        if not buckets:
            raise ValueError("acquire needs at least one bucket")

        keys = [self._key_prefix + bucket.key for bucket in buckets]
        args: list[int | float] = []
        for bucket in buckets:
            args += [bucket.limit, bucket.window_seconds]

        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._script(keys=keys, args=args)
        except TimeoutError:
            raise RateLimiterUnavailable(
                f"Redis did not respond within {self._timeout * 1000:.0f} ms"
            ) from None
        except (RedisError, OSError) as error:
            raise RateLimiterUnavailable(f"Redis failed: {error}") from error

        allowed, tighter, remaining, retry_after_ms, reset_after_ms = (int(v) for v in reply)
        return RateDecision(
            allowed=allowed == 1,
            bucket=buckets[tighter - 1],
            remaining=remaining,
            retry_after=retry_after_ms / 1000,
            reset_after=reset_after_ms / 1000,
        )
