"""Load the TOM-to-IBGE table over HTTP from a local server and from files.

The real lookup table is converted at test time into the Tesouro layout
(``;`` separated, no header, CRLF, latin-1, names padded with spaces), which
is the form the Tesouro Nacional publishes.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.receita.municipalities import (
    MunicipalityTableError,
    fetch_municipality_table,
    parse_municipality_table,
)
from domain.municipality import ABROAD, ibge_code_matches_uf
from tests.support.http_server import LocalHttpServer

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cnpj"
LOOKUP_DIR = DATA_DIR / "lookup"
HEADED_TABLE = LOOKUP_DIR / "tom_siafi_to_ibge.csv"
RECEITA_MUNICIPALITIES = LOOKUP_DIR / "rfb_Municipios.csv"

pytestmark = pytest.mark.skipif(
    not DATA_DIR.is_dir(),
    reason=f"CNPJ reference data folder {DATA_DIR} not found; these tests read its lookup tables",
)

#: Width of the name column in the Tesouro file.
TESOURO_NAME_WIDTH = 50

#: Per-state "DEMAIS MUNICIPIOS" rows in the Tesouro list (2026-08 copy).
PLACEHOLDER_ROWS = 19


def tesouro_bytes_from_headed(path: Path) -> bytes:
    """Rewrite the headed lookup CSV in the Tesouro layout, encoded as latin-1."""
    lines = []
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            name = record["nome"].ljust(TESOURO_NAME_WIDTH)
            lines.append(
                f"{record['codigo_tom']};{record['cnpj_prefeitura']};{name};"
                f"{record['uf']};{record['codigo_ibge']}\r\n"
            )
    return "".join(lines).encode("latin-1")


def receita_codes() -> list[str]:
    with RECEITA_MUNICIPALITIES.open(encoding="latin-1", newline="") as handle:
        return [code for code, _name in csv.reader(handle, delimiter=";")]


@pytest.fixture
async def server() -> AsyncIterator[LocalHttpServer]:
    async with LocalHttpServer() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False keeps proxy variables from routing local requests elsewhere.
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http_client:
        yield http_client


async def test_tesouro_table_over_http(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    body = tesouro_bytes_from_headed(HEADED_TABLE)
    assert b"\r\n" in body
    assert b";SAO PAULO" in body
    server.serve_bytes("/tabmun.csv", body, content_type="text/csv")

    mapping = await fetch_municipality_table(server.url("/tabmun.csv"), client)

    assert mapping.ibge_code("7107") == "3550308"
    sao_paulo = mapping.get("7107")
    assert sao_paulo is not None
    assert sao_paulo.name == "SAO PAULO"
    assert sao_paulo.uf == "SP"
    assert mapping.ibge_code("1182") == "5101837"
    assert mapping.get("9707") == ABROAD
    assert mapping.ibge_code("9707") is None
    assert mapping.rejected == ()
    assert mapping.conflicts == ()
    assert len(server.requests_for("GET", "/tabmun.csv")) == 1


async def test_every_receita_code_maps(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_bytes("/tabmun.csv", tesouro_bytes_from_headed(HEADED_TABLE))
    codes = receita_codes()

    mapping = await fetch_municipality_table(server.url("/tabmun.csv"), client)

    assert len(codes) == 5572
    assert mapping.unmapped(codes) == []
    without_ibge = [code for code in codes if mapping.ibge_code(code) is None]
    assert without_ibge == ["9707"]


async def test_placeholder_rows_skipped(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_bytes("/tabmun.csv", tesouro_bytes_from_headed(HEADED_TABLE))

    mapping = await fetch_municipality_table(server.url("/tabmun.csv"), client)

    assert mapping.skipped_placeholders == PLACEHOLDER_ROWS
    # 7108 is the São Paulo placeholder row.
    assert "7108" not in mapping
    assert all(municipality.name != "DEMAIS MUNICIPIOS" for municipality in mapping)
    assert all(municipality.ibge_code != "0" for municipality in mapping)


async def test_ibge_prefix_matches_uf(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_bytes("/tabmun.csv", tesouro_bytes_from_headed(HEADED_TABLE))

    mapping = await fetch_municipality_table(server.url("/tabmun.csv"), client)

    mismatched = [
        municipality
        for municipality in mapping
        if municipality.ibge_code is not None
        and not ibge_code_matches_uf(municipality.ibge_code, municipality.uf)
    ]
    assert mismatched == []


async def test_headed_csv_over_http(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_bytes("/lookup.csv", tesouro_bytes_from_headed(HEADED_TABLE))
    server.serve_bytes("/headed.csv", HEADED_TABLE.read_bytes(), content_type="text/csv")

    from_tesouro = await fetch_municipality_table(server.url("/lookup.csv"), client)
    from_headed = await fetch_municipality_table(server.url("/headed.csv"), client)

    assert from_headed.by_tom == from_tesouro.by_tom
    assert from_headed.skipped_placeholders == PLACEHOLDER_ROWS


async def test_local_file_paths(tmp_path: Path, client: httpx.AsyncClient) -> None:
    tesouro_file = tmp_path / "tabmun.csv"
    tesouro_file.write_bytes(tesouro_bytes_from_headed(HEADED_TABLE))

    from_headed = await fetch_municipality_table(str(HEADED_TABLE), client)
    from_tesouro = await fetch_municipality_table(str(tesouro_file), client)

    assert from_headed.ibge_code("7107") == "3550308"
    assert from_tesouro.by_tom == from_headed.by_tom


async def test_real_tesouro_sample_row(client: httpx.AsyncClient) -> None:
    sample = DATA_DIR / "sample" / "minha-receita" / "tabmun.csv"
    if not sample.is_file():
        pytest.skip(f"{sample} not found")

    mapping = await fetch_municipality_table(str(sample), client)

    assert mapping.ibge_code("9701") == "5300108"
    brasilia = mapping.get("9701")
    assert brasilia is not None
    assert brasilia.name == "BRASILIA"


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
async def test_accented_names_decode(
    tmp_path: Path, client: httpx.AsyncClient, encoding: str
) -> None:
    table = tmp_path / "tabmun.csv"
    name = "SÃO JOÃO D'ALIANÇA".ljust(TESOURO_NAME_WIDTH)
    table.write_bytes(f"9645;01740489000123;{name};GO;5220009\r\n".encode(encoding))

    mapping = await fetch_municipality_table(str(table), client)

    municipality = mapping.get("9645")
    assert municipality is not None
    assert municipality.name == "SÃO JOÃO D'ALIANÇA"


async def test_known_missing_always_merged(tmp_path: Path, client: httpx.AsyncClient) -> None:
    table = tmp_path / "tabmun.csv"
    table.write_bytes(b"7107;46395000000139;SAO PAULO;SP;3550308\r\n")

    mapping = await fetch_municipality_table(str(table), client)

    assert mapping.ibge_code("1182") == "5101837"
    assert "9707" in mapping
    assert len(mapping) == 3


async def test_http_500_raises(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    async def failing(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="internal error")

    server.route("GET", "/tabmun.csv", failing)

    with pytest.raises(MunicipalityTableError) as caught:
        await fetch_municipality_table(server.url("/tabmun.csv"), client)

    assert "HTTP 500" in str(caught.value)
    assert server.url("/tabmun.csv") in str(caught.value)


async def test_http_404_raises(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    with pytest.raises(MunicipalityTableError, match="HTTP 404"):
        await fetch_municipality_table(server.url("/missing.csv"), client)


async def test_empty_body_raises(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_bytes("/tabmun.csv", b"")

    with pytest.raises(MunicipalityTableError, match="empty"):
        await fetch_municipality_table(server.url("/tabmun.csv"), client)


async def test_blank_lines_only_raise(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_bytes("/tabmun.csv", b"\r\n\r\n  \r\n")

    with pytest.raises(MunicipalityTableError, match="empty"):
        await fetch_municipality_table(server.url("/tabmun.csv"), client)


async def test_html_page_raises(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_text("/tabmun.csv", "<!DOCTYPE html><html><body>Manutenção</body></html>")

    with pytest.raises(MunicipalityTableError, match="unrecognised layout"):
        await fetch_municipality_table(server.url("/tabmun.csv"), client)


async def test_headed_csv_missing_column_raises(tmp_path: Path, client: httpx.AsyncClient) -> None:
    table = tmp_path / "table.csv"
    table.write_text("codigo_tom,nome,uf\n7107,SAO PAULO,SP\n", encoding="utf-8")

    with pytest.raises(MunicipalityTableError, match="codigo_ibge"):
        await fetch_municipality_table(str(table), client)


async def test_only_invalid_rows_raise(tmp_path: Path, client: httpx.AsyncClient) -> None:
    table = tmp_path / "tabmun.csv"
    table.write_bytes(b"7107;46395000000139;SAO PAULO;RJ;3550308\r\n")

    with pytest.raises(MunicipalityTableError, match="no valid municipality row"):
        await fetch_municipality_table(str(table), client)


async def test_missing_file_raises(tmp_path: Path, client: httpx.AsyncClient) -> None:
    with pytest.raises(MunicipalityTableError, match="file not found"):
        await fetch_municipality_table(str(tmp_path / "absent.csv"), client)


async def test_unsupported_scheme_raises(client: httpx.AsyncClient) -> None:
    with pytest.raises(MunicipalityTableError, match="unsupported URL scheme 'ftp'"):
        await fetch_municipality_table("ftp://127.0.0.1/tabmun.csv", client)


async def test_refused_connection_raises(client: httpx.AsyncClient) -> None:
    async with LocalHttpServer() as stopped:
        url = stopped.url("/tabmun.csv")

    with pytest.raises(MunicipalityTableError, match="request failed"):
        await fetch_municipality_table(url, client)


def test_malformed_lines_reported() -> None:
    text = (
        "7107;46395000000139;SAO PAULO;SP;3550308\r\n"
        "7108;;DEMAIS MUNICIPIOS;SP\r\n"
        "\r\n"
        "0001;05893631000109;GUAJARA-MIRIM;RO;1100106\r\n"
    )

    parsed = parse_municipality_table(text)

    assert [row.tom_code for row in parsed.rows] == ["7107", "0001"]
    assert parsed.malformed_lines == (2,)
    assert [row.line for row in parsed.rows] == [1, 4]


def test_short_tom_codes_padded() -> None:
    parsed = parse_municipality_table(
        "codigo_tom;nome;uf;codigo_ibge\n1;GUAJARA-MIRIM;ro;1100106\n"
    )

    assert parsed.rows[0].tom_code == "0001"
    assert parsed.rows[0].uf == "RO"
