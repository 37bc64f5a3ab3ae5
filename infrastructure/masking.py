"""Masking secrets in build output before it is stored or streamed.

Every masked variable's value becomes `xxxxxx`. A multi-line value is masked line by line
(each non-empty line is a pattern of its own), since programs print secrets in pieces as
often as whole. Output arrives in arbitrary chunks, so a secret may be split across two
writes: the masker keeps back the shortest tail that could still begin a secret and emits
only text that can no longer be part of one. The result is exactly what masking the whole
stream at once would give (`mask_all`), whatever the chunking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "xxxxxx"


def patterns(values: Iterable[str]) -> list[str]:
    """The texts to mask: each non-blank line of each value, longest first, no repeats.

    Lines are stripped of surrounding whitespace (indentation and `\\r` are not part of
    what a program prints back); blank lines would mask every space.
    """
    found = {line.strip() for value in values for line in value.splitlines()}
    found.discard("")
    return sorted(found, key=lambda p: (-len(p), p))


def _regex(found: list[str]) -> re.Pattern[str] | None:
    # Longest first: at one position the longest secret wins, as a reader would expect.
    return re.compile("|".join(re.escape(p) for p in found)) if found else None


def mask_all(text: str, values: Iterable[str]) -> str:
    """`text` with every secret replaced, in one go (the reference for `Masker`)."""
    regex = _regex(patterns(values))
    return text if regex is None else regex.sub(MASK, text)


class Masker:
    """Masks one stream of text fed in pieces; `feed` each piece, then `flush` once."""

    def __init__(self, values: Iterable[str]) -> None:
        self._patterns = patterns(values)
        self._regex = _regex(self._patterns)
        self._keep = max((len(p) for p in self._patterns), default=1) - 1
        self._firsts = frozenset(p[0] for p in self._patterns)
        self._tail = ""

    @property
    def pending(self) -> str:
        """The text held back because a secret may begin in it (never emitted unmasked)."""
        return self._tail

    def feed(self, text: str) -> str:
        """Mask what can be decided now and return it; keep back a possible secret's start."""
        if self._regex is None:
            return text
        buf = self._tail + text
        out: list[str] = []
        pos = 0
        while True:
            match = self._regex.search(buf, pos)
            hold = self._open_start(buf, pos)
            # A match that begins before every open start is final: no longer secret can
            # begin at or before it (it would have to run past the end of `buf`).
            if match is not None and match.start() < hold:
                out.append(buf[pos : match.start()])
                out.append(MASK)
                pos = match.end()
                continue
            out.append(buf[pos:hold])
            self._tail = buf[hold:]
            return "".join(out)

    def flush(self) -> str:
        """The end of the stream: mask and return what was held back."""
        tail, self._tail = self._tail, ""
        return tail if self._regex is None else self._regex.sub(MASK, tail)

    def _open_start(self, buf: str, pos: int) -> int:
        """The first position from `pos` at which a secret may begin but not yet end.

        Only the last `keep` characters can be such a start: from any earlier position
        every secret fits inside `buf`.
        """
        end = len(buf)
        for start in range(max(pos, end - self._keep), end):
            if buf[start] not in self._firsts:
                continue
            rest = buf[start:]
            if any(len(p) > len(rest) and p.startswith(rest) for p in self._patterns):
                return start
        return end
