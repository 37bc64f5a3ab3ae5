"""One lock around schema creation, so that any number of processes may migrate at once.

`CREATE TABLE/INDEX/TYPE IF NOT EXISTS` is not safe against itself: two sessions that both
find the name free both create it, and the second fails (`type "x_tracking" already
exists`: the table's row type). `Marid.migrate` therefore runs under one session advisory
lock, held on a connection of its own so that the migration's own transactions (on the
pool) are not affected by it: processes started together migrate one after the other, and
those that come later find every table there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from projections.base import lock_key

log = logging.getLogger("marid.migrate")

MIGRATION_LOCK = lock_key("marid:migrate")


@contextmanager
def migration_lock(conninfo: str) -> Iterator[None]:
    """Hold the migration lock while the block runs (waits while another process holds it).

    Closing the connection releases the lock, also when the process dies mid-migration.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        held = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,)).fetchone()
        if not (held and held[0]):
            log.info("another process is migrating the database; waiting for it")
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            yield
        finally:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
