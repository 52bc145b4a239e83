"""Load a monthly snapshot into a staging schema and swap it in when it is complete.

Life of a run:

1. ``start_run`` clones the live ``registry`` tables (columns, CHECKs and
   partitions, read from the catalog) into ``registry_stage_<run>`` without
   their indexes, so COPY writes heap pages only.
2. ``store_chunk`` writes one chunk per transaction: its rows by COPY, its
   quarantined rows, and the ``ingestion.chunk`` row that proves it landed.
3. ``finalize`` removes duplicates, rebuilds every index and constraint that
   the live tables have (so a migration that adds an index is honoured by the
   next load without code changes), counts shared contacts and ANALYZEs.
4. ``publish`` renames the schemas in one transaction: searches see either
   the old month or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import app_role_exists, raw_connection, registry_grants
from adapters.receita.reader import ParsedChunk, QuarantinedRow
from application.ingestion import FileProgress, FinalizeResult, IngestionError, RunState
from domain.ingestion import FileKind, QuarantineReason

log = structlog.get_logger(__name__)

LIVE_SCHEMA = "registry"

#: Tables of the registry and the file kind that fills each.
TABLE_FOR_KIND: dict[FileKind, str] = {
    FileKind.COMPANY: "company",
    FileKind.ESTABLISHMENT: "establishment",
    FileKind.PARTNER: "partner",
    FileKind.SIMPLES: "simples",
    FileKind.CNAE: "cnae",
    FileKind.STATUS_REASON: "status_reason",
    FileKind.MUNICIPALITY: "municipality",
    FileKind.LEGAL_NATURE: "legal_nature",
    FileKind.COUNTRY: "country",
    FileKind.PARTNER_QUALIFICATION: "partner_qualification",
}

#: Natural key of each fact table. The partner table has none, because two
#: partners of one company may share name and masked CPF, so only identical rows merge.
# NOTE: establishments are unique per (cnpj, uf) because a partitioned table's
# keys must include the partition column; one CNPJ listed under two UFs loads
# twice. A check across partitions after the load would catch it.
KEYS: dict[str, tuple[str, ...]] = {
    "company": ("cnpj_root",),
    "establishment": ("cnpj", "uf"),
    "simples": ("cnpj_root",),
}

LOOKUP_KEY = {"municipality": "tom_code"}

#: Serialises ingestion runs: one process loads a month at a time.
_INGEST_LOCK_KEY = 0x6761_7269  # "gari"

_SOURCE_COLUMNS = ("source_file_id", "source_line")


class PostgresRegistryStaging:
    """Staging-schema loader of the registry (the ``RegistryStaging`` port)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        unlogged: bool = False,
        shared_contact_threshold: int = 20,
        min_ratio: float = 0.5,
        index_workers: int = 2,
        app_role: str | None = None,
    ) -> None:
        self._engine = engine
        #: Role the API connects as; granted the new registry schema on publish.
        self._app_role = app_role
        self._unlogged = unlogged
        self._shared_threshold = shared_contact_threshold
        self._min_ratio = min_ratio
        self._index_workers = index_workers
        self._lock_conn_ctx: Any = None
        self._lock_conn: asyncpg.Connection | None = None

    # -- run lifecycle ------------------------------------------------------

    async def acquire_lock(self) -> None:
        """Hold a session advisory lock so that two ingestions never interleave."""
        self._lock_conn_ctx = raw_connection(self._engine)
        self._lock_conn = await self._lock_conn_ctx.__aenter__()
        got = await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", _INGEST_LOCK_KEY)
        if not got:
            await self.release_lock()
            raise IngestionError("outra carga está em andamento neste banco; aguarde o fim dela")

    async def release_lock(self) -> None:
        if self._lock_conn is not None:
            await self._lock_conn.execute("SELECT pg_advisory_unlock_all()")
        if self._lock_conn_ctx is not None:
            await self._lock_conn_ctx.__aexit__(None, None, None)
        self._lock_conn = None
        self._lock_conn_ctx = None

    async def find_resumable(self, fingerprint: str) -> RunState | None:
        """Return the newest unfinished run of the same source whose staging schema survives."""
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow(
                """
                SELECT r.id, r.staging_schema, r.chunk_bytes
                FROM ingestion.run r
                WHERE r.source_fingerprint = $1 AND r.status IN ('running', 'failed')
                  AND EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = r.staging_schema)
                ORDER BY r.started_at DESC
                LIMIT 1
                """,
                fingerprint,
            )
            if row is None:
                return None
            await conn.execute(
                "UPDATE ingestion.run SET status = 'running', error = NULL WHERE id = $1", row["id"]
            )
        return RunState(
            run_id=str(row["id"]),
            staging_schema=row["staging_schema"],
            chunk_bytes=row["chunk_bytes"],
        )

    async def live_fingerprint(self) -> str | None:
        async with raw_connection(self._engine) as conn:
            fingerprint: str | None = await conn.fetchval(
                f"""
                SELECT r.source_fingerprint
                FROM {LIVE_SCHEMA}.snapshot s JOIN ingestion.run r ON r.id = s.run_id
                LIMIT 1
                """
            )
        return fingerprint

    async def start_run(self, source: str, fingerprint: str, chunk_bytes: int) -> RunState:
        run_id = uuid.uuid4()
        schema = f"registry_stage_{run_id.hex[:12]}"
        async with raw_connection(self._engine) as conn, conn.transaction():
            # A fresh run replaces any unfinished one of the same source: its
            # staging schema would otherwise hold the disk until dropped by hand.
            await _abandon_runs(conn, fingerprint, keep=run_id)
            await _drop_retired(conn)
            await conn.execute(
                """
                INSERT INTO ingestion.run
                    (id, source, source_fingerprint, status, staging_schema, chunk_bytes, started_at)
                VALUES ($1, $2, $3, 'running', $4, $5, now())
                """,
                run_id,
                source,
                fingerprint,
                schema,
                chunk_bytes,
            )
            await _clone_schema(conn, LIVE_SCHEMA, schema, unlogged=self._unlogged)
        log.info("staging_schema_created", run_id=str(run_id), schema=schema)
        return RunState(run_id=str(run_id), staging_schema=schema, chunk_bytes=chunk_bytes)

    async def register_file(
        self, run: RunState, file_id: int, name: str, kind: FileKind
    ) -> FileProgress:
        """Record a source file, or return what a previous attempt already stored of it."""
        async with raw_connection(self._engine) as conn:
            existing = await conn.fetchrow(
                "SELECT name, completed, nul_bytes FROM ingestion.source_file WHERE run_id = $1 AND id = $2",
                uuid.UUID(run.run_id),
                file_id,
            )
            if existing is None:
                await conn.execute(
                    "INSERT INTO ingestion.source_file (run_id, id, name, kind) VALUES ($1, $2, $3, $4)",
                    uuid.UUID(run.run_id),
                    file_id,
                    name,
                    kind.value,
                )
                return FileProgress(completed=False, chunks_done=0)
            if existing["name"] != name:
                raise IngestionError(
                    f"a origem mudou desde a carga interrompida: o arquivo {file_id} era "
                    f"{existing['name']!r} e agora é {name!r}; rode de novo com --fresh"
                )
            totals = await conn.fetchrow(
                """
                SELECT coalesce(max(chunk_index) + 1, 0) AS chunks_done,
                       coalesce(sum(rows_read), 0) AS read,
                       coalesce(sum(rows_loaded), 0) AS loaded,
                       coalesce(sum(rows_quarantined), 0) AS quarantined
                FROM ingestion.chunk WHERE run_id = $1 AND file_id = $2
                """,
                uuid.UUID(run.run_id),
                file_id,
            )
        return FileProgress(
            completed=existing["completed"],
            chunks_done=totals["chunks_done"],
            rows_read=totals["read"],
            rows_loaded=totals["loaded"],
            rows_quarantined=totals["quarantined"],
            nul_bytes=existing["nul_bytes"],
        )

    async def store_chunk(
        self, run: RunState, file_id: int, kind: FileKind, chunk: ParsedChunk
    ) -> tuple[int, int]:
        """Store one chunk atomically; return (rows loaded, rows quarantined)."""
        table = TABLE_FOR_KIND[kind]
        run_uuid = uuid.UUID(run.run_id)
        quarantined = list(chunk.quarantined)

        async with raw_connection(self._engine) as conn, conn.transaction():
            loaded = chunk.rows_loaded
            if kind.is_lookup:
                loaded, conflicts = await _merge_lookup(conn, run.staging_schema, table, chunk)
                quarantined.extend(conflicts)
            elif chunk.rows_loaded:
                await conn.copy_to_table(
                    table,
                    schema_name=run.staging_schema,
                    source=_BytesSource(chunk.csv_payload),
                    columns=list(chunk.columns),
                    format="csv",
                )
            await _insert_quarantine(conn, run_uuid, file_id, quarantined)
            await conn.execute(
                """
                INSERT INTO ingestion.chunk
                    (run_id, file_id, chunk_index, rows_read, rows_loaded, rows_quarantined)
                VALUES ($1, $2, $3, $4, $5, $6)
                """,
                run_uuid,
                file_id,
                chunk.index,
                chunk.rows_read,
                loaded,
                len(quarantined),
            )
        return loaded, len(quarantined)

    async def complete_file(self, run: RunState, file_id: int, nul_bytes: int) -> None:
        async with raw_connection(self._engine) as conn:
            await conn.execute(
                "UPDATE ingestion.source_file SET completed = true, nul_bytes = $3 "
                "WHERE run_id = $1 AND id = $2",
                uuid.UUID(run.run_id),
                file_id,
                nul_bytes,
            )

    async def finalize(self, run: RunState) -> FinalizeResult:
        """Deduplicate, build indexes and constraints, count shared contacts, ANALYZE.

        Each fact table's work is one chain of steps on its own connection. Two
        chains run at a time, longest first, so both cores stay busy.
        """
        schema = run.staging_schema
        run_uuid = uuid.UUID(run.run_id)
        stored = await self._stored_finalize_result(run_uuid)
        if stored is not None:
            log.info("finalize_skipped", run_id=run.run_id, reason="done by an earlier attempt")
            return stored

        duplicates: dict[int, int] = defaultdict(int)
        conflicts: dict[int, int] = defaultdict(int)
        timings: dict[str, float] = {}
        statements = await _index_statements(self._engine, LIVE_SCHEMA, schema)
        statements = await _missing_only(self._engine, schema, statements)
        async with raw_connection(self._engine) as conn:
            earlier = await _earlier_dedups(conn, run_uuid)
        for removed_duplicates, removed_conflicts in earlier.values():
            _add(duplicates, removed_duplicates)
            _add(conflicts, removed_conflicts)

        async def timed(name: str, step: Awaitable[Any]) -> Any:
            started = time.perf_counter()
            result = await step
            timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - started, 3)
            return result

        def merge(result: tuple[dict[int, int], dict[int, int]]) -> None:
            _add(duplicates, result[0])
            _add(conflicts, result[1])

        async def establishment_chain(conn: asyncpg.Connection) -> None:
            merge(
                await timed(
                    "indexes_establishment",
                    _build_table_indexes(
                        conn, schema, "establishment", statements.get("establishment", []), run_uuid
                    ),
                )
            )
            await timed(
                "shared_contacts", _count_shared_contacts(conn, schema, self._shared_threshold)
            )
            await timed(
                "indexes_shared_contact",
                _build_table_indexes(
                    conn, schema, "shared_contact", statements.get("shared_contact", []), run_uuid
                ),
            )
            await timed("analyze_establishment", _analyze(conn, schema, "establishment"))

        async def partner_chain(conn: asyncpg.Connection) -> None:
            # The root index first: dedup then finds each candidate's rows through it
            # instead of hashing the whole table.
            await timed(
                "indexes_partner",
                _build_table_indexes(
                    conn, schema, "partner", statements.get("partner", []), run_uuid
                ),
            )
            if "partner" not in earlier:
                merge(
                    await timed("dedup_partner", _dedup_unkeyed(conn, schema, "partner", run_uuid))
                )
            await timed("analyze_partner", _analyze(conn, schema, "partner"))

        def keyed_chain(table: str) -> Callable[[asyncpg.Connection], Awaitable[None]]:
            async def chain(conn: asyncpg.Connection) -> None:
                merge(
                    await timed(
                        f"indexes_{table}",
                        _build_table_indexes(
                            conn, schema, table, statements.get(table, []), run_uuid
                        ),
                    )
                )
                await timed(f"analyze_{table}", _analyze(conn, schema, table))

            return chain

        chains: asyncio.Queue[Callable[[asyncpg.Connection], Awaitable[None]]] = asyncio.Queue()
        for chain in (
            establishment_chain,
            partner_chain,
            keyed_chain("company"),
            keyed_chain("simples"),
        ):
            chains.put_nowait(chain)

        async def worker() -> None:
            async with raw_connection(self._engine) as conn:
                await _tune_session(conn)
                try:
                    while not chains.empty():
                        await chains.get_nowait()(conn)
                finally:
                    # The connection goes back to a pool shared with other work.
                    await conn.execute("RESET ALL")

        await asyncio.gather(*(worker() for _ in range(self._index_workers)))

        async with raw_connection(self._engine) as conn:
            counts = await timed("counts", _table_counts(conn, schema))
            # Abroad (9707, UF EX) has no IBGE code by definition.
            unmapped = await conn.fetch(
                f"SELECT DISTINCT tom_code FROM {schema}.establishment "
                "WHERE ibge_code IS NULL AND tom_code IS NOT NULL AND uf <> 'EX' ORDER BY 1"
            )

        result = FinalizeResult(
            duplicates_by_file=dict(duplicates),
            conflicts_by_file=dict(conflicts),
            table_counts=counts,
            unmapped_municipalities=tuple(r["tom_code"] for r in unmapped),
            timings=timings,
        )
        async with raw_connection(self._engine) as conn:
            await conn.execute(
                "UPDATE ingestion.run SET finalize_result = $2 WHERE id = $1",
                run_uuid,
                json.dumps(
                    {
                        "duplicates_by_file": result.duplicates_by_file,
                        "conflicts_by_file": result.conflicts_by_file,
                        "table_counts": result.table_counts,
                        "unmapped_municipalities": list(result.unmapped_municipalities),
                        "timings": result.timings,
                    }
                ),
            )
        return result

    async def _stored_finalize_result(self, run_id: uuid.UUID) -> FinalizeResult | None:
        async with raw_connection(self._engine) as conn:
            raw = await conn.fetchval(
                "SELECT finalize_result FROM ingestion.run WHERE id = $1", run_id
            )
        if raw is None:
            return None
        data = json.loads(raw) if isinstance(raw, str) else raw
        return FinalizeResult(
            duplicates_by_file={int(k): v for k, v in data["duplicates_by_file"].items()},
            conflicts_by_file={int(k): v for k, v in data["conflicts_by_file"].items()},
            table_counts=data["table_counts"],
            unmapped_municipalities=tuple(data["unmapped_municipalities"]),
            timings=data["timings"],
        )

    async def check(self, run: RunState, counts: dict[str, int], *, force: bool) -> None:
        """Refuse to publish a month that is empty or much smaller than the live one."""
        if counts.get("establishment", 0) == 0:
            raise IngestionError(
                "o novo mês não tem nenhum estabelecimento; o mês atual continua publicado"
            )
        if force:
            return
        async with raw_connection(self._engine) as conn:
            live = await conn.fetchval(
                f"SELECT (counts->>'establishment')::bigint FROM {LIVE_SCHEMA}.snapshot LIMIT 1"
            )
        if live and counts["establishment"] < live * self._min_ratio:
            raise IngestionError(
                f"o novo mês tem {counts['establishment']} estabelecimentos contra {live} do mês "
                f"publicado; abaixo de {self._min_ratio:.0%} isso parece uma entrega incompleta, "
                "e o mês atual continua publicado. Rode de novo com --force para publicá-lo assim mesmo"
            )

    async def publish(
        self,
        run: RunState,
        source: str,
        reference: str | None,
        counts: dict[str, int],
        summary: dict[str, Any],
    ) -> None:
        """Swap the staging schema in for the live one, in one transaction."""
        retired = f"registry_retired_{run.run_id.replace('-', '')[:12]}"
        async with raw_connection(self._engine) as conn:
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '30s'")
                await conn.execute(
                    f"INSERT INTO {run.staging_schema}.snapshot "
                    "(run_id, source, reference, loaded_at, counts) VALUES ($1, $2, $3, $4, $5)",
                    uuid.UUID(run.run_id),
                    source,
                    reference,
                    datetime.now(UTC),
                    json.dumps(counts),
                )
                await conn.execute(f"ALTER SCHEMA {LIVE_SCHEMA} RENAME TO {retired}")
                await conn.execute(f"ALTER SCHEMA {run.staging_schema} RENAME TO {LIVE_SCHEMA}")
                if self._app_role and await app_role_exists(conn, self._app_role):
                    for statement in registry_grants(self._app_role):
                        await conn.execute(statement)
                await conn.execute(
                    "UPDATE ingestion.run SET status = 'completed', finished_at = now(), "
                    "summary = $2, staging_schema = $3 WHERE id = $1",
                    uuid.UUID(run.run_id),
                    json.dumps(summary),
                    LIVE_SCHEMA,
                )
        log.info("month_published", run_id=run.run_id, counts=counts)

        # The month is live from here on. Dropping the old one waits for
        # searches still reading it; if that fails, the next run drops it.
        async with raw_connection(self._engine) as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SET LOCAL lock_timeout = '60s'")
                    await _drop_retired(conn)
                    fingerprint = await conn.fetchval(
                        "SELECT source_fingerprint FROM ingestion.run WHERE id = $1",
                        uuid.UUID(run.run_id),
                    )
                    await _abandon_runs(conn, fingerprint, keep=uuid.UUID(run.run_id))
            except asyncpg.PostgresError as error:
                log.warning("retired_month_left", run_id=run.run_id, error=str(error))

    async def fail_run(self, run: RunState, error: str) -> None:
        async with raw_connection(self._engine) as conn:
            await conn.execute(
                # A published run stays published whatever happens after the swap.
                "UPDATE ingestion.run SET status = 'failed', error = $2, finished_at = now() "
                "WHERE id = $1 AND status <> 'completed'",
                uuid.UUID(run.run_id),
                error[:2000],
            )


class _BytesSource:
    """An async iterable over a bytes payload, in slices COPY can stream."""

    _SLICE = 1 << 20

    def __init__(self, payload: Any) -> None:
        # A pyarrow Buffer exposes the buffer protocol: slicing it copies nothing.
        self._view = memoryview(payload)

    def __aiter__(self) -> _BytesSource:
        self._offset = 0
        return self

    async def __anext__(self) -> bytes:
        if self._offset >= len(self._view):
            raise StopAsyncIteration
        piece = self._view[self._offset : self._offset + self._SLICE]
        self._offset += self._SLICE
        return bytes(piece)


def _add(target: dict[int, int], source: dict[int, int]) -> None:
    for key, value in source.items():
        target[key] += value


async def _tune_session(conn: asyncpg.Connection) -> None:
    # Index builds and the dedup aggregates sort millions of rows, so they get
    # memory for this session. Finalize already runs one chain per core, and
    # parallel workers on top of that only add coordination overhead.
    await conn.execute("SET maintenance_work_mem = '512MB'")
    await conn.execute("SET work_mem = '256MB'")
    await conn.execute("SET max_parallel_maintenance_workers = 0")
    await conn.execute("SET max_parallel_workers_per_gather = 0")
    await conn.execute("SET statement_timeout = 0")


async def _clone_schema(
    conn: asyncpg.Connection, live: str, staging: str, *, unlogged: bool
) -> None:
    """Create ``staging`` with the live tables' columns, CHECKs and partitions, no indexes."""
    await conn.execute(f"CREATE SCHEMA {staging}")
    tables = await conn.fetch(
        """
        SELECT c.relname, c.relkind, c.oid,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname
        """,
        live,
    )
    for table in tables:
        name = table["relname"]
        like = (
            f"(LIKE {live}.{name} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING GENERATED INCLUDING STORAGE)"
        )
        if table["relkind"] == "p":
            await conn.execute(
                f"CREATE TABLE {staging}.{name} {like} PARTITION BY {table['partkey']}"
            )
            partitions = await conn.fetch(
                """
                SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = $1 ORDER BY c.relname
                """,
                table["oid"],
            )
            for partition in partitions:
                persistence = "UNLOGGED " if unlogged else ""
                await conn.execute(
                    f"CREATE {persistence}TABLE {staging}.{partition['relname']} "
                    f"PARTITION OF {staging}.{name} {partition['bound']}"
                )
        else:
            bulky = name in KEYS or name == "partner"
            persistence = "UNLOGGED " if unlogged and bulky else ""
            await conn.execute(f"CREATE {persistence}TABLE {staging}.{name} {like}")

    # Lookups are small and merged row by row, so they get their keys now.
    for table in TABLE_FOR_KIND.values():
        if table in KEYS or table == "partner":
            continue
        key = LOOKUP_KEY.get(table, "code")
        await conn.execute(f"ALTER TABLE {staging}.{table} ADD PRIMARY KEY ({key})")


async def _drop_retired(conn: asyncpg.Connection) -> None:
    """Drop the schemas of months that a publish replaced."""
    for row in await conn.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'registry\\_retired\\_%'"
    ):
        await conn.execute(f"DROP SCHEMA IF EXISTS {row['nspname']} CASCADE")
        log.info("retired_month_dropped", schema=row["nspname"])


async def _abandon_runs(conn: asyncpg.Connection, fingerprint: str, *, keep: uuid.UUID) -> None:
    """Drop the staging schemas of unfinished runs of ``fingerprint`` other than ``keep``."""
    stale = await conn.fetch(
        """
        SELECT id, staging_schema FROM ingestion.run
        WHERE source_fingerprint = $1 AND status IN ('running', 'failed') AND id <> $2
          AND staging_schema LIKE 'registry\\_stage\\_%'
        """,
        fingerprint,
        keep,
    )
    for row in stale:
        await conn.execute(f"DROP SCHEMA IF EXISTS {row['staging_schema']} CASCADE")
        await conn.execute("UPDATE ingestion.run SET status = 'abandoned' WHERE id = $1", row["id"])
        log.info("stale_run_abandoned", run_id=str(row["id"]), schema=row["staging_schema"])


async def _missing_only(
    engine: AsyncEngine, schema: str, statements: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Leave out indexes and constraints that an interrupted finalize already built."""
    async with raw_connection(engine) as conn:
        existing = {
            row["name"]
            for row in await conn.fetch(
                """
                SELECT c.relname AS name FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relkind IN ('i', 'I')
                """,
                schema,
            )
        }
    pending: dict[str, list[str]] = {}
    for table, table_statements in statements.items():
        pending[table] = [s for s in table_statements if _object_name(s) not in existing]
    return pending


def _object_name(statement: str) -> str:
    """Return the index or constraint name a CREATE INDEX / ADD CONSTRAINT statement creates."""
    match = re.search(r"(?:INDEX|CONSTRAINT) (\S+)", statement)
    return match.group(1) if match else ""


async def _merge_lookup(
    conn: asyncpg.Connection, schema: str, table: str, chunk: ParsedChunk
) -> tuple[int, list[QuarantinedRow]]:
    """Insert lookup rows once per code; a repeated code with another text is quarantined."""
    key = LOOKUP_KEY.get(table, "code")
    rows = list(chunk.lookup_rows)
    if not rows:
        return 0, []
    columns = list(chunk.columns)
    existing = {
        record[key]: dict(record)
        for record in await conn.fetch(
            f"SELECT {', '.join(columns)} FROM {schema}.{table} WHERE {key} = ANY($1)",
            [row[key] for row in rows],
        )
    }
    fresh: list[tuple[Any, ...]] = []
    conflicts: list[QuarantinedRow] = []
    loaded = 0
    for row in rows:
        seen = existing.get(row[key])
        if seen is None:
            existing[row[key]] = row
            fresh.append(tuple(row[c] for c in columns))
            loaded += 1
        elif seen != row:
            # Same code, other text: the first one stays, this one waits in quarantine.
            conflicts.append(
                QuarantinedRow(
                    line=None,
                    raw=";".join(f'"{row[c] or ""}"' for c in columns[:2]),
                    reason=QuarantineReason.DUPLICATE_KEY,
                    detail=f"code {row[key]} already loaded with another description",
                )
            )
    if fresh:
        await conn.copy_records_to_table(table, schema_name=schema, records=fresh, columns=columns)
    return loaded, conflicts


async def _insert_quarantine(
    conn: asyncpg.Connection, run_id: uuid.UUID, file_id: int, rows: Sequence[QuarantinedRow]
) -> None:
    if not rows:
        return
    await conn.copy_records_to_table(
        "quarantine",
        schema_name="ingestion",
        columns=["run_id", "file_id", "line", "raw", "reason", "detail"],
        records=[(run_id, file_id, r.line, r.raw, r.reason.value, r.detail) for r in rows],
    )


async def _index_statements(engine: AsyncEngine, live: str, staging: str) -> dict[str, list[str]]:
    """Read the live tables' constraints and indexes and aim them at the staging schema."""
    async with raw_connection(engine) as conn:
        rows = await conn.fetch(
            """
            SELECT t.relname AS table_name, i.relname AS index_name,
                   pg_get_indexdef(i.oid) AS indexdef,
                   con.conname, pg_get_constraintdef(con.oid) AS condef
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            LEFT JOIN pg_constraint con ON con.conindid = i.oid AND con.contype IN ('p', 'u')
            WHERE n.nspname = $1 AND NOT t.relispartition
            ORDER BY t.relname, con.conname NULLS LAST, i.relname
            """,
            live,
        )
    statements: dict[str, list[str]] = defaultdict(list)
    on_live = re.compile(rf"\bON (ONLY )?{re.escape(live)}\.")
    for row in rows:
        table = row["table_name"]
        if table not in KEYS and table not in ("partner", "shared_contact", "snapshot"):
            continue  # lookups got their keys when the schema was cloned
        if row["conname"] is not None:
            statements[table].append(
                f"ALTER TABLE {staging}.{table} ADD CONSTRAINT {row['conname']} {row['condef']}"
            )
        else:
            statements[table].append(on_live.sub(f"ON {staging}.", row["indexdef"]))
    return dict(statements)


async def _build_table_indexes(
    conn: asyncpg.Connection, schema: str, table: str, statements: list[str], run_id: uuid.UUID
) -> tuple[dict[int, int], dict[int, int]]:
    """Run a table's index statements; on a duplicate key, deduplicate and retry once."""
    duplicates: dict[int, int] = {}
    conflicts: dict[int, int] = {}
    for statement in statements:
        started = time.perf_counter()
        try:
            await conn.execute(statement)
        except asyncpg.UniqueViolationError:
            if table not in KEYS:
                raise
            # The key constraint is the dedup check: it costs nothing when the
            # month has no repeated keys, the usual case.
            duplicates, conflicts = await _dedup_keyed(conn, schema, table, KEYS[table], run_id)
            await conn.execute(statement)
        log.debug("index_built", table=table, seconds=round(time.perf_counter() - started, 2))
    return duplicates, conflicts


async def _content_columns(conn: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = ($1 || '.' || $2)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        schema,
        table,
    )
    return [r["attname"] for r in rows if r["attname"] not in _SOURCE_COLUMNS]


async def _dedup_keyed(
    conn: asyncpg.Connection, schema: str, table: str, key: tuple[str, ...], run_id: uuid.UUID
) -> tuple[dict[int, int], dict[int, int]]:
    """Keep the first row of each key; drop identical repeats, quarantine differing ones."""
    columns = await _content_columns(conn, schema, table)
    key_list = ", ".join(key)
    content = f"md5(ROW({', '.join(columns)})::text)"
    delete_sql = f"""
        WITH repeated AS (
            SELECT {key_list} FROM {schema}.{table} GROUP BY {key_list} HAVING count(*) > 1
        ),
        ranked AS (
            SELECT t.ctid AS row_id, t.source_file_id, t.source_line, {content} AS digest,
                   ROW({", ".join("t." + c for c in columns)})::text AS row_text,
                   first_value({content}) OVER w AS first_digest,
                   row_number() OVER w AS position
            FROM {schema}.{table} t JOIN repeated USING ({key_list})
            WINDOW w AS (PARTITION BY {", ".join("t." + k for k in key)}
                         ORDER BY t.source_file_id, t.source_line)
        )
        DELETE FROM {schema}.{table} t USING ranked r
        WHERE t.ctid = r.row_id AND r.position > 1
        RETURNING r.source_file_id, r.source_line, r.digest = r.first_digest AS identical, r.row_text
        """
    return await _record_removed(conn, delete_sql, run_id, table)


#: Columns that every word-for-word repeat of a partner row shares and that are
#: cheap to group by; full rows are compared only within these groups.
_PARTNER_CANDIDATE_KEY = ("cnpj_root", "document", "qualification_code", "entry_date")


async def _dedup_unkeyed(
    conn: asyncpg.Connection, schema: str, table: str, run_id: uuid.UUID
) -> tuple[dict[int, int], dict[int, int]]:
    """Remove rows repeated word for word (same content, any source position)."""
    columns = await _content_columns(conn, schema, table)
    candidate = ", ".join(_PARTNER_CANDIDATE_KEY)
    same_candidate = " AND ".join(
        f"t.{c} IS NOT DISTINCT FROM r.{c}" for c in _PARTNER_CANDIDATE_KEY
    )
    t_columns = ", ".join("t." + c for c in columns)
    # Grouping by a few narrow columns finds the candidates without converting
    # rows to text. The window over every column then keeps one row per exact
    # repeat, so two partners that differ in any column both stay.
    delete_sql = f"""
        WITH repeated AS (
            SELECT {candidate} FROM {schema}.{table}
            GROUP BY {candidate} HAVING count(*) > 1
        ),
        ranked AS (
            SELECT t.ctid AS row_id, t.source_file_id, t.source_line,
                   row_number() OVER (PARTITION BY {t_columns}
                                      ORDER BY t.source_file_id, t.source_line) AS position
            FROM {schema}.{table} t
            JOIN repeated r ON r.cnpj_root = t.cnpj_root AND {same_candidate}
        )
        DELETE FROM {schema}.{table} t USING ranked r
        WHERE t.ctid = r.row_id AND r.position > 1
        RETURNING r.source_file_id, r.source_line, true AS identical, NULL::text AS row_text
        """
    return await _record_removed(conn, delete_sql, run_id, table)


async def _record_removed(
    conn: asyncpg.Connection, delete_sql: str, run_id: uuid.UUID, table: str
) -> tuple[dict[int, int], dict[int, int]]:
    """Run a dedup DELETE and record what it removed, in one transaction.

    Differing rows go to quarantine and the counts to ``ingestion.finalize_dedup``
    together with the DELETE, so a crash loses neither the rows nor the counts.
    """
    duplicates: dict[int, int] = defaultdict(int)
    conflicts: dict[int, int] = defaultdict(int)
    quarantine: list[tuple[Any, ...]] = []
    async with conn.transaction():
        rows = await conn.fetch(delete_sql)
        for row in rows:
            if row["identical"]:
                duplicates[row["source_file_id"]] += 1
            else:
                conflicts[row["source_file_id"]] += 1
                quarantine.append(
                    (
                        run_id,
                        row["source_file_id"],
                        row["source_line"],
                        row["row_text"],
                        QuarantineReason.DUPLICATE_KEY.value,
                        f"another {table} row with the same key was loaded first",
                    )
                )
        if quarantine:
            await conn.copy_records_to_table(
                "quarantine",
                schema_name="ingestion",
                columns=["run_id", "file_id", "line", "raw", "reason", "detail"],
                records=quarantine,
            )
        await conn.execute(
            """
            INSERT INTO ingestion.finalize_dedup (run_id, table_name, duplicates, conflicts)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (run_id, table_name) DO UPDATE SET
                duplicates = EXCLUDED.duplicates, conflicts = EXCLUDED.conflicts
            """,
            run_id,
            table,
            json.dumps(duplicates),
            json.dumps(conflicts),
        )
    if rows:
        log.info(
            "duplicates_removed",
            table=table,
            identical=sum(duplicates.values()),
            conflicting=sum(conflicts.values()),
        )
    return dict(duplicates), dict(conflicts)


async def _earlier_dedups(
    conn: asyncpg.Connection, run_id: uuid.UUID
) -> dict[str, tuple[dict[int, int], dict[int, int]]]:
    """Return the dedups an earlier attempt of this run committed, by table."""
    rows = await conn.fetch(
        "SELECT table_name, duplicates, conflicts FROM ingestion.finalize_dedup WHERE run_id = $1",
        run_id,
    )
    return {
        row["table_name"]: (
            {int(k): v for k, v in _json_dict(row["duplicates"]).items()},
            {int(k): v for k, v in _json_dict(row["conflicts"]).items()},
        )
        for row in rows
    }


def _json_dict(value: Any) -> dict[str, int]:
    decoded: dict[str, int] = json.loads(value) if isinstance(value, str) else dict(value)
    return decoded


#: Columns that search filters and joins read; ANALYZE computes statistics for
#: these only, which costs a fraction of analysing all of them.
_ANALYZE_COLUMNS = {
    "establishment": (
        "cnpj",
        "cnpj_root",
        "uf",
        "cnae_primary",
        "cnaes_secondary",
        "ibge_code",
        "registration_status",
        "is_head_office",
        "opening_date",
        "phone1_kind",
        "phone2_kind",
        "email_valid",
    ),
    "company": ("cnpj_root", "company_size", "share_capital"),
    "simples": ("cnpj_root", "simples_opted", "mei_opted"),
    "partner": ("cnpj_root",),
}


async def _analyze(conn: asyncpg.Connection, schema: str, table: str) -> None:
    columns = ", ".join(_ANALYZE_COLUMNS[table])
    await conn.execute(f"ANALYZE {schema}.{table} ({columns})")


async def _count_shared_contacts(conn: asyncpg.Connection, schema: str, threshold: int) -> None:
    """Record e-mails and phones that at least ``threshold`` establishments share."""
    # One scan: each establishment contributes its e-mail and both phones as
    # (kind, value) pairs, and one aggregate counts them all.
    # A finalize interrupted after this step runs it again from scratch.
    await conn.execute(f"TRUNCATE {schema}.shared_contact")
    await conn.execute(
        f"""
        INSERT INTO {schema}.shared_contact (kind, value, establishment_count)
        SELECT contact.kind, contact.value, count(*)
        FROM {schema}.establishment e
        CROSS JOIN LATERAL (VALUES
            ('email', CASE WHEN e.email_valid THEN e.email END),
            ('phone', CASE WHEN e.phone1_kind IN ('mobile', 'landline') THEN e.phone1 END),
            ('phone', CASE WHEN e.phone2_kind IN ('mobile', 'landline')
                                AND e.phone2 IS DISTINCT FROM e.phone1 THEN e.phone2 END)
        ) AS contact(kind, value)
        WHERE contact.value IS NOT NULL
        GROUP BY contact.kind, contact.value
        HAVING count(*) >= $1
        """,
        threshold,
    )


async def _table_counts(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in sorted(set(TABLE_FOR_KIND.values()) | {"shared_contact"}):
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {schema}.{table}")
    return counts
