"""Ingest a monthly CNPJ dump: the use case and the ports it drives.

The use case owns the order of work and the arithmetic of the summary; the
adapters own the formats (Receita's CSV, PostgreSQL's COPY). Parsing runs in
a worker thread while the previous chunk is being written, so the parser and
the database work at the same time.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import attrs
import structlog

from domain.ingestion import LOAD_ORDER, FileCounts, FileKind, RunSummary

log = structlog.get_logger(__name__)


class IngestionError(Exception):
    """Raised when a run cannot go on; the live month is left untouched.

    The message is shown to the operator as it is, so it is in Portuguese.
    """


class MonthAlreadyLive(IngestionError):
    """Raised when the live month came from the same files and mapping: nothing to load."""


@attrs.frozen
class RunState:
    run_id: str
    staging_schema: str
    #: Block size the run parses with; a resumed run must use the same one to
    #: cut the same chunks.
    chunk_bytes: int


@attrs.frozen
class FileProgress:
    """Rows and chunks of one file that earlier attempts of a run stored."""

    completed: bool
    chunks_done: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    nul_bytes: int = 0


@attrs.frozen
class FinalizeResult:
    duplicates_by_file: dict[int, int]
    #: Rows whose key repeats with other content: moved to quarantine.
    conflicts_by_file: dict[int, int]
    table_counts: dict[str, int]
    unmapped_municipalities: tuple[str, ...] = ()
    timings: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen
class LocalDump:
    """A dump available on local disk, whatever its origin."""

    root: Path
    #: Identifies the same source across attempts, for resuming.
    fingerprint: str
    #: Month of the delivery (``2026-11``) when the source names it.
    reference: str | None
    files: tuple[Any, ...]
    skipped: tuple[str, ...] = ()


@attrs.frozen
class MunicipalityMap:
    tom_to_ibge: Mapping[str, str | None]
    tom_to_uf: Mapping[str, str]
    #: Origin of the table (URL, path or ``none``), for the run summary.
    origin: str

    def digest(self) -> str:
        """Fingerprint the mapping's content, so a run resumes only under the same table."""
        content = hashlib.sha256()
        for tom in sorted(self.tom_to_ibge):
            content.update(f"{tom}={self.tom_to_ibge[tom]};".encode())
        return content.hexdigest()


class ChunkSource(Protocol):
    def chunks(self, skip: int = 0) -> Iterator[Any]:
        """Yield the file's chunks in order, leaving out the first ``skip``."""

    @property
    def nul_bytes(self) -> int: ...

    @property
    def bytes_read(self) -> int: ...


class DumpSource(Protocol):
    async def fetch(self, source: str) -> LocalDump:
        """Resolve ``source`` (a folder, a URL or ``latest``) to files on local disk."""


class MunicipalityTable(Protocol):
    async def load(self, dump: LocalDump) -> MunicipalityMap:
        """Load the TOM-to-IBGE municipality mapping for this dump."""


class ChunkReaderFactory(Protocol):
    def __call__(
        self, dump_file: Any, file_id: int, chunk_bytes: int, mapping: MunicipalityMap
    ) -> ChunkSource: ...


class ProgressReporter(Protocol):
    def file_started(self, name: str, total_bytes: int) -> None: ...

    def advanced(self, name: str, bytes_read: int, rows: int) -> None: ...

    def file_finished(self, counts: FileCounts) -> None: ...

    def phase(self, name: str) -> None: ...


class RegistryStaging(Protocol):
    """Storage a month is loaded into before it goes live."""

    async def acquire_lock(self) -> None: ...

    async def release_lock(self) -> None: ...

    async def find_resumable(self, fingerprint: str) -> RunState | None: ...

    async def live_fingerprint(self) -> str | None:
        """Return the fingerprint of the run that produced the live month, if any."""

    async def start_run(self, source: str, fingerprint: str, chunk_bytes: int) -> RunState: ...

    async def register_file(
        self, run: RunState, file_id: int, name: str, kind: FileKind
    ) -> FileProgress: ...

    async def store_chunk(
        self, run: RunState, file_id: int, kind: FileKind, chunk: Any
    ) -> tuple[int, int]: ...

    async def complete_file(self, run: RunState, file_id: int, nul_bytes: int) -> None: ...

    async def finalize(self, run: RunState) -> FinalizeResult: ...

    async def check(self, run: RunState, counts: dict[str, int], *, force: bool) -> None: ...

    async def publish(
        self,
        run: RunState,
        source: str,
        reference: str | None,
        counts: dict[str, int],
        summary: dict[str, Any],
    ) -> None: ...

    async def fail_run(self, run: RunState, error: str) -> None: ...


#: Chunks parsed ahead of the one being written, per file. With two files at
#: once this keeps memory to about four chunks' payloads in flight.
_READ_AHEAD = 1


class IngestMonth:
    """Load a monthly dump into a fresh snapshot and make it the live registry."""

    def __init__(
        self,
        *,
        source: DumpSource,
        municipalities: MunicipalityTable,
        readers: ChunkReaderFactory,
        staging: RegistryStaging,
        chunk_bytes: int,
        parallel_files: int = 2,
    ) -> None:
        self._source = source
        self._municipalities = municipalities
        self._readers = readers
        self._staging = staging
        self._chunk_bytes = chunk_bytes
        self._parallel_files = max(1, parallel_files)
        self._parsers: ThreadPoolExecutor | None = None

    async def __call__(
        self,
        source: str,
        progress: ProgressReporter,
        *,
        force: bool = False,
        fresh: bool = False,
    ) -> RunSummary:
        started = time.perf_counter()
        dump = await self._source.fetch(source)
        if not any(not f.kind.is_lookup for f in dump.files):
            raise IngestionError(
                f"nenhum arquivo de Empresas, Estabelecimentos, Sócios ou Simples em {source}"
            )
        mapping = await self._municipalities.load(dump)
        # Rows already loaded carry IBGE codes from the mapping, so another
        # mapping makes another run, never a resumed one.
        fingerprint = hashlib.sha256(f"{dump.fingerprint}:{mapping.digest()}".encode()).hexdigest()

        if not (force or fresh) and await self._staging.live_fingerprint() == fingerprint:
            raise MonthAlreadyLive(
                f"o mês de {source} já está publicado, com os mesmos arquivos e a mesma tabela "
                "de municípios; use --fresh para carregá-lo de novo"
            )

        # Parsing stays on as many threads as files load at once. Arrow's
        # allocator keeps a heap per thread, so a new thread per chunk (as the
        # default executor may pick) grows memory with the length of the run.
        self._parsers = ThreadPoolExecutor(
            max_workers=self._parallel_files, thread_name_prefix="dump-parser"
        )
        await self._staging.acquire_lock()
        try:
            run = None if fresh else await self._staging.find_resumable(fingerprint)
            resumed = run is not None
            if run is None:
                run = await self._staging.start_run(source, fingerprint, self._chunk_bytes)
            log.info(
                "ingestion_started",
                run_id=run.run_id,
                source=source,
                resumed=resumed,
                files=len(dump.files),
                municipality_table=mapping.origin,
            )
            try:
                summary = await self._load(run, dump, mapping, progress, source, resumed, force)
            except BaseException as error:
                await asyncio.shield(
                    self._staging.fail_run(run, f"{type(error).__name__}: {error}")
                )
                raise
        finally:
            await self._staging.release_lock()
            self._parsers.shutdown(wait=False)

        summary = attrs.evolve(summary, seconds=time.perf_counter() - started)
        log.info("ingestion_finished", run_id=run.run_id, seconds=round(summary.seconds, 1))
        return summary

    async def _load(
        self,
        run: RunState,
        dump: LocalDump,
        mapping: MunicipalityMap,
        progress: ProgressReporter,
        source: str,
        resumed: bool,
        force: bool,
    ) -> RunSummary:
        # File ids follow discovery order, which is stable for the same source,
        # so a resumed run finds its files under the same ids.
        numbered = list(enumerate(dump.files, start=1))
        numbered.sort(key=lambda item: (LOAD_ORDER.index(item[1].kind), item[1].name))

        counts: dict[int, FileCounts] = {}
        lookups = [(i, f) for i, f in numbered if f.kind.is_lookup]
        facts = [(i, f) for i, f in numbered if not f.kind.is_lookup]
        for file_id, dump_file in lookups:
            counts[file_id] = await self._load_file(run, file_id, dump_file, mapping, progress)

        # Fact files have no dependencies between them, so several load at once:
        # while one file's chunk is in COPY, another file's next chunk is parsed.
        # Estabelecimentos chunks take the most memory to normalise, so at most
        # one of them is in the works, beside a file of another kind.
        slots = asyncio.Semaphore(self._parallel_files)
        establishment_slot = asyncio.Semaphore(1)

        async def load(file_id: int, dump_file: Any) -> None:
            if dump_file.kind is FileKind.ESTABLISHMENT:
                async with establishment_slot, slots:
                    counts[file_id] = await self._load_file(
                        run, file_id, dump_file, mapping, progress
                    )
                return
            async with slots:
                counts[file_id] = await self._load_file(run, file_id, dump_file, mapping, progress)

        # Establishment files first, interleaved with the others, so the two
        # slots stay busy with one of each until the end.
        establishments = [f for f in facts if f[1].kind is FileKind.ESTABLISHMENT]
        others = [f for f in facts if f[1].kind is not FileKind.ESTABLISHMENT]
        ordered = [f for pair in itertools.zip_longest(establishments, others) for f in pair if f]
        await asyncio.gather(*(load(file_id, dump_file) for file_id, dump_file in ordered))

        progress.phase("indexes")
        result = await self._staging.finalize(run)
        for file_id, file_counts in counts.items():
            duplicates = result.duplicates_by_file.get(file_id, 0)
            conflicts = result.conflicts_by_file.get(file_id, 0)
            file_counts.rows_loaded -= duplicates + conflicts
            file_counts.rows_duplicate += duplicates
            file_counts.rows_quarantined += conflicts

        summary = RunSummary(
            run_id=run.run_id,
            source=source,
            files=tuple(counts[file_id] for file_id, _ in numbered),
            unmapped_municipalities=result.unmapped_municipalities,
            skipped_files=dump.skipped,
            resumed=resumed,
            reference=dump.reference,
        )
        await self._staging.check(run, result.table_counts, force=force)
        progress.phase("publish")
        await self._staging.publish(
            run, source, dump.reference, result.table_counts, summary_as_dict(summary, result)
        )
        return summary

    async def _load_file(
        self,
        run: RunState,
        file_id: int,
        dump_file: Any,
        mapping: MunicipalityMap,
        progress: ProgressReporter,
    ) -> FileCounts:
        stored = await self._staging.register_file(run, file_id, dump_file.name, dump_file.kind)
        counts = FileCounts(
            name=dump_file.name,
            kind=dump_file.kind,
            rows_loaded=stored.rows_loaded,
            rows_quarantined=stored.rows_quarantined,
            # Lookup rows repeated with the same text are neither loaded nor quarantined.
            rows_duplicate=stored.rows_read - stored.rows_loaded - stored.rows_quarantined,
            nul_bytes_removed=stored.nul_bytes,
        )
        if stored.completed:
            progress.file_finished(counts)
            return counts

        progress.file_started(dump_file.name, dump_file.size)
        reader = self._readers(dump_file, file_id, run.chunk_bytes, mapping)
        chunks = reader.chunks(skip=stored.chunks_done)
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_READ_AHEAD)
        finished = object()

        loop = asyncio.get_running_loop()
        parsers = self._parsers

        async def produce() -> None:
            while True:
                try:
                    chunk = await loop.run_in_executor(parsers, next, chunks, finished)
                except Exception as error:  # noqa: BLE001 - handed to the consumer, re-raised there
                    await queue.put(error)
                    return
                await queue.put(chunk)
                if chunk is finished:
                    return

        producer = asyncio.create_task(produce())
        try:
            while (chunk := await queue.get()) is not finished:
                if isinstance(chunk, Exception):
                    raise IngestionError(f"falha ao ler {dump_file.name}: {chunk}") from chunk
                loaded, quarantined = await self._staging.store_chunk(
                    run, file_id, dump_file.kind, chunk
                )
                counts.rows_loaded += loaded
                counts.rows_quarantined += quarantined
                # A lookup code repeated with the same text is a duplicate row.
                counts.rows_duplicate += chunk.rows_read - loaded - quarantined
                progress.advanced(dump_file.name, reader.bytes_read, chunk.rows_read)
            await producer
        finally:
            if not producer.done():
                producer.cancel()

        counts.nul_bytes_removed = reader.nul_bytes
        await self._staging.complete_file(run, file_id, reader.nul_bytes)
        progress.file_finished(counts)
        return counts


def summary_as_dict(summary: RunSummary, result: FinalizeResult | None = None) -> dict[str, Any]:
    """Return the summary as JSON-ready data, with the finalize timings when given."""
    files = [
        {
            "name": c.name,
            "kind": c.kind.value,
            "rows_read": c.rows_read,
            "rows_loaded": c.rows_loaded,
            "rows_quarantined": c.rows_quarantined,
            "rows_duplicate": c.rows_duplicate,
            "nul_bytes_removed": c.nul_bytes_removed,
        }
        for c in summary.files
    ]
    data: dict[str, Any] = {
        "run_id": summary.run_id,
        "source": summary.source,
        "reference": summary.reference,
        "published": True,
        "seconds": round(summary.seconds, 2),
        "resumed": summary.resumed,
        "totals": {
            kind.value: {
                "rows_read": c.rows_read,
                "rows_loaded": c.rows_loaded,
                "rows_quarantined": c.rows_quarantined,
                "rows_duplicate": c.rows_duplicate,
            }
            for kind, c in summary.totals_by_kind().items()
        },
        "files": files,
        "unmapped_municipalities": list(summary.unmapped_municipalities),
        "skipped_files": list(summary.skipped_files),
    }
    if result is not None:
        data["table_counts"] = result.table_counts
        data["finalize_seconds"] = {k: round(v, 3) for k, v in result.timings.items()}
    return data
