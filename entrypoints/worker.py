"""The qualification worker: Dramatiq threads that run steps, and a round that finds due ones.

Each worker process keeps one asyncio loop, where the container's pools
live. Dramatiq's threads hand every step to that loop and wait for it, so
a process runs up to ``WORKER_THREADS`` steps at once over one database
pool. Every ``QUALIFICATION_TICK_SECONDS`` the loop claims the due flows of
running jobs and queues a step for each; several processes may do so at
once, since a claim skips rows another process holds.

``garimpo worker`` runs one such process; ``garimpo serve`` runs one inside
the API unless ``WORKER_IN_API`` is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
import structlog

from adapters.jobs.dramatiq import ADVANCE_ACTOR, DISPATCH_ACTOR, MAX_RETRIES, QUEUE
from application.qualification import Qualification
from entrypoints.container import Container, provide

log = structlog.get_logger(__name__)

#: Seconds a step may take on the loop before its Dramatiq thread gives up on it.
STEP_TIMEOUT_SECONDS = 55


class QualificationWorker:
    """Dramatiq's threads plus the dispatch round, over one container's loop."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._worker: dramatiq.Worker | None = None
        self._round: asyncio.Task[None] | None = None
        self._qualification: Qualification | None = None

    async def start(self) -> None:
        settings = self._container.settings()
        loop = asyncio.get_running_loop()
        self._qualification = await provide(self._container.qualification)
        broker = self._container.job_broker()
        _declare_actors(broker, loop, self._qualification)

        self._worker = dramatiq.Worker(
            broker, queues={QUEUE}, worker_threads=settings.worker_threads, worker_timeout=200
        )
        self._worker.start()
        self._round = asyncio.create_task(
            self._dispatch_rounds(settings.qualification_tick_seconds), name="qualification-round"
        )
        log.info("qualification_worker_started", threads=settings.worker_threads)

    async def stop(self) -> None:
        if self._round is not None:
            self._round.cancel()
            await asyncio.gather(self._round, return_exceptions=True)
        if self._worker is not None:
            # Joining the threads blocks; the loop keeps running meanwhile, so
            # steps in flight on it can finish.
            await asyncio.to_thread(self._worker.stop, 10_000)
        log.info("qualification_worker_stopped")

    async def _dispatch_rounds(self, interval: float) -> None:
        assert self._qualification is not None
        while True:
            try:
                queued = await self._qualification.dispatch()
                if queued:
                    log.debug("qualification_steps_queued", count=queued)
            except Exception:  # noqa: BLE001 - a failed round must not end the worker
                log.exception("qualification_round_failed")
            await asyncio.sleep(interval)


def _declare_actors(
    broker: dramatiq.Broker, loop: asyncio.AbstractEventLoop, qualification: Qualification
) -> None:
    def on_loop(step: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(step(*args), loop)
        return future.result(timeout=STEP_TIMEOUT_SECONDS)

    def advance(tenant_id: str, flow_id: str) -> None:
        on_loop(qualification.advance, tenant_id, flow_id)

    def dispatch() -> None:
        on_loop(qualification.dispatch)

    for name, function in ((ADVANCE_ACTOR, advance), (DISPATCH_ACTOR, dispatch)):
        if name in broker.get_declared_actors():
            broker.actors.pop(name, None)
        dramatiq.actor(
            function, broker=broker, actor_name=name, queue_name=QUEUE, max_retries=MAX_RETRIES
        )


async def run_worker(container: Container) -> int:
    """Run a worker until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)

    worker = QualificationWorker(container)
    await worker.start()
    try:
        await stop.wait()
    finally:
        await worker.stop()
    return 0
