"""Public ids from PostgreSQL sequences, one per resource kind."""

from __future__ import annotations

import re
import threading

from eventsourcing.postgres import PostgresDatastore

from projections.base import lock_key

KIND_RE = re.compile(r"[a-z_]+")


class PostgresIds:
    """Implements the IdAllocator port with `nextval` on `marid_<kind>_ids`."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self._created: set[str] = set()
        self._lock = threading.Lock()

    def next_id(self, kind: str) -> int:
        return self.next_ids(kind, 1)[0]

    def next_ids(self, kind: str, n: int) -> list[int]:
        """`n` ids from one query (`nextval` over `generate_series`), in increasing order."""
        if not KIND_RE.fullmatch(kind):
            raise ValueError(f"bad id kind {kind!r}")
        if n <= 0:
            return []
        sequence = f"marid_{kind}_ids"
        with self._lock:
            created = kind in self._created
        draw = "SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s) ORDER BY 1"
        if created:  # one statement: sequences are not transactional, so no BEGIN/COMMIT
            with self.datastore.get_connection() as conn:
                rows = conn.execute(draw, (sequence, n)).fetchall()
        else:
            with self.datastore.transaction(commit=True) as curs:
                # CREATE SEQUENCE IF NOT EXISTS races with itself (a unique violation in
                # pg_class) when two processes create the same sequence at once.
                curs.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(f"marid:ids:{kind}"),))
                curs.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
                curs.execute(draw, (sequence, n))
                rows = curs.fetchall()
        if not created:
            with self._lock:  # only once committed: a rolled-back CREATE created nothing
                self._created.add(kind)
        return [int(row["id"]) for row in rows]
