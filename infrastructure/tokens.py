"""Personal access tokens: generated with a recognisable prefix, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "marid_"


def generate_token() -> str:
    """A new token: the prefix and 40 hex characters (160 random bits)."""
    return PREFIX + secrets.token_hex(20)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    return token.startswith(PREFIX) and len(token) == len(PREFIX) + 40
