"""`marid audit`: who did what, when, from which request; a resource's history and its
state at any past instant."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from domain.errors import ValidationError
from infrastructure.settings import Settings
from ops.arguments import positive

POLL_SECONDS = 0.5
CELL = 60  # longest value shown in a table's DATA column; --json shows everything
HEADER = ("ID", "TIME", "EVENT", "RESOURCE", "ACTOR", "REQUEST", "DATA")
FOLLOW_WIDTHS = (6, 20, 24, 24, 12, 32)


def add_parser(commands: Any) -> None:
    """`marid audit [filters]`, `marid audit show KIND:ID`, `marid audit state KIND:ID`."""
    audit = commands.add_parser(
        "audit",
        help="who did what, when: the event log, a resource's history or past state",
        description="Events newest last. Secrets are shown sealed, never opened.",
    )
    audit.add_argument(
        "--resource", metavar="KIND[:ID]", help="variable:12, namespace:admin/djinn, build, ..."
    )
    audit.add_argument("--actor", metavar="USER", help="a username, user:ID, system:NAME, system:*")
    audit.add_argument("--since", metavar="TIME", help="RFC 3339 time, or 2h, 30m, 7d ago")
    audit.add_argument("--until", metavar="TIME", help="RFC 3339 time, or 2h, 30m, 7d ago")
    audit.add_argument("--event", metavar="TYPE", help="Variable.Created, or Created")
    audit.add_argument("--request-id", metavar="ID", help="events of one API request")
    audit.add_argument(
        "--limit", type=positive, default=50, help="newest events shown (default 50)"
    )
    audit.add_argument("--after", type=int, default=0, metavar="ID", help="events after this id")
    audit.add_argument("--all", action="store_true", help="also index and counter bookkeeping")
    audit.add_argument("--follow", "-f", action="store_true", help="then print new events")
    audit.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    actions = audit.add_subparsers(dest="audit_action", metavar="ACTION")
    show = actions.add_parser("show", help="one resource's whole history")
    show.add_argument("address", metavar="KIND:ID", help="variable:12, namespace:admin/djinn, ...")
    show.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    state = actions.add_parser("state", help="a resource as it was at a time (deleted too)")
    state.add_argument("address", metavar="KIND:ID", help="variable:12, namespace:admin/djinn, ...")
    state.add_argument("--at", metavar="TIME", help="RFC 3339 time, or 2h, 7d ago (default now)")
    state.add_argument("--json", action="store_true", help="one JSON object")


@contextmanager
def opened(settings: Settings) -> Iterator[Any]:
    """The audit on the event store alone: no read model, runner or key is needed."""
    from application.app import MaridApplication
    from infrastructure.audit import Audit
    from infrastructure.database import eventsourcing_env, start_embedded

    conninfo = settings.database_url or start_embedded(settings.data_dir)
    app = MaridApplication(eventsourcing_env(conninfo, 2))
    try:
        yield Audit(app, settings.api_url or f"http://{settings.host}:{settings.port}/api")
    finally:
        app.close()


def run(settings: Settings, args: argparse.Namespace) -> None:
    from application.audit import parse_time

    stop = stop_on_signals() if getattr(args, "follow", False) else threading.Event()
    with opened(settings) as audit:
        now = datetime.now(UTC)
        if args.audit_action == "show":
            print_entries(audit.history(args.address), args.json)
        elif args.audit_action == "state":
            at = parse_time(args.at, now) if args.at else now
            print_state(audit.state_at(args.address, at), args.json)
        else:
            given = {
                "resource": args.resource,
                "actor": args.actor,
                "since": args.since,
                "until": args.until,
                "event": args.event,
                "request_id": args.request_id,
            }
            try:
                f = audit.filter(given, now, bookkeeping=args.all)
            except ValidationError as exc:  # named as the options are
                raise ValidationError(
                    {f"--{k.replace('_', '-')}": v for k, v in exc.fields.items()}
                ) from None
            log(audit, f, args, stop)


def log(audit: Any, f: Any, args: argparse.Namespace, stop: threading.Event) -> None:
    head = audit.log.head()
    events = audit.log.newest(f, args.limit)[::-1]
    events = [e for e in events if e.id > args.after]
    widths = print_entries(audit.entries(events), args.json, FOLLOW_WIDTHS if args.follow else ())
    if not args.follow:
        return
    position = max([head, args.after, *(e.id for e in events)])
    while not stop.is_set():
        events = audit.log.after(f, position, 500)
        if events:
            position = events[-1].id
            print_entries(audit.entries(events), args.json, widths, header=False)
        else:
            stop.wait(POLL_SECONDS)


def stop_on_signals() -> threading.Event:
    """Ctrl-C (or SIGTERM) ends `--follow` between two polls, with status 0."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def print_entries(
    entries: Sequence[Any], as_json: bool, widths: Sequence[int] = (), *, header: bool = True
) -> Sequence[int]:
    """Print entries as an aligned table (or JSON lines); return the column widths used."""
    if as_json:
        for entry in entries:
            print(json.dumps(entry.as_dict(), ensure_ascii=False), flush=True)
        return widths
    rows = [row_of(entry) for entry in entries]
    cells = [HEADER[:-1], *(r[:-1] for r in rows)] if header else [r[:-1] for r in rows]
    widths = [max([w, *(len(c[i]) for c in cells)]) for i, w in enumerate(widths or [0] * 6)]
    for row in ([HEADER] if header else []) + rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))
    sys.stdout.flush()
    return widths


def row_of(entry: Any) -> tuple[str, ...]:
    e = entry.event
    return (
        str(e.id),
        e.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        e.event,
        str(entry.resource),
        entry.actor or "-",
        e.request_id or "-",
        " ".join(f"{k}={cell(v)}" for k, v in e.data.items()),
    )


def cell(value: Any) -> str:
    """A value for the table: sealed secrets marked, long values cut."""
    if isinstance(value, dict) and set(value) == {"sealed"}:
        return "<sealed>"
    text = value if isinstance(value, str) else json.dumps(mark_cells(value), ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def mark_cells(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"sealed"}:
            return "<sealed>"
        return {k: mark_cells(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_cells(v) for v in value]
    return value


def print_state(state: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(state.as_dict(), ensure_ascii=False))
        return
    last = state.last
    e = last.event
    print(f"{state.resource} as of {state.at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    print(
        f"version {e.version}: event {e.id} {e.event} at {e.time.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        f" by {last.actor or '-'}, request {e.request_id or '-'}"
    )
    width = max(len(k) for k in state.fields)
    for key, value in state.fields.items():
        shown = "<sealed> " + value["sealed"] if is_sealed(value) else full(value)
        print(f"  {key.ljust(width)}  {shown}")


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"sealed"}


def full(value: Any) -> str:
    if isinstance(value, str):
        return value.replace("\n", "\\n")
    return json.dumps(mark_cells(value), ensure_ascii=False)
