"""The namespaces projection on its in-memory view: trees, visibility, collaborators."""

from __future__ import annotations

from domain.namespaces import Namespace
from projections.memory import in_memory
from projections.namespaces import NamespacesProjection, NamespacesTables
from tests.unit.projection_support import APP, ORIGIN, feed


def projected() -> tuple[NamespacesProjection, NamespacesTables]:
    view = in_memory(NamespacesTables)
    return NamespacesProjection(view=view), view


def test_namespace_handlers_write_the_tree() -> None:
    projection, view = projected()
    root = Namespace.create_root(1, 5, "proj", "root", "private", ORIGIN)
    child = root.create_child(2, "sub", "child", ORIGIN)
    created = root.collect_events() + child.collect_events()
    root.update("root!", "public", ORIGIN)
    grandchild = child.create_child(3, "deep", "", ORIGIN)  # the child's copy says private
    child.update("child!", "internal", ORIGIN)  # a child's visibility is ignored
    changed = root.collect_events() + grandchild.collect_events() + child.collect_events()

    feed(projection, created + changed)

    rows = view.rows("namespaces", order_by="id")
    assert [(r["id"], r["path"], r["level"], r["root_id"], r["parent_id"]) for r in rows] == [
        (1, "proj", 0, 1, None),
        (2, "proj/sub", 1, 1, 1),
        (3, "proj/sub/deep", 2, 1, 2),
    ]
    assert [(r["user_id"], r["description"], r["visibility"]) for r in rows] == [
        (5, "root!", "public"),
        (5, "child!", "public"),
        (5, "", "public"),
    ]
    assert [r["aggregate_id"] for r in rows] == [root.id, child.id, grandchild.id]
    assert [r["name"] for r in rows] == ["proj", "sub", "deep"]
    assert rows[0]["created_at"] == root.created_on


def test_collaborators_of_a_tree_are_added_once_and_removed() -> None:
    projection, view = projected()
    root = Namespace.create_root(1, 5, "proj", "", "private", ORIGIN)
    last = feed(projection, root.collect_events())
    root.add_collaborator(6, ORIGIN)
    root.add_collaborator(7, ORIGIN)
    added = root.collect_events()
    root.remove_collaborator(6, ORIGIN)

    last = feed(projection, added, first=last + 1)
    feed(projection, added[-1:], first=last)  # the last one again: ignored
    feed(projection, root.collect_events(), first=last + 1)

    assert view.rows("collaborators") == [
        {"root_id": 1, "user_id": 7, "created_at": added[1].timestamp}
    ]
    assert view.max_tracking_id(APP) == last + 1


def test_namespace_delete_removes_the_row_and_the_trees_collaborators() -> None:
    projection, view = projected()
    root = Namespace.create_root(1, 5, "proj", "", "private", ORIGIN)
    child = root.create_child(2, "sub", "", ORIGIN)
    root.add_collaborator(6, ORIGIN)
    feed(projection, root.collect_events() + child.collect_events())
    child.delete(ORIGIN)
    root.delete(ORIGIN)

    feed(projection, child.collect_events(), first=10)
    collaborators_after_child = view.rows("collaborators")
    feed(projection, root.collect_events(), first=20)

    assert len(collaborators_after_child) == 1
    assert view.rows("namespaces") == []
    assert view.rows("collaborators") == []
