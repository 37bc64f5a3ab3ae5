"""Progress of a long operator task: redrawn in place on a terminal, a summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

CLEAR_LINE = "\r\x1b[K"  # back to the start of the line, and erase it


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`: an ETA, to the second."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Meter:
    """Events done of a total, the rate and the ETA of one task, on `stream`.

    On a terminal the line is redrawn at most every `interval` seconds, however often
    it is called, and erased by `finish`; elsewhere (a pipe, a log file) nothing is drawn,
    and the caller prints the summary `finish` returns: one line per task.
    """

    def __init__(
        self,
        name: str,
        stream: TextIO,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        now = self.clock()
        if self.drawn_at is not None and now - self.drawn_at < self.interval:
            return
        self.drawn_at = now
        self.stream.write(CLEAR_LINE + self.line(done, total, now - self.started))
        self.stream.flush()

    def line(self, done: int, total: int, elapsed: float) -> str:
        """`users: 1,500/6,000 events (25%), 500 events/s, ETA 9s`."""
        rate = done / elapsed if elapsed > 0 else 0.0
        percent = 100 * done // total if total else 100
        eta = duration((total - done) / rate) if rate > 0 else "?"
        return (
            f"{self.name}: {done:,}/{total:,} events ({percent}%), {rate:,.0f} events/s, ETA {eta}"
        )

    def finish(self, done: int) -> str:
        """Erase the progress line; `N events in S s, R events/s`, for a summary."""
        if self.drawn_at is not None:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
        elapsed = self.clock() - self.started
        rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "?"
        return f"{done} events in {elapsed:.1f} s, {rate} events/s"
