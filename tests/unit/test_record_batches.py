"""The changelog's record batches: built with their own codec, flags and size, same records."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatch

from screener.kafka import RecordBatches, send_batches
from screener.kafka.clients import changelog_batches
from screener.pipeline.settings import Settings

RECORDS = [(f"u{i}".encode(), b"state" * (i % 7) or None) for i in range(300)]


def _read(builder: Any) -> DefaultRecordBatch:
    return DefaultRecordBatch(bytes(builder._build()))


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
@pytest.mark.parametrize("transactional", [False, True])
def test_a_batch_names_its_codec_and_keeps_the_records(codec: str, transactional: bool) -> None:
    builder = RecordBatches(codec, 1 << 20, transactional).new()
    for key, value in RECORDS:
        assert builder.append(timestamp=None, key=key, value=value, headers=[]) is not None
    batch = _read(builder)
    assert batch.compression_type == {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[codec]
    assert batch.is_transactional == transactional
    assert [(r.key, r.value) for r in batch] == RECORDS


def test_the_changelog_codec_is_its_own_setting_or_follows_compression() -> None:
    assert changelog_batches(Settings(), transactional=False) == RecordBatches(
        "zstd", 64 * 1024, False
    )
    same = Settings(changelog_compression="same", compression="snappy", changelog_batch_bytes=4096)
    assert changelog_batches(same, transactional=True) == RecordBatches("snappy", 4096, True)


class _Producer:
    """Records what `send_batches` hands over."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_batch(self, builder: Any, topic: str, *, partition: int) -> Any:
        self.sent.append(builder)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_send_batches_builds_them_as_asked_and_splits_at_the_size() -> None:
    producer = _Producer()
    out = await send_batches(
        producer,
        "state",
        0,
        RECORDS,
        RecordBatches("zstd", 2048),
    )
    assert len(out) == len(producer.sent) > 1  # 2 KiB holds some of the records, not all
    assert sum(count for _, count in out) == len(RECORDS)
    read = [_read(b) for b in producer.sent]
    assert {b.compression_type for b in read} == {DefaultRecordBatch.CODEC_ZSTD}
    assert [(r.key, r.value) for b in read for r in b] == RECORDS
