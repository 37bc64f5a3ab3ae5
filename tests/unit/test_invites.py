"""Invites and collaborators on the in-memory store: the aggregates and their use cases."""

from __future__ import annotations

import pytest

from application.app import MaridApplication
from domain.errors import NamespacePermissionError, NotFoundError, RuleError, ValidationError
from domain.index import Index
from domain.invites import Invite
from domain.namespaces import Namespace
from tests.unit.conftest import ORIGIN, add_collaborator, event_count, events_after, register


def create(app: MaridApplication, owner_id: int, name: str, parent: str | None = None) -> int:
    return app.create_namespace(owner_id, name, parent, None, None, ORIGIN).value


def invite(app: MaridApplication, ns_id: int, caller_id: int, handle: str | None) -> int:
    return app.send_invite(ns_id, caller_id, handle, ORIGIN).value


def refusal(app: MaridApplication, ns_id: int, caller_id: int, handle: str | None) -> str:
    with pytest.raises(RuleError) as caught:
        invite(app, ns_id, caller_id, handle)
    return caught.value.message


def root(app: MaridApplication, ns_id: int) -> Namespace:
    ns = app.namespace(ns_id)
    assert ns is not None
    return ns


@pytest.fixture
def people(app: MaridApplication) -> tuple[int, int, int]:
    return register(app, "alice"), register(app, "bob"), register(app, "carol")


# --- the aggregates ----------------------------------------------------------------------


def test_root_records_a_collaborator_once() -> None:
    ns = Namespace.create_root(1, 10, "proj", "", "private", ORIGIN)

    ns.add_collaborator(11, ORIGIN)
    ns.add_collaborator(11, ORIGIN)

    assert ns.collaborators == [11]
    assert ns.can_write(11)


def test_owner_is_never_recorded_as_a_collaborator() -> None:
    ns = Namespace.create_root(1, 10, "proj", "", "private", ORIGIN)

    ns.add_collaborator(10, ORIGIN)

    assert ns.collaborators == []


def test_only_a_root_takes_collaborators() -> None:
    child = Namespace.create_root(1, 10, "proj", "", "private", ORIGIN).create_child(
        2, "sub", "", ORIGIN
    )

    with pytest.raises(ValueError, match="root"):
        child.add_collaborator(11, ORIGIN)


def test_removed_collaborator_loses_write_access() -> None:
    ns = Namespace.create_root(1, 10, "proj", "", "private", ORIGIN)
    ns.add_collaborator(11, ORIGIN)

    ns.remove_collaborator(11, ORIGIN)

    assert not ns.can_write(11)


@pytest.mark.parametrize("stranger", [12, 13])
def test_only_the_invitee_accepts_and_only_once(stranger: int) -> None:
    sent = Invite(
        public_id=1, namespace_id=2, root_id=2, invitee_id=11, inviter_id=10, origin=ORIGIN
    )

    with pytest.raises(NotFoundError):
        sent.accept(stranger, ORIGIN)
    sent.accept(11, ORIGIN)
    with pytest.raises(NotFoundError):
        sent.accept(11, ORIGIN)


@pytest.mark.parametrize("caller", [10, 11])
def test_invitee_rejects_and_inviter_cancels(caller: int) -> None:
    sent = Invite(
        public_id=1, namespace_id=2, root_id=2, invitee_id=11, inviter_id=10, origin=ORIGIN
    )

    sent.reject(caller, ORIGIN)

    assert not sent.pending


def test_nobody_else_rejects_an_invite() -> None:
    sent = Invite(
        public_id=1, namespace_id=2, root_id=2, invitee_id=11, inviter_id=10, origin=ORIGIN
    )

    with pytest.raises(NotFoundError):
        sent.reject(12, ORIGIN)


# --- sending -----------------------------------------------------------------------------


@pytest.mark.parametrize("handle", ["bob", "BOB", "bob@example.com", " Bob@Example.com "])
def test_invite_finds_the_user_by_username_or_email(
    app: MaridApplication, people: tuple[int, int, int], handle: str
) -> None:
    alice, bob, _ = people
    ns_id = create(app, alice, "proj")

    invite_id = invite(app, ns_id, alice, handle)

    sent = app.invite(invite_id)
    assert sent is not None
    assert (sent.namespace_id, sent.root_id, sent.invitee_id, sent.inviter_id) == (
        ns_id,
        ns_id,
        bob,
        alice,
    )


@pytest.mark.parametrize("handle", [None, "", "   "])
def test_missing_handle_is_a_field_error(
    app: MaridApplication, people: tuple[int, int, int], handle: str | None
) -> None:
    alice, _, _ = people
    ns_id = create(app, alice, "proj")

    with pytest.raises(ValidationError) as caught:
        invite(app, ns_id, alice, handle)

    assert caught.value.fields == {"handle": ["Username or email field required"]}


def test_unknown_user_is_refused(app: MaridApplication, people: tuple[int, int, int]) -> None:
    alice, _, _ = people
    ns_id = create(app, alice, "proj")

    assert refusal(app, ns_id, alice, "nobody") == "No such user"


def test_owner_cannot_invite_self(app: MaridApplication, people: tuple[int, int, int]) -> None:
    alice, _, _ = people
    ns_id = create(app, alice, "proj")

    assert refusal(app, ns_id, alice, "alice@example.com") == "Cannot invite self"


def test_second_invite_to_the_same_namespace_is_refused(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, _, _ = people
    ns_id = create(app, alice, "proj")
    invite(app, ns_id, alice, "bob")

    assert refusal(app, ns_id, alice, "bob@example.com") == "Invite already sent"


def test_pending_invite_elsewhere_does_not_block_another(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, _, _ = people
    proj = create(app, alice, "proj")
    sub = create(app, alice, "sub", "proj")
    invite(app, proj, alice, "bob")

    invite_id = invite(app, sub, alice, "bob")

    assert app.invite(invite_id) is not None


def test_collaborator_of_the_tree_is_refused_from_any_namespace_in_it(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    sub = create(app, alice, "sub", "proj")
    add_collaborator(app, proj, bob)

    assert refusal(app, sub, alice, "bob") == "Already a collaborator"


def test_collaborator_of_another_tree_can_be_invited(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    other = create(app, alice, "other")
    proj = create(app, alice, "proj")
    add_collaborator(app, other, bob)

    assert app.invite(invite(app, proj, alice, "bob")) is not None


def test_collaborator_cannot_invite(app: MaridApplication, people: tuple[int, int, int]) -> None:
    alice, bob, _ = people
    ns_id = create(app, alice, "proj")
    add_collaborator(app, ns_id, bob)
    before = event_count(app)

    with pytest.raises(NamespacePermissionError):
        invite(app, ns_id, bob, "carol")

    assert event_count(app) == before


def test_missing_handle_is_reported_before_the_owner_check(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    ns_id = create(app, alice, "proj")

    with pytest.raises(ValidationError):
        invite(app, ns_id, bob, "")


def test_invite_to_a_missing_namespace_is_not_found(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, _, _ = people

    with pytest.raises(NotFoundError):
        invite(app, 999, alice, "bob")


# --- accepting and rejecting -------------------------------------------------------------


def test_accepting_an_invite_to_a_child_joins_the_root(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    sub = create(app, alice, "sub", "proj")
    invite_id = invite(app, sub, alice, "bob")

    accepted = app.accept_invite(invite_id, bob, ORIGIN).value

    assert (accepted.root_id, accepted.invitee_id, accepted.inviter_id) == (proj, bob, alice)
    assert root(app, proj).collaborators == [bob]
    assert app.invite(invite_id) is None


def test_acceptance_is_saved_in_one_transaction(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    invite_id = invite(app, proj, alice, "bob")
    before = event_count(app)

    outcome = app.accept_invite(invite_id, bob, ORIGIN)

    assert len(outcome.recordings) == 3
    kinds = {type(e) for e in events_after(app, before)}
    assert kinds == {Invite.Accepted, Namespace.CollaboratorAdded, Index.Released}


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_only_the_invitee_accepts(
    app: MaridApplication, people: tuple[int, int, int], who: str
) -> None:
    alice, _, carol = people
    proj = create(app, alice, "proj")
    invite_id = invite(app, proj, alice, "bob")

    with pytest.raises(NotFoundError):
        app.accept_invite(invite_id, {"alice": alice, "carol": carol}[who], ORIGIN)

    assert root(app, proj).collaborators == []


def test_accepting_twice_finds_no_invite(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    invite_id = invite(app, proj, alice, "bob")
    app.accept_invite(invite_id, bob, ORIGIN)

    with pytest.raises(NotFoundError):
        app.accept_invite(invite_id, bob, ORIGIN)


def test_second_invite_to_the_tree_is_used_up_without_a_second_join(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    sub = create(app, alice, "sub", "proj")
    first, second = invite(app, proj, alice, "bob"), invite(app, sub, alice, "bob")
    app.accept_invite(first, bob, ORIGIN)

    app.accept_invite(second, bob, ORIGIN)

    assert root(app, proj).collaborators == [bob]


def test_invite_to_a_deleted_namespace_is_gone(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    sub = create(app, alice, "sub", "proj")
    invite_id = invite(app, sub, alice, "bob")
    app.delete_namespace(sub, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.accept_invite(invite_id, bob, ORIGIN)

    assert root(app, proj).collaborators == []


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_rejected_or_cancelled_invite_can_be_sent_again(
    app: MaridApplication, people: tuple[int, int, int], who: str
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    invite_id = invite(app, proj, alice, "bob")

    app.reject_invite(invite_id, {"alice": alice, "bob": bob}[who], ORIGIN)

    assert app.invite(invite_id) is None
    assert app.invite(invite(app, proj, alice, "bob")) is not None


def test_a_third_user_cannot_reject(app: MaridApplication, people: tuple[int, int, int]) -> None:
    alice, _, carol = people
    proj = create(app, alice, "proj")
    invite_id = invite(app, proj, alice, "bob")

    with pytest.raises(NotFoundError):
        app.reject_invite(invite_id, carol, ORIGIN)

    assert app.invite(invite_id) is not None


# --- removing collaborators --------------------------------------------------------------


@pytest.mark.parametrize("path", ["proj", "proj/sub"])
def test_owner_removes_a_collaborator_from_any_namespace_of_the_tree(
    app: MaridApplication, people: tuple[int, int, int], path: str
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    sub = create(app, alice, "sub", "proj")
    add_collaborator(app, proj, bob)

    app.remove_collaborator({"proj": proj, "proj/sub": sub}[path], alice, "bob", ORIGIN)

    assert not root(app, proj).can_write(bob)


@pytest.mark.parametrize("handle", ["carol", "nobody", "alice"])
def test_removing_someone_who_is_not_a_collaborator_is_refused(
    app: MaridApplication, people: tuple[int, int, int], handle: str
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    add_collaborator(app, proj, bob)

    with pytest.raises(RuleError) as caught:
        app.remove_collaborator(proj, alice, handle, ORIGIN)

    assert caught.value.message == "No such collaborator"


def test_collaborator_cannot_remove_collaborators(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, carol = people
    proj = create(app, alice, "proj")
    add_collaborator(app, proj, bob)
    add_collaborator(app, proj, carol)

    with pytest.raises(NotFoundError):
        app.remove_collaborator(proj, bob, "carol", ORIGIN)
    with pytest.raises(NotFoundError):  # the owner check comes before the handle's
        app.remove_collaborator(proj, bob, "nobody", ORIGIN)

    assert root(app, proj).collaborators == [bob, carol]


def test_removed_collaborator_can_be_invited_again(
    app: MaridApplication, people: tuple[int, int, int]
) -> None:
    alice, bob, _ = people
    proj = create(app, alice, "proj")
    add_collaborator(app, proj, bob)
    app.remove_collaborator(proj, alice, "bob@example.com", ORIGIN)

    invite_id = invite(app, proj, alice, "bob")

    app.accept_invite(invite_id, bob, ORIGIN)
    assert root(app, proj).collaborators == [bob]
