"""The marid application: every use case, on one event-sourced application.

Snapshots. Aggregates whose histories grow without end are snapshotted, so that loading
one replays a bounded number of events: the state the library stores (`vars()` of the
aggregate, less its id, version and pending events) goes through the application's
transcoder, so every attribute of a snapshotted aggregate must be JSON, a datetime, a
UUID or an Origin: no sets, tuples or dicts keyed by other than `str`.
tests/unit/test_snapshots.py checks each snapshotted class.

When such an aggregate's state changes shape later (an attribute added, removed, renamed
or retyped), old snapshots hold the old shape. The rule: bump the aggregate's
`class_version` and give it `upcast_v<N>_v<N+1>(state)`, a static method that rewrites an
old snapshot's state dict in place; the library stores `class_version` with each snapshot
and runs the upcasters in order when it loads one, and fails loudly when one is missing.
test_snapshots.py pins each class's attribute names to its `class_version`, so a shape
change without a bump fails there. Where the new state cannot be computed from the old
(it needs the history), bump `class_version` all the same and delete that class's
snapshots when deploying, with no process of the old version running; loading then
replays the events, which stay the truth:
`DELETE FROM marid_snapshots WHERE originator_id IN (SELECT originator_id FROM
marid_events WHERE originator_version = 1 AND topic = 'domain.crons:Cron.Created')`.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import MutableOrImmutableAggregate

from application.accounts import AccountCases
from application.builds import BuildCases
from application.crons import CronCases
from application.execution import ExecutionCases
from application.images import ImageCases
from application.invites import InviteCases
from application.keys import KeyCases
from application.oauth import OAuthCases
from application.oauth_apps import OAuthAppCases
from application.objects import ObjectCases
from application.users import UserCases
from application.variables import VariableCases
from application.webhooks import WebhookCases
from domain.builds import Build, BuildCounter
from domain.crons import Cron

log = logging.getLogger(__name__)


class MaridApplication(
    OAuthCases,
    OAuthAppCases,
    AccountCases,
    UserCases,
    VariableCases,
    KeyCases,
    ImageCases,
    ObjectCases,
    CronCases,
    BuildCases,
    InviteCases,
    ExecutionCases,
    WebhookCases,
):
    """One application, so that a resource and its index aggregates save atomically."""

    # eventsourcing names an application after its class unless told: tables `marid_*`.
    name = "Marid"

    # A snapshot is taken in the save that records an event whose version is a multiple
    # of the interval; loading reads the latest snapshot and the events after it.
    # Replaying costs about 0.1 ms an event (decoding and applying it, measured in memory;
    # PostgreSQL adds the fetch), a snapshot one re-read of the events since the last one
    # and one insert.
    # - BuildCounter: one event per build of its owner, and every submit loads it.
    # - Cron: one event per firing (a per-minute cron records 1,440 a day), and a firing
    #   loads it three times. Its state holds the manifest, as does each firing's build.
    # At 10, a load replays at most 9 events (about a millisecond), and snapshots add one
    # insert per 10 events, of a row smaller than the build each of those events comes with.
    # - Build: two events per job, plus claims and the end (lease renewals are heartbeats
    #   outside the log); its state is about as large as its `Submitted` event, so only
    #   builds with many jobs, or killed and rerun ones, are worth a snapshot: every 50.
    # The library keeps every snapshot and reads only the latest: older ones may be deleted.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        Build: 50,
        BuildCounter: 10,
        Cron: 10,
    }

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Take the snapshots due after a save, without failing the save.

        The library takes them after the events are committed. A snapshot is only an
        optimisation, so a failure is logged and the next interval tries again: raised,
        it would answer an error for a write that happened, or, as an IntegrityError,
        make `command` run the committed command a second time.
        """
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.exception("a snapshot could not be taken; loading replays more events")
