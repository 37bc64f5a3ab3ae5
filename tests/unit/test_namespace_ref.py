"""Namespace references `path[@owner]` as written in manifests and resource forms."""

from __future__ import annotations

import pytest

from domain.namespace_ref import NamespaceRef, NamespaceRefError


def parse_error(text: str) -> str:
    with pytest.raises(NamespaceRefError) as caught:
        NamespaceRef.parse(text)
    return str(caught.value)


def test_reference_names_a_path_and_an_owner() -> None:
    ref = NamespaceRef.parse("proj/sub@alice")

    assert ref == NamespaceRef(path="proj/sub", owner="alice")
    assert ref.segments == ["proj", "sub"]
    assert str(ref) == "proj/sub@alice"


def test_reference_without_owner_means_the_caller() -> None:
    ref = NamespaceRef.parse("proj")

    assert ref.owner is None
    assert str(ref) == "proj"


def test_digits_are_allowed_in_names() -> None:
    ref = NamespaceRef.parse("proj2/2024@alice.b-1")

    assert ref == NamespaceRef(path="proj2/2024", owner="alice.b-1")


def test_surrounding_whitespace_and_slashes_are_ignored() -> None:
    ref = NamespaceRef.parse("  /proj/sub/@alice ")

    assert ref == NamespaceRef(path="proj/sub", owner="alice")


def test_owner_alone_is_an_invalid_path() -> None:
    assert parse_error("@alice") == "@alice: invalid namespace path"


def test_empty_reference_is_an_invalid_path() -> None:
    assert parse_error("  ") == ": invalid namespace path"


@pytest.mark.parametrize("text", ["my-proj", "proj/sub_1", "proj//sub", "proj\n/sub"])
def test_names_may_only_hold_letters_and_digits(text: str) -> None:
    message = parse_error(text)

    assert message == f"{text.strip()}: namespace: name can only contain letters and numbers"


def test_name_longer_than_32_characters_is_refused() -> None:
    text = "proj/" + "a" * 33

    assert parse_error(text) == (
        f"{text}: namespace: name cannot be longer than 32 characters in length"
    )


@pytest.mark.parametrize("text", ["proj@", "proj@bad owner", "proj@al!ce", "proj@alice@bob"])
def test_owner_must_be_a_valid_username(text: str) -> None:
    assert parse_error(text) == f"{text}: namespace: invalid owner"


def test_reference_may_be_20_levels_deep() -> None:
    ref = NamespaceRef.parse("/".join(f"level{i}" for i in range(20)))

    assert len(ref.segments) == 20


def test_reference_deeper_than_20_levels_is_refused() -> None:
    text = "/".join(f"level{i}" for i in range(21))

    assert parse_error(text) == f"{text}: namespace: cannot exceed depth of 20"
