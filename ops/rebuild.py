"""`marid projections rebuild` and `verify`: verified rebuilds of read models, with progress."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from ops.progress import Meter
from projections.maintenance import rebuild, verify
from projections.registry import PROJECTIONS
from projections.verify import VerificationError

if TYPE_CHECKING:
    from infrastructure.bootstrap import Marid


def rebuild_all(
    marid: Marid,
    names: Sequence[str],
    force: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Rebuild each read model, verified before its swap; the exit status (1 if one differed
    and was left as it was)."""
    status = 0
    for name in names:
        meter = Meter(name, err)
        try:
            applied = rebuild(
                marid.app, marid.datastore, *PROJECTIONS[name], force=force, progress=meter
            )
        except VerificationError as exc:
            meter.finish(0)
            for line in exc.verification.report():
                print(line, file=err)
            print(f"{name} not swapped: --force swaps it in anyway", file=err, flush=True)
            status = 1
            continue
        print(f"rebuilt {name} from {meter.finish(applied)}", file=out, flush=True)
    return status


def verify_all(
    marid: Marid, names: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Compare each read model with a rebuild of it; the exit status (1 if one differed)."""
    status = 0
    for name in names:
        meter = Meter(name, err)
        verification = verify(marid.app, marid.datastore, *PROJECTIONS[name], progress=meter)
        first, *details = verification.report()
        print(f"{first} ({meter.finish(verification.applied)})", file=out)
        for line in details:
            print(line, file=out)
        out.flush()
        status = status or (0 if verification.equal else 1)
    return status
