"""`marid blobs sweep`: remove the blobs that no object, image or artifact names (one pass;
`marid serve` also sweeps every 15 minutes)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from infrastructure.settings import Settings
from ops.arguments import UsageError
from ops.wiring import one_shot


def cmd_blobs(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    from projections.read_models import NotSettledError

    marid = one_shot(settings)
    try:
        marid.catch_up()  # the read models name every blob an event named before now
        keys = marid.blob_sweeper.sweep(dry_run=args.dry_run)
    except NotSettledError as exc:
        raise UsageError(f"read models lag, nothing swept: {exc}") from None
    finally:
        marid.close()
    for key in keys:
        print(f"{'would remove' if args.dry_run else 'removed'} {key}", file=out)
    summary = "dry run: none removed" if args.dry_run else "removed"
    print(f"{len(keys)} orphaned blobs, {summary}", file=out, flush=True)
