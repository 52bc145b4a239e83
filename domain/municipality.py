"""Municipality codes: the Receita (TOM/SIAFI) code and its IBGE equivalent.

The ``municipio`` column of the Receita files contains the 4-digit TOM code of the
Tesouro Nacional's SIAFI system, not the 7-digit IBGE code that maps, census
data and most other public sources use. The Tesouro publishes the translation
as the "Lista de Municípios do SIAFI". That list lags behind new municipalities
and has no entry for establishments abroad, so this module also carries the
codes that the Receita uses and the list lacks. Names differ in spelling
between the two sources (``ASSU`` and ``ACU``), so joins use codes only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

import attrs

from domain.errors import DomainError

#: First two digits of the IBGE municipality code of each state, by UF.
IBGE_STATE_PREFIXES: Mapping[str, str] = {
    "RO": "11",
    "AC": "12",
    "AM": "13",
    "RR": "14",
    "PA": "15",
    "AP": "16",
    "TO": "17",
    "MA": "21",
    "PI": "22",
    "CE": "23",
    "RN": "24",
    "PB": "25",
    "PE": "26",
    "AL": "27",
    "SE": "28",
    "BA": "29",
    "MG": "31",
    "ES": "32",
    "RJ": "33",
    "SP": "35",
    "PR": "41",
    "SC": "42",
    "RS": "43",
    "MS": "50",
    "MT": "51",
    "GO": "52",
    "DF": "53",
}

#: UF the Receita files give to establishments abroad.
ABROAD_UF = "EX"

#: The 26 states and the Distrito Federal.
STATE_UFS: frozenset[str] = frozenset(IBGE_STATE_PREFIXES)

#: Every UF value that the Receita files use: the 27 federative units plus ``EX``.
UFS: frozenset[str] = STATE_UFS | {ABROAD_UF}

_TOM_PATTERN = re.compile(r"[0-9]{4}")
_IBGE_PATTERN = re.compile(r"[0-9]{7}")

#: Name the Tesouro list gives to its per-state placeholder rows, which carry IBGE code 0.
PLACEHOLDER_NAME = "DEMAIS MUNICIPIOS"


class InvalidMunicipalityCode(DomainError):
    """Raised when a municipality has a malformed code, an unknown UF or a mismatched IBGE code."""

    code = "invalid_municipality"

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"Município inválido '{value}': {reason}.", field="municipio")
        self.value = value
        self.reason = reason


def ibge_code_matches_uf(ibge_code: str, uf: str) -> bool:
    """Tell whether the first two digits of ``ibge_code`` are the IBGE prefix of ``uf``."""
    prefix = IBGE_STATE_PREFIXES.get(uf)
    return prefix is not None and ibge_code.startswith(prefix)


@attrs.frozen(slots=True)
class MunicipalityCode:
    """A municipality under its Receita (TOM) code, with its UF and IBGE code.

    ``ibge_code`` is None only for the pseudo-municipality of establishments
    abroad (UF ``EX``), which has no IBGE code.
    """

    tom_code: str = attrs.field()
    name: str = attrs.field()
    uf: str = attrs.field()
    ibge_code: str | None = attrs.field()

    @tom_code.validator
    def _validate_tom_code(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not _TOM_PATTERN.fullmatch(value):
            raise InvalidMunicipalityCode(value, "o código TOM deve ter 4 dígitos")

    @name.validator
    def _validate_name(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not value or value != value.strip():
            raise InvalidMunicipalityCode(
                self.tom_code, "o nome deve ser preenchido e não pode ter espaços nas pontas"
            )

    @uf.validator
    def _validate_uf(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if value not in UFS:
            raise InvalidMunicipalityCode(self.tom_code, f"UF desconhecida '{value}'")

    @ibge_code.validator
    def _validate_ibge_code(
        self, _attribute: attrs.Attribute[str | None], value: str | None
    ) -> None:
        if self.uf == ABROAD_UF:
            if value is not None:
                raise InvalidMunicipalityCode(
                    self.tom_code, "um município no exterior (UF EX) não tem código IBGE"
                )
            return

        if value is None:
            raise InvalidMunicipalityCode(self.tom_code, f"falta o código IBGE (UF {self.uf})")
        if not _IBGE_PATTERN.fullmatch(value):
            raise InvalidMunicipalityCode(
                self.tom_code, f"o código IBGE '{value}' deve ter 7 dígitos"
            )
        if not ibge_code_matches_uf(value, self.uf):
            raise InvalidMunicipalityCode(
                self.tom_code,
                f"o código IBGE '{value}' não começa com {IBGE_STATE_PREFIXES[self.uf]}, "
                f"o prefixo de {self.uf}",
            )

    @property
    def is_abroad(self) -> bool:
        return self.uf == ABROAD_UF


#: Pseudo-municipality of every establishment abroad in the Receita files.
ABROAD = MunicipalityCode(tom_code="9707", name="EXTERIOR", uf=ABROAD_UF, ibge_code=None)

#: Municipalities created after the last update of the Tesouro list, so absent from it.
#: Boa Esperança do Norte (MT) was created in 2025; its IBGE code is 5101837.
KNOWN_MISSING_FROM_TESOURO: tuple[MunicipalityCode, ...] = (
    MunicipalityCode(tom_code="1182", name="BOA ESPERANCA DO NORTE", uf="MT", ibge_code="5101837"),
)

#: Codes used in the Receita files that the Tesouro list lacks, to merge into every mapping.
RECEITA_ONLY_MUNICIPALITIES: tuple[MunicipalityCode, ...] = (ABROAD, *KNOWN_MISSING_FROM_TESOURO)


@attrs.frozen(slots=True)
class MunicipalityRow:
    """One raw row of a municipality table, with surrounding spaces already removed.

    ``line`` is the 1-based line number in the source file, kept for error reports.
    """

    tom_code: str
    name: str
    uf: str
    ibge_code: str
    line: int

    @property
    def is_placeholder(self) -> bool:
        """Tell whether this is a Tesouro "DEMAIS MUNICIPIOS" row, which names no municipality."""
        return self.name.upper() == PLACEHOLDER_NAME or (
            self.ibge_code != "" and set(self.ibge_code) == {"0"}
        )


@attrs.frozen(slots=True)
class MunicipalityConflict:
    """A TOM code that a table lists with more than one IBGE code."""

    tom_code: str
    ibge_codes: tuple[str | None, ...]
    lines: tuple[int, ...]


@attrs.frozen(slots=True)
class RejectedMunicipalityRow:
    """A table row that does not form a valid municipality, with the validation error."""

    row: MunicipalityRow
    error: InvalidMunicipalityCode


@attrs.frozen(slots=True)
class MunicipalityMapping:
    """The translation from Receita (TOM) codes to municipalities, with what its source got wrong.

    Build it with :meth:`from_rows`. ``conflicts``, ``rejected`` and
    ``ignored_supplements`` exist so that a loader can log what it left out
    instead of failing on one bad row of a table it does not control.
    """

    by_tom: Mapping[str, MunicipalityCode]
    conflicts: tuple[MunicipalityConflict, ...] = ()
    rejected: tuple[RejectedMunicipalityRow, ...] = ()
    ignored_supplements: tuple[MunicipalityCode, ...] = ()
    skipped_placeholders: int = 0

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[MunicipalityRow],
        *,
        supplements: Iterable[MunicipalityCode] = (),
    ) -> MunicipalityMapping:
        """Build a mapping from table rows, then add each supplement whose TOM code is absent.

        Placeholder rows are skipped and counted. Rows that fail validation are
        kept in ``rejected``. A TOM code listed twice with the same IBGE code
        counts once. A TOM code listed with different IBGE codes is left out
        and reported in ``conflicts``, because either choice could place
        companies in the wrong city. A supplement whose TOM code the table
        already has is not used, because the table is the more recent source.
        Such a supplement goes to ``ignored_supplements`` when its IBGE code differs.
        """
        accepted: dict[str, MunicipalityCode] = {}
        lines_by_tom: dict[str, list[int]] = {}
        conflicting: dict[str, dict[str | None, None]] = {}
        rejected: list[RejectedMunicipalityRow] = []
        placeholders = 0

        for row in rows:
            if row.is_placeholder:
                placeholders += 1
                continue

            try:
                municipality = MunicipalityCode(
                    tom_code=row.tom_code,
                    name=row.name,
                    uf=row.uf,
                    ibge_code=row.ibge_code or None,
                )
            except InvalidMunicipalityCode as error:
                rejected.append(RejectedMunicipalityRow(row=row, error=error))
                continue

            tom = municipality.tom_code
            lines_by_tom.setdefault(tom, []).append(row.line)
            previous = accepted.get(tom)
            if previous is None:
                accepted[tom] = municipality
            elif previous.ibge_code != municipality.ibge_code:
                # A dict keeps the IBGE codes unique and in the order they appeared.
                seen = conflicting.setdefault(tom, {previous.ibge_code: None})
                seen[municipality.ibge_code] = None

        conflicts = tuple(
            MunicipalityConflict(
                tom_code=tom, ibge_codes=tuple(codes), lines=tuple(lines_by_tom[tom])
            )
            for tom, codes in conflicting.items()
        )
        for tom in conflicting:
            del accepted[tom]

        ignored: list[MunicipalityCode] = []
        for supplement in supplements:
            existing = accepted.get(supplement.tom_code)
            if existing is None and supplement.tom_code not in conflicting:
                accepted[supplement.tom_code] = supplement
            elif existing is None or existing.ibge_code != supplement.ibge_code:
                ignored.append(supplement)

        return cls(
            by_tom=dict(sorted(accepted.items())),
            conflicts=conflicts,
            rejected=tuple(rejected),
            ignored_supplements=tuple(ignored),
            skipped_placeholders=placeholders,
        )

    def get(self, tom_code: str) -> MunicipalityCode | None:
        return self.by_tom.get(tom_code)

    def ibge_code(self, tom_code: str) -> str | None:
        """Return the IBGE code for a TOM code, or None when unmapped or abroad."""
        municipality = self.by_tom.get(tom_code)
        return municipality.ibge_code if municipality is not None else None

    def unmapped(self, codes: Iterable[str]) -> list[str]:
        """Return the distinct codes of ``codes`` that the mapping lacks, sorted.

        ``9707`` (abroad) counts as mapped when the mapping contains it, although
        it has no IBGE code.
        """
        return sorted({code for code in codes if code not in self.by_tom})

    def __contains__(self, tom_code: object) -> bool:
        return tom_code in self.by_tom

    def __iter__(self) -> Iterator[MunicipalityCode]:
        return iter(self.by_tom.values())

    def __len__(self) -> int:
        return len(self.by_tom)
