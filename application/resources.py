"""Use-case steps every namespaced resource (variable, key, object, image, cron) shares:
placement, name uniqueness, write access, and deletion that frees the name.

A resource module declares its `ResourceKind` and keeps only its own rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypedDict, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from application.namespaces import NamespaceCases
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.index import Index, KeyTakenError
from domain.namespace_ref import NamespaceRef, NamespaceRefError
from domain.origin import Origin
from domain.resources import NamespacedResource, uniqueness_scope

R = TypeVar("R", bound=NamespacedResource)


@dataclass(frozen=True)
class ResourceKind(Generic[R]):
    """A kind of namespaced resource, as the shared steps need to know it."""

    cls: type[R]
    unique_field: str = "name"  # the field unique in a namespace (a variable's `key`)

    @property
    def name(self) -> str:
        """Its kind, as in its ids, its index's kind and its not-found error: "variable"."""
        return self.cls.KIND

    def unique_name(self, resource: R) -> str:
        return str(getattr(resource, self.unique_field))

    @property
    def name_taken(self) -> str:
        return f"{self.unique_field.capitalize()} already exists"


class Ownership(TypedDict):
    """The fields every namespaced resource is created with (`**new.ownership`)."""

    owner_id: int
    author_id: int
    namespace_id: int | None


@dataclass
class Placement:
    """Where a new resource goes, and the namespaces to create with it."""

    owner_id: int
    namespace_id: int | None
    pending: list[Aggregate] = field(default_factory=list)

    @classmethod
    def of(cls, resource: NamespacedResource) -> Placement:
        """Where an existing resource is."""
        return cls(resource.owner_id, resource.namespace_id)

    def ownership(self, author_id: int) -> Ownership:
        return Ownership(
            owner_id=self.owner_id, author_id=author_id, namespace_id=self.namespace_id
        )


@dataclass(frozen=True)
class NewResource:
    """A new resource's id and name, the fields saying whose it is, and what to save with
    it: the claim of its name and any namespaces created for it."""

    id: int
    name: str
    ownership: Ownership
    saved_with: list[Aggregate]


def parse_ref(
    text: str | None, errors: Errors, field_name: str = "namespace"
) -> NamespaceRef | None:
    """The namespace reference of a request, or None; a bad one is a field error."""
    if text is None or not text.strip():
        return None
    try:
        return NamespaceRef.parse(text)
    except NamespaceRefError as exc:
        errors.add(field_name, str(exc))
        return None


def name_key(placement: Placement, name: str) -> str:
    return f"{uniqueness_scope(placement.owner_id, placement.namespace_id)}:{name}"


class ResourceCases(NamespaceCases):
    def place(self, ref: NamespaceRef | None, caller_id: int, origin: Origin) -> Placement:
        """Resolve where a resource goes: the caller alone, or a namespace they may write to."""
        if ref is None:
            return Placement(caller_id, None)
        resolution = self.resolve_namespace(ref, caller_id, origin)
        return Placement(resolution.owner_id, resolution.namespace_id, resolution.pending)

    def place_checked(
        self,
        ref: NamespaceRef | None,
        caller_id: int,
        origin: Origin,
        errors: Errors,
        kind: ResourceKind[R],
        name: str | None,
        *,
        ref_field: str = "namespace",
    ) -> Placement:
        """Resolve the placement of a new resource and check its name is free (see
        `check_placement`)."""
        if ref is None and ref_field in errors.fields:
            # The reference did not parse: where the resource would go is unknown, so a
            # name taken with the caller alone would be a false "already exists".
            errors.raise_if_any()
        return self.check_placement(errors, kind, name, lambda: self.place(ref, caller_id, origin))

    def check_placement(
        self,
        errors: Errors,
        kind: ResourceKind[R],
        name: str | None,
        resolve: Callable[[], Placement],
        holder: int | None = None,
    ) -> Placement:
        """Resolve a placement and check `name` is free there (or held by `holder`),
        reporting every failed rule together.

        Field errors (400) win over a namespace refusal (422), as the contract orders
        them; a taken name is reported with the other field errors. The claim made when
        saving still guards against a concurrent writer.
        """
        try:
            placement = resolve()
        except NamespacePermissionError:
            errors.raise_if_any()
            raise
        except ValidationError as exc:
            for failed, messages in exc.fields.items():
                errors.extend(failed, messages)
            raise ValidationError(errors.fields) from None
        if name and self.holder(kind.name, name_key(placement, name)) not in (None, holder):
            errors.add(kind.unique_field, kind.name_taken)
        errors.raise_if_any()
        return placement

    def place_new(
        self,
        kind: ResourceKind[R],
        namespace: str | None,
        name: str | None,
        caller_id: int,
        origin: Origin,
        errors: Errors,
        resource_id: int | None = None,
    ) -> NewResource:
        """Place a new resource where `namespace` says and claim its name there. Every
        failed rule is raised together: those already in `errors` (the resource's own
        checks, which require a name) and the placement's."""
        ref = parse_ref(namespace, errors)
        placement = self.place_checked(ref, caller_id, origin, errors, kind, name)
        assert name is not None  # required by the resource's own checks, raised above
        return self.claim_new(kind, placement, name, caller_id, origin, resource_id)

    def claim_new(
        self,
        kind: ResourceKind[R],
        placement: Placement,
        name: str,
        caller_id: int,
        origin: Origin,
        resource_id: int | None = None,
    ) -> NewResource:
        """A new resource's id (`resource_id`, or the next one) and its name, claimed."""
        new_id = self.ids.next_id(kind.name) if resource_id is None else resource_id
        index = self.claim_name(kind, placement, name, new_id, origin)
        return NewResource(
            new_id, name, placement.ownership(caller_id), [index, *placement.pending]
        )

    def claim_name(
        self, kind: ResourceKind[R], placement: Placement, name: str, holder: int, origin: Origin
    ) -> Index:
        """Claim a resource's name in its namespace (or with its owner); taken is a field error."""
        try:
            return self.claim(kind.name, name_key(placement, name), holder, origin)
        except KeyTakenError:
            raise ValidationError({kind.unique_field: [kind.name_taken]}) from None

    def release_name(
        self, kind: ResourceKind[R], placement: Placement, name: str, holder: int, origin: Origin
    ) -> Index:
        index = self.claim(kind.name, name_key(placement, name), holder, origin)
        index.release(holder, origin)
        return index

    def live(self, kind: ResourceKind[R], resource_id: int) -> R:
        """A resource that is not deleted, or NotFoundError."""
        return self.get(kind.cls.create_id(resource_id), kind.cls, kind.name)

    def writable(self, kind: ResourceKind[R], resource_id: int, caller_id: int) -> R:
        """A live resource the caller may change, or NotFoundError (see `require_write`)."""
        resource = self.live(kind, resource_id)
        self.require_write(kind.name, resource.owner_id, resource.namespace_id, caller_id)
        return resource

    def delete_and_release(self, kind: ResourceKind[R], resource: R, origin: Origin) -> Index:
        """Delete a resource; the index of its name, released, to save with it."""
        resource.delete(origin)
        placement = Placement.of(resource)
        name = kind.unique_name(resource)
        return self.release_name(kind, placement, name, resource.public_id, origin)

    def delete_resource(
        self, kind: ResourceKind[R], resource_id: int, caller_id: int, origin: Origin
    ) -> tuple[R, list[Recording[UUID]]]:
        """Delete a resource the caller may change and free its name: the step of a delete
        command. The deleted resource, and the recordings to wait on."""
        resource = self.writable(kind, resource_id, caller_id)
        index = self.delete_and_release(kind, resource, origin)
        return resource, self.save(resource, index)

    def require_write(
        self, what: str, owner_id: int, namespace_id: int | None, caller_id: int
    ) -> None:
        """Refuse a change to a resource the caller may see but not change: 404, as Djinn
        answers every "cannot touch this" (CONTRACT.md); 422 is only for submitting data
        into a namespace."""
        if not self.can_write_resource(owner_id, namespace_id, caller_id):
            raise NotFoundError(what)

    def can_write_resource(self, owner_id: int, namespace_id: int | None, caller_id: int) -> bool:
        """Write access: the namespace's owner or collaborators; the owner once detached."""
        if namespace_id is not None:
            ns = self.namespace(namespace_id)
            if ns is not None:
                return self.root_of(ns).can_write(caller_id)
        return owner_id == caller_id
