"""The crons read model, the builds each cron created, and the crons due for firing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.crons import Cron
from domain.namespaces import Namespace
from projections.base import View
from projections.build_queries import BuildFilters, BuildQueries
from projections.build_rows import BuildRow
from projections.resources import COMMON_COLUMNS, ResourceQueries, detach, resource_indexes
from projections.rows import Page


class CronsView(View):
    projection_name = "crons"
    tables = {
        "crons": f"({COMMON_COLUMNS}name text NOT NULL, schedule text NOT NULL, "
        "timezone text NOT NULL, manifest text NOT NULL, next_run timestamptz NOT NULL, "
        "prev_run timestamptz, last_error text, last_error_at timestamptz, "
        "created_at timestamptz NOT NULL, updated_at timestamptz)",
        "cron_builds": "(cron_id bigint NOT NULL, build_id bigint NOT NULL, "
        "due timestamptz NOT NULL, PRIMARY KEY (cron_id, build_id))",
    }
    indexes = {
        **resource_indexes("crons"),
        "crons_next_run_idx": ("crons", "", "(next_run)"),
        "cron_builds_build_idx": ("cron_builds", "", "(build_id)"),
    }


class CronsProjection(Projection[CronsView]):
    name = "crons"
    topics = tuple(
        get_topic(c)
        for c in (
            Cron.Created,
            Cron.Updated,
            Cron.Fired,
            Cron.FiringFailed,
            Cron.Deleted,
            Namespace.Deleted,
        )
    )

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def created(self, event: Cron.Created, tracking: Tracking) -> None:
        sql = (
            f"INSERT INTO {self.view.t('crons')} (id, aggregate_id, user_id, author_id, "
            "namespace_id, name, schedule, timezone, manifest, next_run, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        values = (
            event.public_id,
            event.originator_id,
            event.owner_id,
            event.author_id,
            event.namespace_id,
            event.name,
            event.schedule,
            event.timezone,
            event.manifest,
            event.next_run,
            event.timestamp,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def updated(self, event: Cron.Updated, tracking: Tracking) -> None:
        sql = (
            f"UPDATE {self.view.t('crons')} SET user_id = %s, namespace_id = %s, name = %s, "
            "schedule = %s, timezone = %s, manifest = %s, next_run = %s, updated_at = %s "
            "WHERE aggregate_id = %s"
        )
        values = (
            event.owner_id,
            event.namespace_id,
            event.name,
            event.schedule,
            event.timezone,
            event.manifest,
            event.next_run,
            event.timestamp,
            event.originator_id,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def fired(self, event: Cron.Fired, tracking: Tracking) -> None:
        update = (
            f"UPDATE {self.view.t('crons')} SET prev_run = %s, next_run = %s, "
            "last_error = NULL, last_error_at = NULL WHERE aggregate_id = %s RETURNING id"
        )
        link = (
            f"INSERT INTO {self.view.t('cron_builds')} (cron_id, build_id, due) "
            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
        )

        def change(c: Any) -> None:
            row = c.execute(update, (event.fired_at, event.next_run, event.originator_id))
            found = row.fetchone()
            if found is not None:
                c.execute(link, (found["id"], event.build_id, event.due))

        self.view.write(tracking, change)

    @process_event.register
    def firing_failed(self, event: Cron.FiringFailed, tracking: Tracking) -> None:
        sql = (
            f"UPDATE {self.view.t('crons')} SET prev_run = %s, next_run = %s, "
            "last_error = %s, last_error_at = %s WHERE aggregate_id = %s"
        )
        values = (
            event.failed_at,
            event.next_run,
            event.error,
            event.failed_at,
            event.originator_id,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def deleted(self, event: Cron.Deleted, tracking: Tracking) -> None:
        """The cron goes, and its links; the builds it created stay."""
        unlink = (
            f"DELETE FROM {self.view.t('cron_builds')} WHERE cron_id IN "
            f"(SELECT id FROM {self.view.t('crons')} WHERE aggregate_id = %s)"
        )
        delete = f"DELETE FROM {self.view.t('crons')} WHERE aggregate_id = %s"

        def change(c: Any) -> None:
            c.execute(unlink, (event.originator_id,))
            c.execute(delete, (event.originator_id,))

        self.view.write(tracking, change)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        detach(self.view, "crons", event.public_id, tracking)


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
        where = (
            "EXISTS (SELECT 1 FROM cron_builds cb WHERE cb.build_id = b.id "
            "AND cb.cron_id = %(cron)s)"
        )
        return self._page(where, {"cron": cron_id}, filters, page, per_page)
