"""AES-256-GCM for personal data, HMAC-SHA256 for the lookup hashes.

One master key (32 bytes) yields two keys through HKDF, one to encrypt and
one to hash, so the hash key never doubles as an encryption key. A token is
``version byte || 12-byte nonce || ciphertext and tag``; the version byte
leaves room to rotate the key later without guessing which one a row used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32


def parse_master_key(text: str) -> bytes:
    """Decode a base64 (standard or URL-safe) key of exactly 32 bytes."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        key = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as error:
        raise ValueError("the personal data key must be base64") from error
    if len(key) != KEY_BYTES:
        raise ValueError(f"the personal data key must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def new_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(master)


class AesGcmCipher:
    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(_derive(master_key, b"garimpo personal data encryption v1"))
        self._hash_key = _derive(master_key, b"garimpo personal data lookup v1")

    def encrypt(self, value: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), bytes([TOKEN_VERSION]))
        return bytes([TOKEN_VERSION]) + nonce + sealed

    def decrypt(self, token: bytes) -> str:
        if len(token) < 1 + NONCE_BYTES + 16 or token[0] != TOKEN_VERSION:
            raise ValueError("not a personal data token of this version")
        nonce = token[1 : 1 + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, token[1 + NONCE_BYTES :], token[:1])
        except InvalidTag as error:
            raise ValueError("personal data token failed authentication") from error
        return plain.decode()

    def lookup_hash(self, kind: str, normalised: str) -> bytes:
        # The kind is part of the message, so a phone and an e-mail with the
        # same text never share a hash.
        message = kind.encode() + b"\x00" + normalised.encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).digest()
