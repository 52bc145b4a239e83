"""The api-cnaes client against a local fake of the API and the real Redis."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import attrs
import pytest
import redis.asyncio as aioredis

from adapters.api_cnaes.breaker import BreakerState
from adapters.api_cnaes.cache import KEY_PREFIX
from adapters.api_cnaes.client import ApiCnaesClient, ApiCnaesConfig
from application.company_source import CompanySourceError, SourceErrorKind
from domain.cnpj import Cnpj
from domain.errors import InvalidCnpj
from entrypoints.settings import Settings
from tests.support.fake_api_cnaes import API_KEY, FakeApiCnaes, Fault, make_cnpj, make_companies
from tests.support.fixtures import started_container

#: A fixed wall-clock time, so HTTP-date Retry-After values give exact delays.
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


class ManualClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class RecordedSleep:
    """A sleep that records the requested delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _closed_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiCnaes]:
    async with FakeApiCnaes(make_companies(1000)) as server:
        yield server


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await _delete_cache_keys(client)
    yield client
    await _delete_cache_keys(client)
    await client.aclose()


async def _delete_cache_keys(client: aioredis.Redis) -> None:
    async for key in client.scan_iter(match=KEY_PREFIX + "*"):
        await client.delete(key)


class Harness:
    """Builds clients aimed at the fake, sharing one recorded sleep and manual clock."""

    def __init__(self, fake: FakeApiCnaes, redis: aioredis.Redis | None) -> None:
        self.fake = fake
        self.redis = redis
        self.sleep = RecordedSleep()
        self.clock = ManualClock()
        self.clients: list[ApiCnaesClient] = []

    def client(self, *, redis: aioredis.Redis | None = None, **overrides: Any) -> ApiCnaesClient:
        options: dict[str, Any] = {
            "base_url": self.fake.base_url,
            "api_key": API_KEY,
            "read_timeout_seconds": 2.0,
            "backoff_base_seconds": 0.5,
        }
        options.update(overrides)
        client = ApiCnaesClient(
            ApiCnaesConfig(**options),
            redis=redis if redis is not None else self.redis,
            sleep=self.sleep,
            clock=self.clock,
            now=lambda: NOW,
        )
        self.clients.append(client)
        return client


@pytest.fixture
async def harness(fake: FakeApiCnaes, redis_client: aioredis.Redis) -> AsyncIterator[Harness]:
    built = Harness(fake, redis_client)
    yield built
    for client in built.clients:
        await client.aclose()


# Retries ------------------------------------------------------------------


async def test_read_timeout_retried_then_raised(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.always("get", Fault(delay_seconds=0.5))
    client = harness.client(read_timeout_seconds=0.1, max_retries=2)

    with pytest.raises(CompanySourceError) as caught:
        await client.get_company(fake.companies[0]["cnpj"])

    assert caught.value.kind is SourceErrorKind.TIMEOUT
    assert caught.value.status is None
    assert fake.calls["get"] == 3
    assert len(harness.sleep.delays) == 2


async def test_server_errors_then_success(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.fail("get", 2, Fault(status=500))
    client = harness.client()
    expected = fake.companies[5]

    company = await client.get_company(expected["cnpj"])

    assert company == expected
    assert fake.calls["get"] == 3
    assert len(harness.sleep.delays) == 2
    # Full jitter: the n-th retry waits between 0 and base * 2**n.
    assert 0 <= harness.sleep.delays[0] <= 0.5
    assert 0 <= harness.sleep.delays[1] <= 1.0


async def test_server_errors_exhaust_retries(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.always("search", Fault(status=503, code="maintenance", message="Em manutenção"))
    client = harness.client(max_retries=3)

    with pytest.raises(CompanySourceError) as caught:
        await client.search({"uf": "SP"})

    assert caught.value.kind is SourceErrorKind.SERVER_ERROR
    assert caught.value.status == 503
    assert caught.value.code == "maintenance"
    assert caught.value.message == "Em manutenção"
    assert fake.calls["search"] == 4


async def test_retry_after_seconds_waited(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.fail("get", 1, Fault(status=429, code="rate_limited", retry_after="7"))
    client = harness.client()
    expected = fake.companies[1]

    company = await client.get_company(expected["cnpj"])

    assert company == expected
    assert fake.calls["get"] == 2
    assert len(harness.sleep.delays) == 1
    assert harness.sleep.delays[0] >= 7


async def test_retry_after_http_date_waited(harness: Harness, fake: FakeApiCnaes) -> None:
    moment = format_datetime(NOW + timedelta(seconds=20), usegmt=True)
    fake.fail("list", 1, Fault(status=429, code="rate_limited", retry_after=moment))
    client = harness.client()

    page = await client.list_companies(page=1, per_page=10)

    assert len(page.items) == 10
    assert fake.calls["list"] == 2
    assert harness.sleep.delays == [pytest.approx(20.0)]


async def test_retry_after_too_long_not_waited(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.fail("get", 1, Fault(status=429, code="rate_limited", retry_after="3600"))
    client = harness.client(max_retry_after_seconds=60)

    with pytest.raises(CompanySourceError) as caught:
        await client.get_company(fake.companies[0]["cnpj"])

    assert caught.value.kind is SourceErrorKind.RATE_LIMITED
    assert caught.value.status == 429
    assert fake.calls["get"] == 1
    assert harness.sleep.delays == []


async def test_bad_request_not_retried(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.fail("search", 1, Fault(status=400, code="invalid_query", message="Filtro uf inválido"))
    client = harness.client()

    with pytest.raises(CompanySourceError) as caught:
        await client.search({"uf": "XX"})

    assert caught.value.kind is SourceErrorKind.CLIENT_ERROR
    assert caught.value.status == 400
    assert caught.value.code == "invalid_query"
    assert caught.value.message == "Filtro uf inválido"
    assert fake.calls["search"] == 1
    assert harness.sleep.delays == []


async def test_wrong_api_key_not_retried(harness: Harness, fake: FakeApiCnaes) -> None:
    client = harness.client(api_key="not-the-key")

    with pytest.raises(CompanySourceError) as caught:
        await client.get_company(fake.companies[0]["cnpj"])

    assert caught.value.kind is SourceErrorKind.CLIENT_ERROR
    assert caught.value.status == 401
    assert caught.value.code == "unauthorized"
    assert caught.value.message == "Chave de API ausente ou inválida"
    assert fake.calls["get"] == 1


async def test_missing_api_key_rejected(harness: Harness, fake: FakeApiCnaes) -> None:
    client = harness.client(api_key=None)

    with pytest.raises(CompanySourceError) as caught:
        await client.list_companies()

    assert caught.value.status == 401
    assert fake.calls["list"] == 1


async def test_error_body_not_json_fallback(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.fail("get", 1, Fault(status=502, body="<html>Bad Gateway</html>"))
    client = harness.client(max_retries=0)

    with pytest.raises(CompanySourceError) as caught:
        await client.get_company(fake.companies[0]["cnpj"])

    assert caught.value.kind is SourceErrorKind.SERVER_ERROR
    assert caught.value.status == 502
    assert caught.value.code == "http_502"
    assert "Bad Gateway" in caught.value.message


async def test_connection_refused_unavailable(harness: Harness) -> None:
    client = harness.client(base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=1)

    with pytest.raises(CompanySourceError) as caught:
        await client.list_companies()

    assert caught.value.kind is SourceErrorKind.UNAVAILABLE
    assert caught.value.code == "connection_failed"
    assert len(harness.sleep.delays) == 1


async def test_numeric_cnpj_rejected(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.companies.insert(0, {"cnpj": 191000000000, "razao_social": "Numérica"})
    client = harness.client()

    with pytest.raises(CompanySourceError) as caught:
        await client.list_companies(page=1, per_page=5)

    assert caught.value.code == "invalid_response"


# Circuit breaker ----------------------------------------------------------


async def test_breaker_opens_then_closes(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.always("get", Fault(status=500))
    client = harness.client(max_retries=1, breaker_failures=2, breaker_cooldown_seconds=30)
    cnpj = fake.companies[0]["cnpj"]

    for _ in range(2):
        with pytest.raises(CompanySourceError):
            await client.get_company(cnpj)
    assert fake.calls["get"] == 4
    assert client.breaker.state is BreakerState.OPEN

    with pytest.raises(CompanySourceError) as caught:
        await client.get_company(cnpj)
    assert caught.value.kind is SourceErrorKind.UNAVAILABLE
    assert caught.value.code == "circuit_open"
    assert fake.calls["get"] == 4

    harness.clock.advance(29)
    with pytest.raises(CompanySourceError):
        await client.get_company(cnpj)
    assert fake.calls["get"] == 4

    harness.clock.advance(1)
    fake.always("get", None)
    company = await client.get_company(cnpj)
    assert company == fake.companies[0]
    assert fake.calls["get"] == 5
    assert client.breaker.state is BreakerState.CLOSED


async def test_breaker_trial_failure_reopens(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.always("list", Fault(status=500))
    client = harness.client(max_retries=0, breaker_failures=3, breaker_cooldown_seconds=30)

    for _ in range(3):
        with pytest.raises(CompanySourceError):
            await client.list_companies()
    assert client.breaker.state is BreakerState.OPEN

    harness.clock.advance(30)
    assert client.breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CompanySourceError) as trial:
        await client.list_companies()
    assert trial.value.kind is SourceErrorKind.SERVER_ERROR
    assert fake.calls["list"] == 4

    # One failed trial is enough to open the breaker again.
    assert client.breaker.state is BreakerState.OPEN
    with pytest.raises(CompanySourceError) as rejected:
        await client.list_companies()
    assert rejected.value.code == "circuit_open"
    assert fake.calls["list"] == 4


async def test_breaker_ignores_client_errors(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.always("search", Fault(status=400, code="invalid_query"))
    client = harness.client(breaker_failures=1)

    for _ in range(3):
        with pytest.raises(CompanySourceError):
            await client.search({"uf": "SP"})

    assert fake.calls["search"] == 3
    assert client.breaker.state is BreakerState.CLOSED


# Pagination ---------------------------------------------------------------


async def _walk(client: ApiCnaesClient, query: dict[str, Any]) -> list[str]:
    return [company["cnpj"] async for company in client.walk_search(query)]


async def test_walk_thousand_items(harness: Harness, fake: FakeApiCnaes) -> None:
    client = harness.client(walk_per_page=100)

    cnpjs = await _walk(client, {"uf": "SP"})

    assert len(cnpjs) == 1000
    assert len(set(cnpjs)) == 1000
    assert set(cnpjs) == {company["cnpj"] for company in fake.companies}
    assert fake.calls["search"] == 10


@pytest.mark.parametrize(
    ("page_sizes", "page_shifts", "expected_calls"),
    [
        ({3: 50}, {}, 11),
        ({2: 150}, {}, 10),
        ({}, {4: 10}, 11),
        ({5: 37}, {6: 20}, 11),
    ],
    ids=["short-page", "long-page", "shifted-page", "short-then-shifted"],
)
async def test_walk_odd_page_sizes(
    harness: Harness,
    fake: FakeApiCnaes,
    page_sizes: dict[int, int],
    page_shifts: dict[int, int],
    expected_calls: int,
) -> None:
    fake.page_sizes.update(page_sizes)
    fake.page_shifts.update(page_shifts)
    client = harness.client(walk_per_page=100)

    cnpjs = await _walk(client, {"uf": "SP"})

    assert len(cnpjs) == 1000
    assert len(set(cnpjs)) == 1000
    assert set(cnpjs) == {company["cnpj"] for company in fake.companies}
    assert fake.calls["search"] == expected_calls


async def test_walk_filters_query(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.companies.extend(
        {"cnpj": make_cnpj(5000 + index), "uf": "RJ", "cnae_fiscal": "6201501"}
        for index in range(30)
    )
    client = harness.client(walk_per_page=7)

    cnpjs = await _walk(client, {"uf": "RJ"})

    assert len(cnpjs) == 30
    assert len(set(cnpjs)) == 30
    assert fake.calls["search"] == 5


async def test_walk_stops_on_empty_page(harness: Harness, fake: FakeApiCnaes) -> None:
    # Page 2 of 10 items comes back empty although meta reports 1000 items.
    fake.page_sizes[2] = 0
    client = harness.client(walk_per_page=10)

    cnpjs = await _walk(client, {"uf": "SP"})

    assert len(cnpjs) == 10
    assert fake.calls["search"] == 2


async def test_walk_stops_when_total_changes(harness: Harness, fake: FakeApiCnaes) -> None:
    client = harness.client(walk_per_page=100)
    cnpjs: list[str] = []

    async for company in client.walk_search({"uf": "SP"}):
        cnpjs.append(company["cnpj"])
        if len(cnpjs) == 150:
            fake.companies.append({"cnpj": make_cnpj(9000), "uf": "SP"})

    # Page 3 reports 1001 items, so the walk ends after pages 1 and 2.
    assert len(cnpjs) == 200
    assert len(set(cnpjs)) == 200
    assert fake.calls["search"] == 3


async def test_list_companies_page(harness: Harness, fake: FakeApiCnaes) -> None:
    client = harness.client()

    page = await client.list_companies(page=3, per_page=50, uf="SP")

    assert page.page == 3
    assert page.per_page == 50
    assert page.total_items == 1000
    assert [item["cnpj"] for item in page.items] == [
        company["cnpj"] for company in fake.companies[100:150]
    ]


# Cache --------------------------------------------------------------------


async def test_cache_serves_second_lookup(
    harness: Harness, fake: FakeApiCnaes, redis_client: aioredis.Redis
) -> None:
    client = harness.client(cache_ttl_seconds=43200)
    expected = fake.companies[9]
    assert not Cnpj(expected["cnpj"]).value.isdigit()

    first = await client.get_company(expected["cnpj"])
    second = await client.get_company(Cnpj(expected["cnpj"]).formatted().lower())

    assert first == expected
    assert second == expected
    assert fake.calls["get"] == 1
    ttl = await redis_client.ttl(KEY_PREFIX + expected["cnpj"])
    assert 43000 < ttl <= 43200


async def test_cache_stores_not_found(
    harness: Harness, fake: FakeApiCnaes, redis_client: aioredis.Redis
) -> None:
    client = harness.client(miss_ttl_seconds=900)
    unknown = make_cnpj(777777)

    assert await client.get_company(unknown) is None
    assert await client.get_company(unknown) is None

    assert fake.calls["get"] == 1
    ttl = await redis_client.ttl(KEY_PREFIX + unknown)
    assert 0 < ttl <= 900


async def test_cache_entry_expires(
    harness: Harness, fake: FakeApiCnaes, redis_client: aioredis.Redis
) -> None:
    client = harness.client()
    expected = fake.companies[2]
    await client.get_company(expected["cnpj"])

    # Shorten the stored TTL to 1 ms instead of waiting out 12 hours.
    await redis_client.pexpire(KEY_PREFIX + expected["cnpj"], 1)
    await asyncio.sleep(0.01)

    assert await client.get_company(expected["cnpj"]) == expected
    assert fake.calls["get"] == 2


async def test_cache_down_lookup_succeeds(harness: Harness, fake: FakeApiCnaes) -> None:
    unreachable = aioredis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5)
    client = harness.client(redis=unreachable, cache_timeout_seconds=0.2)
    expected = fake.companies[3]

    try:
        assert await client.get_company(expected["cnpj"]) == expected
        assert await client.get_company(expected["cnpj"]) == expected
    finally:
        await unreachable.aclose()

    assert fake.calls["get"] == 2


async def test_invalid_cnpj_rejected_locally(harness: Harness, fake: FakeApiCnaes) -> None:
    client = harness.client()

    with pytest.raises(InvalidCnpj):
        await client.get_company("12345")

    assert fake.calls["get"] == 0


# Health -------------------------------------------------------------------


async def test_health_true_when_up(harness: Harness) -> None:
    assert await harness.client().health() is True


async def test_health_false_on_server_error(harness: Harness, fake: FakeApiCnaes) -> None:
    fake.always("health", Fault(status=503))

    assert await harness.client().health() is False
    assert fake.calls["health"] == 1


async def test_health_false_when_unreachable(harness: Harness) -> None:
    client = harness.client(base_url=f"http://127.0.0.1:{_closed_port()}")

    assert await client.health() is False


# Container wiring ---------------------------------------------------------


async def test_container_client_off_without_url(settings: Settings) -> None:
    async with started_container(settings) as container:
        assert await container.company_source() is None


async def test_container_client_uses_settings(
    settings: Settings, fake: FakeApiCnaes, redis_client: aioredis.Redis
) -> None:
    configured = attrs.evolve(settings, api_cnaes_url=fake.base_url, api_cnaes_key=API_KEY)
    expected = fake.companies[4]

    async with started_container(configured) as container:
        client = await container.company_source()
        assert isinstance(client, ApiCnaesClient)
        assert await client.health() is True
        assert await client.get_company(expected["cnpj"]) == expected

    assert fake.calls["get"] == 1
    assert await redis_client.exists(KEY_PREFIX + expected["cnpj"]) == 1
