"""The Variable aggregate: a key and value for build environments, optionally masked."""

from __future__ import annotations

import re
from dataclasses import InitVar

from domain.errors import Errors
from domain.origin import Origin
from domain.resources import NamespacedResource

KEY_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
KEY_RE = re.compile(KEY_PATTERN)
MASK_MIN = 6
MASKED_VALUE = "xxxxxx"


def validate_variable(errors: Errors, key: str | None, value: str | None, mask: bool) -> None:
    """Add every rule a new variable's fields break (Djinn's messages)."""
    if not key:
        errors.add("key", "Key field required")
    elif not KEY_RE.fullmatch(key):  # `match` would let `$` accept a trailing newline
        errors.add("key", f"Key does not match {KEY_PATTERN}")
    if not value:
        errors.add("value", "Value field required")
    if mask and len(value or "") < MASK_MIN:
        errors.add("value", f"Value cannot be shorter than {MASK_MIN} characters in length")


class Variable(NamespacedResource):
    """A variable; a masked one holds its value sealed (never in clear in an event)."""

    KIND = "variable"

    key: str
    value: str
    masked: bool
    origin: InitVar[Origin]

    class Created(NamespacedResource.Created):
        key: str
        value: str
        masked: bool
        origin: Origin

    class Deleted(NamespacedResource.Deleted):
        pass
