"""The port that checks a lead's phones and e-mail addresses when they are saved."""

from __future__ import annotations

from typing import Protocol

from domain.contacts import EmailCheck, PhoneCheck


class ContactChecker(Protocol):
    def phone(self, raw: str, *, region: str = "BR") -> PhoneCheck:
        """Normalise a phone to E.164 and classify it; a number without a country code is of ``region``."""
        ...

    def email(self, raw: str) -> EmailCheck:
        """Check an address's syntax (no DNS lookup) and whether its domain is disposable."""
        ...
