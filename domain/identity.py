"""Identity: integer public ids map to aggregate ids with uuid5, without a lookup."""

from __future__ import annotations

from uuid import UUID, uuid5

MARID_NS = UUID("7c1c1b9e-5a0f-4a61-9d7e-2f1f6f3b8a10")


def aggregate_id(kind: str, public_id: int) -> UUID:
    """The aggregate id of resource `kind` with public id `public_id`."""
    return uuid5(MARID_NS, f"{kind}:{public_id}")


def index_id(kind: str, key: str) -> UUID:
    """The id of the index aggregate that guards the natural key `key` of `kind`."""
    return uuid5(MARID_NS, f"index:{kind}:{key}")
