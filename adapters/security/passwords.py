"""Password hashing with argon2id (argon2-cffi).

The parameters are the library's defaults (RFC 9106's second recommended
option: 64 MiB, 3 passes, 4 lanes), which cost about 50 ms here. A hash made
with older parameters is recomputed at the next successful login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Verified against when the account does not exist, so that an unknown
        # e-mail takes as long as a wrong password and the timing tells nothing.
        self._dummy = self._hasher.hash("garimpo-dummy-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and (
                password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
