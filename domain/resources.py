"""Rules every namespaced resource (variable, key, object, image) shares.

Each resource has `owner_id` (the namespace's owner, or the creator when it has no
namespace), `author_id` (who created it) and an optional `namespace_id`.
"""

from __future__ import annotations


def uniqueness_scope(owner_id: int, namespace_id: int | None) -> str:
    """Names are unique per namespace, or per owner for resources without one."""
    return f"ns:{namespace_id}" if namespace_id is not None else f"user:{owner_id}"
