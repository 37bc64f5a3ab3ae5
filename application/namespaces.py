"""Use cases for namespaces, and resolution of namespace references for other resources."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.core import CoreApplication, Outcome, command
from application.ports import NamespaceMembers
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.identity import aggregate_id
from domain.index import KeyTakenError
from domain.namespace_ref import NamespaceRef
from domain.namespaces import (
    MAX_DEPTH,
    Namespace,
    name_errors,
    reference_name_errors,
    validate_fields,
)
from domain.origin import Origin

NAME_TAKEN = "Name already exists"
NAME_FIXED = "Name cannot be changed"
PARENT_FIXED = "Parent cannot be changed"


def name_key(owner_id: int, name: str) -> str:
    """Namespace names are unique per owner across every level of every tree (Djinn's rule)."""
    return f"{owner_id}:{name}"


@dataclass
class Resolution:
    """A resolved namespace reference and what must be saved with the resource that uses it."""

    namespace_id: int
    owner_id: int
    pending: list[Aggregate] = field(default_factory=list)


class NamespaceCases(CoreApplication):
    def namespace(self, namespace_id: int) -> Namespace | None:
        """A live namespace by id, or None."""
        ns = self.load(aggregate_id("namespace", namespace_id), Namespace)
        return None if ns is None or ns.deleted else ns

    def live_namespace(self, namespace_id: int) -> Namespace:
        """A live namespace by id, or NotFoundError."""
        return self.get(aggregate_id("namespace", namespace_id), Namespace, "namespace")

    def owned_namespace(self, namespace_id: int, caller_id: int) -> Namespace:
        """A live namespace of the caller's; NotFoundError for anyone else (owner only)."""
        ns = self.live_namespace(namespace_id)
        if ns.owner_id != caller_id:
            raise NotFoundError("namespace")
        return ns

    def find_namespace(self, owner_id: int, path: str) -> Namespace | None:
        """A live namespace by owner and path, found through the name index."""
        holder = self.holder("namespace", name_key(owner_id, path.rsplit("/", 1)[-1]))
        ns = None if holder is None else self.namespace(holder)
        return ns if ns is not None and ns.path == path else None

    def root_of(self, ns: Namespace) -> Namespace:
        if ns.is_root:
            return ns
        return self.live_namespace(ns.root_id)  # a tree is deleted root down in one save

    @command
    def create_namespace(
        self,
        owner_id: int,
        name: str | None,
        parent: str | None,
        description: str | None,
        visibility: str | None,
        origin: Origin,
    ) -> Outcome[int]:
        """Create a root namespace, or a child of one of the owner's namespaces."""
        errors = Errors()
        errors.extend("name", name_errors(name))
        # Checked here too so that a taken name is reported with every other failed
        # rule; the claim below (of the index loaded here) still guards against a
        # concurrent writer: the save fails if another saved the index meanwhile.
        index = self.find_index("namespace", name_key(owner_id, name)) if name else None
        if index is not None and index.holder is not None:
            errors.add("name", NAME_TAKEN)
        validate_fields(errors, description=description, visibility=visibility)
        parent_ns = None
        if parent and parent.strip("/"):
            parent_ns = self.find_namespace(owner_id, parent.strip("/"))
            if parent_ns is None:
                errors.add("parent", "Parent namespace does not exist")
            elif parent_ns.level + 1 >= MAX_DEPTH:
                errors.add("parent", f"Namespace cannot exceed depth of {MAX_DEPTH}")
        if errors:
            errors.raise_if_any()
        assert name is not None  # checked by name_errors
        ns_id = self.ids.next_id("namespace")
        try:
            index = self.claim("namespace", name_key(owner_id, name), ns_id, origin, index)
        except KeyTakenError:
            raise ValidationError({"name": [NAME_TAKEN]}) from None
        if parent_ns is None:
            ns = Namespace.create_root(
                ns_id, owner_id, name, description or "", visibility or "private", origin
            )
            return Outcome(ns_id, self.save(ns, index))
        child = parent_ns.create_child(ns_id, name, description or "", origin)
        return Outcome(ns_id, self.save(child, parent_ns, index))

    @command
    def update_namespace(
        self,
        namespace_id: int,
        caller_id: int,
        description: str | None,
        visibility: str | None,
        origin: Origin,
        *,
        name: str | None = None,
        parent: str | None = None,
    ) -> Outcome[int]:
        """Change only the fields given; owner only. `name` and `parent` may be sent but
        not changed."""
        ns = self.owned_namespace(namespace_id, caller_id)
        errors = Errors()
        if name is not None and name != ns.name:
            errors.add("name", NAME_FIXED)
        current_parent = "" if ns.is_root else ns.path.rsplit("/", 1)[0]
        if parent is not None and parent.strip("/") not in ("", current_parent):
            errors.add("parent", PARENT_FIXED)
        validate_fields(errors, description=description, visibility=visibility)
        errors.raise_if_any()
        ns.update(description, visibility, origin)
        return Outcome(namespace_id, self.save(ns))

    @command
    def delete_namespace(
        self,
        namespace_id: int,
        caller_id: int,
        origin: Origin,
        members: NamespaceMembers | None = None,
    ) -> Outcome[None]:
        """Delete a namespace and its whole subtree in one save; owner only.

        What lives only in a namespace (crons, webhooks) is deleted with it, in the same
        save, so the audit trail shows each deletion; `members` finds them.
        """
        ns = self.owned_namespace(namespace_id, caller_id)
        changed: list[Aggregate] = []
        stack = [ns]
        while stack:
            node = stack.pop()
            node.delete(origin)
            index = self.claim(
                "namespace", name_key(node.owner_id, node.name), node.public_id, origin
            )
            index.release(node.public_id, origin)
            changed += [node, index]
            stack.extend(c for c in map(self.namespace, node.children) if c is not None)
        if ns.parent_id is not None:
            parent = self.namespace(ns.parent_id)
            if parent is not None:
                parent.forget_child(ns.public_id, origin)
                changed.append(parent)
        # the parent (saved for forget_child) stays: only the subtree's ids
        deleted_ids = {n.public_id for n in changed if isinstance(n, Namespace) and n.deleted}
        if members is not None:
            changed += self.going_with_namespaces(deleted_ids, members, origin)
        return Outcome(None, self.save(*changed))

    def going_with_namespaces(
        self, namespace_ids: set[int], members: NamespaceMembers, origin: Origin
    ) -> list[Aggregate]:
        """The members of these namespaces, deleted, with the indexes they release.

        Each use-case class that owns such a member extends this (calling `super()`).
        """
        return []

    def resolve_namespace(
        self, ref: NamespaceRef, caller_id: int, origin: Origin, field_name: str = "namespace"
    ) -> Resolution:
        """Resolve `path[@owner]` for a resource the caller is creating.

        The caller's own missing namespaces (and missing parents) are created, but only as
        pending aggregates that the caller saves together with its resource, so nothing is
        created when the request fails. Another user's namespace must exist and the caller
        must be its owner or a collaborator.
        """
        if ref.owner is not None:
            owner_id = self.user_id_for(ref.owner)
            if owner_id is None:
                raise NamespacePermissionError()
        else:
            owner_id = caller_id
        ns = self.find_namespace(owner_id, ref.path)
        if ns is not None:
            if not self.root_of(ns).can_write(caller_id):
                raise NamespacePermissionError()
            return Resolution(ns.public_id, owner_id)
        if owner_id != caller_id:
            raise NamespacePermissionError()
        return self._create_path(ref, owner_id, origin, field_name)

    def _create_path(
        self, ref: NamespaceRef, owner_id: int, origin: Origin, field_name: str
    ) -> Resolution:
        pending: list[Aggregate] = []
        parent: Namespace | None = None
        segments = ref.segments
        for depth, name in enumerate(segments):
            path = "/".join(segments[: depth + 1])
            existing = self.find_namespace(owner_id, path)
            if existing is not None:
                parent = existing
                continue
            problems = reference_name_errors(name)
            if problems:
                raise ValidationError({field_name: [f"Namespace {ref}: {p}" for p in problems]})
            ns_id = self.ids.next_id("namespace")
            try:
                index = self.claim("namespace", name_key(owner_id, name), ns_id, origin)
            except KeyTakenError:
                if self.find_namespace(owner_id, path) is not None:
                    # A concurrent request created this very namespace since we looked:
                    # run the command again, which will now find and use it.
                    raise IntegrityError(f"namespace {path} was created concurrently") from None
                raise ValidationError({field_name: [f"Namespace {ref}: {NAME_TAKEN}"]}) from None
            if parent is None:
                ns = Namespace.create_root(ns_id, owner_id, name, "", "private", origin)
            else:
                ns = parent.create_child(ns_id, name, "", origin)
                if parent not in pending:
                    pending.append(parent)
            pending += [ns, index]
            parent = ns
        assert parent is not None
        return Resolution(parent.public_id, owner_id, pending)
