"""Normalisation rules for the free-text fields of the Receita CNPJ dump.

These scalar functions are the reference: ``adapters.receita.normalize`` applies
the same rules to Arrow arrays, and property tests check that both agree.
The regular expressions below use only syntax that Python's ``re`` and RE2
(the engine behind ``pyarrow.compute``) read the same way, so the adapter
builds its patterns from these constants.

None of these functions raise on bad input. The dump is read as it comes, so
a bad value is reported through an ``is_invalid`` flag or an ``INVALID`` kind
and the load goes on.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re

import attrs

#: Characters treated as whitespace: ASCII whitespace plus the two latin-1
#: ones, NEL (U+0085) and the no-break space (U+00A0), which the dump may
#: contain because it is encoded in latin-1.
WHITESPACE = " \t\n\r\f\v\x85\xa0"

#: The 67 area codes (DDD) that ANATEL assigns in Brazil.
AREA_CODES = frozenset(
    str(code)
    for code in (
        *range(11, 20),
        21, 22, 24, 27, 28,
        *range(31, 36),
        37, 38,
        *range(41, 50),
        51, 53, 54, 55,
        *range(61, 70),
        71, 73, 74, 75, 77, 79,
        *range(81, 90),
        *range(91, 100),
    )
)  # fmt: skip

#: E-mail syntax after lower-casing: a dot-atom local part, then domain
#: labels of letters, digits and inner hyphens, ending in a TLD of 2+ letters.
#: It is deliberately narrower than RFC 5322 (no quoted local parts, no IP
#: literals, no internationalised domains) because it only grades contacts.
EMAIL_PATTERN = (
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}"
)

#: A date in the dump's YYYYMMDD form with a year from 1900 to 2099. Some
#: deliveries carry typing errors such as year 4100. The bound is not today's
#: date because Simples exclusion dates may be scheduled in the future.
DATE_PATTERN = r"(?:19|20)[0-9]{6}"

#: Share capital with a decimal comma and no thousands separator. The integer
#: part may have at most 16 significant digits so that the amount fits a
#: NUMERIC(18, 2) column. Every value in a 2,000-row sample of the dump has
#: two decimal places, so a third one more likely means a misread field than
#: a fraction of a centavo, and it is rejected rather than rounded.
SHARE_CAPITAL_PATTERN = r"0*[0-9]{1,16}(?:,[0-9]{1,2})?"

#: A CPF at the end of a legal name: 11 digits, bare or as 000.000.000-00,
#: preceded by the start of the text or a non-digit and followed only by
#: whitespace. Group 1 is the preceding character and group 2 the trailing
#: whitespace, both kept when the CPF is masked.
TRAILING_CPF_PATTERN = (
    rf"(^|[^0-9])(?:[0-9]{{11}}|[0-9]{{3}}\.[0-9]{{3}}\.[0-9]{{3}}-[0-9]{{2}})([{WHITESPACE}]*)"
)

#: Text that replaces a masked CPF, in the usual CPF punctuation.
CPF_MASK = "***.***.***-**"

_WHITESPACE_RUN = re.compile(f"[{WHITESPACE}]+")
_NON_DIGIT = re.compile(r"[^0-9]")
_ALL_ZEROS = re.compile(r"0*")
_EMAIL = re.compile(EMAIL_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_SHARE_CAPITAL = re.compile(SHARE_CAPITAL_PATTERN)
# Python's "$" also matches before a final newline, so "\Z" anchors the end.
_TRAILING_CPF = re.compile(TRAILING_CPF_PATTERN + r"\Z")

_CENTS = decimal.Decimal("0.01")


def clean_text(raw: str) -> str | None:
    """Strip ``raw`` and collapse each run of whitespace to one space.

    Returns None for text that is empty or only whitespace, because the dump
    writes an absent value as an empty field.
    """
    cleaned = _WHITESPACE_RUN.sub(" ", raw).strip(" ")
    return cleaned or None


class PhoneKind(enum.StrEnum):
    """Kind of a normalised phone number."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    #: The digits do not form a Brazilian phone number, or the number is one
    #: repeated digit such as 99999999. The value is then the digits of both
    #: fields, leading zeros included, so that no digit is lost.
    INVALID = "invalid"


@attrs.frozen(slots=True)
class Phone:
    """A phone number in E.164 form (``+5519987654321``), or the raw digits when invalid."""

    value: str
    kind: PhoneKind


def normalize_phone(ddd: str, number: str) -> Phone | None:
    """Build a phone number from the dump's separate area code and number fields.

    Returns None when the number is empty or all zeros, the dump's placeholder
    for "no phone", whatever the area code holds. A number made of one other
    repeated digit, such as 99999999 or 22222222, is a placeholder too, but it
    is kept as an ``INVALID`` phone with its raw digits.
    """
    ddd_digits = _NON_DIGIT.sub("", ddd)
    number_digits = _NON_DIGIT.sub("", number)
    if _ALL_ZEROS.fullmatch(number_digits):
        return None

    # Without this check, 99999999 would pass as an 8-digit mobile.
    if len(set(number_digits)) == 1:
        return Phone(ddd_digits + number_digits, PhoneKind.INVALID)

    # Some rows carry the trunk prefix 0 in front of the area code (069, 0021).
    area_code = ddd_digits.lstrip("0")
    if area_code in AREA_CODES:
        first_digit = number_digits[0]
        if len(number_digits) == 8 and first_digit in "6789":
            # Mobile numbers got a leading 9 between 2012 and 2016, but the
            # dump still stores many of them with 8 digits.
            return Phone(f"+55{area_code}9{number_digits}", PhoneKind.MOBILE)
        if len(number_digits) == 8 and first_digit in "2345":
            return Phone(f"+55{area_code}{number_digits}", PhoneKind.LANDLINE)
        if len(number_digits) == 9 and first_digit == "9":
            return Phone(f"+55{area_code}{number_digits}", PhoneKind.MOBILE)

    return Phone(ddd_digits + number_digits, PhoneKind.INVALID)


@attrs.frozen(slots=True)
class Email:
    """A lower-cased e-mail address and whether it passed the syntax check."""

    value: str
    is_valid: bool


def normalize_email(raw: str) -> Email | None:
    """Strip and lower-case an e-mail address, then check its syntax.

    Returns None for an empty field. An address that fails the check is still
    returned, with ``is_valid`` False, so that no contact data is dropped.
    """
    value = raw.strip(WHITESPACE).lower()
    if not value:
        return None
    return Email(value, _EMAIL.fullmatch(value) is not None)


@attrs.frozen(slots=True)
class ParsedDate:
    """A date read from the dump, or None with ``is_invalid`` telling absent from unreadable."""

    value: datetime.date | None
    is_invalid: bool


def parse_receita_date(raw: str) -> ParsedDate:
    """Parse a YYYYMMDD date from the dump.

    An empty field or any run of zeros (``0``, ``00000000``) is the dump's
    placeholder for "no date", so it is absent, not invalid. Anything that is
    not a real calendar day from 1900-01-01 to 2099-12-31 is invalid.
    """
    if _ALL_ZEROS.fullmatch(raw):
        return ParsedDate(None, is_invalid=False)
    if not _DATE.fullmatch(raw):
        return ParsedDate(None, is_invalid=True)

    try:
        value = datetime.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        # Day or month out of range, such as 20210231.
        return ParsedDate(None, is_invalid=True)
    return ParsedDate(value, is_invalid=False)


@attrs.frozen(slots=True)
class ParsedMoney:
    """An amount in BRL with two decimal places, or None with ``is_invalid`` telling why."""

    value: decimal.Decimal | None
    is_invalid: bool


def parse_share_capital(raw: str) -> ParsedMoney:
    """Parse the ``capital_social`` field, such as ``62200,00`` (62,200 reais).

    The comma is the decimal separator and the dump never uses a thousands
    separator, so ``62200,00`` must not be read as 6,220,000. An empty field
    is absent. A negative or malformed value is invalid.
    """
    if not raw:
        return ParsedMoney(None, is_invalid=False)
    if not _SHARE_CAPITAL.fullmatch(raw):
        return ParsedMoney(None, is_invalid=True)

    amount = decimal.Decimal(raw.replace(",", "."))
    return ParsedMoney(amount.quantize(_CENTS), is_invalid=False)


def mask_trailing_cpf(name: str) -> tuple[str, bool]:
    """Replace the owner's CPF at the end of a legal name with ``***.***.***-**``.

    Individual entrepreneurs are registered under names such as ``MARIA DA
    SILVA 12345678901``, and the CPF is personal data. Returns the name and
    whether a CPF was masked. Digits inside the name, or a run of more than
    11 digits, are left alone. A CPF written in any other form than the two
    that ``TRAILING_CPF_PATTERN`` accepts is not found.
    """
    masked, count = _TRAILING_CPF.subn(rf"\g<1>{CPF_MASK}\g<2>", name, count=1)
    return masked, count == 1
