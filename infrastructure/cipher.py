"""AES-GCM encryption of secrets at rest, keyed from MARID_SECRET_KEY."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"


class SecretError(ValueError):
    """Raised when a sealed secret is malformed or was sealed with another key."""


class AesGcmBox:
    """Implements SecretBox: `v1:` + base64(nonce + ciphertext + tag)."""

    def __init__(self, key_material: bytes, purpose: bytes = b"marid secrets at rest") -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            key_material
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str) -> str:
        version, _, payload = sealed.partition(":")
        if version != VERSION or not payload:
            raise SecretError("not a sealed secret")
        try:
            raw = base64.b64decode(payload, validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except (ValueError, InvalidTag):
            raise SecretError("the secret cannot be opened with this key") from None
