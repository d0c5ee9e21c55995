"""A worker's behaviour state: one `BehaviourState` for every input partition it owns.

Inputs are keyed by user id, so a user's windows live with the partition that owns the user,
as Kafka Streams' local stores do; each partition's changelog holds its keys alone. The keys
of all of them share one state, each tagged with its partition: a user id gets the tag's four
hex digits in front, a campaign band key the tag in its top 16 bits (band keys are 48 bits in
the changelog). Two partitions therefore never share a count, and a batch over six partitions
pays each store's per-batch cost once instead of six times (profiled: one state per partition
spent ~1 ms of a 60-record paced batch's ~2.2 ms looking up slots and staging rows six times).

A partition's keys exist here only once it has been restored from its changelog (`restore`);
`missing` says which partitions of a batch still need that, `retain` forgets what a rebalance
moved away and `invalidate` what an aborted transaction left behind (the changelog, read
committed, is then the truth again). Forgetting leaves no tombstones: the partition's
changelog is another worker's now. Memory is bounded per worker: at most `capacity` keys per
store, the least recently seen evicted first, whichever partition they belong to.
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

BAND_BITS = 48
"""campaign band key bits kept; the top 16 carry the partition tag"""
BAND_MASK = (1 << BAND_BITS) - 1
TAG_CHARS = 4
"""a user key's tag: four hex digits in front of the user id"""
MAX_TAGS = 1 << 16

log = logging.getLogger("screener.state")


def _layout(needs: Needs) -> tuple[object, ...]:
    """What decides a state's stores: its user series, its campaign series, escalation."""
    text = sorted(w for w in needs.windows if w.kind in ("copies", "senders"))
    flagged = needs.escalate_window if needs.escalate_after else None
    return (sorted(needs.user_specs()), text, flagged)


class PartitionedState:
    """The partitions' states of one worker, in one tagged `BehaviourState` (one owner)."""

    def __init__(
        self, needs: Needs, *, capacity: int = DEFAULT_CAPACITY, changelog_format: int = 2
    ):
        self.needs = needs
        self.capacity = capacity
        self.changelog_format = changelog_format
        self.shared = self._fresh()
        self.restored: set[Partition] = set()
        self._tags: dict[Partition, int] = {}
        self._partition_of: dict[int, Partition] = {}
        self._evictions = 0
        self.evicted = 0
        """keys evicted so far (cap reached or TTL), over every partition this worker held."""

    def _fresh(self) -> BehaviourState:
        return BehaviourState(
            self.needs, capacity=self.capacity, changelog_format=self.changelog_format
        )

    def tag(self, partition: Partition) -> int:
        """The partition's tag (1…65535; 0 is a state of one partition), fixed for the
        worker's life so a partition that comes back gets its own keys' tag again."""
        tag = self._tags.get(partition)
        if tag is None:
            tag = len(self._tags) + 1
            if tag >= MAX_TAGS:
                raise ValueError(f"a worker's state tags at most {MAX_TAGS - 1} partitions")
            self._tags[partition] = tag
            self._partition_of[tag] = partition
        return tag

    def missing(self, partitions: Iterable[Partition]) -> list[Partition]:
        """Which of `partitions` have no state yet (must be restored before screening)."""
        return sorted({p for p in partitions if p not in self.restored})

    def restore(self, partition: Partition, records: Sequence[Record]) -> int:
        """The partition's keys from its changelog records (oldest first), replacing any it
        had; returns the keys restored. A damaged record is skipped with a warning (that
        key's counts start again from zero), never fatal: the rest is still good."""
        self._count_evictions()
        tag = self.tag(partition)
        self.shared.forget(tag)
        tagged = [_tagged(tag, record) for record in records]
        try:
            self.shared.restore(tagged, tag)
        except CodecError as exc:
            log.warning("%s: damaged state record(s) in the changelog (%s); skipping them",
                        partition, exc)  # fmt: skip
            self.shared.forget(tag)
            bad = 0
            for record in tagged:
                try:
                    self.shared.restore([record], tag)
                except CodecError:
                    bad += 1
            log.warning("%s: %d changelog record(s) skipped", partition, bad)
        self.restored.add(partition)
        self._evictions = self.shared.evictions()
        return self.shared.count(tag)

    def retain(self, assigned: Iterable[Partition]) -> list[Partition]:
        """Forget the partitions no longer assigned; returns those forgotten."""
        keep = set(assigned)
        gone = sorted(p for p in self.restored if p not in keep)
        for p in gone:
            self.drop(p)
        return gone

    def invalidate(self, partitions: Iterable[Partition]) -> None:
        """Forget these partitions' keys: they are restored again before their next batch."""
        for p in list(partitions):
            self.drop(p)

    def drop(self, partition: Partition) -> None:
        self._count_evictions()
        tag = self._tags.get(partition)
        if tag is not None:
            self.shared.forget(tag)
        self.restored.discard(partition)
        self._evictions = self.shared.evictions()

    def repack(self, needs: Needs) -> None:
        """A new rule pack (hot reload): same windows → the state reads the new banks and
        settings as it is; other windows → every key's counts are carried over into stores of
        the new layout (series the new pack does not use are left behind)."""
        if needs is self.needs:
            return
        same = _layout(needs) == _layout(self.needs)
        self.needs = needs
        if same:
            self.shared.needs = needs
            return
        self._count_evictions()
        old, self.shared = self.shared, self._fresh()
        carried: dict[int, list[Record]] = {}
        for prefix, store in ((b"u", old.users), (b"t", old.texts)):
            for tag, records in (store.snapshot() if store is not None else {}).items():
                carried.setdefault(tag, []).extend((prefix + k, v) for k, v in records)
        for tag, kept in carried.items():
            self.shared.restore(kept, tag)
        self._evictions = self.shared.evictions()

    def view(self, groups: Mapping[Partition, npt.NDArray[np.int64]]) -> TaggedView:
        """The batch's view of the state: `groups` gives each partition's positions in the
        batch (every position in one group). A partition never restored starts empty
        (offline use and tests; the worker restores each before its first batch)."""
        self.restored.update(groups)
        return TaggedView(self.shared, [(self.tag(p), where) for p, where in groups.items()])

    def changes(self, only: Collection[Partition] | None = None) -> dict[Partition, list[Record]]:
        """Each partition's changelog records since its last call (tombstones: value None);
        `only`: of these partitions alone, the others' changes kept for a later call."""
        self._count_evictions()
        out: dict[Partition, list[Record]] = {}
        tags = None if only is None else {self._tags[p] for p in only if p in self._tags}
        for tag, records in self.shared.changes_by_tag(TAG_CHARS, BAND_MASK, tags).items():
            partition = self._partition_of.get(tag)
            if partition in self.restored and records:  # (never a forgotten one's)
                out[partition] = records
        return out

    def _count_evictions(self) -> None:
        now = self.shared.evictions()
        self.evicted += max(0, now - self._evictions)
        self._evictions = now

    def size(self) -> int:
        """Keys held, over every partition and store."""
        return self.shared.size()


def _tagged(tag: int, record: Record) -> Record:
    """A changelog record keyed as the shared state holds it (the inverse of the untagging
    `changes` does)."""
    key, value = record
    if key[:1] == b"u":
        return b"u" + b"%04x" % tag + key[1:], value
    if key[:2] == b"t#" and len(key) == 10:
        band = (int.from_bytes(key[2:], "big") & BAND_MASK) | (tag << BAND_BITS)
        return b"t#" + band.to_bytes(8, "big"), value
    return record  # not a key we wrote: the restore says so (`CodecError`)


class TaggedView:
    """A batch over several partitions as one `BehaviourView` of the shared state: the engine
    screens the whole batch in one call (one decide, one slot look-up and staging per store),
    each event's keys tagged with its partition, so each partition's events read only its
    own counts, as if screened apart. `parts`: each tag with the ascending positions of its
    events. After the verdicts, `apply` stores the batch."""

    def __init__(self, state: BehaviourState, parts: Sequence[tuple[int, npt.NDArray[np.int64]]]):
        self.state = state
        self.parts = parts
        self._prepared: Prepared | None = None

    def prepare(
        self,
        events: Sequence[object],
        batch: MessageCodes,
        contacts: Mapping[int, list[str]],
        evidence: Collection[int] | None = None,
        reads: Mapping[str, Mask] | None = None,
    ) -> Prepared:
        facts = self.state.facts(events, batch, contacts, evidence)
        n = len(events)
        tags = np.zeros(n, np.uint16)
        keys: list[str] = list(facts.users)
        for tag, where in self.parts:
            tags[where] = tag
            prefix = f"{tag:04x}"
            if len(self.parts) == 1:
                keys = [prefix + u for u in facts.users]
            else:
                for i in where.tolist():
                    keys[i] = prefix + keys[i]
        facts.user_keys, facts.tags = keys, tags
        if facts.band_keys is not None:  # the tag in each band key's top 16 bits
            high = tags.astype(np.uint64) << np.uint64(BAND_BITS)
            facts.band_keys = (facts.band_keys & np.uint64(BAND_MASK)) | high[:, None]
        prepared = self.state.prepare_part(facts, None, reads)
        if len(self.parts) > 1:  # escalation counts a user's flagged messages per partition
            prepared.owner = tags.astype(np.int64)
        self._prepared = prepared
        return prepared

    def apply(self, updates: Updates) -> None:
        """Store the batch's events (and flagged marks)."""
        assert self._prepared is not None
        self.state.apply(Updates(self._prepared, updates.flagged))
