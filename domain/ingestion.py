"""Vocabulary of a monthly CNPJ ingestion: file kinds, quarantine reasons, counts.

Every source row ends in exactly one bucket, loaded, quarantined or duplicate,
so the counts of each file add up to the rows read.
"""

from __future__ import annotations

import enum

import attrs


class FileKind(enum.StrEnum):
    """Kinds of file in a monthly delivery, named for the table they fill."""

    COMPANY = "company"
    ESTABLISHMENT = "establishment"
    PARTNER = "partner"
    SIMPLES = "simples"
    CNAE = "cnae"
    STATUS_REASON = "status_reason"
    MUNICIPALITY = "municipality"
    LEGAL_NATURE = "legal_nature"
    COUNTRY = "country"
    PARTNER_QUALIFICATION = "partner_qualification"

    @property
    def is_lookup(self) -> bool:
        return self in _LOOKUP_KINDS

    @property
    def column_count(self) -> int:
        """Columns per record in Receita's layout."""
        return _COLUMN_COUNTS.get(self, 2)


_LOOKUP_KINDS = frozenset(
    {
        FileKind.CNAE,
        FileKind.STATUS_REASON,
        FileKind.MUNICIPALITY,
        FileKind.LEGAL_NATURE,
        FileKind.COUNTRY,
        FileKind.PARTNER_QUALIFICATION,
    }
)

_COLUMN_COUNTS = {
    FileKind.COMPANY: 7,
    FileKind.ESTABLISHMENT: 30,
    FileKind.PARTNER: 11,
    FileKind.SIMPLES: 7,
}

#: Lookups load first, then the facts; within facts the order does not matter
#: because facts have no foreign keys to each other or to lookups.
LOAD_ORDER = (
    FileKind.CNAE,
    FileKind.STATUS_REASON,
    FileKind.MUNICIPALITY,
    FileKind.LEGAL_NATURE,
    FileKind.COUNTRY,
    FileKind.PARTNER_QUALIFICATION,
    FileKind.COMPANY,
    FileKind.SIMPLES,
    FileKind.PARTNER,
    FileKind.ESTABLISHMENT,
)


class QuarantineReason(enum.StrEnum):
    """Stable codes for why a source row was not loaded."""

    WRONG_COLUMN_COUNT = "wrong_column_count"
    INVALID_CNPJ = "invalid_cnpj"
    INVALID_CNPJ_CHECK_DIGITS = "invalid_cnpj_check_digits"
    INVALID_UF = "invalid_uf"
    DUPLICATE_KEY = "duplicate_key"
    MISSING_CODE = "missing_code"


@attrs.define
class FileCounts:
    """Row counts of one source file; ``rows_read`` is the sum of the other three."""

    name: str
    kind: FileKind
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    nul_bytes_removed: int = 0

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_quarantined + self.rows_duplicate


@attrs.frozen
class RunSummary:
    """Outcome of an ingestion run: counts per file and the municipality codes left unmapped."""

    run_id: str
    source: str
    files: tuple[FileCounts, ...]
    unmapped_municipalities: tuple[str, ...] = ()
    skipped_files: tuple[str, ...] = ()
    resumed: bool = False
    seconds: float = 0.0
    #: Delivery month (``2026-11``) when the source names it.
    reference: str | None = None

    def totals_by_kind(self) -> dict[FileKind, FileCounts]:
        """Add up the files of each kind (all Estabelecimentos parts together, and so on)."""
        totals: dict[FileKind, FileCounts] = {}
        for counts in self.files:
            total = totals.setdefault(
                counts.kind, FileCounts(name=counts.kind.value, kind=counts.kind)
            )
            total.rows_loaded += counts.rows_loaded
            total.rows_quarantined += counts.rows_quarantined
            total.rows_duplicate += counts.rows_duplicate
            total.nul_bytes_removed += counts.nul_bytes_removed
        return totals

    def totals(self) -> FileCounts:
        total = FileCounts(name="total", kind=FileKind.ESTABLISHMENT)
        for counts in self.files:
            total.rows_loaded += counts.rows_loaded
            total.rows_quarantined += counts.rows_quarantined
            total.rows_duplicate += counts.rows_duplicate
            total.nul_bytes_removed += counts.nul_bytes_removed
        return total
