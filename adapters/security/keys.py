"""API keys and single-use tokens: random secrets stored as SHA-256 digests.

An API key reads ``gar_<prefix>_<secret>``. The prefix is stored in clear, so
finding a key is one index probe and an operator can tell keys apart in a
list. The secret is 32 random bytes, which no brute force can guess, so a
fast digest is enough; passwords, which people choose, get argon2id instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_MARK = "gar"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """Return (prefix, whole key)."""
    prefix = secrets.token_hex(4)
    # token_urlsafe may contain "_", the separator of the key's parts.
    body = secrets.token_urlsafe(32).replace("_", "-")
    return prefix, f"{KEY_MARK}_{prefix}_{body}"


def new_token() -> str:
    """A random URL-safe token for refresh, reset and invitation links."""
    return secrets.token_urlsafe(32)


class Sha256ApiKeys:
    def split(self, key: str) -> str | None:
        parts = key.split("_")
        if len(parts) != 3 or parts[0] != KEY_MARK or not parts[1] or not parts[2]:
            return None
        return parts[1]

    def matches(self, key: str, key_hash: str) -> bool:
        return hmac.compare_digest(digest(key), key_hash)


class RandomTokens:
    """Refresh, reset and invitation tokens: random text for the user, its digest for the database."""

    def new(self) -> str:
        return new_token()

    def digest(self, token: str) -> str:
        return digest(token)
