"""`kafka.packed.PackedBatch` (records packed in one compiled call) gives the bytes aiokafka's
own builder gives for the same records at one timestamp, for every codec, with and without
producer state, and fills a batch exactly as far as aiokafka's would."""

from __future__ import annotations

import os
import random

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from screener.kafka import packed
from screener.kafka.send import CODECS, RecordBatches

if not packed.packs(0):
    assert os.environ.get("CI", "").lower() not in ("1", "true"), (
        "screener.kafka._records not built"
    )
    pytest.skip("compiled record packing not built here", allow_module_level=True)

TS = 1_796_300_000_123


def _pairs(seed: int, n: int) -> list[tuple[bytes, bytes | None]]:
    rng = random.Random(seed)
    out: list[tuple[bytes, bytes | None]] = []
    for i in range(n):
        key = b"u" + str(rng.randrange(10**6)).encode() * rng.randrange(1, 40)
        value = None if i % 7 == 3 else rng.randbytes(rng.choice([0, 1, 63, 64, 200, 5000]))
        out.append((key, value))
    return out


def _aiokafka(pairs, start, max_bytes, codec, transactional):  # type: ignore[no-untyped-def]
    builder = BatchBuilder(max_bytes, codec, is_transactional=transactional)
    for key, value in pairs[start:]:
        if builder.append(timestamp=TS, key=key, value=value, headers=[]) is None:
            break
    return builder


@pytest.mark.parametrize("codec", ["none", "gzip", "lz4", "zstd"])
@pytest.mark.parametrize("transactional", [False, True])
def test_the_same_bytes_as_aiokafkas_builder(codec: str, transactional: bool) -> None:
    pairs = _pairs(3, 400)
    code = CODECS[codec]
    start = 0
    while start < len(pairs):
        ours = packed.PackedBatch(pairs, start, 16 * 1024, code, transactional, TS)
        theirs = _aiokafka(pairs, start, 16 * 1024, code, transactional)
        assert ours.record_count() == theirs.record_count() >= 1
        assert ours.size() <= 16 * 1024 or ours.record_count() == 1
        if start == 0:  # the producer state an idempotent producer sets when draining
            ours._set_producer_state(4711, 3, 99)
            theirs._set_producer_state(4711, 3, 99)
        assert bytes(ours._build()) == bytes(theirs._build())
        assert ours.append(timestamp=None, key=b"k", value=b"v", headers=[]) is None  # closed
        start += ours.record_count()


def test_a_record_larger_than_the_batch_still_goes_alone_and_reads_back() -> None:
    pairs = [(b"a", b"x" * 100_000), (b"b", None), (b"c", b"")]
    first = packed.PackedBatch(pairs, 0, 1024, CODECS["zstd"], False, TS)
    assert first.record_count() == 1
    rest = packed.PackedBatch(pairs, 1, 1024, CODECS["zstd"], False, TS)
    records = list(DefaultRecordBatch(bytes(rest._build())))
    assert [(r.key, r.value, r.offset) for r in records] == [(b"b", None, 0), (b"c", b"", 1)]
    assert all(r.timestamp == TS for r in records)


def test_bad_input_is_refused_not_packed() -> None:
    with pytest.raises(TypeError):
        packed.PackedBatch([(b"k", "text")], 0, 1024, 0, False)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        packed.PackedBatch([b"k"], 0, 1024, 0, False)  # type: ignore[list-item]
    with pytest.raises(IndexError):
        packed.PackedBatch([(b"k", b"v")], 2, 1024, 0, False)


def test_snappy_is_left_to_aiokafkas_builder() -> None:
    """Its snappy framing differs from `snappy_encode`'s: such batches are appended as before."""
    assert not packed.packs(CODECS["snappy"])
    assert not isinstance(RecordBatches("snappy", 4096).take(_pairs(1, 5), 0), packed.PackedBatch)


def test_record_batches_take_packs_lists_and_appends_other_sequences() -> None:
    pairs = _pairs(5, 50)
    batches = RecordBatches("none", 4096)
    taken = batches.take(pairs, 0)
    assert isinstance(taken, packed.PackedBatch)
    appended = batches.take(tuple(pairs), 0)  # not a list: aiokafka's builder, record by record
    assert not isinstance(appended, packed.PackedBatch)
    assert taken.record_count() == appended.record_count()
    ours = [(r.key, r.value) for r in DefaultRecordBatch(bytes(taken._build()))]
    theirs = [(r.key, r.value) for r in DefaultRecordBatch(bytes(appended._build()))]
    assert ours == theirs == pairs[: taken.record_count()]
