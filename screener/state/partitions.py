"""One store per input partition: dropped on revoke, rebuilt from the changelog on assign.

Inputs are keyed by user id, so a user's counters live with the partition that owns the user
(as Kafka Streams' local stores do); the changelog topic has the same partition count and the
record for partition p of the input goes to partition p of the changelog.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from screener.state.store import DEFAULT_CAPACITY, Store
from screener.state.windows import WindowSpec

Partition = tuple[str, int]
"""(input topic, partition)"""


class PartitionStores:
    """The stores a worker owns; `capacity` is shared between its partitions."""

    def __init__(
        self,
        specs: Iterable[WindowSpec],
        *,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.specs = tuple(specs)
        self.capacity = capacity
        self.stores: dict[Partition, Store] = {}
        self.last_restore_seconds = 0.0
        self._clock = clock

    def store(self, partition: Partition) -> Store:
        store = self.stores.get(partition)
        if store is None:
            share = max(16, self.capacity // max(1, len(self.stores) + 1))
            store = self.stores[partition] = Store(self.specs, capacity=share)
        return store

    def assign(self, partition: Partition, records: Iterable[tuple[bytes, bytes | None]]) -> Store:
        """A fresh store for the partition, restored from its changelog records (oldest first)."""
        start = self._clock()
        self.stores.pop(partition, None)
        store = self.store(partition)
        store.restore(records)
        self.last_restore_seconds = self._clock() - start
        return store

    def revoke(self, partition: Partition) -> None:
        """Forget the partition's state: its next owner restores it from the changelog."""
        self.stores.pop(partition, None)

    def size(self) -> int:
        return sum(len(s) for s in self.stores.values())

    def evictions(self) -> int:
        return sum(s.stats.evictions for s in self.stores.values())
