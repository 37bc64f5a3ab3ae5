"""The Namespace aggregate: a tree of namespaces whose root holds visibility and collaborators."""

from __future__ import annotations

import re
from dataclasses import InitVar, field

from eventsourcing.domain import Aggregate, event

from domain.aggregates import Assigns, Deletable
from domain.errors import Errors, NamespacePermissionError, ValidationError
from domain.origin import Origin

NAME_RE = re.compile(r"[a-zA-Z0-9]+")
MAX_DEPTH = 20
VISIBILITIES = ("private", "internal", "public")
DESCRIPTION_MAX = 255


def name_errors(name: str | None) -> list[str]:
    """Every rule a namespace name breaks (Djinn's messages)."""
    if not name:
        return ["Name field required"]
    errors = []
    if not 3 <= len(name) <= 32:
        errors.append("Name must be between 3 and 32 characters in length")
    if not NAME_RE.fullmatch(name):  # `$` with match() would let "proj\n" through
        errors.append("Name can only have letters, and numbers")
    return errors


def reference_name_errors(name: str) -> list[str]:
    """Every rule a name created from a reference (`a/to/b`) breaks: Djinn asks only
    letters and digits, 1 to 32 of them, of these (3 to 32 is for `POST /namespaces`)."""
    errors = []
    if len(name) > 32:
        errors.append("Name cannot be longer than 32 characters in length")
    if not NAME_RE.fullmatch(name):
        errors.append("Name can only have letters, and numbers")
    return errors


def validate_fields(errors: Errors, *, description: str | None, visibility: str | None) -> None:
    """Add the rules that `description` and `visibility` break to `errors`."""
    if description is not None and len(description) > DESCRIPTION_MAX:
        errors.add("description", "Description cannot be longer than 255 characters in length")
    if visibility is not None and visibility not in VISIBILITIES:
        errors.add("visibility", "Visibility must be one of private, internal, public")


class DepthExceededError(ValidationError):
    """Raised when a child namespace would be deeper than the tree allows."""

    def __init__(self, field: str = "parent") -> None:
        super().__init__({field: [f"Namespace cannot exceed depth of {MAX_DEPTH}"]})


class Namespace(Deletable):
    """A namespace; the root of a tree carries the tree's visibility and collaborators."""

    KIND = "namespace"

    owner_id: int
    name: str
    path: str
    parent_id: int | None
    root_id: int
    level: int
    description: str
    visibility: str
    origin: InitVar[Origin]
    children: list[int] = field(default_factory=list, init=False)
    collaborators: list[int] = field(default_factory=list, init=False)

    class Created(Deletable.Created):
        owner_id: int
        name: str
        path: str
        parent_id: int | None
        root_id: int
        level: int
        description: str
        visibility: str
        origin: Origin

    class ChildAdded(Aggregate.Event):
        child_id: int
        origin: Origin

    class ChildRemoved(Aggregate.Event):
        child_id: int
        origin: Origin

    class DescriptionChanged(Assigns):
        description: str
        origin: Origin

    class VisibilityChanged(Assigns):
        visibility: str
        origin: Origin

    class CollaboratorAdded(Aggregate.Event):
        user_id: int
        origin: Origin

    class CollaboratorRemoved(Aggregate.Event):
        user_id: int
        origin: Origin

    class Deleted(Deletable.Deleted):
        public_id: int
        origin: Origin

    @classmethod
    def create_root(
        cls,
        public_id: int,
        owner_id: int,
        name: str,
        description: str,
        visibility: str,
        origin: Origin,
    ) -> Namespace:
        return cls(
            public_id=public_id,
            owner_id=owner_id,
            name=name,
            path=name,
            parent_id=None,
            root_id=public_id,
            level=0,
            description=description,
            visibility=visibility,
            origin=origin,
        )

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    def create_child(
        self, public_id: int, name: str, description: str, origin: Origin
    ) -> Namespace:
        """Create a child; it inherits visibility, and the parent records it."""
        if self.level + 1 >= MAX_DEPTH:
            raise DepthExceededError()
        child = Namespace(
            public_id=public_id,
            owner_id=self.owner_id,
            name=name,
            path=f"{self.path}/{name}",
            parent_id=self.public_id,
            root_id=self.root_id,
            level=self.level + 1,
            description=description,
            visibility=self.visibility,
            origin=origin,
        )
        self._child_added(child_id=public_id, origin=origin)
        return child

    @event(ChildAdded)
    def _child_added(self, child_id: int, origin: Origin) -> None:
        self.children.append(child_id)

    def forget_child(self, child_id: int, origin: Origin) -> None:
        if child_id in self.children:
            self._child_removed(child_id=child_id, origin=origin)

    @event(ChildRemoved)
    def _child_removed(self, child_id: int, origin: Origin) -> None:
        self.children.remove(child_id)

    def can_write(self, user_id: int) -> bool:
        """Write access to the tree; call on the root."""
        return user_id == self.owner_id or user_id in self.collaborators

    def add_collaborator(self, user_id: int, origin: Origin) -> None:
        """Give a user write access to the tree; call on the root. The owner needs none."""
        if not self.is_root:
            raise ValueError("collaborators belong to the root of a tree")
        if user_id != self.owner_id and user_id not in self.collaborators:
            self._collaborator_added(user_id=user_id, origin=origin)

    @event(CollaboratorAdded)
    def _collaborator_added(self, user_id: int, origin: Origin) -> None:
        self.collaborators.append(user_id)

    def remove_collaborator(self, user_id: int, origin: Origin) -> None:
        if user_id in self.collaborators:
            self._collaborator_removed(user_id=user_id, origin=origin)

    @event(CollaboratorRemoved)
    def _collaborator_removed(self, user_id: int, origin: Origin) -> None:
        self.collaborators.remove(user_id)

    def require_owner(self, user_id: int) -> None:
        if user_id != self.owner_id:
            raise NamespacePermissionError("Only the namespace owner can do this")

    def update(self, description: str | None, visibility: str | None, origin: Origin) -> None:
        """Change the fields given; visibility is a property of the root only."""
        if description is not None and description != self.description:
            self.trigger_event(self.DescriptionChanged, description=description, origin=origin)
        if visibility is not None and self.is_root and visibility != self.visibility:
            self.trigger_event(self.VisibilityChanged, visibility=visibility, origin=origin)

    def deletion_ids(self) -> dict[str, int]:
        return {"public_id": self.public_id}
