"""Ingestion progress: a bar per file on a terminal, structured log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

import structlog
from tqdm import tqdm

from domain.ingestion import FileCounts

log = structlog.get_logger("garimpo.ingestion")


class TerminalProgress:
    """tqdm bars sized in uncompressed bytes, one per file."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._last_bytes = 0

    def file_started(self, name: str, total_bytes: int) -> None:
        self._close()
        self._last_bytes = 0
        self._bar = tqdm(
            total=total_bytes or None,
            desc=name[-48:],
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=False,
            file=sys.stderr,
        )

    def advanced(self, bytes_read: int, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(max(0, bytes_read - self._last_bytes))
            self._last_bytes = bytes_read

    def file_finished(self, counts: FileCounts) -> None:
        self._close()
        tqdm.write(
            f"  {counts.name}: {counts.rows_read:,} lidas, {counts.rows_loaded:,} carregadas, "
            f"{counts.rows_quarantined:,} em quarentena, {counts.rows_duplicate:,} duplicadas",
            file=sys.stderr,
        )

    def phase(self, name: str) -> None:
        self._close()
        tqdm.write(f"  etapa: {name}", file=sys.stderr)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LogProgress:
    """One log line per file and at most one every ``interval`` seconds while reading."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._name = ""
        self._rows = 0
        self._last = 0.0

    def file_started(self, name: str, total_bytes: int) -> None:
        self._name = name
        self._rows = 0
        self._last = time.monotonic()
        log.info("file_started", file=name, bytes=total_bytes)

    def advanced(self, bytes_read: int, rows: int) -> None:
        self._rows += rows
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            log.info("file_progress", file=self._name, bytes_read=bytes_read, rows=self._rows)

    def file_finished(self, counts: FileCounts) -> None:
        log.info(
            "file_finished",
            file=counts.name,
            rows_read=counts.rows_read,
            rows_loaded=counts.rows_loaded,
            rows_quarantined=counts.rows_quarantined,
            rows_duplicate=counts.rows_duplicate,
            nul_bytes_removed=counts.nul_bytes_removed,
        )

    def phase(self, name: str) -> None:
        log.info("ingestion_phase", phase=name)


def progress_for_terminal() -> TerminalProgress | LogProgress:
    return TerminalProgress() if sys.stderr.isatty() else LogProgress()
