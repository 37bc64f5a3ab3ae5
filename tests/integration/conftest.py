"""Fixtures the integration tests share (the shared ones of every test are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict

from infrastructure.settings import Settings


@pytest.fixture
def datastore(settings: Settings) -> Iterator[PostgresDatastore]:
    """A pool of two connections on the test database, emptied by `settings`."""
    assert settings.database_url is not None
    params = conninfo_to_dict(settings.database_url)
    store = PostgresDatastore(
        dbname=str(params["dbname"]),
        host=str(params.get("host") or "127.0.0.1"),
        port=str(params.get("port") or 5432),
        user=str(params.get("user") or "postgres"),
        password=str(params.get("password") or ""),
        pool_size=2,
    )
    yield store
    store.close()
