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
    """tqdm bars sized in uncompressed bytes, one per file being read."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}
        self._read: dict[str, int] = {}

    def file_started(self, name: str, total_bytes: int) -> None:
        # Files load in parallel, so each bar takes the first free line.
        taken = {bar.pos for bar in self._bars.values()}
        position = next(p for p in range(len(taken) + 1) if p not in taken)
        self._read[name] = 0
        self._bars[name] = tqdm(
            total=total_bytes or None,
            desc=name[-40:],
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=False,
            position=position,
            file=sys.stderr,
        )

    def advanced(self, name: str, bytes_read: int, rows: int) -> None:
        bar = self._bars.get(name)
        if bar is not None:
            bar.update(max(0, bytes_read - self._read[name]))
            self._read[name] = bytes_read

    def file_finished(self, counts: FileCounts) -> None:
        bar = self._bars.pop(counts.name, None)
        if bar is not None:
            bar.close()
        tqdm.write(
            f"  {counts.name}: {counts.rows_read:,} lidas, {counts.rows_loaded:,} carregadas, "
            f"{counts.rows_quarantined:,} em quarentena, {counts.rows_duplicate:,} duplicadas",
            file=sys.stderr,
        )

    def phase(self, name: str) -> None:
        tqdm.write(f"  etapa: {name}", file=sys.stderr)


class LogProgress:
    """One log line per file and at most one every ``interval`` seconds while reading."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._rows: dict[str, int] = {}
        self._last = 0.0

    def file_started(self, name: str, total_bytes: int) -> None:
        self._rows[name] = 0
        log.info("file_started", file=name, bytes=total_bytes)

    def advanced(self, name: str, bytes_read: int, rows: int) -> None:
        self._rows[name] = self._rows.get(name, 0) + rows
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            log.info("file_progress", file=name, bytes_read=bytes_read, rows=self._rows[name])

    def file_finished(self, counts: FileCounts) -> None:
        self._rows.pop(counts.name, None)
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
