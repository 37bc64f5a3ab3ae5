"""Verified rebuilds: a rebuilt read model is compared with the live one at one log position
before the swap, and lag in seconds; on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from eventsourcing.persistence import Recording

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from projections.maintenance import rebuild, status, verify
from projections.namespaces import NamespacesProjection, NamespacesView
from projections.registry import PROJECTIONS
from projections.users import UsersProjection, UsersView
from projections.verify import VerificationError
from tests.conftest import wired
from tests.integration.test_projections import ORIGIN, all_rows, history, settle


@pytest.fixture
def idle(settings: Settings) -> Iterator[Marid]:
    """A second marid on the same database whose runners are never started."""
    instance = wired(settings)
    yield instance
    instance.close()


@pytest.fixture
def settled(marid: Marid) -> Marid:
    """A running marid whose read models hold a varied history."""
    settle(marid, history(marid))
    return marid


def corrupt(marid: Marid, sql: str) -> None:
    """Change a live table behind the projection's back, as a bug or an operator might."""
    with marid.datastore.transaction(commit=True) as curs:
        curs.execute(sql)


def test_verify_finds_every_healthy_read_model_equal_to_its_rebuild(settled: Marid) -> None:
    results = {
        name: verify(settled.app, settled.datastore, *classes)
        for name, classes in PROJECTIONS.items()
    }

    assert [name for name, result in results.items() if not result.equal] == []
    users = results["users"]
    assert users.position == settled.projections["users"].view.max_tracking_id("Marid")
    assert [check.table for check in users.tables] == ["users", "tokens", "apps"]
    assert [check.table for check in users.tables if check.live_rows == 0] == ["apps"]
    assert all(check.live_rows == check.rebuilt_rows for check in users.tables)
    with settled.datastore.transaction(commit=False) as curs:  # the shadows are gone
        curs.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_rb%'")
        assert curs.fetchall() == []


def test_verify_reports_a_deleted_row_with_counts_and_checksums(settled: Marid) -> None:
    corrupt(settled, "DELETE FROM tokens WHERE name = 'laptop'")

    result = verify(settled.app, settled.datastore, UsersProjection, UsersView)

    assert not result.equal
    (check,) = result.mismatches
    assert (check.table, check.live_rows, check.rebuilt_rows) == ("tokens", 2, 3)
    assert check.live_md5 != check.rebuilt_md5
    assert result.report()[1] == f"  {check.describe()}"
    assert "tokens: live 2 rows" in result.report()[1]


def test_verify_reports_a_changed_value_with_equal_counts(settled: Marid) -> None:
    corrupt(settled, "UPDATE namespaces SET description = 'edited by hand' WHERE path = 'proj'")

    result = verify(settled.app, settled.datastore, NamespacesProjection, NamespacesView)

    (check,) = result.mismatches
    assert check.table == "namespaces"
    assert check.live_rows == check.rebuilt_rows
    assert check.live_md5 != check.rebuilt_md5


def test_rebuild_refuses_to_swap_in_a_read_model_that_differs(settled: Marid) -> None:
    corrupt(settled, "DELETE FROM tokens WHERE name = 'laptop'")
    corrupted = all_rows(settled)

    with pytest.raises(VerificationError, match="tokens: live 2 rows") as raised:
        rebuild(settled.app, settled.datastore, UsersProjection, UsersView)

    assert raised.value.verification.mismatches[0].table == "tokens"
    assert all_rows(settled) == corrupted  # left as it was: the swap was refused
    with settled.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_rb%'")
        assert curs.fetchall() == []


def test_forced_rebuild_swaps_in_the_rebuilt_read_model(settled: Marid) -> None:
    healthy = all_rows(settled)
    corrupt(settled, "DELETE FROM tokens WHERE name = 'laptop'")

    rebuild(settled.app, settled.datastore, UsersProjection, UsersView, force=True)

    assert all_rows(settled) == healthy
    assert verify(settled.app, settled.datastore, UsersProjection, UsersView).equal


@pytest.fixture
def writing(settled: Marid) -> Iterator[list[Recording[UUID]]]:
    """Namespaces and users created from a thread for as long as the test runs."""
    app = settled.app
    owner = app.user_id_for("alice")
    assert owner is not None
    recordings: list[Recording[UUID]] = []
    stop = threading.Event()
    started = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            recordings.extend(
                app.create_namespace(owner, f"wns{i}", None, None, None, ORIGIN).recordings
            )
            recordings.extend(
                app.register_user(f"wuser{i}", f"wuser{i}@example.com", ORIGIN).recordings
            )
            started.set()
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    assert started.wait(30)
    try:
        yield recordings
    finally:
        stop.set()
        writer.join(timeout=60)


def test_verification_while_events_are_written_finds_no_difference(
    settled: Marid, writing: list[Recording[UUID]]
) -> None:
    before = len(writing)

    results = [
        verify(settled.app, settled.datastore, classes[0], classes[1])
        for classes in (PROJECTIONS["namespaces"], PROJECTIONS["users"]) * 2
    ]
    rebuilt = [
        rebuild(settled.app, settled.datastore, *PROJECTIONS[name])
        for name in ("namespaces", "users")
    ]

    assert [result.mismatches for result in results] == [[]] * 4
    assert all(applied > 0 for applied in rebuilt)
    assert len(writing) > before  # events were written meanwhile
    assert results[-1].position > results[1].position


def test_rebuild_reports_progress_up_to_the_total(settled: Marid) -> None:
    reports: list[tuple[int, int]] = []

    applied = rebuild(
        settled.app,
        settled.datastore,
        *PROJECTIONS["namespaces"],
        progress=lambda done, total: reports.append((done, total)),
    )

    assert reports[-1] == (applied, applied)
    assert all(done <= total for done, total in reports)


def test_status_reports_lag_in_seconds_from_event_times(settled: Marid, idle: Marid) -> None:
    settled.read_models.stop()
    caught_up = status(settled.app, settled.projections["users"])
    idle.app.register_user("dave", "dave@example.com", ORIGIN)
    idle.app.register_user("erin", "erin@example.com", ORIGIN)

    behind = status(settled.app, settled.projections["users"])

    def time_of(notification_id: int) -> float:
        (notification,) = settled.app.recorder.select_notifications(notification_id, 1)
        return settled.app.mapper.to_domain_event(notification).timestamp.timestamp()

    assert caught_up.lag_seconds == 0
    assert behind.lag == 2
    expected = time_of(behind.head) - time_of(behind.position)
    assert expected > 0
    assert behind.lag_seconds == pytest.approx(expected, abs=1e-3)
