"""Namespace use cases on the in-memory event store: uniqueness, trees, ownership, origins."""

from __future__ import annotations

import pytest

from application.app import MaridApplication
from domain.errors import NotFoundError, ValidationError
from domain.origin import Origin
from tests.unit.conftest import ORIGIN, add_collaborator, event_count, events_after, register


def create(
    app: MaridApplication,
    owner_id: int,
    name: str,
    parent: str | None = None,
    visibility: str | None = None,
) -> int:
    return app.create_namespace(owner_id, name, parent, None, visibility, ORIGIN).value


def name_error(
    app: MaridApplication, owner_id: int, name: str, parent: str | None = None
) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        create(app, owner_id, name, parent)
    return caught.value.fields


def test_root_namespace_defaults_to_private_without_description(app: MaridApplication) -> None:
    alice = register(app, "alice")

    ns_id = create(app, alice, "proj")

    ns = app.namespace(ns_id)
    assert ns is not None
    assert (ns.owner_id, ns.path, ns.visibility, ns.description) == (alice, "proj", "private", "")


def test_child_is_created_under_the_owners_parent_path(app: MaridApplication) -> None:
    alice = register(app, "alice")
    root_id = create(app, alice, "proj", visibility="public")
    create(app, alice, "sub", parent="proj")

    child_id = create(app, alice, "deep", parent="/proj/sub/")

    child = app.find_namespace(alice, "proj/sub/deep")
    assert child is not None
    assert child.public_id == child_id
    assert (child.root_id, child.level, child.visibility) == (root_id, 2, "public")


def test_missing_parent_is_a_field_error(app: MaridApplication) -> None:
    alice = register(app, "alice")

    fields = name_error(app, alice, "sub", parent="nope")

    assert fields == {"parent": ["Parent namespace does not exist"]}


def test_parent_of_another_owner_is_missing(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    create(app, alice, "proj")

    fields = name_error(app, bob, "sub", parent="proj")

    assert fields == {"parent": ["Parent namespace does not exist"]}


def test_every_invalid_field_is_reported_together(app: MaridApplication) -> None:
    alice = register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.create_namespace(alice, "a-", "nope", "x" * 256, "secret", ORIGIN)

    assert caught.value.fields == {
        "name": [
            "Name must be between 3 and 32 characters in length",
            "Name can only have letters, and numbers",
        ],
        "description": ["Description cannot be longer than 255 characters in length"],
        "visibility": ["Visibility must be one of private, internal, public"],
        "parent": ["Parent namespace does not exist"],
    }


def test_refused_create_records_nothing(app: MaridApplication) -> None:
    alice = register(app, "alice")
    before = event_count(app)

    name_error(app, alice, "")

    assert event_count(app) == before


def test_root_name_is_unique_per_owner(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "proj")

    assert name_error(app, alice, "proj") == {"name": ["Name already exists"]}


def test_name_is_unique_per_owner_at_every_level(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "proj")
    create(app, alice, "other")
    create(app, alice, "sub", parent="proj")

    assert name_error(app, alice, "sub") == {"name": ["Name already exists"]}
    assert name_error(app, alice, "sub", parent="other") == {"name": ["Name already exists"]}
    assert name_error(app, alice, "proj", parent="other") == {"name": ["Name already exists"]}


def test_names_are_case_sensitive(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "proj")

    assert create(app, alice, "Proj") > 0


def test_different_owners_may_use_the_same_name(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    first = create(app, alice, "proj")

    second = create(app, bob, "proj")

    assert first != second
    assert app.find_namespace(bob, "proj") is not None


def test_tree_cannot_grow_deeper_than_20_levels(app: MaridApplication) -> None:
    alice = register(app, "alice")
    path = None
    for level in range(20):
        create(app, alice, f"level{level}", parent=path)
        path = f"{path}/level{level}" if path else f"level{level}"

    fields = name_error(app, alice, "toodeep", parent=path)

    assert fields == {"parent": ["Namespace cannot exceed depth of 20"]}


def test_update_changes_only_the_fields_given(app: MaridApplication) -> None:
    alice = register(app, "alice")
    ns_id = app.create_namespace(alice, "proj", None, "old", "internal", ORIGIN).value

    app.update_namespace(ns_id, alice, "new", None, ORIGIN)

    ns = app.namespace(ns_id)
    assert ns is not None
    assert (ns.description, ns.visibility) == ("new", "internal")


def test_update_of_a_child_keeps_the_trees_visibility(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, "proj")
    child_id = create(app, alice, "sub", parent="proj")

    app.update_namespace(child_id, alice, "about sub", "public", ORIGIN)

    child = app.namespace(child_id)
    assert child is not None
    assert (child.description, child.visibility) == ("about sub", "private")


def test_invalid_update_is_refused_and_records_nothing(app: MaridApplication) -> None:
    alice = register(app, "alice")
    ns_id = create(app, alice, "proj")
    before = event_count(app)

    with pytest.raises(ValidationError) as caught:
        app.update_namespace(ns_id, alice, "x" * 256, "secret", ORIGIN)

    assert caught.value.fields == {
        "description": ["Description cannot be longer than 255 characters in length"],
        "visibility": ["Visibility must be one of private, internal, public"],
    }
    assert event_count(app) == before


def test_update_of_a_missing_namespace_is_not_found(app: MaridApplication) -> None:
    with pytest.raises(NotFoundError):
        app.update_namespace(404, 1, "d", None, ORIGIN)


def test_only_the_owner_can_update_a_namespace(app: MaridApplication) -> None:
    alice, bob, carol = register(app, "alice"), register(app, "bob"), register(app, "carol")
    ns_id = create(app, alice, "proj")
    add_collaborator(app, ns_id, bob)

    for caller in (bob, carol):
        with pytest.raises(NotFoundError):
            app.update_namespace(ns_id, caller, "mine now", None, ORIGIN)
        with pytest.raises(NotFoundError):  # the owner check comes before the field checks
            app.update_namespace(ns_id, caller, None, "secret", ORIGIN)

    ns = app.namespace(ns_id)
    assert ns is not None
    assert ns.description == ""


def test_delete_removes_the_whole_subtree(app: MaridApplication) -> None:
    alice = register(app, "alice")
    root_id = create(app, alice, "proj")
    sub = create(app, alice, "sub", parent="proj")
    deep = create(app, alice, "deep", parent="proj/sub")
    other = create(app, alice, "other", parent="proj")

    app.delete_namespace(root_id, alice, ORIGIN)

    assert [app.namespace(i) for i in (root_id, sub, deep, other)] == [None] * 4
    assert app.find_namespace(alice, "proj/sub/deep") is None


def test_deleting_a_child_keeps_its_parent_and_siblings(app: MaridApplication) -> None:
    alice = register(app, "alice")
    root_id = create(app, alice, "proj")
    sub = create(app, alice, "sub", parent="proj")
    sibling = create(app, alice, "sibling", parent="proj")

    app.delete_namespace(sub, alice, ORIGIN)

    root = app.namespace(root_id)
    assert root is not None
    assert root.children == [sibling]
    assert app.namespace(sibling) is not None
    assert app.namespace(sub) is None


def test_deleted_namespace_frees_its_names(app: MaridApplication) -> None:
    alice = register(app, "alice")
    root_id = create(app, alice, "proj")
    create(app, alice, "sub", parent="proj")
    app.delete_namespace(root_id, alice, ORIGIN)

    again = create(app, alice, "proj")
    sub_as_root = create(app, alice, "sub")

    assert app.find_namespace(alice, "proj") is not None
    assert app.find_namespace(alice, "sub") is not None
    assert again != root_id
    assert sub_as_root > again


def test_deleted_namespace_cannot_be_deleted_again(app: MaridApplication) -> None:
    alice = register(app, "alice")
    ns_id = create(app, alice, "proj")
    app.delete_namespace(ns_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.delete_namespace(ns_id, alice, ORIGIN)


def test_children_cannot_be_created_in_a_deleted_namespace(app: MaridApplication) -> None:
    alice = register(app, "alice")
    ns_id = create(app, alice, "proj")
    app.delete_namespace(ns_id, alice, ORIGIN)

    assert name_error(app, alice, "sub", parent="proj") == {
        "parent": ["Parent namespace does not exist"]
    }


def test_only_the_owner_can_delete_a_namespace(app: MaridApplication) -> None:
    alice, bob, carol = register(app, "alice"), register(app, "bob"), register(app, "carol")
    ns_id = create(app, alice, "proj")
    child_id = create(app, alice, "sub", parent="proj")
    add_collaborator(app, ns_id, bob)

    for caller, target in ((bob, ns_id), (bob, child_id), (carol, ns_id)):
        with pytest.raises(NotFoundError):
            app.delete_namespace(target, caller, ORIGIN)

    assert app.namespace(ns_id) is not None
    assert app.namespace(child_id) is not None


def test_collaborators_belong_to_the_root(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root_id = create(app, alice, "proj")
    child_id = create(app, alice, "sub", parent="proj")

    add_collaborator(app, root_id, bob)

    child = app.namespace(child_id)
    assert child is not None
    assert app.root_of(child).can_write(bob)
    assert not child.can_write(bob)


def test_namespace_events_carry_the_origin_of_their_command(app: MaridApplication) -> None:
    alice = register(app, "alice")
    created, updated, deleted = (
        Origin.user(alice, "req-create"),
        Origin.user(alice, "req-update"),
        Origin.user(alice, "req-delete"),
    )
    marks = [event_count(app)]

    ns_id = app.create_namespace(alice, "proj", None, None, None, created).value
    app.create_namespace(alice, "sub", "proj", None, None, created)
    marks.append(event_count(app))
    app.update_namespace(ns_id, alice, "d", "public", updated)
    marks.append(event_count(app))
    app.delete_namespace(ns_id, alice, deleted)

    batches = [
        events_after(app, marks[0])[: marks[1] - marks[0]],
        events_after(app, marks[1])[: marks[2] - marks[1]],
        events_after(app, marks[2]),
    ]
    assert [{e.origin for e in batch} for batch in batches] == [{created}, {updated}, {deleted}]
    assert [len(batch) for batch in batches] == [5, 2, 4]
