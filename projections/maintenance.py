"""Operator tasks on read models: rebuild from the event log while the API runs, and status."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection

from projections.audit_queries import TIME as EVENT_TIME
from projections.base import View, lock_key
from projections.followers import gaps
from projections.schema import declared_columns
from projections.shadow import Progress, Shadow
from projections.shadow import catch_up as catch_up
from projections.verify import Verification

log = logging.getLogger("marid.projections")


def rebuild(
    app: Application[UUID],
    datastore: PostgresDatastore,
    projection_class: type[Projection[View]],
    view_class: type[View],
    *,
    verify: bool = True,
    force: bool = False,
    progress: Progress | None = None,
) -> int:
    """Rebuild a read model into shadow tables, catch up, and swap them in one transaction.

    The live runner keeps serving until the swap; during the swap it waits on the swap lock,
    and afterwards skips what the rebuilt tables already hold. Before the swap the rebuilt
    tables are compared with the live ones (`verify`); when they differ the swap is refused
    with `VerificationError` unless `force`. Returns the events applied.
    """
    with _rebuild_lock(datastore, view_class):
        _drop_abandoned_shadows(datastore, view_class)
        shadow = Shadow(app, datastore, projection_class, view_class, progress)
        return shadow.build(swap=True, verify=verify, force=force).applied


def verify(
    app: Application[UUID],
    datastore: PostgresDatastore,
    projection_class: type[Projection[View]],
    view_class: type[View],
    progress: Progress | None = None,
) -> Verification:
    """Rebuild a read model into shadow tables, compare them with the live ones at the
    live read model's position, and drop them."""
    with _rebuild_lock(datastore, view_class):
        _drop_abandoned_shadows(datastore, view_class)
        shadow = Shadow(app, datastore, projection_class, view_class, progress)
        verification = shadow.build(swap=False, verify=True, force=False).verification
        assert verification is not None  # built with verify=True
        return verification


@contextmanager
def _rebuild_lock(datastore: PostgresDatastore, view_class: type[View]) -> Iterator[None]:
    """Hold the read model's rebuild lock: one rebuild (or verification) at a time."""
    # A connection of its own: the rebuild's writes need every connection of the pool.
    kwargs: dict[str, Any] = datastore.pool.kwargs  # type: ignore[assignment]
    with psycopg.connect(**kwargs, autocommit=True) as lock_conn:
        key = lock_key(f"marid:rebuild:{view_class.projection_name}")
        row = lock_conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (key,)).fetchone()
        if row is None or not row["ok"]:
            raise RebuildRunningError(view_class.projection_name)
        try:
            yield
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


class RebuildRunningError(RuntimeError):
    """Raised when another process is already rebuilding the same read model."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a rebuild of {name} is already running")


def _drop_abandoned_shadows(datastore: PostgresDatastore, view_class: type[View]) -> None:
    """Drop shadow tables a killed rebuild left behind (only one rebuild runs at a time)."""
    names = [*view_class.tables, view_class.projection_name]
    with datastore.transaction(commit=True) as curs:
        curs.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename ~ ANY(%s)",
            ([f"^{name}_rb[0-9a-f]{{8}}(_tracking)?$" for name in names],),
        )
        for found in curs.fetchall():
            log.warning("dropping %s, left by an interrupted rebuild", found["tablename"])
            curs.execute(f"DROP TABLE IF EXISTS {found['tablename']}")


def stale_tables(view: View) -> list[str]:
    """Live tables whose columns differ from what the view declares: a newer marid changed
    the read model, and the old table must be rebuilt from the event log."""
    with view.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT table_name::text AS name, "
            "array_agg(column_name::text ORDER BY ordinal_position) AS columns "
            "FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s) GROUP BY table_name",
            ([view.t(table) for table in view.tables],),
        )
        found = {row["name"]: row["columns"] for row in curs.fetchall()}
    return [
        table
        for table, definition in view.tables.items()
        if view.t(table) in found and found[view.t(table)] != declared_columns(definition)
    ]


def upgrade(
    app: Application[UUID],
    datastore: PostgresDatastore,
    projection_class: type[Projection[View]],
    view_class: type[View],
) -> bool:
    """Rebuild the read model if its tables are of an older shape; True if it was rebuilt.

    Read models are disposable: a release that changes one needs no migration script, the
    first process to start rebuilds it (another process already doing so is left to it).
    """
    stale = stale_tables(view_class(datastore))
    if not stale:
        return False
    log.warning("read model %s has old tables (%s): rebuilding", view_class.projection_name, stale)
    try:
        # Not verified: the live tables are of another shape, a comparison would only differ.
        applied = rebuild(app, datastore, projection_class, view_class, verify=False)
    except RebuildRunningError:
        log.info("another process is rebuilding %s", view_class.projection_name)
        return False
    log.info("rebuilt %s from %s events", view_class.projection_name, applied)
    return True


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int
    lag: int
    missing: int = 0  # ids missing just below the position: rolled back, normal
    skipped: int = 0  # ids that committed after the follower passed them: data loss
    # How far behind in time: from the newest event processed to the head (0 when caught up).
    lag_seconds: float = 0.0


def status(
    app: Application[UUID],
    projection: Projection[View],
    *,
    head: int | None = None,
    with_gaps: bool = True,
) -> Status:
    """Where a projection is, the newest notification (`head`, read when not given), and
    how many of its events wait; without `with_gaps`, no gap counts (readiness needs
    only the lag)."""
    return follower_status(
        app, projection.name, projection.view, projection.topics, head=head, with_gaps=with_gaps
    )


def follower_status(
    app: Application[UUID],
    name: str,
    view: View,
    topics: Sequence[str],
    *,
    head: int | None = None,
    with_gaps: bool = True,
) -> Status:
    """The same for any follower of the event log with a tracking table (read models, the
    webhook dispatcher)."""
    position = view.max_tracking_id(app.name) or 0
    return position_status(
        app, view.datastore, name, position, topics, head=head, with_gaps=with_gaps
    )


def position_status(
    app: Application[UUID],
    datastore: PostgresDatastore,
    name: str,
    position: int,
    topics: Sequence[str],
    *,
    head: int | None = None,
    with_gaps: bool = True,
) -> Status:
    """The same for a follower at `position` (the worker keeps it in memory)."""
    if head is None:
        head = app.recorder.max_notification_id() or 0
    events = f"{app.name.lower()}_events"
    # Event times are read from the events themselves (two lookups by notification id; the
    # first pending event stands for the newest processed one where that is not in the log).
    processed = f"(SELECT {EVENT_TIME} FROM {events} WHERE notification_id = %(position)s)"
    pending = (
        f"(SELECT {EVENT_TIME} FROM {events} WHERE notification_id > %(position)s "
        "AND topic = ANY(%(topics)s) ORDER BY notification_id LIMIT 1)"
    )
    newest = f"(SELECT {EVENT_TIME} FROM {events} WHERE notification_id = %(head)s)"
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS lag, CASE WHEN count(*) = 0 THEN 0 ELSE greatest(0, "
            f"extract(epoch FROM {newest} - coalesce({processed}, {pending}))) END AS seconds "
            f"FROM {events} WHERE notification_id > %(position)s AND topic = ANY(%(topics)s)",
            {"position": position, "head": head, "topics": list(topics)},
        )
        row = curs.fetchone()
    lag = int(row["lag"]) if row else 0
    seconds = float(row["seconds"] or 0) if row else 0.0
    if not with_gaps:
        return Status(name, position, head, lag, lag_seconds=seconds)
    found = gaps(datastore, events, name, position)
    return Status(name, position, head, lag, found.missing, found.skipped, seconds)
