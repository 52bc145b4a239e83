"""Property tests: the Arrow normalisers agree with the scalar reference rules.

Each test draws a list of strings shaped like the dump's fields, runs the
vectorised function on it as an Arrow array (sometimes split into chunks),
and compares every element with what ``domain.normalization`` returns.
The CNPJ check-digit properties live here too because they are also
property tests of a pure domain rule.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adapters.receita import normalize as vectorised
from domain import normalization as rules
from domain.cnpj import Cnpj, check_digits
from domain.errors import InvalidCnpj

DIGITS = "0123456789"

# Latin-1 text, weighted towards the characters the rules care about: every
# whitespace character, digits, punctuation and accented letters.
_INTERESTING_CHARS = st.sampled_from(
    list(rules.WHITESPACE) + list("0123456789.-,@_+AaZzÇçÉéÃãÕõÿµß")
)
LATIN1_TEXT = st.text(
    alphabet=st.one_of(_INTERESTING_CHARS, st.characters(max_codepoint=0xFF)),
    max_size=30,
)
# Words separated by runs of mixed whitespace, as in padded address fields.
SPACED_WORDS = st.lists(
    st.tuples(
        st.text(alphabet=rules.WHITESPACE, max_size=4), st.sampled_from(["SALA", "01", "Ç", ""])
    ),
    max_size=5,
).map(lambda parts: "".join(space + word for space, word in parts))
DIGIT_TEXT = st.text(alphabet=DIGITS, max_size=12)
ZERO_RUNS = st.integers(min_value=0, max_value=10).map(lambda count: "0" * count)


def _to_arrow(draw: st.DrawFn, values: list[str]) -> pa.Array | pa.ChunkedArray:
    """Turn ``values`` into a ``pa.Array`` or a two-chunk ``pa.ChunkedArray``."""
    if draw(st.booleans()):
        return pa.array(values, pa.string())

    cut = draw(st.integers(min_value=0, max_value=len(values)))
    return pa.chunked_array([values[:cut], values[cut:]], pa.string())


@st.composite
def arrow_columns(
    draw: st.DrawFn, element: st.SearchStrategy[str]
) -> tuple[list[str], pa.Array | pa.ChunkedArray]:
    """Draw a list of strings and the same values as an Arrow column."""
    values = draw(st.lists(element, max_size=40))
    return values, _to_arrow(draw, values)


# Strategies for each field


@st.composite
def area_codes(draw: st.DrawFn) -> str:
    code = draw(st.sampled_from(sorted(rules.AREA_CODES) + ["10", "20", "23", "56", "90", "00"]))
    trunk_zeros = draw(st.sampled_from(["", "", "0", "00"]))
    return trunk_zeros + code


def _punctuate(draw: st.DrawFn, number: str) -> str:
    """Sometimes insert punctuation as a person might type it: 3214-5678 or 3214 5678."""
    if not draw(st.booleans()):
        return number

    split = draw(st.integers(min_value=0, max_value=len(number)))
    separator = draw(st.sampled_from(["-", " ", ".", ""]))
    return number[:split] + separator + number[split:]


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    # Mostly the 8 and 9 digits of real numbers, sometimes a digit short or long.
    length = draw(st.sampled_from([6, 7, 8, 8, 8, 9, 9, 10]))
    first = draw(st.sampled_from(DIGITS))
    rest = draw(st.text(alphabet=DIGITS, min_size=length - 1, max_size=length - 1))
    return _punctuate(draw, first + rest)


@st.composite
def repeated_digit_numbers(draw: st.DrawFn) -> str:
    # Placeholders such as 99999999, mostly of the lengths that would otherwise
    # pass as mobiles or landlines. Random digits almost never produce them.
    digit = draw(st.sampled_from(DIGITS))
    length = draw(st.sampled_from([1, 7, 8, 8, 8, 9, 9, 10]))
    return _punctuate(draw, digit * length)


DDDS = st.one_of(area_codes(), DIGIT_TEXT.map(lambda text: text[:4]), ZERO_RUNS, LATIN1_TEXT)
NUMBERS = st.one_of(phone_numbers(), repeated_digit_numbers(), DIGIT_TEXT, ZERO_RUNS, LATIN1_TEXT)
# Two of the three branches draw the DDD from area_codes(), so that each area
# code meets numbers of every kind, repeated-digit placeholders included.
PHONE_PAIRS = st.one_of(
    st.tuples(area_codes(), phone_numbers()),
    st.tuples(area_codes(), repeated_digit_numbers()),
    st.tuples(DDDS, NUMBERS),
)


@st.composite
def emails(draw: st.DrawFn) -> str:
    letters = st.text(alphabet="abcXYZ019._-+", min_size=1, max_size=8)
    labels = st.lists(
        st.text(alphabet="abcXYZ019-_", min_size=1, max_size=6), min_size=1, max_size=3
    )
    local = draw(letters)
    domain = ".".join(draw(labels))
    tld = draw(st.sampled_from(["com", "COM", "Br", "c", "com1", "", "ção"]))
    separator = draw(st.sampled_from(["@", "@", "@", "@@", "", " @"]))
    padding = draw(st.sampled_from(["", " ", "  \t", "\xa0"]))
    return f"{padding}{local}{separator}{domain}.{tld}{padding}"


EMAILS = st.one_of(emails(), LATIN1_TEXT)


@st.composite
def dates(draw: st.DrawFn) -> str:
    # Edge years and days are listed so that leap days and month ends come up
    # often, and not only when the integer strategy happens to hit them.
    year = draw(
        st.one_of(
            st.sampled_from([1899, 1900, 1999, 2000, 2023, 2024, 2099, 2100, 4100]),
            st.integers(min_value=1800, max_value=2200),
        )
    )
    month = draw(st.integers(min_value=0, max_value=13))
    day = draw(
        st.one_of(
            st.sampled_from([0, 1, 28, 29, 30, 31, 32]), st.integers(min_value=0, max_value=32)
        )
    )
    return f"{year:04d}{month:02d}{day:02d}"


DATES = st.one_of(
    dates(),
    st.text(alphabet=DIGITS, max_size=9),
    ZERO_RUNS,
    st.text(alphabet="0123456789 -/O", max_size=10),
)


@st.composite
def money(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "", "", "-", "+"]))
    units = draw(st.text(alphabet=DIGITS, max_size=20))
    cents = draw(st.sampled_from([None, "", "0", "00", "5", "99", "123"]))
    separator = draw(st.sampled_from([",", ",", "."]))
    return sign + units + ("" if cents is None else separator + cents)


MONEY = st.one_of(money(), st.text(alphabet="0123456789,.- ", max_size=12))


@st.composite
def cpf_names(draw: st.DrawFn) -> str:
    prefix = draw(LATIN1_TEXT)
    digits = draw(st.text(alphabet=DIGITS, min_size=9, max_size=13))
    if len(digits) == 11 and draw(st.booleans()):
        digits = f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    suffix = draw(st.sampled_from(["", "", " ", "  \t", "\xa0", " LTDA"]))
    return prefix + digits + suffix


NAMES = st.one_of(cpf_names(), LATIN1_TEXT)


# Vectorised functions agree with the scalar rules


@given(column=arrow_columns(st.one_of(LATIN1_TEXT, SPACED_WORDS)))
def test_clean_text_matches_scalar(column: tuple[list[str], pa.Array]) -> None:
    values, arrow = column

    result = vectorised.clean_text(arrow)

    assert result.to_pylist() == [rules.clean_text(value) for value in values]


@st.composite
def phone_columns(
    draw: st.DrawFn,
) -> tuple[list[tuple[str, str]], pa.Array | pa.ChunkedArray, pa.Array | pa.ChunkedArray]:
    """Draw (ddd, number) pairs and the two Arrow columns, each chunked its own way."""
    pairs = draw(st.lists(PHONE_PAIRS, max_size=40))
    ddds = _to_arrow(draw, [ddd for ddd, _ in pairs])
    numbers = _to_arrow(draw, [number for _, number in pairs])
    return pairs, ddds, numbers


@given(columns=phone_columns())
def test_normalize_phones_matches_scalar(
    columns: tuple[list[tuple[str, str]], pa.Array, pa.Array],
) -> None:
    pairs, ddds, numbers = columns

    values, kinds = vectorised.normalize_phones(ddds, numbers)

    expected = [rules.normalize_phone(ddd, number) for ddd, number in pairs]
    assert values.to_pylist() == [None if phone is None else phone.value for phone in expected]
    assert kinds.to_pylist() == [None if phone is None else phone.kind.value for phone in expected]


def test_normalize_phones_every_area_code() -> None:
    # Every two-digit code, bare and with a trunk zero, against each kind of
    # number, so that a wrong or missing entry in the area code set shows up.
    ddds = [prefix + f"{code:02d}" for prefix in ("", "0") for code in range(100)]
    numbers = ["87654321", "38765432", "987654321", "2413270", "01234567", "0", "99999999"]
    pairs = [(ddd, number) for ddd in ddds for number in numbers]

    values, kinds = vectorised.normalize_phones(
        pa.array([ddd for ddd, _ in pairs]), pa.array([number for _, number in pairs])
    )

    expected = [rules.normalize_phone(ddd, number) for ddd, number in pairs]
    assert values.to_pylist() == [None if phone is None else phone.value for phone in expected]
    assert kinds.to_pylist() == [None if phone is None else phone.kind.value for phone in expected]


@given(column=arrow_columns(EMAILS))
def test_normalize_emails_matches_scalar(column: tuple[list[str], pa.Array]) -> None:
    values, arrow = column

    addresses, is_valid = vectorised.normalize_emails(arrow)

    expected = [rules.normalize_email(value) for value in values]
    assert addresses.to_pylist() == [None if email is None else email.value for email in expected]
    assert is_valid.to_pylist() == [None if email is None else email.is_valid for email in expected]


@given(column=arrow_columns(DATES))
def test_parse_receita_dates_matches_scalar(column: tuple[list[str], pa.Array]) -> None:
    values, arrow = column

    parsed, is_invalid = vectorised.parse_receita_dates(arrow)

    expected = [rules.parse_receita_date(value) for value in values]
    assert parsed.type == pa.date32()
    assert parsed.to_pylist() == [date.value for date in expected]
    assert is_invalid.to_pylist() == [date.is_invalid for date in expected]


def test_parse_receita_dates_calendar_grid() -> None:
    # Every month 00-13 and day 00-32 of years around the range limits and
    # the leap-year rules, including 1900 (not leap) and 2000 (leap).
    raw = [
        f"{year}{month:02d}{day:02d}"
        for year in (1899, 1900, 1999, 2000, 2023, 2024, 2099, 2100)
        for month in range(14)
        for day in range(33)
    ]

    parsed, is_invalid = vectorised.parse_receita_dates(pa.array(raw))

    expected = [rules.parse_receita_date(value) for value in raw]
    assert parsed.to_pylist() == [date.value for date in expected]
    assert is_invalid.to_pylist() == [date.is_invalid for date in expected]


@given(column=arrow_columns(MONEY))
def test_parse_share_capital_matches_scalar(column: tuple[list[str], pa.Array]) -> None:
    values, arrow = column

    amounts, is_invalid = vectorised.parse_share_capital(arrow)

    expected = [rules.parse_share_capital(value) for value in values]
    assert amounts.type == pa.decimal128(18, 2)
    # Compare the text form too, because Decimal("150") == Decimal("150.00").
    assert [str(amount) for amount in amounts.to_pylist()] == [
        str(money.value) for money in expected
    ]
    assert is_invalid.to_pylist() == [money.is_invalid for money in expected]


@given(column=arrow_columns(NAMES))
def test_mask_trailing_cpfs_matches_scalar(column: tuple[list[str], pa.Array]) -> None:
    values, arrow = column

    masked, had_cpf = vectorised.mask_trailing_cpfs(arrow)

    expected = [rules.mask_trailing_cpf(value) for value in values]
    assert masked.to_pylist() == [name for name, _ in expected]
    assert had_cpf.to_pylist() == [found for _, found in expected]


# CPF masking never lets a trailing CPF through

_TRAILING_ELEVEN_DIGITS = re.compile(f"(?:^|[^0-9])([0-9]{{11}})[{rules.WHITESPACE}]*\\Z")


@given(name=NAMES)
def test_mask_trailing_cpf_leaves_no_trailing_cpf(name: str) -> None:
    masked, had_cpf = rules.mask_trailing_cpf(name)

    trailing = _TRAILING_ELEVEN_DIGITS.search(name)
    if trailing is not None:
        assert had_cpf
        assert not masked.rstrip(rules.WHITESPACE).endswith(trailing.group(1))
    assert _TRAILING_ELEVEN_DIGITS.search(masked) is None


@given(
    prefix=st.text(alphabet=st.characters(max_codepoint=0xFF, exclude_characters=DIGITS)),
    cpf=st.text(alphabet=DIGITS, min_size=11, max_size=11),
    formatted=st.booleans(),
    suffix=st.text(alphabet=rules.WHITESPACE, max_size=3),
)
def test_mask_trailing_cpf_removes_digits(
    prefix: str, cpf: str, formatted: bool, suffix: str
) -> None:
    written = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}" if formatted else cpf
    name = prefix + written + suffix

    masked, had_cpf = rules.mask_trailing_cpf(name)
    vector_masked, vector_had_cpf = vectorised.mask_trailing_cpfs(pa.array([name]))

    assert had_cpf
    assert masked == prefix + rules.CPF_MASK + suffix
    assert not any(char in DIGITS for char in masked)
    assert vector_masked.to_pylist() == [masked]
    assert vector_had_cpf.to_pylist() == [True]


# Arrow input layouts


def test_vectorised_accepts_large_string_and_nulls() -> None:
    raw = pa.array(["  A  B ", None, ""], pa.large_string())

    assert vectorised.clean_text(raw).to_pylist() == ["A B", None, None]


def test_vectorised_keeps_chunks() -> None:
    raw = pa.chunked_array([["20210101"], ["0", "2021221"]])

    parsed, is_invalid = vectorised.parse_receita_dates(raw)

    assert isinstance(parsed, pa.ChunkedArray)
    assert is_invalid.to_pylist() == [False, False, True]


def test_vectorised_empty_column() -> None:
    values, kinds = vectorised.normalize_phones(
        pa.array([], pa.string()), pa.array([], pa.string())
    )

    assert values.to_pylist() == []
    assert kinds.to_pylist() == []


# CNPJ check digits

CNPJ_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CNPJ_BASES = st.text(alphabet=CNPJ_CHARS, min_size=12, max_size=12)


def _is_valid_cnpj(value: str) -> bool:
    try:
        Cnpj(value)
    except InvalidCnpj:
        return False
    return True


@given(base=CNPJ_BASES)
def test_cnpj_with_computed_digits_is_valid(base: str) -> None:
    value = base + check_digits(base)
    # A run of one repeated character is rejected whatever its check digits.
    assume(len(set(value)) > 1)

    assert Cnpj(value).value == value


@given(
    base=CNPJ_BASES,
    position=st.integers(min_value=0, max_value=13),
    replacement=st.sampled_from(CNPJ_CHARS),
)
def test_cnpj_single_change_is_invalid(base: str, position: int, replacement: str) -> None:
    value = base + check_digits(base)
    original = value[position]
    assume(replacement != original)
    # The official algorithm cannot see two kinds of change, so they are left
    # out here and shown in the test below. Modulo 11 misses a change of a
    # multiple of 11 in a character's value, and remainders 0 and 1 both give
    # check digit 0, so a change can go unseen when both check digits are 0.
    assume(position >= 12 or (ord(replacement) - ord(original)) % 11 != 0)
    assume(value[12:] != "00")
    changed = value[:position] + replacement + value[position + 1 :]

    assert not _is_valid_cnpj(changed)


def test_cnpj_misses_changes_of_eleven() -> None:
    # "0" counts 0 and "F" counts 22, so both bases get check digits 81.
    assert _is_valid_cnpj("02ABC34501DE81")
    assert _is_valid_cnpj("F2ABC34501DE81")


def test_cnpj_misses_some_changes_with_digits_00() -> None:
    # Changing the first digit from 6 to 4 moves both remainders between 0
    # and 1, so both numeric CNPJs end in 00 and pass.
    assert _is_valid_cnpj("68362699872600")
    assert _is_valid_cnpj("48362699872600")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("12ABC34501DE35", True),
        ("12ABC34501DE45", False),
        ("00000000000000", False),
    ],
)
def test_cnpj_known_values(value: str, valid: bool) -> None:
    assert _is_valid_cnpj(value) is valid
