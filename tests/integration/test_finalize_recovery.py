"""Runs that stop part way through finalize or publish, then run again, keep their counts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import adapters.postgres.registry_staging as registry_staging
from adapters.postgres.database import raw_connection
from domain.ingestion import FileKind, RunSummary
from entrypoints.container import Container, provide
from entrypoints.progress import LogProgress
from tests.support.dump_builder import (
    company_row,
    establishment_row,
    partner_row,
    write_month,
)

CNAE_ROWS = [["6204000", "Consultoria em tecnologia da informação"]]


async def _ingest(container: Container, source: Path, **flags: bool) -> RunSummary:
    use_case = await provide(container.ingest_month)
    return await use_case(str(source), LogProgress(), **flags)


async def _fetch(container: Container, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with raw_connection(await provide(container.engine)) as conn:
        return await conn.fetch(sql, *args)


def _counts(summary: RunSummary, kind: FileKind) -> tuple[int, int, int, int]:
    (counts,) = [c for c in summary.files if c.kind is kind]
    return counts.rows_read, counts.rows_loaded, counts.rows_quarantined, counts.rows_duplicate


async def test_resumed_finalize_keeps_duplicate_counts(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each fact file contains one row repeated word for word.
    repeated = establishment_row("30000001")
    company = company_row("30000001")
    partner = partner_row("30000001")
    write_month(
        tmp_path,
        {
            FileKind.ESTABLISHMENT: [repeated, repeated, establishment_row("30000002")],
            FileKind.COMPANY: [company, company],
            FileKind.PARTNER: [partner, partner],
            FileKind.CNAE: CNAE_ROWS,
        },
    )

    # The process dies at the end of finalize, after every index is built
    # (and so after the duplicates were deleted) but before the result is stored.
    real_counts = registry_staging._table_counts
    calls = 0

    async def dies_once(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("connection lost")
        return await real_counts(conn, schema)

    monkeypatch.setattr(registry_staging, "_table_counts", dies_once)
    with pytest.raises(ConnectionResetError):
        await _ingest(container, tmp_path, fresh=True)

    summary = await _ingest(container, tmp_path)

    assert summary.resumed
    live = await _fetch(container, "SELECT count(*) AS n FROM registry.establishment")
    assert live[0]["n"] == 2
    # read, loaded, quarantined, duplicate
    assert _counts(summary, FileKind.ESTABLISHMENT) == (3, 2, 0, 1)
    assert _counts(summary, FileKind.COMPANY) == (2, 1, 0, 1)
    assert _counts(summary, FileKind.PARTNER) == (2, 1, 0, 1)


async def test_interrupted_drop_keeps_run_completed(container: Container, tmp_path: Path) -> None:
    write_month(
        tmp_path,
        {FileKind.ESTABLISHMENT: [establishment_row("30000011")], FileKind.CNAE: CNAE_ROWS},
    )
    await _ingest(container, tmp_path, fresh=True)

    engine = await provide(container.engine)
    async with raw_connection(engine) as reader, reader.transaction():
        # A search still reading the month that is about to be retired.
        await reader.fetchval("SELECT count(*) FROM registry.establishment")
        reload = asyncio.create_task(_ingest(container, tmp_path, fresh=True))
        async with raw_connection(engine) as watcher:
            for _ in range(200):
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'DROP SCHEMA IF EXISTS registry_retired%'"
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting, "publish never reached the drop of the retired month"
        # The operator presses Ctrl-C while the old month is being dropped.
        reload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reload

    runs = await _fetch(
        container,
        "SELECT r.status FROM registry.snapshot s JOIN ingestion.run r ON r.id = s.run_id",
    )
    assert [r["status"] for r in runs] == ["completed"]

    summary = await _ingest(container, tmp_path, fresh=True)
    assert summary.totals().rows_loaded == 2
