"""How far a contender has got through the backlog, read from the output it makes visible.

Why not from commits: a worker that commits once per interval (screener's default 1 s, Quix's
`commit_interval`) commits a small backlog in one or two steps, and its last commit comes up
to an interval after its last record was screened, so commit progress measures the interval,
not the work. Every contender's output, though, goes out batch by batch and names the backlog
event it came from (a review item carries the event, a yardstick's hit is the event): the
output for backlog event i, at partition p and offset o, shows that the contender has read
partition p at least up to o. Summed over partitions that is a lower bound of the records
processed, off by the few records after each partition's last hit — off alike at both ends
of the measured span, so the difference between them is the work done in it. The same
definition for every contender, whatever its commit policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    msgs_per_s: float
    cpu_us_per_msg: float | None  # the contender's CPU over the same span
    records: int  # backlog records the span covers
    seconds: float


@dataclass
class Progress:
    """Backlog records shown processed, from the output seen; sampled at each advance.

    `placed[i]` is backlog event i's (partition, offset)."""

    placed: Sequence[tuple[int, int]]
    _high: dict[int, int] = field(default_factory=dict)  # partition -> offsets shown read
    _samples: list[tuple[float, int, float | None]] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(self._high.values())

    def see(self, index: int) -> None:
        """The output of backlog event `index` is visible (duplicates and any order are fine)."""
        if 0 <= index < len(self.placed):
            partition, offset = self.placed[index]
            if offset + 1 > self._high.get(partition, 0):
                self._high[partition] = offset + 1

    def mark(self, now: float, cpu_s: Callable[[], float | None]) -> None:
        """Take a sample at `now` (seconds) if the progress moved since the last one; `cpu_s`
        (the contender's CPU seconds so far) is read only then."""
        records = self.records
        if records and (not self._samples or records > self._samples[-1][1]):
            self._samples.append((now, records, cpu_s()))

    def rate(self) -> Rate:
        """msgs/s from the first visible output to the last advance: the contender's start-up
        and group join come before the first, the wait for its last commit after the last."""
        if len(self._samples) < 2:
            raise RuntimeError(
                "the backlog's output became visible all at once: too few --messages to "
                "measure a rate (use more)"
            )
        (t0, r0, c0), (t1, r1, c1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            raise RuntimeError("no time passed between the first and last output")
        cpu = None if c0 is None or c1 is None else (c1 - c0) / (r1 - r0) * 1e6
        return Rate((r1 - r0) / (t1 - t0), cpu, r1 - r0, t1 - t0)
