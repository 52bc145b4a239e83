"""Steps of buscar_preleads.feature.

The background writes a small monthly dump in Receita's layout (latin-1,
every field quoted, ``;`` separated, no header) with the Tesouro municipality
table beside it, ingests it, and every search goes over HTTP to the real app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from domain.cnpj import Cnpj
from domain.ingestion import FileKind
from domain.search import parse_registration_status
from tests.support.dump_builder import (
    TESOURO_NAME_WIDTH,
    company_row,
    establishment_row,
    write_month,
)

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("buscar_preleads.feature")


@attrs.frozen
class Municipality:
    tom_code: str
    name: str
    uf: str
    ibge_code: str
    #: CNPJ of the city hall, the second column of the Tesouro table.
    city_hall_cnpj: str


#: The municipalities the feature names, with their codes in the Tesouro table.
MUNICIPALITIES = {
    "São Paulo": Municipality("7107", "SAO PAULO", "SP", "3550308", "46395000000139"),
    "Campinas": Municipality("6291", "CAMPINAS", "SP", "3509502", "51885242000140"),
}

#: Receita's CNAE table rows for the codes the feature uses.
CNAES = {
    "4781400": "Comércio varejista de artigos do vestuário e acessórios",
    "5611201": "Restaurantes e similares",
}


@attrs.define
class SearchState:
    """State shared by the steps of one scenario: the tenant's key and the last response."""

    api_key: str | None = None
    response: ApiResponse | None = None

    def last_response(self) -> ApiResponse:
        assert self.response is not None, "no search was made in this scenario"
        return self.response

    def received_cnpjs(self) -> list[str]:
        response = self.last_response()
        assert response.status == 200, response.body
        return [item["cnpj"] for item in response.body["data"]]


@pytest.fixture
def search_state() -> SearchState:
    return SearchState()


# --- the dump, in Receita's layout -------------------------------------------


def split_phone(text: str) -> tuple[str, str]:
    """Split ``(11) 3222-1000`` into the area code and number columns."""
    digits = "".join(char for char in text if char.isdigit())
    return digits[:2], digits[2:]


def establishment_fields(row: dict[str, str]) -> list[str]:
    """Build the 30 fields of an Estabelecimentos record from a feature table row."""
    cnpj = Cnpj.parse(row["cnpj"]).value
    municipality = MUNICIPALITIES[row["município"]]
    status = parse_registration_status(row["situação"])
    area_code, phone = split_phone(row["telefone"])
    return establishment_row(
        cnpj[:8],
        cnpj[8:12],
        nome_fantasia=row["nome fantasia"],
        situacao_cadastral=status,
        # Reason 00 is "sem motivo". A BAIXADA usually has 01, "extinção por encerramento".
        motivo_situacao_cadastral="00" if status == "02" else "01",
        cnae_fiscal_principal=row["cnae principal"],
        cnae_fiscal_secundaria=row["cnaes secundários"],
        uf=municipality.uf,
        municipio=municipality.tom_code,
        ddd_1=area_code,
        telefone_1=phone,
        correio_eletronico=row["e-mail"],
    )


def write_dump(folder: Path, rows: list[dict[str, str]]) -> None:
    """Write the month as zips named like Receita's, and tabmun.csv beside them."""
    write_month(
        folder,
        {
            FileKind.ESTABLISHMENT: [establishment_fields(row) for row in rows],
            FileKind.COMPANY: [
                company_row(
                    Cnpj.parse(row["cnpj"]).value[:8],
                    razao_social=f"{row['nome fantasia']} LTDA",
                    capital_social="10000,00",
                )
                for row in rows
            ],
            FileKind.CNAE: [[code, text] for code, text in CNAES.items()],
            FileKind.MUNICIPALITY: [[town.tom_code, town.name] for town in MUNICIPALITIES.values()],
        },
        zipped=True,
    )

    # The Tesouro table: TOM;CNPJ;name padded with spaces;UF;IBGE, no header, CRLF.
    lines = [
        f"{town.tom_code};{town.city_hall_cnpj};{town.name.ljust(TESOURO_NAME_WIDTH)};"
        f"{town.uf};{town.ibge_code}\r\n"
        for town in MUNICIPALITIES.values()
    ]
    (folder / "tabmun.csv").write_bytes("".join(lines).encode("latin-1"))


def table_rows(datatable: list[list[str]]) -> list[dict[str, str]]:
    header, *rows = datatable
    return [dict(zip(header, row, strict=True)) for row in rows]


# --- steps -------------------------------------------------------------------


@given("que a base do CNPJ da Receita contém estes estabelecimentos:")
def dump_ingested(garimpo_api: GarimpoApi, tmp_path: Path, datatable: list[list[str]]) -> None:
    rows = table_rows(datatable)
    folder = tmp_path / "dump"
    write_dump(folder, rows)

    summary = garimpo_api.ingest(folder)

    establishments = [c for c in summary.files if c.kind is FileKind.ESTABLISHMENT]
    assert [c.rows_loaded for c in establishments] == [len(rows)]
    assert sum(c.rows_quarantined for c in summary.files) == 0
    assert summary.unmapped_municipalities == ()


@given(parsers.parse('que o tenant "{name}" tem uma chave de API'))
def tenant_with_key(garimpo_api: GarimpoApi, search_state: SearchState, name: str) -> None:
    search_state.api_key = garimpo_api.create_tenant_with_key(name)


def search(
    garimpo_api: GarimpoApi,
    search_state: SearchState,
    body: dict[str, Any],
    *,
    authenticated: bool = True,
) -> None:
    api_key = search_state.api_key if authenticated else None
    search_state.response = garimpo_api.post_json("/v1/preleads/search", body, api_key=api_key)


@when(parsers.parse('busco pré-leads com CNAE "{cnae}" no município "{ibge}" da UF "{uf}"'))
def search_by_cnae(
    garimpo_api: GarimpoApi, search_state: SearchState, cnae: str, ibge: str, uf: str
) -> None:
    body = {"cnaes": [cnae], "municipio_ibge": [ibge], "uf": uf}
    search(garimpo_api, search_state, body)


@when(
    parsers.parse(
        'busco pré-leads com CNAE "{cnae}" no município "{ibge}" da UF "{uf}", '
        "incluindo CNAEs secundários"
    )
)
def search_with_secondary(
    garimpo_api: GarimpoApi, search_state: SearchState, cnae: str, ibge: str, uf: str
) -> None:
    body = {"cnaes": [cnae], "municipio_ibge": [ibge], "uf": uf, "include_secondary": True}
    search(garimpo_api, search_state, body)


@when(
    parsers.parse(
        'busco pré-leads com CNAE "{cnae}" no município "{ibge}" da UF "{uf}", '
        "excluindo contatos compartilhados"
    )
)
def search_without_shared_contacts(
    garimpo_api: GarimpoApi, search_state: SearchState, cnae: str, ibge: str, uf: str
) -> None:
    body = {
        "cnaes": [cnae],
        "municipio_ibge": [ibge],
        "uf": uf,
        "exclude_shared_contacts": True,
    }
    search(garimpo_api, search_state, body)


@when(
    parsers.parse(
        'busco pré-leads sem chave de API, com CNAE "{cnae}" no município "{ibge}" da UF "{uf}"'
    )
)
def search_without_api_key(
    garimpo_api: GarimpoApi, search_state: SearchState, cnae: str, ibge: str, uf: str
) -> None:
    body = {"cnaes": [cnae], "municipio_ibge": [ibge], "uf": uf}
    search(garimpo_api, search_state, body, authenticated=False)


@then(parsers.parse("recebo {count:d} estabelecimentos"))
def received_count(search_state: SearchState, count: int) -> None:
    response = search_state.last_response()
    assert response.status == 200, response.body
    assert response.content_type == "application/json"
    assert response.body["meta"]["total_items"] == count
    assert len(response.body["data"]) == count


@then("os CNPJs recebidos são, nesta ordem:")
def received_in_order(search_state: SearchState, datatable: list[list[str]]) -> None:
    expected = [Cnpj.parse(row["cnpj"]).value for row in table_rows(datatable)]
    assert search_state.received_cnpjs() == expected


@then(parsers.parse('todos os estabelecimentos recebidos estão ativos no município "{ibge}"'))
def all_active_in_municipality(search_state: SearchState, ibge: str) -> None:
    items = search_state.last_response().body["data"]
    assert items
    for item in items:
        assert item["registration_status"] == {"code": "02", "description": "ATIVA"}, item["cnpj"]
        assert item["address"]["municipality"]["ibge_code"] == ibge, item["cnpj"]


@then(parsers.parse('o resultado inclui o CNPJ "{cnpj}"'))
def result_includes(search_state: SearchState, cnpj: str) -> None:
    assert Cnpj.parse(cnpj).value in search_state.received_cnpjs()


@then(parsers.parse('o resultado não inclui o CNPJ "{cnpj}"'))
def result_excludes(search_state: SearchState, cnpj: str) -> None:
    assert Cnpj.parse(cnpj).value not in search_state.received_cnpjs()


@then(parsers.parse('o estabelecimento "{cnpj}" tem o nome fantasia "{trade_name}"'))
def trade_name_is(search_state: SearchState, cnpj: str, trade_name: str) -> None:
    expected_cnpj = Cnpj.parse(cnpj).value
    items = [
        item for item in search_state.last_response().body["data"] if item["cnpj"] == expected_cnpj
    ]
    assert len(items) == 1
    assert items[0]["trade_name"] == trade_name


@then(parsers.parse('recebo o erro {status:d} com o código "{code}"'))
def error_received(search_state: SearchState, status: int, code: str) -> None:
    response = search_state.last_response()
    assert response.status == status, response.body
    assert response.content_type == "application/problem+json"
    assert response.body["code"] == code
    assert response.body["status"] == status


@then(parsers.parse('o erro aponta o campo "{field}"'))
def error_field(search_state: SearchState, field: str) -> None:
    assert search_state.last_response().body["field"] == field


@then(parsers.parse('o detalhe do erro diz "{text}"'))
def error_detail(search_state: SearchState, text: str) -> None:
    assert text in search_state.last_response().body["detail"]
