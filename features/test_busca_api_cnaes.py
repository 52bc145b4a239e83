"""Steps of busca_api_cnaes.feature.

The local registry gets a one-establishment month through the real
ingestion, and api-cnaes is the local fake server on 127.0.0.1. The fake
runs on a thread with its own event loop, because the API fixture's loop
only turns while a step waits on it, and the fake must be listening before
the container that points at it is built.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from domain.cnpj import Cnpj
from domain.ingestion import FileKind
from entrypoints.settings import Settings
from tests.support.dump_builder import (
    TESOURO_NAME_WIDTH,
    company_row,
    establishment_row,
    write_month,
)
from tests.support.fake_api_cnaes import API_KEY, FakeApiCnaes, Fault

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("busca_api_cnaes.feature")

#: São Paulo in the Tesouro table: TOM code, name, UF, IBGE code, city hall CNPJ.
SAO_PAULO = ("7107", "SAO PAULO", "SP", "3550308", "46395000000139")
#: Receita's CNAE table rows the feature uses.
CNAES = {
    "4781400": "Comércio varejista de artigos do vestuário e acessórios",
    "6201501": "Desenvolvimento de programas de computador sob encomenda",
}


class ThreadedFakeApiCnaes:
    """The fake api-cnaes served from a thread of its own until ``close``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.fake = FakeApiCnaes()
        asyncio.run_coroutine_threadsafe(self.fake.__aenter__(), self._loop).result(timeout=10)

    def close(self) -> None:
        stop = self.fake.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stop, self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@attrs.define
class ScenarioState:
    api_key: str | None = None
    response: ApiResponse | None = None

    def last_response(self) -> ApiResponse:
        assert self.response is not None, "no search was made in this scenario"
        return self.response


@pytest.fixture
def api_cnaes() -> Iterator[FakeApiCnaes]:
    served = ThreadedFakeApiCnaes()
    try:
        yield served.fake
    finally:
        served.close()


@pytest.fixture
def garimpo_api(settings: Settings, api_cnaes: FakeApiCnaes) -> Iterator[GarimpoApi]:
    """The API of conftest, with api-cnaes configured to the fake."""
    from conftest import GarimpoApi

    api = GarimpoApi(
        attrs.evolve(
            settings,
            api_cnaes_url=api_cnaes.base_url,
            api_cnaes_key=API_KEY,
            # One attempt per call, so a failing fake fails the call at once.
            api_cnaes_max_retries=0,
        )
    )
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def state() -> ScenarioState:
    return ScenarioState()


def table_rows(datatable: list[list[str]]) -> list[dict[str, str]]:
    header, *rows = datatable
    return [dict(zip(header, row, strict=True)) for row in rows]


def write_dump(folder: Path, rows: list[dict[str, str]]) -> None:
    """Write a month in Receita's layout with the Tesouro municipality table beside it."""
    tom_code, name, uf, ibge_code, city_hall = SAO_PAULO
    cnpjs = [Cnpj.parse(row["cnpj"]).value for row in rows]
    write_month(
        folder,
        {
            FileKind.ESTABLISHMENT: [
                establishment_row(
                    cnpj[:8],
                    cnpj[8:12],
                    nome_fantasia=row["nome fantasia"],
                    situacao_cadastral="02",
                    motivo_situacao_cadastral="00",
                    cnae_fiscal_principal=row["cnae principal"],
                    uf=uf,
                    municipio=tom_code,
                )
                for cnpj, row in zip(cnpjs, rows, strict=True)
            ],
            FileKind.COMPANY: [
                company_row(cnpj[:8], razao_social=f"{row['nome fantasia']} LTDA")
                for cnpj, row in zip(cnpjs, rows, strict=True)
            ],
            FileKind.CNAE: [[code, text] for code, text in CNAES.items()],
            FileKind.MUNICIPALITY: [[tom_code, name]],
        },
        zipped=True,
    )
    line = f"{tom_code};{city_hall};{name.ljust(TESOURO_NAME_WIDTH)};{uf};{ibge_code}\r\n"
    (folder / "tabmun.csv").write_bytes(line.encode("latin-1"))


def api_company(row: dict[str, str]) -> dict[str, Any]:
    """A company as api-cnaes sends it, from a feature table row."""
    digits = re.sub(r"[^0-9]", "", row["telefone"])
    return {
        "cnpj": Cnpj.parse(row["cnpj"]).value,
        "razao_social": row["razão social"],
        "cnae_fiscal": int(row["cnae"]),
        "uf": row["uf"],
        "codigo_municipio_ibge": int(row["município IBGE"]),
        "situacao_cadastral": int(row["situação"]),
        "ddd_telefone_1": digits,
        "email": row["e-mail"] or None,
    }


# --- steps ---------------------------------------------------------------------------


@given("que a base local do CNPJ só tem este estabelecimento:")
def local_month(garimpo_api: GarimpoApi, tmp_path: Path, datatable: list[list[str]]) -> None:
    rows = table_rows(datatable)
    folder = tmp_path / "dump"
    write_dump(folder, rows)

    summary = garimpo_api.ingest(folder)

    loaded = [c.rows_loaded for c in summary.files if c.kind is FileKind.ESTABLISHMENT]
    assert loaded == [len(rows)]


@given("que a api-cnaes está configurada e conhece estas empresas:")
def api_cnaes_companies(
    garimpo_api: GarimpoApi, api_cnaes: FakeApiCnaes, datatable: list[list[str]]
) -> None:
    api_cnaes.companies = [api_company(row) for row in table_rows(datatable)]

    # A test database outlives the scenario, so companies stored by an
    # earlier run must not be returned in place of the fake's.
    garimpo_api.run(_clear_external_tables(garimpo_api))


async def _clear_external_tables(garimpo_api: GarimpoApi) -> None:
    url = garimpo_api.container.settings().database_url
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE external_company, external_search")
    finally:
        await conn.close()


@given(parsers.parse('que o tenant "{name}" tem uma chave de API'))
def tenant_with_key(garimpo_api: GarimpoApi, state: ScenarioState, name: str) -> None:
    state.api_key = garimpo_api.create_tenant_with_key(name)


@given("que a api-cnaes está fora do ar")
def api_cnaes_down(api_cnaes: FakeApiCnaes) -> None:
    api_cnaes.always("search", Fault(status=503, code="unavailable", message="Fora do ar"))


@when(parsers.re(r'busco (de novo )?pré-leads com CNAE "(?P<cnae>\d+)" na UF "(?P<uf>[A-Z]{2})"'))
def search(garimpo_api: GarimpoApi, state: ScenarioState, cnae: str, uf: str) -> None:
    body = {"cnaes": [cnae], "uf": uf}
    state.response = garimpo_api.post_json("/v1/preleads/search", body, api_key=state.api_key)


@then(
    parsers.re(r'a busca devolve (?P<count>\d+) resultados? com origem "(?P<source>[a-z-]+)"'),
    converters={"count": int},
)
def results_from(state: ScenarioState, count: int, source: str) -> None:
    response = state.last_response()
    assert response.status == 200, response.body
    assert response.body["meta"]["source"] == source
    assert response.body["meta"]["total_items"] == count
    assert len(response.body["data"]) == count


def item_of(state: ScenarioState, cnpj: str) -> dict[str, Any]:
    wanted = Cnpj.parse(cnpj).value
    items = [item for item in state.last_response().body["data"] if item["cnpj"] == wanted]
    assert len(items) == 1, f"{wanted} not in the results"
    return items[0]


@then(parsers.parse('o pré-lead "{cnpj}" tem o telefone "{phone}" e o e-mail "{email}"'))
def contacts_with_email(state: ScenarioState, cnpj: str, phone: str, email: str) -> None:
    item = item_of(state, cnpj)
    assert [p["number"] for p in item["phones"]] == [phone]
    assert item["email"]["address"] == email


@then(parsers.parse('o pré-lead "{cnpj}" tem o telefone "{phone}" e nenhum e-mail'))
def contacts_without_email(state: ScenarioState, cnpj: str, phone: str) -> None:
    item = item_of(state, cnpj)
    assert [p["number"] for p in item["phones"]] == [phone]
    assert item["email"] is None


@then(
    parsers.parse(
        'as {count:d} empresas ficam guardadas com a origem "{source}" e a hora da consulta'
    )
)
def companies_stored(
    garimpo_api: GarimpoApi, state: ScenarioState, count: int, source: str
) -> None:
    cnpjs = [item["cnpj"] for item in state.last_response().body["data"]]

    async def stored() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(garimpo_api.container.settings().database_url)
        try:
            return list(
                await conn.fetch(
                    "SELECT cnpj, source, fetched_at FROM external_company "
                    "WHERE cnpj = ANY($1::text[])",
                    cnpjs,
                )
            )
        finally:
            await conn.close()

    rows = garimpo_api.run(stored())
    assert len(rows) == count
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        assert row["source"] == source
        assert now - dt.timedelta(minutes=1) <= row["fetched_at"] <= now


@then("a api-cnaes recebeu uma única busca")
def one_search_call(api_cnaes: FakeApiCnaes) -> None:
    assert api_cnaes.calls["search"] == 1


@then("a api-cnaes não recebeu nenhuma busca")
def no_search_call(api_cnaes: FakeApiCnaes) -> None:
    assert api_cnaes.calls["search"] == 0


@then(parsers.parse('a resposta traz o aviso "{code}"'))
def warning_present(state: ScenarioState, code: str) -> None:
    warnings = state.last_response().body["meta"]["warnings"]
    assert [warning["code"] for warning in warnings] == [code]
    assert warnings[0]["message"]
