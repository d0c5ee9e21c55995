"""`screener bench state`: memory and restore time of a worker's store with N users streamed.

Users arrive in batches of 1,000 events over event time (one event per user, 200 users a
second of event time), through the same `Store`/`Series` code the engine uses; the store's
hard cap and TTL bound what stays resident. Prints peak RSS, keys held, evictions, and the
time to rebuild the final state from its changelog records.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import numpy as np

from screener.state.store import DEFAULT_CAPACITY, Store
from screener.state.windows import WORDS, WindowSpec

SPECS = (
    WindowSpec("events", 600),
    WindowSpec("media", 3600),
    WindowSpec("flagged", 3600),
    WindowSpec("conversations", 600),
    WindowSpec("contacts", 3600),
)


@dataclass(frozen=True)
class StateBench:
    users: int
    seconds: float
    peak_rss_mb: float
    keys: int
    evictions: int
    changelog_records: int
    changelog_mb: float
    restore_seconds: float


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(users: int = 5_000_000, capacity: int = DEFAULT_CAPACITY, batch: int = 1000) -> StateBench:
    store = Store(SPECS, capacity=capacity)
    rng = np.random.default_rng(7)
    start = time.perf_counter()
    ones = np.ones(batch, np.uint32)
    for first in range(0, users, batch):
        n = min(batch, users - first)
        keys = [f"user-{i:09d}" for i in range(first, first + n)]
        t = (np.arange(first, first + n, dtype=np.int64) // 200) + 1_700_000_000
        slots = store.slots(keys, t)
        for spec, series in store.series.items():
            b = series.bucket(t)
            if spec.distinct:
                bits = np.zeros((n, WORDS), np.uint64)
                bits[:, 0] = np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)
                series.update(slots, b, bits)
            else:
                series.update(slots, b, ones[:n])
        if first % (batch * 100) == 0:
            store.changes()  # as the pipeline drains them with each batch
    elapsed = time.perf_counter() - start
    store.changes()
    rss = _rss_mb()  # the worker's peak: before the bench materialises the whole changelog
    for slot, key in enumerate(store.keys):  # the full state, as a compacted topic holds it
        if key is not None:
            store._dirty[slot] = True
    records = [r for r in store.changes() if r[1] is not None]
    size = sum(len(k) + len(v or b"") for k, v in records)
    t0 = time.perf_counter()
    fresh = Store(SPECS, capacity=capacity)
    fresh.restore(records)
    restore = time.perf_counter() - t0
    return StateBench(
        users, elapsed, rss, len(store), store.stats.evictions, len(records), size / 1e6, restore
    )


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000))
