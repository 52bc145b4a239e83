"""Benchmark: qualification dispatch in messages per second, and whether its rate limits hold.

Usage::

    .venv/bin/python scripts/benchmark_qualification.py --preleads 2000 --pool-preleads 900

It creates a fresh database on the server of ``BENCH_ADMIN_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). It uses Redis at
``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/14``) under a queue
namespace of its own. It serves a local Twilio fake and the API on loopback
ports in this process, and starts real ``garimpo worker`` processes
(``--threads`` Dramatiq threads each, a dispatch round every ``--tick``
seconds). Each run has its own tenant with sending hours all day, every
weekday, no quiet hours, and companies with one WhatsApp mobile each and no
e-mail. The selection and the qualification start go through the API, as a
user's would.

- Run A, throughput: ``--preleads`` first contacts, no sender pool and a high
  daily limit, first with one worker and then with two. It reports messages
  per second at the fake, from the first to the last accepted message and
  from the qualification request to the last message, and the ratio of two
  workers to one. The two stages run seconds apart, so that a noisy machine
  changes both alike.
- Run B, per-number limits: a pool of three WhatsApp senders of
  ``--sender-limit`` messages per ``--sender-period`` seconds each, and
  ``--pool-preleads`` pre-leads. For each sender it takes the maximum number of
  messages in any sliding window of one period, both as the fake received them
  and as the engine recorded them, and compares the overall rate with the
  pool's cap.
- Run C, the tenant's daily limit: ``--daily-limit`` against
  ``--daily-preleads`` pre-leads. It counts the messages that reach the fake and
  checks that every other flow waits for the next day's opening in the
  tenant's timezone.

Every run counts repeated idempotency keys and numbers written to twice, and
the report counts errors in the worker logs. Runs A and B also report the CPU
seconds spent by the workers, by the PostgreSQL backends of the benchmark
database and by this process (the API and the fake). The script prints one
JSON object and drops the database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import json
import os
import platform
import secrets
import socket
import sys
import tempfile
import time
import uuid
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import attrs
import redis
from aiohttp.test_utils import TestServer

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from adapters.postgres.database import migrate  # noqa: E402
from domain.audit import Actor, ActorType  # noqa: E402
from domain.tenancy import DEFAULT_TIMEZONE  # noqa: E402
from entrypoints.container import Container, build_container, provide  # noqa: E402
from entrypoints.http.server import build_app  # noqa: E402
from entrypoints.logging import configure_logging  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.support.companies import store_companies, valid_cnpj  # noqa: E402
from tests.support.fake_twilio import MESSAGING_SERVICE_SID, FakeTwilio, TwilioMessage  # noqa: E402
from tests.support.identity import create_api_key, create_tenant, owner_execute  # noqa: E402
from tests.support.workers import WorkerProcess, worker_environment  # noqa: E402

APP_ROLE = "garimpo_app"
HOST = Actor(type=ActorType.SYSTEM, label="benchmark")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: A daily limit no run reaches, for the runs that measure something else.
UNLIMITED_DAY = 1_000_000


class TimedTwilio(FakeTwilio):
    """The Twilio fake, with the wall-clock time each message was accepted."""

    def __init__(self) -> None:
        super().__init__()
        #: ``time.time()`` of each accepted message, parallel to ``messages``.
        self.accepted_at: list[float] = []

    def _record(self, form: Mapping[str, str]) -> TwilioMessage:
        message = super()._record(form)
        self.accepted_at.append(time.time())
        return message

    def received(self, phones: set[str]) -> list[tuple[float, TwilioMessage]]:
        """Return (accepted at, message) for the messages to ``phones``, oldest first."""
        return [
            (at, message)
            for at, message in zip(self.accepted_at, self.messages, strict=True)
            if message.to.removeprefix("whatsapp:") in phones
        ]


@attrs.define
class Bench:
    settings: Settings
    container: Container
    app_url: str
    twilio: TimedTwilio
    admin_url: str
    database: str
    log_dir: Path
    workers: list[WorkerProcess] = attrs.field(factory=list)

    @property
    def database_url(self) -> str:
        assert self.settings.database_url
        return self.settings.database_url

    async def start_worker(self, name: str) -> WorkerProcess:
        extra = {
            "WHATSAPP_PROVIDER": "twilio",
            "SMS_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio.auth_token,
            "TWILIO_API_URL": self.twilio.base_url,
            "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
            "PUBLIC_BASE_URL": self.app_url,
        }
        worker = WorkerProcess(
            worker_environment(self.settings, extra), self.log_dir / f"{name}.log"
        )
        self.workers.append(worker)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while "qualification_worker_started" not in worker.output():
            if worker.process.poll() is not None or loop.time() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{worker.output()[-2000:]}")
            await asyncio.sleep(0.1)
        return worker

    async def backend_pids(self) -> list[int]:
        conn = await asyncpg.connect(self.admin_url)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
            )
        finally:
            await conn.close()
        return [row["pid"] for row in rows]


@attrs.define
class Tenant:
    id: str
    key: str
    cnpjs: list[str]
    phones: list[str]


# --- measuring ------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """Return user plus system CPU seconds of a process, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # utime and stime are fields 14 and 15 of proc(5), and the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent during one stage by the workers, the database backends and this process."""

    def __init__(self, bench: Bench) -> None:
        self._bench = bench
        self._before: dict[str, dict[int, float]] = {}
        self._own = 0.0

    async def _snapshot(self) -> dict[str, dict[int, float]]:
        return {
            "workers": {w.process.pid: _cpu_seconds(w.process.pid) for w in self._bench.workers},
            "postgres": {pid: _cpu_seconds(pid) for pid in await self._bench.backend_pids()},
        }

    async def start(self) -> None:
        self._before = await self._snapshot()
        self._own = time.process_time()

    async def stop(self) -> dict[str, float]:
        after = await self._snapshot()
        spent = {
            group: sum(
                seconds - self._before.get(group, {}).get(pid, 0.0) for pid, seconds in pids.items()
            )
            for group, pids in after.items()
        }
        spent["api_and_fake"] = time.process_time() - self._own
        return {group: round(seconds, 2) for group, seconds in spent.items()}


class BackendSampler:
    """A sampler of the benchmark database's backend states, every ``interval`` seconds."""

    def __init__(self, bench: Bench, interval: float = 0.1) -> None:
        self._bench = bench
        self._interval = interval
        self._counts: Counter[str] = Counter()
        self._samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        """Return the mean number of backends in each state over the samples."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return {
            state: round(count / max(self._samples, 1), 2)
            for state, count in sorted(self._counts.items())
        }

    async def _run(self) -> None:
        conn = await asyncpg.connect(self._bench.admin_url)
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self._bench.database,
                )
                self._samples += 1
                for row in rows:
                    self._counts[_backend_state(row)] += 1
                await asyncio.sleep(self._interval)
        finally:
            await conn.close()


def _backend_state(row: asyncpg.Record) -> str:
    if row["wait_event_type"] == "Lock":
        return f"waiting_on_{row['wait_event']}_lock"
    if row["state"] == "active":
        return "active" if row["wait_event_type"] is None else f"active_{row['wait_event_type']}"
    # A backend that is still starting has no state yet.
    return str(row["state"] or "starting")


def max_in_window(times: Sequence[float], period: float) -> int:
    """Return the maximum number of events in any window (t - period, t], as the engine counts."""
    ordered = sorted(times)
    maximum = 0
    for index, moment in enumerate(ordered):
        first = bisect.bisect_right(ordered, moment - period)
        maximum = max(maximum, index + 1 - first)
    return maximum


def rate(times: Sequence[float]) -> float | None:
    if len(times) < 2 or times[-1] == times[0]:
        return None
    return round((len(times) - 1) / (times[-1] - times[0]), 1)


async def send_lags(
    bench: Bench, received: Sequence[tuple[float, TwilioMessage]]
) -> dict[str, Any]:
    """Return how long after the engine recorded each send the fake accepted it, in milliseconds."""
    recorded = await owner_execute(
        bench.database_url,
        "SELECT coalesce(jsonb_object_agg(idempotency_key, extract(epoch FROM created_at)), "
        "'{}'::jsonb) FROM message_send WHERE idempotency_key = ANY ($1::text[])",
        [message.idempotency_key for _, message in received],
    )
    created = {key: float(at) for key, at in json.loads(str(recorded)).items()}
    lags = sorted(
        (at - created[message.idempotency_key]) * 1000
        for at, message in received
        if message.idempotency_key in created
    )
    if not lags:
        return {}
    return {
        "p50": round(lags[len(lags) // 2], 1),
        "p95": round(lags[int(len(lags) * 0.95)], 1),
        "max": round(lags[-1], 1),
    }


def duplicates(received: Sequence[tuple[float, TwilioMessage]]) -> dict[str, int]:
    keys = Counter(message.idempotency_key for _, message in received)
    numbers = Counter(message.to for _, message in received)
    return {
        "repeated_keys": sum(count - 1 for count in keys.values() if count > 1),
        "numbers_written_twice": sum(1 for count in numbers.values() if count > 1),
    }


def worker_errors(bench: Bench) -> dict[str, Any]:
    """Count error lines in the worker logs and keep the first few events."""
    count, first = 0, []
    for worker in bench.workers:
        for line in worker.output().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                # Output that is not a log line (a traceback) is an error too.
                if line.strip():
                    count += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in {"error", "critical"}:
                count += 1
                if len(first) < 3:
                    first.append(entry.get("event"))
    return {"error_lines": count, "first_events": first}


# --- setting a run up -----------------------------------------------------------------


async def new_tenant(
    bench: Bench, run: int, size: int, *, daily_limit: int, credits: int | None = None
) -> Tenant:
    tenant_id = await create_tenant(bench.database_url, f"Benchmark {run} {uuid.uuid4().hex[:6]}")
    await owner_execute(
        bench.database_url,
        # No quiet hours either, so that a run at night sends too.
        "UPDATE tenant SET settings = jsonb_set(settings, '{qualification}', $2::jsonb) "
        "|| '{\"quiet_hours\": null}'::jsonb WHERE id = $1",
        uuid.UUID(tenant_id),
        json.dumps(
            {
                "sending_hours": {"start": "00:00", "end": "23:59"},
                "sending_weekdays": [1, 2, 3, 4, 5, 6, 7],
                "reply_wait_minutes": 60,
                "daily_limit": daily_limit,
            }
        ),
    )
    _, key = await create_api_key(bench.database_url, tenant_id)
    credit_use_case = await provide(bench.container.credits)
    await credit_use_case.grant(HOST, tenant_id, credits or size)

    # Each run gets its own CNPJ block and its own mobiles: +55 41 98<run> nnnnnn.
    cnpjs = [valid_cnpj(20_000_000 + run * 1_000_000 + n) for n in range(size)]
    phones = [f"+554198{run}{n:06d}" for n in range(size)]
    await store_companies(
        bench.database_url, cnpjs, phones=[[phone] for phone in phones], emails=[None] * size
    )
    return Tenant(tenant_id, key, cnpjs, phones)


async def api(
    bench: Bench, tenant: Tenant, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, bench.app_url + path, json=body, headers={"X-API-Key": tenant.key}
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


async def qualify(bench: Bench, tenant: Tenant) -> tuple[str, float, float]:
    """Select the tenant's CNPJs and start their qualification.

    Returns the job id, the wall-clock time of the start request and its duration in seconds.
    """
    status, selection = await api(
        bench, tenant, "POST", "/v1/preleads/selections", {"cnpjs": tenant.cnpjs}
    )
    if status != 201:
        raise RuntimeError(f"selection failed: {status} {selection}")
    started_at = time.time()
    status, job = await api(
        bench, tenant, "POST", f"/v1/preleads/selections/{selection['data']['id']}/qualify"
    )
    if status != 202:
        raise RuntimeError(f"qualification start failed: {status} {job}")
    return job["data"]["id"], started_at, time.time() - started_at


async def wait_for(
    bench: Bench, phones: set[str], count: int, within: float
) -> list[tuple[float, TwilioMessage]]:
    """Wait until ``count`` messages to ``phones`` reach the fake, or ``within`` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if len(bench.twilio.received(phones)) >= count:
            break
        await asyncio.sleep(0.1)
    return bench.twilio.received(phones)


async def flows_still_due(bench: Bench, job_id: str) -> int:
    return int(
        await owner_execute(
            bench.database_url,
            "SELECT count(*) FROM qualification_flow WHERE job_id = $1 "
            "AND state = 'sending' AND next_action_at <= now()",
            uuid.UUID(job_id),
        )
        or 0
    )


# --- the runs -------------------------------------------------------------------------


async def throughput(bench: Bench, run: int, size: int, within: float) -> dict[str, Any]:
    tenant = await new_tenant(bench, run, size, daily_limit=UNLIMITED_DAY)
    meter = CpuMeter(bench)
    sampler = BackendSampler(bench)
    await meter.start()
    sampler.start()
    _, started_at, start_call = await qualify(bench, tenant)
    received = await wait_for(bench, set(tenant.phones), size, within)
    backends = await sampler.stop()
    cpu = await meter.stop()

    times = [at for at, _ in received]
    return {
        "workers": len(bench.workers),
        "preleads": size,
        "messages": len(received),
        "complete": len(received) == size,
        "qualify_call_s": round(start_call, 2),
        "first_message_after_s": round(times[0] - started_at, 2) if times else None,
        "first_to_last_s": round(times[-1] - times[0], 2) if times else None,
        "messages_per_second": rate(times),
        "overall_messages_per_second": round(len(times) / (times[-1] - started_at), 1)
        if times
        else None,
        "record_to_provider_ms": await send_lags(bench, received),
        "cpu_seconds": cpu,
        "backends_by_state": backends,
        **duplicates(received),
    }


async def sender_limits(
    bench: Bench, run: int, size: int, limit: int, period: int, within: float
) -> dict[str, Any]:
    tenant = await new_tenant(bench, run, size, daily_limit=UNLIMITED_DAY)
    senders = [f"+554197{run}000{n:02d}0" for n in range(3)]
    for address in senders:
        status, body = await api(
            bench,
            tenant,
            "POST",
            "/v1/qualification/senders",
            {
                "channel": "whatsapp",
                "address": address,
                "limit_per_period": limit,
                "period_seconds": period,
            },
        )
        if status != 201:
            raise RuntimeError(f"adding sender {address} failed: {status} {body}")

    meter = CpuMeter(bench)
    await meter.start()
    job_id, started_at, _ = await qualify(bench, tenant)
    received = await wait_for(bench, set(tenant.phones), size, within)
    cpu = await meter.stop()

    at_fake: dict[str, list[float]] = defaultdict(list)
    for at, message in received:
        at_fake[(message.from_ or "none").removeprefix("whatsapp:")].append(at)
    recorded = await owner_execute(
        bench.database_url,
        "SELECT coalesce(jsonb_object_agg(sender, times), '{}'::jsonb) FROM ("
        "  SELECT m.sender, jsonb_agg(extract(epoch FROM m.created_at)) AS times"
        "    FROM message_send m JOIN qualification_flow f ON f.id = m.flow_id"
        "   WHERE f.job_id = $1 GROUP BY m.sender) s",
        uuid.UUID(job_id),
    )
    at_engine = {
        (sender or "none"): [float(t) for t in times]
        for sender, times in json.loads(str(recorded)).items()
    }

    per_sender = {}
    for address in sorted(set(at_fake) | set(at_engine)):
        fake_max = max_in_window(at_fake.get(address, []), period)
        engine_max = max_in_window(at_engine.get(address, []), period)
        per_sender[address] = {
            "messages": len(at_fake.get(address, [])),
            "max_in_period_at_fake": fake_max,
            "max_in_period_recorded": engine_max,
            "max_over_limit_at_fake": round(fake_max / limit, 2),
            "max_over_limit_recorded": round(engine_max / limit, 2),
        }

    times = [at for at, _ in received]
    cap = len(senders) * limit / period
    achieved = rate(times)
    # A limiter running exactly at the cap sends its last period's messages
    # within the last period, so n messages take n / cap - period seconds at
    # best. At that span n / (span + period) equals the cap.
    sustained = round(len(times) / (times[-1] - times[0] + period), 1) if times else None
    return {
        "preleads": size,
        "messages": len(received),
        "complete": len(received) == size,
        "senders": len(senders),
        "limit_per_period": limit,
        "period_seconds": period,
        "cap_messages_per_second": cap,
        "messages_per_second": achieved,
        "sustained_messages_per_second": sustained,
        "sustained_over_cap": None if sustained is None else round(sustained / cap, 3),
        "minimum_first_to_last_s": round(max(len(times) / cap - period, 0.0), 2),
        "record_to_provider_ms": await send_lags(bench, received),
        "first_message_after_s": round(times[0] - started_at, 2) if times else None,
        "first_to_last_s": round(times[-1] - times[0], 2) if times else None,
        "per_sender": per_sender,
        "limit_exceeded": any(
            entry["max_in_period_at_fake"] > limit or entry["max_in_period_recorded"] > limit
            for entry in per_sender.values()
        ),
        "cpu_seconds": cpu,
        **duplicates(received),
    }


async def daily_limit(
    bench: Bench, run: int, size: int, limit: int, within: float
) -> dict[str, Any]:
    tenant = await new_tenant(bench, run, size, daily_limit=limit)
    job_id, started_at, _ = await qualify(bench, tenant)
    received = await wait_for(bench, set(tenant.phones), limit, within)

    # Once the fake has ``limit`` messages, the workers must move every other
    # flow to the next day and send nothing more.
    for _ in range(150):
        if not await flows_still_due(bench, job_id):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(3 * bench.settings.qualification_tick_seconds + 1)
    received = bench.twilio.received(set(tenant.phones))

    zone = zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)
    today = dt.datetime.now(zone).date()
    opening = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone)
    rows = await owner_execute(
        bench.database_url,
        "SELECT coalesce(jsonb_agg(jsonb_build_object('state', state, 'at', "
        "extract(epoch FROM next_action_at))), '[]'::jsonb) FROM qualification_flow "
        "WHERE job_id = $1",
        uuid.UUID(job_id),
    )
    flows = json.loads(str(rows))
    waiting = [flow for flow in flows if flow["state"] == "sending"]
    waiting_at = Counter(
        dt.datetime.fromtimestamp(float(flow["at"]), zone).isoformat() for flow in waiting
    )
    times = [at for at, _ in received]
    return {
        "preleads": size,
        "daily_limit": limit,
        "messages": len(received),
        "exactly_the_limit": len(received) == limit,
        "awaiting_reply": sum(1 for flow in flows if flow["state"] == "awaiting_reply"),
        "waiting_to_send": len(waiting),
        "waiting_until": dict(waiting_at),
        "expected_opening": opening.isoformat(),
        "all_wait_for_opening": bool(waiting)
        and set(waiting_at) == {opening.isoformat()}
        and len(waiting) == size - limit,
        "messages_per_second": rate(times),
        "first_to_last_s": round(times[-1] - times[0], 2) if times else None,
        "first_message_after_s": round(times[0] - started_at, 2) if times else None,
        **duplicates(received),
    }


# --- the whole benchmark --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_model() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(models, "unknown")


async def _machine(admin_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(admin_url)
    try:
        postgres = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "postgresql": postgres,
        "python": platform.python_version(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


async def _benchmark(args: argparse.Namespace, database_url: str, database: str) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="garimpo-bench-qualification-"))
    namespace = f"garimpo-bench-{uuid.uuid4().hex[:12]}"
    async with TimedTwilio() as twilio:
        port = _free_port()
        app_url = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=database_url,
            redis_url=args.redis_url,
            var_dir=log_dir / "var",
            log_format="json",
            log_level="WARNING",
            maintenance_interval_seconds=0,
            worker_in_api=False,
            queue_namespace=namespace,
            whatsapp_provider="twilio",
            sms_provider="twilio",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_api_url=twilio.base_url,
            twilio_messaging_service_sid=MESSAGING_SERVICE_SID,
            public_base_url=app_url,
            public_base_url_configured=True,
            qualification_tick_seconds=args.tick,
            worker_threads=args.threads,
        )
        container = build_container(settings)
        server = TestServer(build_app(container), host="127.0.0.1", port=port)
        await server.start_server()
        bench = Bench(settings, container, app_url, twilio, args.admin_url, database, log_dir)
        try:
            await bench.start_worker("worker-1")
            one = await throughput(bench, 0, args.preleads, args.timeout)
            await bench.start_worker("worker-2")
            two = await throughput(bench, 1, args.preleads, args.timeout)
            pool = await sender_limits(
                bench, 2, args.pool_preleads, args.sender_limit, args.sender_period, args.timeout
            )
            day = await daily_limit(bench, 3, args.daily_preleads, args.daily_limit, args.timeout)
            errors = worker_errors(bench)
        finally:
            for worker in bench.workers:
                worker.stop()
            await server.close()
            await container.shutdown_resources()
            _clear_queue(args.redis_url, namespace)

    ratio = None
    if one["messages_per_second"] and two["messages_per_second"]:
        ratio = round(two["messages_per_second"] / one["messages_per_second"], 2)
    return {
        "settings": {
            "worker_threads": args.threads,
            "tick_seconds": args.tick,
            "lease_seconds": settings.qualification_lease_seconds,
            "database_pool_size": settings.database_pool_size,
        },
        "throughput": {"one_worker": one, "two_workers": two, "two_over_one": ratio},
        "sender_limits": pool,
        "daily_limit": day,
        "worker_logs": {**errors, "folder": str(log_dir)},
    }


def _clear_queue(redis_url: str, namespace: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _main(args: argparse.Namespace) -> None:
    configure_logging("json", "WARNING")
    machine = await _machine(args.admin_url)
    database = f"garimpo_bench_qualification_{secrets.token_hex(4)}"
    database_url = f"{args.admin_url.rsplit('/', 1)[0]}/{database}"
    await _admin(args.admin_url, f'CREATE DATABASE "{database}"')
    try:
        await asyncio.to_thread(migrate, database_url, app_role=APP_ROLE)
        results = await _benchmark(args, database_url, database)
    finally:
        await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(json.dumps({"machine": machine, **results}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--preleads", type=int, default=2000, help="pre-leads in each throughput run"
    )
    parser.add_argument(
        "--pool-preleads", type=int, default=900, help="pre-leads in the sender pool run"
    )
    parser.add_argument(
        "--sender-limit", type=int, default=20, help="messages per period of each pool sender"
    )
    parser.add_argument(
        "--sender-period", type=int, default=1, help="period of each pool sender, in seconds"
    )
    parser.add_argument(
        "--daily-preleads", type=int, default=600, help="pre-leads in the daily limit run"
    )
    parser.add_argument(
        "--daily-limit",
        type=int,
        default=500,
        help="tenant's daily limit in the daily limit run, in messages",
    )
    parser.add_argument("--threads", type=int, default=8, help="Dramatiq threads per worker")
    parser.add_argument("--tick", type=float, default=0.2, help="seconds between dispatch rounds")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for each run's messages before reporting what arrived",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
