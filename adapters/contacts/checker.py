"""Phone and e-mail checks on maintained libraries.

- phonenumbers (Google's libphonenumber metadata) parses and classifies
  phones, and keeps up with numbering-plan changes that a regular expression
  would miss.
- email-validator checks the syntax of an address, without the DNS lookup,
  because a save must not wait on the network.
- disposable-email-domains ships a list of disposable-mail domains, updated
  with each release of the package.
"""

from __future__ import annotations

import phonenumbers
from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

from domain.contacts import EmailCheck, EmailProblem, PhoneCheck, PhoneKind, PhoneProblem

_KINDS = {
    phonenumbers.PhoneNumberType.MOBILE: PhoneKind.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE: PhoneKind.LANDLINE,
}

#: The library's English reasons, in the words a Brazilian user reads.
_EMAIL_DETAILS = (
    ("two periods in a row", "O e-mail não pode ter dois pontos seguidos."),
    ("period immediately before the @", "O e-mail não pode ter um ponto logo antes do @."),
    ("end with a period", "O e-mail não pode terminar com ponto."),
    ("start with a period", "O e-mail não pode começar com ponto."),
    ("must have an @", "O e-mail precisa ter um @."),
    ("invalid characters", "O e-mail tem caracteres inválidos."),
)
_EMAIL_FALLBACK = "O e-mail não é um endereço válido."


def _detail(error: EmailNotValidError) -> str:
    message = str(error)
    for fragment, detail in _EMAIL_DETAILS:
        if fragment in message:
            return detail
    return _EMAIL_FALLBACK


class LibraryContactChecker:
    def __init__(self, disposable_domains: frozenset[str] | None = None) -> None:
        self._disposable = disposable_domains if disposable_domains is not None else blocklist

    def phone(self, raw: str, *, region: str = "BR") -> PhoneCheck:
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return PhoneCheck(raw=raw, e164=None, kind=None, problem=PhoneProblem.UNPARSEABLE)

        if not phonenumbers.is_valid_number(parsed):
            return PhoneCheck(raw=raw, e164=None, kind=None, problem=PhoneProblem.INVALID)

        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        kind = _KINDS.get(phonenumbers.number_type(parsed), PhoneKind.OTHER)
        return PhoneCheck(raw=raw, e164=e164, kind=kind)

    def email(self, raw: str) -> EmailCheck:
        try:
            checked = validate_email(raw.strip(), check_deliverability=False)
        except EmailNotValidError as error:
            return EmailCheck(
                raw=raw,
                normalized=None,
                problem=EmailProblem.INVALID_SYNTAX,
                detail=_detail(error),
            )

        domain = checked.domain.lower()
        if self._is_disposable(domain):
            return EmailCheck(
                raw=raw,
                normalized=checked.normalized,
                problem=EmailProblem.DISPOSABLE_DOMAIN,
                detail="O domínio do e-mail é de um serviço de e-mail descartável.",
            )
        return EmailCheck(raw=raw, normalized=checked.normalized)

    def _is_disposable(self, domain: str) -> bool:
        # A subdomain of a disposable domain is disposable too.
        labels = domain.split(".")
        return any(".".join(labels[index:]) in self._disposable for index in range(len(labels) - 1))
