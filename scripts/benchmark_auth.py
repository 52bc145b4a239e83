"""Benchmark: what authentication costs on GET /v1/companies/{cnpj}, as requests per second.

Usage::

    .venv/bin/python scripts/benchmark_auth.py --establishments 50000 --rounds 5 --seconds 5

It loads a generated month into a fresh database on the server of
``BENCH_ADMIN_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
creates a tenant on a plan whose limit is never reached (so the rate limiter
runs but never refuses), and serves, from one child process, two apps over
the same container:

- ``open``: the company route with only the request-id and error
  middlewares, no credentials read, no rate limit;
- ``auth``: the API without the rate limiter, called with an API key
  (``api_key_auth``) and with an access JWT of a logged-in admin
  (``jwt_auth``): credentials, the permission table and the tenant-state
  check, with the registry read over the application role;
- the full API, the same plus the Redis rate limiter (``api_key``, ``jwt``).

The company route reads the registry, which is shared data with no
row-level security policy, so on this route the isolation layer costs only
what the application role's connection costs.

The client runs in this process and calls the variants in interleaved
rounds, so machine noise hits all of them alike. It prints one JSON object
with the requests per second of each round, the medians and each
authenticated variant's cost as a share of the open throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import attrs
from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from adapters.postgres.database import migrate  # noqa: E402
from adapters.receita.synthetic import generate_month  # noqa: E402
from domain.identity import Role  # noqa: E402
from entrypoints.container import build_container, provide  # noqa: E402
from entrypoints.http import routes_registry  # noqa: E402
from entrypoints.http.app import create_app  # noqa: E402
from entrypoints.http.context import SERVICES_KEY  # noqa: E402
from entrypoints.http.middleware import error_middleware, request_id_middleware  # noqa: E402
from entrypoints.http.server import CONTAINER_KEY, build_app  # noqa: E402
from entrypoints.logging import configure_logging  # noqa: E402
from entrypoints.progress import LogProgress  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.support.identity import (  # noqa: E402
    access_claims,
    create_api_key,
    create_tenant,
    create_user_session,
)

APP_ROLE = "garimpo_app"
COMPANY_ROUTE = "/v1/companies/{cnpj:[^{}]+}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        var_dir=REPO_ROOT / "var",
        log_format="json",
        log_level="WARNING",
    )


# --- server (child process) --------------------------------------------------------


def _open_app(full: web.Application) -> web.Application:
    """The company route over the same services, without authentication or rate limit."""
    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    app[SERVICES_KEY] = full[SERVICES_KEY]
    app.router.add_get(COMPANY_ROUTE, routes_registry.handle_get_company, allow_head=False)
    return app


def _auth_only_app(full: web.Application) -> web.Application:
    """The whole API over the same services, without the middlewares that follow authentication."""
    return create_app(attrs.evolve(full[SERVICES_KEY], after_auth=()))


async def _serve(
    database_url: str, open_port: int, auth_port: int, full_port: int, ready: Any
) -> None:
    configure_logging("json", "WARNING")
    container = build_container(_settings(database_url))
    full = build_app(container)
    runners = [web.AppRunner(full, access_log=None)]
    await runners[0].setup()  # opens the container's resources through cleanup_ctx
    runners.append(web.AppRunner(_open_app(full), access_log=None))
    runners.append(web.AppRunner(_auth_only_app(full), access_log=None))
    for runner in runners[1:]:
        await runner.setup()
    assert full[CONTAINER_KEY] is container

    await web.TCPSite(runners[1], "127.0.0.1", open_port).start()
    await web.TCPSite(runners[2], "127.0.0.1", auth_port).start()
    await web.TCPSite(runners[0], "127.0.0.1", full_port).start()
    ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def _server_main(
    database_url: str, open_port: int, auth_port: int, full_port: int, ready: Any
) -> None:
    asyncio.run(_serve(database_url, open_port, auth_port, full_port, ready))


# --- client ------------------------------------------------------------------------


async def _measure(
    session: aiohttp.ClientSession,
    url_base: str,
    headers: dict[str, str],
    cnpjs: list[str],
    seconds: float,
    concurrency: int,
) -> tuple[float, int]:
    """Run ``concurrency`` callers for ``seconds``; return (requests per second, failures)."""
    done = 0
    failures = 0
    deadline = time.perf_counter() + seconds

    async def caller(seed: int) -> None:
        nonlocal done, failures
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            cnpj = cnpjs[rng.randrange(len(cnpjs))]
            async with session.get(f"{url_base}/v1/companies/{cnpj}", headers=headers) as response:
                await response.read()
                if response.status == 200:
                    done += 1
                else:
                    failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(seed) for seed in range(concurrency)))
    return done / (time.perf_counter() - started), failures


async def _prepare(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    month_dir = REPO_ROOT / "var" / "bench" / f"{args.establishments}-1"
    if not (month_dir / "tabmun.csv").exists():
        generate_month(month_dir, args.establishments, seed=1, zipped=True)

    container = build_container(_settings(database_url))
    await container.init_resources()
    try:
        ingest = await provide(container.ingest_month)
        await ingest(str(month_dir), LogProgress(interval=60), fresh=True)
        tokens = await provide(container.access_tokens)

        tenant_id = await create_tenant(database_url, "Bench", requests_per_minute=100_000_000)
        _key_id, api_key = await create_api_key(database_url, tenant_id)
        account_id, session_id, email = await create_user_session(
            database_url, tenant_id, Role.ADMIN
        )
        token = tokens.issue(
            access_claims(account_id, session_id, tenant_id, Role.ADMIN, email, minutes=24 * 60)
        )
    finally:
        await container.shutdown_resources()

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT cnpj FROM registry.establishment ORDER BY random() LIMIT $1", args.sample
        )
    finally:
        await conn.close()
    return {"api_key": api_key, "jwt": token, "cnpjs": [row["cnpj"] for row in rows]}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    database = f"garimpo_bench_{uuid.uuid4().hex[:8]}"
    base = args.admin_url.rsplit("/", 1)[0]
    database_url = f"{base}/{database}"
    await _admin(args.admin_url, f'CREATE DATABASE "{database}"')
    server = None
    try:
        await asyncio.to_thread(migrate, database_url, app_role=APP_ROLE)
        prepared = await _prepare(args, database_url)

        open_port, auth_port, full_port = _free_port(), _free_port(), _free_port()
        spawn = multiprocessing.get_context("spawn")
        ready = spawn.Event()
        server = spawn.Process(
            target=_server_main,
            args=(database_url, open_port, auth_port, full_port, ready),
            daemon=True,
        )
        server.start()
        if not await asyncio.to_thread(ready.wait, 120):
            raise RuntimeError("the benchmark server did not start")

        key_header = {"X-API-Key": prepared["api_key"]}
        jwt_header = {"Authorization": f"Bearer {prepared['jwt']}"}
        variants = {
            "open": (f"http://127.0.0.1:{open_port}", {}),
            "api_key_auth": (f"http://127.0.0.1:{auth_port}", key_header),
            "jwt_auth": (f"http://127.0.0.1:{auth_port}", jwt_header),
            "api_key": (f"http://127.0.0.1:{full_port}", {"X-API-Key": prepared["api_key"]}),
            "jwt": (
                f"http://127.0.0.1:{full_port}",
                {"Authorization": f"Bearer {prepared['jwt']}"},
            ),
        }
        rounds: dict[str, list[float]] = {name: [] for name in variants}
        failures = 0
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            # Warm every path (pools, caches, prepared statements) before measuring.
            for url, headers in variants.values():
                await _measure(session, url, headers, prepared["cnpjs"], 1.0, args.concurrency)
            for _round in range(args.rounds):
                for name, (url, headers) in variants.items():
                    rps, failed = await _measure(
                        session, url, headers, prepared["cnpjs"], args.seconds, args.concurrency
                    )
                    rounds[name].append(round(rps, 1))
                    failures += failed
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        if not args.keep_database:
            await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    medians = {name: round(statistics.median(values), 1) for name, values in rounds.items()}
    return {
        "route": "GET /v1/companies/{cnpj}",
        "establishments": args.establishments,
        "concurrency": args.concurrency,
        "seconds_per_round": args.seconds,
        "rounds": rounds,
        "median_rps": medians,
        "cost_vs_open": {
            name: f"{(1 - medians[name] / medians['open']) * 100:.1f}%"
            for name in ("api_key_auth", "jwt_auth", "api_key", "jwt")
        },
        "failed_requests": failures,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--establishments", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=2000, help="CNPJs the client picks from")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    configure_logging("console", "WARNING")
    result = asyncio.run(_run(args))
    print(json.dumps(result, indent=2))
    if result["failed_requests"]:
        raise SystemExit("some benchmark requests failed; the numbers are not comparable")


if __name__ == "__main__":
    main()
