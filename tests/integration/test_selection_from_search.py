"""A selection made from a search freezes the search's results over a real ingested month.

The module ingests a small synthetic month, then compares the selection with
the search it was made from: same CNPJs, same order, and each "no contact"
flag where the registry row has no working phone and no valid e-mail.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest

from adapters.receita.synthetic import generate_month
from entrypoints.container import build_container, provide
from entrypoints.http.server import build_app
from entrypoints.progress import LogProgress
from entrypoints.settings import Settings
from tests.support.api_client import ContractClient

ESTABLISHMENTS = 1500
SEED = 11
SELECTIONS = "/v1/preleads/selections"


@attrs.frozen
class Month:
    key: str
    criteria: dict[str, Any]


async def _load(settings: Settings, dump: Path) -> Month:
    container = build_container(settings)
    await container.init_resources()
    try:
        ingest = await provide(container.ingest_month)
        await ingest(str(dump), LogProgress())
        provisioning = await provide(container.provisioning)
        _tenant_id, key = await provisioning.create_tenant_with_key("Atacado Paulista")
    finally:
        await container.shutdown_resources()

    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT cnae_primary FROM registry.establishment WHERE uf = 'SP' "
            "GROUP BY cnae_primary ORDER BY count(*) DESC, cnae_primary LIMIT 50"
        )
    finally:
        await conn.close()
    statuses = ["ATIVA", "BAIXADA", "INAPTA", "SUSPENSA", "NULA"]
    criteria = {
        "cnaes": [row["cnae_primary"] for row in rows],
        "uf": "SP",
        "registration_status": statuses,
    }
    return Month(key, criteria)


@pytest.fixture(scope="module")
def month(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Month:
    folder = tmp_path_factory.mktemp("selection_search")
    generate_month(folder / "dump", ESTABLISHMENTS, seed=SEED)
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        var_dir=folder / "var",
        ingest_min_ratio=0.0,
    )
    return asyncio.run(_load(settings, folder / "dump"))


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, month: Month) -> ContractClient:
    return ContractClient(await aiohttp_client(build_app(build_container(settings))))


async def _search_all(api: ContractClient, month: Month) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        result = await api.call(
            "POST",
            "/v1/preleads/search",
            month.key,
            {**month.criteria, "page": page, "per_page": 100},
        )
        found += result.body["data"]
        if page >= result.body["meta"]["total_pages"]:
            return found
        page += 1


async def _items(api: ContractClient, month: Month, selection_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        result = await api.call(
            "GET", f"{SELECTIONS}/{selection_id}/items?page={page}&per_page=100", month.key
        )
        items += result.body["data"]
        if page >= result.body["meta"]["total_pages"]:
            return items
        page += 1


async def test_selection_freezes_the_search(
    api: ContractClient, month: Month, settings: Settings
) -> None:
    expected = await _search_all(api, month)
    assert len(expected) > 100, "the month is too small for pages to matter"

    created = await api.call(
        "POST", SELECTIONS, month.key, {"name": "Busca congelada", "search": month.criteria}
    )
    assert created.status == 201
    assert created.data["origin"] == "search"
    assert created.data["criteria"] == month.criteria
    items = await _items(api, month, created.data["id"])

    assert [item["cnpj"] for item in items] == [item["cnpj"] for item in expected]
    assert {item["company"]["source"] for item in items} == {"registry"}

    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        silent = {
            row["cnpj"]
            for row in await conn.fetch(
                "SELECT cnpj FROM registry.establishment WHERE cnpj = ANY($1::text[]) "
                "AND (phone1_kind IN ('mobile', 'landline')) IS NOT TRUE "
                "AND (phone2_kind IN ('mobile', 'landline')) IS NOT TRUE "
                "AND (fax_kind IN ('mobile', 'landline')) IS NOT TRUE "
                "AND email_valid IS NOT TRUE",
                [item["cnpj"] for item in items],
            )
        }
    finally:
        await conn.close()
    flagged = {item["cnpj"] for item in items if "no_contact" in item["flags"]}
    assert flagged == silent
    assert created.data["flag_counts"].get("no_contact", 0) == len(silent)


async def test_limit_takes_the_first_results_in_order(api: ContractClient, month: Month) -> None:
    expected = await _search_all(api, month)

    created = await api.call("POST", SELECTIONS, month.key, {"search": month.criteria, "limit": 7})

    items = await _items(api, month, created.data["id"])
    assert [item["cnpj"] for item in items] == [item["cnpj"] for item in expected[:7]]
    assert created.data["name"].startswith("Seleção de ")


async def test_search_selection_refusals(api: ContractClient, month: Month) -> None:
    paged = await api.call("POST", SELECTIONS, month.key, {"search": {**month.criteria, "page": 2}})
    nothing = await api.call(
        "POST", SELECTIONS, month.key, {"search": {**month.criteria, "share_capital_min": 10**15}}
    )
    bad_cnae = await api.call("POST", SELECTIONS, month.key, {"search": {"cnaes": ["12"]}})
    zero = await api.call("POST", SELECTIONS, month.key, {"search": month.criteria, "limit": 0})
    external = await api.call(
        "POST", SELECTIONS, month.key, {"search": {**month.criteria, "source": "api-cnaes"}}
    )

    assert (paged.status, paged.body["field"]) == (400, "search.page")
    assert (nothing.status, nothing.body["code"]) == (422, "empty_selection")
    assert bad_cnae.status == 400
    assert (zero.status, zero.body["code"]) == (422, "invalid_limit")
    # api-cnaes is not configured here: the selection refuses like the search does.
    assert (external.status, external.body["code"]) == (409, "api_cnaes_off")
