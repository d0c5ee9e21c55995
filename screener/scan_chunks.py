"""Input cut into chunks of whole numbered lines, for `screener scan --jobs` (`scan_jobs`).

The parallel scan's parent reads blocks, not lines: every byte it handles is work no worker
does, on a machine whose cores the workers need. So newlines are found in C (numpy) and a
chunk is a slice of the input; the worker splits it (`numbered_lines`) into exactly what
`scan.numbered` yields for the same lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from screener.events import MAX_RECORD_BYTES
from screener.scan import BATCH_BYTES, BATCH_LINES


@dataclass(frozen=True, slots=True)
class Lines:
    """Whole lines (each ending in a newline) starting at line number `first`."""

    first: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line over the record limit, skipped to its newline without being held."""

    lineno: int


Chunk = Lines | Oversized


@dataclass
class Chunker:
    """Blocks of input → chunks of at most `lines` whole lines (or about `size` bytes).

    Reads exactly as `scan.read_lines` does: lines end at b"\\n" (a stream's last line
    may lack it), a line whose content is over `limit` bytes is reported, not kept (the
    parent holds at most `limit` bytes of an unfinished line), and line numbers run on
    across streams."""

    limit: int = MAX_RECORD_BYTES
    lines: int = BATCH_LINES
    size: int = BATCH_BYTES
    _parts: list[bytes] = field(default_factory=list)
    _count: int = 0
    _bytes: int = 0
    _first: int = 1
    _next: int = 1
    _carry: bytes = b""
    _draining: bool = False

    def feed(self, block: bytes) -> list[Chunk]:
        out: list[Chunk] = []
        if self._draining:  # the rest of an oversized line
            nl = block.find(b"\n")
            if nl < 0:
                return out
            self._draining = False
            block = block[nl + 1 :]
        data = self._carry + block if self._carry else block
        # newline positions in C: the parent's per-byte work must stay tiny, every core
        # it uses is one a worker does not get
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        start, i = 0, 0
        while i < len(ends):
            take = min(len(ends) - i, self.lines - self._count)
            end = int(ends[i + take - 1]) + 1
            self._add(data[start:end], take, out)
            start, i = end, i + take
        self._carry = data[start:]
        if len(self._carry) > self.limit:
            self._flush(out)
            out.append(Oversized(self._next))
            self._next += 1
            self._carry, self._draining = b"", True
        return out

    def end_of_stream(self) -> list[Chunk]:
        """A stream ended: its last line may have had no newline."""
        out: list[Chunk] = []
        if self._carry:
            self._add(self._carry + b"\n", 1, out)
        self._carry, self._draining = b"", False
        return out

    def finish(self) -> list[Chunk]:
        out: list[Chunk] = []
        self._flush(out)
        return out

    def _add(self, piece: bytes, count: int, out: list[Chunk]) -> None:
        if not self._parts:
            self._first = self._next
        self._parts.append(piece)
        self._count += count
        self._bytes += len(piece)
        self._next += count
        if self._count >= self.lines or self._bytes >= self.size:
            self._flush(out)

    def _flush(self, out: list[Chunk]) -> None:
        if self._parts:
            out.append(Lines(self._first, b"".join(self._parts)))
        self._parts, self._count, self._bytes = [], 0, 0


def numbered_lines(
    chunk: Lines, limit: int = MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """A chunk's lines as `scan.numbered` gives them (None: content over `limit`)."""
    lines = chunk.data.split(b"\n")
    lines.pop()  # a chunk ends with a newline
    for n, line in enumerate(lines, chunk.first):
        yield n, None if len(line) > limit else line.rstrip(b"\r\n")
