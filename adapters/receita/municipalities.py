"""Load the table that translates Receita (TOM/SIAFI) municipality codes to IBGE codes.

Two layouts are read, and the layout is detected from the first line:

* the Tesouro Nacional "Lista de Municípios do SIAFI" (``tabmun.csv``): no
  header, ``;`` separated, CRLF line ends, five columns
  ``TOM;CNPJ of the prefeitura;name padded with spaces;UF;IBGE code``;
* the same data as a CSV with a header row that names the columns
  ``codigo_tom``, ``nome``, ``uf`` and ``codigo_ibge`` (other columns are
  ignored), separated by ``,`` or ``;``.

The Tesouro has published the file in latin-1 and copies circulate in UTF-8,
so the bytes are decoded as UTF-8 first and as latin-1 when that fails.
Latin-1 accepts any byte sequence, so the fallback never fails.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import httpx
import structlog

from domain.municipality import (
    RECEITA_ONLY_MUNICIPALITIES,
    MunicipalityMapping,
    MunicipalityRow,
)

log = structlog.get_logger(__name__)

#: Maximum size of a table file. The 2026 Tesouro list has about 5,600 rows of
#: under 80 bytes, about 0.4 MiB, so anything near this limit is another file.
MAX_TABLE_BYTES = 8 * 1024 * 1024

#: Columns the headed layout must have.
_HEADED_COLUMNS = ("codigo_tom", "nome", "uf", "codigo_ibge")

#: Column count of the Tesouro layout.
_TESOURO_COLUMN_COUNT = 5

#: Individual log lines for rejected or malformed rows; the rest are only counted.
_MAX_ROW_WARNINGS = 10


class MunicipalityTableError(Exception):
    """Raised when the municipality table cannot be downloaded, read or recognised."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"Cannot load the municipality table from {location}: {reason}")
        self.location = location
        self.reason = reason


@attrs.frozen
class ParsedTable:
    """The rows of a municipality table and the line numbers that could not be split into rows."""

    rows: tuple[MunicipalityRow, ...]
    malformed_lines: tuple[int, ...]


async def fetch_municipality_table(location: str, client: httpx.AsyncClient) -> MunicipalityMapping:
    """Download or read the TOM-to-IBGE table and build the mapping.

    ``location`` is an http(s) URL or a local file path. The codes that the
    Receita uses and the Tesouro list lacks (``9707`` abroad, municipalities
    created after the list was last updated) are always merged in. Raises
    MunicipalityTableError when the download fails, or when the file is empty,
    in an unknown layout or without a single valid row.
    """
    body = await _read_location(location, client)
    if not body.strip():
        raise MunicipalityTableError(location, "the file is empty")

    parsed = parse_municipality_table(_decode(body), location)
    mapping = MunicipalityMapping.from_rows(parsed.rows, supplements=RECEITA_ONLY_MUNICIPALITIES)

    table_rows = len(parsed.rows) - mapping.skipped_placeholders
    if table_rows - len(mapping.rejected) <= 0:
        raise MunicipalityTableError(
            location,
            f"no valid municipality row ({len(mapping.rejected)} rejected, "
            f"{len(parsed.malformed_lines)} malformed)",
        )

    _log_problems(location, parsed, mapping)
    log.info(
        "municipality table loaded",
        location=location,
        municipalities=len(mapping),
        placeholders_skipped=mapping.skipped_placeholders,
        rejected=len(mapping.rejected),
        malformed=len(parsed.malformed_lines),
        conflicts=len(mapping.conflicts),
    )
    return mapping


def parse_municipality_table(text: str, location: str = "<text>") -> ParsedTable:
    """Split the decoded table into rows, detecting the layout from the first non-blank line.

    Raises MunicipalityTableError when the first line matches neither layout
    or a headed file lacks a required column. ``location`` only names the
    source in error messages.
    """
    text = text.removeprefix("\ufeff")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise MunicipalityTableError(location, "the file is empty")

    if "codigo_tom" in first_line.lower():
        return _parse_headed(text, first_line, location)

    fields = first_line.split(";")
    if len(fields) == _TESOURO_COLUMN_COUNT and _looks_like_tom_code(fields[0].strip()):
        return _parse_tesouro(text)

    raise MunicipalityTableError(
        location,
        "unrecognised layout: expected the Tesouro SIAFI list "
        "(TOM;CNPJ;name;UF;IBGE) or a CSV with a codigo_tom header, "
        f"but the first line is {first_line[:80]!r}",
    )


def _parse_tesouro(text: str) -> ParsedTable:
    rows: list[MunicipalityRow] = []
    malformed: list[int] = []

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != _TESOURO_COLUMN_COUNT:
            malformed.append(reader.line_num)
            continue

        tom, _cnpj, name, uf, ibge = (field.strip() for field in fields)
        rows.append(_make_row(tom, name, uf, ibge, reader.line_num))

    return ParsedTable(rows=tuple(rows), malformed_lines=tuple(malformed))


def _parse_headed(text: str, first_line: str, location: str) -> ParsedTable:
    # A header with semicolons and no commas is the same table exported with
    # the separator that Brazilian spreadsheets use.
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    header: Sequence[str] = []
    for fields in reader:
        if any(field.strip() for field in fields):
            header = [field.strip().lower() for field in fields]
            break

    missing = [column for column in _HEADED_COLUMNS if column not in header]
    if missing:
        raise MunicipalityTableError(
            location, f"the header lacks the column(s) {', '.join(missing)}"
        )
    positions = [header.index(column) for column in _HEADED_COLUMNS]
    width = max(positions) + 1

    rows: list[MunicipalityRow] = []
    malformed: list[int] = []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        if len(fields) < width:
            malformed.append(reader.line_num)
            continue

        tom, name, uf, ibge = (fields[position].strip() for position in positions)
        rows.append(_make_row(tom, name, uf, ibge, reader.line_num))

    return ParsedTable(rows=tuple(rows), malformed_lines=tuple(malformed))


def _make_row(tom: str, name: str, uf: str, ibge: str, line: int) -> MunicipalityRow:
    # Spreadsheet round trips turn "0001" into "1", so short numeric codes get their zeros back.
    if tom.isdigit() and len(tom) < 4:
        tom = tom.zfill(4)
    return MunicipalityRow(tom_code=tom, name=name, uf=uf.upper(), ibge_code=ibge, line=line)


def _looks_like_tom_code(value: str) -> bool:
    return value.isdigit() and 1 <= len(value) <= 4


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


async def _read_location(location: str, client: httpx.AsyncClient) -> bytes:
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        return await _download(location, client)
    if "://" in location:
        raise MunicipalityTableError(
            location, f"unsupported URL scheme '{scheme}': use http, https or a local file path"
        )
    return await asyncio.to_thread(_read_file, location)


def _read_file(location: str) -> bytes:
    path = Path(location)
    try:
        size = path.stat().st_size
        if size > MAX_TABLE_BYTES:
            raise MunicipalityTableError(
                location, f"the file has {size} bytes, more than the limit of {MAX_TABLE_BYTES}"
            )
        return path.read_bytes()
    except FileNotFoundError as error:
        raise MunicipalityTableError(location, "file not found") from error
    except OSError as error:
        raise MunicipalityTableError(location, f"cannot read the file: {error}") from error


async def _download(url: str, client: httpx.AsyncClient) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != httpx.codes.OK:
                raise MunicipalityTableError(
                    url,
                    f"the server returned HTTP {response.status_code}; "
                    "check the URL, or retry later if the status is 5xx",
                )
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_TABLE_BYTES:
                    raise MunicipalityTableError(
                        url, f"the response exceeds the limit of {MAX_TABLE_BYTES} bytes"
                    )
                chunks.append(chunk)
    except httpx.TimeoutException as error:
        raise MunicipalityTableError(url, f"the request timed out ({error!r})") from error
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise MunicipalityTableError(url, f"the request failed: {error!r}") from error

    return b"".join(chunks)


def _log_problems(location: str, parsed: ParsedTable, mapping: MunicipalityMapping) -> None:
    for line in parsed.malformed_lines[:_MAX_ROW_WARNINGS]:
        log.warning("municipality table line malformed", location=location, line=line)

    for rejected in mapping.rejected[:_MAX_ROW_WARNINGS]:
        log.warning(
            "municipality table row rejected",
            location=location,
            line=rejected.row.line,
            tom_code=rejected.row.tom_code,
            error=rejected.error.detail,
        )

    hidden = max(0, len(parsed.malformed_lines) - _MAX_ROW_WARNINGS) + max(
        0, len(mapping.rejected) - _MAX_ROW_WARNINGS
    )
    if hidden:
        log.warning("municipality table has more bad rows", location=location, not_logged=hidden)

    for conflict in mapping.conflicts:
        log.warning(
            "municipality table lists a TOM code with different IBGE codes; code left unmapped",
            location=location,
            tom_code=conflict.tom_code,
            ibge_codes=list(conflict.ibge_codes),
            lines=list(conflict.lines),
        )

    for supplement in mapping.ignored_supplements:
        log.warning(
            "built-in municipality code not used because the table lists the same TOM code",
            location=location,
            tom_code=supplement.tom_code,
            built_in_ibge_code=supplement.ibge_code,
            table_ibge_code=mapping.ibge_code(supplement.tom_code),
        )
