"""Benchmark: time to make a selection of N pre-leads and to import N manual leads.

Usage::

    .venv/bin/python scripts/benchmark_selections.py --sizes 100 1000 5000 --repeat 3

It creates a fresh database on the server of ``BENCH_ADMIN_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) and stores the largest size's
companies in ``external_company``, each with a phone and an e-mail, as an
api-cnaes lookup stores them. For each size it then measures, through the use
cases over the API's own pool and application role:

- a first selection of N CNPJs by a new tenant (every pre-lead is new);
- a second selection of the same CNPJs by that tenant (every pre-lead exists);
- a manual import of min(N, 1000) leads, the largest one request takes.

Each number is the median of ``--repeat`` runs, each on a new tenant. It prints
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from adapters.postgres.database import migrate  # noqa: E402
from application.leads import MAX_IMPORT_ROWS, ImportRow, Leads  # noqa: E402
from application.selections import Selections  # noqa: E402
from domain.audit import Actor, ActorType  # noqa: E402
from entrypoints.container import build_container, provide  # noqa: E402
from entrypoints.logging import configure_logging  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.support.companies import store_companies, valid_cnpj  # noqa: E402
from tests.support.identity import create_tenant  # noqa: E402

APP_ROLE = "garimpo_app"
REP = Actor(type=ActorType.SYSTEM, label="benchmark")


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _timed(coroutine: Any) -> float:
    started = time.perf_counter()
    await coroutine
    return time.perf_counter() - started


async def _run(database_url: str, sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    settings = Settings(
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        var_dir=REPO_ROOT / "var",
        log_format="json",
        log_level="WARNING",
        maintenance_interval_seconds=0,
    )
    cnpjs = [valid_cnpj(10_000_000 + number) for number in range(max(sizes))]
    await store_companies(database_url, cnpjs)

    container = build_container(settings)
    await container.init_resources()
    results = []
    try:
        selections: Selections = await provide(container.selections)
        leads: Leads = await provide(container.leads)

        # Warm the pool, the plans and the key derivation.
        warm = await create_tenant(database_url, "Aquecimento")
        await selections.create_from_cnpjs(REP, warm, "aquecimento", cnpjs[:10])

        for size in sizes:
            first, second, imported = [], [], []
            rows = [ImportRow(cnpj=cnpj) for cnpj in cnpjs[: min(size, MAX_IMPORT_ROWS)]]
            for _ in range(repeat):
                tenant = await create_tenant(database_url, f"Benchmark {uuid.uuid4().hex[:6]}")
                first.append(
                    await _timed(selections.create_from_cnpjs(REP, tenant, "1", cnpjs[:size]))
                )
                second.append(
                    await _timed(selections.create_from_cnpjs(REP, tenant, "2", cnpjs[:size]))
                )
                imported.append(await _timed(leads.import_leads(REP, tenant, rows)))
            results.append(
                {
                    "size": size,
                    "first_selection_s": round(statistics.median(first), 3),
                    "repeat_selection_s": round(statistics.median(second), 3),
                    "preleads_per_second": round(size / statistics.median(first)),
                    "import_rows": len(rows),
                    "import_s": round(statistics.median(imported), 3),
                    "imported_leads_per_second": round(len(rows) / statistics.median(imported)),
                }
            )
    finally:
        await container.shutdown_resources()
    return results


async def _main(args: argparse.Namespace) -> None:
    configure_logging("json", "WARNING")
    database = f"garimpo_bench_selections_{uuid.uuid4().hex[:8]}"
    database_url = f"{args.admin_url.rsplit('/', 1)[0]}/{database}"
    await _admin(args.admin_url, f'CREATE DATABASE "{database}"')
    try:
        await asyncio.to_thread(migrate, database_url, app_role=APP_ROLE)
        runs = await _run(database_url, sorted(args.sizes), args.repeat)
    finally:
        await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    print(json.dumps({"machine": machine, "runs": runs}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
