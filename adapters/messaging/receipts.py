"""The receipts a messaging gateway keeps in memory, so a replayed key sends nothing new."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from application.messaging import SendReceipt


class ReceiptMemory:
    """The provider message id of each idempotency key this process sent, oldest dropped first.

    A key is held by one send at a time, so concurrent sends of one key in
    this process go out once and the later ones return the first receipt,
    marked as replayed. The memory covers one process and is bounded.
    Safety across processes and after a crash comes from the qualification
    engine instead: it records each send in ``message_send`` and commits that
    record before it calls the gateway, and it never passes a recorded key to
    a gateway again.
    """

    def __init__(self, provider: str, capacity: int = 100_000) -> None:
        self._provider = provider
        self._capacity = capacity
        self._sent: collections.OrderedDict[str, str] = collections.OrderedDict()
        #: Per key, its lock and the number of sends holding or awaiting it.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def send_once(self, key: str, send: Callable[[], Awaitable[str]]) -> SendReceipt:
        """Run ``send`` for a key not sent before and remember the provider message id it returns.

        A key sent before returns its first receipt with ``replayed=True``.
        When ``send`` raises, nothing is remembered, so a retry sends again.
        """
        async with self._holding(key):
            known = self._sent.get(key)
            if known is not None:
                return SendReceipt(self._provider, known, replayed=True)

            provider_message_id = await send()
            self._remember(key, provider_message_id)
        return SendReceipt(self._provider, provider_message_id)

    def _remember(self, key: str, provider_message_id: str) -> None:
        self._sent[key] = provider_message_id
        while len(self._sent) > self._capacity:
            self._sent.popitem(last=False)

    @contextlib.asynccontextmanager
    async def _holding(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` for the block, so a concurrent send of it waits and then replays."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
