"""Start-up retries: connection errors are retried with backoff and a log line each, then
given up with one sentence once the bound has passed."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from infrastructure.settings import Settings, SettingsError
from infrastructure.startup import DatabaseUnreachableError, Startup
from ops.serve import write_secret


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def step() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, step


def test_connection_errors_are_retried_with_backoff_and_a_log_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    startup = Startup(30.0, clock=time.clock, sleep=time.sleep)
    calls, step = failing(3, psycopg.OperationalError("FATAL:  sorry, too many clients already"))

    with caplog.at_level(logging.WARNING, "marid.startup"):
        result = startup.run("creating tables", step)  # type: ignore[arg-type]

    assert result == "done"
    assert len(calls) == 4
    assert time.slept == [0.5, 1.0, 2.0]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0] == (
        "PostgreSQL is unreachable while creating tables "
        "(FATAL: sorry, too many clients already); retry 1 in 0.5 s"
    )


def test_a_database_unreachable_past_the_bound_gives_one_sentence() -> None:
    time = FakeTime()
    startup = Startup(4.0, clock=time.clock, sleep=time.sleep)
    _, step = failing(100, OperationalError("connection refused\n\tIs the server running?"))

    with pytest.raises(DatabaseUnreachableError) as raised:
        startup.run("connecting", step)  # type: ignore[arg-type]

    assert str(raised.value) == (
        "PostgreSQL is unreachable (connection refused Is the server running?) while "
        "connecting; gave up after 4 s (MARID_STARTUP_TIMEOUT)"
    )
    assert sum(time.slept) == pytest.approx(4.0)  # the last wait ends at the bound
    assert "\n" not in str(raised.value)


def test_other_errors_are_not_retried() -> None:
    time = FakeTime()
    startup = Startup(30.0, clock=time.clock, sleep=time.sleep)
    calls, step = failing(1, ValueError("a bug, not an outage"))

    with pytest.raises(ValueError, match="a bug"):
        startup.run("connecting", step)  # type: ignore[arg-type]

    assert len(calls) == 1
    assert time.slept == []


def test_secret_file_is_replaced_whole_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "data" / "admin-token"
    write_secret(path, "old")

    write_secret(path, "new")

    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["admin-token"]  # no temporary left


def test_settings_read_the_startup_bound() -> None:
    assert Settings.from_env({"MARID_DRIVERS": "os"}).startup_timeout == 30.0
    env = {"MARID_DRIVERS": "os", "MARID_STARTUP_TIMEOUT": "2.5"}
    assert Settings.from_env(env).startup_timeout == 2.5
    with pytest.raises(SettingsError, match="MARID_STARTUP_TIMEOUT"):
        Settings.from_env({"MARID_DRIVERS": "os", "MARID_STARTUP_TIMEOUT": "soon"})
