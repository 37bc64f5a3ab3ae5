"""Resolving `path[@owner]` for a resource the caller creates, on the in-memory event store."""

from __future__ import annotations

import pytest

from application.app import MaridApplication
from application.namespaces import Resolution
from domain.errors import NamespacePermissionError, ValidationError
from domain.namespace_ref import NamespaceRef
from domain.namespaces import Namespace
from tests.unit.conftest import ORIGIN, add_collaborator, event_count, register


def resolve(
    app: MaridApplication, ref: str, caller_id: int, field_name: str = "namespace"
) -> Resolution:
    return app.resolve_namespace(NamespaceRef.parse(ref), caller_id, ORIGIN, field_name)


def create(app: MaridApplication, owner_id: int, name: str, parent: str | None = None) -> int:
    return app.create_namespace(owner_id, name, parent, None, None, ORIGIN).value


def test_own_existing_namespace_resolves_with_nothing_to_save(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "proj")
    sub = create(app, alice, "sub", parent="proj")

    resolution = resolve(app, "proj/sub", alice)

    assert (resolution.namespace_id, resolution.owner_id, resolution.pending) == (sub, alice, [])


def test_own_missing_namespaces_are_pending_and_not_saved(app: MaridApplication) -> None:
    alice = register(app, "alice")
    before = event_count(app)

    resolution = resolve(app, "proj/sub/deep", alice)

    assert event_count(app) == before
    assert app.find_namespace(alice, "proj") is None
    created = [a for a in resolution.pending if isinstance(a, Namespace)]
    assert [ns.path for ns in created] == ["proj", "proj/sub", "proj/sub/deep"]
    assert resolution.namespace_id == created[-1].public_id
    assert resolution.owner_id == alice


def test_pending_namespaces_exist_once_the_caller_saves_them(app: MaridApplication) -> None:
    alice = register(app, "alice")
    resolution = resolve(app, "proj/sub", alice)

    app.save(*resolution.pending)

    sub = app.find_namespace(alice, "proj/sub")
    root = app.find_namespace(alice, "proj")
    assert sub is not None
    assert root is not None
    assert sub.public_id == resolution.namespace_id
    assert (sub.parent_id, sub.root_id, root.children) == (
        root.public_id,
        root.public_id,
        [sub.public_id],
    )
    assert resolution.namespace_id == resolve(app, "proj/sub", alice).namespace_id


def test_missing_child_of_an_existing_parent_is_added_to_it(app: MaridApplication) -> None:
    alice = register(app, "alice")
    root_id = create(app, alice, "proj")
    resolution = resolve(app, "proj/sub", alice)

    app.save(*resolution.pending)

    root = app.namespace(root_id)
    assert root is not None
    assert root.children == [resolution.namespace_id]


def test_pending_names_are_claimed_when_saved(app: MaridApplication) -> None:
    alice = register(app, "alice")
    app.save(*resolve(app, "proj/sub", alice).pending)

    with pytest.raises(ValidationError) as caught:
        create(app, alice, "sub")

    assert caught.value.fields == {"name": ["Name already exists"]}


def test_own_reference_with_explicit_owner_resolves_like_without(app: MaridApplication) -> None:
    alice = register(app, "alice")
    ns_id = create(app, alice, "proj")

    resolution = resolve(app, "proj@Alice", alice)

    assert (resolution.namespace_id, resolution.pending) == (ns_id, [])


def test_missing_name_taken_elsewhere_in_the_owners_trees_is_refused(
    app: MaridApplication,
) -> None:
    alice = register(app, "alice")
    create(app, alice, "proj")
    create(app, alice, "sub", parent="proj")
    before = event_count(app)

    with pytest.raises(ValidationError) as caught:
        resolve(app, "other/sub", alice, field_name="manifest")

    assert caught.value.fields == {"manifest": ["Namespace other/sub: Name already exists"]}
    assert event_count(app) == before


def test_names_created_from_a_reference_may_be_short(app: MaridApplication) -> None:
    """Djinn's rule for reference segments is letters and digits, 1 to 32 of them."""
    alice = register(app, "alice")

    resolution = resolve(app, "submit/to/namespace/a", alice)

    created = {a.path for a in resolution.pending if isinstance(a, Namespace)}
    assert created == {"submit", "submit/to", "submit/to/namespace", "submit/to/namespace/a"}


def test_another_users_namespace_needs_ownership_or_collaboration(
    app: MaridApplication,
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, "proj")

    with pytest.raises(NamespacePermissionError):
        resolve(app, "proj@alice", bob)


def test_collaborator_resolves_anywhere_in_the_tree(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root_id = create(app, alice, "proj")
    sub = create(app, alice, "sub", parent="proj")
    add_collaborator(app, root_id, bob)

    root = resolve(app, "proj@alice", bob)
    child = resolve(app, "proj/sub@alice", bob)

    assert (root.namespace_id, root.owner_id, root.pending) == (root_id, alice, [])
    assert (child.namespace_id, child.owner_id, child.pending) == (sub, alice, [])


def test_another_users_missing_namespace_is_never_created(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root_id = create(app, alice, "proj")
    add_collaborator(app, root_id, bob)
    before = event_count(app)

    with pytest.raises(NamespacePermissionError):
        resolve(app, "proj/new@alice", bob)

    assert event_count(app) == before


def test_namespace_of_an_unknown_owner_is_refused(app: MaridApplication) -> None:
    alice = register(app, "alice")

    with pytest.raises(NamespacePermissionError):
        resolve(app, "proj@nobody", alice)


def test_deleted_namespace_of_another_user_is_refused(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root_id = create(app, alice, "proj")
    add_collaborator(app, root_id, bob)
    app.delete_namespace(root_id, alice, ORIGIN)

    with pytest.raises(NamespacePermissionError):
        resolve(app, "proj@alice", bob)
