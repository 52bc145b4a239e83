"""Benchmark: ingest a generated month end to end, then time pre-lead searches on it.

Usage::

    .venv/bin/python scripts/benchmark_ingest.py --establishments 1000000

It generates the month once (kept under ``var/bench/``), loads it into a
fresh database on the server of ``BENCH_ADMIN_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) and prints one JSON object:
source rows per second, peak RSS of this process, the time of each phase and
search p50/p95. The ingestion time covers reading, normalising, loading, index
builds and the schema switch; it excludes generating the files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from adapters.postgres.database import migrate, raw_connection  # noqa: E402
from adapters.receita.synthetic import generate_month  # noqa: E402
from domain.search import PageRequest, SearchCriteria  # noqa: E402
from entrypoints.container import build_container, provide  # noqa: E402
from entrypoints.logging import configure_logging  # noqa: E402
from entrypoints.progress import LogProgress  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402


class RssSampler:
    """Sample this process's resident set every ``interval`` seconds, to show it stays flat."""

    def __init__(self, interval: float = 0.5) -> None:
        self.samples: list[tuple[float, int]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.wait(self._interval):
            self.samples.append((time.perf_counter() - started, _current_rss()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _current_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _search_latencies(container, queries: int, seed: int) -> dict[str, float]:
    """Time page 1 of 50 with its count for CNAE + UF + municipality triples drawn from the data."""
    engine = await provide(container.engine)
    async with raw_connection(engine) as conn:
        # Draw establishments at random and search for their own CNAE and
        # municipality, so query sizes follow the data's distribution.
        rows = await conn.fetch(
            """
            SELECT cnae_primary, uf, ibge_code FROM registry.establishment TABLESAMPLE SYSTEM (1)
            WHERE registration_status = '02' AND ibge_code IS NOT NULL LIMIT $1
            """,
            queries * 4,
        )
    rng = random.Random(seed)
    picks = rng.sample(list(rows), min(queries, len(rows)))
    search = await provide(container.search_preleads)
    page = PageRequest(1, 50)

    # Warm the connection pool and the catalog caches before timing.
    for row in picks[:5]:
        criteria = SearchCriteria.create(
            cnaes=[row["cnae_primary"]], uf=row["uf"], municipalities=[row["ibge_code"]]
        )
        await search(criteria, page)

    latencies: list[float] = []
    totals: list[int] = []
    for row in picks:
        criteria = SearchCriteria.create(
            cnaes=[row["cnae_primary"]], uf=row["uf"], municipalities=[row["ibge_code"]]
        )
        started = time.perf_counter()
        result = await search(criteria, page)
        latencies.append((time.perf_counter() - started) * 1000)
        totals.append(result.total_items)

    latencies.sort()
    return {
        "queries": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2),
        "max_ms": round(latencies[-1], 2),
        "median_total_items": int(statistics.median(totals)),
        "max_total_items": max(totals),
    }


async def _bare_copy_seconds(database_url: str, month_dir: Path) -> float:
    """Time plain COPY of the four fact files into unindexed all-text tables.

    This is the floor any loader of this dump pays: PostgreSQL parsing the CSV
    and writing heap pages, with no normalisation, keys or indexes.
    """
    from adapters.receita.columns import SOURCE_COLUMNS
    from adapters.receita.files import discover

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE SCHEMA bare")
        for kind, columns in SOURCE_COLUMNS.items():
            await conn.execute(
                f"CREATE TABLE bare.{kind.value} ({', '.join(c + ' text' for c in columns)})"
            )
        files = [f for f in discover(month_dir).files if not f.kind.is_lookup]
        started = time.perf_counter()
        for dump_file in files:
            stream = dump_file.open_binary()
            try:
                await conn.copy_to_table(
                    dump_file.kind.value,
                    schema_name="bare",
                    source=_AsyncReader(stream),
                    format="csv",
                    delimiter=";",
                    encoding="LATIN1",
                )
            finally:
                stream.close()
        return time.perf_counter() - started
    finally:
        await conn.execute("DROP SCHEMA IF EXISTS bare CASCADE")
        await conn.close()


class _AsyncReader:
    """Feed a blocking binary stream to COPY in 1 MiB pieces."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def __aiter__(self) -> _AsyncReader:
        return self

    async def __anext__(self) -> bytes:
        piece = await asyncio.to_thread(self._stream.read, 1 << 20)
        if not piece:
            raise StopAsyncIteration
        return piece


async def _run(args: argparse.Namespace) -> dict[str, object]:
    month_dir = REPO_ROOT / "var" / "bench" / f"{args.establishments}-{args.seed}"
    generated_seconds = None
    if not (month_dir / "tabmun.csv").exists():
        started = time.perf_counter()
        generate_month(month_dir, args.establishments, seed=args.seed, zipped=not args.plain)
        generated_seconds = round(time.perf_counter() - started, 1)

    database = f"garimpo_bench_{uuid.uuid4().hex[:8]}"
    admin_url = args.admin_url
    base = admin_url.rsplit("/", 1)[0]
    await _admin(admin_url, f'CREATE DATABASE "{database}"')
    database_url = f"{base}/{database}"
    try:
        await asyncio.to_thread(migrate, database_url, app_role="garimpo_app")
        settings = Settings(
            database_url=database_url,
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            var_dir=REPO_ROOT / "var",
            log_format="json",
            ingest_unlogged=args.unlogged,
            ingest_chunk_bytes=args.chunk_mib * 1024 * 1024,
        )
        container = build_container(settings)
        await container.init_resources()
        try:
            ingest = await provide(container.ingest_month)
            with RssSampler() as sampler:
                started = time.perf_counter()
                summary = await ingest(str(month_dir), LogProgress(interval=30), fresh=True)
                ingest_seconds = time.perf_counter() - started
            search = await _search_latencies(container, args.queries, args.seed)
            bare_copy = await _bare_copy_seconds(database_url, month_dir) if args.baseline else None
            engine = await provide(container.engine)
            async with raw_connection(engine) as conn:
                timings = await conn.fetchval(
                    "SELECT summary->'finalize_seconds' FROM ingestion.run WHERE id = $1::uuid",
                    summary.run_id,
                )
        finally:
            await container.shutdown_resources()
    finally:
        if not args.keep_database:
            await _admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    totals = summary.totals()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "establishments": args.establishments,
        "source_rows": totals.rows_read,
        "rows_loaded": totals.rows_loaded,
        "generate_seconds": generated_seconds,
        "ingest_seconds": round(ingest_seconds, 2),
        "rows_per_second": round(totals.rows_read / ingest_seconds),
        "finalize_seconds": json.loads(timings) if isinstance(timings, str) else timings,
        "bare_copy_seconds": round(bare_copy, 2) if bare_copy is not None else None,
        "ingest_to_bare_copy_ratio": round(ingest_seconds / bare_copy, 2) if bare_copy else None,
        "peak_rss_mib": round(peak / 2**20, 1),
        "rss_mib_at_quarters": [
            round(sampler.samples[int(len(sampler.samples) * q / 4) - 1][1] / 2**20, 1)
            for q in (1, 2, 3, 4)
        ]
        if sampler.samples
        else [],
        "unlogged": args.unlogged,
        "chunk_mib": args.chunk_mib,
        "search": search,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--establishments", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--chunk-mib", type=int, default=4)
    parser.add_argument("--unlogged", action="store_true", help="load into UNLOGGED tables")
    parser.add_argument("--plain", action="store_true", help="generate plain CSVs, not zips")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time bare COPY of the fact files into unindexed text tables",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    print(json.dumps(asyncio.run(_run(args)), indent=2))


if __name__ == "__main__":
    main()
