"""Projection rebuild speed on a large log: events per second of a verified rebuild of the
namespaces read model, on a scratch database holding `--events` namespace events.

The log is written fast and directly (marid's application saving 500 new namespaces per
`save()`, one user owning them all), then the live read model is caught up, then
`projections.maintenance.rebuild` (what `marid projections rebuild namespaces` runs:
shadow tables, verification against the live tables, swap) is timed alone.

    python bench/rebuild.py [--events 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

from append import DEFAULT_DATABASE_URL, loopback_database, scratch_database

BATCH = 500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args(argv)
    loopback_database(args.database_url)

    from domain.namespaces import Namespace
    from domain.origin import Origin
    from infrastructure.bootstrap import bootstrap
    from infrastructure.settings import Settings
    from projections.maintenance import catch_up, rebuild
    from projections.registry import PROJECTIONS

    origin = Origin.system("bench")
    name = f"marid_rebuild_{secrets.token_hex(3)}"
    with scratch_database(args.database_url, name) as url, tempfile.TemporaryDirectory() as d:
        marid = bootstrap(Settings(database_url=url, data_dir=Path(d)))
        try:
            marid.migrate()
            owner = marid.app.register_user("bench", "bench@example.com", origin).value
            began = time.perf_counter()
            for start in range(1, args.events + 1, BATCH):
                batch = [
                    Namespace.create_root(n, owner, f"n{n}", "", "private", origin)
                    for n in range(start, min(start + BATCH, args.events + 1))
                ]
                marid.app.save(*batch)
            written = time.perf_counter() - began
            print(f"wrote {args.events:,} namespace events in {written:.1f} s", flush=True)
            projection_class, view_class = PROJECTIONS["namespaces"]
            began = time.perf_counter()
            caught = catch_up(marid.app, marid.projections["namespaces"])
            live = time.perf_counter() - began
            print(
                f"live read model caught up: {caught:,} events in {live:.1f} s "
                f"({caught / live:,.0f} events/s)",
                flush=True,
            )
            began = time.perf_counter()
            applied = rebuild(marid.app, marid.datastore, projection_class, view_class)
            took = time.perf_counter() - began
            print(
                f"verified rebuild: {applied:,} events in {took:.1f} s "
                f"({applied / took:,.0f} events/s; goal >= 20,000)",
                flush=True,
            )
        finally:
            marid.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
