"""Ingest the real sample rows of the Receita dump and compare the registry with the files.

The sample folder contains two subfolders: 2,000 random rows per large file of
a recent delivery (``cnpj-data-pipeline``, plain CSVs under mainframe-style
names), and the minha-receita test month, present both as zips and as the
same files extracted. Expected values below were read from those files.
The TOM-to-IBGE table is the real lookup, served in the Tesouro layout by a
local HTTP server.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest
import pytest_asyncio

from adapters.postgres.database import raw_connection
from adapters.postgres.registry_staging import TABLE_FOR_KIND
from domain.ingestion import FileCounts, FileKind, RunSummary
from domain.search import PageRequest, SearchCriteria
from entrypoints.container import Container, build_container, provide
from entrypoints.progress import LogProgress
from entrypoints.settings import Settings
from tests.support.dump_builder import tesouro_table_bytes
from tests.support.http_server import LocalHttpServer
from tests.support.registry_digest import registry_digests

#: Registry tables compared between two ingestions of the same folder.

# One ingestion serves the whole module, so its tests share one event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@attrs.frozen
class IngestedSample:
    source: Path
    summary: RunSummary
    container: Container


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sample(
    database_url: str,
    redis_url: str,
    cnpj_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[IngestedSample]:
    """The whole sample folder ingested once, with the real municipality table."""
    async with LocalHttpServer() as server:
        table = tesouro_table_bytes(cnpj_data / "lookup" / "tom_siafi_to_ibge.csv")
        server.serve_bytes("/tabmun.csv", table, content_type="text/csv")
        # The conftest settings, built here because that fixture lives one test long.
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            var_dir=tmp_path_factory.mktemp("var"),
            log_format="json",
            ingest_chunk_bytes=64 * 1024,
            shared_contact_threshold=3,
            ingest_min_ratio=0.0,
            municipality_table_url=server.url("/tabmun.csv"),
        )
        container = build_container(settings)
        await container.init_resources()
        try:
            source = cnpj_data / "sample"
            summary = await ingest(container, source)
            yield IngestedSample(source=source, summary=summary, container=container)
        finally:
            await container.shutdown_resources()


async def ingest(container: Container, source: Path) -> RunSummary:
    use_case = await provide(container.ingest_month)
    return await use_case(str(source), LogProgress(), fresh=True)


async def fetchrow(container: Container, sql: str, *args: Any) -> asyncpg.Record | None:
    async with raw_connection(await provide(container.engine)) as conn:
        return await conn.fetchrow(sql, *args)


async def establishment(container: Container, cnpj: str) -> asyncpg.Record:
    row = await fetchrow(container, "SELECT * FROM registry.establishment WHERE cnpj = $1", cnpj)
    assert row is not None, f"establishment {cnpj} not loaded"
    return row


async def live_digests(container: Container) -> dict[str, tuple[int, str]]:
    async with raw_connection(await provide(container.engine)) as conn:
        return await registry_digests(conn)


def read_source(source: Path, name: str) -> bytes:
    """Return the bytes of a summary file name: ``path`` or ``path.zip!member``."""
    path, _, member = name.partition("!")
    if not member:
        return (source / path).read_bytes()
    with zipfile.ZipFile(source / path) as archive:
        return archive.read(member)


def count_records(data: bytes) -> int:
    """Count CSV records as a quote-aware reader sees them, blank lines left out."""
    reader = csv.reader(io.StringIO(data.decode("latin-1"), newline=""), delimiter=";")
    return sum(1 for record in reader if record)


def municipality_of(row: asyncpg.Record) -> tuple[str, str, str | None]:
    """Return the UF, the Receita (TOM) code and the IBGE code of an establishment."""
    return row["uf"], row["tom_code"], row["ibge_code"]


def counts_named(summary: RunSummary, name: str) -> FileCounts:
    matching = [counts for counts in summary.files if counts.name == name]
    assert len(matching) == 1, f"expected one file named {name}"
    return matching[0]


# -- establishments ---------------------------------------------------------


async def test_establishment_contact_and_dates(sample: IngestedSample) -> None:
    row = await establishment(sample.container, "13810056000153")

    assert row["phone1"] == "+557734544064"
    assert row["phone1_kind"] == "landline"
    assert row["phone2"] == "+557734542378"
    assert row["phone2_kind"] == "landline"
    assert row["fax"] is None
    assert row["email"] == "serconta@gbi.com.br"
    assert row["email_valid"] is True
    assert row["opening_date"] == dt.date(1985, 11, 22)
    assert row["status_date"] == dt.date(2016, 11, 25)
    assert row["registration_status"] == "08"
    assert row["status_reason_code"] == "01"
    assert row["cnae_primary"] == "4930202"
    assert set(row["cnaes_secondary"]) == {"7711000", "8541400", "8593700", "3811400", "8129000"}
    assert row["trade_name"] == "MISTER - SERVICE"
    assert row["cep"] == "46400000"


async def test_establishment_municipality(sample: IngestedSample) -> None:
    caetite = await establishment(sample.container, "13810056000153")
    sao_paulo = await establishment(sample.container, "44442947000128")
    brasilia = await establishment(sample.container, "33683111000280")

    assert municipality_of(caetite) == ("BA", "3403", "2905206")
    assert municipality_of(sao_paulo) == ("SP", "7107", "3550308")
    assert municipality_of(brasilia) == ("DF", "9701", "5300108")
    assert sample.summary.unmapped_municipalities == ()


async def test_establishment_abroad(sample: IngestedSample) -> None:
    row = await establishment(sample.container, "50296587000104")

    assert row["uf"] == "EX"
    assert row["tom_code"] == "9707"
    assert row["ibge_code"] is None
    assert row["country_code"] == "249"
    assert row["foreign_city"] == "DOVER"
    assert row["email"] == "thiago@nionventures.com"


async def test_email_lower_cased(sample: IngestedSample) -> None:
    row = await establishment(sample.container, "44442947000128")

    assert row["email"] == "asselfis@asselfis.com.br"
    assert row["phone1"] == "+551131247255"
    assert row["complement"] == "SALA 01"
    assert row["opening_date"] == dt.date(2021, 12, 1)


async def test_quirky_fields(sample: IngestedSample) -> None:
    zero_date = await establishment(sample.container, "07163346000150")
    seven_digits = await establishment(sample.container, "02774452000156")
    accented = await establishment(sample.container, "58176029000109")

    assert zero_date["status_date"] is None
    assert list(zero_date["quality_flags"]) == []
    assert seven_digits["phone1"] == "0693422216"
    assert seven_digits["phone1_kind"] == "invalid"
    assert accented["street"] == "SANTO ESTEVÃO"


# -- companies, partners, Simples -------------------------------------------


async def test_company_fields(sample: IngestedSample) -> None:
    plain = await fetchrow(
        sample.container, "SELECT * FROM registry.company WHERE cnpj_root = $1", "41287249"
    )
    with_cpf = await fetchrow(
        sample.container, "SELECT * FROM registry.company WHERE cnpj_root = $1", "41292831"
    )

    assert plain is not None
    assert plain["legal_name"] == "CAMILLE GOMES PEIXOTO"
    assert plain["share_capital"] == Decimal("10000.00")
    assert plain["legal_nature_code"] == "2135"
    assert plain["company_size"] == "01"
    assert with_cpf is not None
    assert with_cpf["legal_name"] == "RAMIRO ROBERTO PERES DA SILVA ***.***.***-**"
    assert with_cpf["legal_name_had_cpf"] is True


async def test_partner_fields(sample: IngestedSample) -> None:
    partner = await fetchrow(
        sample.container, "SELECT * FROM registry.partner WHERE cnpj_root = $1", "17364618"
    )
    company_partner = await fetchrow(
        sample.container, "SELECT * FROM registry.partner WHERE cnpj_root = $1", "04169129"
    )

    assert partner is not None
    assert partner["name"] == "KARIMI PREUSS"
    assert partner["document"] == "***818049**"
    assert partner["qualification_code"] == "49"
    assert partner["entry_date"] == dt.date(2012, 12, 13)
    assert partner["representative_document"] is None
    assert partner["age_range"] == "6"
    assert company_partner is not None
    assert company_partner["name"] == "ABOLICAO PARTICIPACOES SA"
    assert company_partner["document"] == "27824598000190"
    assert company_partner["representative_document"] == "***839507**"
    assert company_partner["representative_name"] == "MAURICIO CORTES SIMOES"


async def test_simples_flags(sample: IngestedSample) -> None:
    opted = await fetchrow(
        sample.container, "SELECT * FROM registry.simples WHERE cnpj_root = $1", "13113070"
    )
    left = await fetchrow(
        sample.container, "SELECT * FROM registry.simples WHERE cnpj_root = $1", "19461103"
    )

    assert opted is not None
    assert opted["simples_opted"] is True
    assert opted["simples_since"] == dt.date(2011, 1, 16)
    assert opted["simples_until"] is None
    assert opted["mei_opted"] is True
    assert left is not None
    assert left["simples_opted"] is False
    assert left["simples_until"] == dt.date(2014, 3, 3)
    assert left["mei_opted"] is False


async def test_company_detail_joined(sample: IngestedSample) -> None:
    get_company = await provide(sample.container.get_company)

    detail = await get_company("33.683.111/0002-80")

    assert detail["trade_name"] == "REGIONAL BRASILIA-DF"
    assert detail["company"]["legal_name"] == "SERVICO FEDERAL DE PROCESSAMENTO DE DADOS (SERPRO)"
    assert detail["company"]["share_capital"] == "1061004829.23"
    assert detail["company"]["legal_nature"] == {"code": "2011", "description": "Empresa Pública"}
    assert len(detail["partners"]) == 6
    assert detail["simples"] == {"opted": True, "since": "2014-01-01", "until": None}
    assert detail["cnae_primary"]["description"] == "Consultoria em tecnologia da informação"
    assert detail["address"]["municipality"]["ibge_code"] == "5300108"


async def test_search_finds_sample_row(sample: IngestedSample) -> None:
    criteria = SearchCriteria.create(cnaes=["6204000"], uf="DF", municipalities=["5300108"])
    search = await provide(sample.container.search_preleads)

    page = await search(criteria, PageRequest(1, 50))

    assert [item["cnpj"] for item in page.items] == ["33683111000280"]


# -- counts -----------------------------------------------------------------


async def test_counts_match_files(sample: IngestedSample) -> None:
    summary = sample.summary
    assert len(summary.files) == 32

    for counts in summary.files:
        expected = count_records(read_source(sample.source, counts.name))
        assert counts.rows_read == expected, counts.name
        assert counts.rows_loaded + counts.rows_quarantined + counts.rows_duplicate == expected
        assert counts.rows_quarantined == 0, counts.name
        assert counts.nul_bytes_removed == 0, counts.name


async def test_counts_match_registry(sample: IngestedSample) -> None:
    loaded: dict[FileKind, int] = defaultdict(int)
    for counts in sample.summary.files:
        loaded[counts.kind] += counts.rows_loaded

    digests = await live_digests(sample.container)

    for kind, table in TABLE_FOR_KIND.items():
        assert digests[table][0] == loaded[kind], table
    assert digests["establishment"][0] == 1601
    assert digests["company"][0] == 2002


async def test_extracted_copies_are_duplicates(sample: IngestedSample) -> None:
    extracted = [c for c in sample.summary.files if c.name.startswith("minha-receita/extracted/")]
    assert len(extracted) == 11

    for copy in extracted:
        base = copy.name.rsplit("/", 1)[-1]
        original = counts_named(sample.summary, f"minha-receita/{base}.zip!{base}")
        assert copy.rows_read == original.rows_read, copy.name
        assert copy.rows_duplicate == copy.rows_read, copy.name
        assert copy.rows_loaded == 0, copy.name
        if not copy.kind.is_lookup:
            # The lookup codes were already loaded from the other subfolder's tables.
            assert original.rows_loaded == original.rows_read, original.name


async def test_skipped_files_listed(sample: IngestedSample) -> None:
    skipped = set(sample.summary.skipped_files)

    assert "minha-receita/Lucro Real.zip" in skipped
    assert "minha-receita/extracted/Imunes e Isentas.csv" in skipped
    assert "minha-receita/tabmun.csv" not in {c.name for c in sample.summary.files}


async def test_rerun_is_idempotent(sample: IngestedSample) -> None:
    before = await live_digests(sample.container)

    again = await ingest(sample.container, sample.source)

    after = await live_digests(sample.container)
    assert again.run_id != sample.summary.run_id
    assert after == before
    assert again.files == sample.summary.files
