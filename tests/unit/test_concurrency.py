"""Concurrent writers: a stale copy fails to save, and a command runs again on what won."""

from __future__ import annotations

import threading

import pytest
from eventsourcing.persistence import IntegrityError

from application.app import MaridApplication
from domain.errors import ConflictError, ValidationError
from domain.namespaces import Namespace
from domain.origin import Origin
from tests.unit.conftest import ORIGIN, RacingApp, register


def create(app: MaridApplication, owner_id: int, name: str, parent: str | None = None) -> int:
    return app.create_namespace(owner_id, name, parent, None, None, ORIGIN).value


def test_stale_copy_of_an_aggregate_cannot_be_saved(app: MaridApplication) -> None:
    alice = register(app, "alice")
    ns_id = create(app, alice, "proj")
    first, second = app.namespace(ns_id), app.namespace(ns_id)
    assert first is not None
    assert second is not None
    first.update("first", None, ORIGIN)
    second.update("second", None, ORIGIN)
    app.save(first)

    with pytest.raises(IntegrityError):
        app.save(second)


def test_concurrent_creates_of_one_name_leave_exactly_one_winner(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    winner: list[int] = []
    racing.competitors.append(lambda: winner.append(create(racing, alice, "proj")))

    with pytest.raises(ValidationError) as caught:
        create(racing, alice, "proj")

    assert caught.value.fields == {"name": ["Name already exists"]}
    found = racing.find_namespace(alice, "proj")
    assert found is not None
    assert [found.public_id] == winner


def test_concurrent_children_of_one_parent_are_both_kept(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    root_id = create(racing, alice, "proj")
    racing.competitors.append(lambda: create(racing, alice, "left", parent="proj"))

    right = create(racing, alice, "right", parent="proj")

    root = racing.namespace(root_id)
    left = racing.find_namespace(alice, "proj/left")
    assert root is not None
    assert left is not None
    assert sorted(root.children) == sorted([left.public_id, right])


def test_child_of_a_parent_deleted_meanwhile_is_refused(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    root_id = create(racing, alice, "proj")
    racing.competitors.append(lambda: racing.delete_namespace(root_id, alice, ORIGIN))

    with pytest.raises(ValidationError) as caught:
        create(racing, alice, "sub", parent="proj")

    assert caught.value.fields == {"parent": ["Parent namespace does not exist"]}
    assert racing.find_namespace(alice, "proj/sub") is None


def test_update_after_a_concurrent_update_keeps_both_changes(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    ns_id = create(racing, alice, "proj")
    racing.competitors.append(
        lambda: racing.update_namespace(ns_id, alice, None, "public", Origin.user(alice))
    )

    racing.update_namespace(ns_id, alice, "described", None, ORIGIN)

    ns = racing.namespace(ns_id)
    assert ns is not None
    assert (ns.description, ns.visibility) == ("described", "public")


def test_concurrent_registrations_of_one_username_leave_exactly_one_user(
    racing: RacingApp,
) -> None:
    racing.competitors.append(lambda: racing.register_user("alice", "a1@example.com", ORIGIN))

    with pytest.raises(ValidationError) as caught:
        racing.register_user("Alice", "a2@example.com", ORIGIN)

    assert caught.value.fields == {"username": ["Username already exists"]}
    assert racing.register_user("bob", "a2@example.com", ORIGIN).value > 0


def test_writer_that_always_loses_gives_up_with_a_conflict(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    ns_id = create(racing, alice, "proj")
    racing.competitors.extend(
        (lambda i=i: racing.update_namespace(ns_id, alice, f"theirs{i}", None, ORIGIN))
        for i in range(10)
    )
    saves_before = racing.saves

    with pytest.raises(ConflictError):
        racing.update_namespace(ns_id, alice, "mine", None, ORIGIN)

    ns = racing.namespace(ns_id)
    assert ns is not None
    assert ns.description == "theirs4"
    assert racing.saves - saves_before == 10  # five competing saves, five failed attempts


def test_threads_creating_one_name_leave_exactly_one_winner(app: MaridApplication) -> None:
    alice = register(app, "alice")
    start = threading.Barrier(8)
    created: list[int] = []
    refused: list[dict[str, list[str]]] = []

    def attempt() -> None:
        start.wait()
        try:
            created.append(create(app, alice, "proj"))
        except ValidationError as exc:
            refused.append(exc.fields)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(created) == 1
    assert refused == [{"name": ["Name already exists"]}] * 7
    found = app.find_namespace(alice, "proj")
    assert found is not None
    assert found.public_id == created[0]


def test_threads_adding_children_to_one_parent_all_succeed(app: MaridApplication) -> None:
    alice = register(app, "alice")
    root_id = create(app, alice, "proj")
    start = threading.Barrier(4)
    created: list[int] = []

    def attempt(name: str) -> None:
        start.wait()
        created.append(create(app, alice, name, parent="proj"))

    threads = [threading.Thread(target=attempt, args=(f"child{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    root = app.namespace(root_id)
    assert root is not None
    assert sorted(root.children) == sorted(created)
    assert len(created) == 4
    assert all(isinstance(app.namespace(i), Namespace) for i in created)
