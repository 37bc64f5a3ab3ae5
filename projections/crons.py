"""The crons read model, the builds each cron created, and the crons due for firing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from domain.crons import Cron
from projections.base import View
from projections.build_queries import BuildFilters, BuildQueries
from projections.build_rows import BuildRow
from projections.resource_projection import (
    ResourceProjection,
    ResourceTables,
    resource_indexes,
    resource_table,
)
from projections.resources import ResourceQueries
from projections.rows import Page
from projections.writes import Rows


class CronsTables(ResourceTables):
    """The crons, and which builds each created (kept while the cron lives)."""

    projection_name = "crons"
    tables = {
        **resource_table(
            "crons",
            "name text NOT NULL, schedule text NOT NULL, timezone text NOT NULL, "
            "manifest text NOT NULL, next_run timestamptz NOT NULL, prev_run timestamptz, "
            "last_error text, last_error_at timestamptz, created_at timestamptz NOT NULL, "
            "updated_at timestamptz",
        ),
        "cron_builds": "(cron_id bigint NOT NULL, build_id bigint NOT NULL, "
        "due timestamptz NOT NULL, PRIMARY KEY (cron_id, build_id))",
    }
    indexes = {
        **resource_indexes("crons"),
        "crons_next_run_idx": ("crons", "", "(next_run)"),
        "cron_builds_build_idx": ("cron_builds", "", "(build_id)"),
    }

    def fired(
        self,
        aggregate_id: Any,
        values: Mapping[str, Any],
        build_id: int,
        due: datetime,
        tracking: Tracking,
    ) -> None:
        """The cron's columns change and it is linked to the build it created."""

        def change(rows: Rows) -> None:
            for cron_id in rows.update("crons", values, "id", aggregate_id=aggregate_id):
                link = {"cron_id": cron_id, "build_id": build_id, "due": due}
                rows.insert("cron_builds", link, skip_existing=True)

        self.apply(tracking, change)

    def remove(self, aggregate_id: Any, tracking: Tracking) -> None:
        """The cron goes, and its links; the builds it created stay."""

        def change(rows: Rows) -> None:
            gone = rows.delete("crons", "id", aggregate_id=aggregate_id)
            if gone:
                rows.delete("cron_builds", cron_id=tuple(gone))

        self.apply(tracking, change)


class CronsView(CronsTables, View):
    """The crons read model in PostgreSQL."""


class CronsProjection(ResourceProjection[CronsTables]):
    name = "crons"
    process_event = ResourceProjection.dispatch(Cron)

    def columns(self, event: Cron.Created | Cron.Updated) -> dict[str, Any]:
        return {
            "name": event.name,
            "schedule": event.schedule,
            "timezone": event.timezone,
            "manifest": event.manifest,
            "next_run": event.next_run,
        }

    @process_event.register
    def updated(self, event: Cron.Updated, tracking: Tracking) -> None:
        values = {
            "user_id": event.owner_id,
            "namespace_id": event.namespace_id,
            **self.columns(event),
            "updated_at": event.timestamp,
        }
        self.view.update(event.originator_id, values, tracking)

    @process_event.register
    def fired(self, event: Cron.Fired, tracking: Tracking) -> None:
        values = {
            "prev_run": event.fired_at,
            "next_run": event.next_run,
            "last_error": None,
            "last_error_at": None,
        }
        self.view.fired(event.originator_id, values, event.build_id, event.due, tracking)

    @process_event.register
    def firing_failed(self, event: Cron.FiringFailed, tracking: Tracking) -> None:
        values = {
            "prev_run": event.failed_at,
            "next_run": event.next_run,
            "last_error": event.error,
            "last_error_at": event.failed_at,
        }
        self.view.update(event.originator_id, values, tracking)


class CronQueries(ResourceQueries):
    """The crons table as a resource (`get`, `visible`, ...), and the crons now due."""

    def __init__(self, datastore: Any) -> None:
        super().__init__(datastore, "crons", "name")

    def due(self, now: datetime, limit: int) -> list[tuple[int, datetime]]:
        """`(id, next_run)` of crons whose next run has come, earliest first."""
        rows = self.fetch_all(
            "SELECT id, next_run FROM crons WHERE next_run <= %s ORDER BY next_run, id LIMIT %s",
            (now, limit),
        )
        return [(int(row["id"]), row["next_run"]) for row in rows]


class CronBuildQueries(BuildQueries):
    def for_cron(
        self, cron_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """Builds the cron created, newest first."""
        return self.linked("cron_builds", "cron_id", cron_id, filters, page, per_page)
