"""A projection's dispatch (projections/handling.py): topics from handlers, the fallback."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from domain.invites import Invite
from domain.namespaces import Namespace
from projections.handling import ReadModelProjection, created_row, handlers
from projections.invites import InvitesTables
from projections.memory import in_memory
from tests.unit.projection_support import APP, ORIGIN, unrelated_event


class Answers(ReadModelProjection[InvitesTables]):
    """Counts answered invites; one handler takes two event types."""

    process_event = handlers()

    def __init__(self, view: InvitesTables) -> None:
        super().__init__(view)
        self.answered: list[Any] = []

    @process_event.register
    def answer(self, event: Invite.Accepted | Invite.Rejected, tracking: Tracking) -> None:
        self.answered.append(type(event))
        self.view.insert_tracking(tracking)


def test_a_projection_subscribes_to_the_topics_of_its_handlers_and_no_other() -> None:
    topics = Answers.topics

    assert sorted(topics) == sorted(get_topic(e) for e in (Invite.Accepted, Invite.Rejected))


def test_an_event_without_a_handler_only_records_its_tracking() -> None:
    view = in_memory(InvitesTables)
    projection = Answers(view)

    projection.process_event(unrelated_event(), Tracking(APP, 7))

    assert projection.answered == []
    assert view.max_tracking_id(APP) == 7
    assert view.rows("invites") == []


def test_created_row_holds_the_ids_the_time_and_the_named_attributes() -> None:
    root = Namespace.create_root(4, 2, "proj", "d", "private", ORIGIN)
    (created,) = root.collect_events()

    row = created_row(created, "name", "level", user_id="owner_id")

    assert row == {
        "id": 4,
        "aggregate_id": root.id,
        "name": "proj",
        "level": 0,
        "user_id": 2,
        "created_at": root.created_on,
    }
