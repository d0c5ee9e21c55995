"""Producing: `send` returns the delivery as a future, whatever went wrong; `send_batches`
produces many records for one partition as record batches built here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from screener.kafka.packed import PackedBatch, packs

Headers = list[tuple[str, bytes]]


async def send(
    producer: AIOKafkaProducer, topic: str, value: bytes | None, key: bytes | None = None,
    headers: Headers | None = None, partition: int | None = None,
    timestamp_ms: int | None = None,
) -> asyncio.Future[Any]:  # fmt: skip
    """`producer.send`, with a failure to enqueue (e.g. no metadata while the broker is down)
    returned as a failed delivery instead of raised, so callers handle both alike."""
    try:
        future: asyncio.Future[Any] = await producer.send(
            topic, value, key=key, headers=headers, partition=partition, timestamp_ms=timestamp_ms
        )
    except KafkaError as exc:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(exc)
    return future


CODECS = {
    "none": DefaultRecordBatch.CODEC_NONE,
    "gzip": DefaultRecordBatch.CODEC_GZIP,
    "snappy": DefaultRecordBatch.CODEC_SNAPPY,
    "lz4": DefaultRecordBatch.CODEC_LZ4,
    "zstd": DefaultRecordBatch.CODEC_ZSTD,
}


@dataclass(frozen=True, slots=True)
class RecordBatches:
    """How `send_batches` builds its record batches, which may differ from the producer's own.

    Why: a record batch names its own codec, so one producer can send batches of several.
    The behaviour state's changelog is most of what a worker writes (~1.5 records an event)
    and only screener reads it back; aiokafka's lz4 is lz4 HC at level 9, whose compression
    took ~8 of the ~12 ms that building a 6,000-event flush's record batches cost (zstd: ~1,
    for a third less on the wire; measured in process, README "Latency"), all on the event
    loop, while every record waits. `max_bytes` is the changelog's own batch size: aiokafka
    puts one batch per partition in a request, so small ones make a flush leave in several
    requests with review items between them. `transactional` must be what the producer is."""

    compression: str
    max_bytes: int
    transactional: bool = False

    def new(self) -> BatchBuilder:
        return BatchBuilder(
            self.max_bytes, CODECS[self.compression], is_transactional=self.transactional
        )

    def take(self, records: Sequence[tuple[bytes, bytes | None]], start: int) -> BatchBuilder:
        """A batch of `records[start:]`, as many as fit (at least one): `.record_count()`."""
        codec = CODECS[self.compression]
        if packs(codec) and isinstance(records, list):  # one call (`kafka.packed`)
            return PackedBatch(records, start, self.max_bytes, codec, self.transactional)
        builder = self.new()
        for key, value in records[start:]:
            if builder.append(timestamp=None, key=key, value=value, headers=[]) is None:
                break  # full (the first record always fits, however large)
        return builder


async def send_batches(
    producer: AIOKafkaProducer, topic: str, partition: int,
    records: Sequence[tuple[bytes, bytes | None]], batches: RecordBatches,
) -> list[tuple[asyncio.Future[Any], int]]:  # fmt: skip
    """(key, value) records for one partition, in order, as few record batches as
    `max_batch_size` allows (`producer.send_batch`): one future per batch, with the number of
    records it holds (a failure to enqueue: a failed future for all the records left).

    Why: with behaviour state a batch's changelog is about twenty times its review output
    (one record per user and campaign band the batch touched), and `producer.send` pays a
    metadata wait, a partitioner call, an accumulator look-up and a future per record; here
    the records go straight into aiokafka's C batch builder. Same records, same order.
    `batches`: how to build them (codec, size), which may differ from the producer's own.
    """
    out: list[tuple[asyncio.Future[Any], int]] = []
    start = 0
    while start < len(records):
        builder = batches.take(records, start)
        end = start + builder.record_count()
        try:
            future: asyncio.Future[Any] = await producer.send_batch(
                builder, topic, partition=partition
            )
        except KafkaError as exc:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
            out.append((future, len(records) - start))
            return out
        out.append((future, end - start))
        start = end
    return out


__all__ = ["CODECS", "RecordBatches", "murmur2", "send", "send_batches"]
