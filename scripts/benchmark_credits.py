"""Benchmark: captured credits per second, each with its hold, from concurrent clients.

Usage::

    .venv/bin/python scripts/benchmark_credits.py --clients 50 --seconds 10 --tenants 1 10 --hold-batch 1 20

It creates a fresh database on the server of ``BENCH_ADMIN_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), one or more tenants with a
large grant and enough pre-leads, and runs ``--clients`` asyncio clients in
this process. Each client loops: hold credits for ``--hold-batch``
pre-leads in one call (1: a hold call per capture, the worst case; 20: a
qualification start holding its selection at once), then capture each of
them in its own call, through the ``QualificationCredits`` use case over the
API's own connection pool and application role. Clients are spread evenly over the tenants; with one tenant every
operation queues on the same account row lock, which is the worst case.

After each run it audits the ledger and counts anomalies: captures the
clients saw but the ledger lacks (or the reverse), held credits left behind,
gaps or broken chains in the entry numbers, repeated idempotency keys and a
balance that disagrees with its entries. It prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from adapters.postgres.database import migrate  # noqa: E402
from application.credits import Credits, QualificationCredits  # noqa: E402
from domain.audit import Actor, ActorType  # noqa: E402
from domain.credits import CaptureStatus  # noqa: E402
from entrypoints.container import build_container, provide  # noqa: E402
from entrypoints.logging import configure_logging  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.support.credits import create_preleads  # noqa: E402
from tests.support.identity import create_tenant  # noqa: E402

APP_ROLE = "garimpo_app"
WORKER = Actor(type=ActorType.SYSTEM, label="benchmark")


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _client(
    qualification: QualificationCredits,
    tenant: str,
    preleads: list[str],
    deadline: float,
    latencies: list[float],
    hold_batch: int,
) -> int:
    """Hold then capture pre-leads until the deadline; return the captures.

    Holds go ``hold_batch`` pre-leads at a time, as a qualification start
    holds a whole selection in one call; each capture is its own call, as
    each classified reply arrives on its own.
    """
    captured = 0
    for start in range(0, len(preleads), hold_batch):
        if time.perf_counter() >= deadline:
            break
        batch = preleads[start : start + hold_batch]
        started = time.perf_counter()
        await qualification.hold(WORKER, tenant, batch)
        for prelead in batch:
            result = await qualification.capture(WORKER, tenant, prelead)
            if result.status is not CaptureStatus.CAPTURED:
                raise AssertionError(f"capture of {prelead} ended {result.status}")
            captured += 1
        latencies.append((time.perf_counter() - started) / len(batch))
    return captured


async def _audit(database_url: str, tenant: str, captured: int) -> dict[str, int]:
    """Count what is wrong with the tenant's ledger after a run; all zeros is a clean run."""
    conn = await asyncpg.connect(database_url)
    try:
        account = await conn.fetchrow(
            "SELECT balance, held, last_seq FROM credit_account WHERE tenant_id = $1",
            uuid.UUID(tenant),
        )
        stats = await conn.fetchrow(
            """
            SELECT count(*) AS entries,
                   count(*) FILTER (WHERE kind = 'capture') AS captures,
                   count(DISTINCT idempotency_key) AS keys,
                   coalesce(sum(amount), 0) AS amount,
                   coalesce(sum(held_change), 0) AS held_change,
                   min(seq) AS first_seq, max(seq) AS last_seq,
                   count(*) FILTER (WHERE balance_after < 0 OR held_after > balance_after)
                       AS below_zero
              FROM credit_entry WHERE tenant_id = $1
            """,
            uuid.UUID(tenant),
        )
        broken_chain = await conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT balance_before, held_before,
                       lag(balance_after) OVER (ORDER BY seq) AS previous_balance,
                       lag(held_after) OVER (ORDER BY seq) AS previous_held
                  FROM credit_entry WHERE tenant_id = $1
            ) chained
            WHERE previous_balance IS NOT NULL
              AND (balance_before <> previous_balance OR held_before <> previous_held)
            """,
            uuid.UUID(tenant),
        )
    finally:
        await conn.close()
    return {
        "captures_mismatch": abs(stats["captures"] - captured),
        "held_left": account["held"],
        "balance_mismatch": abs(account["balance"] - stats["amount"]),
        "held_mismatch": abs(account["held"] - stats["held_change"]),
        "sequence_gaps": stats["last_seq"] - stats["first_seq"] + 1 - stats["entries"],
        "last_seq_mismatch": abs(account["last_seq"] - stats["last_seq"]),
        "repeated_keys": stats["entries"] - stats["keys"],
        "below_zero": stats["below_zero"],
        "broken_chain": broken_chain,
    }


async def _run(
    database_url: str, tenants: int, clients: int, seconds: float, hold_batch: int
) -> dict[str, Any]:
    settings = Settings(
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        var_dir=REPO_ROOT / "var",
        log_format="json",
        log_level="WARNING",
        maintenance_interval_seconds=0,
        # One connection per client, so clients wait on the ledger, not on the pool.
        database_pool_size=clients,
    )
    container = build_container(settings)
    await container.init_resources()
    try:
        credits: Credits = await provide(container.credits)
        qualification: QualificationCredits = await provide(container.qualification_credits)
        host = Actor(type=ActorType.SYSTEM, label="benchmark")

        # Enough pre-leads for a fast machine: 3,000 captures per second per tenant.
        per_tenant = int(3000 * seconds) + 100
        tenant_ids = []
        for number in range(tenants):
            tenant = await create_tenant(database_url, f"Benchmark {number}")
            await credits.grant(host, tenant, per_tenant, reason="benchmark")
            tenant_ids.append(tenant)
        preleads = {
            tenant: await create_preleads(database_url, tenant, per_tenant) for tenant in tenant_ids
        }

        # Warm the pool and the plans of the posting functions.
        warm = [preleads[tenant].pop() for tenant in tenant_ids]
        for tenant, prelead in zip(tenant_ids, warm, strict=True):
            await qualification.hold(WORKER, tenant, [prelead])
            await qualification.capture(WORKER, tenant, prelead)

        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        jobs = []
        for index in range(clients):
            tenant = tenant_ids[index % tenants]
            share = clients // tenants + (1 if index % tenants < clients % tenants else 0)
            slot = index // tenants
            own = preleads[tenant][slot::share]
            jobs.append(_client(qualification, tenant, own, deadline, latencies, hold_batch))
        counts = await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - started

        anomalies: dict[str, int] = {}
        for tenant in tenant_ids:
            seen = sum(
                count for index, count in enumerate(counts) if tenant_ids[index % tenants] == tenant
            )
            # The warm-up capture is in the ledger too.
            for name, value in (await _audit(database_url, tenant, seen + 1)).items():
                anomalies[name] = anomalies.get(name, 0) + value
    finally:
        await container.shutdown_resources()

    latencies.sort()
    total = sum(counts)
    return {
        "tenants": tenants,
        "clients": clients,
        "hold_batch": hold_batch,
        "seconds": round(elapsed, 2),
        "captures": total,
        "captures_per_second": round(total / elapsed, 1),
        "latency_per_capture_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 2),
            "p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "anomalies": anomalies,
        "anomaly_total": sum(anomalies.values()),
    }


async def _main(args: argparse.Namespace) -> None:
    configure_logging("json", "WARNING")
    database = f"garimpo_bench_credits_{uuid.uuid4().hex[:8]}"
    base = args.admin_url.rsplit("/", 1)[0]
    database_url = f"{base}/{database}"
    await _admin(args.admin_url, f'CREATE DATABASE "{database}"')
    try:
        await asyncio.to_thread(migrate, database_url, app_role=APP_ROLE)
        runs = [
            await _run(database_url, tenants, args.clients, args.seconds, batch)
            for batch in args.hold_batch
            for tenants in args.tenants
        ]
    finally:
        await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "runs": runs,
            },
            indent=2,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--tenants", type=int, nargs="+", default=[1, 10], help="one run per tenant count"
    )
    parser.add_argument(
        "--hold-batch",
        type=int,
        nargs="+",
        default=[1, 20],
        help="pre-leads held per call; 1 is a hold call per capture (one run per value)",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
