"""The in-memory views refuse what PostgreSQL refuses, and a failed change leaves nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from projections.memory import in_memory
from projections.namespaces import NamespacesTables
from projections.users import UsersTables
from projections.variables import VariablesTables
from projections.writes import Rows

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def user(user_id: int, **changes: Any) -> dict[str, Any]:
    return {"id": user_id, "username": f"u{user_id}", "email": "e", "created_at": T0, **changes}


def test_a_row_has_every_column_and_the_declared_defaults() -> None:
    view = in_memory(UsersTables)

    view.add_user(user(1), Tracking("Marid", 1))

    assert view.rows("users") == [
        {
            "id": 1,
            "username": "u1",
            "email": "e",
            "created_at": T0,
            "admin": False,
            "disabled": False,
        }
    ]


def test_a_null_in_a_not_null_column_or_a_taken_key_is_refused_and_not_tracked() -> None:
    view = in_memory(UsersTables)
    view.add_user(user(1), Tracking("Marid", 1))

    with pytest.raises(IntegrityError):
        view.add_user(user(1), Tracking("Marid", 2))
    with pytest.raises(IntegrityError):
        view.add_user(user(2, email=None), Tracking("Marid", 2))

    assert [row["id"] for row in view.rows("users")] == [1]
    assert view.max_tracking_id("Marid") == 1


def test_a_failed_change_leaves_none_of_its_writes() -> None:
    view = in_memory(NamespacesTables)

    def change(rows: Rows) -> None:
        rows.insert("collaborators", {"root_id": 1, "user_id": 2, "created_at": T0})
        rows.insert("collaborators", {"root_id": 1, "user_id": 2, "created_at": T0})

    with pytest.raises(IntegrityError):
        view.apply(Tracking("Marid", 1), change)

    assert view.rows("collaborators") == []
    assert view.max_tracking_id("Marid") is None


def test_an_unknown_column_is_an_error_as_in_sql() -> None:
    view = in_memory(VariablesTables)

    with pytest.raises(KeyError):
        view.update(object(), {"colour": "red"}, Tracking("Marid", 1))
