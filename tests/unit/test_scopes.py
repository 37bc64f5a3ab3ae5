"""Token scopes in Djinn's syntax: parsing, canonical text, and the errors for bad input."""

from __future__ import annotations

import pytest

from domain.scopes import PERMISSIONS, RESOURCES, ScopeError, Scopes


def test_parse_grants_each_listed_permission_of_each_resource() -> None:
    scopes = Scopes.parse("build:read,write namespace:read")

    assert scopes.grants == {("build", "read"), ("build", "write"), ("namespace", "read")}
    assert not scopes.has("namespace", "write")
    assert not scopes.has("build", "delete")


def test_repeated_resources_are_combined() -> None:
    scopes = Scopes.parse("build:read build:delete")

    assert scopes.grants == {("build", "read"), ("build", "delete")}


def test_extra_whitespace_between_items_is_ignored() -> None:
    scopes = Scopes.parse("  build:read \t  key:write ")

    assert scopes.grants == {("build", "read"), ("key", "write")}


def test_text_is_canonical_in_resource_and_permission_order() -> None:
    scopes = Scopes.parse("namespace:read variable:delete,read build:write,read")

    assert str(scopes) == "build:read,write namespace:read variable:read,delete"


def test_all_scopes_survive_a_round_trip_through_text() -> None:
    text = str(Scopes.all())

    assert Scopes.parse(text) == Scopes.all()
    assert len(Scopes.all().grants) == len(RESOURCES) * len(PERMISSIONS)


def test_no_scopes_have_empty_text() -> None:
    assert str(Scopes.none()) == ""
    assert not Scopes.none().has("build", "read")


def test_unknown_resource_is_named_in_the_error() -> None:
    with pytest.raises(ScopeError, match=r"^unknown resource: x$"):
        Scopes.parse("build:read x:read")


def test_unknown_permission_is_named_in_the_error() -> None:
    with pytest.raises(ScopeError, match=r"^unknown permission: x$"):
        Scopes.parse("build:read,x")


def test_item_without_colon_lacks_permissions() -> None:
    with pytest.raises(ScopeError, match=r"^missing permission for resource: build$"):
        Scopes.parse("build")


def test_unknown_item_without_colon_is_an_unknown_resource() -> None:
    with pytest.raises(ScopeError, match=r"^unknown resource: everything$"):
        Scopes.parse("everything")


def test_item_with_empty_permission_list_lacks_permissions() -> None:
    with pytest.raises(ScopeError, match=r"^missing permission for resource: key$"):
        Scopes.parse("key:")


def test_empty_scope_text_is_refused() -> None:
    with pytest.raises(ScopeError, match=r"^scope cannot be empty$"):
        Scopes.parse("   ")
