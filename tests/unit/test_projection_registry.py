"""What holds for every projection marid runs: its topics and its in-memory twin."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic

from projections.memory import in_memory
from projections.registry import PROJECTIONS


@pytest.mark.parametrize("name", PROJECTIONS)
def test_projection_subscribes_to_exactly_the_events_it_handles(name: str) -> None:
    projection_class, _ = PROJECTIONS[name]
    dispatcher = vars(projection_class)["process_event"].dispatcher

    handled = {get_topic(cls) for cls in dispatcher.registry if cls is not object}

    assert handled == set(projection_class.topics)
    assert len(projection_class.topics) == len(handled)


@pytest.mark.parametrize("name", PROJECTIONS)
def test_every_view_has_an_empty_in_memory_twin_with_its_tables(name: str) -> None:
    _, view_class = PROJECTIONS[name]

    memory = in_memory(view_class.__bases__[0])

    assert memory.projection_name == name
    assert list(memory.tables) == list(view_class.tables)
    assert all(memory.rows(table) == [] for table in memory.tables)
    assert memory.max_tracking_id("Marid") is None
