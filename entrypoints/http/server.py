"""Run the HTTP API: one container per process, its resources opened in ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from adapters.postgres.database import migrate
from application.authentication import Credentials, TenantState
from application.rate_limiting import RateDecision
from application.search import SearchSource
from domain.audit import Actor
from domain.identity import Principal
from domain.search import Page, PageRequest, SearchCriteria
from entrypoints import maintenance
from entrypoints.container import (
    Container,
    app_role_name,
    build_container,
    check_database,
    check_redis,
    provide,
)
from entrypoints.http.app import HttpServices, create_app
from entrypoints.http.rate_limit import make_rate_limit_middleware
from entrypoints.settings import Settings

log = structlog.get_logger(__name__)

CONTAINER_KEY = web.AppKey("container", Container)


def build_app(container: Container) -> web.Application:
    """Create the API app over ``container``; resources open when the app starts."""

    # The services resolve the container's providers on each call, so they
    # work once cleanup_ctx has opened the engine, Redis and the HTTP client.
    async def search_preleads(
        criteria: SearchCriteria,
        page: PageRequest,
        tenant: str | None,
        source: SearchSource = SearchSource.AUTO,
    ) -> Page:
        use_case = await provide(container.search_preleads)
        result: Page = await use_case(criteria, page, tenant, source)
        return result

    async def get_company(cnpj: str) -> dict[str, Any]:
        use_case = await provide(container.get_company)
        detail: dict[str, Any] = await use_case(cnpj)
        return detail

    async def authenticate(credentials: Credentials) -> tuple[Principal, TenantState | None]:
        use_case = await provide(container.authenticate)
        result: tuple[Principal, TenantState | None] = await use_case(credentials)
        return result

    async def enter_tenant(principal: Principal, tenant_id: str, actor: Actor) -> TenantState:
        use_case = await provide(container.enter_tenant)
        state: TenantState = await use_case(principal, tenant_id, actor)
        return state

    async def limit_requests(
        principal: Principal, tenant_state: TenantState | None
    ) -> RateDecision | None:
        use_case = await provide(container.limit_requests)
        decision: RateDecision | None = await use_case(principal, tenant_state)
        return decision

    async def database_ready() -> None:
        await check_database(await provide(container.engine))

    async def redis_ready() -> None:
        await check_redis(await provide(container.redis))

    services = HttpServices(
        search_preleads=search_preleads,
        get_company=get_company,
        authenticate=authenticate,
        enter_tenant=enter_tenant,
        use_cases=ContainerUseCases(container),
        readiness={"database": database_ready, "redis": redis_ready},
        max_per_page=container.settings().max_per_page,
        after_auth=(make_rate_limit_middleware(limit_requests),),
    )
    app = create_app(services)
    app[CONTAINER_KEY] = container
    app.cleanup_ctx.append(_container_resources)
    return app


class ContainerUseCases:
    """Resolves a use case by its provider name on the container."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def get(self, name: str) -> Any:
        return await provide(getattr(self._container, name))


async def _container_resources(app: web.Application) -> AsyncIterator[None]:
    container = app[CONTAINER_KEY]
    await container.init_resources()
    auth_state = await provide(container.auth_state)
    listener = asyncio.create_task(auth_state.listen(), name="auth-cache-listener")
    interval = container.settings().maintenance_interval_seconds
    periodic = maintenance.start(container, interval) if interval > 0 else None
    worker = None
    if container.settings().worker_in_api:
        from entrypoints.worker import QualificationWorker

        worker = QualificationWorker(container)
        await worker.start()
    log.info("api_started")
    yield
    if worker is not None:
        await worker.stop()
    if periodic is not None:
        periodic.cancel()
        await asyncio.gather(periodic, return_exceptions=True)
    auth_state.stop()
    try:
        await asyncio.wait_for(listener, timeout=5)
    except (TimeoutError, asyncio.CancelledError):
        log.warning("auth_cache_listener_stop_timeout")
    await container.shutdown_resources()
    log.info("api_stopped")


def _prepare(settings: Settings) -> Container:
    container = build_container(settings)
    migrate(container.database_url(), app_role=app_role_name(settings))
    return container


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    """Migrate, then serve the API until interrupted (blocking)."""
    app = build_app(_prepare(settings))
    web.run_app(
        app,
        host=host or settings.http_host,
        port=port or settings.http_port,
        access_log=None,
        print=None,
    )
    return 0


async def serve_async(settings: Settings, *, host: str, port: int) -> None:
    """Serve the API from inside a running event loop until cancelled."""
    container = await asyncio.to_thread(_prepare, settings)
    runner = web.AppRunner(build_app(container), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("api_listening", host=host, port=port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
