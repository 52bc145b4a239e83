"""Running ingestion again: the same month is not reloaded, another mapping is a new run."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.ingestion import MonthAlreadyLive
from domain.errors import InvalidSearch
from domain.ingestion import FileKind
from domain.search import PageRequest, SearchCriteria
from entrypoints.container import Container, provide
from entrypoints.progress import LogProgress
from tests.support.dump_builder import establishment_row, write_month

SAO_PAULO_TOM = "7107"
SAO_PAULO_IBGE = "3550308"


def _month(folder: Path, table: str | None) -> Path:
    write_month(
        folder,
        {
            FileKind.ESTABLISHMENT: [
                establishment_row("11222333"),
                establishment_row("44555666"),
            ],
            FileKind.CNAE: [["6204000", "Consultoria em tecnologia da informação"]],
            FileKind.MUNICIPALITY: [[SAO_PAULO_TOM, "SAO PAULO"]],
        },
    )
    if table is not None:
        (folder / "tabmun.csv").write_bytes(table.encode("latin-1"))
    return folder


def _tesouro_row(tom: str, ibge: str) -> str:
    return f"{tom};46395000000139;SAO PAULO                                ;SP;{ibge}\r\n"


async def _ingest(container: Container, source: Path, **flags: bool):
    use_case = await provide(container.ingest_month)
    return await use_case(str(source), LogProgress(), **flags)


async def test_same_month_not_reloaded(container: Container, tmp_path: Path) -> None:
    month = _month(tmp_path / "month", _tesouro_row(SAO_PAULO_TOM, SAO_PAULO_IBGE))
    await _ingest(container, month, fresh=True)

    with pytest.raises(MonthAlreadyLive):
        await _ingest(container, month)

    summary = await _ingest(container, month, fresh=True)
    assert summary.totals().rows_loaded > 0


async def test_new_mapping_starts_new_run(container: Container, tmp_path: Path) -> None:
    month = _month(tmp_path / "month", None)
    without_table = await _ingest(container, month, fresh=True)
    assert SAO_PAULO_TOM in without_table.unmapped_municipalities

    (month / "tabmun.csv").write_bytes(
        _tesouro_row(SAO_PAULO_TOM, SAO_PAULO_IBGE).encode("latin-1")
    )
    with_table = await _ingest(container, month)

    assert with_table.run_id != without_table.run_id
    assert with_table.resumed is False
    assert with_table.unmapped_municipalities == ()


async def test_search_unknown_municipality_rejected(container: Container, tmp_path: Path) -> None:
    month = _month(tmp_path / "month", _tesouro_row(SAO_PAULO_TOM, SAO_PAULO_IBGE))
    await _ingest(container, month, fresh=True)
    search = await provide(container.search_preleads)

    found = await search(
        SearchCriteria.create(cnaes=["6204000"], municipalities=[SAO_PAULO_IBGE]),
        PageRequest(1, 50),
    )
    assert found.total_items == 2

    with pytest.raises(InvalidSearch) as rejected:
        await search(
            SearchCriteria.create(cnaes=["6204000"], municipalities=["3509502"]),
            PageRequest(1, 50),
        )
    assert rejected.value.code == "unknown_municipality"
