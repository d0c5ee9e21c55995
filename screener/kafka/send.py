"""Producing: `send` returns the delivery as a future, whatever went wrong."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

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


__all__ = ["murmur2", "send"]
