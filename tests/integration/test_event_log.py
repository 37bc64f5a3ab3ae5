"""The event log without a table lock: followers never pass an id that may still commit.

Appends here are made by hand on connections of the test's own, so that the order of
commits can be chosen: one append takes an id and holds its transaction open while a later
one commits. Rows carry a topic no follower of marid reads.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.event_log import MaridRecorder

PROBE = "tests.event_log:Probe"
ORIGIN = Origin.system("test")


@pytest.fixture
def recorder(marid: Marid) -> MaridRecorder:
    """A follower's recorder whose horizon stands at the head before the test appends
    (not the process's: its horizon moves on wake-ups, which hand-made appends send none)."""
    follower = fresh(marid)
    assert probes(follower) == []
    return follower


@pytest.fixture
def connect(marid: Marid) -> Iterator[Any]:
    opened: list[psycopg.Connection[Any]] = []

    def make(autocommit: bool = False) -> psycopg.Connection[Any]:
        conn = psycopg.connect(marid.conninfo, autocommit=autocommit)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


def append(conn: psycopg.Connection[Any], count: int = 1) -> list[int]:
    """Draw ids as the recorder does (a transaction id first), without committing."""
    conn.execute("SELECT pg_current_xact_id()")
    rows = conn.execute(
        "INSERT INTO marid_events (originator_id, originator_version, topic, state) "
        "SELECT gen_random_uuid(), 1, %s, '\\x'::bytea FROM generate_series(1, %s) "
        "RETURNING notification_id",
        (PROBE, count),
    ).fetchall()
    return [int(row[0]) for row in rows]


def probes(recorder: MaridRecorder, after: int = 0) -> list[int]:
    found = recorder.select_notifications(after, 1000, topics=[PROBE], inclusive_of_start=False)
    return [n.id for n in found]


def fresh(marid: Marid) -> MaridRecorder:
    """A recorder as another process would have: a horizon of its own, from scratch."""
    return MaridRecorder(marid.datastore, events_table_name="marid_events")


def test_an_id_committed_after_a_later_one_is_never_passed(
    recorder: MaridRecorder, connect: Any
) -> None:
    early, late = connect(), connect()
    [first] = append(early)
    [second] = append(late)
    late.commit()
    assert second > first
    assert probes(recorder) == []  # the later id waits for the earlier one
    early.commit()
    assert probes(recorder) == [first, second]


def test_a_rolled_back_id_is_passed_once_its_append_ended(
    recorder: MaridRecorder, connect: Any
) -> None:
    doomed, late = connect(), connect()
    append(doomed, 3)
    [kept] = append(late)
    late.commit()
    assert probes(recorder) == []
    doomed.rollback()
    assert probes(recorder) == [kept]


def test_a_long_transaction_that_appends_nothing_holds_no_follower_back(
    recorder: MaridRecorder, connect: Any
) -> None:
    bystander = connect()
    bystander.execute("CREATE TEMP TABLE IF NOT EXISTS busy (x int)")
    bystander.execute("SELECT pg_current_xact_id()")  # writing, with a transaction id
    doomed, late = connect(), connect()
    append(doomed)
    [kept] = append(late)
    late.commit()
    assert probes(recorder) == []
    doomed.rollback()
    assert probes(recorder) == [kept]  # the bystander still runs
    bystander.rollback()


def test_a_new_follower_starts_behind_the_appends_running_when_it_starts(
    marid: Marid, connect: Any
) -> None:
    early, late = connect(), connect()
    [first] = append(early)
    [second] = append(late)
    late.commit()
    starting = fresh(marid)
    assert probes(starting) == []  # the head is known, but an append below it still runs
    early.commit()
    assert probes(starting) == [first, second]


def test_an_append_made_while_the_follower_waits_is_read_once_its_gap_closes(
    recorder: MaridRecorder, connect: Any
) -> None:
    early, late = connect(), connect()
    [first] = append(early)
    [second] = append(late)
    late.commit()
    assert probes(recorder) == []
    [third] = append(late)
    late.commit()
    early.commit()
    assert probes(recorder) == [first, second, third]
    assert probes(recorder, third) == []


def test_concurrent_appends_that_commit_and_roll_back_out_of_order_reach_a_follower_exactly_once(
    marid: Marid, connect: Any
) -> None:
    """Eight writers append, hold, and commit or roll back in random order while a
    follower reads after its position as the projection runners do; it must see every
    committed id once, in order, and nothing rolled back."""
    follower = fresh(marid)
    committed: list[int] = []
    guard = threading.Lock()
    done = threading.Event()
    rng = random.Random(19)
    seeds = [rng.random() for _ in range(8)]

    def write(seed: float) -> None:
        chance = random.Random(seed)
        conn = psycopg.connect(marid.conninfo)
        try:
            for _ in range(40):
                ids = append(conn, chance.randint(1, 3))
                threading.Event().wait(chance.random() * 0.004)
                if chance.random() < 0.2:
                    conn.rollback()
                    continue
                conn.commit()
                with guard:
                    committed.extend(ids)
        finally:
            conn.close()

    seen: list[int] = []

    def follow() -> None:
        position = 0
        while True:
            finished = done.is_set()
            batch = probes(follower, position)
            seen.extend(batch)
            if batch:
                position = batch[-1]
            elif finished:
                return

    writers = [threading.Thread(target=write, args=(seed,)) for seed in seeds]
    reader = threading.Thread(target=follow)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=60)
    assert not reader.is_alive()
    assert seen == sorted(committed)
    assert len(set(seen)) == len(seen)


def test_commands_saved_concurrently_reach_every_read_model(marid: Marid) -> None:
    """Sixteen threads register users and create namespaces through the application; the
    runners, batching what they read, show every one of them."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            user = marid.app.register_user(f"user{n}", f"u{n}@example.com", ORIGIN).value
            for i in range(5):
                marid.app.create_namespace(user, f"ns{i}", None, "", "private", ORIGIN)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    head = marid.app.recorder.max_notification_id() or 0
    assert marid.read_models.wait_until("namespaces", head, 30)
    assert marid.read_models.wait_until("users", head, 30)
    assert marid.users.count_users() == 16
    rows = marid.namespaces.fetch_all("SELECT count(*) AS n FROM namespaces")
    assert rows[0]["n"] == 80


def test_a_save_notifies_other_processes_after_its_commit(marid: Marid, connect: Any) -> None:
    listener = connect(autocommit=True)
    listener.execute("LISTEN marid_events")

    marid.app.register_user("ann", "ann@example.com", ORIGIN)

    assert len(list(listener.notifies(timeout=5, stop_after=1))) == 1


def test_a_conflicting_save_fails_whole_and_followers_pass_the_ids_it_took(
    marid: Marid, recorder: MaridRecorder
) -> None:
    from eventsourcing.persistence import IntegrityError

    from domain.index import Index

    first = Index(kind="probe", key="k", holder=1, origin=ORIGIN)
    twin = Index(kind="probe", key="k", holder=2, origin=ORIGIN)  # the same aggregate id
    marid.app.save(first)
    with pytest.raises(IntegrityError):
        marid.app.save(twin)
    later = Index(kind="probe", key="other", holder=3, origin=ORIGIN)
    [recording] = marid.app.save(later)

    assert recorder.horizon() >= recording.notification.id
    assert marid.app.repository.get(first.id).holder == 1


def test_the_newest_running_append_is_running_though_the_snapshot_lists_it_not(
    recorder: MaridRecorder, connect: Any
) -> None:
    """A snapshot's running list leaves out transactions at or past its xmax: the newest
    append still running is one of them until a newer transaction has finished."""
    older, newest = connect(), connect()
    older.execute("SELECT pg_current_xact_id()")
    newest.execute("SELECT pg_current_xact_id()")  # the newer transaction id
    [early] = append(newest)
    [late] = append(older)
    older.commit()  # the older one ends first: the newest still runs, past xmax
    assert late > early
    assert probes(recorder) == []
    assert probes(recorder) == []  # still held back on a second look
    newest.commit()
    assert probes(recorder) == [early, late]


def test_a_commit_without_notify_is_seen_within_the_idle_tick(marid: Marid, connect: Any) -> None:
    """A wake-up that never comes (a lost NOTIFY, a listener cut off) delays followers by
    at most the listener's idle tick."""
    rec = marid.app.recorder
    assert isinstance(rec, MaridRecorder)
    with rec.wakeups.listening():
        assert until_true(lambda: rec.log_horizon.listened)
        before = rec.horizon()
        conn = connect()
        [nid] = append(conn)
        conn.commit()  # no NOTIFY
        assert until_true(lambda: probes(rec, before) == [nid])


def test_a_catch_up_waits_for_appends_below_its_target_instead_of_stopping(
    marid: Marid, connect: Any
) -> None:
    """`catch_up` (the CLI's, and a rebuild's) reads until the log is final up to the
    head: an append still running below it is waited for, not taken for the end."""
    from types import SimpleNamespace

    from projections.maintenance import rebuild
    from projections.registry import PROJECTIONS

    user = marid.app.register_user("ann", "ann@example.com", ORIGIN).value
    for i in range(3):
        marid.app.create_namespace(user, f"ns{i}", None, "", "private", ORIGIN)
    head = marid.app.recorder.max_notification_id() or 0
    assert marid.read_models.wait_until("namespaces", head, 10)
    other = SimpleNamespace(recorder=fresh(marid), mapper=marid.app.mapper, name=marid.app.name)
    inflight = connect()
    append(inflight)  # another process is appending right now
    threading.Timer(0.5, inflight.commit).start()

    rebuild(other, marid.datastore, *PROJECTIONS["namespaces"], verify=False)  # type: ignore[arg-type]

    rows = marid.namespaces.fetch_all("SELECT count(*) AS n FROM namespaces")
    assert rows[0]["n"] == 3


def until_true(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_failing_event_fails_alone_after_the_events_before_it_in_its_batch(
    marid: Marid,
) -> None:
    """A batch that fails is applied again one event per transaction: the events before
    the failing one reach the read model, and the runner stops just before it."""
    from projections.runner import Runner

    marid.stop()  # the test's own runner follows the namespaces read model
    projection = marid.projections["namespaces"]
    handle = projection.process_event
    poison: list[Any] = []

    class Failing:
        name, view, topics = projection.name, projection.view, projection.topics

        def process_event(self, event: Any, tracking: Any) -> None:
            if getattr(event, "name", None) == "poison":
                poison.append(tracking.notification_id)
                raise RuntimeError("a handler that fails on this event")
            handle(event, tracking)

    user = marid.app.register_user("ann", "ann@example.com", ORIGIN).value
    for name in ("one", "two", "poison", "three"):
        marid.app.create_namespace(user, name, None, "", "private", ORIGIN)
    runner = Runner(marid.app, Failing(), marid.conninfo, retry_interval=0.1)  # type: ignore[arg-type]
    runner.start()
    try:
        assert until_true(lambda: len(poison) >= 2)  # in the batch, then alone
        assert runner.position < poison[0]
        rows = marid.namespaces.fetch_all("SELECT name FROM namespaces ORDER BY id")
        assert [row["name"] for row in rows] == ["one", "two"]
    finally:
        runner.stop()
