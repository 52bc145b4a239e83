"""CNPJ identifiers: the 8-character company root and the 14-character establishment id.

Since July 2026 Receita issues alphanumeric CNPJs: the root (8) and the order
(4) may hold 0-9 and A-Z, the two check digits stay numeric. Check digits are
computed modulo 11 on each character's ASCII code minus 48, so digits keep
their old value and ``A`` counts 17. A CNPJ is text; it is never a number.
"""

from __future__ import annotations

import re

import attrs

from domain.errors import InvalidCnpj

#: Weights of the first and second check digit, applied left to right.
_FIRST_DIGIT_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_SECOND_DIGIT_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)

_BASE_PATTERN = re.compile(r"[0-9A-Z]{12}")
_FULL_PATTERN = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_ROOT_PATTERN = re.compile(r"[0-9A-Z]{8}")
_ORDER_PATTERN = re.compile(r"[0-9A-Z]{4}")

#: Punctuation users type around a CNPJ: 12.ABC.345/01DE-35.
_FORMATTING = str.maketrans("", "", "./- ")


def _check_digit(chars: str, weights: tuple[int, ...]) -> int:
    total = sum((ord(char) - 48) * weight for char, weight in zip(chars, weights, strict=True))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def check_digits(base: str) -> str:
    """Compute the two check digits of a 12-character CNPJ base (root + order)."""
    if not _BASE_PATTERN.fullmatch(base):
        raise InvalidCnpj(base, "a base do CNPJ deve ter 12 caracteres entre 0-9 e A-Z")

    first = _check_digit(base, _FIRST_DIGIT_WEIGHTS)
    second = _check_digit(base + str(first), _SECOND_DIGIT_WEIGHTS)
    return f"{first}{second}"


def is_valid_root(value: str) -> bool:
    """Tell whether ``value`` has the shape of a CNPJ root (8 characters, 0-9 and A-Z)."""
    return bool(_ROOT_PATTERN.fullmatch(value))


def is_valid_order(value: str) -> bool:
    """Tell whether ``value`` has the shape of a CNPJ order number (4 characters, 0-9 and A-Z)."""
    return bool(_ORDER_PATTERN.fullmatch(value))


@attrs.frozen(slots=True)
class Cnpj:
    """A validated 14-character establishment CNPJ, upper case, without punctuation."""

    value: str = attrs.field()

    @value.validator
    def _validate(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not _FULL_PATTERN.fullmatch(value):
            raise InvalidCnpj(
                value, "o CNPJ deve ter 12 caracteres entre 0-9 e A-Z seguidos de 2 dígitos"
            )

        # A run of one repeated character passes the modulo-11 check for some
        # characters (00000000000000 does) but is never issued.
        if len(set(value)) == 1:
            raise InvalidCnpj(value, "um CNPJ com todos os caracteres iguais não é válido")

        if check_digits(value[:12]) != value[12:]:
            raise InvalidCnpj(value, "os dígitos verificadores do CNPJ não conferem")

    @classmethod
    def parse(cls, text: str) -> Cnpj:
        """Parse a CNPJ typed by a person: punctuation and case are ignored."""
        return cls(text.translate(_FORMATTING).upper())

    @classmethod
    def from_parts(cls, root: str, order: str, digits: str) -> Cnpj:
        """Build a CNPJ from the three columns of the Estabelecimentos file."""
        return cls(f"{root}{order}{digits}")

    @property
    def root(self) -> str:
        """The company root (CNPJ básico), shared by the head office and its branches."""
        return self.value[:8]

    @property
    def order(self) -> str:
        return self.value[8:12]

    @property
    def is_alphanumeric(self) -> bool:
        return not self.value[:12].isdigit()

    def formatted(self) -> str:
        """Return the usual punctuated form, such as 12.ABC.345/01DE-35."""
        v = self.value
        return f"{v[:2]}.{v[2:5]}.{v[5:8]}/{v[8:12]}-{v[12:]}"

    def __str__(self) -> str:
        return self.value
