"""An insertion-ordered `dict[int, int]` of uint64 keys to slots, looked up a batch at a time.

Why: a campaign store's keys are band keys (uint64 hashes, ~2,000 a batch, most of them new).
As a dict of Python ints, looking them up and binding the new ones was ~1.3 ms of a
1,000-message batch (profiled on `screener bench engine`: boxing each key, hashing, entries
scattered over the heap). Here the table is one numpy array of (key, slot, insertion number)
cells (one cache line a probe) probed in C (`_rings.c`: `ix_get`, `ix_put`, `ix_del`), a
whole batch per call.

It behaves as the dict it replaces, order included: `values()` and `items()` follow insertion
order (a key deleted and added again goes last; re-setting a key keeps its place), because
the store's expiry and eviction walk keys in that order and must choose the same victims.
Only built with the compiled loop (`available()`); without it the store keeps its dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

try:  # the compiled probes; without them `Store` uses a dict (the same answers)
    from screener.state import _rings  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised where no C compiler was available
    _rings = None
if not hasattr(_rings, "ix_get"):  # an extension built before it had the probes
    _rings = None

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


_dict_get = getattr(_rings, "dict_get", None)  # absent from an extension built before it


def dict_get_many(index: dict[Any, int], keys: list[Any]) -> I64:
    """`index.get(k, -1)` for every key, as int64 (the store's str-keyed look-up): one C call
    where built (~half the cost of numpy's fromiter over `map(index.get, ...)`)."""
    if _dict_get is None:
        return np.fromiter(map(index.get, keys, repeat(-1)), np.int64, len(keys))
    out = np.empty(len(keys), np.int64)
    _dict_get(index, keys, out)
    return out


def available() -> bool:
    """Whether the compiled probes are built (the index exists only with them)."""
    return _rings is not None


def _key(key: object) -> int:
    if type(key) is not int or not 0 <= key < 1 << 64:
        raise TypeError(f"IntIndex keys are ints in [0, 2**64), not {key!r}")
    return key


class IntIndex(MutableMapping[int, int]):
    """uint64 key → slot (>= 0). Linear probing in a power-of-two table kept at most half
    full (short probe runs); deletion shifts the run back, so there are no tombstones."""

    def __init__(self, size: int = 1024):
        if _rings is None:
            raise RuntimeError("IntIndex needs the compiled loop (screener.state._rings)")
        self._n = 0
        self._next = 0  # the insertion number the next new key gets
        self._alloc(max(16, 1 << (2 * size - 1).bit_length()))

    def _alloc(self, cap: int) -> None:
        self._table: npt.NDArray[np.int64] = np.zeros((cap, 3), np.int64)
        self._table[:, 1] = -1  # every cell empty
        self._vals: I64 = self._table[:, 1]
        self._seq: I64 = self._table[:, 2]
        self._keys: U64 = self._table[:, 0].view(np.uint64)

    def _reserve(self, more: int) -> None:
        """Grow (doubling, re-inserting every key with its insertion number) so that `more`
        new keys keep the table at most half full."""
        cap = len(self._vals)
        need = self._n + more
        if 2 * need <= cap:
            return
        while 2 * need > cap:
            cap *= 2
        live = self._vals >= 0
        keys, vals, seq = self._keys[live], self._vals[live], self._seq[live]
        self._alloc(cap)
        _rings.ix_put(self._table, keys, vals, seq, 0)

    # -- a batch at a time -------------------------------------------------------------------

    def get_many(self, keys: U64) -> I64:
        """Slot of each key, -1 where absent."""
        keys = np.ascontiguousarray(keys, np.uint64)
        out = np.empty(len(keys), np.int64)
        _rings.ix_get(self._table, keys, out)
        return out

    def put_many(self, keys: U64, slots: I64) -> None:
        """`self[k] = s` for each pair, in order."""
        keys = np.ascontiguousarray(keys, np.uint64)
        slots = np.ascontiguousarray(slots, np.int64)
        if len(keys) != len(slots):
            raise ValueError("put_many: as many slots as keys")
        self._reserve(len(keys))
        seqs = np.arange(self._next, self._next + len(keys), dtype=np.int64)
        self._n += _rings.ix_put(self._table, keys, slots, seqs, self._n)
        self._next += len(keys)

    def delete_many(self, keys: U64) -> int:
        """Remove the keys present; returns how many were."""
        keys = np.ascontiguousarray(keys, np.uint64)
        removed: int = _rings.ix_del(self._table, keys)
        self._n -= removed
        return removed

    def slots(self) -> I64:
        """Every slot, in the keys' insertion order (a dict's `values()`, as one array)."""
        live = np.flatnonzero(self._vals >= 0)
        return self._vals[live[np.argsort(self._seq[live], kind="stable")]]

    def nbytes(self) -> int:
        return self._table.nbytes

    # -- the dict protocol (one key at a time: restore, the eviction path, tests) -------------

    def __getitem__(self, key: int) -> int:
        slot = int(self.get_many(np.array([_key(key)], np.uint64))[0])
        if slot < 0:
            raise KeyError(key)
        return slot

    def __setitem__(self, key: int, slot: int) -> None:
        self.put_many(np.array([_key(key)], np.uint64), np.array([slot], np.int64))

    def __delitem__(self, key: int) -> None:
        if not self.delete_many(np.array([_key(key)], np.uint64)):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            return int(self.get_many(np.array([_key(key)], np.uint64))[0]) >= 0
        except TypeError:
            return False

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        return iter(self._ordered()[0])

    def _ordered(self) -> tuple[list[int], list[int]]:
        live = np.flatnonzero(self._vals >= 0)
        at = live[np.argsort(self._seq[live], kind="stable")]
        return self._keys[at].tolist(), self._vals[at].tolist()

    def items(self) -> Iterable[tuple[int, int]]:  # type: ignore[override]
        keys, vals = self._ordered()
        return list(zip(keys, vals, strict=True))

    def values(self) -> Iterable[int]:  # type: ignore[override]
        out: list[int] = self.slots().tolist()
        return out
