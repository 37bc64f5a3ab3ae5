"""Namespace rules: names, fields, the depth limit, visibility on roots, ownership."""

from __future__ import annotations

import pytest

from domain.errors import Errors, NamespacePermissionError
from domain.namespaces import (
    MAX_DEPTH,
    DepthExceededError,
    Namespace,
    name_errors,
    validate_fields,
)
from domain.origin import Origin

ORIGIN = Origin.user(1, "req-1")


def root(public_id: int = 1, visibility: str = "private") -> Namespace:
    return Namespace.create_root(public_id, 1, "proj", "", visibility, ORIGIN)


def chain(levels: int) -> list[Namespace]:
    """A root and its descendants, `levels` namespaces in all."""
    nodes = [root()]
    for i in range(1, levels):
        nodes.append(nodes[-1].create_child(i + 1, f"level{i}", "", ORIGIN))
    return nodes


def test_valid_names_hold_3_to_32_letters_and_digits() -> None:
    assert name_errors("abc") == []
    assert name_errors("Proj2024") == []
    assert name_errors("a" * 32) == []


@pytest.mark.parametrize("name", [None, ""])
def test_name_is_required(name: str | None) -> None:
    assert name_errors(name) == ["Name field required"]


@pytest.mark.parametrize("name", ["ab", "a" * 33])
def test_name_is_between_3_and_32_characters(name: str) -> None:
    assert name_errors(name) == ["Name must be between 3 and 32 characters in length"]


@pytest.mark.parametrize("name", ["my-proj", "my_proj", "my proj", "proj/sub", "pröj"])
def test_name_may_only_hold_letters_and_digits(name: str) -> None:
    assert name_errors(name) == ["Name can only have letters, and numbers"]


def test_name_may_not_end_with_a_newline() -> None:
    assert name_errors("proj\n") == ["Name can only have letters, and numbers"]


def test_every_broken_name_rule_is_reported() -> None:
    assert name_errors("a-") == [
        "Name must be between 3 and 32 characters in length",
        "Name can only have letters, and numbers",
    ]


def test_description_and_visibility_failures_are_collected_per_field() -> None:
    errors = Errors()

    validate_fields(errors, description="x" * 256, visibility="secret")

    assert errors.fields == {
        "description": ["Description cannot be longer than 255 characters in length"],
        "visibility": ["Visibility must be one of private, internal, public"],
    }


def test_absent_fields_and_bounds_are_valid() -> None:
    errors = Errors()

    validate_fields(errors, description=None, visibility=None)
    validate_fields(errors, description="x" * 255, visibility="internal")

    assert not errors


def test_root_is_its_own_root_at_level_zero() -> None:
    ns = root(public_id=4, visibility="public")

    assert ns.is_root
    assert (ns.path, ns.root_id, ns.level, ns.parent_id) == ("proj", 4, 0, None)
    assert ns.visibility == "public"


def test_child_extends_the_path_and_inherits_the_tree() -> None:
    parent = root(visibility="internal")

    child = parent.create_child(2, "sub", "about sub", ORIGIN)

    assert (child.path, child.parent_id, child.root_id, child.level) == ("proj/sub", 1, 1, 1)
    assert child.owner_id == parent.owner_id
    assert child.visibility == "internal"
    assert child.description == "about sub"
    assert parent.children == [2]


def test_tree_may_be_20_levels_deep() -> None:
    nodes = chain(MAX_DEPTH)

    assert nodes[-1].level == MAX_DEPTH - 1
    assert nodes[-1].path.count("/") == MAX_DEPTH - 1


def test_child_deeper_than_20_levels_is_refused() -> None:
    deepest = chain(MAX_DEPTH)[-1]

    with pytest.raises(DepthExceededError) as caught:
        deepest.create_child(99, "toodeep", "", ORIGIN)

    assert caught.value.fields == {"parent": ["Namespace cannot exceed depth of 20"]}
    assert deepest.children == []


def test_root_visibility_changes() -> None:
    ns = root()
    ns.collect_events()

    ns.update(None, "public", ORIGIN)

    events = ns.collect_events()
    assert [type(e) for e in events] == [Namespace.VisibilityChanged]
    assert ns.visibility == "public"


def test_visibility_of_a_child_never_changes() -> None:
    child = root().create_child(2, "sub", "", ORIGIN)
    child.collect_events()

    child.update(None, "public", ORIGIN)

    assert child.collect_events() == []
    assert child.visibility == "private"


def test_update_changes_only_the_fields_given() -> None:
    ns = Namespace.create_root(1, 1, "proj", "old", "internal", ORIGIN)
    ns.collect_events()

    ns.update("new", None, ORIGIN)

    assert [type(e) for e in ns.collect_events()] == [Namespace.DescriptionChanged]
    assert (ns.description, ns.visibility) == ("new", "internal")


def test_update_to_the_same_values_records_nothing() -> None:
    ns = Namespace.create_root(1, 1, "proj", "same", "public", ORIGIN)
    ns.collect_events()

    ns.update("same", "public", ORIGIN)

    assert ns.collect_events() == []


def test_delete_happens_once() -> None:
    ns = root()
    ns.collect_events()

    ns.delete(ORIGIN)
    ns.delete(ORIGIN)

    assert [type(e) for e in ns.collect_events()] == [Namespace.Deleted]
    assert ns.deleted


def test_forgetting_a_child_removes_it_once() -> None:
    parent = root()
    parent.create_child(2, "sub", "", ORIGIN)
    parent.collect_events()

    parent.forget_child(2, ORIGIN)
    parent.forget_child(2, ORIGIN)

    assert [type(e) for e in parent.collect_events()] == [Namespace.ChildRemoved]
    assert parent.children == []


def test_only_the_owner_passes_the_owner_check() -> None:
    ns = root()

    ns.require_owner(1)
    with pytest.raises(NamespacePermissionError):
        ns.require_owner(2)


def test_owner_can_write_and_a_stranger_cannot() -> None:
    ns = root()

    assert ns.can_write(1)
    assert not ns.can_write(2)


def test_every_namespace_event_carries_its_origin() -> None:
    ns = root()
    ns.create_child(2, "sub", "", ORIGIN)
    ns.update("d", "public", ORIGIN)
    ns.forget_child(2, ORIGIN)
    ns.delete(ORIGIN)

    events = ns.collect_events()

    assert len(events) == 6
    assert {e.origin for e in events} == {ORIGIN}  # type: ignore[attr-defined]
