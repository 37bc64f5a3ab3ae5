"""Use cases on the in-memory event store, and helpers that set up their preconditions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import Recording

from application.app import MaridApplication
from domain.errors import NotFoundError
from domain.origin import Origin

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
ORIGIN = Origin.user(1, "req-1")


class RacingApp(MaridApplication):
    """Lets queued competing commands commit between a command's load and its save.

    Each `save()` first runs the next queued competitor (whose own saves race nobody), so
    the command's copy of an aggregate is stale when it saves: the interleaving of two
    concurrent requests, made deterministic.
    """

    def __init__(self) -> None:
        super().__init__(POPO)
        self.competitors: list[Callable[[], object]] = []
        self.saves = 0
        self._racing = False

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[Any]]:
        if self.competitors and not self._racing:
            competitor = self.competitors.pop(0)
            self._racing = True
            try:
                competitor()
            finally:
                self._racing = False
        self.saves += 1
        return super().save(*objs, **kwargs)


@pytest.fixture
def app() -> MaridApplication:
    return MaridApplication(POPO)


@pytest.fixture
def racing() -> RacingApp:
    return RacingApp()


def register(app: MaridApplication, username: str) -> int:
    return app.register_user(username, f"{username}@example.com", ORIGIN).value


def add_collaborator(app: MaridApplication, root_id: int, user_id: int) -> None:
    root = app.namespace(root_id)
    if root is None:
        raise NotFoundError("namespace")
    root.add_collaborator(user_id, ORIGIN)
    app.save(root)


def event_count(app: MaridApplication) -> int:
    return app.recorder.max_notification_id() or 0


def events_after(app: MaridApplication, after: int) -> list[Any]:
    notifications = app.recorder.select_notifications(
        start=after, limit=1000, inclusive_of_start=False
    )
    return [app.mapper.to_domain_event(n) for n in notifications]
