"""Kill ``garimpo ingest`` mid-run with SIGKILL, run it again, and check it resumes exactly.

The month is synthetic (30,000 establishments in plain files, with the
generator's broken records), so with 64 KiB chunks every large file spans
several chunks and the kill lands inside the load. Each wait is bounded, and
the subprocess is killed on every exit path.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.receita.synthetic import GeneratedMonth, generate_month
from tests.support.registry_digest import registry_digests

REPO_ROOT = Path(__file__).resolve().parents[2]

ESTABLISHMENTS = 30_000


#: Registry table filled by each generator file kind.
TABLE_FOR_GENERATED = {
    "companies": "company",
    "establishments": "establishment",
    "partners": "partner",
    "simples": "simples",
}

#: Chunks the first run must commit before it is killed: past the lookup
#: files (one chunk each), inside the large ones.
CHUNKS_BEFORE_KILL = 12

#: Upper bound of every wait on the subprocess, in seconds.
TIMEOUT = 90


@pytest.fixture
def generated(tmp_path: Path) -> GeneratedMonth:
    return generate_month(tmp_path / "month", ESTABLISHMENTS, seed=11, zipped=False, faults=True)


@pytest.fixture
def cli_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "INGEST_CHUNK_BYTES": "65536",
            "LOG_FORMAT": "json",
            "GARIMPO_VAR_DIR": str(tmp_path / "var"),
            # Earlier tests may have published any month, and the size guard is not under test.
            "INGEST_MIN_RATIO": "0",
        }
    )
    return env


def ingest_command(source: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "entrypoints.cli", "ingest", str(source), *flags]


@pytest.fixture
def started_ingestion(
    generated: GeneratedMonth, cli_env: dict[str, str], tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``garimpo ingest`` subprocess, killed at teardown if it still runs."""
    with (tmp_path / "first.out").open("wb") as out, (tmp_path / "first.err").open("wb") as err:
        process = subprocess.Popen(
            ingest_command(generated.directory),
            env=cli_env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=err,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=TIMEOUT)


def run_cli(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run the CLI to completion and return its ``--json`` summary."""
    finished = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, timeout=TIMEOUT, check=False
    )
    assert finished.returncode == 0, finished.stderr.decode(errors="replace")[-3000:]
    summary: dict[str, Any] = json.loads(finished.stdout)
    return summary


async def wait_for_chunks(
    conn: asyncpg.Connection, process: subprocess.Popen[bytes], source: str
) -> str:
    """Wait until the run of ``source`` has committed enough chunks and return its run id."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the ingestion finished before it could be interrupted"
        row = await conn.fetchrow(
            """
            SELECT r.id::text AS run_id, count(c.*) AS chunks
            FROM ingestion.run r LEFT JOIN ingestion.chunk c ON c.run_id = r.id
            WHERE r.source = $1 AND r.status = 'running'
            GROUP BY r.id
            """,
            source,
        )
        if row is not None and row["chunks"] >= CHUNKS_BEFORE_KILL:
            return str(row["run_id"])
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {CHUNKS_BEFORE_KILL} chunks committed within {TIMEOUT} s")


async def wait_for_lock_release(conn: asyncpg.Connection) -> None:
    """Wait until PostgreSQL has ended the killed process's session and its advisory lock."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        if held == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the killed ingestion still held its lock after {TIMEOUT} s")


def totals_by_kind(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for counts in summary["files"]:
        for field in ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate"):
            totals[counts["kind"]][field] += counts[field]
    return totals


async def test_killed_ingest_resumes(
    generated: GeneratedMonth,
    started_ingestion: subprocess.Popen[bytes],
    cli_env: dict[str, str],
    database_url: str,
) -> None:
    source = str(generated.directory.resolve())
    conn = await asyncpg.connect(database_url)
    try:
        run_id = await wait_for_chunks(conn, started_ingestion, source)
        started_ingestion.kill()
        started_ingestion.wait(timeout=TIMEOUT)
        await wait_for_lock_release(conn)
        interrupted = await conn.fetchrow(
            "SELECT status, (SELECT count(*) FROM ingestion.chunk WHERE run_id = $1::uuid) AS chunks "
            "FROM ingestion.run WHERE id = $1::uuid",
            run_id,
        )
        total_files = len(generated.files) - 1  # tabmun.csv is not a dump file

        resumed = run_cli(ingest_command(generated.directory, "--json"), cli_env)
        resumed_digests = await registry_digests(conn)
        resumed_run = await conn.fetchrow(
            "SELECT status, (SELECT count(*) FROM ingestion.chunk WHERE run_id = $1::uuid) AS chunks "
            "FROM ingestion.run WHERE id = $1::uuid",
            run_id,
        )
        quarantined = await conn.fetchval(
            "SELECT count(*) FROM ingestion.quarantine WHERE run_id = $1::uuid", run_id
        )

        clean = run_cli(ingest_command(generated.directory, "--fresh", "--json"), cli_env)
        clean_digests = await registry_digests(conn)
    finally:
        await conn.close()

    assert started_ingestion.returncode == -9
    assert interrupted["status"] == "running"
    assert interrupted["chunks"] >= CHUNKS_BEFORE_KILL
    assert resumed["resumed"] is True
    assert resumed["run_id"] == run_id
    assert len(resumed["files"]) == total_files
    assert resumed_run["status"] == "completed"
    assert resumed_run["chunks"] > interrupted["chunks"]

    totals = totals_by_kind(resumed)
    assert quarantined == sum(kind["rows_quarantined"] for kind in totals.values())
    assert totals["establishment"]["rows_quarantined"] >= 1
    assert totals["establishment"]["rows_duplicate"] >= 1
    for generated_kind, table in TABLE_FOR_GENERATED.items():
        kind_totals = totals[table]
        assert kind_totals["rows_read"] == generated.rows[generated_kind], table
        expected_rows = (
            generated.rows[generated_kind]
            - kind_totals["rows_quarantined"]
            - kind_totals["rows_duplicate"]
        )
        assert resumed_digests[table][0] == expected_rows, table
        assert kind_totals["rows_loaded"] == expected_rows, table

    assert clean["resumed"] is False
    assert clean["run_id"] != run_id
    assert clean["files"] == resumed["files"]
    assert clean_digests == resumed_digests
