"""Find the files of a monthly CNPJ dump in a folder and open them as UTF-8 streams.

Receita has named the files two ways. Since 2022 the zips are called
``Estabelecimentos0.zip`` and so on, while each member keeps the mainframe name
(``K3241.K03200Y0.D50712.ESTABELE``). The 2021 deliveries used that mainframe
name for the zip too (``F.K03200$Z.D10612.CNAECSV.zip``). Recognising the kind
by a token of either name covers both, plus extracted members and the
``ESTABELE.csv`` style that some mirrors use.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import attrs

from domain.ingestion import FileKind

#: Tokens of Receita's file and member names, checked in this order on the
#: upper-cased base name. ``SIMPLES`` must not be taken for anything else and
#: ``ESTABELE`` also matches ``ESTABELECIMENTOS``.
_KIND_TOKENS: tuple[tuple[re.Pattern[str], FileKind], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"ESTABELE", FileKind.ESTABLISHMENT),
        (r"EMPRECSV|EMPRESAS", FileKind.COMPANY),
        (r"SOCIOCSV|SOCIOS", FileKind.PARTNER),
        (r"SIMPLES", FileKind.SIMPLES),
        (r"CNAECSV|CNAES", FileKind.CNAE),
        (r"MOTICSV|MOTIVOS", FileKind.STATUS_REASON),
        (r"MUNICCSV|MUNICIPIOS", FileKind.MUNICIPALITY),
        (r"NATJUCSV|NATUREZAS", FileKind.LEGAL_NATURE),
        (r"PAISCSV|PAISES", FileKind.COUNTRY),
        (r"QUALSCSV|QUALIFICACOES", FileKind.PARTNER_QUALIFICATION),
    )
)


def recognise_kind(name: str) -> FileKind | None:
    """Return the kind of a dump file from its base name, or None for other files."""
    base = name.rsplit("/", 1)[-1].upper()
    for pattern, kind in _KIND_TOKENS:
        if pattern.search(base):
            return kind
    return None


@attrs.frozen
class DumpFile:
    """One CSV of the dump: a plain file or a member inside a zip."""

    #: Name shown in summaries and quarantine rows: the path relative to the
    #: source, with ``!member`` appended for a zip member.
    name: str
    kind: FileKind
    path: Path
    #: Uncompressed size in bytes, for progress bars.
    size: int
    member: str | None = None

    def open_binary(self) -> IO[bytes]:
        """Open the raw latin-1 bytes, decompressing a zip member as it is read."""
        if self.member is None:
            return self.path.open("rb")
        archive = zipfile.ZipFile(self.path)
        stream = archive.open(self.member)
        # Closing the member stream must also close the archive it came from.
        original_close = stream.close

        def close() -> None:
            original_close()
            archive.close()

        stream.close = close  # type: ignore[method-assign]
        return stream


@attrs.frozen
class Discovery:
    files: tuple[DumpFile, ...]
    #: Files under the source that are not part of the CNPJ layout.
    skipped: tuple[str, ...]


def discover(root: Path) -> Discovery:
    """List the dump files under ``root`` (a folder, searched recursively, or one file).

    The order is stable (sorted by name) so that a resumed run numbers the
    files exactly as the crashed one did.
    """
    candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    files: list[DumpFile] = []
    skipped: list[str] = []

    for path in candidates:
        relative = path.name if root.is_file() else path.relative_to(root).as_posix()
        if zipfile.is_zipfile(path):
            found = _zip_members(path, relative)
            if found:
                files.extend(found)
            else:
                skipped.append(relative)
            continue

        kind = recognise_kind(path.name)
        if kind is None:
            skipped.append(relative)
        else:
            files.append(DumpFile(name=relative, kind=kind, path=path, size=path.stat().st_size))

    return Discovery(files=tuple(files), skipped=tuple(skipped))


def _zip_members(path: Path, relative: str) -> list[DumpFile]:
    # NOTE: a local zip that contains the month's zips (a folder downloaded as one
    # zip) is skipped here; only the URL download in remote.py expands it.
    zip_kind = recognise_kind(path.stem)
    found: list[DumpFile] = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            kind = zip_kind or recognise_kind(info.filename)
            if kind is None:
                continue
            found.append(
                DumpFile(
                    name=f"{relative}!{info.filename}",
                    kind=kind,
                    path=path,
                    size=info.file_size,
                    member=info.filename,
                )
            )
    return found


class Utf8Stream:
    """Read latin-1 bytes as UTF-8 with NUL bytes removed, counting what it removed.

    Receita's files are ISO-8859-1; some 2021 files carry NUL bytes inside
    rows, which no CSV parser accepts. Every latin-1 byte maps to one code
    point, so decoding can never fail and chunk boundaries never split a
    character.
    """

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._on_read = on_read
        self.nul_bytes = 0
        self.bytes_read = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if not data:
            return b""
        self.bytes_read += len(data)
        if self._on_read is not None:
            self._on_read(len(data))
        nul = data.count(b"\x00")
        if nul:
            self.nul_bytes += nul
            data = data.replace(b"\x00", b"")
        return data.decode("latin-1").encode("utf-8")

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        self.closed = True
