"""Every follower of the event log, as `marid projections status` and `/metrics` show them,
the same from any process: the read models and the webhook dispatcher (their tracking
tables) and the build workers of every process (`follower_positions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infrastructure.webhooks import dispatcher_status
from projections.follower_positions import Reported, reported
from projections.maintenance import Status, position_status, status

if TYPE_CHECKING:
    from infrastructure.bootstrap import Marid


@dataclass(frozen=True)
class Follower:
    status: Status
    report: Reported | None = None  # where its position comes from a report (workers)

    @property
    def reported(self) -> str:
        """When it last reported and whether it runs, for people ("-": a tracking table)."""
        if self.report is None:
            return "-"
        ago = f"{_duration(self.report.age)} ago"
        return ago if self.report.state == "running" else f"{ago}, {self.report.state}"


def followers(marid: Marid, *, stopped: bool = True) -> list[Follower]:
    """Every follower; workers that stopped cleanly only with `stopped` (their position
    no longer moves: `/metrics` leaves them out rather than count their growing lag)."""
    head = marid.app.recorder.max_notification_id() or 0  # read once for every row
    rows = [Follower(status(marid.app, p, head=head)) for p in marid.projections.values()]
    rows.append(Follower(dispatcher_status(marid.app, marid.datastore, head)))
    local = {worker.follower_name: worker for worker in marid.workers}
    for report in reported(marid.datastore):
        worker = local.pop(report.name, None)
        if worker is not None:  # this process knows a newer position than its last report
            rows.append(Follower(worker.status(), report))
            continue
        if report.stopped and not stopped:
            continue
        found = position_status(
            marid.app, marid.datastore, report.name, report.position, report.topics, head=head
        )
        rows.append(Follower(found, report))
    for worker in local.values():  # started here, not yet reported
        report = Reported(worker.follower_name, worker.position, (), 0.0, stopped=False)
        rows.append(Follower(worker.status(), report))
    return rows


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"
