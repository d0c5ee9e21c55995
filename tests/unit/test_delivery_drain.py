"""A stop while a batch's output is in flight drains it: a healthy broker's acks arrive in
milliseconds, so the batch is acknowledged (and then committed) instead of re-read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from screener.kafka import RecordBatches
from screener.observe import NullObserver
from screener.pipeline.delivery import Health, Unacknowledged, produce_all
from screener.pipeline.records import Outgoing


class SlowAcks:
    """Stands in for the producer's `send`: each delivery is acknowledged after `ack_s`."""

    def __init__(self, ack_s: float):
        self.ack_s = ack_s
        self.sent: list[str] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[Any]:
        self.sent.append(topic)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(self.ack_s, future.set_result, None)
        return future


BATCHES = RecordBatches("none", 65536)  # no changelog here: never built


def _items(n: int) -> list[Outgoing]:
    return [Outgoing("review", b"k", b"v", [], ("in", 0, i)) for i in range(n)]


async def test_a_stop_during_healthy_acks_drains_the_batch() -> None:
    producer, stop = SlowAcks(ack_s=0.2), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)  # the stop arrives mid-flight
    await produce_all(producer, _items(3), stop, NullObserver(), Health(), "dlq", 5.0, BATCHES)  # type: ignore[arg-type]
    assert stop.is_set() and producer.sent == ["review"] * 3


async def test_a_stop_gives_up_after_the_drain_time_when_acks_never_come() -> None:
    producer, stop = SlowAcks(ack_s=3600), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    with pytest.raises(Unacknowledged):
        await asyncio.wait_for(
            produce_all(producer, _items(2), stop, NullObserver(), Health(), "dlq", 0.3, BATCHES),  # type: ignore[arg-type]
            timeout=10,
        )
