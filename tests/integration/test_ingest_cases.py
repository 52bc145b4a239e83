"""Ingest tiny hand-written dumps into the real PostgreSQL and check each format quirk.

Every test writes its own month with ``tests.support.dump_builder``, runs the
``IngestMonth`` use case from the container with ``fresh=True`` and reads the
live registry back. The session shares one database, so each test publishes
its month over the previous test's month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest

from adapters.postgres.database import raw_connection
from adapters.receita.files import discover, recognise_kind
from application.ingestion import IngestionError
from domain.ingestion import FileCounts, FileKind, RunSummary
from domain.search import PageRequest, SearchCriteria
from entrypoints.container import Container, provide
from entrypoints.progress import LogProgress
from entrypoints.settings import Settings
from tests.support.dump_builder import (
    FILE_NAMES,
    company_row,
    encode_record,
    establishment_row,
    partner_row,
    simples_row,
    tesouro_table_bytes,
    write_file,
    write_month,
)
from tests.support.fixtures import started_container
from tests.support.http_server import LocalHttpServer

CNAE_ROWS = [
    ["6204000", "Consultoria em tecnologia da informação"],
    ["4930202", "Transporte rodoviário de carga, exceto produtos perigosos"],
]


# -- helpers ----------------------------------------------------------------


async def ingest(
    container: Container, source: Path, *, force: bool = False, fresh: bool = True
) -> RunSummary:
    use_case = await provide(container.ingest_month)
    return await use_case(str(source), LogProgress(), force=force, fresh=fresh)


async def fetch(container: Container, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with raw_connection(await provide(container.engine)) as conn:
        return await conn.fetch(sql, *args)


async def establishment(container: Container, cnpj: str) -> asyncpg.Record | None:
    rows = await fetch(container, "SELECT * FROM registry.establishment WHERE cnpj = $1", cnpj)
    return rows[0] if rows else None


async def quarantine(container: Container, run_id: str) -> list[asyncpg.Record]:
    return await fetch(
        container,
        "SELECT file_id, line, raw, reason, detail FROM ingestion.quarantine "
        "WHERE run_id = $1::uuid ORDER BY id",
        run_id,
    )


async def search_cnpjs(container: Container, uf: str = "SP", **filters: Any) -> list[str]:
    criteria = SearchCriteria.create(cnaes=["6204000"], uf=uf, **filters)
    search = await provide(container.search_preleads)
    page = await search(criteria, PageRequest(1, 50))
    return [item["cnpj"] for item in page.items]


async def company_detail(container: Container, cnpj: str) -> dict[str, Any]:
    get_company = await provide(container.get_company)
    return await get_company(cnpj)


def counts_of(summary: RunSummary, kind: FileKind) -> FileCounts:
    matching = [counts for counts in summary.files if counts.kind is kind]
    assert len(matching) == 1, f"expected one {kind.value} file, found {matching}"
    return matching[0]


def cnpj_of(row: list[str]) -> str:
    return row[0] + row[1] + row[2]


def month(folder: Path, establishments: Iterable[list[str] | bytes], **others: Any) -> Path:
    """Write a month with these establishments, the CNAE table and any other kinds given."""
    rows: dict[FileKind, Any] = {FileKind.ESTABLISHMENT: establishments, FileKind.CNAE: CNAE_ROWS}
    rows.update({FileKind(kind): kind_rows for kind, kind_rows in others.items()})
    write_month(folder, rows)
    return folder


@pytest.fixture
def tesouro_url(local_http_server: LocalHttpServer, cnpj_data: Path) -> str:
    """URL of the real TOM-to-IBGE table in the Tesouro layout, without Campinas (6291)."""
    body = tesouro_table_bytes(cnpj_data / "lookup" / "tom_siafi_to_ibge.csv", leave_out={"6291"})
    local_http_server.serve_bytes("/tabmun.csv", body, content_type="text/csv")
    return local_http_server.url("/tabmun.csv")


@pytest.fixture
async def mapped_container(settings: Settings, tesouro_url: str) -> AsyncIterator[Container]:
    """A container whose municipality table comes from the local HTTP server."""
    mapped = attrs.evolve(settings, municipality_table_url=tesouro_url)
    async with started_container(mapped) as built:
        yield built


@pytest.fixture
async def strict_container(settings: Settings) -> AsyncIterator[Container]:
    """A container that rejects a month with under half the live month's establishments."""
    async with started_container(attrs.evolve(settings, ingest_min_ratio=0.5)) as built:
        yield built


# -- parsing ----------------------------------------------------------------


async def test_semicolon_in_quoted_field(container: Container, tmp_path: Path) -> None:
    row = establishment_row("20000001", complemento="LOTE 01;QUADRA 73", uf="MT", municipio="9067")
    encoded = encode_record(row)
    assert b'"LOTE 01;QUADRA 73"' in encoded

    summary = await ingest(container, month(tmp_path, [row]))

    loaded = await establishment(container, cnpj_of(row))
    assert loaded is not None
    assert loaded["complement"] == "LOTE 01;QUADRA 73"
    assert loaded["tom_code"] == "9067"
    assert loaded["uf"] == "MT"
    assert loaded["district"] == "CENTRO"
    assert counts_of(summary, FileKind.ESTABLISHMENT).rows_loaded == 1
    assert counts_of(summary, FileKind.ESTABLISHMENT).rows_quarantined == 0


async def test_line_break_in_quoted_field(container: Container, tmp_path: Path) -> None:
    first = establishment_row("20000002")
    broken = establishment_row("20000003", nome_fantasia="SWEET HOME II\nINCORPORADORA")
    last = establishment_row("20000004")
    # A trailing empty line, as in a real delivery.
    rows: list[list[str] | bytes] = [first, broken, last, b"\n"]

    summary = await ingest(container, month(tmp_path, rows))

    counts = counts_of(summary, FileKind.ESTABLISHMENT)
    assert counts.rows_read == 3
    assert counts.rows_loaded == 3
    assert counts.rows_quarantined == 0
    assert counts.rows_duplicate == 0
    assert await quarantine(container, summary.run_id) == []
    loaded = await establishment(container, cnpj_of(broken))
    assert loaded is not None
    assert loaded["trade_name"] == "SWEET HOME II INCORPORADORA"
    after = await establishment(container, cnpj_of(last))
    assert after is not None
    assert after["source_line"] == 3


async def test_latin1_and_nul_bytes(container: Container, tmp_path: Path) -> None:
    accented = establishment_row("20000005", logradouro="SÃO JOSÉ", bairro="VILA NOVA")
    accented_bytes = encode_record(accented)
    assert b'"S\xc3O JOS\xc9"' in accented_bytes
    with_nul = establishment_row("20000006", bairro="VILA NOVA")
    nul_bytes = encode_record(with_nul).replace(b'"VILA NOVA"', b'"VILA\x00 NO\x00VA"')
    assert nul_bytes.count(b"\x00") == 2

    summary = await ingest(container, month(tmp_path, [accented_bytes, nul_bytes]))

    counts = counts_of(summary, FileKind.ESTABLISHMENT)
    assert counts.nul_bytes_removed == 2
    assert counts.rows_loaded == 2
    assert summary.totals().nul_bytes_removed == 2
    decoded = await establishment(container, cnpj_of(accented))
    assert decoded is not None
    assert decoded["street"] == "SÃO JOSÉ"
    cleaned = await establishment(container, cnpj_of(with_nul))
    assert cleaned is not None
    assert cleaned["district"] == "VILA NOVA"


async def test_share_capital_decimal_comma(container: Container, tmp_path: Path) -> None:
    companies = [
        company_row("20000007", capital_social="62200,00"),
        company_row("20000008", capital_social="1061004829,23"),
    ]
    establishments = [establishment_row("20000007"), establishment_row("20000008")]

    await ingest(container, month(tmp_path, establishments, company=companies))

    rows = await fetch(
        container,
        "SELECT cnpj_root, share_capital, quality_flags FROM registry.company ORDER BY cnpj_root",
    )
    capitals = {row["cnpj_root"]: row["share_capital"] for row in rows}
    assert capitals == {"20000007": Decimal("62200.00"), "20000008": Decimal("1061004829.23")}
    assert [list(row["quality_flags"]) for row in rows] == [[], []]
    detail = await company_detail(container, cnpj_of(establishments[0]))
    assert detail["company"]["share_capital"] == "62200.00"


async def test_dates_invalid_and_placeholders(container: Container, tmp_path: Path) -> None:
    typo = establishment_row("20000009", data_inicio_atividade="2021221")
    zero = establishment_row("20000010", data_situacao_cadastral="0")
    zeros = establishment_row("20000011", data_situacao_cadastral="00000000")
    empty = establishment_row("20000012", data_situacao_cadastral="")

    summary = await ingest(container, month(tmp_path, [typo, zero, zeros, empty]))

    assert counts_of(summary, FileKind.ESTABLISHMENT).rows_loaded == 4
    flagged = await establishment(container, cnpj_of(typo))
    assert flagged is not None
    assert flagged["opening_date"] is None
    assert list(flagged["quality_flags"]) == ["invalid_opening_date"]
    assert flagged["status_date"] == dt.date(2020, 1, 1)
    for row in (zero, zeros, empty):
        loaded = await establishment(container, cnpj_of(row))
        assert loaded is not None, cnpj_of(row)
        assert loaded["status_date"] is None, cnpj_of(row)
        assert list(loaded["quality_flags"]) == [], cnpj_of(row)


# -- codes and identifiers --------------------------------------------------


async def test_municipality_tom_to_ibge(mapped_container: Container, tmp_path: Path) -> None:
    sao_paulo = establishment_row("20000013", uf="SP", municipio="7107")
    boa_esperanca = establishment_row("20000014", uf="MT", municipio="1182")
    abroad = establishment_row(
        "20000015",
        uf="EX",
        municipio="9707",
        pais="249",
        nome_cidade_exterior="MIAMI",
        cep="",
    )
    campinas = establishment_row("20000016", uf="SP", municipio="6291")
    rows = [sao_paulo, boa_esperanca, abroad, campinas]

    summary = await ingest(mapped_container, month(tmp_path, rows))

    expected = {
        cnpj_of(sao_paulo): ("SP", "7107", "3550308"),
        cnpj_of(boa_esperanca): ("MT", "1182", "5101837"),
        cnpj_of(abroad): ("EX", "9707", None),
        cnpj_of(campinas): ("SP", "6291", None),
    }
    for cnpj, (uf, tom_code, ibge_code) in expected.items():
        loaded = await establishment(mapped_container, cnpj)
        assert loaded is not None, cnpj
        assert (loaded["uf"], loaded["tom_code"], loaded["ibge_code"]) == (uf, tom_code, ibge_code)
    assert summary.unmapped_municipalities == ("6291",)
    found = await search_cnpjs(mapped_container, municipalities=["3550308"])
    assert found == [cnpj_of(sao_paulo)]


async def test_alphanumeric_cnpj(container: Container, tmp_path: Path) -> None:
    valid = establishment_row("12ABC345", "01DE")
    assert valid[:3] == ["12ABC345", "01DE", "35"]
    wrong_digits = establishment_row("12ABC345", "01DE", cnpj_dv="45")
    all_zeros = ["00000000", "0000", "00", *establishment_row("20000099")[3:]]

    summary = await ingest(container, month(tmp_path, [valid, wrong_digits, all_zeros]))

    counts = counts_of(summary, FileKind.ESTABLISHMENT)
    assert counts.rows_loaded == 1
    assert counts.rows_quarantined == 2
    assert await search_cnpjs(container) == ["12ABC34501DE35"]
    detail = await company_detail(container, "12.ABC.345/01DE-35")
    assert detail["cnpj"] == "12ABC34501DE35"
    assert detail["cnpj_formatted"] == "12.ABC.345/01DE-35"
    rejected = {row["line"]: row["reason"] for row in await quarantine(container, summary.run_id)}
    assert rejected == {2: "invalid_cnpj_check_digits", 3: "invalid_cnpj_check_digits"}


async def test_phone_normalisation(container: Container, tmp_path: Path) -> None:
    mobile = establishment_row("20000017", ddd_1="19", telefone_1="87654321")
    landline = establishment_row("20000018", ddd_1="73", telefone_1="38765432")
    trunk_zeros = establishment_row(
        "20000019", ddd_1="069", telefone_1="32221234", ddd_2="0021", telefone_2="25551234"
    )
    placeholders = establishment_row(
        "20000020", ddd_1="0", telefone_1="0", ddd_2="11", telefone_2="00000000"
    )
    seven_digits = establishment_row("20000021", ddd_1="11", telefone_1="2413270")
    rows = [mobile, landline, trunk_zeros, placeholders, seven_digits]

    await ingest(container, month(tmp_path, rows))

    expected = {
        cnpj_of(mobile): ("+5519987654321", "mobile", None, None),
        cnpj_of(landline): ("+557338765432", "landline", None, None),
        cnpj_of(trunk_zeros): ("+556932221234", "landline", "+552125551234", "landline"),
        cnpj_of(placeholders): (None, None, None, None),
        cnpj_of(seven_digits): ("112413270", "invalid", None, None),
    }
    for cnpj, phones in expected.items():
        loaded = await establishment(container, cnpj)
        assert loaded is not None, cnpj
        stored = (loaded["phone1"], loaded["phone1_kind"], loaded["phone2"], loaded["phone2_kind"])
        assert stored == phones, cnpj


async def test_duplicates_and_key_conflicts(container: Container, tmp_path: Path) -> None:
    repeated = establishment_row("20000022")
    kept = establishment_row("20000023", nome_fantasia="PRIMEIRA")
    conflicting = establishment_row("20000023", nome_fantasia="SEGUNDA")
    establishments = [repeated, repeated, kept, conflicting]
    company = company_row("20000022")
    companies = [company, company, company_row("20000023"), company_row("20000023", porte="05")]
    partner = partner_row("20000022")
    partners = [partner, partner, partner_row("20000022", nome_socio="OUTRA PESSOA")]

    summary = await ingest(
        container, month(tmp_path, establishments, company=companies, partner=partners)
    )

    # Rows read, loaded, quarantined and duplicate, per file.
    expected_counts = {
        FileKind.ESTABLISHMENT: (4, 2, 1, 1),
        FileKind.COMPANY: (4, 2, 1, 1),
        FileKind.PARTNER: (3, 2, 0, 1),
    }
    for kind, (read, loaded, quarantined, duplicate) in expected_counts.items():
        counts = counts_of(summary, kind)
        assert counts.rows_read == read, kind
        assert counts.rows_loaded == loaded, kind
        assert counts.rows_quarantined == quarantined, kind
        assert counts.rows_duplicate == duplicate, kind
    survivor = await establishment(container, cnpj_of(kept))
    assert survivor is not None
    assert survivor["trade_name"] == "PRIMEIRA"
    rejected = await quarantine(container, summary.run_id)
    assert [row["reason"] for row in rejected] == ["duplicate_key", "duplicate_key"]
    assert sorted(row["line"] for row in rejected) == [4, 4]
    chunk_totals = await fetch(
        container,
        "SELECT sum(rows_read) AS read FROM ingestion.chunk WHERE run_id = $1::uuid",
        summary.run_id,
    )
    assert chunk_totals[0]["read"] == 4 + 4 + 3 + len(CNAE_ROWS)


async def test_wrong_column_count(container: Container, tmp_path: Path) -> None:
    good = establishment_row("20000024")
    short = establishment_row("20000025")[:29]
    assert len(short) == 29
    after = establishment_row("20000026")

    summary = await ingest(container, month(tmp_path, [good, short, after]))

    counts = counts_of(summary, FileKind.ESTABLISHMENT)
    assert counts.rows_read == 3
    assert counts.rows_loaded == 2
    assert counts.rows_quarantined == 1
    rejected = await quarantine(container, summary.run_id)
    assert len(rejected) == 1
    assert rejected[0]["reason"] == "wrong_column_count"
    assert rejected[0]["line"] == 2
    assert rejected[0]["raw"] == encode_record(short).decode("latin-1").rstrip("\n")
    loaded = await establishment(container, cnpj_of(after))
    assert loaded is not None
    assert loaded["source_line"] == 3


# -- joins and lookups ------------------------------------------------------


async def test_establishment_without_company(container: Container, tmp_path: Path) -> None:
    orphan = establishment_row("20000027")
    other = company_row("20000028")

    summary = await ingest(container, month(tmp_path, [orphan], company=[other]))

    assert counts_of(summary, FileKind.ESTABLISHMENT).rows_loaded == 1
    assert await search_cnpjs(container) == [cnpj_of(orphan)]
    search = await provide(container.search_preleads)
    page = await search(SearchCriteria.create(cnaes=["6204000"], uf="SP"), PageRequest(1, 50))
    item = page.items[0]
    assert item["legal_name"] is None
    assert item["company_size"] is None
    assert item["share_capital"] is None
    detail = await company_detail(container, cnpj_of(orphan))
    assert detail["company"] is None


async def test_codes_missing_from_lookups(container: Container, tmp_path: Path) -> None:
    row = establishment_row(
        "20000029",
        situacao_cadastral="08",
        motivo_situacao_cadastral="32",
        pais="150",
    )
    lookups = {
        "status_reason": [["00", "SEM MOTIVO"], ["01", "EXTINCAO POR ENCERRAMENTO"]],
        "country": [["105", "BRASIL"], ["249", "ESTADOS UNIDOS"]],
        "partner_qualification": [["49", "Sócio-Administrador"], ["05", "Administrador"]],
    }
    partner = partner_row("20000029", qualificacao_socio="36")

    summary = await ingest(
        container,
        month(tmp_path, [row], company=[company_row("20000029")], partner=[partner], **lookups),
    )

    assert counts_of(summary, FileKind.ESTABLISHMENT).rows_loaded == 1
    assert counts_of(summary, FileKind.PARTNER).rows_loaded == 1
    detail = await company_detail(container, cnpj_of(row))
    assert detail["status_reason"] == {"code": "32", "description": None}
    assert detail["country"] == {"code": "150", "description": None}
    assert len(detail["partners"]) == 1
    assert detail["partners"][0]["qualification"] == {"code": "36", "description": None}
    assert detail["company"]["responsible_qualification"] == {
        "code": "49",
        "description": "Sócio-Administrador",
    }


async def test_file_names_both_schemes(container: Container, tmp_path: Path) -> None:
    assert recognise_kind("Estabelecimentos0.zip") is FileKind.ESTABLISHMENT
    assert recognise_kind("K3241.K03200Y0.D50712.ESTABELE") is FileKind.ESTABLISHMENT
    assert recognise_kind("K3241.K03200Y0.D10612.ESTABELE.zip") is FileKind.ESTABLISHMENT
    assert recognise_kind("F.K03200$Z.D10612.CNAECSV.zip") is FileKind.CNAE
    assert recognise_kind("F.K03200$W.SIMPLES.CSV.D10612.zip") is FileKind.SIMPLES
    assert recognise_kind("K3241.K03200Y0.D10612.EMPRECSV.zip") is FileKind.COMPANY
    assert recognise_kind("Lucro Real.zip") is None

    current = establishment_row("20000030")
    old = establishment_row("20000031", cnae_fiscal_principal="4930202")
    write_file(
        tmp_path, "Estabelecimentos0.zip", [current], member="K3241.K03200Y0.D50712.ESTABELE"
    )
    write_file(
        tmp_path,
        "K3241.K03200Y0.D10612.ESTABELE.zip",
        [old],
        member="K3241.K03200Y0.D10612.ESTABELE",
    )
    write_file(
        tmp_path, "F.K03200$Z.D10612.CNAECSV.zip", CNAE_ROWS, member="F.K03200$Z.D10612.CNAECSV"
    )
    write_file(
        tmp_path,
        "K3241.K03200Y0.D10612.EMPRECSV.zip",
        [company_row("20000031")],
        member="K3241.K03200Y0.D10612.EMPRECSV",
    )

    found = discover(tmp_path)

    assert {(dump_file.name, dump_file.kind) for dump_file in found.files} == {
        ("Estabelecimentos0.zip!K3241.K03200Y0.D50712.ESTABELE", FileKind.ESTABLISHMENT),
        (
            "K3241.K03200Y0.D10612.ESTABELE.zip!K3241.K03200Y0.D10612.ESTABELE",
            FileKind.ESTABLISHMENT,
        ),
        ("F.K03200$Z.D10612.CNAECSV.zip!F.K03200$Z.D10612.CNAECSV", FileKind.CNAE),
        ("K3241.K03200Y0.D10612.EMPRECSV.zip!K3241.K03200Y0.D10612.EMPRECSV", FileKind.COMPANY),
    }
    assert found.skipped == ()

    summary = await ingest(container, tmp_path)

    assert sum(c.rows_loaded for c in summary.files if c.kind is FileKind.ESTABLISHMENT) == 2
    assert await search_cnpjs(container) == [cnpj_of(current)]
    criteria = SearchCriteria.create(cnaes=["4930202"], uf="SP")
    page = await (await provide(container.search_preleads))(criteria, PageRequest(1, 50))
    assert [item["cnpj"] for item in page.items] == [cnpj_of(old)]
    assert page.items[0]["cnae_primary"]["description"] == CNAE_ROWS[1][1]
    assert page.items[0]["legal_name"] == "EMPRESA 20000031 LTDA"


# -- publishing -------------------------------------------------------------


async def test_failed_run_keeps_live_month(container: Container, tmp_path: Path) -> None:
    live_rows = [establishment_row("20000032"), establishment_row("20000033")]
    await ingest(container, month(tmp_path / "good", live_rows))
    broken = tmp_path / "broken"
    write_file(
        broken,
        FILE_NAMES[FileKind.ESTABLISHMENT][1],
        [establishment_row("20000034")[:29], b'"20000035";"0001"\n'],
    )

    with pytest.raises(IngestionError, match="nenhum estabelecimento"):
        await ingest(container, broken)

    assert await search_cnpjs(container) == sorted(cnpj_of(row) for row in live_rows)
    runs = await fetch(
        container, "SELECT status, error FROM ingestion.run WHERE source = $1", str(broken)
    )
    assert [row["status"] for row in runs] == ["failed"]
    assert "nenhum estabelecimento" in runs[0]["error"]


async def test_small_month_needs_force(strict_container: Container, tmp_path: Path) -> None:
    live_rows = [establishment_row(f"2000004{digit}") for digit in range(4)]
    await ingest(strict_container, month(tmp_path / "full", live_rows))
    small = month(tmp_path / "small", [establishment_row("20000050")])

    with pytest.raises(IngestionError, match="--force"):
        await ingest(strict_container, small)

    assert await search_cnpjs(strict_container) == sorted(cnpj_of(row) for row in live_rows)

    await ingest(strict_container, small, force=True)

    assert await search_cnpjs(strict_container) == [cnpj_of(establishment_row("20000050"))]


async def test_forced_rerun_after_rejection(strict_container: Container, tmp_path: Path) -> None:
    live_rows = [establishment_row(f"2000005{digit}") for digit in range(4)]
    await ingest(strict_container, month(tmp_path / "full", live_rows))
    repeated = establishment_row("20000060")
    small = month(tmp_path / "small", [repeated, repeated])
    with pytest.raises(IngestionError, match="--force"):
        await ingest(strict_container, small)

    # The rejection message suggests the same command with --force, and
    # without --fresh that command resumes the rejected run.
    summary = await ingest(strict_container, small, force=True, fresh=False)

    assert summary.resumed is True
    assert await search_cnpjs(strict_container) == [cnpj_of(repeated)]
    counts = counts_of(summary, FileKind.ESTABLISHMENT)
    assert counts.rows_loaded == 1
    assert counts.rows_duplicate == 1


async def test_fresh_run_drops_abandoned_staging(
    strict_container: Container, tmp_path: Path
) -> None:
    live_rows = [establishment_row(f"2000007{digit}") for digit in range(4)]
    await ingest(strict_container, month(tmp_path / "full", live_rows))
    small = month(tmp_path / "small", [establishment_row("20000080")])
    with pytest.raises(IngestionError, match="--force"):
        await ingest(strict_container, small)
    rejected = await fetch(
        strict_container,
        "SELECT staging_schema FROM ingestion.run WHERE source = $1 AND status = 'failed'",
        str(small),
    )
    assert len(rejected) == 1

    # --fresh gives up the rejected run, so nothing can resume it any more.
    await ingest(strict_container, small, force=True)

    left = await fetch(
        strict_container,
        "SELECT nspname FROM pg_namespace WHERE nspname = $1",
        rejected[0]["staging_schema"],
    )
    assert left == []


# -- personal data and shared contacts --------------------------------------


async def test_cpf_masked_in_legal_name(
    container: Container,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cpf = "39053344705"
    companies = [
        company_row("20000051", razao_social=f"MARIA DA SILVA {cpf}", natureza_juridica="2135"),
        company_row("20000052", razao_social="JOAO SOUZA 390.533.447-05", natureza_juridica="2135"),
    ]
    establishments = [establishment_row("20000051"), establishment_row("20000052")]
    simples = [simples_row("20000051", opcao_pelo_mei="S", data_opcao_pelo_mei="20180101")]

    caplog.set_level("DEBUG")
    await ingest(container, month(tmp_path, establishments, company=companies, simples=simples))

    rows = await fetch(
        container, "SELECT cnpj_root, legal_name, legal_name_had_cpf FROM registry.company"
    )
    stored = {row["cnpj_root"]: (row["legal_name"], row["legal_name_had_cpf"]) for row in rows}
    assert stored == {
        "20000051": ("MARIA DA SILVA ***.***.***-**", True),
        "20000052": ("JOAO SOUZA ***.***.***-**", True),
    }
    leaks = await fetch(
        container,
        "SELECT count(*) AS n FROM registry.company c "
        "WHERE c::text LIKE '%' || $1 || '%' OR c::text LIKE '%' || $2 || '%'",
        cpf,
        "390.533.447-05",
    )
    assert leaks[0]["n"] == 0
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "ingestion_started" in logged
    assert cpf not in logged
    assert "390.533.447-05" not in logged


async def test_shared_email_excluded(container: Container, tmp_path: Path) -> None:
    shared = "Contabil@Escritorio.com.br"
    only_shared = [
        establishment_row(f"2000006{digit}", correio_eletronico=shared) for digit in range(3)
    ]
    with_phone = establishment_row(
        "20000063", correio_eletronico=shared, ddd_1="11", telefone_1="32345678"
    )
    own_email = establishment_row("20000064", correio_eletronico="vendas@loja.com.br")
    rows = [*only_shared, with_phone, own_email]

    await ingest(container, month(tmp_path, rows))

    contacts = await fetch(
        container, "SELECT kind, value, establishment_count FROM registry.shared_contact"
    )
    assert [tuple(row) for row in contacts] == [("email", "contabil@escritorio.com.br", 4)]
    assert await search_cnpjs(container) == sorted(cnpj_of(row) for row in rows)
    with_own_contact = await search_cnpjs(container, exclude_shared_contacts=True)
    assert with_own_contact == [cnpj_of(with_phone), cnpj_of(own_email)]
