"""`marid projections`: status, verified rebuilds and verification of read models (with
progress), and running the projection runners alone."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from domain.errors import DomainError
from infrastructure.settings import Settings
from ops.arguments import UsageError
from ops.progress import Meter
from ops.wiring import long_running, one_shot, run_until_signal

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
    from projections.maintenance import rebuild
    from projections.registry import PROJECTIONS
    from projections.verify import VerificationError

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
    from projections.maintenance import verify
    from projections.registry import PROJECTIONS

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


def cmd_projections(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "run":
        marid = long_running(settings)
        run_until_signal(marid, marid.start, "projection runners started; Ctrl-C stops them")
        return
    from projections.registry import PROJECTIONS

    name = getattr(args, "name", None)  # rebuild and verify name one, or none for all
    if name is not None and name not in PROJECTIONS:
        raise UsageError(f"no such projection: {name} (one of {', '.join(PROJECTIONS)})")
    marid = one_shot(settings) if args.action == "status" else long_running(settings)
    try:
        if args.action == "status":
            print_status(marid)
            return
        code = rebuild_or_verify(marid, args, [name] if name else list(PROJECTIONS))
        if code:
            raise SystemExit(code)  # a read model differs from its rebuild: reported
    finally:
        marid.close()


def print_status(marid: Marid) -> None:
    """Every follower: read models, the webhook dispatcher and the workers of every process
    (with when each last reported: a stopped or gone one is listed for a day)."""
    from infrastructure.followers import followers

    print("projection\tposition\thead\tlag\tlag seconds\tgaps missing\tgaps skipped\treported")
    for follower in followers(marid):
        s = follower.status
        print(
            f"{s.name}\t{s.position}\t{s.head}\t{s.lag}\t{s.lag_seconds:.1f}\t"
            f"{s.missing}\t{s.skipped}\t{follower.reported}"
        )


def rebuild_or_verify(marid: Marid, args: argparse.Namespace, names: list[str]) -> int:
    from projections.maintenance import RebuildRunningError

    try:
        if args.action == "rebuild":
            return rebuild_all(marid, names, force=args.force)
        return verify_all(marid, names)
    except RebuildRunningError as exc:
        raise DomainError(str(exc)) from None
