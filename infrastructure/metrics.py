"""Prometheus metrics: requests counted as they are served, the rest read at scrape time.

Each app has a registry of its own (not prometheus-client's global one), so that two apps
in one process (tests) never share or collide. What the database knows (builds queued and
running, build durations, webhook deliveries, projection lag, the pool) is read when
Prometheus scrapes, so every marid process reports the same, whichever ran the work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from infrastructure.followers import Follower, followers

if TYPE_CHECKING:
    from infrastructure.bootstrap import Marid

log = logging.getLogger("marid.metrics")

# Label values for what a client may send freely: bounded, whatever the requests.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the route label of requests no route handled (404, 429)
# Seconds; builds take from seconds to hours.
BUILD_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


class HttpMetrics:
    """Requests by method, route template and status, and their latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "marid_http_requests",
            "HTTP requests served, by route template and status",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "marid_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response starts), by route template",
            ("method", "route"),
            registry=registry,
        )
        # Children by label values: one dict lookup per request instead of the library's
        # label validation; the keys are bounded by routes x methods x statuses.
        self._counters: dict[tuple[str, str, int], Callable[[], None]] = {}
        self._timers: dict[tuple[str, str], Callable[[float], None]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "other"
        count = self._counters.get((method, route, status))
        if count is None:
            count = self.requests.labels(method, route, str(status)).inc
            self._counters[(method, route, status)] = count
        count()
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self.latency.labels(method, route).observe
            self._timers[(method, route)] = timer
        timer(seconds)


class ReadModelCollector(Collector):
    """What the database holds, read at scrape time."""

    def __init__(self, marid: Callable[[], Marid | None]) -> None:
        self._marid = marid

    def collect(self) -> Iterator[Metric]:
        marid = self._marid()
        if marid is None:  # the app has not started yet
            return
        started = time.perf_counter()
        yield from builds_metrics(marid)
        yield from webhook_metrics(marid)
        yield from follower_metrics(followers(marid, stopped=False))
        yield from pool_metrics(marid)
        scrape = GaugeMetricFamily(
            "marid_metrics_collect_seconds", "Time spent reading the database for this scrape"
        )
        scrape.add_metric([], time.perf_counter() - started)
        yield scrape


def builds_metrics(marid: Marid) -> Iterator[Metric]:
    with marid.datastore.transaction(commit=False) as curs:
        # The partial index on unfinished builds answers this without a table scan.
        curs.execute(
            "SELECT status, count(*) AS n FROM builds "
            "WHERE status IN ('queued', 'running') GROUP BY status"
        )
        counts = {row["status"]: int(row["n"]) for row in curs.fetchall()}
        curs.execute(
            "SELECT status, count(*) AS n, "
            "coalesce(sum(extract(epoch FROM finished_at - started_at)), 0) AS total, "
            "array[" + ", ".join(f"count(*) FILTER (WHERE d <= {b})" for b in BUILD_BUCKETS) + "] "
            "AS buckets FROM (SELECT status, started_at, finished_at, "
            "extract(epoch FROM finished_at - started_at) AS d FROM builds "
            "WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) ended GROUP BY status"
        )
        ended = curs.fetchall()
    builds = GaugeMetricFamily("marid_builds", "Builds not yet ended, by status", labels=["status"])
    for state in ("queued", "running"):
        builds.add_metric([state], counts.get(state, 0))
    yield builds
    durations = HistogramMetricFamily(
        "marid_build_duration_seconds",
        "How long ended builds ran (start to end), by how they ended",
        labels=["status"],
    )
    for row in ended:
        edges = [str(b) for b in BUILD_BUCKETS]
        cumulative = [int(n) for n in row["buckets"]]
        buckets = [*zip(edges, cumulative, strict=True), ("+Inf", int(row["n"]))]
        durations.add_metric([row["status"]], buckets, float(row["total"]))
    yield durations


def webhook_metrics(marid: Marid) -> Iterator[Metric]:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status")
        counts = {row["status"]: int(row["n"]) for row in curs.fetchall()}
    deliveries = GaugeMetricFamily(
        "marid_webhook_deliveries",
        "Webhook deliveries kept in the outbox, by result (pending: not yet delivered)",
        labels=["result"],
    )
    for result in ("delivered", "failed", "pending"):
        deliveries.add_metric([result], counts.get(result, 0))
    yield deliveries


def follower_metrics(rows: list[Follower]) -> Iterator[Metric]:
    """Each follower's position, head, lag and gaps; workers that stopped cleanly are left
    out (`marid projections status` still lists them for a day)."""
    position = GaugeMetricFamily(
        "marid_projection_position", "Last event applied", labels=["projection"]
    )
    head = GaugeMetricFamily(
        "marid_projection_head", "Newest event in the log", labels=["projection"]
    )
    lag = GaugeMetricFamily(
        "marid_projection_lag_events", "Events of interest not yet applied", labels=["projection"]
    )
    missing = GaugeMetricFamily(
        "marid_projection_gaps_missing",
        "Notification ids missing just below the position (rolled-back inserts: normal)",
        labels=["projection"],
    )
    skipped = CounterMetricFamily(
        "marid_projection_gaps_skipped",
        "Events that committed after the follower had passed their id (data loss)",
        labels=["projection"],
    )
    age = GaugeMetricFamily(
        "marid_follower_report_age_seconds",
        "Seconds since a worker last reported its position (every few seconds while it "
        "runs: a growing value means it is gone)",
        labels=["projection"],
    )
    for follower in rows:
        row, report = follower.status, follower.report
        if report is not None and report.stopped:
            continue
        position.add_metric([row.name], row.position)
        head.add_metric([row.name], row.head)
        lag.add_metric([row.name], row.lag)
        missing.add_metric([row.name], row.missing)
        skipped.add_metric([row.name], row.skipped)
        if report is not None:
            age.add_metric([row.name], report.age)
    yield from (position, head, lag, missing, skipped, age)


def pool_metrics(marid: Marid) -> Iterator[Metric]:
    stats = marid.datastore.pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    connections = GaugeMetricFamily(
        "marid_db_pool_connections", "Connections of the database pool", labels=["state"]
    )
    connections.add_metric(["in_use"], size - idle)
    connections.add_metric(["idle"], idle)
    yield connections
    limit = GaugeMetricFamily("marid_db_pool_max_connections", "Most connections the pool opens")
    limit.add_metric([], stats.get("pool_max", 0))
    yield limit
    waiting = GaugeMetricFamily(
        "marid_db_pool_waiting_requests", "Requests waiting for a connection of the pool"
    )
    waiting.add_metric([], stats.get("requests_waiting", 0))
    yield waiting


def new_registry(marid: Callable[[], Marid | None]) -> tuple[CollectorRegistry, HttpMetrics]:
    """A registry with the HTTP metrics and the read-model collector."""
    registry = CollectorRegistry(auto_describe=False)
    http = HttpMetrics(registry)
    registry.register(ReadModelCollector(marid))
    return registry, http
