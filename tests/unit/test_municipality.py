"""Unit tests for municipality codes and the TOM-to-IBGE mapping."""

from __future__ import annotations

import pytest

from domain.errors import DomainError
from domain.municipality import (
    ABROAD,
    IBGE_STATE_PREFIXES,
    KNOWN_MISSING_FROM_TESOURO,
    RECEITA_ONLY_MUNICIPALITIES,
    STATE_UFS,
    UFS,
    InvalidMunicipalityCode,
    MunicipalityCode,
    MunicipalityMapping,
    MunicipalityRow,
    ibge_code_matches_uf,
)


def row(tom: str, name: str, uf: str, ibge: str, line: int = 1) -> MunicipalityRow:
    return MunicipalityRow(tom_code=tom, name=name, uf=uf, ibge_code=ibge, line=line)


def test_uf_sets() -> None:
    assert len(STATE_UFS) == 27
    assert UFS == STATE_UFS | {"EX"}
    assert "EX" not in IBGE_STATE_PREFIXES


def test_state_prefixes_distinct() -> None:
    prefixes = list(IBGE_STATE_PREFIXES.values())
    assert len(set(prefixes)) == 27
    assert all(len(prefix) == 2 and prefix.isdigit() for prefix in prefixes)
    assert IBGE_STATE_PREFIXES["RO"] == "11"
    assert IBGE_STATE_PREFIXES["SP"] == "35"
    assert IBGE_STATE_PREFIXES["DF"] == "53"


@pytest.mark.parametrize(
    ("ibge", "uf", "expected"),
    [
        ("3550308", "SP", True),
        ("5300108", "DF", True),
        ("3550308", "RJ", False),
        ("3550308", "EX", False),
        ("3550308", "XX", False),
    ],
)
def test_ibge_prefix_check(ibge: str, uf: str, expected: bool) -> None:
    assert ibge_code_matches_uf(ibge, uf) is expected


def test_code_accepts_valid_values() -> None:
    sao_paulo = MunicipalityCode(tom_code="7107", name="SAO PAULO", uf="SP", ibge_code="3550308")

    assert sao_paulo.ibge_code == "3550308"
    assert not sao_paulo.is_abroad


def test_abroad_has_no_ibge_code() -> None:
    assert ABROAD.tom_code == "9707"
    assert ABROAD.uf == "EX"
    assert ABROAD.ibge_code is None
    assert ABROAD.is_abroad


@pytest.mark.parametrize(
    ("tom", "name", "uf", "ibge"),
    [
        ("710", "SAO PAULO", "SP", "3550308"),
        ("71O7", "SAO PAULO", "SP", "3550308"),
        ("7107", "", "SP", "3550308"),
        ("7107", " SAO PAULO ", "SP", "3550308"),
        ("7107", "SAO PAULO", "sp", "3550308"),
        ("7107", "SAO PAULO", "XX", "3550308"),
        ("7107", "SAO PAULO", "SP", None),
        ("7107", "SAO PAULO", "SP", "355030"),
        ("7107", "SAO PAULO", "SP", "3350308"),
        ("9707", "EXTERIOR", "EX", "0000000"),
    ],
)
def test_code_rejects_invalid_values(tom: str, name: str, uf: str, ibge: str | None) -> None:
    with pytest.raises(InvalidMunicipalityCode) as caught:
        MunicipalityCode(tom_code=tom, name=name, uf=uf, ibge_code=ibge)

    assert isinstance(caught.value, DomainError)
    assert caught.value.field == "municipio"
    assert caught.value.detail.startswith("Município inválido")


def test_prefix_error_names_prefix() -> None:
    with pytest.raises(InvalidMunicipalityCode) as caught:
        MunicipalityCode(tom_code="7107", name="SAO PAULO", uf="SP", ibge_code="3350308")

    assert "35" in caught.value.detail
    assert "3350308" in caught.value.detail


def test_known_missing_contains_boa_esperanca_do_norte() -> None:
    assert KNOWN_MISSING_FROM_TESOURO == (
        MunicipalityCode(
            tom_code="1182", name="BOA ESPERANCA DO NORTE", uf="MT", ibge_code="5101837"
        ),
    )
    assert ABROAD in RECEITA_ONLY_MUNICIPALITIES


def test_mapping_skips_placeholder_rows() -> None:
    mapping = MunicipalityMapping.from_rows(
        [
            row("7107", "SAO PAULO", "SP", "3550308"),
            row("7108", "DEMAIS MUNICIPIOS", "SP", "0"),
            row("9068", "DEMAIS MUNICIPIOS", "MT", "0000000"),
        ]
    )

    assert mapping.skipped_placeholders == 2
    assert len(mapping) == 1
    assert "7108" not in mapping
    assert mapping.rejected == ()


def test_mapping_drops_conflicting_tom_code() -> None:
    mapping = MunicipalityMapping.from_rows(
        [
            row("7107", "SAO PAULO", "SP", "3550308", line=1),
            row("0001", "GUAJARA-MIRIM", "RO", "1100106", line=2),
            row("7107", "SAO PAULO", "SP", "3550309", line=3),
        ]
    )

    assert mapping.ibge_code("7107") is None
    assert mapping.unmapped(["7107", "0001"]) == ["7107"]
    assert len(mapping.conflicts) == 1
    conflict = mapping.conflicts[0]
    assert conflict.tom_code == "7107"
    assert conflict.ibge_codes == ("3550308", "3550309")
    assert conflict.lines == (1, 3)


def test_mapping_accepts_exact_duplicate() -> None:
    mapping = MunicipalityMapping.from_rows(
        [
            row("7107", "SAO PAULO", "SP", "3550308", line=1),
            row("7107", "SAO PAULO", "SP", "3550308", line=2),
        ]
    )

    assert mapping.conflicts == ()
    assert mapping.ibge_code("7107") == "3550308"


def test_mapping_rejects_invalid_rows() -> None:
    mapping = MunicipalityMapping.from_rows(
        [
            row("7107", "SAO PAULO", "SP", "3550308", line=1),
            row("0001", "GUAJARA-MIRIM", "SP", "1100106", line=2),
            row("12", "X", "RO", "1100205", line=3),
        ]
    )

    assert [rejected.row.line for rejected in mapping.rejected] == [2, 3]
    assert all(isinstance(rejected.error, InvalidMunicipalityCode) for rejected in mapping.rejected)
    assert len(mapping) == 1


def test_supplements_fill_missing_codes() -> None:
    mapping = MunicipalityMapping.from_rows(
        [row("7107", "SAO PAULO", "SP", "3550308")],
        supplements=RECEITA_ONLY_MUNICIPALITIES,
    )

    assert mapping.ibge_code("1182") == "5101837"
    assert mapping.get("9707") == ABROAD
    assert mapping.ibge_code("9707") is None
    assert mapping.ignored_supplements == ()


def test_table_row_wins_over_supplement() -> None:
    mapping = MunicipalityMapping.from_rows(
        [row("1182", "BOA ESPERANCA DO NORTE", "MT", "5101838")],
        supplements=KNOWN_MISSING_FROM_TESOURO,
    )

    assert mapping.ibge_code("1182") == "5101838"
    assert mapping.ignored_supplements == KNOWN_MISSING_FROM_TESOURO


def test_same_supplement_in_table_is_not_reported() -> None:
    mapping = MunicipalityMapping.from_rows(
        [row("1182", "BOA ESPERANCA DO NORTE", "MT", "5101837")],
        supplements=KNOWN_MISSING_FROM_TESOURO,
    )

    assert mapping.ibge_code("1182") == "5101837"
    assert mapping.ignored_supplements == ()


def test_unmapped_is_sorted_and_distinct() -> None:
    mapping = MunicipalityMapping.from_rows(
        [row("7107", "SAO PAULO", "SP", "3550308")], supplements=[ABROAD]
    )

    assert mapping.unmapped(["9999", "7107", "0002", "9999", "9707"]) == ["0002", "9999"]
    assert mapping.unmapped([]) == []


def test_mapping_iterates_in_tom_order() -> None:
    mapping = MunicipalityMapping.from_rows(
        [
            row("7107", "SAO PAULO", "SP", "3550308"),
            row("0001", "GUAJARA-MIRIM", "RO", "1100106"),
        ]
    )

    assert [municipality.tom_code for municipality in mapping] == ["0001", "7107"]
