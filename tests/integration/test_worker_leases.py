"""Build leases on PostgreSQL: heartbeats outside the event log, takeovers that race renewals,
and workers that race for an expired build.

A race is made deterministic by holding one party's statement open in a transaction of
the test's own: the other party's statement waits on the row lock, and sees the first
party's change once it commits (`second_of_two`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from application.execution import RunPlan
from domain.builds import Build, LostClaim
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.leases import TABLE, PostgresLeases
from tests.worker_support import until

ORIGIN = Origin.system("test")
LEASE = timedelta(minutes=5)
EXPIRED = timedelta(seconds=-1)  # a lease that has already run out: the holder "died"
MANIFEST = "driver: {type: os}\nstages: [s]\njobs:\n- stage: s\n  commands: [make]\n"


@pytest.fixture
def leases(marid: Marid) -> PostgresLeases:
    leases = PostgresLeases(marid.datastore)
    leases.create_table()
    marid.app.leases = leases
    return leases


@pytest.fixture
def owner(marid: Marid) -> int:
    return int(marid.settle(marid.app.register_user("alice", "alice@example.com", ORIGIN)))


def submit(marid: Marid, owner: int) -> int:
    outcome = marid.app.submit_build(
        owner, MANIFEST, None, None, ("os",), marid.build_inputs, ORIGIN
    )
    return int(marid.settle(outcome))


def claim(marid: Marid, build_id: int, worker: str, lease: timedelta = LEASE) -> RunPlan | None:
    origin = Origin.system(f"worker:{worker}")
    return marid.settle(marid.app.claim_build(build_id, worker, lease, origin))


def claimed(marid: Marid, build_id: int, worker: str, lease: timedelta = LEASE) -> RunPlan:
    plan = claim(marid, build_id, worker, lease)
    assert plan is not None
    return plan


def event_names(marid: Marid, build_id: int) -> list[str]:
    events = marid.app.repository.event_store.get(Build.create_id(build_id))
    return [type(event).__name__ for event in events]


def raw_lease(marid: Marid, build_id: int) -> list[dict[str, Any]]:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT * FROM {TABLE} WHERE build_id = %s", (build_id,))
        return [dict(row) for row in curs.fetchall()]


def second_of_two(
    marid: Marid, first: str, params: tuple[Any, ...], second: Callable[[], bool]
) -> bool:
    """Run the statement `first` in a transaction of the test's own, start `second` while it
    is open, and commit `first` once `second` waits for its row lock: what `second` says."""
    with psycopg.connect(marid.conninfo) as conn, ThreadPoolExecutor(1) as pool:
        conn.execute(first, params)
        pending = pool.submit(second)
        until(lambda: waiting_on_a_lock(marid), 10, "the second statement to wait for the first")
        conn.commit()
        return pending.result(timeout=10)


def waiting_on_a_lock(marid: Marid) -> bool:
    """Whether a statement on the leases waits for a row lock (another's transaction)."""
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            (f"%{TABLE}%",),
        )
        row = curs.fetchone()
    return row is not None and row["waiting"] > 0


# --- the store -----------------------------------------------------------------------------


def test_creating_the_table_twice_at_once_is_harmless(marid: Marid) -> None:
    leases = PostgresLeases(marid.datastore)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: leases.create_table(), range(2)))
    leases.create_table()

    assert leases.acquire(1, "c", datetime.now(UTC), datetime.now(UTC))


def test_a_lease_is_held_renewed_and_released_by_its_claim_only(leases: PostgresLeases) -> None:
    now = datetime.now(UTC)

    assert leases.acquire(7, "mine", now + LEASE, now)
    assert not leases.acquire(7, "theirs", now + LEASE, now)  # mine lives
    assert leases.acquire(7, "mine", now + LEASE, now)  # mine again: a retried claim
    assert leases.renew(7, "mine", now + LEASE * 2)
    assert not leases.renew(7, "theirs", now + LEASE * 2)
    assert leases.expiry(7, "mine") == now + LEASE * 2
    assert leases.expiry(7, "theirs") is None
    leases.release(7, "theirs")
    assert leases.expiry(7, "mine") == now + LEASE * 2
    leases.release(7, "mine")
    assert leases.expiry(7, "mine") is None
    assert not leases.renew(7, "mine", now + LEASE)  # released: nothing to renew


def test_an_expired_lease_is_taken_over_and_its_old_claim_cannot_renew(
    leases: PostgresLeases,
) -> None:
    now = datetime.now(UTC)
    leases.acquire(7, "dead", now - timedelta(seconds=1), now - LEASE)

    assert leases.acquire(7, "alive", now + LEASE, now)
    assert not leases.renew(7, "dead", now + LEASE)
    assert leases.expiry(7, "alive") == now + LEASE


def test_a_takeover_racing_a_renewal_finds_the_renewed_lease(
    marid: Marid, leases: PostgresLeases
) -> None:
    now = datetime.now(UTC)
    leases.acquire(7, "late", now - timedelta(seconds=1), now - LEASE)
    renewal = f"UPDATE {TABLE} SET lease_until = %s WHERE build_id = 7"

    taken = second_of_two(
        marid, renewal, (now + LEASE,), lambda: leases.acquire(7, "rival", now + LEASE, now)
    )

    assert taken is False
    assert leases.expiry(7, "late") == now + LEASE


def test_a_renewal_racing_a_takeover_is_refused(marid: Marid, leases: PostgresLeases) -> None:
    now = datetime.now(UTC)
    leases.acquire(7, "late", now - timedelta(seconds=1), now - LEASE)
    takeover = f"UPDATE {TABLE} SET claim = 'rival', lease_until = %s WHERE build_id = 7"

    renewed = second_of_two(
        marid, takeover, (now + LEASE,), lambda: leases.renew(7, "late", now + LEASE * 2)
    )

    assert renewed is False
    assert leases.expiry(7, "rival") == now + LEASE


# --- claims and renewals through the application ---------------------------------------------


def test_a_renewal_is_a_heartbeat_not_an_event(
    marid: Marid, owner: int, leases: PostgresLeases
) -> None:
    build_id = submit(marid, owner)
    plan = claimed(marid, build_id, "w1")
    before = event_names(marid, build_id)
    (row,) = raw_lease(marid, build_id)

    outcome = marid.app.renew_lease(build_id, plan.claim, LEASE * 2, Origin.system("worker:w1"))

    assert (outcome.value, outcome.recordings) == (False, [])
    assert event_names(marid, build_id) == before == ["Submitted", "Claimed"]
    renewed = leases.expiry(build_id, plan.claim)
    assert renewed is not None
    assert renewed > row["lease_until"] + LEASE / 2


def test_a_live_heartbeat_keeps_a_build_from_orphaning_and_from_the_sweep(
    marid: Marid, owner: int, leases: PostgresLeases
) -> None:
    build_id = submit(marid, owner)
    plan = claimed(marid, build_id, "w1", EXPIRED)  # the lease its claim recorded ran out
    marid.app.renew_lease(build_id, plan.claim, LEASE, Origin.system("worker:w1"))
    now = datetime.now(UTC)

    offered = marid.builds.claimable(["os"], now, 10)
    taken = claim(marid, build_id, "w2")

    assert (offered, taken) == ([], None)
    assert marid.builds.claimable(["os"], now + LEASE * 2, 10) == [build_id]
    assert event_names(marid, build_id) == ["Submitted", "Claimed"]


def test_a_heartbeat_of_a_worker_whose_lease_was_taken_over_is_refused(
    marid: Marid, owner: int, leases: PostgresLeases
) -> None:
    build_id = submit(marid, owner)
    plan = claimed(marid, build_id, "w1", EXPIRED)
    now = datetime.now(UTC)
    # Another worker took the lease over (and died before it saved its claim).
    assert leases.acquire(build_id, "theirs", now + LEASE, now)

    with pytest.raises(LostClaim):
        marid.app.renew_lease(build_id, plan.claim, LEASE, Origin.system("worker:w1"))
    assert claim(marid, build_id, "w3") is None  # their lease lives


def test_of_workers_racing_for_expired_builds_exactly_one_claims_each(
    marid: Marid, owner: int, leases: PostgresLeases
) -> None:
    builds = [submit(marid, owner) for _ in range(6)]
    for build_id in builds:
        claimed(marid, build_id, "dead", EXPIRED)
    workers = ["w1", "w2", "w3"]
    start = threading.Barrier(len(workers))

    def race(worker: str) -> list[RunPlan | None]:
        start.wait()
        origin = Origin.system(f"worker:{worker}")
        return [marid.app.claim_build(b, worker, LEASE, origin).value for b in builds]

    with ThreadPoolExecutor(len(workers)) as pool:
        results = list(pool.map(race, workers))

    for i, build_id in enumerate(builds):
        winners = [plans[i] for plans in results if plans[i] is not None]
        assert len(winners) == 1, build_id
        (winner,) = winners
        assert winner.orphaned
        names = event_names(marid, build_id)
        assert names.count("Claimed") == 2  # the dead worker's and the winner's
        assert names.count("Orphaned") == 1
        assert leases.expiry(build_id, winner.claim) is not None


def test_a_worker_whose_clock_runs_an_hour_ahead_cannot_take_a_live_lease_over(
    marid: Marid, owner: int, leases: PostgresLeases
) -> None:
    build_id = submit(marid, owner)
    plan = claimed(marid, build_id, "w1")
    held_until = leases.expiry(build_id, plan.claim)
    marid.app.clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # the other machine's

    taken = claim(marid, build_id, "ahead")

    assert taken is None
    assert leases.expiry(build_id, plan.claim) == held_until
    assert event_names(marid, build_id) == ["Submitted", "Claimed"]


def test_a_worker_whose_clock_runs_behind_records_and_renews_leases_on_database_time(
    marid: Marid, owner: int, leases: PostgresLeases
) -> None:
    build_id = submit(marid, owner)
    marid.app.clock = lambda: datetime.now(UTC) - timedelta(hours=1)  # this machine's

    plan = claimed(marid, build_id, "behind")
    db_now = leases.now()

    held_until = leases.expiry(build_id, plan.claim)
    assert held_until is not None
    assert abs(held_until - (db_now + LEASE)) < timedelta(minutes=1)  # not an hour early
    recorded = marid.app.repository.get(Build.create_id(build_id))
    assert abs(recorded.lease_until - (db_now + LEASE)) < timedelta(minutes=1)
    marid.settle(marid.app.renew_lease(build_id, plan.claim, LEASE, ORIGIN))
    renewed = leases.expiry(build_id, plan.claim)
    assert renewed is not None
    assert renewed >= held_until
    assert claim(marid, build_id, "other") is None  # still live by the database's clock
