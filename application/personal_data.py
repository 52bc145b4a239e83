"""Port for personal data at rest: encrypted values with a keyed hash beside each.

Phones, e-mails and message bodies on the tenant side are stored encrypted.
Equality lookups (dedup, opt-out) compare keyed hashes of the normalised
value, so a repository never needs a plaintext column to find a match.
"""

from __future__ import annotations

from typing import Protocol


class PersonalDataCipher(Protocol):
    def encrypt(self, value: str) -> bytes:
        """Encrypt ``value``; two calls with the same value give different bytes."""
        ...

    def decrypt(self, token: bytes) -> str:
        """Return the value ``encrypt`` was given; raise ValueError on a tampered token."""
        ...

    def lookup_hash(self, kind: str, normalised: str) -> bytes:
        """Keyed hash of a normalised value of ``kind`` (phone, email, cnpj), stable across calls."""
        ...
