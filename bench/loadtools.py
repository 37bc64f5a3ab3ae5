"""The load tools of `ceilings.py`: wrk for HTTP, pgbench for PostgreSQL, and their figures.

Both are C programs: a Python client would spend more CPU per request than the server it
measures (on two cores, it would measure itself). Each run is bounded by its `seconds`.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk"

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m)"


def tool(name: str) -> str:
    """The path of `wrk` or `pgbench`: pgbench first where Debian's server packages keep it
    (`/usr/bin/pgbench` is a wrapper that may find none), the newest version."""
    versions = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    versions.sort(key=lambda path: [int(n) for n in re.findall(r"\d+", path)], reverse=True)
    found = next(iter(versions), None) or shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: {name} is not installed (`make bench` installs it)")
    return found


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    rate: float  # requests per second
    requests: int
    avg_ms: float
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx/3xx answers plus socket errors

    def line(self) -> str:
        flag = f"  <-- {self.bad} failed" if self.bad else ""
        return (
            f"{self.rate:9.1f} req/s  ({self.requests} requests; avg {self.avg_ms:.1f} ms, "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms){flag}"
        )


def parse_wrk(output: str) -> WrkRun:
    """The figures of `wrk --latency` output."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"wrk output without {pattern!r}:\n{output}")
        return match

    avg = find(rf"^\s*Latency\s+{_DURATION}")
    p50 = find(rf"^\s*50%\s+{_DURATION}")
    p99 = find(rf"^\s*99%\s+{_DURATION}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    bad = int(non_2xx[1]) if non_2xx else 0
    bad += sum(int(n) for n in errors.groups()) if errors else 0
    return WrkRun(
        rate=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        requests=int(find(r"^\s*(\d+) requests in")[1]),
        avg_ms=_ms(avg[1], avg[2]),
        p50_ms=_ms(p50[1], p50[2]),
        p99_ms=_ms(p99[1], p99[2]),
        bad=bad,
    )


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    script: str,
    script_args: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> WrkRun:
    """One wrk run of `script` (a file in bench/wrk) against `url` (scheme, host, port)."""
    threads = 1 if connections == 1 else 2
    argv = [tool("wrk"), "--latency", "--timeout", "30s"]
    argv += ["-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-s", str(LUA / script), url]
    if script_args:
        argv += ["--", *script_args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)  # noqa: S603 -- our own tool
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


@dataclass(frozen=True)
class Pgbench:
    """How to reach the scratch database, and the event row pgbench inserts."""

    host: str
    port: str
    user: str
    dbname: str
    table: str
    topic: str
    state_hex: str

    def script(self, directory: Path) -> Path:
        """The custom script: one event-shaped row per transaction (prepared: the topic and
        state are parameters, as the event store binds them)."""
        path = directory / "append.sql"
        path.write_text(
            f"INSERT INTO {self.table} (originator_id, originator_version, topic, state) "
            "VALUES (gen_random_uuid(), 1, :topic, :state);\n"
        )
        return path

    def run(self, directory: Path, *, seconds: float, clients: int, env: dict[str, str]) -> float:
        """Transactions per second of one pgbench run."""
        argv = [tool("pgbench"), "-n", "-M", "prepared", "-c", str(clients)]
        argv += ["-j", str(min(clients, 2)), "-T", str(max(1, round(seconds)))]
        argv += ["-h", self.host, "-p", self.port, "-U", self.user]
        argv += ["-D", f"topic={self.topic}", "-D", f"state=\\x{self.state_hex}"]
        argv += ["-f", str(self.script(directory)), self.dbname]
        done = subprocess.run(  # noqa: S603 -- our own tool
            argv, capture_output=True, text=True, check=False, env=env, timeout=seconds + 60
        )
        match = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
        if done.returncode != 0 or match is None:
            raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr}{done.stdout}")
        return float(match[1])
