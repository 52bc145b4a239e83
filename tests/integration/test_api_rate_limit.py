"""Rate limits through the real HTTP app: RateLimit headers, 429 problems, plans, fail-open.

Each test builds the app over a real container (PostgreSQL and Redis) and
creates its own tenants on plans with a few requests per minute, so each
test has buckets of its own. At such limits a token comes back only every
several seconds, far longer than a test takes to send a handful of requests.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from dependency_injector import providers
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from adapters.redis.rate_limit import RedisRateLimiter
from domain.identity import Role
from entrypoints.container import Container, build_container, provide
from entrypoints.http.auth import API_KEY_HEADER, TENANT_HEADER
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

KEYS_PATH = "/v1/api-keys"
HOST_KEYS_PATH = "/v1/host/api-keys"
PROBLEM_JSON = "application/problem+json"
RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
)


@attrs.frozen
class Reply:
    status: int
    content_type: str
    headers: Mapping[str, str]
    body: Any


@attrs.frozen
class TenantOnPlan:
    tenant_id: str
    #: An API key of the tenant holding every tenant scope, in clear.
    api_key: str


@attrs.frozen
class Api:
    client: TestClient[Any, Any]
    container: Container

    async def get(
        self, path: str, api_key: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> Reply:
        sent = dict(headers or {})
        if api_key is not None:
            sent[API_KEY_HEADER] = api_key
        async with self.client.get(path, headers=sent) as response:
            return Reply(
                response.status,
                response.content_type,
                dict(response.headers),
                await response.json(content_type=None),
            )

    @property
    def database_url(self) -> str:
        url: str = self.container.database_url()
        return url

    async def tenant_on_plan(self, name: str, requests_per_minute: int) -> TenantOnPlan:
        tenant_id = await create_tenant(
            self.database_url, name, requests_per_minute=requests_per_minute
        )
        _key_id, key = await create_api_key(self.database_url, tenant_id)
        return TenantOnPlan(tenant_id, key)

    async def change_plan_limit(self, tenant_id: str, requests_per_minute: int) -> None:
        """Change the limit of the tenant's plan, and tell the API at once, as the host API does."""
        await owner_execute(
            self.database_url,
            "UPDATE plan SET requests_per_minute = $2, updated_at = now() "
            "WHERE id = (SELECT plan_id FROM tenant WHERE id = $1)",
            uuid.UUID(tenant_id),
            requests_per_minute,
        )
        await (await provide(self.container.auth_state)).changed()

    async def login(self, tenant_id: str | None, role: Role) -> dict[str, str]:
        """Open a session for a new account of ``role``; return its Authorization header."""
        account_id, session_id, email = await create_user_session(
            self.database_url, tenant_id, role
        )
        tokens = await provide(self.container.access_tokens)
        token = tokens.issue(access_claims(account_id, session_id, tenant_id, role, email))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, settings: Settings) -> Api:
    limited = attrs.evolve(settings, default_requests_per_minute=4, host_requests_per_minute=2)
    container = build_container(limited)
    return Api(await aiohttp_client(build_app(container)), container)


def header_int(reply: Reply, name: str) -> int:
    assert name in reply.headers, f"{name} missing from {dict(reply.headers)}"
    return int(reply.headers[name])


# --- headers and refusals --------------------------------------------------------


async def test_accepted_response_carries_headers(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 5)

    first = await api.get(KEYS_PATH, tenant.api_key)
    second = await api.get(KEYS_PATH, tenant.api_key)

    assert first.status == 200, first.body
    assert header_int(first, "RateLimit-Limit") == 5
    assert header_int(first, "RateLimit-Remaining") == 4
    # One token comes back every 12 s at 5 per minute.
    assert header_int(first, "RateLimit-Reset") == 12
    assert first.headers["RateLimit-Policy"] == "5;w=60"
    assert "Retry-After" not in first.headers
    assert header_int(second, "RateLimit-Remaining") == 3
    assert header_int(second, "RateLimit-Reset") == 24


async def test_request_over_limit_is_429(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 3)
    for _ in range(3):
        assert (await api.get(KEYS_PATH, tenant.api_key)).status == 200

    refused = await api.get(KEYS_PATH, tenant.api_key)

    assert refused.status == 429
    assert refused.content_type == PROBLEM_JSON
    retry_after = header_int(refused, "Retry-After")
    # At 3 per minute a token takes 20 s to come back.
    assert 1 <= retry_after <= 20
    assert header_int(refused, "RateLimit-Limit") == 3
    assert header_int(refused, "RateLimit-Remaining") == 0
    assert header_int(refused, "RateLimit-Reset") >= retry_after
    assert refused.headers["RateLimit-Policy"] == "3;w=60"
    assert "X-Request-ID" in refused.headers


async def test_refusal_body_is_problem(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 1)
    assert (await api.get(KEYS_PATH, tenant.api_key)).status == 200

    refused = await api.get(KEYS_PATH, tenant.api_key)

    body = refused.body
    retry_after = header_int(refused, "Retry-After")
    assert body["type"] == "urn:garimpo:problem:rate_limited"
    assert body["title"] == "Requisições demais"
    assert body["status"] == 429
    assert body["code"] == "rate_limited"
    assert body["retry_after"] == retry_after
    assert body["limit"] == 1
    assert body["request_id"] == refused.headers["X-Request-ID"]
    assert body["detail"] == (
        "Limite de 1 requisições por minuto da sua empresa atingido. "
        f"Tente de novo em {retry_after} segundos."
    )


async def test_problem_responses_carry_headers(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 5)

    not_found = await api.get(f"{KEYS_PATH}/{uuid.uuid4()}", tenant.api_key)
    invalid = await api.get(f"{KEYS_PATH}?page=primeira", tenant.api_key)

    assert not_found.status == 404
    assert header_int(not_found, "RateLimit-Remaining") == 4
    assert not_found.headers["RateLimit-Policy"] == "5;w=60"
    assert invalid.status == 400
    assert invalid.body["code"] == "invalid_field"
    assert header_int(invalid, "RateLimit-Remaining") == 3


async def test_public_and_refused_credentials_unlimited(api: Api) -> None:
    health = await api.get("/health")
    document = await api.get("/v1/openapi.json")
    anonymous = await api.get(KEYS_PATH)
    wrong_key = await api.get(KEYS_PATH, "gar_00000000_chave-que-nao-existe")

    for reply in (health, document, anonymous, wrong_key):
        for name in RATE_LIMIT_HEADERS:
            assert name not in reply.headers, (reply.status, name)
    assert health.status == 200
    assert anonymous.status == 401
    assert wrong_key.status == 401


# --- whose bucket ----------------------------------------------------------------


async def test_other_tenant_unaffected(api: Api) -> None:
    busy = await api.tenant_on_plan("Vendas Sul", 2)
    quiet = await api.tenant_on_plan("Vendas Norte", 2)
    for _ in range(2):
        await api.get(KEYS_PATH, busy.api_key)
    assert (await api.get(KEYS_PATH, busy.api_key)).status == 429

    reply = await api.get(KEYS_PATH, quiet.api_key)

    assert reply.status == 200
    assert header_int(reply, "RateLimit-Remaining") == 1


async def test_keys_of_tenant_share_its_bucket(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 3)
    _key_id, second_key = await create_api_key(api.database_url, tenant.tenant_id)
    await api.get(KEYS_PATH, tenant.api_key)
    await api.get(KEYS_PATH, tenant.api_key)

    last = await api.get(KEYS_PATH, second_key)
    refused = await api.get(KEYS_PATH, second_key)

    assert last.status == 200
    assert header_int(last, "RateLimit-Remaining") == 0
    assert refused.status == 429
    assert "da sua empresa" in refused.body["detail"]


async def test_tenant_without_plan_gets_default(api: Api) -> None:
    tenant_id = await create_tenant(api.database_url, "Sem Plano")
    _key_id, key = await create_api_key(api.database_url, tenant_id)

    reply = await api.get(KEYS_PATH, key)

    assert reply.status == 200
    assert header_int(reply, "RateLimit-Limit") == 4
    assert reply.headers["RateLimit-Policy"] == "4;w=60"


async def test_host_key_gets_host_limit(api: Api) -> None:
    _key_id, host_key = await create_api_key(api.database_url, None)

    replies = [await api.get(HOST_KEYS_PATH, host_key) for _ in range(3)]

    assert [reply.status for reply in replies] == [200, 200, 429]
    assert header_int(replies[0], "RateLimit-Limit") == 2
    assert (
        replies[2]
        .body["detail"]
        .startswith("Limite de 2 requisições por minuto desta chave de API atingido.")
    )


async def test_user_session_shares_tenant_bucket(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 3)
    user = await api.login(tenant.tenant_id, Role.ADMIN)

    by_user = await api.get(KEYS_PATH, headers=user)
    by_key = await api.get(KEYS_PATH, tenant.api_key)

    assert by_user.status == 200, by_user.body
    assert header_int(by_user, "RateLimit-Limit") == 3
    assert header_int(by_user, "RateLimit-Remaining") == 2
    assert header_int(by_key, "RateLimit-Remaining") == 1


async def test_host_admin_inside_tenant_uses_both(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 5)
    admin = {**await api.login(None, Role.HOST_ADMIN), TENANT_HEADER: tenant.tenant_id}

    first = await api.get(KEYS_PATH, headers=admin)
    second = await api.get(KEYS_PATH, headers=admin)
    refused = await api.get(KEYS_PATH, headers=admin)
    by_tenant = await api.get(KEYS_PATH, tenant.api_key)

    # The admin's own bucket has the host limit of 2 and is the tighter one.
    assert first.status == 200, first.body
    assert header_int(first, "RateLimit-Limit") == 2
    assert header_int(second, "RateLimit-Remaining") == 0
    assert refused.status == 429
    assert refused.body["detail"].startswith(
        "Limite de 2 requisições por minuto deste usuário atingido."
    )
    # The admin's two accepted requests also came out of the tenant's 5.
    assert by_tenant.status == 200
    assert header_int(by_tenant, "RateLimit-Remaining") == 2


# --- plan changes ----------------------------------------------------------------


async def test_plan_change_takes_effect(api: Api) -> None:
    tenant = await api.tenant_on_plan("Vendas Sul", 2)
    for _ in range(2):
        await api.get(KEYS_PATH, tenant.api_key)
    assert (await api.get(KEYS_PATH, tenant.api_key)).status == 429

    await api.change_plan_limit(tenant.tenant_id, 50)
    upgraded = await api.get(KEYS_PATH, tenant.api_key)

    assert upgraded.status == 200
    assert header_int(upgraded, "RateLimit-Limit") == 50
    assert upgraded.headers["RateLimit-Policy"] == "50;w=60"
    # The 48 tokens of the upgrade, minus this request.
    assert header_int(upgraded, "RateLimit-Remaining") >= 47

    await api.change_plan_limit(tenant.tenant_id, 1)
    downgraded = await api.get(KEYS_PATH, tenant.api_key)
    assert downgraded.status == 200
    assert header_int(downgraded, "RateLimit-Limit") == 1
    assert header_int(downgraded, "RateLimit-Remaining") == 0
    assert (await api.get(KEYS_PATH, tenant.api_key)).status == 429


# --- Redis unavailable -------------------------------------------------------------


def free_loopback_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, read, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(params=["unreachable", "silent"])
def broken_redis(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A Redis URL on loopback that refuses connections, or accepts them and never responds.

    Yields (URL, text expected in the error).
    """
    if request.param == "unreachable":
        yield f"redis://127.0.0.1:{free_loopback_port()}/15", "Error 111 connecting"
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/15", "did not respond within 200 ms"


async def test_broken_redis_fails_open(
    aiohttp_client: AiohttpClient, settings: Settings, broken_redis: tuple[str, str]
) -> None:
    redis_url, expected_error = broken_redis
    # Only the limiter loses Redis: authentication keeps its cache channel.
    container = build_container(settings)
    broken_client = aioredis.Redis.from_url(redis_url)
    container.rate_limiter.override(
        providers.Object(
            RedisRateLimiter(broken_client, timeout=settings.rate_limit_timeout_seconds)
        )
    )
    api = Api(await aiohttp_client(build_app(container)), container)
    tenant = await api.tenant_on_plan("Vendas Sul", 1)

    try:
        with capture_logs() as logs:
            replies = [await api.get(KEYS_PATH, tenant.api_key) for _ in range(3)]
    finally:
        await broken_client.aclose()

    # A limit of 1 would refuse the second request; without Redis none is refused.
    assert [reply.status for reply in replies] == [200, 200, 200]
    for reply in replies:
        for name in (*RATE_LIMIT_HEADERS, "Retry-After"):
            assert name not in reply.headers
    failures = [entry for entry in logs if entry["event"] == "rate_limit_unavailable"]
    assert len(failures) == 3
    assert all(entry["log_level"] == "error" for entry in failures)
    assert all(entry["tenant_id"] == tenant.tenant_id for entry in failures)
    assert expected_error in failures[0]["error"]
