"""Shared use-case steps of namespaced resources: placement, uniqueness, write access."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate

from application.namespaces import NamespaceCases
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.index import Index, KeyTakenError
from domain.namespace_ref import NamespaceRef, NamespaceRefError
from domain.origin import Origin
from domain.resources import uniqueness_scope


@dataclass
class Placement:
    """Where a new resource goes, and the namespaces to create with it."""

    owner_id: int
    namespace_id: int | None
    pending: list[Aggregate] = field(default_factory=list)


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
        kind: str,
        name: str | None,
        field_name: str = "name",
        *,
        ref_field: str = "namespace",
    ) -> Placement:
        """Resolve the placement and check the name is free, reporting every failed rule.

        Field errors (400) win over a namespace refusal (422), as the contract orders
        them; a taken name is reported with the other field errors. The claim made when
        saving still guards against a concurrent writer.
        """
        if ref is None and ref_field in errors.fields:
            # The reference did not parse: where the resource would go is unknown, so a
            # name taken with the caller alone would be a false "already exists".
            errors.raise_if_any()
        try:
            placement = self.place(ref, caller_id, origin)
        except NamespacePermissionError:
            errors.raise_if_any()
            raise
        except ValidationError as exc:
            for failed, messages in exc.fields.items():
                errors.extend(failed, messages)
            raise ValidationError(errors.fields) from None
        if name and self.holder(kind, name_key(placement, name)) is not None:
            errors.add(field_name, f"{field_name.capitalize()} already exists")
        errors.raise_if_any()
        return placement

    def claim_name(
        self,
        kind: str,
        placement: Placement,
        name: str,
        holder: int,
        origin: Origin,
        field_name: str = "name",
    ) -> Index:
        """Claim a resource's name in its namespace (or with its owner); taken is a field error."""
        try:
            return self.claim(kind, name_key(placement, name), holder, origin)
        except KeyTakenError:
            label = field_name.capitalize()
            raise ValidationError({field_name: [f"{label} already exists"]}) from None

    def release_name(
        self,
        kind: str,
        owner_id: int,
        namespace_id: int | None,
        name: str,
        holder: int,
        origin: Origin,
    ) -> Index:
        index = self.claim(
            kind, f"{uniqueness_scope(owner_id, namespace_id)}:{name}", holder, origin
        )
        index.release(holder, origin)
        return index

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
