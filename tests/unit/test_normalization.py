"""Example-based tests of the scalar normalisation rules.

Cases commented with a CNPJ root copy real rows of the Receita dump, from a
2,000-row sample of the Estabelecimentos, Empresas and Simples files of a
late-2025 delivery. Rows that carry personal data, such as a CPF in a legal
name or a personal e-mail address, are replaced by made-up values of the
same shape.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from domain.normalization import (
    AREA_CODES,
    CPF_MASK,
    Email,
    ParsedDate,
    ParsedMoney,
    Phone,
    PhoneKind,
    clean_text,
    mask_trailing_cpf,
    normalize_email,
    normalize_phone,
    parse_receita_date,
    parse_share_capital,
)

# clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CENTRO", "CENTRO"),
        ("  SALA  01 ", "SALA 01"),
        ("SEM  MOTIVO", "SEM MOTIVO"),
        ("A\tB\nC\r\nD", "A B C D"),
        ("A\xa0\xa0B", "A B"),
        ("A\x85B", "A B"),
        ("", None),
        ("   ", None),
        ("\t\n\xa0", None),
    ],
)
def test_clean_text_examples(raw: str, expected: str | None) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # complemento of 47309426, padded to fixed-width columns
        ("CONJ  1107                SALA  05", "CONJ 1107 SALA 05"),
        # complemento of 39644578, with leading spaces
        ("      LOJ A", "LOJ A"),
        # logradouro of 10100693, with a latin-1 letter
        ("RUA ERNANE GRAÇA", "RUA ERNANE GRAÇA"),
    ],
)
def test_clean_text_sample_rows(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


# normalize_phone


def test_area_codes_count() -> None:
    assert len(AREA_CODES) == 67


@pytest.mark.parametrize(
    ("ddd", "number", "expected"),
    [
        ("19", "87654321", Phone("+5519987654321", PhoneKind.MOBILE)),
        ("73", "38765432", Phone("+557338765432", PhoneKind.LANDLINE)),
        ("069", "32221234", Phone("+556932221234", PhoneKind.LANDLINE)),
        ("0021", "32221234", Phone("+552132221234", PhoneKind.LANDLINE)),
        ("11", "987654321", Phone("+5511987654321", PhoneKind.MOBILE)),
        ("11", "61234567", Phone("+5511961234567", PhoneKind.MOBILE)),
        ("11", "21234567", Phone("+551121234567", PhoneKind.LANDLINE)),
        ("(11)", "3214-5678", Phone("+551132145678", PhoneKind.LANDLINE)),
        ("11", "9 8765-4321", Phone("+5511987654321", PhoneKind.MOBILE)),
        # close to one repeated digit, or consecutive digits, but still valid
        ("11", "99999998", Phone("+5511999999998", PhoneKind.MOBILE)),
        ("11", "98888888", Phone("+5511998888888", PhoneKind.MOBILE)),
        ("11", "23456789", Phone("+551123456789", PhoneKind.LANDLINE)),
        ("11", "98765432", Phone("+5511998765432", PhoneKind.MOBILE)),
    ],
)
def test_normalize_phone_valid(ddd: str, number: str, expected: Phone) -> None:
    assert normalize_phone(ddd, number) == expected


@pytest.mark.parametrize(
    ("ddd", "number"),
    [
        ("0", "0"),
        ("", "00000000"),
        ("0000", "00000000"),
        ("11", ""),
        ("11", "0"),
        ("", ""),
        ("11", "-"),
        ("11", "0000-0000"),
    ],
)
def test_normalize_phone_absent(ddd: str, number: str) -> None:
    assert normalize_phone(ddd, number) is None


@pytest.mark.parametrize(
    ("ddd", "number", "raw_digits"),
    [
        # 7-digit number
        ("11", "2413270", "112413270"),
        # area code not assigned
        ("10", "32221234", "1032221234"),
        ("20", "87654321", "2087654321"),
        # missing area code
        ("", "32221234", "32221234"),
        ("0", "32221234", "032221234"),
        # 8 digits starting with 0 or 1
        ("11", "01234567", "1101234567"),
        ("11", "12345678", "1112345678"),
        # 9 digits not starting with 9
        ("11", "812345678", "11812345678"),
        # too long, as when the area code is repeated in the number
        ("11", "11987654321", "1111987654321"),
        # punctuation is dropped but leading zeros are kept
        ("(069)", "342-2216", "0693422216"),
    ],
)
def test_normalize_phone_invalid(ddd: str, number: str, raw_digits: str) -> None:
    assert normalize_phone(ddd, number) == Phone(raw_digits, PhoneKind.INVALID)


@pytest.mark.parametrize(
    ("ddd", "number", "raw_digits"),
    [
        # would otherwise be an 8-digit mobile, a 9-digit mobile or a landline
        ("11", "99999999", "1199999999"),
        ("11", "999999999", "11999999999"),
        ("21", "22222222", "2122222222"),
        ("11", "66666666", "1166666666"),
        # punctuation is dropped and the trunk prefix is kept, as for other invalid numbers
        ("(011)", "8888-8888", "01188888888"),
        ("11", "9 9999-9999", "11999999999"),
        # already invalid by length or area code
        ("11", "8888888", "118888888"),
        ("11", "7", "117"),
        ("", "55555555", "55555555"),
        ("11", "1111111111", "111111111111"),
    ],
)
def test_normalize_phone_repeated_digit(ddd: str, number: str, raw_digits: str) -> None:
    assert normalize_phone(ddd, number) == Phone(raw_digits, PhoneKind.INVALID)


@pytest.mark.parametrize(
    ("ddd", "number", "expected"),
    [
        # 13810056, telefone_1 and telefone_2
        ("77", "34544064", Phone("+557734544064", PhoneKind.LANDLINE)),
        ("77", "34542378", Phone("+557734542378", PhoneKind.LANDLINE)),
        # 31534235, a mobile stored without the ninth digit
        ("84", "98638056", Phone("+5584998638056", PhoneKind.MOBILE)),
        # 07163346, area code with the trunk prefix 0
        ("011", "37146665", Phone("+551137146665", PhoneKind.LANDLINE)),
        # 02774452, trunk prefix and a 7-digit number
        ("069", "3422216", Phone("0693422216", PhoneKind.INVALID)),
        # 02812117, double trunk prefix and a 7-digit number
        ("0021", "2171300", Phone("00212171300", PhoneKind.INVALID)),
        # 15565912, 6-digit number
        ("11", "382573", Phone("11382573", PhoneKind.INVALID)),
    ],
)
def test_normalize_phone_sample_rows(ddd: str, number: str, expected: Phone) -> None:
    assert normalize_phone(ddd, number) == expected


@pytest.mark.parametrize(
    ("ddd", "number"),
    [
        ("0", "0"),  # 16211755
        ("0000", "00000000"),  # 58176029
        ("48", "0"),  # 27296472
    ],
)
def test_normalize_phone_sample_placeholders(ddd: str, number: str) -> None:
    assert normalize_phone(ddd, number) is None


def test_phone_kind_values() -> None:
    assert [kind.value for kind in PhoneKind] == ["mobile", "landline", "invalid"]


# normalize_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("contato@empresa.com.br", Email("contato@empresa.com.br", is_valid=True)),
        ("Contato.Vendas@Empresa.Com.BR", Email("contato.vendas@empresa.com.br", is_valid=True)),
        ("  FISCAL+NF@EMPRESA.COM \t", Email("fiscal+nf@empresa.com", is_valid=True)),
        ("a_b-c@sub-dominio.empresa.net", Email("a_b-c@sub-dominio.empresa.net", is_valid=True)),
        ("sem-arroba.com.br", Email("sem-arroba.com.br", is_valid=False)),
        ("dois@@empresa.com", Email("dois@@empresa.com", is_valid=False)),
        ("a@b@empresa.com", Email("a@b@empresa.com", is_valid=False)),
        ("@empresa.com", Email("@empresa.com", is_valid=False)),
        ("contato@", Email("contato@", is_valid=False)),
        ("contato@empresa", Email("contato@empresa", is_valid=False)),
        ("contato@empresa.c", Email("contato@empresa.c", is_valid=False)),
        ("contato@empresa.com1", Email("contato@empresa.com1", is_valid=False)),
        ("con tato@empresa.com", Email("con tato@empresa.com", is_valid=False)),
        (".contato@empresa.com", Email(".contato@empresa.com", is_valid=False)),
        ("con..tato@empresa.com", Email("con..tato@empresa.com", is_valid=False)),
        ("contato@-empresa.com", Email("contato@-empresa.com", is_valid=False)),
        ("contato@empresa..com", Email("contato@empresa..com", is_valid=False)),
        ("joão@empresa.com", Email("joão@empresa.com", is_valid=False)),
    ],
)
def test_normalize_email_examples(raw: str, expected: Email) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\t\xa0"])
def test_normalize_email_absent(raw: str) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # 13810056, an accountant's address
        ("serconta@gbi.com.br", Email("serconta@gbi.com.br", is_valid=True)),
        # 58260056, upper case
        ("ADM@SPORTLOGIC.COM.BR", Email("adm@sportlogic.com.br", is_valid=True)),
        # 20061134, underscore in the domain
        ("nilo@metrosul_rs.com.br", Email("nilo@metrosul_rs.com.br", is_valid=False)),
    ],
)
def test_normalize_email_sample_rows(raw: str, expected: Email) -> None:
    assert normalize_email(raw) == expected


# parse_receita_date


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20210101", datetime.date(2021, 1, 1)),
        ("20240229", datetime.date(2024, 2, 29)),
        ("20000229", datetime.date(2000, 2, 29)),
        ("19000101", datetime.date(1900, 1, 1)),
        ("20991231", datetime.date(2099, 12, 31)),
        # 13810056, data_situacao_cadastral and data_inicio_atividade
        ("20161125", datetime.date(2016, 11, 25)),
        ("19851122", datetime.date(1985, 11, 22)),
        # 13113070, data_opcao_pelo_simples
        ("20110116", datetime.date(2011, 1, 16)),
    ],
)
def test_parse_receita_date_valid(raw: str, expected: datetime.date) -> None:
    assert parse_receita_date(raw) == ParsedDate(expected, is_invalid=False)


@pytest.mark.parametrize("raw", ["", "0", "00", "00000000", "000000000"])
def test_parse_receita_date_absent(raw: str) -> None:
    assert parse_receita_date(raw) == ParsedDate(None, is_invalid=False)


@pytest.mark.parametrize(
    "raw",
    [
        "2021221",  # year typed with 3 digits
        "20210231",  # no 31 February
        "20230229",  # 2023 is not a leap year
        "19000229",  # 1900 is not a leap year
        "20211301",  # month 13
        "20210001",  # month 0
        "20210100",  # day 0
        "41000101",  # year 4100
        "18991231",  # before 1900
        "21000101",  # after 2099
        "2021-01-01",
        " 20210101",
        "202101011",
        "2021O101",  # letter O for a zero
        "١٢٣٤٥٦٧٨",  # non-ASCII digits
    ],
)
def test_parse_receita_date_invalid(raw: str) -> None:
    assert parse_receita_date(raw) == ParsedDate(None, is_invalid=True)


# parse_share_capital


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("62200,00", Decimal("62200.00")),
        ("0,00", Decimal("0.00")),
        ("1061004829,23", Decimal("1061004829.23")),
        ("150", Decimal("150.00")),
        ("10,5", Decimal("10.50")),
        ("007,10", Decimal("7.10")),
        ("9999999999999999,99", Decimal("9999999999999999.99")),
        ("0000009999999999999999,99", Decimal("9999999999999999.99")),
        # Empresas rows 41287249 and 41292831, and the largest sample value
        ("10000,00", Decimal("10000.00")),
        ("1000,00", Decimal("1000.00")),
        ("13273960,00", Decimal("13273960.00")),
    ],
)
def test_parse_share_capital_valid(raw: str, expected: Decimal) -> None:
    parsed = parse_share_capital(raw)

    assert parsed == ParsedMoney(expected, is_invalid=False)
    assert parsed.value is not None
    assert parsed.value.as_tuple().exponent == -2


def test_parse_share_capital_not_thousands() -> None:
    assert parse_share_capital("62200,00").value != Decimal("6220000")


def test_parse_share_capital_absent() -> None:
    assert parse_share_capital("") == ParsedMoney(None, is_invalid=False)


@pytest.mark.parametrize(
    "raw",
    [
        "-100,00",
        "-0,01",
        "62.200,00",  # thousands separator
        "62200.00",  # point as the decimal separator
        "1,000,00",
        ",50",
        "100,",
        "10,555",  # more than two decimal places
        "12345678901234567,00",  # does not fit 16 integer digits
        " 100,00",
        "R$ 100,00",
        "abc",
        " ",
    ],
)
def test_parse_share_capital_invalid(raw: str) -> None:
    assert parse_share_capital(raw) == ParsedMoney(None, is_invalid=True)


# mask_trailing_cpf


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MARIA DA SILVA 12345678901", f"MARIA DA SILVA {CPF_MASK}"),
        ("MARIA DA SILVA 123.456.789-01", f"MARIA DA SILVA {CPF_MASK}"),
        ("MARIA DA SILVA 12345678901  ", f"MARIA DA SILVA {CPF_MASK}  "),
        ("MARIA DA SILVA-12345678901", f"MARIA DA SILVA-{CPF_MASK}"),
        ("12345678901", CPF_MASK),
        ("123.456.789-01", CPF_MASK),
        # A made-up name with the shape of Empresas row 41292831
        ("JOSE ROBERTO PEREIRA DA COSTA 34700011122", f"JOSE ROBERTO PEREIRA DA COSTA {CPF_MASK}"),
    ],
)
def test_mask_trailing_cpf_masks(name: str, expected: str) -> None:
    assert mask_trailing_cpf(name) == (expected, True)


@pytest.mark.parametrize(
    "name",
    [
        "ATON CONSTRUTORA LTDA",
        "",
        "MARIA DA SILVA 1234567890",  # 10 digits
        "MARIA DA SILVA 123456789012",  # 12 digits
        "MARIA 12345678901 DA SILVA",  # not at the end
        "MARIA DA SILVA 123.456.789-012",
        # Made-up name with the shape of Empresas row 41330504: the CNPJ root
        # leads the name of an individual entrepreneur and is not a CPF.
        "41.330.504 MARIA DA SILVA",
        "SCP QD. 94",
    ],
)
def test_mask_trailing_cpf_leaves_others(name: str) -> None:
    assert mask_trailing_cpf(name) == (name, False)


def test_mask_trailing_cpf_removes_digits() -> None:
    masked, had_cpf = mask_trailing_cpf("MARIA DA SILVA 12345678901")

    assert had_cpf
    assert "12345678901" not in masked
    assert not any(char.isdigit() for char in masked)
