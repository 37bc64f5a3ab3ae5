"""A read model rebuilt from the event log into shadow tables, verified, then swapped in.

The shadow follows the live read model without passing it, so that both can be compared
at one log position: under the swap lock (which holds the live runner still) the shadow
catches up to exactly the live tracking position, and the tables of both are compared in
that transaction. Only then does the shadow catch up to the head and replace the live
tables, in the same transaction.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow

from projections.base import View
from projections.verify import Verification, VerificationError, compare

log = logging.getLogger("marid.projections")
BATCH = 500
FINAL_WAIT = 0.02  # seconds between looks while appends below a catch-up's target run
# (events applied so far, events to apply in all): a rebuild's progress, for an operator.
Progress = Callable[[int, int], None]
REPORT_EVERY = 100  # events between two progress reports: a report costs a call, no query


def catch_up(
    app: Application[UUID],
    projection: Projection[View],
    until: int | None = None,
    on_event: Callable[[], None] | None = None,
) -> int:
    """Apply every notification after the view's position, up to `until` (inclusive) if
    given; return how many were applied. `on_event` is called after each one."""
    done = 0
    last = projection.view.max_tracking_id(app.name) or 0
    # An empty read means "caught up" only once the log is final up to the target: below
    # the head, appends may still be committing (see infrastructure.event_log).
    target = until if until is not None else (app.recorder.max_notification_id() or 0)
    horizon = getattr(app.recorder, "horizon", None)
    while until is None or last < until:
        notifications = app.recorder.select_notifications(
            start=last, limit=BATCH, stop=until, topics=projection.topics, inclusive_of_start=False
        )
        if not notifications:
            if horizon is None or horizon() >= target:
                break
            time.sleep(FINAL_WAIT)  # an append below the target is still running
            continue
        with projection.view.batch(Tracking(app.name, notifications[-1].id)):  # one commit
            for notification in notifications:
                event = app.mapper.to_domain_event(notification)
                projection.process_event(event, Tracking(app.name, notification.id))
                if on_event is not None:
                    on_event()
        last = notifications[-1].id
        done += len(notifications)
    return done


class Tally:
    """Counts the events applied to a shadow and reports them every REPORT_EVERY."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def __call__(self) -> None:
        self.done += 1
        if self.done % REPORT_EVERY == 0:
            self.report()

    def report(self) -> None:
        if self.progress is not None:
            # Events written since the count was taken are counted as they are applied.
            self.total = max(self.total, self.done)
            self.progress(self.done, self.total)


@dataclass(frozen=True)
class Built:
    applied: int
    verification: Verification | None


class Shadow:
    """One rebuild of one read model into tables with a random suffix."""

    def __init__(
        self,
        app: Application[UUID],
        datastore: PostgresDatastore,
        projection_class: type[Projection[View]],
        view_class: type[View],
        progress: Progress | None = None,
    ) -> None:
        self.app = app
        self.datastore = datastore
        self.view_class = view_class
        self.suffix = f"_rb{secrets.token_hex(4)}"
        self.view = view_class(datastore, suffix=self.suffix)
        self.live = view_class(datastore)
        self.projection = projection_class(view=self.view)
        self.tally = Tally(progress, self._events() if progress is not None else 0)

    def build(self, *, swap: bool, verify: bool, force: bool) -> Built:
        """Fill the shadow tables; compare them with the live ones if `verify`; swap them in
        if `swap` (refused with `VerificationError` on a difference, unless `force`)."""
        self.view.create_table()
        verification = None
        try:
            self._fill(follow_live=verify)
            with self.datastore.transaction(commit=True) as curs:
                curs.execute("SELECT pg_advisory_xact_lock(%s)", (self.view.swap_lock,))
                if verify:
                    verification = self._compare(curs)
                    if not verification.equal and swap and not force:
                        raise VerificationError(verification)
                if swap:
                    if verification is not None and not verification.equal:
                        report = "; ".join(line.strip() for line in verification.report())
                        log.warning("%s; swapped in all the same (forced)", report)
                    catch_up(self.app, self.projection, on_event=self.tally)
                    self._swap(curs)
        except BaseException:
            self._drop()
            raise
        if not swap:
            self._drop()
        self.tally.report()
        return Built(self.tally.done, verification)

    def _events(self) -> int:
        """How many events of the projection's topics the log holds (the work to do)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT count(*) AS n FROM {self.app.name.lower()}_events WHERE topic = ANY(%s)",
                (list(self.projection.topics),),
            )
            row = curs.fetchone()
        return int(row["n"]) if row else 0

    def _fill(self, follow_live: bool) -> None:
        """Apply the log outside the swap lock: all of it, or (to compare) up to where the
        live read model is, chasing it while it moves, until little is left for the lock."""
        if not follow_live:
            catch_up(self.app, self.projection, on_event=self.tally)
            return
        while True:
            position = self.live.max_tracking_id(self.app.name) or 0
            if catch_up(self.app, self.projection, position, self.tally) < BATCH:
                return

    def _compare(self, curs: Cursor[DictRow]) -> Verification:
        """Under the swap lock: bring the shadow to the live position exactly, compare."""
        # The live runner waits on the swap lock we hold, so its position stands still.
        position = self.live.max_tracking_id(self.app.name) or 0
        catch_up(self.app, self.projection, position, self.tally)
        return compare(curs, self.live, self.view, position, self.tally.done)

    def _swap(self, curs: Cursor[DictRow]) -> None:
        suffix = self.suffix
        for table in self.view_class.tables:
            curs.execute(f"DROP TABLE IF EXISTS {table}")
            curs.execute(f"ALTER TABLE {table}{suffix} RENAME TO {table}")
            curs.execute(
                f"ALTER TABLE {table} RENAME CONSTRAINT {table}{suffix}_pkey TO {table}_pkey"
            )
        for index in self.view_class.indexes:
            curs.execute(f"ALTER INDEX {index}{suffix} RENAME TO {index}")
        position = self.view.max_tracking_id(self.app.name) or 0
        live = self.live._max_tracking_id(self.app.name, curs) or 0
        if position < live:  # never swap in tables older than the live ones
            raise RuntimeError(
                f"rebuilt {self.view_class.projection_name} reached event {position}, "
                f"behind the live read model's {live}; not swapped"
            )
        curs.execute(
            f"INSERT INTO {self.live.tracking_table_name} (application_name, notification_id) "
            "VALUES (%s, %s) "
            "ON CONFLICT (application_name) "
            "DO UPDATE SET notification_id = EXCLUDED.notification_id",
            (self.app.name, position),
        )
        curs.execute(f"DROP TABLE {self.view.tracking_table_name}")

    def _drop(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for table in self.view_class.tables:
                curs.execute(f"DROP TABLE IF EXISTS {self.view.t(table)}")
            curs.execute(f"DROP TABLE IF EXISTS {self.view.tracking_table_name}")
