"""Registration rules (Djinn's messages), origins and identities."""

from __future__ import annotations

import pytest

from domain.errors import ValidationError
from domain.identity import aggregate_id, index_id
from domain.origin import Origin
from domain.users import User, validate_registration


def fields_of(username: str, email: str) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        validate_registration(username, email)
    return caught.value.fields


def test_valid_username_has_letters_digits_dots_and_dashes() -> None:
    validate_registration("alice.b-42", "alice@example.com")


def test_username_is_required() -> None:
    fields = fields_of("", "alice@example.com")

    assert fields == {"username": ["Username field required"]}


@pytest.mark.parametrize("username", ["ab", "a" * 31])
def test_username_is_between_3_and_30_characters(username: str) -> None:
    fields = fields_of(username, "alice@example.com")

    assert fields == {"username": ["Username must be between 3 and 30 characters in length"]}


@pytest.mark.parametrize("username", ["alice_b", "alice b", "al!ce", "alicé"])
def test_username_may_only_hold_letters_digits_dots_and_dashes(username: str) -> None:
    fields = fields_of(username, "alice@example.com")

    assert fields == {"username": ["Username can only have letters, numbers, dots, and dashes"]}


def test_username_lengths_at_the_bounds_are_accepted() -> None:
    validate_registration("abc", "a@example.com")
    validate_registration("a" * 30, "a@example.com")


def test_every_broken_username_rule_is_reported() -> None:
    fields = fields_of("a!", "alice@example.com")

    assert fields == {
        "username": [
            "Username must be between 3 and 30 characters in length",
            "Username can only have letters, numbers, dots, and dashes",
        ]
    }


def test_email_is_required() -> None:
    fields = fields_of("alice", "")

    assert fields == {"email": ["Email field required"]}


def test_email_needs_an_at_sign() -> None:
    fields = fields_of("alice", "alice.example.com")

    assert fields == {"email": ["Email invalid"]}


def test_username_and_email_failures_are_reported_together() -> None:
    fields = fields_of("", "nope")

    assert fields == {"username": ["Username field required"], "email": ["Email invalid"]}


def test_user_id_derives_from_its_public_id() -> None:
    user = User(public_id=7, username="alice", email="a@example.com", origin=Origin.system("t"))

    assert user.id == aggregate_id("user", 7)
    assert user.id != aggregate_id("token", 7)


def test_index_ids_differ_per_kind_and_key() -> None:
    assert index_id("username", "alice") == index_id("username", "alice")
    assert index_id("username", "alice") != index_id("email", "alice")
    assert index_id("username", "alice") != index_id("username", "bob")


def test_origin_of_a_user_names_the_user_and_the_request() -> None:
    origin = Origin.user(5, "req-9")

    assert origin.actor == "user:5"
    assert origin.request_id == "req-9"


def test_origin_of_a_system_process_has_no_request() -> None:
    origin = Origin.system("scheduler")

    assert origin == Origin(actor="system:scheduler", request_id=None)


def test_username_may_not_end_with_a_newline() -> None:
    fields = fields_of("alice\n", "alice@example.com")

    assert fields == {"username": ["Username can only have letters, numbers, dots, and dashes"]}
