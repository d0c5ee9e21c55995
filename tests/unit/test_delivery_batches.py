"""A changelog record batch the broker fails is sent again, records and order intact, and the
records are counted as unacknowledged meanwhile (the worker's metrics and readiness)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from typing import Any

from screener.kafka import KafkaError
from screener.observe import NullObserver
from screener.pipeline.delivery import Health, produce_all
from screener.pipeline.records import Placed


class Builder:
    """aiokafka's batch builder as delivery uses it: full after `room` records."""

    def __init__(self, room: int):
        self.room = room
        self.records: list[tuple[bytes, bytes | None]] = []

    def append(
        self, *, timestamp: None, key: bytes, value: bytes | None, headers: list[Any]
    ) -> object | None:
        if len(self.records) == self.room:
            return None
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class Batches:
    """`RecordBatches` as `send_batches` uses it: batches of at most 3 records."""

    def take(self, records: list[tuple[bytes, bytes | None]], start: int) -> Builder:
        builder = Builder(room=3)
        for key, value in records[start:]:
            if builder.append(timestamp=None, key=key, value=value, headers=[]) is None:
                break
        return builder


class FlakyProducer:
    """Fails the first record batch it is given, acknowledges the rest."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[bytes, bytes | None]]] = []

    async def send_batch(
        self, builder: Builder, topic: str, *, partition: int
    ) -> asyncio.Future[Any]:
        self.batches.append(builder.records)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(self.batches) == 1:
            future.set_exception(KafkaError("broker said no"))
        else:
            future.set_result(None)
        return future


class Failures(NullObserver):
    def __init__(self) -> None:
        self.unacknowledged: list[Counter[str]] = []

    def produce_failed(self, unacknowledged: Mapping[str, int]) -> None:
        self.unacknowledged.append(Counter(unacknowledged))


async def test_a_failed_record_batch_is_sent_again() -> None:
    records = [(b"u%d" % i, b"v%d" % i) for i in range(7)] + [(b"gone", None)]
    producer, observer, health = FlakyProducer(), Failures(), Health()
    placed = [Placed("log", 1, records)]
    await produce_all(
        producer,
        [],
        asyncio.Event(),
        observer,
        health,
        "dlq",
        5.0,
        Batches(),
        placed,  # type: ignore[arg-type]
    )
    first, *rest = producer.batches
    assert first == records[:3]  # failed...
    assert [r for b in rest for r in b] == records[3:] + records[:3]  # ...and sent again
    assert observer.unacknowledged == [Counter({"log": 3})]
    assert health.output_ok
