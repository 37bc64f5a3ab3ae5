"""Public ids from PostgreSQL sequences, one per resource kind."""

from __future__ import annotations

import re
import threading

from eventsourcing.postgres import PostgresDatastore

KIND_RE = re.compile(r"^[a-z_]+$")


class PostgresIds:
    """Implements the IdAllocator port with `nextval` on `marid_<kind>_ids`."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self._created: set[str] = set()
        self._lock = threading.Lock()

    def next_id(self, kind: str) -> int:
        if not KIND_RE.match(kind):
            raise ValueError(f"bad id kind {kind!r}")
        sequence = f"marid_{kind}_ids"
        with self.datastore.transaction(commit=True) as curs:
            if kind not in self._created:
                curs.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
                with self._lock:
                    self._created.add(kind)
            curs.execute("SELECT nextval(%s::regclass) AS id", (sequence,))
            row = curs.fetchone()
        assert row is not None
        return int(row["id"])
