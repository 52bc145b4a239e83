"""The credit statement as CSV that opens correctly in a spreadsheet set to Brazilian Portuguese.

Excel and LibreOffice in pt-BR split columns on ``;`` (the comma is the
decimal separator), read a file as UTF-8 only when it starts with a byte
order mark, and read dates as dd/mm/aaaa. Free text goes through
:func:`text_cell`, which quotes it where ``csv`` must and neutralises what a
spreadsheet would run as a formula (CSV injection, as OWASP describes it).
Numbers never go through it, so a debit of -1 stays a number.

The statement is written in chunks of rows, so an export of any length is
streamed without holding it in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import zoneinfo
from collections.abc import Iterable, Sequence

from domain.credits import REFERENCE_LABELS, LedgerEntry

BOM = "\ufeff"
DELIMITER = ";"
LINE_TERMINATOR = "\r\n"
#: First characters that make a spreadsheet evaluate a cell. Tab and carriage
#: return are included because some programs skip them before looking.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPE = "text/csv; charset=utf-8"

HEADERS = (
    "Data",
    "Hora",
    "Nº",
    "Tipo",
    "Créditos",
    "Variação da reserva",
    "Saldo anterior",
    "Saldo",
    "Reservados",
    "Disponível",
    "Motivo",
    "Referência",
    "Estorno do lançamento",
    "Responsável",
    "Lançamento",
    "Validade dos créditos",
)

Cell = str | int | decimal.Decimal | float | None


def text_cell(value: str | None) -> str:
    """Format free text as a cell, with a leading ``'`` when it would read as a formula."""
    if not value:
        return ""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def number_cell(value: int | decimal.Decimal | float) -> str:
    """Format a number as a pt-BR spreadsheet reads it: integers as they are, else a decimal comma."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number cell")
    if isinstance(value, int):
        return str(value)
    exact = value if isinstance(value, decimal.Decimal) else decimal.Decimal(repr(value))
    return format(exact, "f").replace(".", ",")


def date_and_time_cells(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[str, str]:
    """Return the day (dd/mm/aaaa) and the time (hh:mm:ss) of ``moment`` in ``zone``."""
    local = moment.astimezone(zone)
    return local.strftime("%d/%m/%Y"), local.strftime("%H:%M:%S")


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return text_cell(value)
    return number_cell(value)


class BrazilianCsv:
    """Writer of rows as ``;``-separated UTF-8 text, whose first chunk starts with the BOM."""

    def __init__(self) -> None:
        self._started = False

    def chunk(self, rows: Iterable[Sequence[Cell]]) -> bytes:
        buffer = io.StringIO()
        if not self._started:
            buffer.write(BOM)
            self._started = True
        writer = csv.writer(
            buffer,
            delimiter=DELIMITER,
            quotechar='"',
            quoting=csv.QUOTE_MINIMAL,
            lineterminator=LINE_TERMINATOR,
        )
        for row in rows:
            writer.writerow([_cell(value) for value in row])
        return buffer.getvalue().encode("utf-8")


class LedgerCsv:
    """The statement's columns: the header first, then one row per entry, oldest first."""

    def __init__(self, timezone: str) -> None:
        self._zone = zoneinfo.ZoneInfo(timezone)
        self._csv = BrazilianCsv()

    def header(self) -> bytes:
        return self._csv.chunk([HEADERS])

    def rows(self, entries: Iterable[LedgerEntry]) -> bytes:
        return self._csv.chunk(self._row(entry) for entry in entries)

    def _row(self, entry: LedgerEntry) -> list[Cell]:
        day, time = date_and_time_cells(entry.created_at, self._zone)
        reference = None
        if entry.reference_type:
            label = REFERENCE_LABELS.get(entry.reference_type, entry.reference_type)
            reference = f"{label} {entry.reference_id or ''}".strip()
        expiry = (
            " ".join(date_and_time_cells(entry.expires_at, self._zone))
            if entry.expires_at
            else None
        )
        # Date and time go out as text, so their format survives. They cannot
        # start with a formula character.
        return [
            day,
            time,
            entry.seq,
            entry.kind.label,
            entry.amount,
            entry.held_change,
            entry.balance_before,
            entry.balance_after,
            entry.held_after,
            entry.available_after,
            entry.reason,
            reference,
            entry.reverses_entry_id,
            entry.actor_label or entry.actor_type,
            entry.id,
            expiry,
        ]


def export_filename(first_day: dt.date | None, last_day: dt.date) -> str:
    """Return ``extrato-creditos-<from>-<to>.csv``, with ``inicio`` for a period without a start."""
    start = first_day.isoformat() if first_day else "inicio"
    return f"extrato-creditos-{start}-{last_day.isoformat()}.csv"
