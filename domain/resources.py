"""What every namespaced resource (variable, key, object, image, cron) is and shares.

Each resource has `owner_id` (the namespace's owner, or the creator when it has no
namespace), `author_id` (who created it) and an optional `namespace_id`; it is deleted
once, and its aggregate id comes from its integer public id.

A resource declares its own fields as annotations after these (domain/aggregates.py says
how the library builds it from them), and keeps its own event classes: it redeclares the
shared ones (`class Deleted(NamespacedResource.Deleted): pass`), and its events' topics
stay `domain.<module>:<Resource>.<Event>` (tests/unit/test_resource_events.py holds them).
"""

from __future__ import annotations

from domain.aggregates import Deletable
from domain.origin import Origin


def uniqueness_scope(owner_id: int, namespace_id: int | None) -> str:
    """Names are unique per namespace, or per owner for resources without one."""
    return f"ns:{namespace_id}" if namespace_id is not None else f"user:{owner_id}"


class NamespacedResource(Deletable):
    """The shape every namespaced resource shares; a subclass names its `KIND`, declares its
    own fields then `origin: InitVar[Origin]`, and redeclares `Created` with its own fields
    then `origin`, in the same order."""

    owner_id: int
    author_id: int
    namespace_id: int | None

    class Created(Deletable.Created):
        owner_id: int
        author_id: int
        namespace_id: int | None

    class Deleted(Deletable.Deleted):
        origin: Origin
