"""Redis cache of api-cnaes company lookups, hits and misses alike.

A cached miss (the API returned 404) keeps repeated lookups of unknown CNPJs
from spending the API quota. Redis errors and Redis calls slower than the
cache timeout never fail a lookup: they are logged and the lookup goes to the
API. The timeout matters because the Redis client may retry a refused
connection for seconds before it raises.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

KEY_PREFIX = "garimpo:api_cnaes:company:"


class CachedLookup:
    """The outcome of a cached lookup: ``company`` is None for a cached miss."""

    __slots__ = ("company",)

    def __init__(self, company: dict[str, Any] | None) -> None:
        self.company = company


class CompanyCache:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        hit_ttl_seconds: int,
        miss_ttl_seconds: int,
        timeout_seconds: float = 0.5,
    ) -> None:
        self._client = client
        self._hit_ttl = hit_ttl_seconds
        self._miss_ttl = miss_ttl_seconds
        self._timeout = timeout_seconds

    @staticmethod
    def key(cnpj: str) -> str:
        """Return the Redis key of a normalised CNPJ (14 characters, upper case)."""
        return KEY_PREFIX + cnpj

    async def get(self, cnpj: str) -> CachedLookup | None:
        """Return the cached outcome for ``cnpj``, or None when nothing usable is cached."""
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._client.get(self.key(cnpj))
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("api_cnaes_cache_read_failed", cnpj=cnpj, error=repr(error))
            return None
        if raw is None:
            return None

        try:
            entry = json.loads(raw)
            found = entry["found"]
            company = entry.get("company")
        except (ValueError, TypeError, KeyError) as error:
            log.warning("api_cnaes_cache_entry_invalid", cnpj=cnpj, error=repr(error))
            return None
        if not found:
            return CachedLookup(None)
        if not isinstance(company, dict):
            log.warning(
                "api_cnaes_cache_entry_invalid", cnpj=cnpj, error="company is not an object"
            )
            return None
        return CachedLookup(company)

    async def put(self, cnpj: str, company: dict[str, Any] | None) -> None:
        """Store a hit with the hit TTL, or a miss (``company`` None) with the shorter miss TTL."""
        if company is None:
            payload = json.dumps({"found": False})
            ttl = self._miss_ttl
        else:
            payload = json.dumps({"found": True, "company": company})
            ttl = self._hit_ttl
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.set(self.key(cnpj), payload, ex=ttl)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("api_cnaes_cache_write_failed", cnpj=cnpj, error=repr(error))
