"""When each record is due: at a fixed rate, at a multiple of its original pace, or at once."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from screener.traffic.sender import BatchSender, HeaderList


@dataclass(frozen=True)
class Pace:
    """Exactly one of: `rate` (records/s), `speed` (× original inter-arrival times), neither
    (as fast as possible)."""

    rate: float | None = None
    speed: float | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.speed is not None:
            raise ValueError("choose a rate or a speed, not both")
        if any(v is not None and v <= 0 for v in (self.rate, self.speed)):
            raise ValueError("rate and speed must be positive")

    @property
    def target(self) -> float | None:
        return self.rate

    def describe(self) -> str:
        if self.rate is not None:
            return f"{self.rate:,.0f} msg/s"
        if self.speed is not None:
            return f"{self.speed:g}× original pace"
        return "max"


class Pacer:
    """`due(index, timestamp_ms)` → monotonic time the record should go, or None (now)."""

    def __init__(self, pace: Pace, start: float | None = None):
        self.pace = pace
        self.start = time.monotonic() if start is None else start
        self._first_ts: int | None = None

    def due(self, index: int, timestamp_ms: int) -> float | None:
        if self.pace.rate is not None:
            return self.start + index / self.pace.rate
        if self.pace.speed is not None:
            if self._first_ts is None:
                self._first_ts = timestamp_ms
            # Records of different partitions interleave: one older than the first is due now.
            return self.start + max(0, timestamp_ms - self._first_ts) / 1000.0 / self.pace.speed
        return None


class RateWindow:
    """Achieved rate over the last `seconds` (for progress displays)."""

    def __init__(self, seconds: float = 2.0):
        self.seconds = seconds
        self._points: deque[tuple[float, int]] = deque()

    def add(self, now: float, count: int) -> float:
        self._points.append((now, count))
        while len(self._points) > 2 and now - self._points[0][0] > self.seconds:
            self._points.popleft()
        t0, c0 = self._points[0]
        return (count - c0) / (now - t0) if now > t0 else 0.0


# -- paced sending --------------------------------------------------------------------------------

Outbound = tuple[str, bytes | None, bytes | None, "HeaderList", int | None, int | None]
"""(topic, key, value, headers, original timestamp_ms or None, partition or None)."""


async def pump(
    records: Iterable[Outbound],
    sender: BatchSender,
    pacer: Pacer,
    *,
    stop: asyncio.Event | None = None,
    limit: int | None = None,
    rewrite_timestamps: bool = False,
    on_tick: Callable[[int], None] | None = None,
    on_sent: Callable[[int, int], None] | None = None,
    tick_every: float = 0.1,
    flush_every: float = 0.005,
    stamp_due: bool = False,
) -> int:
    """Send `records` on the pacer's schedule; returns how many were queued.

    The pacer sees each record's original timestamp; the record is sent with it, or with the
    time it is queued (`rewrite_timestamps`, or no timestamp). Partly filled batches go out
    before every pause and at least every `flush_every` seconds, so a queued record is on the
    wire within milliseconds. `on_sent(index, timestamp_ms)` is told each record's timestamp.

    `stamp_due`: a record stamped with the time it is queued gets the wall-clock time it was
    *due* instead when it is queued late (and the pacer has a schedule). Why: queueing waits
    while a partition's previous batch is still unsent (aiokafka holds one in flight per
    node), so under a slow broker this loop falls behind and then catches up in a burst;
    stamped when queued, the records it should have sent meanwhile never count their wait
    (coordinated omission). A producer that never blocks would have stamped them on time and
    let them wait in its buffer: the due time is that stamp.
    """
    monotonic, wall = time.monotonic, time.time
    last_flush = last_tick = monotonic()
    wall_offset = wall() - last_flush  # monotonic → wall clock, for due-time stamps
    index = 0
    for topic, key, value, headers, ts, partition in records:
        if (stop is not None and stop.is_set()) or (limit is not None and index >= limit):
            break
        due = pacer.due(index, ts if ts is not None else 0)
        now = monotonic()
        if due is not None and due - now > 0.002:
            await sender.flush()
            last_flush = now
            await asyncio.sleep(due - monotonic())
            now = monotonic()
        if ts is not None and not rewrite_timestamps:
            stamp = ts
        elif stamp_due and due is not None:  # late: when it was due; early (≤ 2 ms): now
            stamp = int(min(due + wall_offset, wall()) * 1000)
        else:
            stamp = int(wall() * 1000)
        await sender.send(topic, key, value, headers, stamp, partition)
        if on_sent is not None:
            on_sent(index, stamp)
        index += 1
        if now - last_flush > flush_every:
            await sender.flush()
            last_flush = now
        if on_tick is not None and now - last_tick > tick_every:
            last_tick = now
            on_tick(index)
    await sender.flush()
    if on_tick is not None:
        on_tick(index)
    return index
