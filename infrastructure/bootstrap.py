"""The composition root: `bootstrap()` wires marid together, `Marid` holds what it wired.

The steps are separate, as a process needs them: `bootstrap` does the wiring's I/O
(starts the embedded PostgreSQL when no URL is configured, reads or creates the secret
key, opens the connection pool); `Marid.migrate()` creates and upgrades tables;
`Marid.start()` starts the projection runners and the other followers; `close()` ends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

import psycopg
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresDatastore
from eventsourcing.projection import Projection

from application.app import MaridApplication
from application.core import Outcome, utcnow
from infrastructure.blob_sweeper import BlobSweeper
from infrastructure.blobs import blob_store
from infrastructure.build_inputs import ReadModelBuildInputs
from infrastructure.build_logs import BuildLogs
from infrastructure.cipher import AesGcmBox
from infrastructure.database import eventsourcing_env, start_embedded
from infrastructure.ids import PostgresIds
from infrastructure.leases import PostgresLeases
from infrastructure.migration_lock import migration_lock
from infrastructure.namespace_members import ReadModelNamespaceMembers
from infrastructure.passwords import Argon2Passwords
from infrastructure.scheduler import CronScheduler
from infrastructure.secret_key import load_secret_key
from infrastructure.settings import Settings
from infrastructure.sign_in_throttle import PostgresSignInThrottle
from projections.base import View, lock_key
from projections.builds import BuildQueries
from projections.crons import CronBuildQueries, CronQueries
from projections.follower_positions import create_positions_table
from projections.followers import create_gaps_table
from projections.images import ImageQueries
from projections.invites import InviteQueries
from projections.maintenance import catch_up, upgrade
from projections.namespace_queries import NamespaceQueries
from projections.read_models import ReadModels
from projections.registry import PROJECTIONS
from projections.resources import ResourceQueries
from projections.runner import Leadership, Runner
from projections.user_queries import UserQueries
from projections.webhooks import WebhookQueries

if TYPE_CHECKING:  # imported where used: workers and drivers are slow to import (docker)
    from infrastructure.downloads import Downloads
    from infrastructure.webhooks import WebhookDispatcher
    from infrastructure.webhooks.events import Payloads
    from infrastructure.worker import Worker, WorkerConfig

log = logging.getLogger("marid")
T = TypeVar("T")


def bootstrap(
    settings: Settings,
    *,
    conninfo: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Marid:
    """Wire a marid: connect to PostgreSQL (starting the embedded server when no URL is
    configured) and load the secret key. Creates no table (`Marid.migrate`) and starts
    nothing (`Marid.start`)."""
    conninfo = conninfo or settings.database_url or start_embedded(settings.data_dir)
    secret_key = load_secret_key(settings.secret_key, settings.data_dir)
    env = eventsourcing_env(conninfo, settings.pool_size)
    env["CREATE_TABLE"] = "no"  # the event store's tables too are made by `migrate`
    app = MaridApplication(env, clock=clock, secrets=AesGcmBox(secret_key))
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    app.ids = PostgresIds(datastore)
    app.leases = PostgresLeases(datastore)  # shared by every process's claims and workers
    app.passwords = Argon2Passwords()
    app.sign_in_throttle = PostgresSignInThrottle(datastore)  # shared by every API process
    app.session_lifetime = settings.session_lifetime
    return Marid(settings, app, conninfo=conninfo, secret_key=secret_key)


class Marid:
    """A wired marid: the application, the read models and their queries, and the
    followers this process runs. Built by `bootstrap`; constructing it does no I/O."""

    def __init__(
        self, settings: Settings, app: MaridApplication, *, conninfo: str, secret_key: bytes
    ) -> None:
        self.settings = settings
        self.app = app
        self.clock = app.clock
        self.conninfo = conninfo
        self.secret_key = secret_key
        self.datastore: PostgresDatastore = app.recorder.datastore  # type: ignore[attr-defined]
        self.projections: dict[str, Projection[View]] = {
            name: projection_class(view=view_class(self.datastore))
            for name, (projection_class, view_class) in PROJECTIONS.items()
        }
        self.read_models = ReadModels(app, self.projections.values())
        self.leadership = Leadership(conninfo)  # one connection for the leader locks
        self.users = UserQueries(self.datastore)
        self.namespaces = NamespaceQueries(self.datastore)
        self.invites = InviteQueries(self.datastore)
        self.variables = ResourceQueries(self.datastore, "variables", "key")
        self.keys = ResourceQueries(self.datastore, "keys", "name")
        self.objects = ResourceQueries(self.datastore, "objects", "name")
        self.blobs = blob_store(settings)  # MARID_BLOB_URL: a directory or S3
        self.blob_sweeper = BlobSweeper(
            self.blobs, self.datastore, self.read_models, app.recorder.max_notification_id
        )
        self.images = ImageQueries(self.datastore)
        self.builds = BuildQueries(self.datastore)
        self.build_inputs = ReadModelBuildInputs(self.datastore)
        self.namespace_members = ReadModelNamespaceMembers(self.datastore)
        self.build_logs = BuildLogs(self.datastore, conninfo)  # worker output, live
        self.crons = CronQueries(self.datastore)
        self.cron_builds = CronBuildQueries(self.datastore)
        self.webhooks = WebhookQueries(self.datastore)
        self.scheduler = CronScheduler(
            app, self.crons, self.build_inputs, settings.drivers, self.clock
        )
        self.workers: list[Worker] = []  # build workers this process runs (start_worker)
        self._webhook_payloads: Payloads | None = None
        self._started = False

    def migrate(self) -> None:
        """Create missing tables and rebuild read models whose tables are of an older shape.

        Long-running processes (`serve`, runners, workers) call it; one-shot commands run
        it only on a database that lacks a read model (`migrated()`). Any number of
        processes may call it at once: they take turns (`migration_lock`).
        """
        with migration_lock(self.conninfo):
            self._create_tables()

    def _create_tables(self) -> None:
        for recorder in self._event_recorders():
            recorder.create_table()
        create_gaps_table(self.datastore)
        create_positions_table(self.datastore)  # the workers' positions
        PostgresLeases(self.datastore).create_table()
        PostgresSignInThrottle(self.datastore).create_table()
        from infrastructure.webhooks.store import WebhookStore  # here: httpx is slow to import

        WebhookStore(self.datastore).create_table()  # the dispatcher's, not a read model
        for name, (projection_class, view_class) in PROJECTIONS.items():
            self.projections[name].view.create_table()
            upgrade(self.app, self.datastore, projection_class, view_class)
        self.build_logs.create_table()

    def migrated(self) -> bool:
        """Whether the event store's and every read model's tables exist (one query; their
        shape is not checked)."""
        names = [r.events_table_name for r in self._event_recorders()]
        names += [p.view.t(table) for p in self.projections.values() for table in p.view.tables]
        names += [p.view.tracking_table_name for p in self.projections.values()]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT count(*) AS missing FROM unnest(%s::text[]) AS name "
                "WHERE to_regclass(name) IS NULL",
                (names,),
            )
            row = curs.fetchone()
        return row is not None and row["missing"] == 0

    def _event_recorders(self) -> list[PostgresAggregateRecorder]:
        """The event store's recorders: events, and snapshots where the application takes
        them."""
        stores = [self.app.events, self.app.snapshots]
        return [s.recorder for s in stores if s is not None]  # type: ignore[misc]

    @cached_property
    def downloads(self) -> Downloads:
        """Image downloads (built on first use: httpx is slow to import, and one-shot
        commands download nothing)."""
        from infrastructure.downloads import Downloads

        return Downloads(self.app, self.blobs, self.images, self.read_models, self.settings)

    @cached_property
    def webhook_dispatcher(self) -> WebhookDispatcher:
        """The webhook dispatcher and senders (built on first use, as `downloads`)."""
        from infrastructure.webhooks import WebhookDispatcher

        s = self.settings
        dispatcher = WebhookDispatcher(
            self.app,
            self.app.secrets,
            self.datastore,
            self.conninfo,
            self.read_models,
            s,
            leadership=self.leadership,
        )
        if self._webhook_payloads is not None:  # the renderer a stopped one had
            dispatcher.install(self._webhook_payloads)
        return dispatcher

    def start(self) -> None:
        """Start a runner per projection (each waits to lead if another process leads),
        image downloads, and the scheduler and webhook delivery if the settings say so."""
        if self._started:
            return
        self._started = True
        for projection in self.projections.values():
            runner = Runner(self.app, projection, self.conninfo, leadership=self.leadership)
            self.read_models.attach(runner)
            runner.start()
        self.downloads.start()  # image downloads; claims make it safe in every process
        if self.settings.run_scheduler:
            self.scheduler.start()  # the Cron aggregate makes it safe in every process
        if self.settings.run_webhooks:
            self.webhook_dispatcher.start()  # once the API installs its payload renderer
        self.blob_sweeper.start(self.leadership, "marid:blob-sweeper")  # one process sweeps

    def settle(self, outcome: Outcome[T]) -> T:
        """Wait until the read models hold an outcome's events, then return its value;
        `NotSettledError` if one lags past `read_wait_timeout` (the write stands)."""
        self.read_models.settle(outcome.recordings, self.settings.read_wait_timeout)
        return outcome.value

    def settle_committed(self, outcome: Outcome[T], read_model: str) -> T:
        """Like `settle`, for an outcome that wrote nothing but names what an earlier
        request wrote (a repeated `Idempotency-Key`), perhaps still on its way: wait until
        `read_model` holds everything committed so far."""
        head = self.app.recorder.max_notification_id()
        if head:
            self.read_models.settle_until(read_model, head, self.settings.read_wait_timeout)
        return outcome.value

    def start_worker(
        self, config: WorkerConfig | None = None, drivers: tuple[str, ...] | None = None
    ) -> Worker:
        """Run a build worker in this process (`marid worker`, `marid serve`) for `drivers`
        (default: the enabled ones); `close()` stops it."""
        from infrastructure.drivers import factories
        from infrastructure.worker import Worker, WorkerConfig, default_name

        s = self.settings
        config = config or WorkerConfig(
            default_name(),
            s.worker_parallelism,
            s.worker_timeout,
            s.worker_lease,
            user_quota=s.user_quota,
        )
        worker = Worker(
            self.app,
            self.builds,
            self.blobs,
            self.build_logs,
            factories(s, drivers, self.images, self.blobs),
            config,
            self.conninfo,
            self.clock,
        )
        self.workers.append(worker)
        worker.start()
        return worker

    def stop(self) -> None:
        """Stop the followers this process runs (workers, webhook delivery, scheduler,
        downloads, projection runners); connections stay open. `start()` starts fresh
        ones, which take their positions from the database again."""
        for worker in self.workers:  # first: its builds still write output and events
            worker.stop()
        self.workers.clear()
        built = self.__dict__  # what cached_property built; the rest needs no stopping
        dispatcher: WebhookDispatcher | None = built.get("webhook_dispatcher")
        if dispatcher is not None and dispatcher.runner is None:
            dispatcher = None  # it never started: nothing to stop
        if dispatcher is not None:
            dispatcher.signal_stop()  # first: it may be waiting on a read model
        self.scheduler.stop()
        self.blob_sweeper.stop()
        downloads: Downloads | None = built.pop("downloads", None)
        if downloads is not None:
            downloads.stop()
        self.read_models.stop()
        stuck = self.read_models.still_running()
        if stuck:
            # They would keep leading from this process, and new runners on the same
            # connection would take the (reentrant) locks again: closing the connection
            # gives the locks up; the stuck runners find it closed and end.
            log.warning("runners %s did not stop in time; giving up their leadership", stuck)
            self.leadership.close()
            self.leadership = Leadership(self.conninfo)
        if dispatcher is not None:
            dispatcher.join()
            del built["webhook_dispatcher"]  # a stopped one cannot start again: the next
            self._webhook_payloads = dispatcher.payloads  # one, if any, gets its renderer
        self._started = False

    def close(self) -> None:
        self.stop()
        self.build_logs.close()
        self.leadership.close()  # after the runners: closing it gives up their locks
        close_recorder = getattr(self.app.recorder, "close", None)
        if close_recorder is not None:  # its LISTEN connection
            close_recorder()
        self.app.close()

    def catch_up(self) -> None:
        """Bring every read model up to date, for processes that run no runners (the CLI).

        Where another process leads a projection, wait for it; where none does, apply the
        pending events here, holding the leader lock meanwhile.
        """
        for name, projection in self.projections.items():
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                key = lock_key(f"marid:projection:{name}")
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row is not None and row[0]:
                    catch_up(self.app, projection)
                    continue
            head = self.app.recorder.max_notification_id() or 0
            self.read_models.wait_until(name, head, self.settings.read_wait_timeout)
