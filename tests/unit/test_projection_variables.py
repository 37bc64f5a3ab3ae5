"""The variables projection on its in-memory view: events in, rows out."""

from __future__ import annotations

from domain.variables import Variable
from projections.memory import in_memory
from projections.variables import VariablesProjection, VariablesTables
from tests.unit.projection_support import APP, ORIGIN, feed


def masked_variable() -> Variable:
    return Variable(
        public_id=4,
        owner_id=1,
        author_id=2,
        namespace_id=None,
        key="TOKEN",
        value="sealed:abc",
        masked=True,
        origin=ORIGIN,
    )


def test_created_variable_keeps_its_masked_value_sealed() -> None:
    view = in_memory(VariablesTables)
    variable = masked_variable()

    feed(VariablesProjection(view=view), variable.collect_events())

    assert view.rows("variables") == [
        {
            "id": 4,
            "aggregate_id": variable.id,
            "user_id": 1,
            "author_id": 2,
            "namespace_id": None,
            "key": "TOKEN",
            "value": "sealed:abc",
            "masked": True,
            "created_at": variable.created_on,
        }
    ]


def test_a_variable_created_twice_under_one_notification_is_one_row() -> None:
    view = in_memory(VariablesTables)
    projection = VariablesProjection(view=view)
    created = masked_variable().collect_events()
    feed(projection, created)

    feed(projection, created)

    assert len(view.rows("variables")) == 1
    assert view.max_tracking_id(APP) == 1
