"""Qualification through the API with the sandbox gateway and an in-process worker.

The worker is the real one (Dramatiq threads over Redis, the dispatch
round), on a queue namespace of this test's own. Replies come in through
the API, as the sandbox's users post them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import attrs
import pytest

from adapters.security.personal_data import AesGcmCipher
from domain.audit import Actor, ActorType
from entrypoints.container import Container, build_container, provide, resolve_pii_key
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from entrypoints.worker import QualificationWorker
from tests.support.api_client import ContractClient
from tests.support.companies import store_companies, valid_cnpj
from tests.support.identity import create_api_key, create_tenant
from tests.support.qualification import open_all_hours

HOST = Actor(type=ActorType.SYSTEM, label="teste")


def fresh_block() -> int:
    return uuid.uuid4().int % 90_000_000 // 1000 * 1000 + 1_000_000


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return attrs.evolve(
        settings, qualification_tick_seconds=0.1, worker_threads=4, qualification_lease_seconds=5
    )


@pytest.fixture
async def app_container(fast_settings: Settings) -> AsyncIterator[Container]:
    container = build_container(fast_settings)
    yield container


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> ContractClient:
    return ContractClient(await aiohttp_client(build_app(app_container)))


@pytest.fixture
async def worker(api: ContractClient, app_container: Container) -> AsyncIterator[None]:
    running = QualificationWorker(app_container)
    await running.start()
    yield
    await running.stop()


async def wait_for(check: Callable[[], Any], *, within: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.1)


async def test_sandbox_flow_qualifies_charges_and_releases(
    api: ContractClient,
    app_container: Container,
    fast_settings: Settings,
    worker: None,
) -> None:
    database = fast_settings.database_url
    assert database is not None
    tenant_id = await create_tenant(database, f"Vendas {uuid.uuid4().hex[:6]}")
    _, key = await create_api_key(database, tenant_id)
    await open_all_hours(database, tenant_id, reply_wait_minutes=60)
    credits = await provide(app_container.credits)
    await credits.grant(HOST, tenant_id, 10)

    block = fresh_block()
    cnpjs = [valid_cnpj(block + n) for n in range(4)]
    mobiles = [f"+55419876{block % 10000:04d}{n}" for n in range(4)]
    await store_companies(database, cnpjs, phones=[[m] for m in mobiles])

    selection = await api.call("POST", "/v1/preleads/selections", key, {"cnpjs": cnpjs})
    started = await api.call("POST", f"/v1/preleads/selections/{selection.data['id']}/qualify", key)
    assert started.status == 202, started.body
    job_id = started.data["id"]
    held = await credits.balance(tenant_id)
    assert (held.balance, held.held) == (10, 4)

    async def all_sent() -> bool:
        job = await api.call("GET", f"/v1/jobs/{job_id}", key)
        return job.data["progress"]["sent"] == 4

    await wait_for(all_sent)

    replies = ["Sim, tenho interesse!", "não tenho interesse", "SAIR", "hmm talvez"]
    for mobile, text in zip(mobiles, replies, strict=True):
        answer = await api.call(
            "POST",
            "/v1/qualification/replies",
            key,
            {"channel": "whatsapp", "from": mobile, "body": text},
        )
        assert answer.status == 202, answer.body
        assert answer.data["matched"] is True

    job = await api.call("GET", f"/v1/jobs/{job_id}", key)
    assert job.data["progress"]["classified"] == {
        "qualified": 1,
        "not_interested": 1,
        "opt_out": 1,
    }
    assert job.data["progress"]["in_review"] == 1

    reviews = await api.call("GET", "/v1/qualification/reviews", key)
    assert [item["reply"] for item in reviews.data] == ["hmm talvez"]
    decided = await api.call(
        "POST",
        f"/v1/qualification/reviews/{reviews.data[0]['flow_id']}",
        key,
        {"outcome": "qualified"},
    )
    assert decided.data["outcome"] == "qualified"

    job = await api.call("GET", f"/v1/jobs/{job_id}", key)
    assert job.data["state"] == "finished"
    balance = await credits.balance(tenant_id)
    assert (balance.balance, balance.held) == (8, 0)

    leads = await api.call("GET", "/v1/leads", key)
    assert sorted(lead["cnpj"] for lead in leads.data) == sorted([cnpjs[0], cnpjs[3]])

    cipher = AesGcmCipher(resolve_pii_key(fast_settings))
    conn = await asyncpg.connect(database)
    try:
        listed = await conn.fetchval(
            "SELECT count(*) FROM opt_out WHERE value_hash = $1",
            cipher.lookup_hash("phone", mobiles[2]),
        )
    finally:
        await conn.close()
    # The tenant's list and the global one.
    assert listed == 2
