"""Rules of selections and leads that need no database, and the personal data cipher."""

from __future__ import annotations

import os

import pytest

from adapters.security.personal_data import AesGcmCipher, new_master_key, parse_master_key
from domain.errors import RuleViolation
from domain.leads import (
    FieldType,
    LeadField,
    LeadOrigin,
    Pipeline,
    Stage,
    StageKind,
    closing_reason,
    fold,
    lead_field,
    merge_custom_fields,
    normalise_tags,
)
from domain.selections import (
    SelectionFlag,
    SelectionTooLarge,
    item_flags,
    parse_cnpj_list,
    selection_name,
)

WON = Stage("w", "Ganho", 4, StageKind.WON)
OPEN = Stage("o", "Em contato", 1, StageKind.OPEN)


# --- selections -------------------------------------------------------------------------


def test_cnpj_list_drops_repeats() -> None:
    cnpjs = parse_cnpj_list(
        ["11.222.333/0001-81", "11222333000181", " 11222333000181 ", "12ABC34501DE35"],
        max_size=10,
    )
    assert cnpjs == ["11222333000181", "12ABC34501DE35"]


def test_cnpj_list_names_every_invalid_position() -> None:
    values = ["11222333000181", *(f"bad{i}" for i in range(12))]
    with pytest.raises(RuleViolation) as refused:
        parse_cnpj_list(values, max_size=100)
    assert refused.value.code == "invalid_cnpjs"
    assert "12 CNPJ(s) inválido(s)" in refused.value.detail
    assert "2: 'bad0'" in refused.value.detail
    assert "e mais 2" in refused.value.detail


def test_cnpj_list_limit_after_dedup() -> None:
    assert parse_cnpj_list(["11222333000181"] * 5, max_size=1) == ["11222333000181"]
    with pytest.raises(SelectionTooLarge) as refused:
        parse_cnpj_list(["11222333000181", "12ABC34501DE35"], max_size=1)
    assert refused.value.extensions == {"requested": 2, "max_selection_size": 1}


def test_selection_name_collapses_spaces_and_defaults() -> None:
    assert selection_name("  Padarias \n de  Curitiba ", default="x") == "Padarias de Curitiba"
    assert selection_name(None, default="Seleção de hoje") == "Seleção de hoje"
    with pytest.raises(RuleViolation):
        selection_name("a" * 201, default="x")


def test_flags_come_in_a_stable_order() -> None:
    flags = item_flags(
        known=False, has_contact=False, already_lead=True, opted_out=True, qualifying=True
    )
    assert flags == (
        SelectionFlag.ALREADY_LEAD,
        SelectionFlag.OPTED_OUT,
        SelectionFlag.NOT_IN_REGISTRY,
        SelectionFlag.NO_CONTACT,
        SelectionFlag.IN_QUALIFICATION,
    )
    assert item_flags(known=True, has_contact=True, already_lead=False, opted_out=False, qualifying=False) == ()  # fmt: skip


# --- pipeline moves, tags, text ------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_closing_stages_need_a_reason(reason: str | None) -> None:
    with pytest.raises(RuleViolation) as refused:
        closing_reason(WON, reason)
    assert refused.value.code == "reason_required"
    assert "ganho" in refused.value.detail


def test_open_stages_keep_an_optional_reason() -> None:
    assert closing_reason(OPEN, None) is None
    assert closing_reason(OPEN, "  ligou  de volta ") == "ligou de volta"
    assert closing_reason(WON, "Contrato anual") == "Contrato anual"


def test_entry_stage_depends_on_origin() -> None:
    pipeline = Pipeline(
        "p", "Funil", True,
        (Stage("n", "Novo", 0, StageKind.OPEN), OPEN, Stage("q", "Qualificado", 2, StageKind.QUALIFIED), WON),
    )  # fmt: skip
    assert pipeline.entry_stage(LeadOrigin.MANUAL).id == "n"
    assert pipeline.entry_stage(LeadOrigin.QUALIFICATION).id == "q"


def test_tags_drop_repeats_ignoring_case() -> None:
    assert normalise_tags(["Feira", " feira", "", "VIP", "Feira  SP"]) == (
        "Feira",
        "VIP",
        "Feira SP",
    )
    with pytest.raises(RuleViolation):
        normalise_tags([f"t{i}" for i in range(21)])


def test_fold_ignores_case_and_accents() -> None:
    assert fold("PÃO de Açúcar São João") == "pao de acucar sao joao"


# --- custom fields -----------------------------------------------------------------------

SCHEMA = [
    LeadField("funcionarios", "Funcionários", FieldType.NUMBER),
    LeadField("porte", "Porte", FieldType.CHOICE, ("pequeno", "médio")),
    LeadField("visita", "Visita", FieldType.DATE),
    LeadField("cliente", "Já é cliente", FieldType.BOOLEAN, required=True),
]


def test_custom_fields_follow_their_types() -> None:
    merged = merge_custom_fields(
        SCHEMA, {"cliente": False}, {"funcionarios": 12.5, "porte": "médio", "visita": "2027-01-31"}
    )
    assert merged == {
        "cliente": False,
        "funcionarios": 12.5,
        "porte": "médio",
        "visita": "2027-01-31",
    }


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"funcionarios": "12"}, "invalid_custom_field"),
        ({"funcionarios": True}, "invalid_custom_field"),
        ({"funcionarios": float("nan")}, "invalid_custom_field"),
        ({"porte": "grande"}, "invalid_custom_field"),
        ({"visita": "31/01/2027"}, "invalid_custom_field"),
        ({"cliente": "sim"}, "invalid_custom_field"),
        ({"cliente": None}, "required_custom_field"),
        ({"origem": "feira"}, "unknown_custom_field"),
    ],
)
def test_custom_field_refusals(changes: dict[str, object], code: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        merge_custom_fields(SCHEMA, {"cliente": True}, changes)
    assert refused.value.code == code


def test_values_of_removed_fields_are_kept() -> None:
    merged = merge_custom_fields(SCHEMA, {"cliente": True, "antigo": "x"}, {"porte": "pequeno"})
    assert merged["antigo"] == "x"


def test_field_definitions_are_checked() -> None:
    assert lead_field("porte", " Porte ", "choice", choices=["a", " a ", "b"]).choices == ("a", "b")
    for args, code in [
        (("Porte", "Porte", "text"), "invalid_field_key"),
        (("porte", "Porte", "list"), "invalid_field_type"),
        (("porte", "Porte", "choice"), "choices_required"),
    ]:
        with pytest.raises(RuleViolation) as refused:
            lead_field(*args)
        assert refused.value.code == code


# --- personal data ------------------------------------------------------------------------


def test_cipher_round_trips_and_never_repeats_a_token() -> None:
    cipher = AesGcmCipher(os.urandom(32))
    first, second = cipher.encrypt("+5541987654321"), cipher.encrypt("+5541987654321")
    assert first != second
    assert cipher.decrypt(first) == cipher.decrypt(second) == "+5541987654321"
    assert b"987654321" not in first


def test_tampered_or_foreign_tokens_are_refused() -> None:
    cipher = AesGcmCipher(os.urandom(32))
    token = bytearray(cipher.encrypt("vendas@padaria.com.br"))
    token[-1] ^= 1
    with pytest.raises(ValueError):
        cipher.decrypt(bytes(token))
    with pytest.raises(ValueError):
        AesGcmCipher(os.urandom(32)).decrypt(cipher.encrypt("x"))


def test_lookup_hash_is_keyed_and_separates_kinds() -> None:
    key = os.urandom(32)
    cipher, same_key, other_key = AesGcmCipher(key), AesGcmCipher(key), AesGcmCipher(os.urandom(32))
    value = "+5541987654321"
    assert cipher.lookup_hash("phone", value) == same_key.lookup_hash("phone", value)
    assert cipher.lookup_hash("phone", value) != other_key.lookup_hash("phone", value)
    assert cipher.lookup_hash("phone", value) != cipher.lookup_hash("email", value)


def test_master_key_text_must_hold_32_bytes() -> None:
    assert len(parse_master_key(new_master_key())) == 32
    with pytest.raises(ValueError):
        parse_master_key("c2hvcnQ")
    with pytest.raises(ValueError):
        parse_master_key("not base64 at all!")
