"""Pre-lead search and company lookup falling back to api-cnaes, over HTTP.

Every test builds the real application over PostgreSQL and Redis, aimed at
the local fake api-cnaes on 127.0.0.1, and checks each response against the
served OpenAPI document. The fake's companies live in Roraima (RR), a UF the
other tests leave without establishments of the CNAE used here, so the local
registry has nothing for these searches unless a test inserts it.

Caching rule under test: a query sent to api-cnaes is recorded in
``external_search``, and the same query (UF, CNAE, municipalities) within
the TTL is served from ``external_company`` without a new call, in ``auto`` and
``api-cnaes`` mode alike, whatever the page or the other filters.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import attrs
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from adapters.api_cnaes.cache import KEY_PREFIX
from application.search import SearchPreLeads, SearchSource
from domain.search import PageRequest, SearchCriteria
from entrypoints.container import build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.integration.test_api_registry import OpenApiContract
from tests.support.fake_api_cnaes import API_KEY, FakeApiCnaes, Fault, make_cnpj
from tests.support.fixtures import started_container

UF = "RR"
CNAE = "6201501"
BOA_VISTA = "1400100"
SEARCH_PATH = "/v1/preleads/search"
COMPANY_TEMPLATE = "/v1/companies/{cnpj}"
#: CNPJs of the establishments a test inserts into the registry: make_cnpj(LOCAL_BASE + n).
LOCAL_BASE = 800_000
LOCAL_NUMBERS = range(1, 4)
#: Active companies among the fake's; one more is BAIXADA and stays out of default searches.
ACTIVE = 5


def api_company(number: int, **overrides: Any) -> dict[str, Any]:
    """A company as api-cnaes sends it: Receita's field names, codes as numbers."""
    company: dict[str, Any] = {
        "cnpj": make_cnpj(900_000 + number, alphanumeric=number % 2 == 0),
        "razao_social": f"Tecnologia Roraima {number} Ltda",
        "nome_fantasia": f"TEC RR {number}",
        "cnae_fiscal": int(CNAE),
        "cnaes_secundarios": [{"codigo": 6202300, "descricao": "Desenvolvimento de software"}],
        "uf": UF,
        "codigo_municipio_ibge": int(BOA_VISTA),
        "municipio": "BOA VISTA",
        "situacao_cadastral": 2,
        "codigo_porte": 1,
        "capital_social": 15000.5,
        "data_inicio_atividade": "2019-03-01",
        "identificador_matriz_filial": 1,
        "ddd_telefone_1": "9532241000",
        "ddd_telefone_2": f"9599123{number:04d}",
        "email": f"Contato@TecRR{number}.com.BR",
        "opcao_pelo_simples": True,
        "opcao_pelo_mei": False,
        "logradouro": "AV GETULIO VARGAS",
        "numero": str(100 + number),
        "bairro": "CENTRO",
        "cep": "69301-000",
    }
    company.update(overrides)
    return company


COMPANIES = [api_company(n) for n in range(1, ACTIVE + 1)] + [
    api_company(ACTIVE + 1, situacao_cadastral=8)
]
ACTIVE_CNPJS = sorted(c["cnpj"] for c in COMPANIES[:ACTIVE])


@attrs.frozen
class Reply:
    status: int
    body: Any


class FallbackApi:
    """Sends requests to the app and checks every response against the OpenAPI document."""

    def __init__(self, client: TestClient[Any, Any], contract: OpenApiContract, key: str) -> None:
        self.client = client
        self.contract = contract
        self.key = key

    async def _send(self, method: str, path: str, template: str, body: Any = None) -> Reply:
        async with self.client.request(
            method, path, json=body, headers={"X-API-Key": self.key}
        ) as response:
            decoded = json.loads(await response.text())
            errors = self.contract.errors(
                method, template, response.status, response.content_type, decoded
            )
        assert errors == [], f"{method} {path} -> {response.status}: {errors}"
        return Reply(response.status, decoded)

    async def search(self, **body: Any) -> Reply:
        return await self._send(
            "POST", SEARCH_PATH, SEARCH_PATH, {"cnaes": [CNAE], "uf": UF, **body}
        )

    async def company(self, cnpj: str) -> Reply:
        return await self._send("GET", f"/v1/companies/{cnpj}", COMPANY_TEMPLATE)


# --- fixtures ------------------------------------------------------------------


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Owner connection; the fallback tables and the CNAE lookup start clean for each test."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE external_company, external_search")
    # When some test loaded a CNAE table, the search rejects codes missing from it.
    added = await conn.fetchval(
        """
        INSERT INTO registry.cnae (code, description)
        SELECT $1, 'Desenvolvimento de programas de computador sob encomenda'
        WHERE EXISTS (SELECT 1 FROM registry.cnae)
          AND NOT EXISTS (SELECT 1 FROM registry.cnae WHERE code = $1)
        RETURNING code
        """,
        CNAE,
    )
    present = await conn.fetchval(
        "SELECT count(*) FROM registry.establishment WHERE uf = $1 AND cnae_primary = $2",
        UF,
        CNAE,
    )
    assert present == 0, f"the registry already has {present} establishments of {CNAE} in {UF}"
    try:
        yield conn
    finally:
        await conn.execute(
            "DELETE FROM registry.establishment WHERE uf = $1 AND cnpj = ANY($2::text[])",
            UF,
            [make_cnpj(LOCAL_BASE + number) for number in LOCAL_NUMBERS],
        )
        if added is not None:
            await conn.execute("DELETE FROM registry.cnae WHERE code = $1", CNAE)
        await conn.close()


@pytest.fixture
async def clean_cache(redis_url: str) -> AsyncIterator[None]:
    """Drop api-cnaes lookups that Redis kept from earlier tests."""
    client = aioredis.Redis.from_url(redis_url)
    async for key in client.scan_iter(match=KEY_PREFIX + "*"):
        await client.delete(key)
    yield
    await client.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiCnaes]:
    async with FakeApiCnaes(COMPANIES) as server:
        yield server


def api_cnaes_settings(settings: Settings, base_url: str, **overrides: Any) -> Settings:
    return attrs.evolve(
        settings,
        api_cnaes_url=base_url,
        api_cnaes_key=API_KEY,
        # One attempt per call keeps the failure tests fast and the call counts exact.
        api_cnaes_max_retries=0,
        api_cnaes_read_timeout_seconds=0.5,
        **overrides,
    )


async def start_api(aiohttp_client: AiohttpClient, app_settings: Settings) -> FallbackApi:
    async with started_container(app_settings) as container:
        provisioning = await provide(container.provisioning)
        _tenant, key = await provisioning.create_tenant_with_key("Vendas Norte")

    client = await aiohttp_client(build_app(build_container(app_settings)))
    async with client.get("/v1/openapi.json") as response:
        document = await response.json()
    return FallbackApi(client, OpenApiContract(document), key)


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    fake: FakeApiCnaes,
    db: asyncpg.Connection,
    clean_cache: None,
) -> FallbackApi:
    return await start_api(aiohttp_client, api_cnaes_settings(settings, fake.base_url))


async def insert_local_establishment(db: asyncpg.Connection, number: int) -> str:
    assert number in LOCAL_NUMBERS
    cnpj = make_cnpj(LOCAL_BASE + number)
    await db.execute(
        """
        INSERT INTO registry.establishment (cnpj, cnpj_root, is_head_office, registration_status,
                                            cnae_primary, uf, ibge_code, source_file_id,
                                            source_line)
        VALUES ($1, $2, true, '02', $3, $4, $5, 1, $6)
        """,
        cnpj,
        cnpj[:8],
        CNAE,
        UF,
        BOA_VISTA,
        number,
    )
    return cnpj


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- fallback and storage ---------------------------------------------------------


async def test_empty_local_falls_back_and_stores(
    api: FallbackApi, fake: FakeApiCnaes, db: asyncpg.Connection
) -> None:
    before = dt.datetime.now(dt.UTC)

    reply = await api.search()

    assert reply.status == 200
    assert reply.body["meta"] == {
        "page": 1,
        "per_page": 50,
        "total_items": ACTIVE,
        "total_pages": 1,
        "source": "api-cnaes",
        "warnings": [],
    }
    assert [item["cnpj"] for item in reply.body["data"]] == ACTIVE_CNPJS
    assert fake.calls["search"] == 1
    assert fake.search_queries == [{"uf": UF, "cnae_fiscal": CNAE}]

    rows = await db.fetch("SELECT * FROM external_company ORDER BY cnpj")
    assert len(rows) == len(COMPANIES)
    assert {row["source"] for row in rows} == {"api-cnaes"}
    for row in rows:
        assert before <= row["fetched_at"] <= dt.datetime.now(dt.UTC)
    search = await db.fetchrow("SELECT * FROM external_search")
    assert search["total_items"] == len(COMPANIES)
    assert search["stored_items"] == len(COMPANIES)


async def test_stored_company_is_normalised(api: FallbackApi, db: asyncpg.Connection) -> None:
    await api.search()
    first = COMPANIES[0]

    row = await db.fetchrow("SELECT * FROM external_company WHERE cnpj = $1", first["cnpj"])

    assert row["cnae_primary"] == CNAE
    assert row["cnaes_secondary"] == ["6202300"]
    assert row["ibge_code"] == BOA_VISTA
    assert row["registration_status"] == "02"
    assert row["company_size"] == "01"
    assert row["opening_date"] == dt.date(2019, 3, 1)
    assert row["phones"] == ["+559532241000", "+5595991230001"]
    assert row["email"] == "contato@tecrr1.com.br"
    assert json.loads(row["payload"]) == first


async def test_alphanumeric_cnpj_kept_as_text(api: FallbackApi, db: asyncpg.Connection) -> None:
    alphanumeric = COMPANIES[1]["cnpj"]

    reply = await api.search()

    assert alphanumeric.startswith("AB")
    assert alphanumeric in [item["cnpj"] for item in reply.body["data"]]
    assert await db.fetchval("SELECT count(*) FROM external_company WHERE cnpj = $1", alphanumeric)


async def test_result_item_shows_contacts(api: FallbackApi) -> None:
    reply = await api.search()

    item = next(i for i in reply.body["data"] if i["cnpj"] == COMPANIES[0]["cnpj"])
    assert item["phones"] == [
        {"number": "+559532241000", "kind": "landline", "shared": False},
        {"number": "+5595991230001", "kind": "mobile", "shared": False},
    ]
    assert item["email"] == {"address": "contato@tecrr1.com.br", "valid": True, "shared": False}
    assert item["registration_status"] == {"code": "02", "description": "ATIVA"}
    assert item["address"]["municipality"]["ibge_code"] == BOA_VISTA
    assert item["address"]["cep"] == "69301000"


# --- the caching rule -------------------------------------------------------------


async def test_repeated_search_makes_no_new_call(api: FallbackApi, fake: FakeApiCnaes) -> None:
    first = await api.search()
    again = await api.search()

    assert again.body == first.body
    assert fake.calls["search"] == 1


async def test_pages_and_filters_reuse_stored_rows(api: FallbackApi, fake: FakeApiCnaes) -> None:
    first = await api.search(per_page=2)
    pages = [first] + [await api.search(per_page=2, page=n) for n in (2, 3)]
    baixada = await api.search(registration_status=["BAIXADA"])

    assert fake.calls["search"] == 1
    for number, page in enumerate(pages, start=1):
        assert page.body["meta"]["page"] == number
        assert page.body["meta"]["total_items"] == ACTIVE
        assert page.body["meta"]["total_pages"] == 3
        assert page.body["meta"]["source"] == "api-cnaes"
    assert [item["cnpj"] for page in pages for item in page.body["data"]] == ACTIVE_CNPJS
    assert [item["cnpj"] for item in baixada.body["data"]] == [COMPANIES[-1]["cnpj"]]


async def test_page_past_the_end_rejected(api: FallbackApi) -> None:
    reply = await api.search(per_page=2, page=4)

    assert reply.status == 400
    assert reply.body["code"] == "page_out_of_range"


async def test_explicit_source_uses_stored_rows(api: FallbackApi, fake: FakeApiCnaes) -> None:
    explicit = await api.search(source="api-cnaes")
    again = await api.search(source="api-cnaes")

    assert explicit.body["meta"]["source"] == "api-cnaes"
    assert again.body == explicit.body
    assert fake.calls["search"] == 1


async def test_local_source_never_calls(api: FallbackApi, fake: FakeApiCnaes) -> None:
    reply = await api.search(source="local")

    assert reply.status == 200
    assert reply.body["meta"]["source"] == "local"
    assert reply.body["meta"]["total_items"] == 0
    assert fake.calls["search"] == 0


async def test_local_results_win_in_auto(
    api: FallbackApi, fake: FakeApiCnaes, db: asyncpg.Connection
) -> None:
    local = await insert_local_establishment(db, 1)

    reply = await api.search()

    assert reply.body["meta"]["source"] == "local"
    assert [item["cnpj"] for item in reply.body["data"]] == [local]
    assert fake.calls["search"] == 0


async def test_invalid_source_rejected(api: FallbackApi) -> None:
    reply = await api.search(source="receita")

    assert reply.status == 400
    assert reply.body["code"] == "invalid_field"
    assert reply.body["field"] == "source"


async def test_expired_search_calls_again(
    settings: Settings, fake: FakeApiCnaes, db: asyncpg.Connection, clean_cache: None
) -> None:
    now = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    times = [now, now + dt.timedelta(minutes=59), now + dt.timedelta(minutes=61)]
    criteria = SearchCriteria.create(cnaes=[CNAE], uf=UF)

    async with started_container(api_cnaes_settings(settings, fake.base_url)) as container:
        search = SearchPreLeads(
            await provide(container.company_queries),
            await provide(container.company_source),
            await provide(container.external_companies),
            search_ttl=dt.timedelta(hours=1),
            clock=lambda: times[0],
        )
        calls = []
        for moment in list(times):
            times[0] = moment
            page = await search(criteria, PageRequest(1, 50))
            calls.append(fake.calls["search"])

    assert page.total_items == ACTIVE
    assert calls == [1, 1, 2]


async def test_fetch_stops_at_cap_with_warning(
    settings: Settings, db: asyncpg.Connection, clean_cache: None
) -> None:
    many = [api_company(n) for n in range(1, 251)]
    criteria = SearchCriteria.create(cnaes=[CNAE], uf=UF)

    async with FakeApiCnaes(many) as server:
        async with started_container(api_cnaes_settings(settings, server.base_url)) as container:
            search = SearchPreLeads(
                await provide(container.company_queries),
                await provide(container.company_source),
                await provide(container.external_companies),
                max_fetched=150,
            )
            page = await search(criteria, PageRequest(1, 50), None, SearchSource.AUTO)
        calls = server.calls["search"]

    assert calls == 2
    assert page.total_items == 150
    assert page.source == "api-cnaes"
    assert [warning.code for warning in page.warnings] == ["api_cnaes_partial"]
    assert "250" in page.warnings[0].message


# --- failures and the switched-off source ---------------------------------------------


FAULTS = {
    "server_error": (Fault(status=503, code="unavailable"), "api_cnaes_failed"),
    "rate_limited": (Fault(status=429, code="too_many_requests"), "api_cnaes_rate_limited"),
    "timeout": (Fault(delay_seconds=1.5), "api_cnaes_timeout"),
}


@pytest.mark.parametrize("fault_name", sorted(FAULTS))
async def test_failure_answers_local_with_warning(
    api: FallbackApi, fake: FakeApiCnaes, db: asyncpg.Connection, fault_name: str
) -> None:
    fault, code = FAULTS[fault_name]
    fake.always("search", fault)

    reply = await api.search()

    assert reply.status == 200
    assert reply.body["meta"]["source"] == "local"
    assert reply.body["meta"]["total_items"] == 0
    assert [warning["code"] for warning in reply.body["meta"]["warnings"]] == [code]
    assert "base local" in reply.body["meta"]["warnings"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM external_search") == 0


async def test_failure_keeps_local_rows(
    api: FallbackApi, fake: FakeApiCnaes, db: asyncpg.Connection
) -> None:
    local = await insert_local_establishment(db, 2)
    fake.always("search", Fault(status=500))

    reply = await api.search(source="api-cnaes")

    assert reply.status == 200
    assert reply.body["meta"]["source"] == "local"
    assert [item["cnpj"] for item in reply.body["data"]] == [local]
    assert [w["code"] for w in reply.body["meta"]["warnings"]] == ["api_cnaes_failed"]


async def test_unreachable_source_warns_unavailable(
    aiohttp_client: AiohttpClient, settings: Settings, db: asyncpg.Connection, clean_cache: None
) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}"
    api = await start_api(aiohttp_client, api_cnaes_settings(settings, unreachable))

    reply = await api.search()

    assert reply.status == 200
    assert [w["code"] for w in reply.body["meta"]["warnings"]] == ["api_cnaes_unavailable"]


async def test_open_breaker_warns_unavailable(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    fake: FakeApiCnaes,
    db: asyncpg.Connection,
    clean_cache: None,
) -> None:
    api = await start_api(
        aiohttp_client, api_cnaes_settings(settings, fake.base_url, api_cnaes_breaker_failures=1)
    )
    fake.always("search", Fault(status=502))

    failed = await api.search()
    refused = await api.search()

    assert [w["code"] for w in failed.body["meta"]["warnings"]] == ["api_cnaes_failed"]
    assert [w["code"] for w in refused.body["meta"]["warnings"]] == ["api_cnaes_unavailable"]
    assert fake.calls["search"] == 1


async def test_switched_off_explicit_source_conflict(
    aiohttp_client: AiohttpClient, settings: Settings, db: asyncpg.Connection
) -> None:
    api = await start_api(aiohttp_client, attrs.evolve(settings, api_cnaes_url=None))

    reply = await api.search(source="api-cnaes")

    assert reply.status == 409
    assert reply.body["code"] == "api_cnaes_off"
    assert reply.body["field"] == "source"
    assert "API_CNAES_URL" in reply.body["detail"]


async def test_switched_off_auto_stays_local(
    aiohttp_client: AiohttpClient, settings: Settings, db: asyncpg.Connection
) -> None:
    api = await start_api(aiohttp_client, attrs.evolve(settings, api_cnaes_url=None))

    reply = await api.search()

    assert reply.status == 200
    assert reply.body["meta"]["source"] == "local"
    assert reply.body["meta"]["warnings"] == []


# --- one company by CNPJ ------------------------------------------------------------------


async def test_company_fetched_and_stored(
    api: FallbackApi, fake: FakeApiCnaes, db: asyncpg.Connection
) -> None:
    cnpj = COMPANIES[2]["cnpj"]

    first = await api.company(cnpj)
    again = await api.company(cnpj)

    assert first.status == 200
    assert first.body["data"]["source"] == "api-cnaes"
    assert first.body["data"]["cnpj"] == cnpj
    assert first.body["data"]["partners"] == []
    assert again.body == first.body
    assert fake.calls["get"] == 1
    assert await db.fetchval("SELECT source FROM external_company WHERE cnpj = $1", cnpj) == (
        "api-cnaes"
    )


async def test_company_local_first(
    api: FallbackApi, fake: FakeApiCnaes, db: asyncpg.Connection
) -> None:
    local = await insert_local_establishment(db, 3)

    reply = await api.company(local)

    assert reply.body["data"]["source"] == "local"
    assert fake.calls["get"] == 0


async def test_company_unknown_everywhere_404(api: FallbackApi, fake: FakeApiCnaes) -> None:
    reply = await api.company(make_cnpj(777_777))

    assert reply.status == 404
    assert reply.body["code"] == "company_not_found"
    assert fake.calls["get"] == 1


async def test_company_source_failure_503(api: FallbackApi, fake: FakeApiCnaes) -> None:
    fake.always("get", Fault(status=503))

    reply = await api.company(COMPANIES[3]["cnpj"])

    assert reply.status == 503
    assert reply.body["code"] == "api_cnaes_unavailable"


async def test_company_switched_off_404(
    aiohttp_client: AiohttpClient, settings: Settings, db: asyncpg.Connection
) -> None:
    api = await start_api(aiohttp_client, attrs.evolve(settings, api_cnaes_url=None))

    reply = await api.company(COMPANIES[0]["cnpj"])

    assert reply.status == 404
    assert reply.body["code"] == "company_not_found"
