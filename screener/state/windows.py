"""Per-key counters over event-time windows, held in numpy rings (one row per key slot).

A window of W seconds is 10 buckets of W/10 seconds: the value at an event's time t sums the
bucket holding t and the 9 before it (so it covers between 0.9 W and W of history). Each row
keeps 2 more buckets than the window (the *grace*): an event up to 0.2 W older than the key's
newest event is still counted; an older one is *late* — not added (rows never hold buckets
older than their newest minus the grace), though it is still screened against what remains.

Semantics per event, in arrival order: add the event (unless late), then read the window at its
own time. The batch path is vectorised; slots whose events arrive out of time order within a
batch take a sequential path with the same result (both are checked against each other).

Why rings of fixed buckets: memory per key is a few dozen bytes whatever the traffic, reads are
one gather, and a changelog record for a key is a fixed-size row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

# the sketches' helpers, re-exported: callers take them from here with the rings
from screener.state.bits import WORDS as WORDS
from screener.state.bits import bits_of as bits_of
from screener.state.bits import bits_of_each as bits_of_each
from screener.state.bits import estimate_distinct as estimate_distinct
from screener.state.bits import log_bound as log_bound
from screener.state.bits import range_or as _range_or
from screener.state.bits import value_bits as value_bits
from screener.state.growth import grown

try:  # the compiled per-event loop (`_rings.c`); without it the numpy paths give the same values
    from screener.state import _rings  # type: ignore[attr-defined]
except ImportError:  # not built (no compiler at install time)
    _rings = None

BUCKETS = 10
"""buckets per window"""
GRACE = 2
"""extra buckets a row keeps for late events"""
RING = BUCKETS + GRACE
NONE = np.iinfo(np.int64).min // 4
"""head of an empty row"""

Kind = Literal["events", "media", "flagged", "conversations", "contacts", "copies", "senders"]
COUNT_KINDS: frozenset[str] = frozenset({"events", "media", "flagged", "copies"})
DISTINCT_KINDS: frozenset[str] = frozenset({"conversations", "contacts", "senders"})
KINDS: tuple[str, ...] = (
    "events", "media", "flagged", "conversations", "contacts", "copies", "senders"
)  # fmt: skip
"""counter kinds; the index is the changelog's kind code (append only)"""

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True, order=True)
class WindowSpec:
    """One counter: what it counts and over how many seconds (a multiple of 10)."""

    kind: str
    seconds: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown counter {self.kind!r} (one of {', '.join(KINDS)})")
        if self.seconds < BUCKETS or self.seconds % BUCKETS:
            raise ValueError(f"window of {self.seconds}s: must be a positive multiple of 10s")

    @property
    def width(self) -> int:
        """seconds per bucket"""
        return self.seconds // BUCKETS

    @property
    def distinct(self) -> bool:
        return self.kind in DISTINCT_KINDS

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.seconds}"


def compiled() -> bool:
    """Whether the compiled window loop is built (else the numpy paths serve)."""
    return _rings is not None


@dataclass(frozen=True, slots=True)
class Staged:
    """The rows one batch leaves in a series (`Series.stage`), to store later (`commit`)."""

    slots: I64
    heads: I64
    rows: np.ndarray
    version: int
    """the series' `version` they were computed from: stale once it has moved on"""


_NO_MASK = np.zeros(0, np.uint8)
"""`stage`'s need mask meaning everywhere"""


def bucket_of(seconds: I64, width: int) -> I64:
    """The bucket of each event time in windows of `width` seconds (`Series.bucket`)."""
    return seconds // width


class Series:
    """One `WindowSpec` for `capacity` slots: counts (n, RING) or bitmaps (n, RING, WORDS)."""

    def __init__(self, spec: WindowSpec, capacity: int):
        self.spec = spec
        self.version = 0
        """bumped by every change of the rows (a `Staged` from an older version is stale)"""
        self.head: I64 = np.full(capacity, NONE, np.int64)
        self.cells: npt.NDArray[np.uint32] | U64 = (
            np.zeros((capacity, RING, WORDS), np.uint64)
            if spec.distinct
            else np.zeros((capacity, RING), np.uint32)
        )

    @property
    def capacity(self) -> int:
        return len(self.head)

    def grow(self, capacity: int) -> None:
        self.version += 1
        old = self.capacity
        self.head = grown(self.head, capacity)
        self.head[old:] = NONE
        self.cells = grown(self.cells, capacity)

    def clear(self, slots: I64) -> None:
        self.version += 1
        self.head[slots] = NONE
        self.cells[slots] = 0

    def bucket(self, seconds: I64) -> I64:
        return bucket_of(seconds, self.spec.width)

    # -- reads and writes ----------------------------------------------------------------------

    def update(
        self, slots: I64, buckets: I64, amounts: npt.NDArray[np.uint32] | U64, *, write: bool = True
    ) -> tuple[npt.NDArray[np.int64], int]:
        """Per event (arrival order): add it, then read its window. Returns (values, late).

        `amounts` are counts (n,) or bitmaps (n, WORDS). With `write=False` nothing is stored
        (what the values would be: used by pure reads and tests).
        """
        n = len(slots)
        if n == 0:
            return np.zeros(0, np.int64), 0
        if write:
            self.version += 1
        if _rings is not None:
            return self._compiled(slots, buckets, amounts, write)
        order = np.argsort(slots, kind="stable")
        s, b = slots[order], buckets[order]
        same = s[1:] == s[:-1]
        back = same & (b[1:] < b[:-1])
        values = np.zeros(n, np.int64)
        if back.any():
            bad = np.unique(s[1:][back])
            slow = np.isin(slots, bad)
            fast = ~slow
            idx_slow = np.nonzero(slow)[0]
            values[idx_slow], late_slow = self._sequential(
                slots[idx_slow], buckets[idx_slow], amounts[idx_slow], write
            )
            idx_fast = np.nonzero(fast)[0]
        else:
            idx_fast, late_slow = np.arange(n), 0
        if len(idx_fast):
            v, late = self._ordered(slots[idx_fast], buckets[idx_fast], amounts[idx_fast], write)
            values[idx_fast] = v
        else:
            late = 0
        return values, late + late_slow

    def write(
        self,
        slots: I64,
        buckets: I64,
        amounts: npt.NDArray[np.uint32] | U64,
        order: I64 | None = None,
    ) -> None:
        """Store events (what `update` stores) without computing their values. `order`:
        `np.argsort(slots, kind="stable")` if the caller has it (a store's series share it)."""
        if len(slots) == 0:
            return
        self.version += 1
        if _rings is not None:
            self._compiled(slots, buckets, amounts, True)
            return
        if order is None:
            order = np.argsort(slots, kind="stable")
        s, b = slots[order], buckets[order]
        back = (s[1:] == s[:-1]) & (b[1:] < b[:-1])
        if back.any():
            slow = np.isin(slots, np.unique(s[1:][back]))
            i = np.nonzero(slow)[0]
            self._sequential(slots[i], buckets[i], amounts[i], True)
            keep = ~slow[order]
            s, b, order = s[keep], b[keep], order[keep]
        if len(s):
            self._write(s, b, amounts[order], self.head[s])

    def _compiled(
        self, slots: I64, buckets: I64, amounts: npt.NDArray[np.uint32] | U64, write: bool
    ) -> tuple[npt.NDArray[np.int64], int]:
        """`_sequential`'s semantics in one C call (profiled: the numpy paths' per-call
        overhead, a few dozen calls per series and batch, was most of their cost)."""
        n = len(slots)
        s = np.ascontiguousarray(slots, np.int64)
        b = np.ascontiguousarray(buckets, np.int64)
        if self.spec.distinct:
            a: np.ndarray = np.ascontiguousarray(amounts, np.uint64).reshape(n, WORDS)
            bits = np.empty((n, WORDS), np.uint64)  # each window's OR; numpy estimates it
            late = _rings.update(self.head, self.cells, s, b, a, bits, True, write)
            return estimate_distinct(bits), int(late)
        a = np.ascontiguousarray(amounts, np.uint32)
        out = np.empty(n, np.int64)
        late = _rings.update(self.head, self.cells, s, b, a, out, False, write)
        return out, int(late)

    def stage(
        self,
        slots: I64,
        buckets: I64,
        amounts: npt.NDArray[np.uint32] | U64,
        need: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[npt.NDArray[np.int64], Staged | None]:
        """`update(..., write=False)`'s values (0 where `need` is false), and the rows `write`
        would leave, for `commit` after the verdicts (profiled: running the loop a second time
        to write was half of what the windows cost a batch). None without the compiled loop:
        then `write`."""
        n = len(slots)
        if _rings is None or n == 0:
            values = self.update(slots, buckets, amounts, write=False)[0]
            if need is not None:
                values[~need] = 0
            return values, None
        s = np.ascontiguousarray(slots, np.int64)
        b = np.ascontiguousarray(buckets, np.int64)
        st_slots, st_heads = np.empty(n, np.int64), np.empty(n, np.int64)
        st_rows = np.empty((n, *self.cells.shape[1:]), self.cells.dtype)
        mask = _NO_MASK if need is None else np.ascontiguousarray(need, np.bool_).view(np.uint8)
        staging = (st_slots, st_heads, st_rows, mask)
        if self.spec.distinct:
            a: np.ndarray = np.ascontiguousarray(amounts, np.uint64).reshape(n, WORDS)
            bits = np.empty((n, WORDS), np.uint64)
            _, used = _rings.stage(self.head, self.cells, s, b, a, bits, True, *staging)
            if need is None:
                values = estimate_distinct(bits)
            else:  # an empty sketch estimates 0: only the rows read need the float maths
                values = np.zeros(n, np.int64)
                if need.any():
                    values[need] = estimate_distinct(bits[need])
        else:
            a = np.ascontiguousarray(amounts, np.uint32)
            values = np.empty(n, np.int64)
            _, used = _rings.stage(self.head, self.cells, s, b, a, values, False, *staging)
        return values, Staged(st_slots[:used], st_heads[:used], st_rows[:used], self.version)

    def commit(self, staged: Staged) -> bool:
        """Store staged rows; False (nothing stored) if the series changed since `stage`."""
        if staged.version != self.version:
            return False
        self.version += 1
        if _rings is not None:
            _rings.commit(self.head, self.cells, staged.slots, staged.heads,
                          np.ascontiguousarray(staged.rows), self.spec.distinct)  # fmt: skip
        else:
            self.head[staged.slots] = staged.heads
            self.cells[staged.slots] = staged.rows
        return True

    def touch(self) -> None:
        """Rows were assigned directly (a restore): stages made before are stale."""
        self.version += 1

    def _window_mask(self, head0: I64, b: I64) -> npt.NDArray[np.bool_]:
        """(n, RING): which ring positions of each row hold a bucket in (b - BUCKETS, b]."""
        k = np.arange(RING, dtype=np.int64)
        absb = head0[:, None] - ((head0[:, None] - k[None, :]) % RING)
        inside: npt.NDArray[np.bool_] = (
            (absb > (b - BUCKETS)[:, None]) & (absb <= b[:, None]) & (head0 != NONE)[:, None]
        )
        return inside

    def _ordered(
        self, slots: I64, buckets: I64, amounts: npt.NDArray[np.uint32] | U64, write: bool
    ) -> tuple[npt.NDArray[np.int64], int]:
        """Slots whose events are in time order within the batch: all vectorised."""
        order = np.argsort(slots, kind="stable")
        s, b = slots[order], buckets[order]
        a = amounts[order]
        head0 = self.head[s]
        mask = self._window_mask(head0, b)
        late_mask = (head0 != NONE) & (b <= head0 - RING)
        lo_key = b.min() - BUCKETS - 1
        span = int(b.max() - lo_key) + BUCKETS + 2
        keys = s * span + (b - lo_key)
        lo = np.searchsorted(keys, keys - (BUCKETS - 1), side="left")
        j = np.arange(len(s))
        if self.spec.distinct:
            rows = self.cells[s]  # (n, RING, WORDS)
            before = np.bitwise_or.reduce(np.where(mask[:, :, None], rows, 0), axis=1)
            eff = np.where(late_mask[:, None], np.uint64(0), a)
            inside = _range_or(eff, lo, j)
            vals = estimate_distinct(before | inside)
        else:
            rows = self.cells[s]
            before = (rows * mask).sum(axis=1, dtype=np.int64)
            eff = np.where(late_mask, 0, a.astype(np.int64))
            cum = np.concatenate([[0], np.cumsum(eff)])
            vals = before + cum[j + 1] - cum[lo]
        out = np.empty_like(vals)
        out[order] = vals
        if write:
            self._write(s, b, a, head0)
        return out, int(late_mask.sum())

    def _write(self, s: I64, b: I64, a: npt.NDArray[np.uint32] | U64, head0: I64) -> None:
        """Final state after the batch (same as adding one by one: see module docstring)."""
        # `s` is sorted: its runs are np.unique's answer without sorting again (profiled:
        # the second sort was a sixth of a write)
        first = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
        uniq = s[first]
        newhead = np.maximum(self.head[uniq], np.maximum.reduceat(b, first))
        h0 = self.head[uniq]
        k = np.arange(RING, dtype=np.int64)
        absb = h0[:, None] - ((h0[:, None] - k[None, :]) % RING)
        stale = (absb <= (newhead - RING)[:, None]) | (h0 == NONE)[:, None]
        rows = self.cells[uniq]
        rows[stale] = 0
        self.cells[uniq] = rows
        self.head[uniq] = newhead
        nh = np.repeat(newhead, np.diff(np.append(first, len(s))))
        keep = b > nh - RING
        # one flat index, not a (row, column) pair: ufunc.at is ~4x faster on it (measured)
        flat = s[keep] * RING + b[keep] % RING
        assert self.cells.flags.c_contiguous  # so the reshapes below are views, not copies
        if self.spec.distinct:
            np.bitwise_or.at(self.cells.reshape(-1, WORDS), flat, a[keep])
        else:
            np.add.at(self.cells.reshape(-1), flat, a[keep].astype(np.uint32))

    def _sequential(
        self, slots: I64, buckets: I64, amounts: npt.NDArray[np.uint32] | U64, write: bool
    ) -> tuple[npt.NDArray[np.int64], int]:
        """The reference semantics, one event at a time (slots with out-of-order events)."""
        rows: dict[int, tuple[int, npt.NDArray[np.uint32] | U64]] = {}
        values = np.zeros(len(slots), np.int64)
        late = 0
        for i, (slot, bkt) in enumerate(zip(slots.tolist(), buckets.tolist(), strict=True)):
            head, row = rows.get(slot) or (int(self.head[slot]), self.cells[slot].copy())
            if head == NONE or bkt > head:
                steps = RING if head == NONE else min(bkt - head, RING)
                for x in range(bkt - steps + 1, bkt + 1):
                    row[x % RING] = 0
                head = bkt
            if bkt > head - RING:
                if self.spec.distinct:
                    row[bkt % RING] |= amounts[i]
                else:
                    row[bkt % RING] += amounts[i]
            else:
                late += 1
            lo, hi = max(bkt - BUCKETS + 1, head - RING + 1), min(bkt, head)
            cells = [row[x % RING] for x in range(lo, hi + 1)]
            if self.spec.distinct:
                acc = np.zeros(WORDS, np.uint64)
                for c in cells:
                    acc |= c
                values[i] = int(estimate_distinct(acc[None, :])[0])
            else:
                values[i] = int(sum(int(c) for c in cells))
            rows[slot] = (head, row)
        if write:
            for slot, (head, row) in rows.items():
                self.head[slot] = head
                self.cells[slot] = row
        return values, late

    def read(self, slots: I64, buckets: I64) -> npt.NDArray[np.int64]:
        """Window values at these times from what is stored (nothing added)."""
        zeros = (
            np.zeros((len(slots), WORDS), np.uint64)
            if self.spec.distinct
            else np.zeros(len(slots), np.uint32)
        )
        return self.update(slots, buckets, zeros, write=False)[0]
