"""A short-lived cache in front of the per-request authentication state.

Every authenticated request needs the state of its session or key and of its
tenant. Reading PostgreSQL for each would cost a round trip per request, so
answers are kept for a second or two. A logout, a revoked key, a suspended
tenant or a changed account must still take effect at once, on every API
process: whatever changes such state calls ``changed()``, which empties this
process's cache and publishes on a Redis channel that every other process
listens to. While a process is not subscribed (Redis down, reconnecting), it
does not cache at all, so a missed message cannot keep stale state alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog

from application.authentication import ApiKeyState, AuthStateSource, SessionState, TenantState

log = structlog.get_logger(__name__)

CHANNEL = "garimpo:auth:changed"
T = TypeVar("T")


class CachedAuthState:
    def __init__(self, inner: AuthStateSource, client: aioredis.Redis, ttl: float = 2.0) -> None:
        self._inner = inner
        self._client = client
        self._ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, Any]] = {}
        self._subscribed = False
        self._stopping = asyncio.Event()

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    async def _cached(self, key: tuple[str, str], load: Callable[[], Awaitable[T]]) -> T:
        if not self._subscribed or self._ttl <= 0:
            return await load()

        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value

        value = await load()
        self._entries[key] = (now + self._ttl, value)
        return value

    async def session(self, session_id: str) -> SessionState | None:
        return await self._cached(("session", session_id), lambda: self._inner.session(session_id))

    async def api_key(self, prefix: str) -> ApiKeyState | None:
        return await self._cached(("key", prefix), lambda: self._inner.api_key(prefix))

    async def tenant(self, tenant_id: str) -> TenantState | None:
        return await self._cached(("tenant", tenant_id), lambda: self._inner.tenant(tenant_id))

    async def touch_api_key(self, key: ApiKeyState) -> None:
        await self._inner.touch_api_key(key)

    async def changed(self) -> None:
        """Forget every cached answer here and in every other process."""
        self._entries.clear()
        try:
            await self._client.publish(CHANNEL, b"changed")
        except Exception:
            # Other processes then keep their entries for at most the TTL;
            # their listeners are down too if Redis is, and so not caching.
            log.exception("auth_cache_publish_failed")

    async def listen(self, *, retry_seconds: float = 1.0) -> None:
        """Follow the invalidation channel until ``stop()``; reconnect after failures."""
        self._stopping = asyncio.Event()
        while not self._stopping.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                # Entries read before the subscription may have missed a message.
                self._entries.clear()
                self._subscribed = True
                log.info("auth_cache_listening")
                while not self._stopping.is_set():
                    # A bounded wait, so stop() is noticed within a second.
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._entries.clear()
            except Exception:
                log.warning("auth_cache_listener_lost", exc_info=True)
            finally:
                self._subscribed = False
                self._entries.clear()
                try:
                    await pubsub.aclose()
                except Exception:
                    log.debug("auth_cache_pubsub_close_failed", exc_info=True)
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), retry_seconds)

    def stop(self) -> None:
        self._stopping.set()
