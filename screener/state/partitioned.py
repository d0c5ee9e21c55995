"""A worker's behaviour state: one `BehaviourState` per input partition it owns.

Inputs are keyed by user id, so a user's windows live with the partition that owns the user,
as Kafka Streams' local stores do. A partition's state exists here only once it has been
restored from its changelog (`restore`); `missing` says which partitions of a batch still
need that, `retain` drops what a rebalance moved away and `invalidate` drops what an aborted
transaction left behind (the changelog, read committed, is then the truth again). Memory is
bounded per worker: `capacity` keys per store, shared evenly among all the input partitions
there are, so a worker owning every partition holds at most `capacity` keys per store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from screener.state.behaviour import BehaviourState, Needs
from screener.state.codec import CodecError
from screener.state.store import DEFAULT_CAPACITY

Partition = tuple[str, int]
"""(input topic, partition)"""
Record = tuple[bytes, bytes | None]

log = logging.getLogger("screener.state")


def _layout(needs: Needs) -> tuple[object, ...]:
    """What decides a state's stores: its user series, its campaign series, escalation."""
    text = sorted(w for w in needs.windows if w.kind in ("copies", "senders"))
    flagged = needs.escalate_window if needs.escalate_after else None
    return (sorted(needs.user_specs()), text, flagged)


class PartitionedState:
    """The per-partition states of one worker (one owner; not thread-safe)."""

    def __init__(self, needs: Needs, *, capacity: int = DEFAULT_CAPACITY, partitions: int = 1):
        self.needs = needs
        self.capacity = capacity
        self.partitions = partitions
        """input partitions in total (all topics): each gets capacity / partitions keys."""
        self.states: dict[Partition, BehaviourState] = {}
        self._evictions: dict[Partition, int] = {}
        self.evicted = 0
        """keys evicted so far (cap reached or TTL), over every state this worker held."""

    def share(self) -> int:
        return max(1024, self.capacity // max(1, self.partitions))

    def _fresh(self) -> BehaviourState:
        return BehaviourState(self.needs, capacity=self.share())

    def state(self, partition: Partition) -> BehaviourState:
        """The partition's state (a fresh one if it has none: offline use, tests)."""
        state = self.states.get(partition)
        if state is None:
            state = self.states[partition] = self._fresh()
        return state

    def missing(self, partitions: Iterable[Partition]) -> list[Partition]:
        """Which of `partitions` have no state yet (must be restored before screening)."""
        return sorted({p for p in partitions if p not in self.states})

    def restore(self, partition: Partition, records: Sequence[Record]) -> int:
        """A fresh state for the partition from its changelog records (oldest first); returns
        the keys restored. A damaged record is skipped with a warning (that key's counts start
        again from zero), never fatal: the rest of the partition's state is still good."""
        state = self._fresh()
        try:
            state.restore(records)
        except CodecError as exc:
            log.warning("%s: damaged state record(s) in the changelog (%s); skipping them",
                        partition, exc)  # fmt: skip
            state = self._fresh()
            bad = 0
            for record in records:
                try:
                    state.restore([record])
                except CodecError:
                    bad += 1
            log.warning("%s: %d changelog record(s) skipped", partition, bad)
        self.states[partition] = state
        self._evictions[partition] = state.evictions()
        return state.size()

    def retain(self, assigned: Iterable[Partition]) -> list[Partition]:
        """Drop the states of partitions no longer assigned; returns those dropped."""
        keep = set(assigned)
        gone = [p for p in self.states if p not in keep]
        for p in gone:
            self.drop(p)
        return gone

    def invalidate(self, partitions: Iterable[Partition]) -> None:
        """Forget these partitions' states: they are restored again before their next batch."""
        for p in list(partitions):
            self.drop(p)

    def drop(self, partition: Partition) -> None:
        self._count_evictions()
        self.states.pop(partition, None)
        self._evictions.pop(partition, None)

    def repack(self, needs: Needs) -> None:
        """A new rule pack (hot reload): same windows → the states read the new banks and
        settings as they are; other windows → every key's counts are carried over into
        stores of the new layout (series the new pack does not use are left behind)."""
        if needs is self.needs:
            return
        same = _layout(needs) == _layout(self.needs)
        self.needs = needs
        for p, old in list(self.states.items()):
            if same:
                old.needs = needs
                continue
            new = self._fresh()
            records: list[Record] = [(b"u" + k, v) for k, v in old.users.snapshot()]
            if old.texts is not None:
                records += [(b"t" + k, v) for k, v in old.texts.snapshot()]
            new.restore(records)
            self.states[p] = new
            self._evictions[p] = new.evictions()

    def changes(self) -> dict[Partition, list[Record]]:
        """Each partition's changelog records since the last call (tombstones: value None)."""
        self._count_evictions()
        out: dict[Partition, list[Record]] = {}
        for p, state in self.states.items():
            records = state.changes()
            if records:
                out[p] = records
        return out

    def _count_evictions(self) -> None:
        for p, state in self.states.items():
            now = state.evictions()
            self.evicted += max(0, now - self._evictions.get(p, now))
            self._evictions[p] = now

    def size(self) -> int:
        """Keys held, over every partition and store."""
        return sum(s.size() for s in self.states.values())
