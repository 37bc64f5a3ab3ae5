"""The table `ceilings.py` prints: each path's marid figure, its ceiling, the ratio, and
issue 19's goal for it (Markdown, to paste into bench/README.md)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from append import AppendFigures
from loadtools import WrkRun


@dataclass
class Pair:
    """The rounds of one path on marid and on its ceiling (the hello-world app)."""

    marid: list[WrkRun] = field(default_factory=list)
    ceiling: list[WrkRun] = field(default_factory=list)


@dataclass
class Figures:
    """Everything one run measured."""

    rounds: int
    seconds: float
    connections: int
    http: dict[str, Pair] = field(default_factory=dict)
    append: AppendFigures | None = None
    build_submits: float | None = None
    rebuild: tuple[int, float] | None = None  # events applied, seconds
    load: str = ""


@dataclass(frozen=True)
class Row:
    path: str
    marid: str
    ceiling: str
    ratio: str
    goal: str

    def line(self) -> str:
        return f"| {self.path} | {self.marid} | {self.ceiling} | {self.ratio} | {self.goal} |"


def mean(values: list[float]) -> float:
    return statistics.mean(values) if values else 0.0


def ratio(marid: list[float], ceiling: list[float]) -> tuple[float, str]:
    """The ratio of the means, and the range of the per-round ratios after it."""
    overall = mean(marid) / mean(ceiling) if mean(ceiling) else 0.0
    per_round = [m / c for m, c in zip(marid, ceiling, strict=False) if c]
    text = f"{overall:.1%}"
    if len(per_round) > 1:
        text += f" ({min(per_round):.1%}-{max(per_round):.1%})"
    return overall, text


def verdict(goal: str, met: bool) -> str:
    return f"{goal}: {'met' if met else 'not met'}"


def throughput(pair: Pair, path: str, ceiling: str, goal: float) -> Row:
    marid = [r.rate for r in pair.marid]
    ceil = [r.rate for r in pair.ceiling]
    overall, text = ratio(marid, ceil)
    bad = sum(r.bad for r in pair.marid + pair.ceiling)
    latency = mean([r.avg_ms for r in pair.marid])
    return Row(
        path,
        f"{mean(marid):,.0f} req/s (avg {latency:.0f} ms)" + (f", {bad} failed" if bad else ""),
        f"{ceiling}: {mean(ceil):,.0f} req/s",
        text,
        verdict(f">= {goal:.0%}", overall >= goal),
    )


def one_client(pair: Pair, path: str, goal_ms: float | None) -> Row:
    marid = mean([r.avg_ms for r in pair.marid])
    ceiling = mean([r.avg_ms for r in pair.ceiling])
    # As a fraction of the ceiling's speed: the ceiling's latency over marid's.
    _, text = ratio([1 / r.avg_ms for r in pair.marid], [1 / r.avg_ms for r in pair.ceiling])
    goal = "-" if goal_ms is None else verdict(f"<= {goal_ms:.0f} ms", marid <= goal_ms)
    return Row(path, f"{marid:.1f} ms avg", f"hello-world: {ceiling:.2f} ms", text, goal)


def table(f: Figures) -> str:
    rows: list[Row] = []
    conns = f"{f.connections} connections"
    if "list" in f.http:
        path = f"`GET /api/namespaces?page=N` (25 rows), {conns}"
        rows.append(throughput(f.http["list"], path, "hello-world", 0.5))
    if "create" in f.http:
        path = f"`POST /api/namespaces`, {conns}"
        rows.append(throughput(f.http["create"], path, "hello-world POST", 0.25))
        if f.append is not None:
            creates = [r.rate for r in f.http["create"].marid]
            _, text = ratio([mean(creates)], [mean(f.append.pgbench)])
            rows.append(
                Row(
                    "`POST /api/namespaces` against pgbench",
                    f"{mean(creates):,.0f} req/s",
                    f"pgbench: {mean(f.append.pgbench):,.0f} tx/s",
                    text,
                    "-",
                )
            )
    if f.append is not None:
        overall, text = ratio(f.append.appends, f.append.pgbench)
        rows.append(
            Row(
                f"event-store append, {f.connections} threads, one aggregate per save",
                f"{mean(f.append.appends):,.0f} saves/s",
                f"pgbench, one event row per tx, {f.connections} clients: "
                f"{mean(f.append.pgbench):,.0f} tx/s",
                text,
                verdict(">= 50%", overall >= 0.5),
            )
        )
    for key, path, goal in (
        ("list 1", "list, one client", 3.0),
        ("create 1", "create, one client", 8.0),
        ("user 1", "`GET /api/user`, one client", None),
    ):
        if key in f.http:
            rows.append(one_client(f.http[key], path, goal))
    if f.build_submits is not None:
        rows.append(
            Row(
                "build submit, 16 httpx clients, one owner (`builds.py`)",
                f"{f.build_submits:,.1f} req/s",
                "-",
                "-",
                verdict(">= 150/s for one owner", f.build_submits >= 150),
            )
        )
    if f.rebuild is not None:
        events, seconds = f.rebuild
        rate = events / seconds if seconds else 0.0
        rows.append(
            Row(
                "verified rebuild of the namespaces read model",
                f"{rate:,.0f} events/s ({events} events in {seconds:.2f} s)",
                "-",
                "-",
                ">= 20,000/s on 100k events: not measured at that size",
            )
        )
    header = [
        f"{f.rounds} round{'s' if f.rounds > 1 else ''} of {f.seconds:.0f} s per path "
        f"({f.connections} connections; one client: shorter), marid and ceiling alternating; "
        f"load average at the end {f.load}",
        "",
        "| path | marid | ceiling (same run) | ratio | goal (issue 19) |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(header + [row.line() for row in rows])
