"""One log on its way to the output store: decoded, masked, batched.

Bytes from a job become text with an incremental UTF-8 decoder (a character split across
reads is kept whole; invalid bytes become U+FFFD), pass through the masker, and are
appended to `marid_build_output` in chunks: at once when the last append is older than
`FLUSH_INTERVAL`, else with the next write or tick (drivers tick every 0.1 s while a job
is quiet). Readers following a job therefore see its output within a fraction of a second,
and a chatty job costs a few appends per second, not one per line.

A build's log is every chunk of its streams (the build's own lines, job 0, and each
job's output) in `seq` order. The streams of one build share a `Turn`: a stream about to
take text first stores what another one holds, so chunks are stored in the order the text
was written and the build's log reads in run order without being stored twice.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from infrastructure.masking import Masker

FLUSH_INTERVAL = 0.2  # seconds
MAX_BUFFER = 64 * 1024  # characters held before an append regardless of time


class OutputStore(Protocol):
    def append(self, build_id: int, job_id: int, text: str) -> int: ...


class Turn:
    """Whose text a build's log holds last: the streams of one build take turns."""

    def __init__(self) -> None:
        self.holder: LogStream | None = None

    def take(self, stream: LogStream) -> None:
        """`stream` writes next: store what the previous writer still buffers first."""
        if self.holder is not None and self.holder is not stream:
            self.holder.flush()
        self.holder = stream


class LogStream:
    """The output of one job (or the build-level log, job 0) of one build."""

    def __init__(
        self,
        store: OutputStore,
        build_id: int,
        job_id: int,
        secrets: Iterable[str],
        *,
        muted: Callable[[], bool] = lambda: False,
        turn: Turn | None = None,
    ) -> None:
        self.store = store
        self.build_id = build_id
        self.job_id = job_id
        self._muted = muted  # once true (the build was lost), nothing more is stored
        self._turn = turn or Turn()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._masker = Masker(secrets)
        self._buffer: list[str] = []
        self._size = 0
        self._last = time.monotonic()
        self._closed = False

    def write(self, data: bytes) -> None:
        """Take bytes from the job (b"" is a tick: flush what is due)."""
        if data:
            self._add(self._masker.feed(self._decoder.decode(data)))
        self._flush_if_due()

    def line(self, text: str) -> None:
        """A line of marid's own (a notice in the log), masked like the rest."""
        self._add(self._masker.feed(text + "\n"))
        self._flush_if_due()

    def end_of_input(self) -> None:
        """The job's own output is over (marid's notices may follow): release what the
        decoder and the masker held back, so it is stored before anything written later."""
        rest = self._decoder.decode(b"", final=True)
        self._add(self._masker.feed(rest) + self._masker.flush())

    def close(self) -> None:
        """The end of the log: release what is held back and store everything."""
        if self._closed:
            return
        self._closed = True
        self.end_of_input()
        self.flush()

    def flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        self._last = time.monotonic()
        if text and not self._muted():
            self.store.append(self.build_id, self.job_id, text)

    def _add(self, text: str) -> None:
        if text:
            self._turn.take(self)
            self._buffer.append(text)
            self._size += len(text)

    def _flush_if_due(self) -> None:
        if not self._buffer:
            return
        if self._size >= MAX_BUFFER or time.monotonic() - self._last >= FLUSH_INTERVAL:
            self.flush()
