"""Personal access tokens: generated with a recognisable prefix, stored only as SHA-256.

The rules live in `domain.tokens` (the OAuth exchange makes tokens too); this module is
where the API and the CLI have always found them.
"""

from __future__ import annotations

from domain.tokens import TOKEN_PREFIX as PREFIX
from domain.tokens import generate_token, hash_token, looks_like_token

__all__ = ["PREFIX", "generate_token", "hash_token", "looks_like_token"]
