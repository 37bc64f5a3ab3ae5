"""Who may read or write what. The SQL visibility filters in `projections/` mirror these rules."""

from __future__ import annotations

from collections.abc import Collection


def can_read_namespace(
    visibility: str, owner_id: int, collaborators: Collection[int], caller_id: int | None
) -> bool:
    """public: anyone; internal: any signed-in user; private: root owner and collaborators."""
    if visibility == "public":
        return True
    if caller_id is None:
        return False
    if visibility == "internal":
        return True
    return caller_id == owner_id or caller_id in collaborators


def can_write_namespace(
    owner_id: int, collaborators: Collection[int], caller_id: int | None
) -> bool:
    """Root owner and collaborators only; visibility never grants write access."""
    return caller_id is not None and (caller_id == owner_id or caller_id in collaborators)
