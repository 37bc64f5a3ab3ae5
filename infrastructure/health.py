"""Readiness: PostgreSQL answers and no read model lags too far behind the event log."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import PersistenceError

from infrastructure.bootstrap import Marid
from projections.maintenance import status

# Seconds a readiness probe waits for a database connection: probes have short timeouts.
DATABASE_TIMEOUT = 2.0


def unready_reasons(marid: Marid, max_lag: int) -> list[str]:
    """Why this process should not take traffic; empty when it is ready.

    A read model is ready while fewer than `max_lag` of its events wait to be applied
    (the lag `marid projections status` shows).
    """
    try:
        with marid.datastore.pool.connection(timeout=DATABASE_TIMEOUT) as conn:
            conn.execute("SELECT 1")
        head = marid.app.recorder.max_notification_id() or 0
        rows = [
            status(marid.app, p, head=head, with_gaps=False) for p in marid.projections.values()
        ]
    except (psycopg.Error, PersistenceError) as exc:
        return [f"database: {first_line(exc)}"]
    return [
        f"projection {row.name} lags {row.lag} events (MARID_READY_MAX_LAG is {max_lag})"
        for row in rows
        if row.lag >= max_lag
    ]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
