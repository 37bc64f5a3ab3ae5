"""Operator tasks on read models: rebuild from the event log while the API runs, and status."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection

from projections.base import View

log = logging.getLogger("marid.projections")
BATCH = 500


def catch_up(app: Application[UUID], projection: Projection[View]) -> int:
    """Apply every notification after the view's position; return how many were applied."""
    done = 0
    last = projection.view.max_tracking_id(app.name) or 0
    while True:
        notifications = app.recorder.select_notifications(
            start=last, limit=BATCH, topics=projection.topics, inclusive_of_start=False
        )
        if not notifications:
            return done
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            projection.process_event(event, Tracking(app.name, notification.id))
            last = notification.id
            done += 1


def rebuild(
    app: Application[UUID],
    datastore: PostgresDatastore,
    projection_class: type[Projection[View]],
    view_class: type[View],
) -> int:
    """Rebuild a read model into shadow tables, catch up, and swap them in one transaction.

    The live runner keeps serving until the swap; during the swap it waits on the swap lock,
    and afterwards skips what the rebuilt tables already hold. Returns the events applied.
    """
    suffix = f"_rb{secrets.token_hex(4)}"
    shadow = view_class(datastore, suffix=suffix)
    shadow.create_table()
    projection = projection_class(view=shadow)
    try:
        applied = catch_up(app, projection)
        with datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (shadow.swap_lock,))
            applied += catch_up(app, projection)
            for table in view_class.tables:
                curs.execute(f"DROP TABLE IF EXISTS {table}")
                curs.execute(f"ALTER TABLE {table}{suffix} RENAME TO {table}")
                curs.execute(
                    f"ALTER TABLE {table} RENAME CONSTRAINT {table}{suffix}_pkey TO {table}_pkey"
                )
            for index in view_class.indexes:
                curs.execute(f"ALTER INDEX {index}{suffix} RENAME TO {index}")
            position = shadow.max_tracking_id(app.name) or 0
            live_tracking = f"{view_class.projection_name}_tracking"
            curs.execute(
                f"INSERT INTO {live_tracking} VALUES (%s, %s) ON CONFLICT (application_name) "
                "DO UPDATE SET notification_id = EXCLUDED.notification_id",
                (app.name, position),
            )
            curs.execute(f"DROP TABLE {shadow.tracking_table_name}")
    except BaseException:
        with datastore.transaction(commit=True) as curs:
            for table in view_class.tables:
                curs.execute(f"DROP TABLE IF EXISTS {table}{suffix}")
            curs.execute(f"DROP TABLE IF EXISTS {shadow.tracking_table_name}")
        raise
    log.info("rebuilt %s from %s events", view_class.projection_name, applied)
    return applied


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int
    lag: int


def status(app: Application[UUID], projection: Projection[View]) -> Status:
    """Where a projection is, the newest notification, and how many of its events wait."""
    view = projection.view
    position = view.max_tracking_id(app.name) or 0
    head = app.recorder.max_notification_id() or 0
    with view.datastore.transaction(commit=False) as curs:
        curs.execute(
            f"SELECT count(*) AS lag FROM {app.name.lower()}_events "
            "WHERE notification_id > %s AND topic = ANY(%s)",
            (position, list(projection.topics)),
        )
        row = curs.fetchone()
    return Status(projection.name, position, head, int(row["lag"]) if row else 0)
