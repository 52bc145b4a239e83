"""Contact channels of a lead: phones and e-mail addresses, as checked on save.

A phone is kept in E.164 with its kind (mobile or landline). Whether it has
WhatsApp stays unknown until a send proves it either way. An e-mail address
is kept normalised, with whether its syntax is valid and whether its domain
belongs to a disposable-mail provider.
"""

from __future__ import annotations

import enum
import re

import attrs


class PhoneKind(enum.StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"
    #: A valid number whose kind the numbering plan does not tell (VoIP, shared cost...).
    OTHER = "other"


class PhoneProblem(enum.StrEnum):
    UNPARSEABLE = "unparseable"
    INVALID = "invalid"


class EmailProblem(enum.StrEnum):
    INVALID_SYNTAX = "invalid_syntax"
    DISPOSABLE_DOMAIN = "disposable_domain"


@attrs.frozen(kw_only=True)
class PhoneCheck:
    #: The number as typed or imported.
    raw: str
    #: ``+5541987654321``; None when the number is not valid.
    e164: str | None
    kind: PhoneKind | None
    problem: PhoneProblem | None = None
    #: None until a send proves the number has (or lacks) WhatsApp.
    whatsapp: bool | None = None

    @property
    def usable(self) -> bool:
        return self.e164 is not None


@attrs.frozen(kw_only=True)
class EmailCheck:
    raw: str
    #: Lower-case domain, local part as typed; None when the syntax is invalid.
    normalized: str | None
    problem: EmailProblem | None = None
    #: Why the syntax is invalid, in pt-BR, for the person who typed it.
    detail: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


_WHATSAPP_BR_MOBILE_WITHOUT_NINE = re.compile(r"^55(\d{2})([6-9]\d{7})$")


def whatsapp_candidates(wa_id: str) -> tuple[str, ...]:
    """Return the E.164 numbers a WhatsApp id may stand for, the id's own form first.

    WhatsApp often reports a Brazilian mobile without its ninth digit
    (``554187654321`` for ``+5541987654321``). An eight-digit subscriber number that starts with 6
    to 9 is such a mobile, so the form with the 9 is a candidate too. One that
    starts with 2 to 5 is a landline and gets no digit.
    """
    digits = re.sub(r"\D", "", wa_id)
    candidates = [f"+{digits}"]
    match = _WHATSAPP_BR_MOBILE_WITHOUT_NINE.match(digits)
    if match:
        area, subscriber = match.groups()
        candidates.append(f"+55{area}9{subscriber}")
    return tuple(candidates)
