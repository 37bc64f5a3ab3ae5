"""`marid blobs sweep`: one pass of the orphan sweeper from the command line."""

from __future__ import annotations

import os

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.integration.test_cli import Cli

LONG_AGO = 1_000_000_000  # 2001: far past the grace period


def test_blobs_sweep_removes_old_orphans_and_keeps_named_and_young_ones(
    marid: Marid, settings: Settings
) -> None:
    cli = Cli(settings)
    root = settings.data_dir / "blobs"
    for key in ("objects/1", "objects/2"):
        marid.blobs.put(key, iter([b"orphan"]))
    os.utime(root / "objects" / "1", (LONG_AGO, LONG_AGO))

    dry = cli.ok("blobs", "sweep", "--dry-run")
    kept_by_dry_run = sorted(key for key, _ in marid.blobs.listing())
    swept = cli.ok("blobs", "sweep")

    assert dry.splitlines() == ["would remove objects/1", "1 orphaned blobs, dry run: none removed"]
    assert kept_by_dry_run == ["objects/1", "objects/2"]
    assert swept.splitlines() == ["removed objects/1", "1 orphaned blobs, removed"]
    assert sorted(key for key, _ in marid.blobs.listing()) == ["objects/2"]  # young
