"""A bounded store of windowed counters, keyed by user id or campaign signature.

Keys map to slots of numpy rows (`windows.Series`). Memory is bounded two ways, both in event
time so offline and online runs evict alike: a key untouched for longer than its longest ring
(`ttl`) holds nothing any window can read and is dropped first; at the hard `capacity` the
least recently seen sixteenth is evicted (its counts start again from zero if it comes back).
Every change is recorded per key for the changelog (`changes()`); evictions become tombstones.
One store may serve all of a worker's partitions: each key then carries its partition's tag
(in the key, so two partitions never share a slot, and per slot, so `changes_by_tag` writes
each partition's records apart and `forget` drops one partition's keys).

Long: the slot bookkeeping (index, free list, last-seen times, dirty bits, tags, tombstones)
is one piece shared by allocation, eviction, the changelog and restore; split into modules,
each would reach into the others' private state.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from screener.state import codec, intindex, sparse
from screener.state.codec import MAGIC, CodecError, bulk_dtype, decode, encode, untagged
from screener.state.codec import key_bytes as _key_bytes
from screener.state.codec import key_of as _key_of
from screener.state.growth import grown
from screener.state.intindex import IntIndex
from screener.state.windows import I64, KINDS, RING, Series, WindowSpec

Key = str | int
"""user ids; campaign band keys are ints (8 bytes big-endian in the changelog)"""


DEFAULT_CAPACITY = 1_000_000
_INITIAL = 1024


@dataclass(slots=True)
class StoreStats:
    keys: int = 0
    evictions: int = 0
    late: int = 0
    restored: int = 0


class Store:
    """Windowed counters for keys seen on one partition (not thread-safe; one owner)."""

    def __init__(
        self,
        specs: Iterable[WindowSpec],
        *,
        capacity: int = DEFAULT_CAPACITY,
        ttl_seconds: int | None = None,
        int_keys: bool = False,
        changelog_format: int = 2,
    ):
        """`int_keys`: every key is an int in [0, 2**64) (campaign band keys), so the index
        can be the compiled `IntIndex` (when built) rather than a dict: the same slots.
        `changelog_format`: the record version `changes` writes (both restore)."""
        self.int_keys = int_keys
        self.encode_pairs = sparse.encode_pairs if changelog_format == 2 else codec.encode_pairs
        self.specs: tuple[WindowSpec, ...] = tuple(sorted(set(specs)))
        if capacity < 16:
            raise ValueError("capacity must be at least 16 keys")
        self.capacity = capacity
        longest = max((s.width * RING for s in self.specs), default=0)
        self.ttl = ttl_seconds if ttl_seconds is not None else longest
        size = min(_INITIAL, capacity)
        self.series: dict[WindowSpec, Series] = {s: Series(s, size) for s in self.specs}
        self.index: MutableMapping[Key, int] = (
            IntIndex(size) if int_keys and intindex.available() else {}  # type: ignore[assignment]
        )
        self.keys: list[Key | None] = [None] * size
        self.last = np.full(size, np.iinfo(np.int64).min, np.int64)
        self.free: list[int] = list(range(size - 1, -1, -1))
        self.watermark = np.iinfo(np.int64).min
        self.stats = StoreStats()
        self.tags = np.zeros(size, np.uint16)
        """each slot's partition tag (`partitioned`: one store serves a worker's partitions;
        0 in a store of one partition)"""
        self._binding_tag = 0
        self._dirty = np.zeros(size, np.bool_)
        """slots changed since the last `changes()` (a bitmap, not a set: every slot of every
        batch is marked, and a set's update of ~3,000 ints was ~0.1 ms a batch)"""
        # insertion-ordered (a dict, not a set) so the changelog's tombstones come out in eviction
        # order whatever PYTHONHASHSEED is: the same input gives the same changelog bytes
        self._gone: dict[Key, int] = {}
        """evicted keys → their tag: the tombstones of the next `changes`"""
        self._batches = 0

    def __len__(self) -> int:
        return len(self.index)

    # -- slots -----------------------------------------------------------------------------------

    def lookup(self, keys: Sequence[Key] | npt.NDArray[np.uint64]) -> I64:
        """Slot of each key, -1 where the store holds nothing for it."""
        if isinstance(self.index, IntIndex):
            return self.index.get_many(np.asarray(keys, np.uint64))
        if type(keys) is list and type(self.index) is dict:  # the users' store, each batch
            return intindex.dict_get_many(self.index, keys)
        return np.fromiter(map(self.index.get, keys, repeat(-1)), np.int64, len(keys))

    def _used(self) -> I64:
        """The slots holding a key, in slot order: a free one's last-seen is int64 min (no
        argsort of the index's insertion order: ~10 ms at 94,000 campaign bands)."""
        return np.flatnonzero(self.last != np.iinfo(np.int64).min)

    def slots(
        self, keys: Sequence[Key] | npt.NDArray[np.uint64], seconds: I64,
        tags: npt.NDArray[np.uint16] | None = None,
    ) -> I64:  # fmt: skip
        """Slot of each key, allocating (and evicting) for new ones; marks them seen then.
        (`keys` may be a uint64 array where the store has `int_keys`; `tags`: each key's
        partition tag, kept per slot for its changelog records.)"""
        if len(keys) == 0:
            return np.zeros(0, np.int64)
        top = int(seconds.max())
        if top > self.watermark:
            self.watermark = top
        if isinstance(keys, np.ndarray) and not isinstance(self.index, IntIndex):
            keys = keys.tolist()  # a dict keeps Python ints
        out = self.lookup(keys)
        missing = np.flatnonzero(out < 0)
        if len(missing):
            if isinstance(self.index, IntIndex):  # the same steps, on arrays
                absent_keys = np.asarray(keys, np.uint64)[missing]
                fresh_keys: npt.NDArray[np.uint64] | None
                first = np.unique(absent_keys, return_index=True)[1]
                fresh_keys = absent_keys[np.sort(first)]  # first seen first, as dict.fromkeys
                absent: Sequence[Key] | npt.NDArray[np.uint64] = absent_keys
                fresh: list[Key] = fresh_keys.tolist()
            else:
                absent = list(map(keys.__getitem__, missing.tolist()))
                fresh = list(dict.fromkeys(absent))
                fresh_keys = None
            if len(fresh) <= len(self.free) + self.capacity - len(self.keys):
                taken = self._bind_many(fresh, fresh_keys)
                # no key twice (campaign bands, mostly): the slots are in `absent`'s order
                out[missing] = taken if len(fresh) == len(absent) else self.lookup(absent)
            else:  # evictions on the way: one key at a time, as they come
                if isinstance(keys, np.ndarray):
                    keys = keys.tolist()  # Python ints: the keys the store keeps
                # (the keys seen here are not the oldest: `expire` must not drop them)
                seen = out >= 0
                self.last[out[seen]] = np.maximum(self.last[out[seen]], seconds[seen])
                for i in missing.tolist():
                    key = keys[i]
                    slot = self.index.get(key)
                    if slot is None:
                        slot = self._allocate()
                        self.index[key] = slot
                        self.keys[slot] = key
                        self._gone.pop(key, None)
                        if tags is not None:  # before a later key of this call evicts it
                            self.tags[slot] = tags[i]
                    self.last[slot] = seconds[i]  # bound: later evictions here keep it
                    out[i] = slot
        np.maximum.at(self.last, out, seconds)
        self._dirty[out] = True
        if tags is not None:
            self.tags[out] = tags
        return out

    def _bind_many(self, fresh: list[Key], as_array: npt.NDArray[np.uint64] | None = None) -> I64:
        """Slots for new keys when no eviction is needed: the very slots one `_allocate` per
        key would give, in the same order, but taken from the free list in slices (profiled:
        the per-key loop was most of `slots` for campaign band keys, ~2,000 new a batch).
        Returns them, in `fresh`'s order (`as_array`: the same keys as uint64, for the
        `IntIndex`)."""
        done = 0
        parts: list[I64] = []
        while done < len(fresh):
            if not self.free:
                self._grow(min(self.capacity, 2 * len(self.keys)))
            k = min(len(self.free), len(fresh) - done)
            taken = self.free[len(self.free) - k :][::-1]  # what k pops would return
            del self.free[len(self.free) - k :]
            chunk = fresh[done : done + k]
            # one conversion serves the index, the run test and the caller (profiled: a list
            # of ~2,000 ints turned into arrays twice and compared with a range each batch)
            slots = np.array(taken, np.int64)
            if isinstance(self.index, IntIndex):
                keys = as_array[done : done + k] if as_array is not None else np.fromiter(
                    chunk, np.uint64, k)  # fmt: skip
                self.index.put_many(keys, slots)
            else:
                self.index.update(zip(chunk, taken, strict=True))
            if bool((np.diff(slots) == 1).all()):  # a fresh run of slots: one slice copy
                self.keys[taken[0] : taken[0] + k] = chunk
            else:
                for _ in map(self.keys.__setitem__, taken, chunk):  # the loop in C
                    pass
            parts.append(slots)
            done += k
        if self._gone:  # keys back from eviction are no longer tombstones
            for _ in map(self._gone.pop, fresh, repeat(None, len(fresh))):  # the loop in C
                pass
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def _allocate(self) -> int:
        if not self.free:
            if len(self.keys) < self.capacity:
                self._grow(min(self.capacity, 2 * len(self.keys)))
            else:
                self.expire()
                if not self.free:
                    self._evict_oldest(max(1, self.capacity // 16))
        return self.free.pop()

    def _grow(self, size: int) -> None:
        old = len(self.keys)
        for series in self.series.values():
            series.grow(size)
        self.keys.extend([None] * (size - old))
        self.last = grown(self.last, size)  # in place where it can (see `grown`)
        self.last[old:] = np.iinfo(np.int64).min
        self._dirty = grown(self._dirty, size)
        self.tags = grown(self.tags, size)
        self.free.extend(range(size - 1, old - 1, -1))

    def expire(self) -> int:
        """Drop keys not seen within `ttl` of the newest event time: they hold nothing readable."""
        if self.ttl <= 0 or not self.index:
            return 0
        limit = self.watermark - self.ttl
        used = self._used()  # once every 64 batches: it must not be a latency spike
        old = used[self.last[used] < limit]
        self._drop(old)
        return len(old)

    def expire_sometimes(self, every: int = 64) -> None:
        """`expire` once every `every` batches: a sweep reads every key's last-seen time."""
        self._batches += 1
        if self._batches % every == 0:
            self.expire()

    def _evict_oldest(self, count: int) -> None:
        used = self._used()
        if count >= len(used):
            victims = used
        else:
            victims = used[np.argpartition(self.last[used], count)[:count]]
        self._drop(victims)

    def _drop(self, slots: I64) -> None:
        if len(slots) == 0:
            return
        for series in self.series.values():
            series.clear(slots)
        if isinstance(self.index, IntIndex):  # one call, not one per key
            self.index.delete_many(np.fromiter(map(self.keys.__getitem__, slots.tolist()),
                                               np.uint64, len(slots)))  # fmt: skip
        for slot, tag in zip(slots.tolist(), self.tags[slots].tolist(), strict=True):
            key = self.keys[slot]
            assert key is not None
            if not isinstance(self.index, IntIndex):
                del self.index[key]
            self.keys[slot] = None
            self._gone[key] = tag
            self.free.append(slot)
        self._dirty[slots] = False
        self.last[slots] = np.iinfo(np.int64).min
        self.stats.evictions += len(slots)

    # -- changelog -------------------------------------------------------------------------------

    def changes(self, prefix: bytes = b"") -> list[tuple[bytes, bytes | None]]:
        """Changelog records since the last call: (prefix + key, row) or (…, None) if dropped."""
        out: list[tuple[bytes, bytes | None]] = [(prefix + _key_bytes(k), None) for k in self._gone]
        dirty = np.flatnonzero(self._dirty)
        self._dirty[dirty] = False
        keys, slots = codec.changed_keys(self.keys, dirty, prefix)
        out += self.encode_pairs(self, slots, keys)
        self._gone.clear()
        return out

    def changes_by_tag(
        self, prefix: bytes, skip: int, mask: int, only: Collection[int] | None = None
    ) -> dict[int, list[tuple[bytes, bytes | None]]]:
        """`changes` per partition tag, each key untagged (`codec.changed_keys`): one
        encoding call per tag, no Python per record but the tombstones. `only`: of these tags
        alone (a commit closing some partitions), the others' changes kept."""
        out: dict[int, list[tuple[bytes, bytes | None]]] = {}
        kept: dict[Key, int] = {}
        for key, tag in self._gone.items():
            if only is None or tag in only:
                record = (prefix + _key_bytes(untagged(key, skip, mask)), None)
                out.setdefault(tag, []).append(record)
            else:
                kept[key] = tag
        self._gone = kept
        dirty = np.flatnonzero(self._dirty)
        if only is not None:
            dirty = dirty[np.isin(self.tags[dirty], np.fromiter(only, np.int64, len(only)))]
        self._dirty[dirty] = False
        tags = self.tags[dirty]
        order = np.argsort(tags, kind="stable")  # slot order within a tag, as `changes`
        bounds = np.flatnonzero(np.diff(tags[order])) + 1
        for part in np.split(dirty[order], bounds) if len(dirty) else ():
            keys, slots = codec.changed_keys(self.keys, part, prefix, skip, mask)
            if keys:
                out.setdefault(int(self.tags[part[0]]), []).extend(
                    self.encode_pairs(self, slots, keys)
                )
        return out

    def forget(self, tag: int) -> int:
        """Drop every key of one partition tag as if never held: no tombstones, not counted
        as evictions (the partition moved to another worker, or its changelog is read again).
        Returns the keys dropped."""
        used = self._used()
        slots = used[self.tags[used] == tag]
        self._drop(slots)
        self.stats.evictions -= len(slots)
        self._gone = {k: t for k, t in self._gone.items() if t != tag}
        return len(slots)

    def count(self, tag: int) -> int:
        """Keys held for one partition tag."""
        used = self._used()
        return int(np.count_nonzero(self.tags[used] == tag))

    def snapshot(self) -> dict[int, list[tuple[bytes, bytes]]]:
        """Every key's record per partition tag, keyed as the store holds it (a pack whose
        windows change carries the counts over into a store of the new layout through
        `restore`)."""
        out: dict[int, list[tuple[bytes, bytes]]] = {}
        for k, slot in self.index.items():
            out.setdefault(int(self.tags[slot]), []).append((_key_bytes(k), encode(self, slot)))
        return out

    def restore(self, records: Iterable[tuple[bytes, bytes | None]], tag: int = 0) -> int:
        """Apply changelog records (oldest first; the newest per key wins). With a `tag` the
        store serves several partitions: the keys are bound with it, and only they are left
        clean (other partitions' pending changes stay for the next `changes`).

        Records are decoded one by one but stored per series in bulk (one fancy assignment
        for all keys), so restoring a million keys is dominated by decoding, not by numpy calls.
        """
        self._binding_tag = tag
        try:
            return self._restore(records)
        finally:
            self._binding_tag = 0

    def _restore(self, records: Iterable[tuple[bytes, bytes | None]]) -> int:
        latest: dict[Key, bytes | None] = {}
        for raw_key, value in records:
            key = _key_of(raw_key)
            if self.int_keys and type(key) is not int:  # a campaign store keeps band keys only
                raise CodecError(f"changelog key {raw_key[:40]!r} is not a band key")
            latest[key] = value
        gone = [self.index[k] for k, v in latest.items() if v is None and k in self.index]
        if gone:
            self._drop(np.array(gone, np.int64))
            self.stats.evictions -= len(gone)
        slots: list[int] = []
        lasts: list[int] = []
        per_series: dict[WindowSpec, tuple[list[int], list[int], list[np.ndarray]]] = {
            spec: ([], [], []) for spec in self.series
        }
        layout = bulk_dtype(self.specs)
        bulk: tuple[list[Key], list[bytes]] = ([], [])
        packed: tuple[list[Key], list[bytes]] = ([], [])  # version 2 (what `changes` writes)

        def one(key: Key, value: bytes) -> None:
            last, rows = decode(value)
            slots.append(self._slot_for(key))
            lasts.append(last)
            for spec, row in rows.items():
                bucket = per_series.get(spec)
                if bucket is not None:
                    bucket[0].append(slots[-1])
                    bucket[1].append(row[0])
                    bucket[2].append(row[1])

        for key, value in latest.items():
            if value is None:
                continue
            # version 2, or version 1 in this store's own layout: decoded in bulk below
            into = packed if value[:3] == sparse.MAGIC2 else bulk
            if into is packed or len(value) == layout.itemsize:
                into[0].append(key)
                into[1].append(value)
            else:
                one(key, value)
        restored = len(packed[1])
        if restored:
            try:
                self._assign(packed[0], sparse.decode_many(packed[1]))
            except sparse.Irregular:  # damaged or of mixed layouts: one by one (says which)
                restored = 0
                for key, value in zip(*packed, strict=True):
                    one(key, value)
        if slots:
            at = np.array(slots, np.int64)
            self.last[at] = lasts
            self.watermark = max(self.watermark, max(lasts))
            for spec, series in self.series.items():
                series.clear(at)  # (bumps its version: stages made before are stale)
                where, heads, cells = per_series[spec]
                if where:
                    series.head[where] = heads
                    series.cells[where] = np.stack(cells)
        if bulk[1]:
            self._restore_bulk(layout, *bulk)
        restored += len(bulk[1])
        if self._binding_tag:  # the other partitions' pending changes are theirs
            kept = [k for k, v in latest.items() if v is not None]
            at = self.lookup(kept) if kept else np.zeros(0, np.int64)
            self._dirty[at[at >= 0]] = False
            for k in latest:
                self._gone.pop(k, None)
        else:
            self._dirty[:] = False
            self._gone.clear()
        self.stats.restored += len(slots) + restored
        return len(slots) + restored

    def _slot_for(self, key: Key) -> int:
        slot = self.index.get(key)
        if slot is None:
            slot = self._allocate()
            self.index[key] = slot
            self.keys[slot] = key
            self.tags[slot] = self._binding_tag
        return slot

    def _slots_for(self, keys: list[Key]) -> I64:
        """`_slot_for` of each of these distinct keys; with the `IntIndex` and room for the
        new ones without evictions, in bulk (restoring a million band keys one C call each
        would take seconds): the slots `_slot_for` one key at a time gives."""
        if isinstance(self.index, IntIndex):
            out = self.index.get_many(np.fromiter(keys, np.uint64, len(keys)))
            missing = np.flatnonzero(out < 0)
            if len(missing) <= len(self.free) + self.capacity - len(self.keys):
                gone = dict(self._gone)  # `_slot_for` leaves the tombstones alone
                out[missing] = self._bind_many(list(map(keys.__getitem__, missing.tolist())))
                self.tags[out[missing]] = self._binding_tag
                self._gone = gone
                return out
        return np.fromiter((self._slot_for(k) for k in keys), np.int64, len(keys))

    def _restore_bulk(
        self, layout: np.dtype[np.void], keys: list[Key], values: list[bytes]
    ) -> None:
        """Records in this store's exact layout: one frombuffer, checked field by field."""
        rows = np.frombuffer(b"".join(values), layout)
        ok = (rows["magic"] == MAGIC) & (rows["n"] == len(self.specs))
        for i, spec in enumerate(self.specs):
            ok &= (rows[f"k{i}"] == KINDS.index(spec.kind)) & (rows[f"s{i}"] == spec.seconds)
        if not ok.all():
            bad = int(np.argmin(ok))
            raise CodecError(f"changelog record for {keys[bad]!r} does not match its layout")
        specs = enumerate(self.specs)
        self._assign(keys, (rows["last"], {s: (rows[f"h{i}"], rows[f"c{i}"]) for i, s in specs}))

    def _assign(self, keys: list[Key], decoded: sparse.Decoded) -> None:
        """Decoded records of these keys: one assignment per series (a series the records
        lack starts empty)."""
        last, rows = decoded
        at = self._slots_for(keys)
        self.last[at] = last
        self.watermark = max(self.watermark, int(last.max()))
        for spec, series in self.series.items():
            got = rows.get(spec)
            if got is None:
                series.clear(at)
                continue
            series.touch()
            series.head[at], series.cells[at] = got

    def memory_bytes(self) -> int:
        """numpy rows + a rough 100 bytes per key for the index (measured: see README)."""
        rows = sum(s.head.nbytes + s.cells.nbytes for s in self.series.values())
        if isinstance(self.index, IntIndex):  # its arrays, and a Python int per key
            return (
                rows + self.last.nbytes + 8 * len(self.keys) + self.index.nbytes() + 32 * len(self)
            )
        return rows + self.last.nbytes + 8 * len(self.keys) + 100 * len(self.index)
