"""Processes that start together on a fresh database all migrate it (issue 16)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from infrastructure.bootstrap import bootstrap
from infrastructure.database import with_database
from tests.conftest import settings_for

STARTING = 4


@pytest.fixture
def fresh_database(pg_server: str) -> Iterator[str]:
    """A database with no table at all, dropped after the test."""
    name = f"marid_fresh_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_processes_starting_together_all_migrate(fresh_database: str, tmp_path: Path) -> None:
    start = threading.Barrier(STARTING)
    failures: list[BaseException] = []

    def start_process(index: int) -> None:
        (tmp_path / str(index)).mkdir()
        settings = replace(settings_for(fresh_database, tmp_path / str(index)), pool_size=2)
        instance = bootstrap(settings)
        try:
            start.wait(timeout=30)
            instance.migrate()
            assert instance.migrated()
        except BaseException as exc:  # collected: pytest sees no thread's exception
            failures.append(exc)
        finally:
            instance.close()

    threads = [threading.Thread(target=start_process, args=(i,)) for i in range(STARTING)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
