"""The changelog record of one key, version 2: only the ring cells that hold something.

    b"SW2" | last int64 | n uint8 | n × (kind uint8, seconds uint32, head int64, mask uint16)
          | series 1: popcount(mask) × cell | series 2: … | …

`mask` bit k says ring position k holds a non-zero cell; a series' cells are in position
order (a count: uint32; a distinct sketch: WORDS × uint64). The fixed part first: all records
of one layout share its size, so it is encoded and decoded as one structured array.

Why: version 1 (`codec`) writes every cell, 666 bytes a user and 278 a campaign band with
the shipped packs, although a key an interval touched holds one or two non-zero cells per
series (the bench's feed). The once-a-second flush carries ~1.5 records per event: at 6,000
events 4.9 MB in version 1, 1.0 MB here (in process; lz4 takes both to ~0.1 MB on the wire,
but aiokafka compresses and the broker validates what is inside). Encoding costs more (6.6
against 2.7 ms there), aiokafka's record batches and their lz4 less (10 against 16 ms).
Version 1 records are still restored (`Store.restore` reads both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from screener.state import windows
from screener.state.windows import KINDS, RING, WORDS, Series, WindowSpec

MAGIC2 = b"SW2"
_HEAD = [("magic", "S3"), ("last", "<i8"), ("n", "u1")]
assert RING <= 16, "the ring's mask is a uint16"
_POPCOUNT = np.array([bin(m).count("1") for m in range(1 << RING)], np.int64)
# (profiled: sums and `any` over the ring's short axis were most of the encoding; bit
# packing and a popcount table are single passes)

I64 = npt.NDArray[np.int64]
Pair = tuple[bytes, bytes | None]


class Columns(Protocol):
    @property
    def series(self) -> Mapping[WindowSpec, Series]: ...

    @property
    def last(self) -> np.ndarray[Any, Any]: ...


class Irregular(ValueError):
    """Records this vectorised decoder does not take (damaged, or of mixed layouts): decode
    them one by one (`decode_one`), which says which and why."""


def cell_bytes(spec: WindowSpec) -> int:
    return WORDS * 8 if spec.distinct else 4


def fixed_dtype(n: int) -> np.dtype[np.void]:
    """The fixed part of a record of `n` series: the head, then each series' header."""
    fields = list(_HEAD)
    for i in range(n):
        fields += [(f"k{i}", "u1"), (f"s{i}", "<u4"), (f"h{i}", "<i8"), (f"m{i}", "<u2")]
    return np.dtype(fields)  # packed


def _mask(nonzero: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint16]:
    """Each row's ring positions as the bits of a uint16 (bit k: position k)."""
    packed = np.packbits(nonzero, axis=1, bitorder="little")  # (m, 2): 12 bits, padded
    return np.ascontiguousarray(packed).view("<u2").reshape(len(nonzero))


def _ranks(count: I64) -> I64:
    """For the set bits of rows with `count` each, in row-major order: the rank in its row."""
    return np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)


def compiled_loop(name: str) -> Any:
    """`_rings.c`'s function `name`, or None (not built, or an extension built before it had
    it): the changelog's encoders ask at each call, as tests switch the compiled loops off."""
    return getattr(getattr(windows, "_rings", None), name, None)


def encode_many(store: Columns, slots: Sequence[int] | I64) -> list[bytes]:
    """The records of these slots, one per slot (compiled: `_rings.sparse_encode`, the same
    bytes; else `encode_numpy`)."""
    records: list[bytes] = _encode(store, slots, None)
    return records


def encode_pairs(store: Columns, slots: Sequence[int] | I64, keys: list[bytes]) -> list[Pair]:
    """`zip(keys, encode_many(store, slots))` as a list (compiled: in the same call, as a
    1 s flush of ~68,000 records paid ~10 ms for the zip alone)."""
    pairs: list[Pair] = _encode(store, slots, keys)
    return pairs


def _encode(store: Columns, slots: Sequence[int] | I64, keys: list[bytes] | None) -> Any:
    encode = compiled_loop("sparse_encode")
    if encode is None:
        records = encode_numpy(store, slots)
        return records if keys is None else list(zip(keys, records, strict=True))
    at = np.asarray(slots, np.int64)
    if keys is None:
        return encode(store.last, at, _series(store))
    return encode(store.last, at, _series(store), keys)


def _series(store: Columns) -> list[tuple[int, int, bool, I64, np.ndarray[Any, Any]]]:
    return [
        (KINDS.index(spec.kind), spec.seconds, spec.distinct, s.head, s.cells)
        for spec, s in store.series.items()
    ]


def encode_numpy(store: Columns, slots: Sequence[int] | I64) -> list[bytes]:
    """`encode_many` in numpy: the fixed parts as one structured array, the cells of all rows
    in one buffer, then one join per record."""
    at = np.asarray(slots, np.int64)
    m = len(at)
    if m == 0:
        return []
    fixed = np.empty(m, fixed_dtype(len(store.series)))
    fixed["magic"], fixed["last"], fixed["n"] = MAGIC2, store.last[at], len(store.series)
    parts: list[tuple[npt.NDArray[np.bool_], np.ndarray, I64, int]] = []
    size = np.zeros(m, np.int64)  # each row's cells, in bytes
    for i, (spec, series) in enumerate(store.series.items()):
        cells = series.cells[at]
        nonzero = (cells[..., 0] | cells[..., 1]) != 0 if spec.distinct else cells != 0
        mask = _mask(nonzero)
        fixed[f"k{i}"], fixed[f"s{i}"] = KINDS.index(spec.kind), spec.seconds
        fixed[f"h{i}"], fixed[f"m{i}"] = series.head[at], mask
        count = _POPCOUNT[mask]
        parts.append((nonzero, cells, size.copy(), cell_bytes(spec)))  # offset in the row
        size += count * cell_bytes(spec)
    ends = np.cumsum(size)
    starts = ends - size
    buf = np.empty(int(ends[-1]), np.uint8)
    for nonzero, cells, offset, width in parts:
        rows = np.nonzero(nonzero)[0]  # row-major: each row's cells in position order
        if len(rows):
            count = np.bincount(rows, minlength=m)
            at_byte = starts[rows] + offset[rows] + _ranks(count) * width
            raw = np.ascontiguousarray(cells[nonzero]).view(np.uint8).reshape(len(rows), width)
            buf[at_byte[:, None] + np.arange(width)] = raw
    head, body, step = fixed.tobytes(), buf.tobytes(), fixed.dtype.itemsize
    return [
        head[k : k + step] + body[a:b]
        for k, a, b in zip(range(0, m * step, step), starts.tolist(), ends.tolist(), strict=True)
    ]


Decoded = tuple[I64, dict[WindowSpec, tuple[I64, np.ndarray]]]
"""each record's last-seen, and per series each record's head and full ring of cells"""


def decode_many(values: Sequence[bytes]) -> Decoded:
    """All records at once; `Irregular` if any is damaged or their layouts differ."""
    m = len(values)
    if m == 0 or len(values[0]) < 12:
        raise Irregular("short record")
    n = values[0][11]
    layout = fixed_dtype(n)
    step = layout.itemsize
    if any(len(v) < step for v in values):
        raise Irregular("short record")
    fixed = np.frombuffer(b"".join([v[:step] for v in values]), layout)
    if (fixed["magic"] != MAGIC2).any() or (fixed["n"] != n).any():
        raise Irregular("not version 2, or mixed layouts")
    size = np.fromiter(map(len, values), np.int64, m) - step
    ends = np.cumsum(size)
    starts = ends - size
    buf = np.frombuffer(b"".join([v[step:] for v in values]), np.uint8)
    offset = np.zeros(m, np.int64)
    out: dict[WindowSpec, tuple[I64, np.ndarray]] = {}
    for i in range(n):
        kinds, seconds, mask = fixed[f"k{i}"], fixed[f"s{i}"], fixed[f"m{i}"]
        kind, secs = int(kinds[0]), int(seconds[0])
        if (kinds != kind).any() or (seconds != secs).any():
            raise Irregular("mixed layouts")
        if kind >= len(KINDS) or (mask >> RING).any():
            raise Irregular("unknown counter kind or ring position")
        spec = WindowSpec(KINDS[kind], secs)
        width = cell_bytes(spec)
        count = _POPCOUNT[mask]
        if (offset + count * width > size).any():
            raise Irregular("truncated record")
        bits = np.unpackbits(
            np.ascontiguousarray(mask.astype("<u2")).view(np.uint8).reshape(m, 2),
            axis=1, bitorder="little",
        )[:, :RING].astype(np.bool_)  # fmt: skip
        shape = (m, RING, WORDS) if spec.distinct else (m, RING)
        cells = np.zeros(shape, np.uint64 if spec.distinct else np.uint32)
        rows = np.nonzero(bits)[0]
        if len(rows):
            at_byte = starts[rows] + offset[rows] + _ranks(count) * width
            raw = np.ascontiguousarray(buf[at_byte[:, None] + np.arange(width)])
            if spec.distinct:
                cells[bits] = raw.view("<u8").reshape(len(rows), WORDS)
            else:
                cells[bits] = raw.view("<u4").reshape(len(rows))
        out[spec] = (fixed[f"h{i}"].astype(np.int64), cells)
        offset += count * width
    if (offset != size).any():
        raise Irregular("trailing bytes")
    return fixed["last"].astype(np.int64), out


def decode_one(value: bytes) -> tuple[int, dict[WindowSpec, tuple[int, np.ndarray]]]:
    """One record (`codec.decode`'s answer for version 2)."""
    last, series = decode_many([value])
    return int(last[0]), {spec: (int(h[0]), c[0]) for spec, (h, c) in series.items()}
