"""Apache Kafka restarted under a running `screener run`: the service rides it out, loses nothing.

Every wait is a poll bounded by a deadline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import (
    Collector,
    Service,
    produce,
    scenario,
    until_caught_up,
)

from screener.brokers import ApacheKafka


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
async def test_broker_restart_mid_stream_loses_nothing_and_the_service_survives(
    apache_kafka: ApacheKafka, tmp_path: Path, services: list[Service], topic_factory: Any,
    guarantee: str,
) -> None:  # fmt: skip
    bootstrap = apache_kafka.bootstrap_servers
    topics, group, events, expected = await scenario(
        topic_factory, bootstrap, tmp_path, 20_000, f"br{guarantee[0]}", seed=13
    )
    await produce(bootstrap, topics["input"], events[:10_000])
    service = Service(
        bootstrap, topics, group, "--guarantee", guarantee, "--batch-max-records", "200"
    ).start()
    services.append(service)
    isolation = "read_committed" if guarantee == "exactly-once" else "read_uncommitted"
    async with Collector(bootstrap, topics["review"], isolation) as review:
        await review.until(lambda: len(review.records) > 50, 180, "the first review items")
        # the second half flows in while the broker goes down and comes back (SIGTERM, then
        # start on the same data and ports); an idempotent producer adds no duplicate input
        feeding = asyncio.create_task(
            produce(bootstrap, topics["input"], events[10_000:], enable_idempotence=True)
        )
        await asyncio.to_thread(apache_kafka.restart)
        assert service.alive(), service.stderr()
        await feeding
        await review.until(lambda: review.ids() >= expected, 240, "every flagged id after restart")
        if guarantee == "exactly-once":
            await until_caught_up(bootstrap, group, topics["input"], 120)
            await review.drain()
    assert review.ids() == expected
    if guarantee == "exactly-once":
        ids = review.id_list()
        assert len(ids) == len(set(ids)), "duplicates under exactly-once across a broker restart"
    assert service.alive(), service.stderr()  # rode it out in-process: no crash, no restart
    assert service.stop() == 0, service.stderr()
    assert "Traceback" not in service.stderr()
