"""When a batch closes a commit interval (at-least-once): its offsets, and those of the
batches since the last commit, are committed, together with the behaviour state's changelog
of them all.

Why an interval, not a commit per batch: with behaviour state a batch's fixed cost was
dominated by what it wrote besides its review items, about 1.5 changelog records per event
(every user and campaign band it touched) and an offset-commit round trip, paid by every batch
however small, and a paced worker's latency is ~1.5 such cycles. Kafka Streams
(`commit.interval.ms`) and Quix Streams (`commit_interval`, `commit_every`) write state
through a per-key cache flushed at the commit, so a busy key writes one changelog record per
interval, not one per batch. Review items still go out at once, batch by batch.

Nothing is lost on a crash: offsets are committed only once the changelog flushed with them
is acknowledged, so a restarted worker restores the state of the last commit and re-reads
every batch after it (their review items may be produced twice, as at-least-once allows).
Under exactly-once every batch is its own transaction, as before (the interval is not used).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CommitInterval:
    """Time- and count-bounded: due once `interval_ms` have passed since the last commit or
    `every` records (0: no count bound) were handed over since; `interval_ms` 0 commits every
    batch."""

    def __init__(
        self, interval_ms: int, every: int = 0, clock: Callable[[], float] = time.monotonic
    ):
        self.interval_s = interval_ms / 1000
        self.every = every
        self.clock = clock
        self.last = clock()
        self.records = 0
        """records handed over since the last commit"""

    def due(self, records: int) -> bool:
        """`records` more were screened: does their batch close the interval?"""
        self.records += records
        if self.interval_s <= 0 or (self.every and self.records >= self.every):
            return True
        return self.elapsed()

    def pending(self) -> bool:
        """Records handed over since the last commit."""
        return self.records > 0

    def elapsed(self) -> bool:
        return self.clock() - self.last >= self.interval_s

    def committed(self) -> None:
        """A batch closing the interval was built: the next interval starts now."""
        self.last = self.clock()
        self.records = 0
