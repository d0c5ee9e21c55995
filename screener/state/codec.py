"""The changelog record of one key, version 1: a versioned, fixed-layout row (no pickle).

The changelog is written in version 2 now (`state.sparse`: only the cells that hold
something); version 1 is still read, and `encode` still writes it (a pack reload's carry-over).

    b"SW1" | last_seen int64 | n uint8 | n × (kind uint8, seconds uint32, head int64, cells)

Every series of the store is written (an empty one with its empty head), so all records of
one store layout have one length and restore decodes them all with one `np.frombuffer` over a
structured dtype (`bulk_dtype`); on restore a series the running pack does not use is ignored
and one it uses but the record lacks starts empty, so a pack change never breaks a restore.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from screener.state import sparse
from screener.state.windows import KINDS, RING, WORDS, Series, WindowSpec


class Columns(Protocol):
    """What a record is read from: a store's series and last-seen column (the store imports
    this module, so it is described here rather than imported)."""

    @property
    def series(self) -> Mapping[WindowSpec, Series]: ...

    @property
    def last(self) -> np.ndarray[Any, Any]: ...


MAGIC = b"SW1"
_HEAD = struct.Struct("<3sqB")
_SERIES = struct.Struct("<BIq")
MAX_RECORD = 64 * 1024


class CodecError(ValueError):
    """A changelog record that is not one of ours (or is damaged)."""


@functools.lru_cache(maxsize=256)
def _spec(kind: int, seconds: int) -> WindowSpec:
    """One spec object per layout (restores decode a million records)."""
    return WindowSpec(KINDS[kind], seconds)


ALL_BITS = (1 << 64) - 1


def key_bytes(key: str | int) -> bytes:
    """A changelog key: a user id as UTF-8, a campaign band key as `#` + 8 bytes big-endian."""
    return key.encode() if isinstance(key, str) else b"#" + key.to_bytes(8, "big")


def changed_keys(
    keys: list[Any],
    dirty: npt.NDArray[np.int64],
    prefix: bytes,
    skip: int = 0,
    mask: int = ALL_BITS,
) -> tuple[list[bytes], Sequence[int] | npt.NDArray[np.int64]]:
    """The changelog keys (`prefix` + `key_bytes`) of the `dirty` slots that still hold a
    key in a store's slot list `keys`, and those slots (compiled: one call, see `_rings.c`).
    A tagged key (`partitioned`) is written untagged: a str key without its first `skip`
    (ASCII) characters, an int key and-ed with `mask`."""
    compiled = sparse.compiled_loop("changelog_keys")
    if compiled is not None:
        kept = np.empty(len(dirty), np.int64)
        out: list[bytes] = compiled(keys, dirty, prefix, kept, skip, mask)
        return out, kept[: len(out)]
    slots = [slot for slot in dirty.tolist() if keys[slot] is not None]
    return [prefix + key_bytes(untagged(keys[slot], skip, mask)) for slot in slots], slots


def untagged(key: str | int, skip: int, mask: int) -> str | int:
    """A store key as its partition's changelog has it (see `changed_keys`)."""
    return key[skip:] if isinstance(key, str) else key & mask


def key_of(raw: bytes) -> str | int:
    if len(raw) == 9 and raw[:1] == b"#":
        return int.from_bytes(raw[1:], "big")
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:  # not a key we wrote: damaged, skipped on restore
        raise CodecError(f"changelog key is neither #<8 bytes> nor UTF-8: {raw[:40]!r}") from exc


def _cells_size(spec: WindowSpec) -> int:
    return RING * WORDS * 8 if spec.distinct else RING * 4


def encode(store: Columns, slot: int) -> bytes:
    parts: list[bytes] = []
    for spec, series in store.series.items():
        head = int(series.head[slot])
        parts.append(_SERIES.pack(KINDS.index(spec.kind), spec.seconds, head))
        parts.append(series.cells[slot].tobytes())
    n = len(parts) // 2
    return _HEAD.pack(MAGIC, int(store.last[slot]), n) + b"".join(parts)


def encode_pairs(
    store: Columns, slots: Sequence[int] | npt.NDArray[np.int64], keys: list[bytes]
) -> list[tuple[bytes, bytes | None]]:
    """(key, record) pairs of `encode_many` (the interface of `sparse.encode_pairs`)."""
    return list(zip(keys, encode_many(store, slots), strict=True))


def encode_many(store: Columns, slots: Sequence[int] | npt.NDArray[np.int64]) -> list[bytes]:
    """`encode` of many slots at once, byte for byte: one structured array filled with one
    fancy-indexed copy per series. Profiled in `screener run` with the behaviour pack, encoding
    the changelog one slot at a time (numpy scalar reads per series) was ~12% of a worker."""
    at = np.asarray(slots, np.int64)
    layout = bulk_dtype(tuple(store.series))
    rows = np.zeros(len(at), layout)
    rows["magic"] = MAGIC
    rows["last"] = store.last[at]
    rows["n"] = len(store.series)
    for i, (spec, series) in enumerate(store.series.items()):
        rows[f"k{i}"] = KINDS.index(spec.kind)
        rows[f"s{i}"] = spec.seconds
        rows[f"h{i}"] = series.head[at]
        rows[f"c{i}"] = series.cells[at]
    data, size = rows.tobytes(), layout.itemsize
    return [data[j : j + size] for j in range(0, len(data), size)]


def decode(value: bytes) -> tuple[int, dict[WindowSpec, tuple[int, np.ndarray]]]:
    if len(value) > MAX_RECORD or len(value) < _HEAD.size:
        raise CodecError(f"changelog record of {len(value)} bytes")
    magic, last, n = _HEAD.unpack_from(value, 0)
    if magic == sparse.MAGIC2:  # what `Store.changes` writes now
        try:
            return sparse.decode_one(value)
        except sparse.Irregular as exc:
            raise CodecError(f"damaged changelog record ({exc})") from None
    if magic != MAGIC:
        raise CodecError("not a screener state record")
    pos = _HEAD.size
    rows: dict[WindowSpec, tuple[int, np.ndarray]] = {}
    for _ in range(n):
        if pos + _SERIES.size > len(value):
            raise CodecError("truncated changelog record")
        kind, seconds, head = _SERIES.unpack_from(value, pos)
        pos += _SERIES.size
        if kind >= len(KINDS):
            raise CodecError(f"unknown counter kind {kind}")
        spec = _spec(kind, seconds)
        size = _cells_size(spec)
        if pos + size > len(value):
            raise CodecError("truncated changelog record")
        dtype = np.uint64 if spec.distinct else np.uint32
        cells = np.frombuffer(value, dtype, size // np.dtype(dtype).itemsize, pos).copy()
        rows[spec] = (head, cells.reshape((RING, WORDS)) if spec.distinct else cells)
        pos += size
    if pos != len(value):
        raise CodecError("trailing bytes in changelog record")
    return last, rows


def bulk_dtype(specs: tuple[WindowSpec, ...]) -> np.dtype[np.void]:
    """The record layout `encode` writes for a store of these series, as a numpy dtype."""
    fields: list[tuple[str, str] | tuple[str, str, tuple[int, ...]]] = [
        ("magic", "S3"), ("last", "<i8"), ("n", "u1"),
    ]  # fmt: skip
    for i, spec in enumerate(specs):
        fields += [(f"k{i}", "u1"), (f"s{i}", "<u4"), (f"h{i}", "<i8")]
        fields.append(
            (f"c{i}", "<u8", (RING, WORDS)) if spec.distinct else (f"c{i}", "<u4", (RING,))
        )
    return np.dtype(fields)  # packed: the offsets struct.pack uses
