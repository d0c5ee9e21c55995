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
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from screener.state.behaviour import BehaviourState, Mask, Needs, Prepared, Updates
from screener.state.codec import CodecError
from screener.state.store import DEFAULT_CAPACITY
from screener.text.selection import MessageCodes

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

    def __init__(
        self, needs: Needs, *, capacity: int = DEFAULT_CAPACITY, partitions: int = 1,
        changelog_format: int = 2,
    ):  # fmt: skip
        self.needs = needs
        self.capacity = capacity
        self.changelog_format = changelog_format
        self.partitions = partitions
        """input partitions in total (all topics): each gets capacity / partitions keys."""
        self.states: dict[Partition, BehaviourState] = {}
        self._evictions: dict[Partition, int] = {}
        self.evicted = 0
        """keys evicted so far (cap reached or TTL), over every state this worker held."""

    def share(self) -> int:
        return max(1024, self.capacity // max(1, self.partitions))

    def _fresh(self) -> BehaviourState:
        return BehaviourState(
            self.needs, capacity=self.share(), changelog_format=self.changelog_format
        )

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


class BatchView:
    """The states of a batch's partitions as one `BehaviourView`: the engine screens the
    whole batch in one call (one decide, one pass over what the events give every state:
    `state.facts`), each partition's events read against its own state alone, as if screened
    apart. `parts`: each state with the ascending positions of its events (every event in
    one part). After the verdicts, `apply` stores each part's events in its own state.

    Why: a paced batch of 50 records over 6 partitions paid a `prepare` and a decide per
    partition, about 1 ms of fixed cost a batch (profiled), against one of each here."""

    def __init__(
        self, parts: Sequence[tuple[BehaviourState, Sequence[int] | npt.NDArray[np.int64]]]
    ):
        self.parts = [(state, np.asarray(where, np.int64)) for state, where in parts]
        self._prepared: list[Prepared] = []

    def prepare(
        self,
        events: Sequence[object],
        batch: MessageCodes,
        contacts: Mapping[int, list[str]],
        evidence: Collection[int] | None = None,
        reads: Mapping[str, Mask] | None = None,
    ) -> Prepared:
        n = len(events)
        if len(self.parts) == 1:  # the whole batch is one partition's
            state, _ = self.parts[0]
            self._prepared = [state.prepare(events, batch, contacts, evidence, reads)]
            return self._prepared[0]
        facts = self.parts[0][0].facts(events, batch, contacts, evidence)
        subs = [
            state.prepare_part(
                facts, where, None if reads is None else {k: m[where] for k, m in reads.items()}
            )
            for state, where in self.parts
        ]
        self._prepared = subs
        values: dict[str, npt.NDArray[np.int64]] = {}
        for name in subs[0].values:
            column = values[name] = np.zeros(n, np.int64)
            for (_, where), sub in zip(self.parts, subs, strict=True):
                column[where] = sub.values[name]
        counts = None
        if subs[0].flagged is not None:  # escalation: every part's counts before the batch
            counts = np.zeros(n, np.int64)
            for (_, where), sub in zip(self.parts, subs, strict=True):
                counts[where] = sub.flagged_before(range(len(where)))
        owner = np.zeros(n, np.int64)
        for k, (_, where) in enumerate(self.parts):
            owner[where] = k
        return Prepared(
            values, facts.banks, subs[0].flagged, np.zeros(0, np.int64), facts.seconds, [],
            flagged_counts=counts, owner=owner,
        )  # fmt: skip

    def apply(self, updates: Updates) -> None:
        """Store each part's events (and flagged marks) in its own state."""
        if len(self.parts) == 1:
            self.parts[0][0].apply(Updates(self._prepared[0], updates.flagged))
            return
        for (state, where), sub in zip(self.parts, self._prepared, strict=True):
            state.apply(Updates(sub, updates.flagged[where]))
