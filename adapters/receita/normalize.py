"""The rules of ``domain.normalization`` applied to whole Arrow columns.

Each function takes a string ``pa.Array`` or ``pa.ChunkedArray`` read from
the dump and returns arrays of the same length, built only from
``pyarrow.compute`` kernels because a Python loop over tens of millions of
rows would dominate the load time. An empty string means an absent value.
Null inputs are read as empty strings. Results are ``pa.ChunkedArray`` when
any input is chunked.

``domain.normalization`` is the reference. Property tests check that every
function here returns, element by element, what the scalar rule returns.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from domain import normalization as rules

ArrowArray = pa.Array | pa.ChunkedArray

# Full-match versions of the domain patterns. RE2 has no "\Z", but its "$"
# without the multi-line flag already matches only at the end of the text.
_EMAIL = f"^(?:{rules.EMAIL_PATTERN})$"
_DATE = f"^(?:{rules.DATE_PATTERN})$"
_SHARE_CAPITAL = f"^(?:{rules.SHARE_CAPITAL_PATTERN})$"
_TRAILING_CPF = rules.TRAILING_CPF_PATTERN + "$"
_CPF_REPLACEMENT = rf"\1{rules.CPF_MASK}\2"

_AREA_CODES = pa.array(sorted(rules.AREA_CODES), pa.string())
# A digit string made of one repeated digit. RE2 has no backreferences, so the
# pattern lists one run per digit. This one regex kernel is faster than
# comparing each number with its first digit repeated to its length: about
# 26 ms against 38 ms for 1,000,000 numbers (pyarrow 26, 2-core AMD EPYC VM).
_REPEATED_DIGIT = "^(?:" + "|".join(f"{digit}+" for digit in "0123456789") + ")$"

_NULL_STRING = pa.scalar(None, pa.string())
_NULL_BOOL = pa.scalar(None, pa.bool_())


def _as_strings(values: ArrowArray) -> ArrowArray:
    """Cast other string layouts to ``pa.string()`` and read nulls as empty strings."""
    if values.type != pa.string():
        values = values.cast(pa.string())
    return pc.fill_null(values, "")


def _digits_only(values: ArrowArray) -> ArrowArray:
    return pc.replace_substring_regex(values, r"[^0-9]+", "")


def _null_where(mask: ArrowArray, values: ArrowArray, null: pa.Scalar) -> ArrowArray:
    return pc.if_else(mask, null, values)


# Whitespace runs that clean_text must rewrite: two or more characters, or a
# single character other than a space. Leaving single spaces unmatched gives
# the same result as replacing every run but skips most of the regex
# replacement work, because names and addresses are mostly single-spaced.
_WHITESPACE_TO_COLLAPSE = f"[{rules.WHITESPACE}]{{2,}}|[{rules.WHITESPACE.replace(' ', '')}]"


def clean_text(raw: ArrowArray) -> ArrowArray:
    """Strip each string and collapse its whitespace runs, with null for empty results."""
    values = _as_strings(raw)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()

    # Searching is about five times cheaper than replacing, and few values
    # need a replacement: rewrite only those.
    needs_collapse = pc.match_substring_regex(values, _WHITESPACE_TO_COLLAPSE)
    if pc.any(needs_collapse).as_py():
        collapsed = pc.replace_substring_regex(
            pc.filter(values, needs_collapse), _WHITESPACE_TO_COLLAPSE, " "
        )
        values = pc.replace_with_mask(values, needs_collapse, collapsed)
    cleaned = pc.utf8_trim(values, characters=" ")
    return _null_where(pc.equal(cleaned, ""), cleaned, _NULL_STRING)


def normalize_phones(ddd: ArrowArray, number: ArrowArray) -> tuple[ArrowArray, ArrowArray]:
    """Build phone numbers from the area code and number columns.

    Returns ``(value, kind)``: the E.164 number, or the raw digits when the
    kind is ``"invalid"``, and a ``PhoneKind`` value. Both are null where the
    number is empty or all zeros. A number of one other repeated digit, such
    as 99999999, is a placeholder and gets kind ``"invalid"``.
    """
    ddd_digits = _digits_only(_as_strings(ddd))
    number_digits = _digits_only(_as_strings(number))

    absent = pc.equal(pc.utf8_ltrim(number_digits, characters="0"), "")
    area_code = pc.utf8_ltrim(ddd_digits, characters="0")
    known_area = pc.is_in(area_code, value_set=_AREA_CODES)
    # The repeated-digit check also matches zeros, but ``absent`` comes first
    # in the ``case_when`` calls below, so all-zero numbers stay null.
    placeholder = pc.match_substring_regex(number_digits, _REPEATED_DIGIT)
    dialable = pc.and_not(known_area, placeholder)

    # An 8-digit mobile is stored without the leading 9 that mobiles got
    # between 2012 and 2016. Landlines and 9-digit mobiles are dialled as stored.
    mobile_without_nine = pc.and_(
        dialable, pc.match_substring_regex(number_digits, "^[6-9][0-9]{7}$")
    )
    mobile_with_nine = pc.and_(dialable, pc.match_substring_regex(number_digits, "^9[0-9]{8}$"))
    landline = pc.and_(dialable, pc.match_substring_regex(number_digits, "^[2-5][0-9]{7}$"))
    mobile = pc.or_(mobile_without_nine, mobile_with_nine)
    dialled_as_stored = pc.or_(mobile_with_nine, landline)

    kind = pc.case_when(
        pc.make_struct(absent, mobile, landline),
        _NULL_STRING,
        rules.PhoneKind.MOBILE.value,
        rules.PhoneKind.LANDLINE.value,
        rules.PhoneKind.INVALID.value,
    )
    value = pc.case_when(
        pc.make_struct(absent, mobile_without_nine, dialled_as_stored),
        _NULL_STRING,
        pc.binary_join_element_wise("+55", area_code, "9", number_digits, ""),
        pc.binary_join_element_wise("+55", area_code, number_digits, ""),
        pc.binary_join_element_wise(ddd_digits, number_digits, ""),
    )
    return value, kind


def normalize_emails(raw: ArrowArray) -> tuple[ArrowArray, ArrowArray]:
    """Strip and lower-case e-mail addresses and check their syntax.

    Returns ``(value, is_valid)``, both null where the field is empty.
    Addresses that fail the check are kept, with ``is_valid`` false.
    """
    lowered = pc.utf8_lower(pc.utf8_trim(_as_strings(raw), characters=rules.WHITESPACE))
    absent = pc.equal(lowered, "")

    value = _null_where(absent, lowered, _NULL_STRING)
    is_valid = _null_where(absent, pc.match_substring_regex(lowered, _EMAIL), _NULL_BOOL)
    return value, is_valid


def parse_receita_dates(raw: ArrowArray) -> tuple[ArrowArray, ArrowArray]:
    """Parse YYYYMMDD dates.

    Returns ``(date32 values, is_invalid)``. Empty fields and runs of zeros
    are absent (null, not invalid). Anything that is not a calendar day from
    1900-01-01 to 2099-12-31 is null and invalid.
    """
    raw = _as_strings(raw)
    absent = pc.match_substring_regex(raw, "^0*$")
    well_formed = pc.match_substring_regex(raw, _DATE)

    # Rows that fail the shape check get a placeholder date, so the kernels
    # below only see text they can parse. The last step masks those rows out.
    candidates = pc.if_else(well_formed, raw, "19700101")
    as_number = pc.cast(candidates, pa.int32())
    parsed = pc.strptime(candidates, format="%Y%m%d", unit="s", error_is_null=True)

    # strptime rolls an impossible day over into the next month (20210231
    # becomes 2021-03-03 with pyarrow 26 on Linux), so a date counts only if
    # its fields give back the input.
    round_trip = pc.add(
        pc.add(pc.multiply(pc.year(parsed), 10_000), pc.multiply(pc.month(parsed), 100)),
        pc.day(parsed),
    )
    valid = pc.and_(well_formed, pc.fill_null(pc.equal(round_trip, as_number), False))

    dates = pc.if_else(valid, pc.cast(parsed, pa.date32()), pa.scalar(None, pa.date32()))
    is_invalid = pc.and_not(pc.invert(absent), valid)
    return dates, is_invalid


def parse_share_capital(raw: ArrowArray) -> tuple[ArrowArray, ArrowArray]:
    """Parse ``capital_social`` values such as ``62200,00`` into ``decimal128(18, 2)``.

    Returns ``(values, is_invalid)``. Empty fields are null and not invalid.
    Negative or malformed values are null and invalid.
    """
    raw = _as_strings(raw)
    absent = pc.equal(raw, "")
    well_formed = pc.match_substring_regex(raw, _SHARE_CAPITAL)

    # The pattern caps the integer part at 16 digits and the fraction at 2,
    # and malformed rows become "0" first, so the cast below cannot fail.
    decimal_text = pc.replace_substring(pc.if_else(well_formed, raw, "0"), ",", ".")
    amounts = pc.cast(decimal_text, pa.decimal128(18, 2))

    values = pc.if_else(well_formed, amounts, pa.scalar(None, pa.decimal128(18, 2)))
    is_invalid = pc.and_not(pc.invert(absent), well_formed)
    return values, is_invalid


def mask_trailing_cpfs(names: ArrowArray) -> tuple[ArrowArray, ArrowArray]:
    """Replace the CPF at the end of each legal name with ``***.***.***-**``.

    Returns ``(names, had_cpf)``, following ``domain.normalization.mask_trailing_cpf``.
    """
    names = _as_strings(names)
    had_cpf = pc.match_substring_regex(names, _TRAILING_CPF)
    masked = pc.replace_substring_regex(names, _TRAILING_CPF, _CPF_REPLACEMENT)
    return masked, had_cpf
