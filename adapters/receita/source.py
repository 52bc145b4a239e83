"""Resolve an ingestion source to local files, and find its municipality table.

A source is a folder on disk, an http(s) URL of a month (a folder listing,
a WebDAV share or a zip) or ``latest``, which picks the newest ``YYYY-MM``
folder under the configured base URL.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import httpx
import structlog

from adapters.receita.files import discover
from adapters.receita.municipalities import fetch_municipality_table
from adapters.receita.remote import download_dump, resolve_latest
from application.ingestion import IngestionError, LocalDump, MunicipalityMap
from domain.municipality import RECEITA_ONLY_MUNICIPALITIES

log = structlog.get_logger(__name__)

_MONTH = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")

#: File names under which the Tesouro Nacional publishes its municipality table
#: (it was renamed from TABMUN.CSV to tabmun.csv in 2025).
_TABLE_NAMES = {"tabmun.csv"}


class ReceitaDumpSource:
    """The ``DumpSource`` port: folders as they are, URLs downloaded under ``download_dir``."""

    def __init__(
        self, download_dir: Path, client: httpx.AsyncClient, latest_base_url: str | None
    ) -> None:
        self._download_dir = download_dir
        self._client = client
        self._latest_base_url = latest_base_url

    async def fetch(self, source: str) -> LocalDump:
        if source == "latest":
            if not self._latest_base_url:
                raise IngestionError(
                    "'latest' precisa de CNPJ_DUMP_BASE_URL: defina o endereço que lista as "
                    "pastas mensais (AAAA-MM/) dos dados abertos do CNPJ da Receita Federal"
                )
            source = await resolve_latest(self._latest_base_url, self._client)

        if source.startswith(("http://", "https://")):
            digest = hashlib.sha256(source.encode()).hexdigest()[:16]
            root = self._download_dir / digest
            await download_dump(source, root, self._client)
            return await asyncio.to_thread(_describe, root, source, source)

        return await asyncio.to_thread(_describe_local, source)


def _describe_local(source: str) -> LocalDump:
    root = Path(source).expanduser().resolve()
    if not root.exists():
        raise IngestionError(
            f"a origem {source} não existe: informe uma pasta ou um endereço http(s)"
        )
    return _describe(root, source, str(root))


def _describe(root: Path, source: str, fingerprint_base: str) -> LocalDump:
    """Discover the dump files under ``root`` and fingerprint them for resuming."""
    found = discover(root)
    if not found.files:
        raise IngestionError(f"nenhum arquivo da base do CNPJ encontrado em {source}")

    # Size and modification time stand in for content: a changed file makes a
    # new fingerprint, so an interrupted run is never resumed over other data.
    fingerprint = hashlib.sha256(fingerprint_base.encode())
    for dump_file in found.files:
        stat = dump_file.path.stat()
        fingerprint.update(f"{dump_file.name}:{dump_file.size}:{stat.st_mtime_ns}".encode())

    month = _MONTH.search(source)
    reference = month.group(0) if month else _reference_from_names(f.name for f in found.files)
    return LocalDump(
        root=root if root.is_dir() else root.parent,
        fingerprint=fingerprint.hexdigest(),
        reference=reference,
        files=found.files,
        # The municipality table rides along with some dumps; it is used, not skipped.
        skipped=tuple(
            name for name in found.skipped if Path(name).name.lower() not in _TABLE_NAMES
        ),
    )


class TesouroMunicipalityTable:
    """The ``MunicipalityTable`` port over the Tesouro Nacional's SIAFI municipality list.

    The table comes from ``MUNICIPALITY_TABLE_URL`` when it is set, else from a
    ``tabmun.csv`` shipped with the dump. Without either, only the codes that
    Receita uses and the Tesouro lacks are known, and the run reports every
    other municipality code as unmapped.
    """

    def __init__(self, location: str | None, client: httpx.AsyncClient) -> None:
        self._location = location
        self._client = client

    async def load(self, dump: LocalDump) -> MunicipalityMap:
        location = self._location or await asyncio.to_thread(_table_in, dump.root)
        if location is None:
            log.warning(
                "municipality_table_missing",
                hint="set MUNICIPALITY_TABLE_URL to the Tesouro Nacional table of municipalities",
            )
            codes = {m.tom_code: m for m in RECEITA_ONLY_MUNICIPALITIES}
            origin = "none"
        else:
            mapping = await fetch_municipality_table(location, self._client)
            codes = dict(mapping.by_tom)
            origin = location
        return MunicipalityMap(
            tom_to_ibge={tom: m.ibge_code for tom, m in codes.items()},
            tom_to_uf={tom: m.uf for tom, m in codes.items()},
            origin=origin,
        )


#: Extraction date in Receita's member names: ``D`` + last digit of the year +
#: month + day, as in ``K3241.K03200Y0.D61108.ESTABELE`` for 2026-11-08.
_EXTRACTION_CODE = re.compile(r"\.D([0-9])(0[1-9]|1[0-2])([0-3][0-9])\b")


def _reference_from_names(names: Iterable[str]) -> str | None:
    """Return the delivery month (``2026-11``) that the members' extraction codes name."""
    this_year = datetime.date.today().year
    for name in names:
        match = _EXTRACTION_CODE.search(name)
        if match is None:
            continue
        # One digit names the year within a decade: take the latest year with
        # that digit that is not in the future.
        year = this_year - (this_year - int(match.group(1))) % 10
        return f"{year}-{match.group(2)}"
    return None


def _table_in(root: Path) -> str | None:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.lower() in _TABLE_NAMES:
            return str(path)
    return None
