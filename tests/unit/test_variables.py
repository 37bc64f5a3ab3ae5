"""Variables: the key rules, and the use cases on the in-memory event store."""

from __future__ import annotations

import pytest

from application.app import MaridApplication
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.identity import aggregate_id
from domain.origin import Origin
from domain.variables import Variable, validate_variable
from infrastructure.cipher import AesGcmBox
from tests.unit.conftest import (
    ORIGIN,
    POPO,
    RacingApp,
    add_collaborator,
    event_count,
    events_after,
    register,
)

KEY_RULE = "Key does not match ^[a-zA-Z_][a-zA-Z0-9_]*$"
TOO_SHORT = "Value cannot be shorter than 6 characters in length"
SECRET = "s3cr3t-hunter2-value"


@pytest.fixture
def app() -> MaridApplication:
    """The application with a real SecretBox, so that masked values can be sealed."""
    return MaridApplication(POPO, secrets=AesGcmBox(b"unit-test-key-material-32-bytes!"))


def create(
    app: MaridApplication,
    caller_id: int,
    key: str = "DB_HOST",
    value: str = "localhost",
    *,
    mask: bool = False,
    namespace: str | None = None,
) -> int:
    return app.create_variable(caller_id, key, value, mask, namespace, ORIGIN).value


def variable(app: MaridApplication, variable_id: int) -> Variable:
    found = app.load(aggregate_id("variable", variable_id), Variable)
    assert found is not None
    return found


def errors_of(key: str | None, value: str | None, mask: bool = False) -> dict[str, list[str]]:
    errors = Errors()
    validate_variable(errors, key, value, mask)
    return errors.fields


def create_errors(app: MaridApplication, caller_id: int, **fields: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        app.create_variable(
            caller_id,
            fields.get("key"),  # type: ignore[arg-type]
            fields.get("value"),  # type: ignore[arg-type]
            bool(fields.get("mask")),
            fields.get("namespace"),  # type: ignore[arg-type]
            ORIGIN,
        )
    return caught.value.fields


# --- the rules of the fields --------------------------------------------------------------


@pytest.mark.parametrize("key", ["A", "_", "a_1", "DB_HOST", "_9"])
def test_key_of_letters_digits_underscores_not_starting_with_a_digit_is_valid(key: str) -> None:
    assert errors_of(key, "v") == {}


@pytest.mark.parametrize("key", ["9", "1A", "A-B", "A B", "A\n", "\nA", "É", "A.B", "A$"])
def test_key_breaking_the_rule_does_not_match(key: str) -> None:
    assert errors_of(key, "v") == {"key": [KEY_RULE]}


@pytest.mark.parametrize("key", [None, ""])
def test_missing_key_is_required(key: str | None) -> None:
    assert errors_of(key, "v") == {"key": ["Key field required"]}


@pytest.mark.parametrize("value", [None, ""])
def test_missing_value_is_required(value: str | None) -> None:
    assert errors_of("A", value) == {"value": ["Value field required"]}


def test_masked_value_needs_six_characters() -> None:
    assert errors_of("A", "12345", mask=True) == {"value": [TOO_SHORT]}
    assert errors_of("A", "123456", mask=True) == {}
    assert errors_of("A", "1", mask=False) == {}


def test_every_failed_rule_is_reported() -> None:
    assert errors_of("1", None, mask=True) == {
        "key": [KEY_RULE],
        "value": ["Value field required", TOO_SHORT],
    }


# --- create --------------------------------------------------------------------------------


def test_variable_without_namespace_belongs_to_its_creator(app: MaridApplication) -> None:
    alice = register(app, "alice")

    variable_id = create(app, alice)

    found = variable(app, variable_id)
    assert (found.owner_id, found.author_id, found.namespace_id) == (alice, alice, None)
    assert (found.key, found.value, found.masked, found.deleted) == (
        "DB_HOST",
        "localhost",
        False,
        False,
    )


def test_created_event_records_its_origin(app: MaridApplication) -> None:
    alice = register(app, "alice")
    before = event_count(app)
    origin = Origin.user(alice, "req-42")

    app.create_variable(alice, "A", "v", False, None, origin)

    created = [e for e in events_after(app, before) if isinstance(e, Variable.Created)]
    assert [e.origin for e in created] == [origin]


def test_own_missing_namespaces_are_saved_with_the_variable(app: MaridApplication) -> None:
    alice = register(app, "alice")

    variable_id = create(app, alice, namespace="proj/sub")

    sub = app.find_namespace(alice, "proj/sub")
    assert sub is not None
    found = variable(app, variable_id)
    assert (found.namespace_id, found.owner_id) == (sub.public_id, alice)


def test_failed_create_saves_nothing_not_even_the_namespace(app: MaridApplication) -> None:
    alice = register(app, "alice")
    before = event_count(app)

    fields = create_errors(app, alice, key="1A", value="v", namespace="proj/sub")

    assert fields == {"key": [KEY_RULE]}
    assert event_count(app) == before
    assert app.find_namespace(alice, "proj") is None


def test_collaborator_creates_for_the_namespace_owner(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    add_collaborator(app, root, bob)

    variable_id = create(app, bob, namespace="proj@alice")

    found = variable(app, variable_id)
    assert (found.owner_id, found.author_id, found.namespace_id) == (alice, bob, root)


@pytest.mark.parametrize("visibility", ["private", "internal", "public"])
def test_non_collaborator_may_not_create_in_another_users_namespace(
    app: MaridApplication, visibility: str
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    app.create_namespace(alice, "proj", None, None, visibility, ORIGIN)
    before = event_count(app)

    with pytest.raises(NamespacePermissionError):
        create(app, bob, namespace="proj@alice")

    assert event_count(app) == before


def test_field_errors_win_over_the_namespace_refusal(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    app.create_namespace(alice, "proj", None, None, None, ORIGIN)

    fields = create_errors(app, bob, key="A", value="", namespace="proj@alice")

    assert fields == {"value": ["Value field required"]}


def test_bad_reference_is_a_namespace_error_not_a_taken_key(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, key="TOKEN")

    fields = create_errors(app, alice, key="TOKEN", value="v", namespace="a-b")

    assert fields == {"namespace": ["a-b: namespace: name can only contain letters and numbers"]}


def test_taken_key_is_reported_with_the_other_errors(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice, key="TOKEN", namespace="proj")

    fields = create_errors(app, alice, key="TOKEN", value="abc", mask=True, namespace="proj")

    assert fields == {"key": ["Key already exists"], "value": [TOO_SHORT]}


def test_same_key_may_live_in_each_namespace_and_with_the_owner(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")

    ids = [create(app, alice, key="TOKEN", namespace=ns) for ns in (None, "proj", "proj/sub")]
    ids.append(create(app, bob, key="TOKEN"))

    assert len(set(ids)) == 4


# --- masking -------------------------------------------------------------------------------


def test_masked_value_is_sealed_in_the_aggregate_and_the_event(app: MaridApplication) -> None:
    alice = register(app, "alice")
    before = event_count(app)

    variable_id = create(app, alice, key="TOKEN", value=SECRET, mask=True)

    found = variable(app, variable_id)
    assert found.masked is True
    assert found.value != SECRET
    assert app.secrets.open(found.value) == SECRET
    stored = app.recorder.select_notifications(start=before, limit=100, inclusive_of_start=False)
    assert stored  # the check below looks at something
    assert all(SECRET.encode() not in n.state for n in stored)


def test_unmasked_value_is_kept_as_given(app: MaridApplication) -> None:
    alice = register(app, "alice")

    variable_id = create(app, alice, key="OPEN", value="plain")

    assert variable(app, variable_id).value == "plain"


def test_masking_without_a_secret_box_fails_loudly() -> None:
    bare = MaridApplication(POPO)
    alice = register(bare, "alice")

    with pytest.raises(RuntimeError, match="no SecretBox"):
        create(bare, alice, key="TOKEN", value=SECRET, mask=True)


# --- delete --------------------------------------------------------------------------------


def test_owner_deletes_and_the_key_is_free_again(app: MaridApplication) -> None:
    alice = register(app, "alice")
    variable_id = create(app, alice, key="TOKEN", namespace="proj")

    app.delete_variable(variable_id, alice, ORIGIN)

    assert variable(app, variable_id).deleted is True
    assert create(app, alice, key="TOKEN", namespace="proj") != variable_id


def test_deleted_variable_is_not_found(app: MaridApplication) -> None:
    alice = register(app, "alice")
    variable_id = create(app, alice)
    app.delete_variable(variable_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.delete_variable(variable_id, alice, ORIGIN)


def test_unknown_variable_is_not_found(app: MaridApplication) -> None:
    alice = register(app, "alice")

    with pytest.raises(NotFoundError):
        app.delete_variable(999, alice, ORIGIN)


def test_collaborator_deletes_a_variable_of_the_tree(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    variable_id = create(app, alice, namespace="proj/sub")
    add_collaborator(app, root, bob)

    app.delete_variable(variable_id, bob, ORIGIN)

    assert variable(app, variable_id).deleted is True


@pytest.mark.parametrize("namespace", [None, "proj"])
def test_other_user_may_not_delete(app: MaridApplication, namespace: str | None) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    app.create_namespace(alice, "proj", None, None, "public", ORIGIN)
    variable_id = create(app, alice, namespace=namespace)

    with pytest.raises(NotFoundError):
        app.delete_variable(variable_id, bob, ORIGIN)

    assert variable(app, variable_id).deleted is False


def test_author_who_is_no_longer_a_collaborator_may_not_delete_once_detached(
    app: MaridApplication,
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    add_collaborator(app, root, bob)
    variable_id = create(app, bob, namespace="proj@alice")
    app.delete_namespace(root, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.delete_variable(variable_id, bob, ORIGIN)

    assert variable(app, variable_id).deleted is False


def test_owner_deletes_a_detached_variable(app: MaridApplication) -> None:
    alice = register(app, "alice")
    variable_id = create(app, alice, namespace="proj/sub")
    root = app.find_namespace(alice, "proj")
    assert root is not None
    app.delete_namespace(root.public_id, alice, ORIGIN)

    app.delete_variable(variable_id, alice, ORIGIN)

    assert variable(app, variable_id).deleted is True


def test_variable_delete_is_idempotent_on_the_aggregate() -> None:
    found = Variable(
        public_id=1,
        owner_id=1,
        author_id=1,
        namespace_id=None,
        key="A",
        value="v",
        masked=False,
        origin=ORIGIN,
    )

    found.delete(ORIGIN)
    found.delete(ORIGIN)

    assert found.deleted is True
    assert [type(e).__name__ for e in found.collect_events()] == ["Created", "Deleted"]


# --- races ---------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [None, "proj", "fresh/sub"])
def test_concurrent_creates_of_one_key_leave_exactly_one_winner(
    racing: RacingApp, namespace: str | None
) -> None:
    alice = register(racing, "alice")
    racing.create_namespace(alice, "proj", None, None, None, ORIGIN)
    winner: list[int] = []
    racing.competitors.append(
        lambda: winner.append(create(racing, alice, key="RACE", namespace=namespace))
    )

    with pytest.raises(ValidationError) as caught:
        create(racing, alice, key="RACE", namespace=namespace)

    assert caught.value.fields == {"key": ["Key already exists"]}
    assert len(winner) == 1
    assert variable(racing, winner[0]).deleted is False


def test_concurrent_delete_of_one_variable_has_one_winner(racing: RacingApp) -> None:
    alice = register(racing, "alice")
    variable_id = create(racing, alice)
    racing.competitors.append(lambda: racing.delete_variable(variable_id, alice, ORIGIN))

    with pytest.raises(NotFoundError):
        racing.delete_variable(variable_id, alice, ORIGIN)

    assert variable(racing, variable_id).deleted is True
