"""Live projection lag: how long after a save its read model has it, at a steady write rate.

On a scratch database, marid's application with its projection runners started (as in
`marid serve`) saves new namespaces at `--rate` saves per second (spread over 8 threads)
for `--seconds`; after each save the saving thread waits until the namespaces runner has
processed it. Prints the achieved rate and the p50, p99 and maximum lag (save returned →
read model has the event). The goal of issue 19: p99 under 50 ms at 200 writes/s.

    python bench/lag.py [--rate 200] [--seconds 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from append import DEFAULT_DATABASE_URL, loopback_database, scratch_database

THREADS = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    loopback_database(args.database_url)

    from domain.namespaces import Namespace
    from domain.origin import Origin
    from infrastructure.bootstrap import bootstrap
    from infrastructure.settings import Settings

    origin = Origin.system("bench")
    name = f"marid_lag_{secrets.token_hex(3)}"
    with scratch_database(args.database_url, name) as url, tempfile.TemporaryDirectory() as d:
        settings = Settings(
            database_url=url,
            data_dir=Path(d),
            run_worker=False,
            run_scheduler=False,
            run_webhooks=False,
        )
        marid = bootstrap(settings)
        try:
            marid.migrate()
            marid.start()
            owner = marid.app.register_user("bench", "bench@example.com", origin).value
            runner = marid.read_models.runners["namespaces"]
            lags: list[float] = []
            guard = threading.Lock()
            interval = THREADS / args.rate
            ids = iter(range(1, 10**9))
            began = time.perf_counter()
            deadline = began + args.seconds

            def write(offset: float) -> None:
                due = began + offset
                while due < deadline:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    with guard:
                        n = next(ids)
                    ns = Namespace.create_root(n, owner, f"n{n}", "", "private", origin)
                    [recording] = marid.app.save(ns)
                    saved = time.perf_counter()
                    if not runner.wait_local(recording.notification.id, 10.0):
                        raise SystemExit(f"namespace {n} not projected within 10 s")
                    with guard:
                        lags.append(time.perf_counter() - saved)
                    due += interval

            threads = [
                threading.Thread(target=write, args=(i * interval / THREADS,))
                for i in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            took = time.perf_counter() - began
            lags.sort()
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(
                f"{len(lags)} saves in {took:.1f} s ({len(lags) / took:.0f}/s); lag p50 "
                f"{statistics.median(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
                f"{lags[-1] * 1000:.1f} ms (goal: p99 < 50 ms at 200 writes/s)",
                flush=True,
            )
        finally:
            marid.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
