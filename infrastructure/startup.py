"""Start-up against a database that may not answer yet: retry, say so, give up in time.

PostgreSQL refuses connections while it starts, restarts or has no connection slot left
(`too many clients`). A process that starts then should wait for it, logging each retry,
and exit with one line when it stays unreachable past a bound (`MARID_STARTUP_TIMEOUT`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

log = logging.getLogger("marid.startup")
T = TypeVar("T")

# Errors that mean "no connection", as psycopg raises them and as eventsourcing wraps them
# (psycopg_pool's PoolTimeout is a psycopg.OperationalError).
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OperationalError,
    InterfaceError,
)
FIRST_DELAY = 0.5  # seconds; doubles per retry up to MAX_DELAY
MAX_DELAY = 5.0
PROBE_TIMEOUT = 5  # seconds for one direct connection attempt


class DatabaseUnreachableError(Exception):
    """Raised when PostgreSQL stays unreachable for the whole start-up bound."""


class Startup:
    """Runs start-up steps, retrying connection errors with backoff until `timeout`
    seconds after it was made; then `DatabaseUnreachableError` with the last reason."""

    def __init__(
        self,
        timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Where the database is, once known: a pool's timeout is explained by a direct
        # connection attempt.
        self.conninfo: str | None = None
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + timeout

    def connect(self, conninfo: str) -> None:
        """Wait until PostgreSQL at `conninfo` accepts a connection (one at a time, each
        failing fast: a pool would wait its whole timeout on every attempt)."""
        self.conninfo = conninfo

        def probe() -> None:
            with psycopg.connect(conninfo, connect_timeout=PROBE_TIMEOUT):
                pass

        self.run("connecting", probe)

    def run(self, what: str, step: Callable[[], T]) -> T:
        """`step()`, again after each connection error while time remains; `what` says
        in the log what it was doing ("creating tables")."""
        delay = FIRST_DELAY
        attempt = 1
        while True:
            try:
                return step()
            except CONNECTION_ERRORS as exc:
                reason = self.reason(exc)
                left = self.deadline - self.clock()
                if left <= 0:
                    raise DatabaseUnreachableError(
                        f"PostgreSQL is unreachable ({reason}) while {what}; "
                        f"gave up after {self.timeout:g} s (MARID_STARTUP_TIMEOUT)"
                    ) from None
                wait = min(delay, left)
                log.warning(
                    "PostgreSQL is unreachable while %s (%s); retry %d in %.1f s",
                    what,
                    reason,
                    attempt,
                    wait,
                )
                self.sleep(wait)
                delay = min(delay * 2, MAX_DELAY)
                attempt += 1

    def reason(self, exc: Exception) -> str:
        """The server's own words: a pool only says it got no connection in time, so
        connect once directly to learn why."""
        conninfo = self.conninfo
        if conninfo is not None and "couldn't get a connection" in str(exc):
            try:
                with psycopg.connect(conninfo, connect_timeout=PROBE_TIMEOUT):
                    pass
            except psycopg.Error as probe:
                exc = probe
        return one_line(str(exc)) or type(exc).__name__


def one_line(message: str) -> str:
    """A libpq message on one line (`FATAL:  sorry, too many clients already`)."""
    return " ".join(message.split())
